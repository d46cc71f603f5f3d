"""The firmware against the front-end profiles (simulation/feprofiles.py): the matrix
of tests/fe_matrix.py runs (profile x cell x rate x direction x seed), the refusals,
the CV current cap, the time-defined termination filter, and the control that
reproduces the 4.2 V excursion with the old settings on esp32-internal."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fe_matrix as m  # noqa: E402
import host_tools  # noqa: E402,F401
import feprofiles  # noqa: E402
import engine  # noqa: E402
import protocol  # noqa: E402
from boards import pico, esp32  # noqa: E402

TOL = feprofiles.V_TOL_UV


def run(board, cell, rate, sign, channel_kwargs=None, **kw):
    """fe_matrix.run with the termination floor set aside (the least one, I_FLOOR_MIN_NA
    of boards/sim.py): the window, trip and regulator tests here run the holds the matrix
    needs, also those ending below a profile's floor (how close to its end current a
    hold ends, and the floor's refusal: tests/test_fe_termination.py)."""
    from boards import sim
    ckw = {"i_floor_nA": sim.I_FLOOR_MIN_NA}
    ckw.update(channel_kwargs or {})
    return m.run(board, cell, rate, sign, channel_kwargs=ckw, **kw)


def test_profiles_follow_their_board_files():
    # one home for each fact: the profile's DAC codes, oversampling and ADC span come
    # from the board file's constants
    for name, p in feprofiles.PROFILES.items():
        board = pico if p["board"] == "pico" else esp32
        swing = board.SENSE_FS_UV
        if name.startswith("esp32"):
            bits, span = esp32.DAC_BITS, esp32.DAC_SPAN_UV
        elif name == "pico-internal":
            bits, span = pico.DAC_BITS, pico.PWM_SPAN_UV
        else:
            bits, span = pico.DAC_BITS, pico.DAC_SPAN_UV
        assert p["dac_codes_fs"] == pytest.approx(swing * (1 << bits) / span, abs=0.1)
    assert feprofiles.PROFILES["pico-ads1115"]["oversample"] == pico.OVERSAMPLE_ADS
    assert feprofiles.PROFILES["pico-internal"]["oversample"] == pico.OVERSAMPLE_INTERNAL
    assert feprofiles.PROFILES["esp32-internal"]["oversample"] == esp32.OVERSAMPLE
    assert feprofiles.PROFILES["pico-internal"]["v_span_uV"] == pico.ADC_VREF_UV * pico.V_DIV[0]
    # the MCP4725 on the shared 3.000 V REF (issue 11; on 3V3 it was 2482): 2722 usable
    assert 2 * feprofiles.PROFILES["pico-ads1115"]["dac_codes_fs"] == pytest.approx(2722, abs=1)
    # the 8-bit DAC on 3V3 with zero at 1.25 V: 155 usable codes
    assert 2 * feprofiles.PROFILES["esp32-internal"]["dac_codes_fs"] == pytest.approx(155, abs=1)
    with pytest.raises(ValueError, match="pico-ads1115"):
        feprofiles.get("pico-nonsense")


def test_board_files_carry_their_default_profile_figures():
    from boards import sim
    for board, prof in ((pico, "pico-internal"), (esp32, "esp32-internal")):
        f = sim.channel_figures(prof)
        assert (board.V_NOISE_UV, board.V_ERR_UV, board.HOLD_I_MAX_NA) == (
            f["v_noise_uV"], f["v_err_uV"], f["hold_i_max_nA"])
    # the ADS1115 builds: the figures setup() puts in place (board_config.adc)
    for board, prof in ((pico, "pico-ads1115"), (esp32, "esp32-ads1115")):
        f = sim.channel_figures(prof)
        assert (board.ADS_V_NOISE_UV, board.ADS_V_ERR_UV, board.ADS_I_FLOOR_NA) == (
            f["v_noise_uV"], f["v_err_uV"], f["i_floor_nA"]), prof
        was = (board.V_NOISE_UV, board.V_ERR_UV, board.I_FLOOR_NA)
        try:
            board._ads_figures()
            assert (board.V_NOISE_UV, board.V_ERR_UV, board.I_FLOOR_NA) == (
                f["v_noise_uV"], f["v_err_uV"], f["i_floor_nA"])
        finally:
            board.V_NOISE_UV, board.V_ERR_UV, board.I_FLOOR_NA = was
        # control: the default build's floor would refuse fig4's C/46 (1.82 uA) on pico
        if board is pico:
            assert board.I_FLOOR_NA > 1824 >= board.ADS_I_FLOOR_NA


