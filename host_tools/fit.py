"""`cycler fit FILE --out CELL.toml`: fit the cell model (simulation/cellmodel.py) to a
measured run and write a named cell that `cycler simulate`, `cycler run` and
`cycler sim-board` take as `--cell CELL.toml`.

FILE is an output folder (ours or `cycler import`ed) or any file `cycler import` reads.
The model is driven by the measured current (the mean over each interval between the
points kept, from the integral of the current), and scipy's least_squares fits the
voltage it answers with to the measured voltage. Fitted, when the model has them as
parameters: capacity_mAh, r0_ohm, r1_ohm, tau1_s, tau_fast_s, tau_slow_s (the exchange
times), ocv_shift_V. The start state comes from the first point's voltage. Positive
parameters are fitted as logarithms. The fit quality is the RMS voltage error per cycle.

The interface to the model is its parameter dict only (make_cell(dict), set_soc,
step(dt, i), v_V, voltage_if): a reworked model with other parameters fits the ones of
FIT_PARAMS it still has and keeps the rest at its defaults.
"""
import math
import os
import sys
import time

# name, log-scaled, lower, upper
FIT_PARAMS = (
    ("capacity_mAh", True, 1e-4, 1e5),
    ("r0_ohm", True, 1e-3, 1e6),
    ("r1_ohm", True, 1e-3, 1e6),
    ("tau1_s", True, 0.5, 3600.0),
    ("tau_fast_s", True, 10.0, 1e6),
    ("tau_slow_s", True, 10.0, 1e7),
    ("ocv_shift_V", False, -1.0, 1.0),
)
MAX_POINTS = 1500         # the measured series is thinned to about this many points


class FitError(Exception):
    pass


def add_arguments(p):
    p.add_argument("file", help="measured run: an output folder or an instrument/BDF file")
    p.add_argument("--out", required=True, help="the cell file to write (CELL.toml)")
    p.add_argument("--name", default=None, help="the cell's name (default: from --out)")
    p.add_argument("--base", default="fig4",
                   help="cell whose parameters start the fit and fill the rest (default fig4)")
    p.add_argument("--cycles", default=None, help="fit only these cycles, e.g. 1-3 or 2,4")
    p.add_argument("--fix", default="", help="parameters to keep, e.g. tau_slow_s,ocv_shift_V")
    p.add_argument("--max-evals", type=int, default=200,
                   help="least-squares steps at most (scipy's max_nfev; each step's Jacobian "
                   "runs the model once more per fitted parameter)")


def run(args):
    try:
        cycles = _parse_cycles(args.cycles)
        res = fit_file(args.file, base=args.base, cycles=cycles,
                       fix=[x for x in args.fix.split(",") if x], max_evals=args.max_evals)
    except FitError as e:
        print("cycler fit: %s" % e, file=sys.stderr)
        return 2
    name = args.name or os.path.splitext(os.path.basename(args.out))[0]
    write_cell(args.out, name, res)
    fig = plot_fit(res, os.path.splitext(args.out)[0] + "-fit.png", name)
    print("fitted %s to %s (%d points, %d model runs, %.1f s)" % (
        name, args.file, res["points"], res["evals"], res["wall_s"]))
    for k, v in res["params"].items():
        if k in res["fitted"]:
            print("  %-13s %.6g" % (k, v))
    print("  cycle  RMS error / mV  max / mV")
    for c, rms, mx in res["per_cycle"]:
        print("  %5d  %14.2f  %8.1f" % (c, rms * 1e3, mx * 1e3))
    print("overall RMS %.2f mV; wrote %s and %s" % (res["rms_V"] * 1e3, args.out, fig))
    return 0


def _parse_cycles(text):
    if not text:
        return None
    out = set()
    try:
        for part in text.split(","):
            if "-" in part:
                a, b = part.split("-")
                out.update(range(int(a), int(b) + 1))
            else:
                out.add(int(part))
    except ValueError:
        raise FitError("--cycles takes cycle numbers like 1-3 or 2,4 (got %r)" % text)
    return out


