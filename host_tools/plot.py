"""`cycler plot DIR`: the paper's Fig. 4/5 style figures of an output folder written by
`cycler simulate`, `cycler log`, `cycler run` or `cycler import` (files and columns:
host_tools/records.py), or of any BDF file or instrument file `cycler import` reads.

It only reads DIR and writes figures into it (PNG and SVG, and figures.json: each
figure's title and series, what the tests check the PNGs against); it must cope with a
run still being written (a partial last cycle or line, an empty cycles.csv, empty cells)
and never change data. A folder without our files (a BDF CSV from another tool, with
canonical columns only) or a single file is imported first, into DIR/cycler-import/ or
FILE's name + "-figures/" (host_tools/importers.py), and plotted there.
`plot_dir(dir)` is what `cycler run` calls at the end; it raises PlotError when there is
nothing to plot, which the command turns into exit status 2.
"""
import csv
import json
import math
import os
import re
import sys

FIGURES = ("voltage_vs_capacity.png", "capacity_per_cycle.png", "coulombic_efficiency.png",
           "dqdv.png", "rate_capability.png", "retention_resistance.png")
VOLTAMMOGRAM = "voltammogram.png"   # a run with sweeps (cyclic voltammetry) adds this
META_FILE = "figures.json"
DPI = 120
VECTOR_EXT = ".svg"
MAX_CURVES = 12          # evenly spaced cycles on the V-Q plot, plus the first and last
MAX_DQDV_CURVES = 10     # dQ/dV curves overlap more: fewer of them
DQDV_BIN_V = 0.005       # 5 mV voltage bins
DQDV_SMOOTH = 3          # moving average over this many bins
TURN_V = 0.02            # a sweep turns when the voltage comes back this far from its
                         # extreme (a reading's noise, 0.3-1 mV, is no turn)


class PlotError(Exception):
    """Nothing to plot (no folder, no data files, no records yet)."""


def add_arguments(p):
    p.add_argument("dir", help="output folder of cycler simulate / run / log / import, or "
                   "a BDF CSV or instrument file (then imported first)")
    p.add_argument("--mass-mg", type=float, default=None,
                   help="active mass in mg, for mAh/g when cycles.csv cannot give it")
    p.add_argument("--capacity-mAh", type=float, default=None,
                   help="nominal capacity, for C-rates when a foreign file is imported")


