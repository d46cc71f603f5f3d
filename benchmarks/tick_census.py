"""Where `cycler simulate`'s control ticks go: the whole fig4 rate test (or its first
N cycles) counted by step kind, by tick length and by rate, holds split into the
hand-over (the first 10 s), the end's qualification and the rest.

    .venv/bin/python benchmarks/tick_census.py [--cycles N] [--protocol NAME]

Counts the ticks Sim.next_dt picks (every tick but the idle ones and the last), the
simulated time they cover, and the CPU time of the run (no output written).
"""
import argparse
import collections
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from host_tools import protocol_file  # noqa: E402
from host_tools import simulate as sm  # noqa: E402

BUCKETS = (1000, 1001, 2000, 5000, 10000, 30000, 60000, 120000, 600000, 1800000)   # ms upper bounds
KIND = {1: "CC", 2: "CV", 3: "REST", 4: "CR", 5: "SWEEP"}


def _bucket(dt):
    for b in BUCKETS:
        if dt <= b:
            return b
    return BUCKETS[-1]


def census(parsed, cell="fig4"):
    import protocol
    kinds = {getattr(protocol, k, None): k for k in ("CC", "CV", "REST", "CR", "SWEEP")}
    rate = {}
    c = 1
    for b in parsed.blocks:
        for _ in range(b["repeat"]):
            rate[c] = b.get("label") or "?"
            c += 1
    by = collections.Counter()
    ms = collections.Counter()
    orig = sm.Sim.next_dt

    def counted(self):
        e = self.ch.engine
        s = e.step
        dt = orig(self)
        kind = kinds.get(s.kind, "?") if s is not None else "-"
        phase = ""
        if kind == "CV":
            if e.step_ms < 10000:
                phase = " hand-over"
            elif abs(e.i_f_nA) <= s.i_end_nA:
                phase = " end"
            elif abs(e.i_f_nA) < 2 * s.i_end_nA:
                phase = " near end"
            elif abs(e.i_f_nA) < 4 * s.i_end_nA:
                phase = " under 4x end"
        elif kind in ("CC", "CR"):
            phase = " start" if e.step_ms < 3000 else ""
        key = (kind + phase, "chg" if (s is not None and s.sign > 0) else "",
               rate.get(e.cycle, "?"), _bucket(dt))
        by[key] += 1
        ms[key] += dt
        return dt

    sm.Sim.next_dt = counted
    try:
        c0 = time.process_time()
        _w, sim = sm.simulate(parsed, cell)
        cpu = time.process_time() - c0
    finally:
        sm.Sim.next_dt = orig
    return by, ms, cpu, sim


def _table(by, ms, keyf, title):
    agg, aggms = collections.Counter(), collections.Counter()
    for k, n in by.items():
        agg[keyf(k)] += n
        aggms[keyf(k)] += ms[k]
    tot = sum(agg.values())
    print("\n%s" % title)   # (tick length: the bucket's upper bound)
    for k in sorted(agg, key=lambda x: -agg[x]):
        print("  %-28s %8d ticks %5.1f %%  %9.0f h  mean %7.1f s" % (
            k, agg[k], 100.0 * agg[k] / tot, aggms[k] / 3.6e6, aggms[k] / agg[k] / 1000))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", default="fig4_rate_test")
    ap.add_argument("--cycles", type=int, default=0)
    args = ap.parse_args()
    parsed = protocol_file.load(protocol_file.resolve(args.protocol))
    if args.cycles:
        from fig4_vs_pybamm import cut_cycles
        parsed = cut_cycles(parsed, args.cycles)
    by, ms, cpu, sim = census(parsed)
    n = sum(by.values())
    print("%d ticks, %.0f h simulated, %.2f s CPU (no output), %.1f us/tick, state %s" % (
        n, sim.now_ms / 3.6e6, cpu, cpu / n * 1e6, sim.ch.state_name()))
    _table(by, ms, lambda k: k[0], "by step kind and phase")
    _table(by, ms, lambda k: "%s <= %g s" % (k[0].split()[0], k[3] / 1000.0), "by kind and tick length")
    _table(by, ms, lambda k: "%s %s" % (k[2], k[0].split()[0]), "by rate and kind")


if __name__ == "__main__":
    main()
