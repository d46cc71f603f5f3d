"""How far a looser hold tick could take `cycler simulate` toward issue 13's speed goal,
and what it costs in accuracy: the whole fig4 rate test (or its first N cycles) run
with the hold tick's voltage window (host_tools/simulate.py HOLD_WINDOW_UV, near the end
current END_WINDOW_UV) and its longest tick (MAX_HOLD_DT_MS) widened.

    .venv/bin/python benchmarks/hold_window.py [--cycles N]
        [--configs 2:1:120,6:1:120,10:3:600,20:5:600]

Each config is WINDOW_mV:END_WINDOW_mV:MAX_HOLD_S; the first is the reference (the
shipped one). For each: control ticks, ticks in the holds' fixed phases (the first
10 s on 1 s ticks, the end's qualification on 2 s ticks: no window moves them), CPU
(no output written), the part of it in the hold tick's trial steps (Sim._hold_bound)
and the microseconds per tick without them (us/tick*: the floor of a tick whose length
cost nothing to pick), and each cycle's CC and CV parts against the reference's,
relative to the half cycle's charge (worst, with its cycle, and median). Compare the
CPU with PyBaMM's Thevenin on the same protocol: benchmarks/fig4_vs_pybamm.py.
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from host_tools import protocol_file  # noqa: E402
from host_tools import simulate as sm  # noqa: E402

PARTS = ("charge_cc_mAh_g", "charge_cv_mAh_g", "discharge_cc_mAh_g", "discharge_cv_mAh_g")


def run(parsed, window_uV, end_uV, max_hold_ms):
    """(cycles, ticks, fixed-phase ticks, cpu s, of it in the hold's trial steps, final state) with the hold tick's
    figures set for this run only."""
    import protocol
    saved = sm.HOLD_WINDOW_UV, sm.END_WINDOW_UV, sm.MAX_HOLD_DT_MS
    sm.HOLD_WINDOW_UV, sm.END_WINDOW_UV, sm.MAX_HOLD_DT_MS = window_uV, end_uV, max_hold_ms
    n = [0, 0, 0.0]
    orig = sm.Sim.next_dt
    orig_hb = sm.Sim._hold_bound
    clock = time.process_time

    def timed(self, *a):
        t0 = clock()
        try:
            return orig_hb(self, *a)
        finally:
            n[2] += clock() - t0

    def counted(self):
        e = self.ch.engine
        s = e.step
        n[0] += 1
        if s is not None and s.kind == protocol.CV and (
                e.step_ms < 10000 or abs(e.i_f_nA) <= s.i_end_nA):
            n[1] += 1
        return orig(self)

    sm.Sim.next_dt = counted
    sm.Sim._hold_bound = timed
    try:
        c0 = time.process_time()
        w, sim = sm.simulate(parsed, "fig4")
        cpu = time.process_time() - c0
    finally:
        sm.Sim.next_dt = orig
        sm.Sim._hold_bound = orig_hb
        sm.HOLD_WINDOW_UV, sm.END_WINDOW_UV, sm.MAX_HOLD_DT_MS = saved
    return [dict(c) for c in w.cycles], n[0], n[1], cpu, n[2], sim.ch.state_name()


def deviations(ref, got):
    """Each cycle's parts against the reference's, % of the half cycle's charge."""
    out = []
    for a, b in zip(ref, got):
        for p in PARTS:
            side = "charge" if p.startswith("charge") else "discharge"
            half = a[side + "_cc_mAh_g"] + a[side + "_cv_mAh_g"]
            out.append((abs(a[p] - b[p]) / half * 100 if half else 0.0, a["cycle"], p))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=0, help="only the first N cycles")
    ap.add_argument("--configs", default="2:1:120,6:1:120,10:3:600,20:5:600",
                    help="WINDOW_mV:END_WINDOW_mV:MAX_HOLD_S,... (the first: the reference)")
    args = ap.parse_args()
    parsed = protocol_file.load(protocol_file.resolve("fig4_rate_test"))
    if args.cycles:
        from fig4_vs_pybamm import cut_cycles
        parsed = cut_cycles(parsed, args.cycles)
    ref = None
    print("window end  max tick   ticks  fixed  CPU s trials  us/tick*  state  worst % (cycle, part)    median %")
    for cfg in args.configs.split(","):
        w_mV, e_mV, m_s = (float(x) for x in cfg.split(":"))
        cycles, ticks, fixed, cpu, trials, state = run(parsed, int(w_mV * 1000), int(e_mV * 1000),
                                               int(m_s * 1000))
        if ref is None:
            ref = cycles
        dev = deviations(ref, cycles)
        worst = max(dev)
        print("%4g mV %2g mV %5g s %8d %6d %6.2f %6.2f %7.1f   %-5s  %6.3f (%3d, %-18s) %6.3f" % (
            w_mV, e_mV, m_s, ticks, fixed, cpu, trials, (cpu - trials) / ticks * 1e6, state, worst[0], worst[1], worst[2],
            statistics.median(d[0] for d in dev)))


if __name__ == "__main__":
    main()
