"""The full fig4 protocol (FACTS: rate sequence of the fig4 cell, 70 cycles of rates
then 130 at C; about 200 cycles, over a thousand simulated hours), side by side in one
run: our closed loop (the firmware's engine, regulator, safety and accounting driving
the cell model behind the front-end model, adaptive tick) and PyBaMM solving the same
experiment on its Thevenin model with the same reduced parameters.

    .venv/bin/python benchmarks/fig4_vs_pybamm.py [--cycles N] [--repeat R] [--no-out]
        [--reduced]

Ours is `cycler simulate fig4_rate_test --cell fig4` as the command runs it: the full
model, its output files written (time series, steps, cycles, model.csv) to a temporary
folder (--no-out: kept in memory, as before). --reduced also runs ours on the reduced
model (the physics PyBaMM's Thevenin has). With --repeat R the two sides alternate R
times and the median of each is compared: other work on the machine then hits both.
Prints, for each: wall time, CPU time, our control ticks and microseconds per tick,
peak memory (ru_maxrss: ours before PyBaMM is imported, then the process's peak), and
the ratio PyBaMM / ours of the wall and of the CPU times (> 1: ours is faster).
Goal (issue 13): the full model at least 2x faster than PyBaMM's Thevenin.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from host_tools import protocol_file, pybamm_ref  # noqa: E402
from host_tools import simulate as simulate_mod  # noqa: E402
from host_tools.simulate import simulate  # noqa: E402
import cellmodel  # noqa: E402

TICKS = [0]
_tick = simulate_mod.Sim.tick


def _counting_tick(self):
    TICKS[0] += 1
    return _tick(self)


simulate_mod.Sim.tick = _counting_tick


def _rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def _ours(parsed, out, cell=None):
    """One run of ours: (wall s, cpu s, ticks, cycles, simulated h)."""
    TICKS[0] = 0
    d = tempfile.mkdtemp(prefix="fig4-bench-") if out else None
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        w, sim = simulate(parsed, "fig4", out_dir=d, cell=cell)
        t, c = time.perf_counter() - t0, time.process_time() - c0
    finally:
        if d:
            shutil.rmtree(d, ignore_errors=True)
    return t, c, TICKS[0], len(w.cycles), sim.now_ms / 3.6e6


def _pybamm(cycles, params):
    import pybamm
    model = pybamm.equivalent_circuit.Thevenin()
    model.events = [e for e in model.events if e.name not in ("Minimum SoC", "Maximum SoC")]
    pv = pybamm_ref.parameter_values(params, 0.0)
    t0, c0 = time.perf_counter(), time.process_time()
    exp = pybamm.Experiment(cycles, period="60 seconds")
    sol = pybamm.Simulation(model, experiment=exp, parameter_values=pv).solve()
    t, c = time.perf_counter() - t0, time.process_time() - c0
    return t, c, len(sol.cycles), float(sol["Time [s]"].entries[-1]) / 3600.0, pybamm.__version__


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=0, help="only the first N cycles")
    ap.add_argument("--repeat", type=int, default=1, help="alternate the two sides R times")
    ap.add_argument("--no-out", action="store_true", help="ours writes no files")
    ap.add_argument("--reduced", action="store_true",
                    help="also ours on the reduced model (PyBaMM's physics)")
    args = ap.parse_args()
    parsed = protocol_file.load(protocol_file.resolve("fig4_rate_test"))
    cycles = parsed.pybamm_cycles()
    if args.cycles:
        cycles = cycles[:args.cycles]
        parsed = cut_cycles(parsed, args.cycles)
    params = pybamm_ref.reduced_params("fig4")
    out = not args.no_out

    if args.reduced:
        t, c, n, nc, h = _ours(parsed, out, cellmodel.CellModel(dict(params, soc0=0.0)))
        print("ours, reduced model: %d cycles, %.0f h simulated, %.2f s wall, %.2f s CPU, "
              "%d ticks, %.1f us/tick" % (nc, h, t, c, n, c / n * 1e6))
    ours, pb = [], []
    rss_ours = None
    for k in range(max(1, args.repeat)):
        ours.append(_ours(parsed, out))
        t, c, n, nc, h = ours[-1]
        if rss_ours is None:
            rss_ours = _rss_mb()
        print("[%d] ours (engine closed loop, full model%s): %d cycles, %.0f h simulated, "
              "%.2f s wall, %.2f s CPU, %d ticks, %.1f us/tick" % (
                  k + 1, ", output written" if out else "", nc, h, t, c, n, c / n * 1e6))
        pb.append(_pybamm(cycles, params))
        t, c, nc, h, ver = pb[-1]
        print("[%d] pybamm %s (Thevenin, same experiment): %d cycles, %.0f h simulated, "
              "%.2f s wall, %.2f s CPU" % (k + 1, ver, nc, h, t, c))
    tw, tc = _median([o[0] for o in ours]), _median([o[1] for o in ours])
    pw, pc = _median([p[0] for p in pb]), _median([p[1] for p in pb])
    n = ours[0][2]
    print("ours:   %.2f s wall, %.2f s CPU (median of %d), %d ticks (%.0f per cycle), "
          "%.1f us CPU per tick, peak RSS %.0f MB" % (tw, tc, len(ours), n,
                                                     n / max(1, ours[0][3]), tc / n * 1e6,
                                                     rss_ours))
    print("pybamm: %.2f s wall, %.2f s CPU (median of %d), peak RSS of the process %.0f MB"
          % (pw, pc, len(pb), _rss_mb()))
    print("ratio pybamm / ours: %.2f wall, %.2f CPU   (> 1: ours is faster; goal >= 2)"
          % (pw / tw, pc / tc))


def cut_cycles(parsed, n):
    """The parsed protocol cut to its first n cycles (blocks' repeats cut, later blocks
    dropped)."""
    blocks = []
    for b in parsed.blocks:
        if n <= 0:
            break
        blocks.append(dict(b, repeat=min(b["repeat"], n)))
        n -= blocks[-1]["repeat"]
    text = open(parsed.path).read()
    return protocol_file.parse(_cut(text, [b["repeat"] for b in blocks]), parsed.path)


def _cut(text, repeats):
    """The protocol text with its blocks' repeat counts replaced (and later blocks cut)."""
    import re
    out, k = [], 0
    parts = re.split(r"(?m)^(?=\[\[block\]\])", text)
    out.append(parts[0])
    for part in parts[1:]:
        if k >= len(repeats):
            break
        out.append(re.sub(r"(?m)^repeat\s*=\s*\d+", "repeat = %d" % repeats[k], part))
        k += 1
    return "".join(out)


if __name__ == "__main__":
    main()
