"""One short CC-into-hold run on a front-end profile (tests/test_fe_matrix.py and
benchmarks/fe_matrix.py): the cell starts just short of the end voltage, the CC step
at a rate hands over to a hold of at most HOLD_S, on the board's 100 ms tick (1 s at
C/10 and slower). Reports the TRUE voltage's extremes, the hold's overshoot, trips,
and the regulator's R estimate against the cell model's."""
import math

import host_tools  # noqa: F401
import cellmodel
import engine
import protocol
from host_tools.simulate import Sim

CAPACITY_NAH = {"fig4": 83900, "max": 1091000}   # FACTS: the cell table
RATES = {"C/50": (1, 50), "C/10": (1, 10), "1C": (1, 1), "3C": (3, 1)}
HOLD_S = 120
CC_S = 60
V_HI, V_LO = 4100000, 2600000


def lines(cell, rate, sign, v_hi=V_HI, v_lo=V_LO, i_lim=None, i_end=None):
    cap = CAPACITY_NAH[cell]
    num, den = RATES[rate]
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


def run(board, cell, rate, sign, seed=1, channel_kwargs=None, v_hold=None, max_ticks=60000,
        i_end=None, hold_s=None, cc_s=None, on_tick=None):
    """Returns a dict of what happened (raises ValueError if the board refuses).
    on_tick(sim): called before every tick (tests)."""
    v_hi = v_hold if (v_hold and sign > 0) else V_HI
    v_lo = v_hold if (v_hold and sign < 0) else V_LO
    c = cellmodel.make_cell(cell)
    num, den = RATES[rate]
    i_A = CAPACITY_NAH[cell] * num / den * 1e-9
    # start CC_S of CC before the point where the CC step would end at rest (its
    # ohmic drop included): the R probe reads and the cell's RC settles as in a long run
    if sign > 0:
        ocv = max(min(v_hi / 1e6 - i_A * c.r0, 4.08), 2.75)
    else:
        ocv = min(max(v_lo / 1e6 + i_A * c.r0, 2.72), 4.05)
    d_soc = i_A * (cc_s or CC_S) / (CAPACITY_NAH[cell] * 1e-9 * 3600.0)
    soc = cellmodel.soc_at_ocv(ocv) - sign * d_soc
    lo, hi = cellmodel.soc_at_ocv(2.72), cellmodel.soc_at_ocv(4.099)
    c.set_soc(lo if soc < lo else (hi if soc > hi else soc))
    ls = lines(cell, rate, sign, v_hi, v_lo, i_end=i_end)
    if hold_s is not None:
        f = ls[-1].split()
        f[3] = str(hold_s)
        ls[-1] = " ".join(f)
    sim = Sim(ls, cell=c, seed=seed, board=board, channel_kwargs=channel_kwargs)
    tick = 100 if num / den >= 1 else 1000
    sim.start()
    fe = sim.fe
    fe.reset_extremes()
    e = sim.ch.engine
    over = 0.0
    i_hold_max = 0
    n = 0
    i_end_true = None
    while sim.running() and n < max_ticks:
        i_before = fe.true_i_nA
        if on_tick is not None:
            on_tick(sim)      # (tests: before the tick, e.g. a scripted range switch)
        sim.tick()
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
            # the resistance a tick sees: R0 and the RC's share that settles in it
            "r_tick_ohm": c.r0 + c.r1 * (1.0 - math.exp(-tick * 1e-3 / c.tau1)), "i_hold_max_nA": i_hold_max,
            "i_cc_nA": CAPACITY_NAH[cell] * num // den, "ticks": n, "sim": sim,
            "end_reason": e.step_rec[engine.SR_REASON] if e.step_seq else 0,
            "i_end_true_nA": i_end_true}