def run(args):
    try:
        paths = plot_dir(args.dir, mass_mg=args.mass_mg,
                         capacity_mAh=getattr(args, "capacity_mAh", None))
    except PlotError as e:
        print("cycler plot: %s" % e, file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


# --- reading -------------------------------------------------------------------------

def _num(s):
    """A cell as float; empty or bad -> nan."""
    try:
        return float(s)
    except (TypeError, ValueError):
        return math.nan


def _read_csv(path):
    """Rows of a CSV as dicts; a missing file gives []. A row cut short by a crash or a
    writer mid-line (fewer cells than the header) is dropped."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        r = csv.reader(f)
        try:
            head = next(r)
        except StopIteration:
            return []
        rows = []
        for cells in r:
            if len(cells) < len(head):
                continue
            rows.append(dict(zip(head, cells)))
    return rows


def _int(s):
    x = _num(s)
    return None if math.isnan(x) else int(x)


class Run:
    """The folder's data, as plain lists of numbers (nan for empty cells)."""

    def __init__(self, d, mass_mg=None):
        self.dir = d
        self.cycles = _read_csv(os.path.join(d, "cycles.csv"))
        self.steps = _read_csv(os.path.join(d, "steps.csv"))
        self.ts = _read_csv(os.path.join(d, "timeseries.bdf.csv"))
        self.mass_g = mass_mg / 1000.0 if mass_mg else self._derive_mass_g()
        self._segs = None
        self._per = None
        self.name = run_name(d)

    def _derive_mass_g(self):
        """mass = charge / specific charge of a cycle with charge. The charge comes from
        steps.csv (6 decimals) when it has that cycle, else cycles.csv (4 decimals)."""
        step_q = {}
        for s in self.steps:
            c, q = _int(s.get("cycle")), _num(s.get("charge_mAh"))
            if c is not None and not math.isnan(q):
                step_q[c] = step_q.get(c, 0.0) + q
        ratios = []
        for row in self.cycles:
            spec = _num(row.get("charge_cc_mAh_g")) + _num(row.get("charge_cv_mAh_g"))
            c = _int(row.get("cycle"))
            q = step_q.get(c, math.nan)
            if math.isnan(q) or q <= 0:
                q = _num(row.get("charge_mAh"))
            if spec > 0 and q > 0:          # nan compares False
                ratios.append(q / spec)
        if not ratios:
            return None
        ratios.sort()
        return ratios[len(ratios) // 2]

    # per cycle: {cycle: dict(chg_cc, chg_cv, dis_cc, dis_cv, ce, ce_cc, rates, partial)}
    def per_cycle(self):
        if self._per is None:
            self._per = self._per_cycle()
        return self._per

    def _per_cycle(self):
        """Capacities per cycle in the plot's unit (mAh/g, or mAh without a mass), split
        CC/CV. Cycles not yet in cycles.csv (the one running) come from steps.csv and are
        marked partial; so does the split when cycles.csv has no mAh/g columns."""
        from_steps = {}
        for s in self.steps:
            c = _int(s.get("cycle"))
            if c is None:
                continue
            kind = (s.get("type") or "").split("_")[0]
            part = "cv" if kind == "cv" else "cc"
            d = from_steps.setdefault(c, {"chg_cc": 0.0, "chg_cv": 0.0, "dis_cc": 0.0,
                                          "dis_cv": 0.0})
            for side, col in (("chg", "charge_mAh"), ("dis", "discharge_mAh")):
                q = _num(s.get(col))
                if not math.isnan(q):
                    d["%s_%s" % (side, part)] += q
        scale = 1.0 / self.mass_g if self.mass_g else 1.0
        out = {}
        for row in self.cycles:
            c = _int(row.get("cycle"))
            if c is None:
                continue
            d = {"ce": _num(row.get("coulombic_efficiency_pct")),
                 "ce_cc": _num(row.get("coulombic_efficiency_cc_pct")),
                 "chg_rate": row.get("charge_rate") or "",
                 "dis_rate": row.get("discharge_rate") or "",
                 "partial": False}
            for key, col in (("chg_cc", "charge_cc_mAh_g"), ("chg_cv", "charge_cv_mAh_g"),
                             ("dis_cc", "discharge_cc_mAh_g"), ("dis_cv", "discharge_cv_mAh_g")):
                v = _num(row.get(col))
                if self.mass_g is None or math.isnan(v):
                    v = from_steps.get(c, {}).get(key, math.nan) * scale
                d[key] = v
            out[c] = d
        for c, q in from_steps.items():
            if c in out:
                continue
            d = {k: v * scale for k, v in q.items()}
            d.update(ce=math.nan, ce_cc=math.nan, chg_rate="", dis_rate="", partial=True)
            out[c] = d
        return out

    def segments(self):
        if self._segs is None:
            self._segs = self._segments()
        return self._segs

    def _segments(self):
        """The time series cut into (cycle, side, kind_list, q, v) per cycle and side
        ('charge'/'discharge'), q in the plot's unit from 0 at the side's start.
        A charge segment starts from the voltage of the row before it, at q = 0."""
        import numpy as np

        scale = 1000.0 / self.mass_g if self.mass_g else 1000.0    # Ah -> mAh(/g)
        segs = {}
        prev_v = math.nan
        for r in self.ts:
            v = _num(r.get("Voltage / V"))
            c = _int(r.get("Cycle Count / 1"))
            typ = r.get("Step Type") or ""
            side = "discharge" if typ.endswith("discharge") else (
                "charge" if typ.endswith("charge") else None)
            if side is None or c is None or math.isnan(v):
                prev_v = v if not math.isnan(v) else prev_v
                continue
            col = "Charging Capacity / Ah" if side == "charge" else "Discharging Capacity / Ah"
            q = _num(r.get(col))
            if math.isnan(q):
                continue
            key = (c, side)
            seg = segs.get(key)
            if seg is None:
                seg = segs[key] = {"q": [], "v": [], "kind": [], "top": 0.0}
                if not math.isnan(prev_v):
                    seg["q"].append(0.0)
                    seg["v"].append(prev_v)
                    seg["kind"].append("start")
            # the cycle's charge only grows: a drop (a counter reset written on the
            # last row) is not a point of the curve
            q *= scale
            if q < seg["top"] - 1e-9:
                continue
            seg["top"] = q
            seg["q"].append(q)
            seg["v"].append(v)
            seg["kind"].append(typ.split("_")[0])
            prev_v = v
        out = []
        for (c, side), s in sorted(segs.items()):
            out.append((c, side, s["kind"], np.asarray(s["q"]), np.asarray(s["v"])))
        return out

    @property
    def unit(self):
        return "mAh g$^{-1}$" if self.mass_g else "mAh"


# --- helpers -------------------------------------------------------------------------

def select_cycles(cycles, n=MAX_CURVES):
    """At most n evenly spaced cycles plus the first and the last, in order."""
    cycles = sorted(set(cycles))
    if len(cycles) <= n + 2:
        return cycles
    import numpy as np
    idx = set(np.linspace(0, len(cycles) - 1, n + 2).round().astype(int).tolist())
    return [cycles[i] for i in sorted(idx)]


def curve_cycles(run, cycles, n):
    """Cycles to draw curves of. When the run has at most n distinct rates (a rate test),
    the last cycle at each rate's first appearance, plus the first and the last cycle;
    else select_cycles(cycles, n)."""
    per = run.per_cycle()
    have = set(cycles)
    known = [c for c in sorted(per) if not per[c]["partial"]]
    picks, seen = [], set()
    for a, b, lab in _rate_groups(known, per):
        if lab and lab not in seen:
            seen.add(lab)
            picks.append(b)
    if not cycles:
        return []
    if 1 < len(seen) <= n:
        return sorted(set(p for p in picks if p in have) | {min(cycles), max(cycles)})
    return select_cycles(cycles, n)


def _cycle_label(run, c):
    d = run.per_cycle().get(c)
    lab = _rate_groups([c], {c: d})[0][2] if d and not d["partial"] else ""
    return "cycle %d%s" % (c, " (%s)" % lab if lab else "")


# --- names, rates, colours -------------------------------------------------------------

def run_name(d):
    """A run's name for titles: the protocol's (run.json, protocol.toml) or the imported
    file's (import.json), else the folder's."""
    for fn, key in (("run.json", "protocol"), ("import.json", "name")):
        try:
            with open(os.path.join(d, fn)) as f:
                v = json.load(f).get(key)
            if v:
                return str(v)
        except (OSError, ValueError, AttributeError):
            pass
    try:
        with open(os.path.join(d, "protocol.toml")) as f:
            m = re.search(r'^name\s*=\s*"([^"]*)"', f.read(), re.M)
        if m and m.group(1):
            return m.group(1)
    except OSError:
        pass
    return os.path.basename(os.path.abspath(d))


def rate_value(label):
    """A rate label as a number for ordering and the rate axis: 'C/10' -> 0.1,
    '2C' -> 2.0, '0.5C' -> 0.5, '22.5 mA' -> 22.5 (unit 'mA'). Returns (value, unit):
    unit 'C' or 'mA'; (nan, '') when the label says neither."""
    lab = (label or "").strip()
    m = re.fullmatch(r"C\s*/\s*([0-9.]+)", lab)
    if m and float(m.group(1)) > 0:
        return 1.0 / float(m.group(1)), "C"
    m = re.fullmatch(r"([0-9.]+)\s*C", lab)
    if m:
        return float(m.group(1)), "C"
    m = re.fullmatch(r"([0-9.eE+-]+)\s*mA", lab)
    if m:
        return float(m.group(1)), "mA"
    return math.nan, ""


def _cycle_rate(per, c):
    """The rate a cycle is coloured by: its label from _rate_groups ('C/2', or
    'C/2 / 1C' when charge and discharge differ)."""
    return _rate_groups([c], {c: per[c]})[0][2] if c in per else ""


def _rate_order(labels):
    """Distinct labels, slowest first (by the discharge part of 'a / b' labels)."""
    def key(lab):
        v, _u = rate_value(lab.split(" / ")[-1])
        return (math.isnan(v), v, lab)
    return sorted(set(x for x in labels if x), key=key)


def rate_colours(labels):
    """label -> colour: tab10 in rate order for up to 10 rates, else viridis."""
    import matplotlib
    order = _rate_order(labels)
    if len(order) <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return {lab: matplotlib.colors.to_hex(cmap(k)) for k, lab in enumerate(order)}
    cmap = matplotlib.colormaps["viridis"]
    span = max(len(order) - 1, 1)
    return {lab: matplotlib.colors.to_hex(cmap(0.92 * k / span)) for k, lab in enumerate(order)}


def _cmap(cycles):
    """Cycle -> colour: viridis (dark to yellow) over the chosen cycles in order, so
    neighbours differ even when the cycle numbers bunch together."""
    import matplotlib
    cmap = matplotlib.colormaps["viridis"]
    order = {c: i for i, c in enumerate(sorted(cycles))}
    span = max(len(order) - 1, 1)
    return lambda c: matplotlib.colors.to_hex(cmap(0.92 * order[c] / span))


class Meta:
    """What a figure shows, written to figures.json beside it: its title and one entry
    per series (label, colour as #rrggbb, panel, number of points)."""

    def __init__(self):
        self.series = []

    def add(self, label, colour, n, panel=0, kind="line"):
        import matplotlib
        self.series.append({"label": label, "color": matplotlib.colors.to_hex(colour),
                            "n": int(n), "panel": panel, "kind": kind})


def _figure(nrows, figsize, sharex=True):
    """A figure with nrows axes stacked (sharing x); returns (fig, [axes])."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=figsize, dpi=DPI)
    axes = [fig.add_subplot(nrows, 1, 1)]
    for i in range(2, nrows + 1):
        axes.append(fig.add_subplot(nrows, 1, i, sharex=axes[0] if sharex else None))
    return fig, axes


def _save(fig, path, meta=None):
    """PNG at path, the same figure as SVG beside it, and its entry in figures.json."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    for ax in fig.axes:
        if ax.get_xlabel() == "Cycle" or (ax.get_shared_x_axes().joined(ax, fig.axes[-1])
                                          and fig.axes[-1].get_xlabel() == "Cycle"):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.savefig(path, dpi=DPI)
    fig.savefig(os.path.splitext(path)[0] + VECTOR_EXT)
    if meta is not None:
        # where each panel and its tick labels are in the PNG (pixels, top-left origin),
        # and its y range: what tests check the picture against
        fig.canvas.draw()
        h = fig.get_size_inches()[1] * DPI
        meta.axes = []
        for ax in fig.axes:
            if not ax.get_visible() or ax.get_label() == "<colorbar>":
                continue
            b = ax.get_window_extent()
            ticks = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
            meta.axes.append({"box": [b.x0, h - b.y1, b.x1, h - b.y0],
                              "ylim": list(ax.get_ylim()), "yscale": ax.get_yscale(),
                              "xticks": [[t.x0, h - t.y1, t.x1, h - t.y0] for t in ticks]})
        mp = os.path.join(os.path.dirname(path), META_FILE)
        try:
            with open(mp) as f:
                allm = json.load(f)
        except (OSError, ValueError):
            allm = {}
        title = fig.axes[0].get_title() if fig.axes else ""
        allm[os.path.basename(path)] = {"title": title, "series": meta.series,
                                        "axes": getattr(meta, "axes", [])}
        with open(mp, "w") as f:
            json.dump(allm, f, indent=1)
    plt.close(fig)
    return path


def _title(run, what):
    return "%s: %s%s" % (run.name, what, "" if run.mass_g else "\n(active mass unknown: mAh)")


def _qlabel(run, side=""):
    lab = "%s%scapacity / %s" % ("specific " if run.mass_g else "", side, run.unit)
    return lab[0].upper() + lab[1:]


def _legend_right(ax, handles=None, **kw):
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              borderaxespad=0, **kw)


def _rates_of(run):
    """{cycle: rate label} of the finished cycles (partial ones: their group's)."""
    per = run.per_cycle()
    out = {}
    for a, b, lab in _rate_groups(sorted(per), per):
        for c in per:
            if a <= c <= b:
                out[c] = lab
    return out


# --- figures -------------------------------------------------------------------------

def plot_voltage_capacity(run, path):
    """Charge solid, discharge dashed. With several rates: one cycle per rate (the last
    complete one at it), coloured by rate, one legend entry per rate. With one rate:
    evenly chosen cycles coloured by cycle (ageing)."""
    from matplotlib.lines import Line2D
    segs = run.segments()
    if not segs:
        return None
    rates = _rates_of(run)
    per = run.per_cycle()
    have = sorted(set(s[0] for s in segs))
    distinct = _rate_order(rates.get(c, "") for c in have)
    meta = Meta()
    fig, (ax,) = _figure(1, (8.5, 5))
    handles = [Line2D([], [], color="k", ls="-", label="charge"),
               Line2D([], [], color="k", ls="--", label="discharge")]
    if len(distinct) >= 2:
        colours = rate_colours(distinct)
        chosen = {}
        for c in have:
            lab = rates.get(c, "")
            if lab and not per.get(c, {}).get("partial", True):
                chosen[lab] = c          # the last complete cycle at that rate
        for lab in distinct:
            c = chosen.get(lab)
            if c is None:
                continue
            n = 0
            for cc, side, _k, q, v in segs:
                if cc == c:
                    ax.plot(q, v, "-" if side == "charge" else "--", color=colours[lab], lw=1.4)
                    n += len(q)
            meta.add(lab, colours[lab], n)
            handles.append(Line2D([], [], color=colours[lab], lw=2,
                                  label="%s (cycle %d)" % (lab, c)))
    else:
        chosen = select_cycles(have, MAX_CURVES)
        color = _cmap(chosen)
        for c in chosen:
            n = 0
            for cc, side, _k, q, v in segs:
                if cc == c:
                    ax.plot(q, v, "-" if side == "charge" else "--", color=color(c), lw=1.2)
                    n += len(q)
            meta.add(_cycle_label(run, c), color(c), n)
            handles.append(Line2D([], [], color=color(c), lw=2, label=_cycle_label(run, c)))
    ax.set_xlabel(_qlabel(run))
    ax.set_ylabel("Voltage / V")
    ax.set_title(_title(run, "voltage against capacity"))
    _legend_right(ax, handles)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path, meta)


