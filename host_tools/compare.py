"""`cycler compare A B [...] [--out DIR]`: runs side by side (measured beside simulated,
or any runs): the per-cycle charge and discharge capacities tabled with the differences
from the first run, and a figure with the V-Q curves of the same cycles overlaid and the
capacities per cycle.

Each of A, B, ... is an output folder (cycler simulate / run / log / import) or any file
`cycler import` reads (imported into DIR/<name>/ first). Capacities are in mAh/g when
every run knows its active mass, else in mAh. Writes DIR/compare.csv, compare.png and
compare.svg; prints the table.
"""
import csv
import math
import os
import sys

MAX_COMPARE_CYCLES = 4    # cycles whose curves are overlaid


class CompareError(Exception):
    pass


def add_arguments(p):
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="output folders or instrument/BDF files; the first is the reference")
    p.add_argument("--out", default="compare", help="folder for compare.csv/png/svg "
                   "(default %(default)s)")
    p.add_argument("--cycles", default=None,
                   help="cycles to overlay, e.g. 1,2,10 (default: first, last and between)")
    p.add_argument("--mass-mg", type=float, action="append", default=None,
                   help="active mass of each run in mg, in order (repeat the option)")


def run(args):
    try:
        cycles = [int(x) for x in args.cycles.split(",")] if args.cycles else None
    except ValueError:
        print("cycler compare: --cycles takes cycle numbers like 1,2,10", file=sys.stderr)
        return 2
    try:
        table, paths = compare(args.runs, args.out, cycles=cycles, masses_mg=args.mass_mg)
    except CompareError as e:
        print("cycler compare: %s" % e, file=sys.stderr)
        return 2
    _print_table(table)
    for p in paths:
        print(p)
    return 0


def _load(path, out, mass_mg):
    from host_tools import importers, plot
    if os.path.isfile(path):
        name = os.path.splitext(os.path.basename(path))[0]
        d = os.path.join(out, name)
        try:
            importers.write_dir(importers.read(path), d, mass_mg=mass_mg)
        except importers.ImportFileError as e:
            raise CompareError(" ".join(str(e).split()))
        path = d
    if not os.path.isdir(path):
        raise CompareError("%s: no such folder or file" % path)
    r = plot.Run(path, mass_mg)
    if not r.per_cycle():
        raise CompareError("%s has no cycles (cycles.csv or steps.csv)" % path)
    return r


def compare(paths, out, cycles=None, masses_mg=None):
    """Returns (table, [written paths]); table = {"unit", "names", "rows": [...]} with
    per cycle each run's charge/discharge capacity and the differences to run 1."""
    if len(paths) < 2:
        raise CompareError("give at least two runs to compare")
    os.makedirs(out, exist_ok=True)
    masses = list(masses_mg or []) + [None] * len(paths)
    runs = [_load(p, out, m) for p, m in zip(paths, masses)]
    # one unit for all: mAh/g only when every run has a mass
    if not all(r.mass_g for r in runs):
        for r in runs:
            if r.mass_g:
                r.mass_g = None
                r._per = r._segs = None
    unit = runs[0].unit.replace("$^{-1}$", "^-1")
    names = _names(runs)
    common = sorted(set.intersection(*[set(c for c, d in r.per_cycle().items()
                                           if not d["partial"]) for r in runs]))
    rows = []
    for c in sorted(set().union(*[set(r.per_cycle()) for r in runs])):
        row = {"cycle": c}
        for n, r in zip(names, runs):
            d = r.per_cycle().get(c)
            row[n] = None if d is None or d["partial"] else (
                _tot(d, "chg"), _tot(d, "dis"))
        ref = row[names[0]]
        for n in names[1:]:
            o = row[n]
            if ref and o:
                row["d_" + n] = (o[0] - ref[0], o[1] - ref[1],
                                 100.0 * (o[1] - ref[1]) / ref[1] if ref[1] else math.nan)
            else:
                row["d_" + n] = None
        rows.append(row)
    table = {"unit": unit, "names": names, "rows": rows}
    paths_out = [_write_csv(table, os.path.join(out, "compare.csv"))]
    fig = _figure(runs, names, common, cycles, os.path.join(out, "compare.png"))
    if fig:
        paths_out.append(fig)
    return table, paths_out


