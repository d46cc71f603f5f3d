"""Per front-end profile (simulation/feprofiles.py): what the firmware achieves on it.

    .venv/bin/python benchmarks/fe_profiles.py [--seeds 3] [--term-seeds 6] [--tick-ms 100]

Prints, per profile, from closed-loop runs of tests/fe_matrix.py (the firmware's
channel, the profile's front-end model, the fig4 and max cell models):
  - refused: what the board refuses (the validator's error, shortened)
  - the worst TRUE excursion past the window (2.6 .. 4.1 V) and the worst hold
    overshoot over cells x C/50, C/10, 1C, 3C x charge/discharge x seeds, and how many
    runs ended in a fault (false trips: the runs stay inside the trips)
  - the regulator's R estimate at the end of each hold against the model's R0
  - the termination floor (I_FLOOR_NA: the profile's measured i_end_min_nA; the board
    refuses holds ending below it) with the estimate from the profile's figures
    beside it (floor_estimate_nA), and, measured with that floor set aside, the
    smallest end current of a grid (300 nA .. 55 uA) from which on every grid point
    ends within 5 % on every seed (--seeds; the TRUE current at the tick the hold
    ended, against the asked one): a fig4 charge hold at 4.1 V (or as far inside as the
    board takes it) after 30 min of CC at C/10 (ends up to 2.8 uA), 10 min at 1C (up to
    28 uA) or 5 min at 2C (above), on the board's 100 ms tick (--tick-ms); the worst end at the
    floor itself
  - the safety's trip time on the profile's noise: a ramp of 10 mV/s and a step of
    +20 mV past the 4.15 V trip, and false trips over 100000 ticks 5 mV below it
docs/reliability.md and docs/hardware.md carry its output.
"""
import argparse
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]
import host_tools  # noqa: E402,F401
import engine  # noqa: E402
import protocol  # noqa: E402
import feprofiles  # noqa: E402
import femodel  # noqa: E402
import fe_matrix as m  # noqa: E402
from safety import Safety  # noqa: E402
from boards import sim as simboard  # noqa: E402


def edge_margin_uV(board):
    """How far inside the window the profile takes holds (0: at the edges): its
    V_ERR_UV and protocol.HOLD_NOISE_SIGMA of its tick noise, less the 5 mV bound."""
    f = simboard.channel_figures(board)
    m_uV = f["v_err_uV"] + protocol.HOLD_NOISE_SIGMA * f["v_noise_uV"] - feprofiles.V_TOL_UV
    return m_uV if m_uV > 0 else 0


def code_x_r_uV(board, r):
    """One DAC code of the hold's range through the cell's R0."""
    fs = next(f for f in simboard.RANGES_NA if r["i_hold_max_nA"] <= 0.9 * f)
    return fs / feprofiles.get(board)["dac_codes_fs"] * 1e-3 * r["r0_ohm"]


# the window matrix's holds end at C/46 and C/24: below some profiles' termination
# floor (reported apart), so it runs with the least floor (boards/sim.py I_FLOOR_MIN_NA)
WINDOW_FLOOR = {"i_floor_nA": simboard.I_FLOOR_MIN_NA}