def plot_capacity(run, path):
    """Charge (top) and discharge (bottom) capacity per cycle: filled markers CC+CV, open
    markers the CC part alone, coloured by rate, one legend entry per rate; the running
    cycle's steps so far in grey."""
    import numpy as np
    from matplotlib.lines import Line2D

    per = run.per_cycle()
    if not per:
        return None
    rates = _rates_of(run)
    cycles = sorted(per)
    colours = rate_colours([rates.get(c, "") for c in cycles])
    meta = Meta()
    fig, axes = _figure(2, (9.5, 6.5))
    ms = 5 if len(cycles) <= 60 else 3
    for pi, (ax, side, name) in enumerate(((axes[0], "chg", "charge"),
                                           (axes[1], "dis", "discharge"))):
        top = 0.0
        groups = {}
        for c in cycles:
            lab = rates.get(c, "") if not per[c]["partial"] else "(in progress)"
            groups.setdefault(lab, []).append(c)
        for lab, cs in groups.items():
            col = colours.get(lab, "#808080")
            x = np.array(cs, dtype=float)
            cc = np.array([per[c][side + "_cc"] for c in cs], dtype=float)
            tot = cc + np.nan_to_num(np.array([per[c][side + "_cv"] for c in cs], dtype=float))
            ax.plot(x, tot, "o", color=col, ms=ms, ls="none")
            ax.plot(x, cc, "o", mfc="none", mec=col, ms=ms, ls="none")
            meta.add(lab or "(no rate)", col, len(cs), panel=pi, kind="markers")
            if np.isfinite(tot).any():
                top = max(top, float(np.nanmax(tot)))
        ax.set_ylim(0, max(top * 1.08, 1e-9))
        ax.set_ylabel(_qlabel(run, name + " "))
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color="k", marker="o", ls="none", label="CC + CV"),
               Line2D([], [], color="k", marker="o", mfc="none", ls="none", label="CC only")]
    for lab in _rate_order(colours):
        handles.append(Line2D([], [], color=colours[lab], marker="o", ls="none", label=lab))
    if any(per[c]["partial"] for c in cycles):
        handles.append(Line2D([], [], color="#808080", marker="o", ls="none",
                              label="cycle in progress\n(steps ended so far)"))
    _legend_right(axes[0], handles, title="rate")
    axes[0].tick_params(labelbottom=False)
    axes[0].set_title(_title(run, "capacity per cycle (CC and CV parts)"))
    axes[1].set_xlabel("Cycle")
    if len(cycles) < 15:
        axes[1].set_xticks(cycles)
    fig.tight_layout()
    return _save(fig, path, meta)


