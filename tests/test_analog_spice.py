# The channel in ngspice (boards/analog/sim.py), on a deck generated from the same
# description as the KiCad netlist. Each hazard of the earlier design has a control case
# that shows the test can fail: it builds the old variant and the bound breaks.
import pytest

from boards.analog import channel, report, sim, spice

# No skip when ngspice is missing: a green run must mean the circuit was simulated
# (spice.run raises, naming scripts/setup.sh, which installs the Debian package).

RANGES = range(len(channel.RANGES_NA))


@pytest.fixture(scope="module")
def design():
    return channel.build()


def _fs(k):
    return channel.RANGES_NA[k] * 1e-9


# ---- DC -------------------------------------------------------------------------------

def _dc_budget(design, k):
    """Worst-case uncalibrated error, fraction of full scale, from the models' datasheet
    figures: in-amp offset x G and op-amp offset over the sense swing, the in-amp's bias
    drawn from LOAD over the full scale, half a DAC LSB."""
    ia = design.role("inamp").tpl.model
    oa = design.role("error_amp").tpl.model
    fs_v = design.sense_fs_V()
    return ((ia["vos"] * design.sense_gain() + oa["vos"]) / fs_v + ia["ib"] / _fs(k)
            + 0.5 * sim.V_REF / 4096 / fs_v)


def test_setpoint_code_gives_the_current_on_every_range_both_signs_at_2v6_and_4v1(design):
    rows = sim.dc_table(design)
    assert len(rows) == 4 * 2 * 2
    for k, v, i_set, i, err in rows:
        assert abs(err) / 100 <= _dc_budget(design, k), (k, v, i_set, i)
        assert (i > 0) == (i_set > 0)


def test_dac_lsb_in_current_per_range_is_vref_over_4096_g_r(design):
    for k, dac, ads, rp in sim.lsb_table(design):
        r = channel.SHUNTS_OHM[k]
        assert dac == pytest.approx(sim.V_REF / 4096 / (design.sense_gain() * r), rel=0.01)
        assert ads == pytest.approx(62.5e-6 / (design.sense_gain() * r))
        # The smallest current the paper asks for (C/76 of fig4, 1.10 uA, FACTS) is many
        # LSBs on range 0: 75 DAC codes, 877 ADS1115 counts.
        if k == 0:
            assert 1.10e-6 / dac > 50 and 1.10e-6 / ads > 500


def test_zero_current_does_not_move_with_3v3_or_the_reference(design):
    assert abs(sim.zero_shift(design, "v3v3", 1.01)) <= report.ZERO_SHIFT_MAX
    assert abs(sim.zero_shift(design, "ref", 1.01)) <= report.ZERO_SHIFT_MAX


def test_control_dac_on_3v3_moves_zero_with_the_rail():
    # Today's design: the MCP4725 runs from 3V3, V_MID from its own reference.
    shift = sim.zero_shift(channel.build(shared_ref=False), "v3v3", 1.01)
    assert abs(shift) > 100 * report.ZERO_SHIFT_MAX   # ~1.25 % of full scale


# ---- Loop -----------------------------------------------------------------------------
# Bound: 5 % overshoot. The loop is an integrator with one crossover (G R / (R + R0) /
# (2 pi R_I C_F): 0.4 .. 7.7 kHz) far below the in-amp's 200 kHz pole, so the ideal
# response has none; 5 % leaves room for the model's slew limits and keeps a CC step
# inside the firmware's 10 % mismatch band and the 105 % over-current trip.

@pytest.mark.parametrize("k", RANGES)
@pytest.mark.parametrize("r0", [300.0, 3.0], ids=["fig4-R0", "R0-3ohm"])
def test_setpoint_step_overshoot_bounded_on_every_range(design, k, r0):
    over, rise, final = sim.step_response(design, k, r0)
    assert over <= report.OVERSHOOT_MAX
    assert final > 0 and rise < 2e-3