# --- data -----------------------------------------------------------------------------

def load_series(path):
    """(t_s, v_V, i_A, cycle, q_As) arrays of a folder or file, via host_tools.importers:
    q_As is the net charge passed (+ = charge) from the file's own capacity counters
    when it has them (exact over any interval), else None."""
    from host_tools import importers
    import numpy as np
    try:
        if os.path.isdir(path):
            ts = os.path.join(path, "timeseries.bdf.csv")
            if not os.path.exists(ts):
                raise FitError("%s has no timeseries.bdf.csv" % path)
            s = importers.read_bdf_csv(ts)
        else:
            s = importers.read(path)
        ann = importers.annotate(s)
    except importers.ImportFileError as e:
        raise FitError(" ".join(str(e).split()))
    ok = np.isfinite(s.t_s) & np.isfinite(s.v_V) & np.isfinite(s.i_A)
    q = None
    if s.dq_chg_Ah is not None and s.dq_dis_Ah is not None:
        q = np.cumsum(s.dq_chg_Ah - s.dq_dis_Ah)[ok] * 3600.0
    return s.t_s[ok], s.v_V[ok], s.i_A[ok], ann["cycle"][ok], q


def thin(t, v, i, cyc, q=None, max_points=MAX_POINTS):
    """Keep about max_points rows: every row where the current changes by more than 2 %
    of the largest current (step changes, the start of a hold), and evenly in time
    otherwise. Returns (t, v, cycle, i_mean, i_row) where i_mean[k] is the mean current
    over (t[k-1], t[k]]: from q (the file's charge counters, A s) when given, else the
    trapezoidal integral of the current; i_row the current measured at the row."""
    import numpy as np
    n = len(t)
    if n < 3:
        raise FitError("too few points to fit (%d)" % n)
    imax = float(np.max(np.abs(i))) or 1.0
    jump = np.r_[True, np.abs(np.diff(i)) > 0.02 * imax]
    jump |= np.r_[jump[1:], True]          # the row before a change too
    keep = jump.copy()
    budget = max(max_points - int(keep.sum()), 10)
    grid = np.linspace(t[0], t[-1], budget)
    keep[np.clip(np.searchsorted(t, grid), 0, n - 1)] = True
    keep[0] = keep[-1] = True
    idx = np.nonzero(keep)[0]
    if q is None:
        q = np.r_[0.0, np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t))]   # A s
    tk = t[idx]
    dt = np.diff(tk)
    good = dt > 0
    idx = np.r_[idx[0], idx[1:][good]]
    tk = t[idx]
    dq = np.diff(q[idx])
    i_mean = np.r_[i[idx[0]], dq / np.diff(tk)]
    return tk, v[idx], cyc[idx], i_mean, i[idx]


# --- the model ------------------------------------------------------------------------

def _model():
    import host_tools  # noqa: F401  (simulation/ on sys.path)
    import cellmodel
    return cellmodel


def model_voltage(params, t, i_mean, v0, i_row=None):
    """The model's terminal voltage at t[k], driven by i_mean over each interval and
    read with the current of the row (i_row, its ohmic part), started in equilibrium
    where its voltage at the first current equals v0."""
    import numpy as np
    cm = _model()
    cell = cm.make_cell(dict(params))
    # the start state: bisection on the state of charge
    lo, hi = -0.1, 1.1
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        cell.set_soc(mid)
        if cell.voltage_if(i_mean[0]) < v0:
            lo = mid
        else:
            hi = mid
    cell.set_soc(0.5 * (lo + hi))
    cell.step(0.0, i_mean[0])
    out = np.empty(len(t))
    out[0] = cell.v_V
    if i_row is None:
        i_row = i_mean
    for k in range(1, len(t)):
        cell.step(t[k] - t[k - 1], i_mean[k])
        out[k] = cell.voltage_if(i_row[k])
    return out