def matrix(board, seeds):
    worst_out = 0.0
    worst_over = worst_over_res = 0.0
    faults = runs = 0
    r_ratio = []
    refused = set()
    margin = edge_margin_uV(board)
    for cell in ("fig4", "max"):
        for rate in m.RATES:
            for sign in (1, -1):
                vh = None
                if margin:
                    vh = m.V_HI - margin if sign > 0 else m.V_LO + margin
                    try:
                        m.run(board, cell, rate, sign, channel_kwargs=WINDOW_FLOOR)
                    except ValueError as e:
                        if "V_ERR_UV" in str(e):
                            refused.add("%s %s %s at the edge (V_ERR_UV)" % (
                                cell, rate, "chg" if sign > 0 else "dis"))
                for seed in range(1, seeds + 1):
                    try:
                        r = m.run(board, cell, rate, sign, seed=seed, v_hold=vh,
                                  channel_kwargs=WINDOW_FLOOR)
                    except ValueError as e:
                        lim = "V_ERR_UV" if "V_ERR_UV" in str(e) else (
                            "HOLD_I_MAX_NA" if "HOLD_I_MAX_NA" in str(e) else str(e)[:60])
                        refused.add("%s %s %s (%s)" % (cell, rate, "chg" if sign > 0
                                                       else "dis", lim))
                        continue
                    runs += 1
                    if r["state"] != "done":
                        faults += 1
                    out = max(r["v_hi_uV"] - m.V_HI, m.V_LO - r["v_lo_uV"], 0.0)
                    worst_out = max(worst_out, out)
                    worst_over = max(worst_over, r["over_uV"])
                    if code_x_r_uV(board, r) <= 1000:
                        worst_over_res = max(worst_over_res, r["over_uV"])
                    r_ratio.append(r["r_est_ohm"] / r["r0_ohm"])
    return refused, runs, faults, worst_out, worst_over, worst_over_res, r_ratio


# the end currents the termination is measured at (nA; fe_matrix.hold_end_error picks
# the CC step before each hold)
TERM_GRID = (300, 500, 740, 1000, 1823, 2700, 4000, 5710, 8000, 12000, 15000, 20000,
             27000, 30140, 40000, 55000)


def floor_estimate_nA(board):
    """The termination floor from the profile's figures, beside the measured one (the
    floor the board refuses by is the measured, feprofiles i_end_min_nA): 20 x (one DAC
    code of the range the end current flows in + the current reading's residual offset
    and INL + 2 sigma of the hold's wander), the wander being the current noise an
    integral loop of gain 1/16 per tick (the regulator inside its band) makes of one
    tick's voltage noise on fig4's R0 (300 ohm): sigma_v / (R sqrt(32)), scaled by
    sigma_v / LSB where that noise is below one code of the voltage ADC. Returns
    (floor, code, reading, wander) in nA."""
    p = feprofiles.get(board)
    sigma_v = feprofiles.tick_noise_uV(board)
    v_lsb = p["v_span_uV"] / (1 << p["v_bits"])
    share = min(1.0, sigma_v / v_lsb)
    wander = 2 * share * sigma_v * 1000 / (300 * 32 ** 0.5)
    for fs in simboard.RANGES_NA:
        code = fs / p["dac_codes_fs"]
        reading = (p["offset_frac"] + p["i_inl_frac"]) * fs
        floor = 20 * (code + reading + wander)
        if floor <= 0.9 * fs:
            break
    return floor, code, reading, wander


def terminations(board, seeds, tick_ms=100, v_hold=None):
    """The worst end (fraction of the end current; None: a hold that ended otherwise)
    over the seeds at each grid point a hold of this board can start 3x above
    ({i_end: worst}), the floor set aside."""
    worst = {}
    hold_max = simboard.channel_figures(board)["hold_i_max_nA"]
    for i_end in TERM_GRID:
        if 3 * i_end > hold_max:
            continue      # no hold this board takes starts 3x above it
        errs = [m.hold_end_error(board, i_end, s, tick_ms, v_hold) for s in seeds]
        worst[i_end] = max(errs, key=lambda e: 1e9 if e is None else abs(e))
    return worst


def _ok(w):
    return w is not None and abs(w) <= 0.05