def test_an_8_bit_dac_refuses_holds_it_cannot_resolve():
    # fig4 at 3C (252 uA) holds in the 2 mA range: one 8-bit code is 25.8 uA there
    with pytest.raises(ValueError, match="HOLD_I_MAX_NA"):
        run("esp32-ads1115", "fig4", "3C", 1)
    # the same hold limited to the 200 uA range is taken; control: a 12-bit DAC takes it
    assert run("esp32-ads1115", "fig4", "1C", 1)["state"] in ("done", "fault")
    assert run("pico-ads1115", "fig4", "3C", 1)["state"] == "done"
    # every profile refuses the max cell's 3C hold (3.27 mA: the 20 mA range)
    for b in feprofiles.PROFILES:
        with pytest.raises(ValueError):
            run(b, "max", "3C", -1)


def test_a_board_that_cannot_read_the_voltage_refuses_window_edge_holds():
    with pytest.raises(ValueError, match="V_ERR_UV"):
        run("esp32-internal", "fig4", "C/10", 1)
    # control: the recommended build takes the same protocol, and esp32-internal takes
    # it with the hold moved inside by its voltage error
    assert run("pico-ads1115", "fig4", "C/10", 1)["state"] == "done"
    inner = m.V_HI - _edge_margin_uV("esp32-internal")
    assert run("esp32-internal", "fig4", "C/50", 1, v_hold=inner)["state"] == "done"
    with pytest.raises(ValueError, match="V_ERR_UV"):
        run("esp32-internal", "fig4", "C/50", 1, v_hold=inner + 1000)


def test_control_old_settings_on_esp32_internal_pass_the_window():
    # the firmware that did not know its noise (v_noise_uV=0) nor its voltage error
    # (v_err_uV=0: nothing refused) on esp32-internal: a seed takes the TRUE voltage
    # past 4.1 V + 5 mV (the 4.2 V excursion: seed 5 reaches about 4.3 V)
    worst = max(run("esp32-internal", "fig4", "C/10", 1, seed=s,
                      channel_kwargs={"v_noise_uV": 0, "v_err_uV": 0})["v_hi_uV"]
                for s in (4, 5))
    assert worst > m.V_HI + TOL


# The matrix (issue 12): every profile x the fig4 and max cells x C/50, C/10, 1C, 3C
# holds on charge and discharge x 2 noise seeds. A profile either refuses the run with
# an error naming its limit, or holds it: the TRUE voltage within 2.6 V - 5 mV ..
# 4.1 V + 5 mV, no trip, the hold's overshoot within 2 mV where the profile resolves
# it, and the regulator's R estimate near the model's.
HOLDING = ("pico-ads1115", "esp32-ads1115")     # take the window-edge holds
EDGE_REFUSING = ("pico-internal", "esp32-internal")   # V_ERR_UV + 3 V_NOISE_UV > 5 mV
OVER_UV = 2000


def _code_x_r_uV(board, r):
    """One DAC code of the range the hold's current sits in, through the cell's R:
    the smallest voltage step the hold can make (the 2 mV overshoot is asserted where
    it is at most half of it: the hold dithers by one code)."""
    from boards import sim
    p = feprofiles.get(board)
    i = r["i_hold_max_nA"]
    fs = next(f for f in sim.RANGES_NA if i <= 0.9 * f)
    return fs / p["dac_codes_fs"] * 1e-3 * r["r0_ohm"]