def _ce_axis(ax, y):
    """Limits that show every point: linear around 100 %, or a log axis when the
    points span more than a factor of 3."""
    import numpy as np
    ok = y[np.isfinite(y) & (y > 0)]
    if not len(ok):
        return
    lo, hi = float(min(ok.min(), 100.0)), float(max(ok.max(), 100.0))
    if hi / lo > 3.0:
        from matplotlib.ticker import LogLocator, ScalarFormatter, NullFormatter
        ax.set_yscale("log")
        ax.set_ylim(lo / 1.15, hi * 1.15)
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        pad = max(0.2, 0.06 * (hi - lo))
        ax.set_ylim(lo - pad, hi + pad)


def plot_ce(run, path):
    """CE counting the CV steps (top) and of the CC steps alone (bottom, which runs far
    above 100 % at high rate: FACTS), each on axes that show every point, coloured by
    rate."""
    import numpy as np

    per = run.per_cycle()
    rows = [(c, d["ce"], d["ce_cc"]) for c, d in sorted(per.items()) if not d["partial"]]
    rows = [r for r in rows if not (math.isnan(r[1]) and math.isnan(r[2]))]
    if not rows:
        return None
    rates = _rates_of(run)
    colours = rate_colours([rates.get(r[0], "") for r in rows])
    meta = Meta()
    fig, axes = _figure(2, (9, 6.5))
    c = np.array([r[0] for r in rows], dtype=float)
    for pi, (ax, k, lab) in enumerate(((axes[0], 1, "with the CV steps"),
                                       (axes[1], 2, "CC steps only"))):
        y = np.array([r[k] for r in rows], dtype=float)
        ax.plot(c, y, "-", color="0.75", lw=0.6, zorder=1)
        for rl in _rate_order(colours) or [""]:
            m = np.array([rates.get(r[0], "") == rl for r in rows]) & np.isfinite(y)
            if m.any():
                col = colours.get(rl, "#1f77b4")
                ax.plot(c[m], y[m], "o" if pi == 0 else "s", color=col, ms=3.5, ls="none",
                        zorder=2, label=rl or None)
                meta.add(rl or lab, col, int(m.sum()), panel=pi, kind="markers")
        ax.axhline(100.0, color="grey", lw=0.8, ls=":")
        _ce_axis(ax, y)
        ax.set_ylabel("CE, %s / %%" % lab)
        ax.grid(alpha=0.3, which="both")
    if colours:
        _legend_right(axes[0], title="rate")
    axes[0].tick_params(labelbottom=False)
    axes[0].set_title(_title(run, "coulombic efficiency with and without the CV steps"))
    axes[1].set_xlabel("Cycle")
    if len(c) < 15:
        axes[1].set_xticks(c)
    fig.tight_layout()
    return _save(fig, path, meta)


