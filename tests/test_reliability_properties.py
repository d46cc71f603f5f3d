"""Safety invariants (hypothesis) on the firmware's channel in closed loop with the cell
and front-end models (host_tools.simulate.Sim), with the sim board's front-end fault
detection switched on (current mismatch, stuck reading) as main.py does.

Generated: CC-CV protocols both ways with rests (C/20..3C for the thin cells, fig4 and
fig5b-cell2; C/50..C/5 for the thick ones: FACTS: rates), the study's cells with their
r0 and tau1 moved within plausible bounds, ADC noise and current offset/gain errors.
Properties:
- during cycling steps the TRUE cell voltage stays within 2.6 V - 5 mV .. 4.1 V + 5 mV
  (FACTS: cycling window), and a normal run never trips (ends `done`);
- the step capacities add up to each cycle's, and every complete cycle's coulombic
  efficiency is > 0 and <= 100 % (+ 0.5 % for the current measurement's errors);
- a step of the true voltage past a hard limit switches the output off within
  safety.QUALIFY_COUNT ticks, whatever the noise.
"""
import os
import sys

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck, Phase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import host_tools  # noqa: E402,F401  (firmware on sys.path)
from host_tools.simulate import Sim  # noqa: E402
from boards import sim as simboard  # noqa: E402
import cellmodel  # noqa: E402
import engine  # noqa: E402
import protocol  # noqa: E402
import safety  # noqa: E402

V_LO, V_HI = 2600000, 4100000
MARGIN_UV = 5000
THIN = ("fig4", "fig5b-cell2")
THIN_RATES = [(1, 20), (1, 10), (1, 5), (1, 2), (1, 1), (2, 1), (3, 1)]
THICK_RATES = [(1, 50), (1, 20), (1, 10), (1, 5)]
TERM = [10, 15, 24, 46]   # FACTS: termination currents (C/15 .. C/46 used in the paper)
# Holds run at the board's slowest tick (1 s; the sim board ticks at 100 ms), not at
# simulate's 10 s: with 10 s ticks the 2.6 V hold of a fig4 cell rings up to ~6 mV past
# its setpoint (found by this test; a simulation speed-up, not what a board does).
# Near a window edge and at the start of a hold the tick is the board's (100 ms): at
# 1 s a 2C discharge of the fig4 cell falls 5 mV per tick at 2.6 V.
HOLD_TICK_MS = 1000
BOARD_TICK_MS = simboard.TICK_MS
NEAR_UV = 30000
# the lowest mean state of charge a discharge inside the window can reach (see the
# coulombic-efficiency bound below)
SOC_FLOOR = cellmodel.soc_at_ocv((V_LO - MARGIN_UV) / 1e6)
# What the generated examples exercised; each test below asserts its examples were not
# vacuous (runs that cycled, efficiencies checked, trips caught).
SEEN = {}


