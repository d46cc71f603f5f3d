"""One short CC-into-hold run on a front-end profile (tests/test_fe_matrix.py and
benchmarks/fe_profiles.py): the cell starts at rest where a CC step at the rate lasts
CC_S (or cc_s) until the board hands over to the hold (start_state), the CC step hands
over to a hold of at most HOLD_S, on the board's 100 ms tick (1 s at C/10 and slower).
Reports the TRUE voltage's extremes, the hold's overshoot, trips, how long the CC step
ran, and the regulator's R estimate against the cell model's."""
import math

import host_tools  # noqa: F401
import cellmodel
import engine
import protocol
from host_tools.simulate import Sim

CAPACITY_NAH = {"fig4": 83900, "max": 1091000}   # FACTS: the cell table
RATES = {"C/50": (1, 50), "C/10": (1, 10), "1C": (1, 1), "3C": (3, 1)}   # (or a (num, den))
HOLD_S = 120
CC_S = 60
V_HI, V_LO = 4100000, 2600000


def lines(cell, rate, sign, v_hi=V_HI, v_lo=V_LO, i_lim=None, i_end=None):
    cap = CAPACITY_NAH[cell]
    num, den = RATES[rate] if rate in RATES else rate   # a name, or (num, den)
    i = (cap * num + den // 2) // den
    v = v_hi if sign > 0 else v_lo
    end = cap // 46 if sign > 0 else cap // 24      # FACTS: termination currents
    if i_end is not None:
        end = i_end
    cv = "cv %d %d %d 0" % (v, end, HOLD_S)
    if i_lim is not None:
        cv += " %d" % i_lim
    return ["cell %d 0" % cap, "window 2600000 4100000",
            "limits 2500000 4150000 20000000 72000",
            "cc %d %d 0" % (sign * i, v), cv]


# start_state: the CC step is stepped in FWD_STEPS model steps; the bisection stops
# when the CC lasts cc_s within CC_TOL, or after BISECT_N halvings.
FWD_STEPS = 60
CC_TOL = 0.02
BISECT_N = 40


def _cc_s(sim, soc, i_A, v_end_uV, t_max):
    """How long (s) a CC step at i_A takes from rest at soc until the front-end's
    noiseless reading (its INL and gain error: on esp32-internal about 24 mV) reaches
    v_end_uV; t_max * 2 if it does not within that."""
    c = sim.cell
    c.set_soc(soc)
    dt = t_max / FWD_STEPS
    t = 0.0
    sign = 1 if i_A > 0 else -1
    while t < 2.0 * t_max:
        c.step(dt, i_A)
        t += dt
        if (sim.fe._v_seen() - v_end_uV) * sign >= 0:
            return t
    return t


def start_state(sim, i_A, v_end_uV, cc_s):
    """The state of charge at rest from which a CC step at i_A (A, signed) lasts cc_s
    until the board's reading reaches v_end_uV (its hand-over point): bisected on the
    cell model itself (frozen: no ageing; put back as it was), with the surface-bulk gap
    the CC step builds (docs/cellmodel.md: on fig4 a C/10 charge from rest at the OCV of
    its end voltage reaches it in about 70 s, not in the time its charge would take).
    Returns (soc, how long the CC lasts from it (s)); the furthest start (2.72 V, or
    4.099 V on discharge) if even that one is shorter."""
    c = sim.cell
    sign = 1 if i_A > 0 else -1
    frozen, st0 = c.frozen, c.state()
    lo, hi = cellmodel.soc_at_ocv(2.72), cellmodel.soc_at_ocv(4.099)
    c.frozen = True
    try:
        # the far end: the furthest start; the near end: at rest at the end voltage
        far = lo if sign > 0 else hi
        near = cellmodel.soc_at_ocv(v_end_uV * 1e-6)
        t = _cc_s(sim, far, i_A, v_end_uV, cc_s)
        if t <= cc_s:
            return far, t
        for _ in range(BISECT_N):
            mid = 0.5 * (far + near)
            t = _cc_s(sim, mid, i_A, v_end_uV, cc_s)
            if abs(t - cc_s) <= CC_TOL * cc_s:
                break
            if t > cc_s:
                far = mid
            else:
                near = mid
        return mid, t
    finally:
        c.frozen = frozen
        c.set_state(st0)


def run(board, cell, rate, sign, seed=1, channel_kwargs=None, v_hold=None, max_ticks=60000,
        i_end=None, hold_s=None, cc_s=None, on_tick=None, tick_ms=None):
    """Returns a dict of what happened (raises ValueError if the board refuses).
    on_tick(sim): called before every tick (tests); tick_ms: the tick (None: 100 ms,
    1 s at C/10 and slower)."""
    v_hi = v_hold if (v_hold and sign > 0) else V_HI
    v_lo = v_hold if (v_hold and sign < 0) else V_LO
    c = cellmodel.make_cell(cell)
    num, den = RATES[rate] if rate in RATES else rate   # a name, or (num, den)
    i_A = CAPACITY_NAH[cell] * num / den * 1e-9
    ls = lines(cell, rate, sign, v_hi, v_lo, i_end=i_end)
    if hold_s is not None:
        f = ls[-1].split()
        f[3] = str(hold_s)
        ls[-1] = " ".join(f)
    sim = Sim(ls, cell=c, seed=seed, board=board, channel_kwargs=channel_kwargs)
    # start at rest cc_s of CC at the rate before the board hands over to the hold (its
    # reading one noise band short of the end voltage): the R probe reads and the cell's
    # RC settles as in a long run, and the CC step really runs before the hold
    band = sim.ch.engine.reg.band_uV
    v_end = v_hi - band if sign > 0 else v_lo + band
    soc, _ = start_state(sim, sign * i_A, v_end, cc_s or CC_S)
    c.set_soc(soc)
    tick = tick_ms or (100 if num / den >= 1 else 1000)
    sim.start()
    fe = sim.fe
    fe.reset_extremes()
    e = sim.ch.engine
    over = 0.0
    i_hold_max = 0
    n = 0
    i_end_true = None
    cc_ms = None
    while sim.running() and n < max_ticks:
        i_before = fe.true_i_nA
        if on_tick is not None:
            on_tick(sim)      # (tests: before the tick, e.g. a scripted range switch)
        sim.tick()
        if e.step_seq and e.step_rec[engine.SR_KIND] == protocol.CC and cc_ms is None:
            cc_ms = e.step_rec[engine.SR_MS]
        if e.step_seq and e.step_rec[engine.SR_KIND] == protocol.CV and i_end_true is None:
            i_end_true = abs(i_before)
        if e.state == engine.RUNNING and e.step.kind == protocol.CV:
            over = max(over, (fe.true_v_uV - e.step.v_uV) * sign)
            i_hold_max = max(i_hold_max, abs(fe.true_i_nA))
        sim.advance(tick)
        n += 1
    return {"state": sim.ch.state_name(), "fault": sim.ch.fault_name(),
            "v_hi_uV": fe.v_hi_uV, "v_lo_uV": fe.v_lo_uV, "over_uV": over,
            "r_est_ohm": e.reg.r_ohm, "r0_ohm": c.r0,
            # the resistance a tick sees: R0 and the RC's share that settles in it (R1
            # and, on discharge, the lithiation lag's at the CC current)
            "r_tick_ohm": c.r0 + rc_ohm(c, sign * i_A)
            * (1.0 - math.exp(-tick * 1e-3 / c.tau1)), "i_hold_max_nA": i_hold_max,
            "i_cc_nA": CAPACITY_NAH[cell] * num // den, "ticks": n, "sim": sim,
            "end_reason": e.step_rec[engine.SR_REASON] if e.step_seq else 0,
            "i_end_true_nA": i_end_true, "cc_ms": cc_ms}


def rc_ohm(c, i_A):
    """The RC element's differential resistance at a current i_A (A) and the cell's
    surface state: R1, and on discharge the lithiation lag's share, from the slope of
    the element's settled target in the model itself."""
    if not (i_A < 0.0 and c.lag_V > 0.0):
        return c.r1
    s = c.soc_surface

    def settled(i):
        return c._lag_rc(0.0, i, s, s, 1e9)
    return (settled(1.001 * i_A) - settled(i_A)) / (0.001 * i_A)


def hold_end_error(board, i_end, seed, tick_ms=100, v_hold=None, floor_aside=True):
    """One fig4 charge hold ending at i_end (nA), on the board's 100 ms tick: (the TRUE
    current at the tick the hold ended - i_end) / i_end, or None if it ended otherwise.
    The CC step before it is at least 3x the end current (30 min at C/10 of fig4,
    8.39 uA; 10 min at 1C; 5 min at 2C, 167.8 uA), so the hold's current falls slowly
    against its 5 s qualification when it ends (a hold ending just below where it
    starts ends late while its current still falls fast: 150 uA after 2C ends 31-41 %
    off on the esp32 profiles). floor_aside: the termination floor set aside (to
    measure below it); else a hold below the board's I_FLOOR_NA raises ValueError."""
    cap = CAPACITY_NAH["fig4"]
    if 3 * i_end <= cap // 10:
        rate, cc_s = "C/10", 1800
    elif 3 * i_end <= cap:
        rate, cc_s = "1C", 600
    else:
        rate, cc_s = (2, 1), 300
    r = run(board, "fig4", rate, 1, i_end=i_end, v_hold=v_hold, hold_s=36000, cc_s=cc_s,
            max_ticks=800000, seed=seed, tick_ms=tick_ms,
            channel_kwargs={"i_floor_nA": 50} if floor_aside else None)
    if r["end_reason"] != engine.END_CURRENT or r["i_end_true_nA"] is None:
        return None
    return (r["i_end_true_nA"] - i_end) / i_end