def rate_capability(run):
    """[(rate label, value, unit, mean CC, mean CC+CV, min, max of CC+CV)] of the
    discharge capacity at each discharge rate (finished cycles), slowest first."""
    import numpy as np
    per = run.per_cycle()
    by = {}
    for c, d in per.items():
        if d["partial"] or not d["dis_rate"]:
            continue
        cc, cv = d["dis_cc"], d["dis_cv"]
        if math.isnan(cc):
            continue
        by.setdefault(d["dis_rate"], []).append((cc, cc + (0.0 if math.isnan(cv) else cv)))
    out = []
    for lab in _rate_order(by):
        v, unit = rate_value(lab)
        if math.isnan(v):
            continue
        a = np.array(by[lab])
        out.append((lab, v, unit, float(a[:, 0].mean()), float(a[:, 1].mean()),
                    float(a[:, 1].min()), float(a[:, 1].max())))
    return out


def plot_rate_capability(run, path):
    """Discharge capacity against discharge rate on a log axis: CC + CV (filled) and CC
    alone (open), mean over the cycles at each rate with their range."""
    import numpy as np
    pts = rate_capability(run)
    if len(pts) < 2:
        return None
    units = set(p[2] for p in pts)
    if len(units) != 1:
        return None
    unit = units.pop()
    meta = Meta()
    fig, (ax,) = _figure(1, (7, 4.8))
    x = np.array([p[1] for p in pts])
    tot = np.array([p[4] for p in pts])
    cc = np.array([p[3] for p in pts])
    err = np.array([[p[4] - p[5] for p in pts], [p[6] - p[4] for p in pts]])
    ax.errorbar(x, tot, yerr=err, fmt="o-", color="C0", ms=6, capsize=3, label="CC + CV")
    ax.plot(x, cc, "o--", mfc="white", color="C3", ms=6, label="CC only")
    meta.add("CC + CV", "C0", len(x))
    meta.add("CC only", "C3", len(x))
    ax.set_xscale("log")
    ax.set_xticks(x, [p[0] for p in pts], minor=False)
    ax.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
    ax.tick_params(axis="x", labelrotation=45 if len(x) > 6 else 0)
    ax.set_xlabel("Discharge rate (log axis)" if unit == "C" else "Discharge current / mA (log axis)")
    ax.set_ylabel(_qlabel(run, "discharge "))
    ax.set_ylim(0, float(np.nanmax(tot)) * 1.1)
    ax.set_title(_title(run, "rate capability"))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return _save(fig, path, meta)