def trip_times(board, tick_ms=100):
    """Ticks from the true voltage crossing the trip to the trip, for a 10 mV/s ramp
    and a +20 mV step, and false trips at 5 mV below it, with the profile's tick noise
    (Gaussian, sigma = feprofiles.tick_noise_uV) on the reading."""
    sigma = feprofiles.tick_noise_uV(board)
    rng = femodel.XorShift32(7)
    out = []
    for kind in ("ramp", "step"):
        s = Safety()
        s.v_noise_uV = simboard.channel_figures(board)["v_noise_uV"]
        s.configure(2500000, 4150000, 20000000, 0)
        v0 = 4140000.0
        t_cross = None
        for n in range(2000):
            if kind == "ramp":
                v = v0 + 10000.0 * n * tick_ms / 1000.0   # 10 mV/s
            else:
                v = 4100000.0 if n < 10 else 4170000.0
            if t_cross is None and v > 4150000:
                t_cross = n
            if s.check(int(v + sigma * rng.gauss()), 0, 0, False, 0):
                break
        out.append((n - t_cross) * tick_ms if t_cross is not None else None)
    s = Safety()
    s.v_noise_uV = simboard.channel_figures(board)["v_noise_uV"]
    s.configure(2500000, 4150000, 20000000, 0)
    false = 0
    for n in range(100000):
        if s.check(int(4145000 + sigma * rng.gauss()), 0, 0, False, 0):
            false += 1
            s.clear()
    out.append(false)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--term-seeds", type=int, default=6)
    ap.add_argument("--tick-ms", type=int, default=100)
    a = ap.parse_args()
    print("profile         tick-noise  V_ERR   refused")
    for b in sorted(feprofiles.PROFILES):
        f = simboard.channel_figures(b)
        refused, runs, faults, out, over, over_res, rr = matrix(b, a.seeds)
        refused.add("holds ending below %d nA (I_FLOOR_NA)" % f["i_floor_nA"])
        print("%-15s %6d uV  %5d uV  %s" % (b, f["v_noise_uV"], f["v_err_uV"],
                                           ", ".join(sorted(refused)) if refused
                                           else "nothing"))
        if runs:
            mg = edge_margin_uV(b)
            print("   %d runs%s, %d faults; worst true excursion past the window %.1f mV, "
                  "worst hold overshoot %.1f mV (%.1f mV where one DAC code x R <= 1 mV); "
                  "R_est / R0 median %.2f (%.2f .. %.2f)" % (
                      runs, " (holds %.1f mV inside the window)" % (mg / 1000) if mg else "",
                      faults, out / 1000, over / 1000, over_res / 1000,
                      statistics.median(rr), min(rr), max(rr)))
        vh = None
        if edge_margin_uV(b):
            vh = 4100000 - edge_margin_uV(b)
        seeds = range(1, a.term_seeds + 1)
        fl = f["i_floor_nA"]
        worst = terminations(b, seeds, a.tick_ms, vh)
        if fl not in worst:
            worst[fl] = max((m.hold_end_error(b, fl, s, a.tick_ms, vh) for s in seeds),
                            key=lambda e: 1e9 if e is None else abs(e))
        good = [k for k in sorted(worst) if _ok(worst[k])]
        bad_above = [k for k in sorted(worst) if good and k > good[0] and not _ok(worst[k])]
        ramp, step, false = trip_times(b)
        est = floor_estimate_nA(b)
        print("   floor (I_FLOOR_NA) %d nA, measured; from the figures %.0f nA (20 x: DAC code "
              "%.0f + reading %.0f + wander %.0f nA)" % ((fl,) + est))
        print("   termination (%d seeds, %d ms ticks%s): smallest end within 5 %%: %s%s; at "
              "the floor %d nA: %s; worst per end current (nA: %%): %s" % (
                  a.term_seeds, a.tick_ms, ", hold at %.3f V" % (vh / 1e6) if vh else "",
                  "%d nA" % good[0] if good else "none of the grid",
                  " (above it not: %s)" % ", ".join(map(str, bad_above)) if bad_above else "",
                  fl, "no end" if worst[fl] is None else "%+.1f %%" % (100 * worst[fl]),
                  ", ".join("%d: %s" % (k, "no end" if w is None else "%+.1f" % (100 * w))
                            for k, w in sorted(worst.items()))))
        print("   trip: 10 mV/s ramp %s ms after crossing, +20 mV step %s ms; false trips at "
              "trip - 5 mV over 1e5 ticks: %d" % (ramp, step, false))


if __name__ == "__main__":
    main()
