"""Generated protocols, cells and noise (hypothesis) against the engine in closed loop.

Properties: every run ends (done, never a fault, for a protocol inside the window);
a hold never lets the true voltage past its setpoint by more than 2 mV; the step
records add up to the cycle records; every integer stays a small int.
"""
import os
import sys

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import host_tools  # noqa: E402  (the board-side folders on sys.path)
sys.path[:0] = [os.path.join(ROOT, "tests", "core")]

import channel  # noqa: E402
import engine  # noqa: E402
import protocol  # noqa: E402
from standin import StandInCell, run  # noqa: E402
from test_heap import _check_ints  # noqa: E402

# FACTS: the study's cells are 0.0839 .. 1.091 mAh; the rates C/50 .. 3C.
capacity = st.integers(83900, 1091000)
# C/10 .. 3C (C/50 and C/20 run in tests/test_regulation.py: days of ticks here)
rate = st.sampled_from([(1, 10), (1, 5), (1, 2), (1, 1), (2, 1), (3, 1)])
term = st.sampled_from([15, 24, 46, 76])  # FACTS: charge CV ended between C/15 and C/76


@st.composite
def protocols(draw):
    cap = draw(capacity)
    blocks = draw(st.lists(st.tuples(rate, st.integers(1, 2), term, term, st.booleans(),
                                     st.booleans()), min_size=1, max_size=2))
    lines = ["cell %d 0" % cap, "window 2600000 4100000",
             "limits 2500000 4150000 20000000 720000"]
    for (num, den), rep, tc, td, cv, rest in blocks:
        i = (cap * num + den // 2) // den
        lines.append("repeat %d" % rep)
        lines.append("cc %d 4100000 0" % i)
        if cv:
            lines.append("cv 4100000 %d 0 0" % max(cap // tc, 500))
        if rest:
            lines.append("rest 30")
        lines.append("cc %d 2600000 0" % -i)
        if cv:
            lines.append("cv 2600000 %d 0 0" % max(cap // td, 500))
        lines.append("end")
    return cap, lines


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(protocols(), st.integers(0, 1500), st.floats(50.0, 800.0), st.integers(1, 10 ** 6),
       st.sampled_from([100, 250, 500]))
def test_generated_runs_stay_in_bounds(proto, noise_uV, r_area_ohm, seed, dt_ms):
    cap, lines = proto
    ch = channel.Channel(20000000, 500)
    ch.load_lines(lines)
    # a thicker cell has proportionally less resistance per capacity
    cell = StandInCell(capacity_nAh=cap, r0_ohm=r_area_ohm * 83900 / cap,
                       r1_ohm=0.5 * r_area_ohm * 83900 / cap, soc=0.05)
    ch.tick(0, int(cell.v() * 1e6), 0)
    ch.start(0)
    worst = [0.0]
    steps, cycles = [], []
    seen = [0, 0]

    def on_tick(c, x, now):
        e = c.engine
        if e.state == engine.RUNNING and e.step.kind == protocol.CV:
            over = (x.v() - e.step.v_uV / 1e6) * e.step.sign
            worst[0] = max(worst[0], over)
        if e.step_seq != seen[0]:
            seen[0] = e.step_seq
            steps.append(list(e.step_rec))
        if e.cycle_seq != seen[1]:
            seen[1] = e.cycle_seq
            cycles.append(list(e.cycle_rec))
        _check_ints(c)

    run(ch, cell, dt_ms=dt_ms, v_noise_uV=noise_uV, i_noise_nA=cap // 2000, seed=seed,
        on_tick=on_tick, max_ticks=6 * 10 ** 6)
    assert ch.state_name() == "done", ch.status_text()
    assert worst[0] < 0.002, worst
    for c in cycles:
        mine = [s for s in steps if s[engine.SR_CYCLE] == c[engine.CR_CYCLE]]
        assert sum(s[engine.SR_Q_CHG] for s in mine) == c[engine.CR_CHG_CC] + c[engine.CR_CHG_CV]
        assert sum(s[engine.SR_Q_DIS] for s in mine) == c[engine.CR_DIS_CC] + c[engine.CR_DIS_CV]
    assert len(cycles) >= 1