def resistances(run):
    """{cycle: ohm} from the time series: at the first CC discharge step of each cycle,
    the voltage jump against the current jump between the last row before it and its
    first row (a DC resistance that includes what relaxes within one sample period:
    run.r_dt_s, the median time between those rows). The engine's own R probe reads
    two ticks after the step but is not sent on the wire."""
    out = {}
    dts = []
    prev = None
    seen = set()
    for r in run.ts:
        typ = r.get("Step Type") or ""
        c = _int(r.get("Cycle Count / 1"))
        v, i = _num(r.get("Voltage / V")), _num(r.get("Current / A"))
        step = r.get("Step Count / 1")
        if (prev is not None and typ == "cc_discharge" and prev[0] != step and c not in seen
                and c is not None):
            di = i - prev[2]
            if abs(di) > 0 and not math.isnan(v - prev[1]):
                out[c] = (v - prev[1]) / di
                seen.add(c)
                dts.append(_num(r.get("Test Time / s")) - prev[3])
        if not (math.isnan(v) or math.isnan(i)):
            prev = (step, v, i, _num(r.get("Test Time / s")))
    dts.sort()
    run.r_dt_s = dts[len(dts) // 2] if dts else math.nan
    return out


def plot_retention_resistance(run, path):
    """Discharge capacity retention (against the first cycle at the same rate) and the
    resistance at each discharge's start, against cycle, coloured by rate."""
    import numpy as np
    per = run.per_cycle()
    rates = _rates_of(run)
    cyc = [c for c in sorted(per) if not per[c]["partial"]]
    q = {c: per[c]["dis_cc"] + np.nan_to_num(per[c]["dis_cv"]) for c in cyc}
    cyc = [c for c in cyc if q[c] > 0]
    if not cyc:
        return None
    r_ohm = resistances(run)
    colours = rate_colours([rates.get(c, "") for c in cyc])
    first = {}
    for c in cyc:
        first.setdefault(rates.get(c, ""), q[c])
    meta = Meta()
    fig, axes = _figure(2, (9, 6.5))
    for rl in _rate_order(colours) or [""]:
        cs = [c for c in cyc if rates.get(c, "") == rl]
        col = colours.get(rl, "#1f77b4")
        y = [100.0 * q[c] / first[rl] for c in cs]
        axes[0].plot(cs, y, "o", color=col, ms=3.5, label=rl or None)
        meta.add(rl or "retention", col, len(cs), panel=0, kind="markers")
        rc = [c for c in cs if c in r_ohm]
        if rc:
            axes[1].plot(rc, [r_ohm[c] for c in rc], "s", color=col, ms=3.5)
            meta.add(rl or "resistance", col, len(rc), panel=1, kind="markers")
    axes[0].axhline(100.0, color="grey", lw=0.8, ls=":")
    axes[0].set_ylabel("Discharge capacity retention / %\n(of the first cycle at its rate)")
    axes[1].set_ylabel("ΔV/ΔI at discharge start / Ω\n(over the first %.3g s)"
                       % getattr(run, "r_dt_s", math.nan))
    if colours:
        _legend_right(axes[0], title="rate")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].tick_params(labelbottom=False)
    axes[0].set_title(_title(run, "capacity retention and resistance"))
    axes[1].set_xlabel("Cycle")
    if not r_ohm:
        axes[1].text(0.5, 0.5, "no CC discharge start in the time series", ha="center",
                     transform=axes[1].transAxes)
    fig.tight_layout()
    return _save(fig, path, meta)
def _rate_groups(cycles, per):
    """[(first_cycle, last_cycle, label)] where the (charge, discharge) rates stay the same."""
    groups = []
    for c in cycles:
        d = per[c]
        if d["partial"] and groups:
            groups[-1] = (groups[-1][0], c, groups[-1][2])
            continue
        ch, di = d["chg_rate"], d["dis_rate"]
        lab = ch if ch == di else ("%s / %s" % (ch, di) if ch and di else ch or di)
        if groups and groups[-1][2] == lab:
            groups[-1] = (groups[-1][0], c, lab)
        else:
            groups.append((c, c, lab))
    return groups




def dqdv(q, v, sign, bin_v=DQDV_BIN_V, smooth=DQDV_SMOOTH):
    """dQ/dV of one constant-current segment: Q interpolated at the edges of bin_v voltage
    bins along the monotone envelope of V (noise would otherwise divide by ~0), then a
    moving average over `smooth` bins. sign +1 for a charge (V rising), -1 for a discharge.
    Returns (bin centres in V, dQ/dV in q's unit per volt, signed like the current)."""
    import numpy as np

    q = np.asarray(q, dtype=float)
    v = np.asarray(v, dtype=float) * sign
    ok = ~(np.isnan(q) | np.isnan(v))
    q, v = q[ok], v[ok]
    if len(v) < 3:
        return np.array([]), np.array([])
    env = np.maximum.accumulate(v)
    keep = np.concatenate(([True], np.diff(env) > 0))
    env, q = env[keep], q[keep]
    if len(env) < 3:
        return np.array([]), np.array([])
    # no finer than twice the sampling: a bin between two samples says nothing new
    step = max(bin_v, 2.0 * (env[-1] - env[0]) / len(env))
    edges = np.arange(env[0], env[-1] + step / 2, step)
    if len(edges) < 3:
        return np.array([]), np.array([])
    qe = np.interp(edges, env, q)
    d = np.diff(qe) / step
    if smooth > 1 and len(d) >= smooth:
        d = np.convolve(d, np.ones(smooth) / smooth, mode="same")
    centres = (edges[:-1] + edges[1:]) / 2.0
    return centres * sign, d * sign