class DetectingSim(Sim):
    """Sim with the board's fault detection, told each reading's range like runtime.py."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        # the detection the virtual board runs with this profile (boards/sim.py)
        f = simboard.channel_figures(self.board)
        self.ch.detect(mismatch_pct=f["mismatch_pct"], mismatch_fs_pct=f["mismatch_fs_pct"],
                       stuck_n=f["stuck_n"])

    def tick(self):
        self.ch.i_fs_nA = self.fe.ranges_nA[self.fe.range_index]
        super().tick()


class SteppedCell:
    """A terminal voltage that has jumped and stays there, whatever the current."""

    def __init__(self, v_V):
        self.v_V = v_V

    def step(self, dt_s, i_A):
        pass


@st.composite
def setups(draw):
    name = draw(st.sampled_from(sorted(cellmodel.CELLS)))
    p = cellmodel.CELLS[name]
    # the thick cells' activation and fade (issue 13, docs/cellmodel.md) are left out:
    # a cell that has lost a third of its capacity runs the nominal C-rates 1.5x
    # harder, and this property is about the firmware, not the cell's ageing
    cell = cellmodel.make_cell(name, r0_ohm=p["r0_ohm"] * draw(st.floats(0.7, 1.5)),
                               tau1_s=p["tau1_s"] * draw(st.floats(0.5, 2.0)),
                               act_frac=0.0, fade_per_cycle=0.0)
    cell.set_soc(simboard.SOC0)
    cap = int(round(cell.capacity_mAh * 1e6))
    rates = THIN_RATES if name in THIN else THICK_RATES
    lines = ["cell %d 0" % cap, "window %d %d" % (V_LO, V_HI),
             "limits 2500000 4150000 20000000 400000"]
    blocks = draw(st.lists(st.tuples(st.sampled_from(rates), st.sampled_from(rates),
                                     st.sampled_from(TERM), st.sampled_from(TERM),
                                     st.booleans(), st.booleans()), min_size=1, max_size=2))
    for (cn, cd), (dn, dd), tc, td, cv, rest in blocks:
        ic = (cap * cn + cd // 2) // cd
        idis = (cap * dn + dd // 2) // dd
        lines.append("repeat 1")
        lines.append("cc %d %d 0" % (ic, V_HI))
        if cv:
            lines.append("cv %d %d 0 0" % (V_HI, max(cap // tc, simboard.I_FLOOR_NA)))
        if rest:
            lines.append("rest 600")
        lines.append("cc %d %d 0" % (-idis, V_LO))
        if cv:
            lines.append("cv %d %d 0 0" % (V_LO, max(cap // td, simboard.I_FLOOR_NA)))
        if rest:
            lines.append("rest 600")
        lines.append("end")
    fe = dict(v_noise_uV=draw(st.floats(100.0, 400.0)),
              i_noise_frac=draw(st.floats(2e-5, 3e-4)),
              offset_frac=draw(st.floats(0.0, 5e-4)),
              gain_frac=draw(st.floats(0.0, 2e-3)),
              seed=draw(st.integers(1, 2 ** 30)))
    return name, cell, lines, fe


def run_checked(cell, lines, fe):
    sim = DetectingSim(lines, cell=cell, seed=fe.pop("seed"), fe_kwargs=fe)
    e = sim.ch.engine
    sim.start()
    worst_hi = worst_lo = 0.0
    steps, cycles = [], []
    s_seq = c_seq = 0
    ticks = 0
    soc_at = {1: cell.soc}    # the cell's true state of charge as each cycle opens
    while True:
        sim.tick()
        ticks += 1
        if e.cycle not in soc_at:
            soc_at[e.cycle] = cell.soc
        if e.state == engine.RUNNING and e.step is not None and e.step.kind in (
                protocol.CC, protocol.CV):
            v = cell.v_V * 1e6
            worst_hi = max(worst_hi, v - V_HI)
            worst_lo = max(worst_lo, V_LO - v)
        if e.step_seq != s_seq:
            s_seq = e.step_seq
            steps.append(list(e.step_rec))
        if e.cycle_seq != c_seq:
            c_seq = e.cycle_seq
            cycles.append(list(e.cycle_rec))
        if e.state != engine.RUNNING or ticks > 200000:
            break
        dt = sim.next_dt()
        if e.step is not None:
            near = min(abs(e.v_uV - V_HI), abs(e.v_uV - V_LO)) < NEAR_UV
            if e.step.kind == protocol.CV:
                dt = BOARD_TICK_MS if e.step_ms < 60000 else min(dt, HOLD_TICK_MS)
            elif near:
                dt = BOARD_TICK_MS
        sim.advance(dt)
    SEEN["runs"] = SEEN.get("runs", 0) + 1
    SEEN["cycles"] = SEEN.get("cycles", 0) + len(cycles)
    return sim, worst_hi, worst_lo, steps, cycles, soc_at


# no shrinking: a closed-loop run takes up to a second; a failure is reported as drawn
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck),
          phases=(Phase.explicit, Phase.reuse, Phase.generate), derandomize=True)
@given(setups())
def check_true_voltage_stays_in_the_window_and_the_accounts_add_up(setup):
    name, cell, lines, fe = setup
    sim, hi, lo, steps, cycles, soc_at = run_checked(cell, lines, dict(fe))
    cap_nAh = cell.capacity_mAh * 1e6
    assert sim.ch.state_name() == "done", (name, sim.ch.status_text(), lines, fe)
    assert hi <= MARGIN_UV and lo <= MARGIN_UV, (name, hi, lo, lines, fe)
    SEEN["v_past_window_max_uV"] = max(SEEN.get("v_past_window_max_uV", 0), round(hi), round(lo))
    assert cycles, lines
    for c in cycles:
        mine = [s for s in steps if s[engine.SR_CYCLE] == c[engine.CR_CYCLE]]
        chg = c[engine.CR_CHG_CC] + c[engine.CR_CHG_CV]
        dis = c[engine.CR_DIS_CC] + c[engine.CR_DIS_CV]
        assert sum(s[engine.SR_Q_CHG] for s in mine) == chg
        assert sum(s[engine.SR_Q_DIS] for s in mine) == dis
        if chg > 0 and dis > 0:
            ce = dis / chg
            # The cell model stores charge losslessly, so a cycle can give back what it
            # took plus what the cell held when the cycle opened (a first cycle from
            # 2.71 V, or after a shallower discharge), and no more; the measurement
            # errors add at most 0.5 % (drawn gain error <= 0.2 %, offset <= 0.05 % FS).
            # What the cell holds counts down to the state of charge where its OCV is
            # the window's floor (less the margin), not to soc 0: the OCV goes on below
            # 2.71 V (pristine, soc 0) to 2.6 V at soc < 0, and on discharge the surface
            # is the emptier reservoir, so the mean soc cannot pass that floor while
            # the terminal voltage stays in the window (asserted above).
            held = soc_at[c[engine.CR_CYCLE]] - SOC_FLOOR
            bound = 1.0 + held * cap_nAh / chg + 0.005
            assert 0 < ce <= bound, (name, ce, bound, c, lines, fe)
            SEEN["ce_checked"] = SEEN.get("ce_checked", 0) + 1


def _documented_trip_ticks():
    """The bound docs/reliability.md states for a hard-limit crossing (its Faults
    table): the test checks the documented figure, not the code's own constant."""
    import re
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "docs", "reliability.md")) as f:
        for line in f:
            if line.startswith("| true voltage steps past a hard trip"):
                return int(re.search(r"<= (\d+) ticks", line).group(1))
    raise AssertionError("docs/reliability.md has no row for a hard-limit crossing")