def _tot(d, side):
    cc, cv = d[side + "_cc"], d[side + "_cv"]
    return (0.0 if math.isnan(cc) else cc) + (0.0 if math.isnan(cv) else cv)


def _names(runs):
    """Run names for the table; runs of the same protocol also get their folder's."""
    base = [r.name for r in runs]
    names = []
    for r, b in zip(runs, base):
        n = b if base.count(b) == 1 else "%s [%s]" % (b, os.path.basename(
            os.path.abspath(r.dir)))
        k = 2
        while n in names:
            n = "%s (%d)" % (b, k)
            k += 1
        names.append(n)
    return names


def _write_csv(table, path):
    names = table["names"]
    head = ["cycle"]
    for n in names:
        head += ["%s charge" % n, "%s discharge" % n]
    for n in names[1:]:
        head += ["%s - %s charge" % (n, names[0]), "%s - %s discharge" % (n, names[0]),
                 "%s - %s discharge %%" % (n, names[0])]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["# unit: %s" % table["unit"]])
        w.writerow(head)
        for row in table["rows"]:
            cells = [row["cycle"]]
            for n in names:
                cells += ["", ""] if row[n] is None else ["%.6g" % x for x in row[n]]
            for n in names[1:]:
                d = row["d_" + n]
                cells += ["", "", ""] if d is None else ["%.6g" % x for x in d]
            w.writerow(cells)
    return path


def _print_table(table):
    from rich.console import Console
    from rich.table import Table
    names = table["names"]
    t = Table(title="discharge (charge) capacity per cycle, %s" % table["unit"])
    t.add_column("cycle", justify="right")
    for n in names:
        t.add_column(n, justify="right")
    for n in names[1:]:
        t.add_column("%s - ref" % n, justify="right")
        t.add_column("%", justify="right")
    for row in table["rows"]:
        cells = [str(row["cycle"])]
        for n in names:
            v = row[n]
            cells.append("" if v is None else "%.4g (%.4g)" % (v[1], v[0]))
        for n in names[1:]:
            d = row["d_" + n]
            cells += ["", ""] if d is None else ["%+.4g" % d[1], "%+.2f" % d[2]]
        t.add_row(*cells)
    Console().print(t)


def _figure(runs, names, common, cycles, path):
    """Top: V-Q of the chosen cycles, one colour per run, one line style per cycle.
    Bottom: discharge capacity per cycle of each run."""
    from host_tools import plot
    from matplotlib.lines import Line2D
    if cycles is None:
        cycles = plot.select_cycles(common, MAX_COMPARE_CYCLES - 2) if common else []
    styles = ["-", "--", ":", "-."]
    colours = ["C%d" % k for k in range(10)]
    fig, axes = plot._figure(2, (9.5, 8), sharex=False)
    meta = plot.Meta()
    handles = []
    for k, (r, n) in enumerate(zip(runs, names)):
        col = colours[k % 10]
        npts = 0
        # earlier runs drawn wider, so a run that matches another still shows round it
        lw = 1.2 + 1.5 * (len(runs) - 1 - k)
        for c, _side, _kind, q, v in r.segments():
            if c in cycles:
                axes[0].plot(q, v, styles[cycles.index(c) % 4], color=col, lw=lw)
                npts += len(q)
        if npts:
            meta.add(n, col, npts, panel=0)
        per = r.per_cycle()
        cs = [c for c in sorted(per) if not per[c]["partial"]]
        axes[1].plot(cs, [_tot(per[c], "dis") for c in cs], "o-", color=col, lw=0.8,
                     ms=3 + 2.5 * (len(runs) - 1 - k), label=n)
        meta.add(n, col, len(cs), panel=1, kind="markers")
        handles.append(Line2D([], [], color=col, lw=2, label=n))
    handles += [Line2D([], [], color="k", ls=styles[k % 4], label="cycle %d" % c)
                for k, c in enumerate(cycles)]
    axes[0].set_xlabel(plot._qlabel(runs[0]))
    axes[0].set_ylabel("Voltage / V")
    axes[0].set_title("%s: voltage against capacity, cycles %s" % (
        " vs ".join(names), ", ".join(map(str, cycles)) or "-"))
    plot._legend_right(axes[0], handles)
    axes[1].set_xlabel("Cycle")
    axes[1].set_ylabel(plot._qlabel(runs[0], "discharge "))
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return plot._save(fig, path, meta)