def base_params(base):
    cm = _model()
    cell = cm.make_cell(base) if isinstance(base, str) else cm.make_cell(dict(base))
    p = dict(cell.params)
    p["capacity_mAh"] = cell.capacity_mAh
    return p


def fit_file(path, base="fig4", cycles=None, fix=(), max_evals=200):
    t, v, i, cyc, q = load_series(path)
    return fit_series(t, v, i, cyc, q, base=base, cycles=cycles, fix=fix,
                      max_evals=max_evals)


def fit_series(t, v, i, cyc, q=None, base="fig4", cycles=None, fix=(), max_evals=200):
    """Least-squares fit; returns a dict: params (all), fitted (names), per_cycle
    [(cycle, rms_V, max_V)], rms_V, points, evals, wall_s."""
    import numpy as np
    from scipy.optimize import least_squares
    t0 = time.perf_counter()
    if cycles:
        m = np.isin(cyc, sorted(cycles))
        if not m.any():
            raise FitError("no data in cycles %s" % sorted(cycles))
        t, v, i, cyc = t[m], v[m], i[m], cyc[m]
        q = None if q is None else q[m]
    tk, vk, ck, ik, irow = thin(t, v, i, cyc, q)
    p0 = base_params(base)
    p0.pop("name", None)
    for k in ("soc0",):
        p0.pop(k, None)
    # a start that fits the data's scale: its largest half-cycle charge and a resistance
    # from its voltage jumps
    q = np.r_[0.0, np.cumsum(ik[1:] * np.diff(tk))] / 3.6        # mAh
    p0["capacity_mAh"] = max(1.05 * (np.max(q) - np.min(q)), 1e-4)
    r_est = _jump_resistance(tk, vk, ik)
    if r_est:
        scale = r_est / (p0["r0_ohm"] + p0["r1_ohm"])
        p0["r0_ohm"] *= scale
        p0["r1_ohm"] *= scale
    names = [(n, lg, lo, hi) for n, lg, lo, hi in FIT_PARAMS
             if (n in p0) and n not in fix]
    x0 = np.array([math.log(p0[n]) if lg else p0[n] for n, lg, _lo, _hi in names])
    lb = np.array([math.log(lo) if lg else lo for _n, lg, lo, _hi in names])
    ub = np.array([math.log(hi) if lg else hi for _n, lg, _lo, hi in names])
    x0 = np.clip(x0, lb + 1e-9, ub - 1e-9)
    evals = [0]

    def params_of(x):
        p = dict(p0)
        for (n, lg, _lo, _hi), xv in zip(names, x):
            p[n] = math.exp(xv) if lg else float(xv)
        if "tau_slow_s" in p and "tau_fast_s" in p and p["tau_slow_s"] < p["tau_fast_s"]:
            p["tau_slow_s"] = p["tau_fast_s"]
        return p

    def resid(x):
        evals[0] += 1
        return model_voltage(params_of(x), tk, ik, vk[0], irow) - vk

    r = least_squares(resid, x0, bounds=(lb, ub), x_scale="jac", max_nfev=max_evals,
                      diff_step=1e-4)
    p = params_of(r.x)
    err = model_voltage(p, tk, ik, vk[0], irow) - vk
    per = []
    for c in sorted(set(ck.tolist())):
        e = err[ck == c]
        per.append((int(c), float(np.sqrt(np.mean(e ** 2))), float(np.max(np.abs(e)))))
    return {"params": p, "fitted": [n for n, *_ in names], "per_cycle": per,
            "trace": (tk, vk, vk + err, ck),
            "rms_V": float(np.sqrt(np.mean(err ** 2))), "points": len(tk),
            "evals": evals[0], "wall_s": time.perf_counter() - t0,
            "start": {n: p0[n] for n, *_ in names}, "status": r.message}