def plot_dqdv(run, path):
    """dQ/dV of the CC parts: one cycle per rate coloured by rate (several rates), or
    evenly chosen cycles coloured by cycle (one rate)."""
    import numpy as np
    from matplotlib.lines import Line2D

    segs = []
    for c, side, kind, q, v in run.segments():
        mask = np.array([k == "cc" for k in kind])
        if mask.sum() >= 3:
            segs.append((c, side, q[mask], v[mask]))
    if not segs:
        return None
    rates = _rates_of(run)
    per = run.per_cycle()
    have = sorted(set(s[0] for s in segs))
    distinct = _rate_order(rates.get(c, "") for c in have)
    if len(distinct) >= 2:
        colours = rate_colours(distinct)
        pick = {}
        for c in have:
            lab = rates.get(c, "")
            if lab and not per.get(c, {}).get("partial", True):
                pick[lab] = c
        chosen = {c: (lab, colours[lab], "%s (cycle %d)" % (lab, c)) for lab, c in pick.items()}
    else:
        sel = curve_cycles(run, have, MAX_DQDV_CURVES)
        color = _cmap(sel)
        chosen = {c: (_cycle_label(run, c), color(c), _cycle_label(run, c)) for c in sel}
    meta = Meta()
    fig, (ax,) = _figure(1, (8.5, 5))
    handles = [Line2D([], [], color="k", ls="-", label="charge (> 0)"),
               Line2D([], [], color="k", ls="--", label="discharge (< 0)")]
    drawn = {}
    for c, side, q, v in segs:
        if c not in chosen:
            continue
        x, y = dqdv(q, v, 1 if side == "charge" else -1)
        if len(x):
            ax.plot(x, y, "-" if side == "charge" else "--", color=chosen[c][1], lw=1.1)
            drawn[c] = drawn.get(c, 0) + len(x)
    for c in sorted(drawn, key=lambda c: (rate_value(chosen[c][0].split(" / ")[-1])[0], c)):
        meta.add(chosen[c][0], chosen[c][1], drawn[c])
        handles.append(Line2D([], [], color=chosen[c][1], lw=2, label=chosen[c][2]))
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_xlabel("Voltage / V")
    ax.set_ylabel("dQ/dV / %s V$^{-1}$" % run.unit)
    ax.set_title(_title(run, "dQ/dV of the CC steps (bins of %g mV or more)"
                        % (DQDV_BIN_V * 1000)))
    _legend_right(ax, handles)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if not drawn:
        import matplotlib.pyplot as plt
        plt.close(fig)
        return None
    return _save(fig, path, meta)


def _step_words(run):
    """{step count: the step's protocol words} from steps.csv (the steps ended so far)."""
    return {_int(r.get("step")): (r.get("source") or "").strip() for r in run.steps}


# A sweep's protocol words as steps.csv keeps them (docs/protocol-files.md). Read here,
# not through host_tools/protocol_file, which imports `cycler fit`, which imports this
# module (tests/test_layers.py refuses the cycle).
_SWEEP_WORDS = re.compile(r"Sweep from ([0-9.]+) *(m?V) to ([0-9.]+) *(m?V) "
                          r"at ([0-9.]+) *(uV|mV|V)/s", re.I)
_TO_V = {"v": 1.0, "mv": 1e-3, "uv": 1e-6}


def sweep_of(words):
    """A sweep step's words -> (start V, end V, rate V/s, the rate as written), or None."""
    m = _SWEEP_WORDS.search(words or "")
    if not m:
        return None
    a = float(m.group(1)) * _TO_V[m.group(2).lower()]
    b = float(m.group(3)) * _TO_V[m.group(4).lower()]
    rate = float(m.group(5)) * _TO_V[m.group(6).lower()]
    return a, b, rate, "%s %s/s" % (m.group(5), m.group(6))


def sweep_leg_s(words):
    """A sweep step's leg (one way) in seconds from its protocol words ('Sweep from
    2.8 V to 4.5 V at 0.1 mV/s for 5 cycles' -> 17000.0), or None."""
    st = sweep_of(words)
    if st is None or st[2] <= 0 or st[0] == st[1]:
        return None
    return abs(st[1] - st[0]) / st[2]


