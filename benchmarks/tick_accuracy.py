"""The adaptive tick of `cycler simulate` against a fixed 1 s tick, step by step, on the
fig4 cell's first cycles at each rate of its rate test (FACTS: rate sequence of the fig4
cell; one cycle per rate, in that order, CC-CV both ways, holds until C/46 and C/24).

    .venv/bin/python benchmarks/tick_accuracy.py [--rates C/10,1C,3C] [--out FIG.png]
    .venv/bin/python benchmarks/tick_accuracy.py --protocol fig4_rate_test


Three runs of the same protocol: 1 s ticks (noise seed 1), the adaptive tick (seed 1),
and 1 s ticks with noise seed 2 (how far the reference moves with its own noise). Prints
each step's charge and its deviation from the 1 s tick, relative to the step's own
charge and to its half cycle's (the CC step and its hold), the control ticks of each run
and the worst true-voltage excursions; draws the deviations (FIG.png, default
out/tick_accuracy.png). tests/test_simulate_tick.py checks a lean subset.
With --protocol NAME (a shipped protocol, e.g. the whole fig4 rate test: its 1 s run
takes about 6 minutes) it compares each cycle's CC and CV parts instead, relative to
the cycle's charge.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from host_tools import protocol_file  # noqa: E402
from host_tools import simulate as sm  # noqa: E402
import protocol  # noqa: E402

FIG4_RATES = "C/20,C/10,C/5,C/3,C/2,1C,2C,3C"   # C/50 too with --rates (100 h a cycle)
KIND = {protocol.CC: "CC", protocol.CV: "CV"}


HANDOVER_MS = 60000   # a hold's first minute takes over from the CC step


def rate_protocol(rates, step_max='"200 hours"'):
    """One cycle per rate, CC-CV both ways (holds until C/46 and C/24), on fig4."""
    text = ['[cell]\nname = "fig4"\ncapacity_mAh = 0.0839\n[limits]\nv_min = 2.6\n'
            'v_max = 4.1\nv_trip_lo = 2.5\nv_trip_hi = 4.15\ni_max = "5C"\n'
            + ('step_max = %s\n' % step_max if step_max else '')]
    for r in rates:
        text.append('[[block]]\nlabel = "%s"\nrepeat = 1\nsteps = ["Charge at %s until 4.1 V", '
                    '"Hold at 4.1 V until C/46", "Discharge at %s until 2.6 V", '
                    '"Hold at 2.6 V until C/24"]\n' % (r, r, r))
    return protocol_file.parse("\n".join(text), "<tick_accuracy>")


def run_watched(parsed, fixed_tick_ms=0, seed=1):
    """`cycler simulate` of parsed (fixed_tick_ms 0: the adaptive tick), watching the
    TRUE cell voltage. Returns (steps, seen, sim); seen: ticks, cc (the worst uV a CC
    step went past its end voltage), cv (the worst uV a hold strayed after its first
    minute), wall (s)."""
    seen = {"ticks": 0, "cc": 0.0, "cv": 0.0}
    tick = sm.Sim.tick

    def watching(self):
        e = self.ch.engine
        s = e.step
        seen["ticks"] += 1
        if s is not None and e.state == 2:   # engine.RUNNING
            v = self.cell.v_V * 1e6
            if s.kind == protocol.CC:
                past = (v - s.until_uV) if s.i_nA > 0 else (s.until_uV - v)
                seen["cc"] = max(seen["cc"], past)
            elif s.kind == protocol.CV and e.step_ms > HANDOVER_MS:
                seen["cv"] = max(seen["cv"], abs(v - s.v_uV))
        return tick(self)

    sm.Sim.tick = watching
    t0 = time.perf_counter()
    try:
        w, sim = sm.simulate(parsed, "fig4", fixed_tick_ms=fixed_tick_ms, seed=seed)
    finally:
        sm.Sim.tick = tick
    seen["wall"] = time.perf_counter() - t0
    return w.steps, seen, sim


def _q(s):
    return s["q_chg_nAh"] + s["q_dis_nAh"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default=FIG4_RATES)
    ap.add_argument("--out", default=os.path.join("out", "tick_accuracy.png"))
    ap.add_argument("--protocol", default=None, help="a whole shipped protocol, per cycle")
    args = ap.parse_args()
    if args.protocol:
        return _whole(args.protocol)
    rates = args.rates.split(",")
    parsed = rate_protocol(rates)
    ref, rs, _ = run_watched(parsed, 1000, 1)
    ada, as_, _ = run_watched(parsed, 0, 1)
    ref2, r2s, _ = run_watched(parsed, 1000, 2)
    for name, st in (("1 s tick, seed 1", rs), ("adaptive, seed 1", as_),
                     ("1 s tick, seed 2", r2s)):
        print("%-17s %8d ticks %6.1f s wall; true voltage: CC end <= %.2f mV past, "
              "holds (after 1 min) within %.2f mV" % (name, st["ticks"], st["wall"],
                                                     st["cc"] / 1e3, st["cv"] / 1e3))
    rows = []
    print("rate  step  q_1s/nAh  q_adapt/nAh  dev/step%  dev/half%  seed2/step%  seed2/half%")
    for k in range(0, len(ref), 2):
        half = _q(ref[k]) + _q(ref[k + 1])
        for j in (k, k + 1):
            q = _q(ref[j])
            d = _q(ada[j]) - q
            d2 = _q(ref2[j]) - q
            lab = "%s %s%s" % (rates[ref[j]["cycle"] - 1], KIND.get(ref[j]["kind"], "?"),
                               "+" if ref[j]["q_chg_nAh"] else "-")
            rows.append((lab, 100.0 * d / q, 100.0 * d / half, 100.0 * d2 / q,
                         100.0 * d2 / half))
            print("%-11s %9d %11d %+9.3f %+9.3f %+11.3f %+11.3f" % (
                lab, q, _q(ada[j]), *rows[-1][1:]))
    worst = max(abs(r[1]) for r in rows)
    print("worst: adaptive %.3f %% of the step, %.3f %% of the half cycle; the 1 s tick "
          "with another seed %.3f %% / %.3f %%" % (
              worst, max(abs(r[2]) for r in rows), max(abs(r[3]) for r in rows),
              max(abs(r[4]) for r in rows)))
    _figure(rows, args.out, as_["ticks"], rs["ticks"])
    print("wrote", args.out)


def _whole(name):
    parsed = protocol_file.load(protocol_file.resolve(name))
    cell = parsed.cell.get("name") or "fig4"
    out = {}
    for mode, fixed in (("1 s tick", 1000), ("adaptive", 0)):
        t0 = time.perf_counter()
        w, sim = sm.simulate(parsed, cell, fixed_tick_ms=fixed)
        out[mode] = w.cycles
        print("%-9s %d cycles, %.0f h simulated, %.1f s wall" % (
            mode, len(w.cycles), sim.now_ms / 3.6e6, time.perf_counter() - t0))
    parts = ("charge_cc_mAh_g", "charge_cv_mAh_g", "discharge_cc_mAh_g", "discharge_cv_mAh_g")
    devs = []
    for a, f in zip(out["adaptive"], out["1 s tick"]):
        tot = f["charge_cc_mAh_g"] + f["charge_cv_mAh_g"]
        devs.append(max(abs(a[k] - f[k]) for k in parts) / tot * 100.0)
    devs.sort()
    print("each cycle's CC and CV parts against the 1 s tick's, %% of the cycle's charge: "
          "worst %.3f, median %.3f" % (devs[-1], devs[len(devs) // 2]))


def _figure(rows, path, n_ada, n_ref):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig, axes = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    x = range(len(rows))
    for ax, a, b, what in ((axes[0], 1, 3, "of the step's own charge"),
                           (axes[1], 2, 4, "of its half cycle's charge")):
        ax.bar(x, [r[a] for r in rows], color="#1f77b4",
               label="adaptive tick - 1 s tick (%d vs %d ticks)" % (n_ada, n_ref))
        ax.plot(x, [r[b] for r in rows], "o", color="#d62728",
                label="1 s tick, noise seed 2 - seed 1")
        for y in (-0.5, 0.5):
            ax.axhline(y, color="grey", lw=0.8, ls="--")
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_ylabel("Charge difference / %%\n%s" % what)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].set_xticks(list(x))
    axes[1].set_xticklabels([r[0] for r in rows], rotation=60, fontsize=7)
    axes[0].set_title("fig4 cell, one cycle per rate: each step's charge, adaptive vs 1 s tick")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