def _jump_resistance(t, v, i):
    """Median |dV/dI| over the rows where the current jumps (a first guess of R)."""
    import numpy as np
    di = np.diff(i)
    imax = float(np.max(np.abs(i))) or 1.0
    k = np.nonzero(np.abs(di) > 0.3 * imax)[0]
    if not len(k):
        return None
    r = np.abs(np.diff(v)[k] / di[k])
    r = r[np.isfinite(r) & (r > 0)]
    return float(np.median(r)) if len(r) else None


def plot_fit(res, path, name):
    """Measured and fitted voltage against time (top) and their difference (bottom),
    PNG + SVG, its series in figures.json beside it (host_tools/plot.py)."""
    import numpy as np
    from host_tools import plot
    t, v, vm, cyc = res["trace"]
    h = np.asarray(t) / 3600.0
    fig, axes = plot._figure(2, (9.5, 6.5))
    meta = plot.Meta()
    axes[0].plot(h, v, "-", color="#1f77b4", lw=2.2, label="measured")
    axes[0].plot(h, vm, "--", color="#d62728", lw=1.2, label="fitted model")
    meta.add("measured", "#1f77b4", len(h))
    meta.add("fitted model", "#d62728", len(h))
    axes[1].plot(h, (vm - v) * 1e3, "-", color="#2ca02c", lw=0.8)
    meta.add("model - measured", "#2ca02c", len(h), panel=1)
    axes[1].axhline(0.0, color="grey", lw=0.6)
    axes[0].set_ylabel("Voltage / V")
    axes[1].set_ylabel("Model - measured / mV")
    axes[1].set_xlabel("Test time / h")
    axes[0].set_title("%s: cell model fitted by least squares, RMS %.2f mV" % (
        name, res["rms_V"] * 1e3))
    axes[0].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].tick_params(labelbottom=False)
    fig.tight_layout()
    return plot._save(fig, path, meta)


# --- the cell file ----------------------------------------------------------------------

def write_cell(path, name, res):
    """CELL.toml: name, [params] (every parameter of the model, fitted or not), [fit]."""
    lines = ["# A cell fitted by `cycler fit` (host_tools/fit.py) on %s." % time.strftime(
        "%Y-%m-%d"),
             "# Use it with `cycler simulate PROTOCOL --cell %s`, `cycler run --cell ...`, "
             "`cycler sim-board --cell ...`." % os.path.basename(path),
             'name = "%s"' % name.replace('"', "'"), "", "[params]"]
    for k, v in sorted(res["params"].items()):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        mark = "  # fitted" if k in res["fitted"] else ""
        lines.append("%s = %r%s" % (k, float(v), mark))
    lines += ["", "[fit]", "rms_mV = %.3f" % (res["rms_V"] * 1e3),
              "points = %d" % res["points"], "model_runs = %d" % res["evals"],
              "per_cycle_rms_mV = [%s]" % ", ".join("%.3f" % (r * 1e3) for _c, r, _m in
                                                    res["per_cycle"]),
              "cycles = [%s]" % ", ".join(str(c) for c, _r, _m in res["per_cycle"])]
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def load_cell(path):
    """A cell file -> the model's parameter dict (with its name). Raises ValueError with
    what is wrong."""
    import tomllib
    try:
        with open(path, "rb") as f:
            d = tomllib.load(f)
    except OSError as e:
        raise ValueError("cannot read the cell file %s: %s" % (path, e.strerror))
    except tomllib.TOMLDecodeError as e:
        raise ValueError("%s is not valid TOML: %s" % (path, e))
    params = d.get("params")
    if not isinstance(params, dict) or not params:
        raise ValueError("%s has no [params] table (write one with `cycler fit`)" % path)
    p = {k: float(v) for k, v in params.items() if isinstance(v, (int, float))}
    p["name"] = str(d.get("name") or os.path.splitext(os.path.basename(path))[0])
    return p


def is_cell_file(name):
    return isinstance(name, str) and name.lower().endswith(".toml")