def test_control_a_too_fast_integrator_overshoots():
    over, _, _ = sim.step_response(channel.build(c_int_f=10e-12), 0, 3.0)
    assert over > report.OVERSHOOT_MAX


# ---- Range switching under the firmware's sequence ------------------------------------

@pytest.mark.parametrize("old,new,i_A", sim.SWITCHES,
                         ids=["%d-%d" % (a, b) for a, b, _ in sim.SWITCHES])
def test_range_switch_never_exceeds_the_larger_current(design, old, new, i_A):
    peak, before, after = sim.range_switch(design, old, new, i_A,
                                           settle_us=sim.RANGE_SETTLE_US)
    assert before == pytest.approx(i_A, rel=0.02)
    assert after == pytest.approx(i_A, rel=0.02)
    assert peak <= report.SWITCH_PEAK_MAX * max(before, after)


def test_control_pins_before_code_overshoots_by_the_shunt_ratio(design):
    # The earlier sequence (select_range switched the pins, then wrote the code): about
    # 8 x the current for a moment on a 2 -> 3 switch into a low-R0 cell.
    peak, before, _ = sim.range_switch(design, 2, 3, 1.8e-3, legacy=True)
    assert peak > 3 * before


def test_control_setting_bit_0_first_passes_through_range_3(design):
    # 2 -> 1 is 10 -> 01: writing bit 0 first selects 11 (10 Ohm) for a moment.
    peak, before, _ = sim.range_switch(design, 2, 1, 1.5e-4, legacy=True)
    assert peak > 3 * before


# ---- Enable ---------------------------------------------------------------------------

@pytest.mark.parametrize("k", RANGES)
def test_enable_from_off_has_no_kick(design, k):
    peak, final = sim.enable_from_off(design, k)
    assert peak <= report.ENABLE_PEAK_MAX
    assert final == pytest.approx(1.0, abs=0.01)


def test_control_enable_without_the_dummy_load_kicks():
    peak, _ = sim.enable_from_off(channel.build(dummy_load=False, cutoff=False), 3)
    assert peak > 2.0


# ---- Cut-off without the MCU ------------------------------------------------------------

def test_over_voltage_opens_the_path_and_the_relay_with_the_mcu_idle(design):
    r = sim.cutoff_ov(design)
    assert r["t_cross"] is not None
    assert r["cut_s"] is not None and r["cut_s"] <= report.CUT_S_MAX
    assert r["relay_open_s"] is not None and r["relay_open_s"] <= report.RELAY_OPEN_S_MAX
    assert r["v_max"] <= r["trip_V"] + 0.02


def test_control_without_the_comparator_the_cell_passes_the_limit():
    r = sim.cutoff_ov(channel.build(cutoff=False))
    assert r["cut_s"] is None and r["v_max"] > 4.7


def test_over_current_from_a_bad_setpoint_is_cut(design):
    peak, end = sim.cutoff_oc(design)
    assert peak <= report.OC_PEAK_MAX and end < 0.01


def test_control_without_the_comparator_a_bad_setpoint_drives_150_percent():
    peak, end = sim.cutoff_oc(channel.build(cutoff=False))
    assert end > 1.4


# ---- Unpowered --------------------------------------------------------------------------

@pytest.mark.parametrize("v", [2.0, 4.5])
def test_unpowered_board_leaks_less_than_the_budget(design, v):
    assert abs(sim.unpowered_leakage(design, v)) <= report.LEAK_MAX_A


def test_control_without_the_relay_the_unpowered_board_drains_the_cell():
    assert abs(sim.unpowered_leakage(channel.build(relay=False), 4.1)) > 1e-6


# ---- The figures in docs/hardware.md ------------------------------------------------------

@pytest.mark.slow
def test_docs_figures_are_the_computed_ones(design):
    assert report.doc_block() == report.block(design, report.figures(design)), \
        "run: .venv/bin/python -m boards.analog.report"