def _matrix(board, seeds=(1, 2)):
    for cell in ("fig4", "max"):
        for rate in m.RATES:
            for sign in (1, -1):
                for seed in seeds:
                    try:
                        r = run(board, cell, rate, sign, seed=seed)
                    except ValueError as e:
                        yield (cell, rate, sign, seed), str(e)
                        continue
                    yield (cell, rate, sign, seed), r


@pytest.mark.parametrize("board", HOLDING)
def test_matrix_holds_the_window_on_every_profile_that_takes_it(board):
    runs = refused = 0
    for case, r in _matrix(board):
        if isinstance(r, str):
            # what it refuses it refuses by a named limit (the 8-bit DAC's holds,
            # every profile's max-cell 3C: HOLD_I_MAX_NA)
            assert "HOLD_I_MAX_NA" in r, (case, r)
            refused += 1
            continue
        runs += 1
        assert r["state"] == "done" and r["fault"] == "none", (case, r["fault"])  # 0 trips
        assert m.V_LO - TOL <= r["v_lo_uV"] and r["v_hi_uV"] <= m.V_HI + TOL, (case, r)
        if _code_x_r_uV(board, r) <= OVER_UV / 2:
            assert r["over_uV"] <= OVER_UV, (case, r["over_uV"])
        # the R estimate: never below 0.9 x the model's R0 (an estimate biased upwards
        # by the noise bound: the loop stays stable), and within 2.5 x the R a tick
        # sees (R0 and the RC's share in one tick) where the CC step moves the voltage
        # by 16 sigma of a tick's reading (a smaller step is mostly noise bound)
        assert 0.9 * r["r0_ohm"] <= r["r_est_ohm"], (case, r["r_est_ohm"], r["r0_ohm"])
        if r["i_cc_nA"] * r["r0_ohm"] * 1e-3 >= 16 * feprofiles.tick_noise_uV(board):
            assert r["r_est_ohm"] <= 2.5 * r["r_tick_ohm"], (case, r["r_est_ohm"],
                                                              r["r_tick_ohm"])
    assert runs >= 20 and refused <= 12


def _edge_margin_uV(board):
    """How far inside the window this profile takes holds and end voltages: its
    voltage error and HOLD_NOISE_SIGMA of its tick noise, less the 5 mV bound."""
    from boards import sim
    f = sim.channel_figures(board)
    return f["v_err_uV"] + protocol.HOLD_NOISE_SIGMA * f["v_noise_uV"] - TOL


@pytest.mark.parametrize("board", EDGE_REFUSING)
def test_noisy_profiles_refuse_edge_holds_and_hold_the_window_inside(board):
    margin = _edge_margin_uV(board)
    assert margin > 0
    runs = 0
    for case, r in _matrix(board, seeds=(1,)):
        # the window-edge holds: refused, naming the limit
        assert isinstance(r, str) and ("V_ERR_UV" in r or "HOLD_I_MAX_NA" in r), (case, r)
        cell, rate, sign, seed = case
        # the nearest hold it takes: the TRUE voltage still within the window's 5 mV
        # (its reading's error and noise are what the margin is for), no trip
        v_hold = m.V_HI - margin if sign > 0 else m.V_LO + margin
        for seed in (1, 2):
            try:
                r = run(board, cell, rate, sign, seed=seed, v_hold=v_hold)
            except ValueError as e:
                assert "HOLD_I_MAX_NA" in str(e), (case, str(e))
                break
            runs += 1
            assert r["state"] == "done" and r["fault"] == "none", (case, r["fault"])
            assert m.V_LO - TOL <= r["v_lo_uV"] and r["v_hi_uV"] <= m.V_HI + TOL, (case, r)
            assert r["r_est_ohm"] >= 0.9 * r["r0_ohm"], (case, r["r_est_ohm"])
    assert runs >= 16


