"""The bill of materials, generated from the description: one row per distinct part."""
import csv
import io

HEADER = ("reference", "value", "manufacturer", "part number", "quantity", "footprint",
          "description")


def _refkey(ref):
    i = 0
    while i < len(ref) and not ref[i].isdigit():
        i += 1
    return ref[:i], int(ref[i:] or 0)


def rows(design):
    groups = {}
    for p in design.parts:
        t = p.tpl
        key = (t.mfr, t.mpn, p.value)
        groups.setdefault(key, []).append(p)
    out = []
    for (mfr, mpn, value), ps in groups.items():
        refs = sorted((p.ref for p in ps), key=_refkey)
        t = ps[0].tpl
        out.append((" ".join(refs), value, mfr, mpn, len(ps), t.footprint, t.description))
    out.sort(key=lambda r: _refkey(r[0].split()[0]))
    return out


def csv_text(design):
    f = io.StringIO()
    w = csv.writer(f, lineterminator="\n")
    w.writerow(HEADER)
    for r in rows(design):
        w.writerow(r)
    return f.getvalue()
