"""The full fig4 protocol (FACTS: rate sequence of the fig4 cell, 70 cycles of rates
then 130 at C; about 200 cycles, over a thousand simulated hours), side by side in one
run: our closed loop (the firmware's engine, regulator, safety and accounting driving
the cell model behind the front-end model, adaptive tick) and PyBaMM solving the same
experiment on its Thevenin model with the same reduced parameters.

    .venv/bin/python benchmarks/fig4_vs_pybamm.py [--cycles N]

Prints the wall time of each and their ratio, our control ticks and the peak memory
(ru_maxrss) after each. Goal (issue 13): the full model at least 2x faster than PyBaMM's
Thevenin (not reached; docs/cellmodel.md and the issue-13 report have the figures).
"""
import argparse
import os
import sys
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=0, help="only the first N cycles")
    args = ap.parse_args()
    parsed = protocol_file.load(protocol_file.resolve("fig4_rate_test"))
    cycles = parsed.pybamm_cycles()
    if args.cycles:
        cycles = cycles[:args.cycles]
        parsed = cut_cycles(parsed, args.cycles)
    params = pybamm_ref.reduced_params("fig4")

    # ours, reduced model (the physics PyBaMM's Thevenin has), then the full model
    t0 = time.perf_counter()
    cell = cellmodel.CellModel(dict(params, soc0=0.0))
    w, sim = simulate(parsed, "fig4", cell=cell)
    t_ours = time.perf_counter() - t0
    print("ours (engine closed loop, reduced model): %d cycles, %.0f h simulated, %.1f s wall, "
          "%d ticks, peak RSS %.0f MB" % (len(w.cycles), sim.now_ms / 3.6e6, t_ours, TICKS[0],
                                          _rss_mb()))
    TICKS[0] = 0
    t0 = time.perf_counter()
    w2, sim2 = simulate(parsed, "fig4")
    t_full = time.perf_counter() - t0
    print("ours (engine closed loop, full model):    %d cycles, %.0f h simulated, %.1f s wall, "
          "%d ticks, peak RSS %.0f MB" % (len(w2.cycles), sim2.now_ms / 3.6e6, t_full, TICKS[0],
                                          _rss_mb()))

    import pybamm
    model = pybamm.equivalent_circuit.Thevenin()
    model.events = [e for e in model.events if e.name not in ("Minimum SoC", "Maximum SoC")]
    pv = pybamm_ref.parameter_values(params, 0.0)
    t0 = time.perf_counter()
    exp = pybamm.Experiment(cycles, period="60 seconds")
    sol = pybamm.Simulation(model, experiment=exp, parameter_values=pv).solve()
    t_pb = time.perf_counter() - t0
    t_end_h = float(sol["Time [s]"].entries[-1]) / 3600.0
    print("pybamm %s (Thevenin, same experiment):  %d cycles, %.0f h simulated, %.1f s wall, "
          "peak RSS %.0f MB" % (pybamm.__version__, len(sol.cycles), t_end_h, t_pb, _rss_mb()))
    print("ratio pybamm / ours (reduced): %.2f   (> 1: ours is faster)" % (t_pb / t_ours))
    print("ratio pybamm / ours (full):    %.2f" % (t_pb / t_full))


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