def test_fast_lane_holds_stay_in_the_window():
    # the fast lane's representative: the recommended build, fig4 and the max cell at
    # C/10 (1 s ticks, the run-on steepest per tick) and 1C, both ways
    for cell, rate in (("fig4", "1C"), ("max", "C/10")):
        for sign in (1, -1):
            r = run("pico-ads1115", cell, rate, sign, seed=1)
            assert r["state"] == "done", r["fault"]
            assert m.V_LO - TOL <= r["v_lo_uV"] and r["v_hi_uV"] <= m.V_HI + TOL, r
            assert r["over_uV"] <= OVER_UV, r


def test_control_the_old_regulator_passes_the_window_on_the_max_cell(monkeypatch):
    # control for the matrix: the hold without the run-on model (the regulator as if
    # no R was ever measured: a plain integral through its default R) lets the max
    # cell's run-on at 1C carry the TRUE voltage past 2.6 V - 5 mV (about 13 mV past;
    # 3 mV with it). (At C/10 it did from the old OCV-based start, which put the cell at
    # rest just short of the end; from a start where the CC step runs its minute, issue
    # 13's cell runs on less there: 3.1 mV past without the model, 1.5 mV with it.)
    r = run("pico-ads1115", "max", "1C", -1, seed=1)
    assert r["v_lo_uV"] >= m.V_LO - TOL, r
    import regulator
    monkeypatch.setattr(regulator.Regulator, "_see", lambda self, v, dt: None)
    r = run("pico-ads1115", "max", "1C", -1, seed=1)
    assert r["v_lo_uV"] < m.V_LO - TOL, r


def test_a_hold_draws_no_more_than_its_cc_step_unless_lifted():
    p = protocol.load(m.lines("fig4", "1C", 1), 20000000, 500)
    cv = p.steps[1]
    assert cv.i_cap_nA == 83900
    lifted = protocol.load(m.lines("fig4", "1C", 1, i_lim=200000), 20000000, 500)
    assert lifted.steps[1].i_cap_nA == 200000
    for bad in (-1, 20000001, 100):
        with pytest.raises(ValueError, match="current limit"):
            protocol.load(m.lines("fig4", "1C", 1, i_lim=bad), 20000000, 500)
    # in closed loop the hold's command never passes the cap
    r = run("pico-ads1115", "fig4", "1C", 1)
    e = r["sim"].ch.engine
    assert r["state"] == "done"
    assert e.reg.i_nA <= 83900


