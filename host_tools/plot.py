"""`cycler plot DIR`: the paper's Fig. 4/5 style figures of an output folder written by
`cycler simulate`, `cycler log` or `cycler run` (files and columns: host_tools/records.py).

It only reads DIR and writes PNGs into it; it must cope with a run still being written
(a partial last cycle or line, an empty cycles.csv, empty cells) and never change data.
`plot_dir(dir)` is what `cycler run` calls at the end; it raises PlotError when there is
nothing to plot, which the command turns into exit status 2.
"""
import csv
import math
import os
import sys

FIGURES = ("voltage_vs_capacity.png", "capacity_per_cycle.png", "coulombic_efficiency.png",
           "dqdv.png")
MAX_CURVES = 12          # evenly spaced cycles on the V-Q plot, plus the first and last
MAX_DQDV_CURVES = 10     # dQ/dV curves overlap more: fewer of them
DQDV_BIN_V = 0.005       # 5 mV voltage bins
DQDV_SMOOTH = 3          # moving average over this many bins
CE_CLIP_PCT = 200.0      # the CC-only CE can run to thousands of % when the CC charge is ~0


class PlotError(Exception):
    """Nothing to plot (no folder, no data files, no records yet)."""


def add_arguments(p):
    p.add_argument("dir", help="output folder of cycler simulate / run / log")
    p.add_argument("--mass-mg", type=float, default=None,
                   help="active mass in mg, for mAh/g when cycles.csv cannot give it")


def run(args):
    try:
        paths = plot_dir(args.dir, mass_mg=args.mass_mg)
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


def _cmap(cycles):
    """Cycle -> colour: viridis (dark to yellow) over the chosen cycles in order, so
    neighbours differ even when the cycle numbers bunch together."""
    import matplotlib
    cmap = matplotlib.colormaps["viridis"]
    order = {c: i for i, c in enumerate(sorted(cycles))}
    span = max(len(order) - 1, 1)
    return lambda c: cmap(0.92 * order[c] / span)


def _curve_legend(run, ax, chosen, color, solid, dashed):
    """A legend outside the axes, right: the line styles, then one entry per cycle."""
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color="k", ls="-", label=solid),
               Line2D([], [], color="k", ls="--", label=dashed)]
    handles += [Line2D([], [], color=color(c), lw=2, label=_cycle_label(run, c))
                for c in chosen]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              borderaxespad=0)