def sweeps(run):
    """The time series' sweep rows cut into there-and-back cycles, in time order:
    [(step count, k, v, i)] with k the cycle within its step (from 1) and v, i arrays
    (V, A). Where steps.csv gives the step's words, a cycle is two legs of the
    programmed sweep by the step's clock (the engine moves the setpoint at exactly the
    rate, whatever the measured voltage does); else a leg ends at the measured
    voltage's extreme, once it has come back TURN_V from it."""
    import numpy as np

    words = _step_words(run)
    steps = {}
    order = []
    for r in run.ts:
        if (r.get("Step Type") or "") != "sweep":
            continue
        n = _int(r.get("Step Count / 1"))
        v, i = _num(r.get("Voltage / V")), _num(r.get("Current / A"))
        if n is None or math.isnan(v) or math.isnan(i):
            continue
        if n not in steps:
            steps[n] = ([], [], [])
            order.append(n)
        steps[n][0].append(v)
        steps[n][1].append(i)
        steps[n][2].append(_num(r.get("Step Time / s")))
    out = []
    for n in order:
        vs, ii, ts = steps[n]
        leg = sweep_leg_s(words.get(n))
        if leg and not any(math.isnan(t) for t in ts):
            # by the clock: cycle k holds the rows in [2 (k-1) leg, 2 k leg)
            k_of = [int(t / (2 * leg) + 1e-9) for t in ts]   # (1e-9: a row at a turn)
            last = k_of[-1]
            if last and ts[-1] - 2 * leg * last < 0.05 * leg:
                # the step's end row, a moment past its last cycle: it ends that cycle
                k_of = [k if k < last else last - 1 for k in k_of]
            for k in sorted(set(k_of)):
                rows = [j for j, x in enumerate(k_of) if x == k]
                a, b = rows[0], rows[-1] + (1 if rows[-1] + 1 < len(vs) else 0)
                out.append((n, k + 1, np.asarray(vs[a:b + 1]), np.asarray(ii[a:b + 1])))
            continue
        cuts = [0]
        ext, at, way = vs[0], 0, 0   # the leg's extreme so far, its row, its direction
        for k, v in enumerate(vs):
            if way == 0:
                if abs(v - vs[0]) >= TURN_V:
                    way = 1 if v > vs[0] else -1
                    ext, at = v, k
                continue
            if (v - ext) * way > 0:
                ext, at = v, k
            elif (ext - v) * way >= TURN_V:
                cuts.append(at)            # the turn: the extreme ends one leg and
                way, ext, at = -way, v, k  # starts the next
        cuts.append(len(vs) - 1)
        legs = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
        for c in range(0, len(legs), 2):
            a = legs[c][0]
            b = legs[c + 1][1] if c + 1 < len(legs) else legs[c][1]
            out.append((n, c // 2 + 1, np.asarray(vs[a:b + 1]), np.asarray(ii[a:b + 1])))
    return out


def plot_voltammogram(run, path):
    """Current against voltage of the sweep steps (the paper's Fig. 4B kind): one curve
    per there-and-back cycle (at most MAX_CURVES, evenly chosen, plus the first and the
    last), coloured in time order, under its step's words from steps.csv (the sweep's
    programmed range and rate), each labelled with the range it reached: a sweep the
    channel's current limit held back reads as one that fell short."""
    from matplotlib.lines import Line2D
    cyc = sweeps(run)
    if not cyc:
        return None
    idx = select_cycles(range(len(cyc)), MAX_CURVES)
    big = max(float(abs(i).max()) for _n, _k, _v, i in cyc)
    scale, unit = (1e3, "mA") if big >= 1e-3 else (1e6, "$\\mu$A")
    colour = _cmap(idx)
    words = _step_words(run)
    meta = Meta()
    handles = []
    fig, (ax,) = _figure(1, (8.5, 5))
    seen = set()
    for j in idx:
        n, k, v, i = cyc[j]
        if n not in seen:
            seen.add(n)
            st = sweep_of(words.get(n))
            head = "step %d: %s" % (n, "%g V to %g V at %s" % (st[0], st[1], st[3])
                                    if st else words.get(n) or "sweep")
            handles.append(Line2D([], [], color="none", label=head))
        lab = "cycle %d: %.2f-%.2f V" % (k, v.min(), v.max())
        ax.plot(v, i * scale, "-", color=colour(j), lw=1.1)
        handles.append(Line2D([], [], color=colour(j), lw=2, label=lab))
        meta.add("step %d, %s" % (n, lab), colour(j), len(v))
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_xlabel("Voltage / V")
    ax.set_ylabel("Current / %s (> 0: oxidation, charge)" % unit)
    ax.set_title(_title(run, "cyclic voltammetry"))
    _legend_right(ax, handles)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path, meta)


def _cycles_with_steps(run):
    """Whether the run has steps other than sweeps and rests (CC, CV, CR): a
    voltammetry-only run has no capacity per cycle, CE or V-Q curve worth drawing."""
    for r in run.ts:
        t = r.get("Step Type") or ""
        if t and t not in ("sweep", "rest"):
            return True
    return not run.ts and bool(run.cycles)


def _is_ours(d):
    """Our output folder: cycles.csv or steps.csv, or a time series with our Step Type."""
    if any(os.path.exists(os.path.join(d, n)) for n in ("cycles.csv", "steps.csv")):
        return True
    ts = os.path.join(d, "timeseries.bdf.csv")
    if not os.path.exists(ts):
        return False
    with open(ts, newline="") as f:
        head = f.readline()
    return "Step Type" in head or not head.strip()


def _foreign_source(d):
    """The one data file of a folder that is not ours (a BDF CSV, an instrument file)."""
    exts = (".csv", ".nda", ".ndax", ".mpr", ".res")
    files = sorted(f for f in os.listdir(d) if f.lower().endswith(exts)
                   and os.path.isfile(os.path.join(d, f)))
    return os.path.join(d, files[0]) if len(files) == 1 else None


def plot_dir(d, mass_mg=None, capacity_mAh=None):
    """Write the figures of output folder d into it; returns the PNG paths written (a
    figure with no data yet, e.g. CE before the first cycle ends, is left out). d may
    also be a folder holding one foreign data file, or that file itself: it is
    imported first (see the module's doc) and the figures go with the import."""
    if os.path.isfile(d):
        return _plot_foreign(d, os.path.splitext(d)[0] + "-figures", mass_mg, capacity_mAh)
    if not os.path.isdir(d):
        raise PlotError("%s is not a folder" % d)
    names = ("timeseries.bdf.csv", "cycles.csv", "steps.csv")
    if not _is_ours(d):
        src = _foreign_source(d)
        if src is None and not any(os.path.exists(os.path.join(d, n)) for n in names):
            raise PlotError("%s has no data files (expected %s, written by cycler simulate, "
                            "run or log, or one BDF CSV or instrument file)"
                            % (d, ", ".join(names)))
        if src is not None:
            return _plot_foreign(src, os.path.join(d, "cycler-import"), mass_mg, capacity_mAh)
    run = Run(d, mass_mg)
    if not (run.ts or run.cycles or run.steps):
        raise PlotError("%s has no records yet (its data files hold only their headers)" % d)
    try:
        os.remove(os.path.join(d, META_FILE))
    except OSError:
        pass
    written = []
    figures = list(zip((plot_voltage_capacity, plot_capacity, plot_ce, plot_dqdv,
                        plot_rate_capability, plot_retention_resistance), FIGURES))
    if not _cycles_with_steps(run):
        figures = []
    figures.append((plot_voltammogram, VOLTAMMOGRAM))
    for fn, name in figures:
        p = fn(run, os.path.join(d, name))
        if p:
            written.append(p)
    return written


def _plot_foreign(src, out, mass_mg, capacity_mAh):
    from host_tools import importers
    try:
        s = importers.read(src)
        importers.write_dir(s, out, mass_mg=mass_mg, capacity_mAh=capacity_mAh)
    except importers.ImportFileError as e:
        raise PlotError(" ".join(str(e).split()))
    return plot_dir(out, mass_mg=mass_mg)