def test_the_termination_filter_is_defined_in_time():
    # a step of current seen through the filter for the qualification time (5 s): the
    # board's 100 ms tick and simulate's 0.5 s and 1 s ticks agree within 2 %
    def filtered(dt, total_ms=5000):
        e = engine.Engine()
        e.i_f_nA = 0
        for _ in range(total_ms // dt):
            e._filter(10000, dt)
        return e.i_f_nA
    vals = [filtered(dt) for dt in (100, 500, 1000)]
    assert max(vals) - min(vals) < 200, vals
    # control: the old filter (1/4 per tick, whatever the tick) at 1 s ticks is 24 % off
    old = 0
    for _ in range(5):
        old += (10000 - old) // 4
    assert vals[0] - old > 2000


def test_simulate_and_the_virtual_board_take_a_profile(tmp_path):
    import argparse
    from boards import sim
    from host_tools import simulate, simboard
    p = argparse.ArgumentParser()
    simulate.add_arguments(p)
    args = p.parse_args(["quick", "--board", "pico-nonsense", "--quiet"])
    assert simulate.run(args) == 2     # refused, naming the profiles

    class Cfg:
        profile = "esp32-internal"
        cell = "fig4"
    fe = sim.make_frontend(Cfg, sim.make_clock(None))
    assert fe.model.profile == "esp32-internal" and fe.model.v_bits == 12
    assert sim.make_frontend(None, sim.make_clock(None)).model.profile == "pico-ads1115"
    simboard.write_config(str(tmp_path), profile="pico-internal")
    text = (tmp_path / simboard.CONFIG_FILE).read_text()
    assert "profile = 'pico-internal'" in text


class _ScriptedRanger:
    """Holds a range until told to switch (the autorange's interface for loop.py)."""

    def __init__(self, index):
        self.index = index
        self.i_nA = 0
        self.settling = False

    def update(self, now_ms, i_nA, set_nA):
        self.i_nA = i_nA

    def ensure(self, now_ms, set_nA):
        return self.index


def _switch_in_a_hold(monkeypatch=None):
    """pico-internal (its PWM output is off by 1.25 % of each range's FS: 25 uA on the
    2 mA range, 2.5 uA on 200 uA): the max cell's C/10 charge hold, regulating on the
    2 mA range, switched to the 200 uA range 20 s into the hold: the true current's jump
    at the switch (the reading before it against the truth after it)."""
    if monkeypatch is not None:   # the control: the hold keeps its command
        import channel
        monkeypatch.setattr(channel.Channel, "range_switched", lambda self, i: None)
    seen = {}

    def on_tick(sim):
        e = sim.ch.engine
        if "r" not in seen:
            seen["r"] = sim.ranger = _ScriptedRanger(2)
            sim.fe.select_range(2)
        if e.state == engine.RUNNING and e.step.kind == protocol.CV:
            seen["n"] = seen.get("n", 0) + 1
            if seen["n"] == 20:
                seen["r"].index = 1
                seen["before"] = sim.fe.true_i_nA
            elif seen["n"] == 21:
                seen["jump"] = abs(sim.fe.true_i_nA - seen["before"])
    v_hold = m.V_HI - _edge_margin_uV("pico-internal")
    r = run("pico-internal", "max", "C/10", 1, v_hold=v_hold, on_tick=on_tick)
    assert abs(seen["before"]) < 180000 and r["state"] == "done", (seen, r["state"])
    return seen["jump"]


def test_a_range_switch_in_a_hold_goes_on_from_the_current_that_flowed(monkeypatch):
    assert _switch_in_a_hold() < 5000
    # control: the hold's command, which made up for the 2 mA range's offset, applied on
    # the 200 uA range moves the true current by about the offsets' difference
    assert _switch_in_a_hold(monkeypatch) > 15000


def _esp32_internal_hold_end(channel_kwargs=None):
    # as benchmarks/fe_profiles.py measures terminations: 30 min of CC into the hold
    v_hold = m.V_HI - _edge_margin_uV("esp32-internal")
    return run("esp32-internal", "fig4", "C/10", 1, v_hold=v_hold, hold_s=36000,
                 cc_s=1800, max_ticks=200000, channel_kwargs=channel_kwargs)


def test_esp32_internal_ends_its_holds_on_the_current(monkeypatch):
    # the last session's esp32-internal never ended a hold on its current (its time
    # limit did): now it ends at C/46 with the true current within 10 % of it
    i_end = 83900 // 46
    r = _esp32_internal_hold_end()
    # a hold after a CC step that ran (fe_matrix.start_state: on issue 13's cell the
    # old OCV-based start ended the CC at its first tick, and the hold ended on its own
    # ramp-up from 0, at 1.37 uA); the noise hands over early by up to a few minutes
    assert r["cc_ms"] >= 1800000 // 2, r["cc_ms"]
    assert r["state"] == "done" and r["end_reason"] == engine.END_CURRENT, r["end_reason"]
    assert abs(r["i_end_true_nA"] - i_end) <= 0.1 * i_end, r["i_end_true_nA"]
    # control: a loop without its noise band (gain 1/16 within 3 sigma of a reading)
    # turns the reading's 2.2 mV of noise into current noise: the hold ends with the
    # true current far from C/46 (about 1.36 uA)
    import regulator
    monkeypatch.setattr(regulator, "BAND_UV", 0)
    monkeypatch.setattr(regulator, "BAND_SIGMA", 0)
    r = _esp32_internal_hold_end()
    assert abs(r["i_end_true_nA"] - i_end) > 0.1 * i_end, r["i_end_true_nA"]
