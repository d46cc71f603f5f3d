"""Drawings of the channel, generated from the description.

`draw(design, path)` writes an SVG with two parts:
  * the signal path drawn as a circuit (schemdraw): the parts' references and values come
    from the description, so a changed value shows in the drawing;
  * a net-label sheet of every part (matplotlib): each part a box, each pin a stub labelled
    with its pin name and its net, as in a KiCad net-label schematic. Two pins with the same
    net label are connected. It is complete by construction: it is the netlist, drawn.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams["svg.hashsalt"] = "coin-cycler"   # reproducible SVG ids


def _label(design, role):
    p = design.role(role)
    return "%s\n%s" % (p.ref, p.value)


def signal_path(design, ax=None):  # noqa: C901
    """The current loop and its protections, as a schemdraw Drawing."""
    import schemdraw
    import schemdraw.elements as elm

    sh = [design.role("shunt%d" % k) for k in range(4)]
    with schemdraw.Drawing(show=False, canvas=ax) as d:
        d.config(fontsize=9, unit=2.0)
        # Setpoint: DAC -> R_SET -> SET_INT (C_SET) -> U1A +IN.
        dac = d.add(elm.Ic(pins=[elm.IcPin("VDD=REF", side="top"), elm.IcPin("VOUT", side="right")],
                           size=(2.2, 1.4)).label(_label(design, "dac"), loc="bottom"))
        d.add(elm.Line().at(dac.VOUT).right(0.5).label("V_SET", loc="top"))
        d.add(elm.Resistor().right().label(_label(design, "r_set"), loc="top"))
        n_set = d.add(elm.Dot())
        d.add(elm.Capacitor().down().label(_label(design, "c_set"), loc="bottom"))
        d.add(elm.Ground())
        d.add(elm.Line().at(n_set.end).right(0.6))
        oa = d.add(elm.Opamp(leads=True).anchor("in2").label(_label(design, "error_amp") + "A",
                                                             loc="center", fontsize=7))
        d.add(elm.Line().at(oa.in1).up(1.6))
        n_int = d.add(elm.Dot())
        d.add(elm.Capacitor().right().tox(oa.out).label(_label(design, "c_int"), loc="top"))
        d.add(elm.Line().down().toy(oa.out))
        d.add(elm.Line().at(n_int.end).left(1.0))
        d.add(elm.Resistor().left().label(_label(design, "r_int") + "\nfrom V_SENSE", loc="top"))
        d.add(elm.Label().label("V_SENSE", loc="left"))
        # Output -> mux force section -> shunts -> LOAD.
        d.add(elm.Line().at(oa.out).right(0.8).label("V_OUT", loc="top"))
        mux_in = d.add(elm.Dot())
        ys = [1.8, 0.6, -0.6, -1.8]
        loads = []
        for k, y in enumerate(ys):
            d.add(elm.Line().at(mux_in.end).up(y) if y > 0 else elm.Line().at(mux_in.end).down(-y))
            d.add(elm.Switch(action=None).right().label("%s S%dA" % (design.role("mux").ref, k + 1),
                                                        loc="top", fontsize=7))
            d.add(elm.Resistor().right().label("%s %s" % (sh[k].ref, sh[k].value), loc="top",
                                               fontsize=8))
            loads.append(d.add(elm.Line().right(0.5)))
        d.add(elm.Line().at(loads[0].end).down(ys[0] - ys[-1]))
        d.add(elm.Line().at(loads[-1].end).up(-ys[-1]))
        n_load = d.add(elm.Dot().label("LOAD", loc="bottom", fontsize=8))
        # The in-amp reads the selected shunt: +IN from its top through the mux's sense
        # section (no current), -IN at LOAD.
        ia = d.add(elm.Opamp(leads=True).left().flip().anchor("in1")
                   .at((n_load.end[0] + 1.0, n_load.end[1] + ys[-1] - 2.0))
                   .label(_label(design, "inamp") + "\nG = %.3f" % design.sense_gain(),
                          loc="center", fontsize=7))
        d.add(elm.Wire("|-").at(n_load.end).to(ia.in1))
        d.add(elm.Line().at(ia.in2).right(0.8))
        d.add(elm.Label().label("+IN: SENSE_P (shunt top via %s DB)" % design.role("mux").ref,
                                loc="right", fontsize=8))
        d.add(elm.Line().at(ia.out).left(0.8))
        d.add(elm.Label().label("V_SENSE (REF pin: V_MID = REF x 10/24)", loc="left",
                                fontsize=9))
        # Enable switch (SPDT): S1 = FORCE -> relay pole 1 -> cell; S2 = dummy load.
        d.add(elm.Line().at(n_load.end).right(0.6))
        sw = d.add(elm.SwitchSpdt2(action="close").right().anchor("a")
                   .label(_label(design, "enable") + "\nIN high: S1", loc="top", fontsize=8))
        d.add(elm.Line().at(sw.c).down(1.2))
        d.add(elm.Label().label("S2: V_CELL_BUF (dummy load)", loc="bottom", fontsize=8))
        d.add(elm.Line().at(sw.b).right(1.5).label("FORCE", loc="bottom", fontsize=8))
        d.add(elm.Switch().right().label(_label(design, "relay") + " pole 1 (NO)", loc="top",
                                         fontsize=8))
        d.add(elm.Line().right(0.6).label("F+", loc="top"))
        cell = d.add(elm.Battery().down().label("coin cell\n(holder %s)"
                                                % design.role("cell").ref, loc="top",
                                                fontsize=8))
        d.add(elm.Line().down(0.5).label("F- to GND", loc="bottom", fontsize=8))
        d.add(elm.Ground())
        # Sense: cell S+ -> relay pole 2 -> buffer U2A -> V_CELL_BUF.
        d.add(elm.Line().at(cell.start).right(1.6).label("S+", loc="top"))
        d.add(elm.Switch().down().label(design.role("relay").ref + " pole 2", loc="bottom",
                                        fontsize=8))
        d.add(elm.Line().down(0.4))
        d.add(elm.Label().label("CELL_SENSE_INT -> %s A (buffer) -> V_CELL_BUF\n"
                                "-> 100 k / 100 k -> V_CELL_DIV (ADC, OV comparator)"
                                % design.role("cell_buffer").ref, loc="bottom", fontsize=8))
    return d


def _sides(pins):
    n = len(pins)
    if n <= 3:
        return pins[:1], pins[1:]
    half = (n + 1) // 2
    return pins[:half], list(reversed(pins[half:]))


def net_sheet(design, fig):
    parts = design.parts
    cols = 6
    col_w = 1.0 / cols
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_axis_off()
    x0, y = 0, 0.0
    col_h = [0.0] * cols
    boxes = []
    for p in parts:
        left, right = _sides(p.tpl.pins)
        h = max(len(left), len(right), 1) * 0.22 + 0.35
        c = min(range(cols), key=lambda i: col_h[i])
        boxes.append((p, c, col_h[c], h, left, right))
        col_h[c] += h + 0.25
    total = max(col_h)
    ax.set_xlim(0, cols)
    ax.set_ylim(-total, 0.2)
    for p, c, top, h, left, right in boxes:
        bx, bw = c + 0.33, 0.34
        ax.add_patch(plt.Rectangle((bx, -top - h), bw, h, fill=False, lw=0.8))
        ax.text(bx + bw / 2, -top - 0.12, "%s %s" % (p.ref, p.value), ha="center", va="top",
                fontsize=5.5, weight="bold")
        ax.text(bx + bw / 2, -top - 0.25, p.tpl.mpn, ha="center", va="top", fontsize=4.5)
        for side, pins in ((0, left), (1, right)):
            for j, (num, name, _) in enumerate(pins):
                yy = -top - 0.42 - j * 0.22
                net = p.conn[name]
                if side == 0:
                    ax.plot([bx - 0.06, bx], [yy, yy], lw=0.6, color="k")
                    ax.text(bx + 0.01, yy, "%s" % name, fontsize=4, va="center")
                    ax.text(bx - 0.07, yy, net, fontsize=4.5, va="center", ha="right",
                            color="tab:blue" if net != "NC" else "gray")
                else:
                    ax.plot([bx + bw, bx + bw + 0.06], [yy, yy], lw=0.6, color="k")
                    ax.text(bx + bw - 0.01, yy, "%s" % name, fontsize=4, va="center", ha="right")
                    ax.text(bx + bw + 0.07, yy, net, fontsize=4.5, va="center",
                            color="tab:blue" if net != "NC" else "gray")
    return ax


def draw(design, path):
    """Write the signal path (schemdraw) to path."""
    d = signal_path(design)
    d.save(path)
    return path


def draw_sheet(design, path):
    """Write the net-label sheet of every part to path (svg or png by the extension)."""
    fig = plt.figure(figsize=(17, 17))
    net_sheet(design, fig)
    fmt = path.rsplit(".", 1)[-1]
    fig.savefig(path, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return path
