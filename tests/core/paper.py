# Protocols of the paper in the compact form, built from FACTS numbers, for the core
# tests. FACTS: fig4 is 0.0839 mAh = 83900 nAh with 0.437 mg of NMC955; the cycling
# window is 2.6 .. 4.1 V; holds end at C/46 (charge) and C/24 (discharge).
FIG4_NAH = 83900
FIG4_UG = 437


def cccv(cap_nAh=FIG4_NAH, rate_num=1, rate_den=10, repeat=1, cv=True,
         limits="limits 2500000 4150000 3300000 400000", extra=""):
    i = (cap_nAh * rate_num + rate_den // 2) // rate_den
    lines = ["cell %d %d" % (cap_nAh, FIG4_UG), "window 2600000 4100000", limits,
             "repeat %d" % repeat,
             "cc %d 4100000 0" % i]
    if cv:
        lines.append("cv 4100000 %d 0 0" % (cap_nAh // 46))
    lines.append("cc %d 2600000 0" % -i)
    if cv:
        lines.append("cv 2600000 %d 0 0" % (cap_nAh // 24))
    lines.append("end")
    if extra:
        lines.extend(extra.split("\n"))
    return lines