def _figure(nrows, figsize):
    """A figure with nrows axes stacked, sharing x; returns (fig, [axes])."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=figsize)
    axes = [fig.add_subplot(nrows, 1, 1)]
    for i in range(2, nrows + 1):
        axes.append(fig.add_subplot(nrows, 1, i, sharex=axes[0]))
    return fig, axes


def _save(fig, path):
    import matplotlib.pyplot as plt
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _title(run, what):
    name = os.path.basename(os.path.abspath(run.dir))
    return "%s: %s%s" % (name, what, "" if run.mass_g else "\n(active mass unknown: mAh)")


def _qlabel(run, side=""):
    lab = "%s%scapacity / %s" % ("specific " if run.mass_g else "", side, run.unit)
    return lab[0].upper() + lab[1:]


# --- figures -------------------------------------------------------------------------
def plot_voltage_capacity(run, path):
    segs = run.segments()
    if not segs:
        return None
    chosen = curve_cycles(run, sorted(set(s[0] for s in segs)), MAX_CURVES)
    color = _cmap(chosen)
    fig, (ax,) = _figure(1, (8.5, 5))
    for c, side, _kind, q, v in segs:
        if c not in chosen:
            continue
        ax.plot(q, v, "-" if side == "charge" else "--", color=color(c), lw=1.2)
    ax.set_xlabel(_qlabel(run))
    ax.set_ylabel("Voltage / V")
    ax.set_title(_title(run, "voltage against capacity"))
    _curve_legend(run, ax, chosen, color, "charge", "discharge")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


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


def plot_capacity(run, path):
    import numpy as np
    from matplotlib.patches import Patch

    per = run.per_cycle()
    if not per:
        return None
    cycles = sorted(per)
    x = np.asarray(cycles, dtype=float)
    fig, axes = _figure(2, (9.5, 6.5))
    width = 0.8 if len(cycles) <= 60 else 1.0     # no white stripes between many bars
    groups = _rate_groups(cycles, per)
    for ax, side, name in ((axes[0], "chg", "charge"), (axes[1], "dis", "discharge")):
        cc = np.nan_to_num(np.array([per[c][side + "_cc"] for c in cycles], dtype=float))
        cv = np.nan_to_num(np.array([per[c][side + "_cv"] for c in cycles], dtype=float))
        partial = np.array([per[c]["partial"] for c in cycles])
        for mask, alpha, hatch in ((~partial, 1.0, None), (partial, 0.4, "//")):
            if not mask.any():
                continue
            ax.bar(x[mask], cc[mask], width, color="C0", alpha=alpha, hatch=hatch, lw=0,
                   label="constant current" if alpha == 1.0 or not (~partial).any() else None)
            ax.bar(x[mask], cv[mask], width, bottom=cc[mask], color="C1", alpha=alpha, lw=0,
                   hatch=hatch, label="constant voltage" if alpha == 1.0 or not
                   (~partial).any() else None)
        ax.set_ylabel(_qlabel(run, name + " "))
        top = float(np.nanmax(cc + cv)) if len(cc) else 0.0
        ax.set_ylim(0, max(top * 1.05, 1e-9))
        for a, _b, _lab in groups[1:]:
            ax.axvline(a - 0.5, color="grey", ls=":", lw=1)
        handles = ax.get_legend_handles_labels()[0]
        if partial.any():
            handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//",
                                 label="cycle in progress\n(steps ended so far)"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                  borderaxespad=0)
        ax.grid(axis="y", alpha=0.3)
    # the rates, on a top axis: one label per run of cycles at the same rates
    labelled = [g for g in groups if g[2]]
    if labelled:
        sec = axes[0].secondary_xaxis("top")
        sec.set_xticks([(a + b) / 2.0 for a, b, _ in labelled], [g[2] for g in labelled])
        sec.tick_params(labelsize=8, length=0, labelrotation=90 if len(labelled) > 6 else 0)
        sec.set_xlabel("Rate (charge / discharge when they differ)", fontsize=8)
    axes[0].tick_params(labelbottom=False)
    axes[0].set_title(_title(run, "capacity per cycle (CC and CV parts)"))
    axes[1].set_xlabel("Cycle")
    if len(cycles) < 15:
        axes[1].set_xticks(cycles)
    fig.tight_layout()
    return _save(fig, path)


def plot_ce(run, path):
    """Two panels: CE counting the CV steps (near 100 %, FACTS), autoscaled; and CE of
    the CC steps alone, which runs far above 100 % at high rate, clipped at CE_CLIP_PCT."""
    import numpy as np

    per = run.per_cycle()
    rows = [(c, d["ce"], d["ce_cc"]) for c, d in sorted(per.items()) if not d["partial"]]
    rows = [r for r in rows if not (math.isnan(r[1]) and math.isnan(r[2]))]
    if not rows:
        return None
    c = np.array([r[0] for r in rows], dtype=float)
    fig, axes = _figure(2, (8, 6))
    for ax, k, lab, style, colour in ((axes[0], 1, "with the CV steps", "o-", "C0"),
                                      (axes[1], 2, "CC steps only", "s-", "C1")):
        y = np.array([r[k] for r in rows], dtype=float)
        ok = ~np.isnan(y)
        inside = ok & (y <= CE_CLIP_PCT)
        ax.plot(c[inside], y[inside], style, color=colour, ms=3, lw=0.8, label=lab)
        over = ok & (y > CE_CLIP_PCT)
        if over.any():
            ax.plot(c[over], np.full(over.sum(), CE_CLIP_PCT), "^", color=colour, ms=5,
                    label="%s, above %g %% (%d cycles)" % (lab, CE_CLIP_PCT, over.sum()))
        ax.axhline(100.0, color="grey", lw=0.8, ls=":")
        lo = float(np.min(y[inside])) if inside.any() else 100.0
        hi = CE_CLIP_PCT if over.any() else (float(np.max(y[inside])) if inside.any() else 100.0)
        pad = max(0.5, 0.08 * (max(hi, 100.0) - min(lo, 100.0)))
        ax.set_ylim(min(lo, 100.0) - pad, max(hi, 100.0) + pad)
        ax.set_ylabel("Coulombic efficiency / %")
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
    axes[0].tick_params(labelbottom=False)
    axes[0].set_title(_title(run, "coulombic efficiency (discharge / previous charge)"))
    axes[1].set_xlabel("Cycle")
    if len(c) < 15:
        axes[1].set_xticks(c)
    fig.tight_layout()
    return _save(fig, path)


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
    from matplotlib.lines import Line2D

    segs = []
    for c, side, kind, q, v in run.segments():
        import numpy as np
        mask = np.array([k == "cc" for k in kind])
        if mask.sum() >= 3:
            segs.append((c, side, q[mask], v[mask]))
    if not segs:
        return None
    chosen = curve_cycles(run, sorted(set(s[0] for s in segs)), MAX_DQDV_CURVES)
    color = _cmap(chosen)
    fig, (ax,) = _figure(1, (8.5, 5))
    drawn = 0
    for c, side, q, v in segs:
        if c not in chosen:
            continue
        x, y = dqdv(q, v, 1 if side == "charge" else -1)
        if len(x):
            ax.plot(x, y, "-" if side == "charge" else "--", color=color(c), lw=1.1)
            drawn += 1
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_xlabel("Voltage / V")
    ax.set_ylabel("dQ/dV / %s V$^{-1}$" % run.unit)
    ax.set_title(_title(run, "dQ/dV of the CC steps (bins of %g mV or more)"
                        % (DQDV_BIN_V * 1000)))
    _curve_legend(run, ax, chosen, color, "charge (> 0)", "discharge (< 0)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if not drawn:
        import matplotlib.pyplot as plt
        plt.close(fig)
        return None
    return _save(fig, path)


def plot_dir(d, mass_mg=None):
    """Write the figures of output folder d into it; returns the paths written (a figure
    with no data yet, e.g. CE before the first cycle ends, is left out)."""
    if not os.path.isdir(d):
        raise PlotError("%s is not a folder" % d)
    names = ("timeseries.bdf.csv", "cycles.csv", "steps.csv")
    if not any(os.path.exists(os.path.join(d, n)) for n in names):
        raise PlotError("%s has no data files (expected %s, written by cycler simulate, "
                        "run or log)" % (d, ", ".join(names)))
    run = Run(d, mass_mg)
    if not (run.ts or run.cycles or run.steps):
        raise PlotError("%s has no records yet (its data files hold only their headers)" % d)
    written = []
    for fn, name in zip((plot_voltage_capacity, plot_capacity, plot_ce, plot_dqdv), FIGURES):
        p = fn(run, os.path.join(d, name))
        if p:
            written.append(p)
    return written