TRIP_TICKS_MAX = _documented_trip_ticks()


def _crossing_ticks(name, side, after_s, past_uV, noise, seed, charging):
    cell = cellmodel.make_cell(name)
    cell.set_soc(0.3)
    cap = int(round(cell.capacity_mAh * 1e6))
    i = cap // 5 if charging else -(cap // 5)
    lines = ["cell %d 0" % cap, "window %d %d" % (V_LO, V_HI),
             "limits 2500000 4150000 20000000 400000",
             "cc %d %d 0" % (i, V_HI if charging else V_LO),
             "cv %d %d 0 0" % (V_HI if charging else V_LO, cap // 20)]
    sim = DetectingSim(lines, cell=cell, seed=seed, fe_kwargs={"v_noise_uV": noise})
    sim.start()
    for _ in range(after_s):
        sim.tick()
        sim.advance(1000)
    assert sim.ch.out_on
    trip = 4150000 if side == "hi" else 2500000
    target = trip + past_uV if side == "hi" else max(trip - past_uV, 100000)
    sim.fe.cell = SteppedCell(target / 1e6)
    n = 0
    while sim.ch.out_on and n < 50:
        sim.tick()
        n += 1
    return n, sim


def test_control_a_slower_qualification_breaks_the_documented_bound(monkeypatch):
    monkeypatch.setattr(safety, "QUALIFY_COUNT", TRIP_TICKS_MAX + 5)
    # (and the gross path, which trips on GROSS_COUNT readings far past a trip)
    monkeypatch.setattr(safety, "GROSS_COUNT", TRIP_TICKS_MAX + 5)
    n, _sim = _crossing_ticks("fig4", "hi", 10, 100000, 150.0, 7, True)
    assert n > TRIP_TICKS_MAX, n


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck),
          phases=(Phase.explicit, Phase.reuse, Phase.generate), derandomize=True)
@given(st.sampled_from(sorted(cellmodel.CELLS)), st.sampled_from(["hi", "lo"]),
       st.integers(0, 120), st.integers(5000, 800000), st.floats(100.0, 400.0),
       st.integers(1, 2 ** 30), st.booleans())
def check_a_hard_limit_crossing_switches_the_output_off_within_the_bound(
        name, side, after_s, past_uV, noise, seed, charging):
    # the true voltage jumps past a trip (a contact that breaks, a cell that fails):
    n, sim = _crossing_ticks(name, side, after_s, past_uV, noise, seed, charging)
    assert not sim.ch.out_on and n <= TRIP_TICKS_MAX, (n, sim.ch.status_text())
    trip = 4150000 if side == "hi" else 2500000
    target = trip + past_uV if side == "hi" else max(trip - past_uV, 100000)
    assert abs(sim.fe.true_v_uV - target) < 1
    assert sim.ch.state_name() == "fault"
    assert sim.ch.safety.code in (safety.OVERVOLTAGE, safety.UNDERVOLTAGE)
    assert not sim.fe.on
    SEEN["trip_examples"] = SEEN.get("trip_examples", 0) + 1


@pytest.mark.slow
def test_true_voltage_stays_in_the_window_and_the_accounts_add_up():
    SEEN.clear()
    check_true_voltage_stays_in_the_window_and_the_accounts_add_up()
    # not vacuous: most examples ran to the end and cycled, and the efficiency bound
    # was checked on many complete cycles
    assert SEEN.get("runs", 0) >= 20 and SEEN.get("cycles", 0) >= SEEN["runs"], SEEN
    assert SEEN.get("ce_checked", 0) >= 20, SEEN


@pytest.mark.slow
def test_a_hard_limit_crossing_switches_the_output_off_within_the_bound():
    SEEN.clear()
    check_a_hard_limit_crossing_switches_the_output_off_within_the_bound()
    # every generated example reached the trip (an example that never ran would pass)
    assert SEEN.get("trip_examples", 0) >= 30, SEEN
