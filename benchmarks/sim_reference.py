"""Record, or check against a record, what `cycler simulate` computes: every step's
charges, end voltage, end current, duration and end reason, and the tick count, on the
first cycles of the fig4 rate test and on the quick protocol. For optimising the
simulation's cost per tick without changing its numerics:

    .venv/bin/python benchmarks/sim_reference.py record REF.json   # before
    .venv/bin/python benchmarks/sim_reference.py check REF.json    # after each change

check prints the largest relative difference of each quantity and fails (exit 1) above
--rtol (default 1e-6).
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from host_tools import protocol_file  # noqa: E402
from host_tools import simulate as simulate_mod  # noqa: E402

CASES = (("fig4_rate_test", "fig4", 10), ("quick", None, 0))
KEYS = ("q_chg_nAh", "q_dis_nAh", "v_uV", "i_nA", "duration_ms", "reason", "cycle")


def _cut(parsed, n_cycles):
    if not n_cycles:
        return parsed
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from fig4_vs_pybamm import cut_cycles
    return cut_cycles(parsed, n_cycles)


def run_case(name, cell, n_cycles):
    parsed = _cut(protocol_file.load(protocol_file.resolve(name)), n_cycles)
    cell = cell or parsed.cell.get("name") or "fig4"
    ticks = [0]
    tick = simulate_mod.Sim.tick

    def counting(self):
        ticks[0] += 1
        return tick(self)
    simulate_mod.Sim.tick = counting
    try:
        w, sim = simulate_mod.simulate(parsed, cell)
    finally:
        simulate_mod.Sim.tick = tick
    steps = [{k: s[k] for k in KEYS} for s in w.steps]
    return {"steps": steps, "ticks": ticks[0], "now_ms": sim.now_ms,
            "cell_state": list(sim.cell.state())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("record", "check"))
    ap.add_argument("path")
    ap.add_argument("--rtol", type=float, default=1e-6)
    a = ap.parse_args()
    got = {"%s/%s/%d" % c: run_case(*c) for c in CASES}
    if a.mode == "record":
        with open(a.path, "w") as f:
            json.dump(got, f)
        print("recorded %s" % ", ".join("%s: %d steps, %d ticks" % (k, len(v["steps"]), v["ticks"])
                                       for k, v in got.items()))
        return 0
    with open(a.path) as f:
        ref = json.load(f)
    worst = 0.0
    for case, r in ref.items():
        g = got[case]
        if len(g["steps"]) != len(r["steps"]):
            print("%s: %d steps, reference %d" % (case, len(g["steps"]), len(r["steps"])))
            worst = float("inf")
            continue
        print("%s: ticks %d (reference %d)" % (case, g["ticks"], r["ticks"]))
        for k in KEYS:
            d = 0.0
            for sg, sr in zip(g["steps"], r["steps"]):
                a_, b_ = sg[k], sr[k]
                if a_ != b_:
                    d = max(d, abs(a_ - b_) / max(abs(b_), 1e-30))
            worst = max(worst, d)
            print("  %-12s max rel diff %.3g" % (k, d))
        d = max(abs(x - y) / max(abs(y), 1e-30) for x, y in zip(g["cell_state"], r["cell_state"]))
        worst = max(worst, d)
        print("  %-12s max rel diff %.3g" % ("cell_state", d))
    print("worst %.3g (rtol %.0e): %s" % (worst, a.rtol, "OK" if worst <= a.rtol else "DIFFERS"))
    return 0 if worst <= a.rtol else 1


if __name__ == "__main__":
    sys.exit(main())
