"""The front-end model (simulation/femodel.py): what a board would measure of the cell."""
import math

import pytest

import host_tools  # noqa: F401  (puts firmware/ on sys.path)
import cellmodel
import femodel


def _fe(**kw):
    cell = cellmodel.make_cell("fig4", soc0=0.5)
    return femodel.FrontEndModel(cell, **kw)


def _quiet(**kw):
    z = [0.0, 0.0, 0.0, 0.0]
    base = dict(v_noise_uV=0.0, i_noise_frac=0.0, oversample=1, offset_nA=z, gain_err=z,
                out_offset_nA=z, out_gain_err=z)
    base.update(kw)
    return _fe(**base)


def test_gauss_statistics():
    rng = femodel.XorShift32(5)
    xs = [rng.gauss() for _ in range(20000)]
    m = sum(xs) / len(xs)
    var = sum((x - m) ** 2 for x in xs) / len(xs)
    assert abs(m) < 0.03 and abs(var - 1.0) < 0.05
    u = [rng.random() for _ in range(20000)]
    assert 0.0 < min(u) and max(u) < 1.0 and abs(sum(u) / len(u) - 0.5) < 0.01


def test_voltage_quantised_to_one_lsb_without_noise():
    fe = _quiet()
    lsb = fe.v_lsb_uV
    assert lsb == pytest.approx(5e6 / 65536)
    for soc in (0.0, 0.37, 0.81, 1.0):
        fe.cell.set_soc(soc)
        fe.measure()
        assert abs(fe.v_uV - fe.true_v_uV) <= lsb / 2 + 1
        assert fe.v_raw == int(round(fe.true_v_uV / lsb))


def test_noise_and_oversampling():
    sigma = 2000.0
    spread = {}
    for n in (1, 16):
        fe = _quiet(v_noise_uV=sigma, oversample=n, seed=3)
        vs = []
        for _ in range(2000):
            fe.measure()
            vs.append(fe.v_uV)
        m = sum(vs) / len(vs)
        spread[n] = math.sqrt(sum((v - m) ** 2 for v in vs) / len(vs))
        assert abs(m - fe.true_v_uV) < 4 * spread[n] / math.sqrt(len(vs)) + fe.v_lsb_uV
    assert spread[1] == pytest.approx(sigma, rel=0.1)
    assert spread[16] == pytest.approx(sigma / 4, rel=0.15)


def test_dac_quantisation_and_range_clipping():
    fe = _quiet()
    fe.select_range(3)  # 20 uA full scale
    lsb = 20000 / 2048.0
    fe.set_current_nA(1234)
    assert fe.true_i_nA == pytest.approx(round(1234 / lsb) * lsb)
    fe.set_current_nA(50000)
    assert fe.true_i_nA <= 20000
    fe.set_current_nA(-50000)
    assert fe.true_i_nA == -20000
    fe.select_range(0)  # the same setpoint on 20 mA is within range, but coarse
    assert fe.true_i_nA == pytest.approx(-50000, abs=20000000 / 2048.0)
    with pytest.raises(ValueError):
        fe.select_range(4)


def test_range_clipping_includes_output_errors():
    fe = _quiet(out_gain_err=[0.0, 0.0, 0.0, 0.05])
    fe.select_range(3)
    fe.set_current_nA(20000)
    assert fe.true_i_nA == 20000  # the gain error would push it past full scale


def test_offset_and_gain_errors_show_in_the_measurement():
    fe = _quiet(offset_nA=[0.0, 0.0, 100.0, 0.0], gain_err=[0.0, 0.0, 0.01, 0.0],
                out_offset_nA=[0.0, 0.0, -50.0, 0.0])
    fe.select_range(2)  # 200 uA
    fe.set_current_nA(80000)
    set_lsb = 200000 / 2048.0
    assert fe.true_i_nA == pytest.approx(round(80000 / set_lsb) * set_lsb - 50.0)
    fe.measure()
    seen = fe.true_i_nA * 1.01 + 100.0
    assert abs(fe.i_nA - seen) <= 200000 / 32768.0
    fe.cal_offset_nA[2] = 100.0
    fe.cal_gain[2] = 1.01
    fe.measure()
    assert abs(fe.i_nA - fe.true_i_nA) <= 200000 / 32768.0


def test_drawn_errors_are_small_and_seeded():
    a, b, c = _fe(seed=11), _fe(seed=11), _fe(seed=12)
    assert a.offset_nA == b.offset_nA and a.gain_err == b.gain_err
    assert a.offset_nA != c.offset_nA
    for k, fs in enumerate(a.ranges_nA):
        assert abs(a.offset_nA[k]) <= 2e-4 * fs and abs(a.gain_err[k]) <= 1e-3
    for fe in (a, b):
        fe.select_range(2)
        fe.set_current_nA(-12345)
        fe.advance(1000)
        fe.measure()
    assert (a.v_raw, a.i_raw, a.v_uV, a.i_nA) == (b.v_raw, b.i_raw, b.v_uV, b.i_nA)


def test_off_is_open_circuit_and_advance_steps_the_cell():
    fe = _quiet()
    fe.select_range(2)
    soc0 = fe.cell.soc
    fe.set_current_nA(83900)  # about 1C of fig4
    v_on = fe.true_v_uV
    for _ in range(60):
        fe.advance(1000)
    dq = fe.true_i_nA * 1e-9 * 60.0
    assert fe.cell.soc == pytest.approx(soc0 + dq / fe.cell.capacity_As, rel=1e-9)
    v_before = fe.true_v_uV
    i_before = fe.true_i_nA
    fe.off()
    # open circuit: no current, and the ohmic drop vanishes at once
    assert fe.true_i_nA == 0.0
    assert v_before - fe.true_v_uV == pytest.approx(i_before * 1e-3 * fe.cell.r0, rel=1e-6)
    assert v_on < v_before
    soc1 = fe.cell.soc
    fe.advance(60000)
    assert fe.cell.soc == soc1
    fe.measure()
    assert abs(fe.i_nA) <= 200000 / 32768.0 and fe.v_uV > 2000000
    assert fe.t_ms == 120000


# --- the profiles' figures (simulation/feprofiles.py) -----------------------------------

def test_a_real_dac_has_its_usable_codes_only():
    # the ESP32's 8-bit DAC on 3V3 with zero at 1.25 V: 77.6 codes per full scale
    fe = _quiet(dac_codes_fs=77.6)
    fe.select_range(3)   # 20 uA
    fe.set_current_nA(1234)
    lsb = 20000 / 77.6
    assert fe.true_i_nA == pytest.approx(round(1234 / lsb) * lsb)
    # control: the default (12 bits bipolar) resolves it 25 times finer
    fe2 = _quiet()
    fe2.select_range(3)
    fe2.set_current_nA(1234)
    assert abs(fe2.true_i_nA - 1234) < 10 < abs(fe.true_i_nA - 1234)


def test_inl_bow_and_dnl_spikes_bias_the_voltage_reading():
    span = 6000000
    fe = _quiet(v_bits=12, v_span_uV=span, v_inl_uV=2900.0)
    fe.cell.set_soc(0.55)           # about 3.48 V: near mid-span, the bow's top
    fe.measure()
    assert abs(fe.v_uV - fe.true_v_uV) > 1500
    # a wide code (RP2040-E11): readings just above the spike code read as it
    lsb = span / 4096.0
    fe2 = _quiet(v_bits=12, v_span_uV=span, dnl_spikes=(2560,), dnl_width=8)
    fe3 = _quiet(v_bits=12, v_span_uV=span)   # control: no spike
    for f in (fe2, fe3):
        f.cell.set_soc(0.0)
        f.cell.v_V = 2565 * lsb * 1e-6   # a voltage 5 codes above the spike
        f.measure()
    assert fe2.v_raw == 2560 and fe3.v_raw == 2565


def test_the_output_settles_and_glitches_as_stated():
    fe = _quiet(settle_ms=20.0)
    fe.select_range(2)   # 200 uA
    fe.set_current_nA(100000)
    assert fe.true_i_nA < 60000          # switched on: still on its way (20 ms lag)
    fe.advance(10)
    assert 20000 < fe.true_i_nA < 80000
    fe.advance(200)
    assert fe.true_i_nA == pytest.approx(100000, rel=1e-3)
    # a range switch while on starts a glitch of 10 % of the new range for 1 ms
    g = _quiet(switch_ms=1.0, switch_glitch_frac=0.1)
    g.select_range(2)
    g.set_current_nA(1000)
    g.select_range(3)
    assert g._glitch_ms == 1.0 and abs(g._glitch_nA) == pytest.approx(2000)
    g.advance(100)
    assert g._glitch_ms == 0.0


def _stuck_charge_for(hours, monkeypatch=None, rail=None):
    if rail is not None:
        monkeypatch.setattr(femodel, "COMPLIANCE_UV", rail)
    fe = _fe()
    fe.select_range(2)
    fe.set_current_nA(83800)          # issue 10: a DAC stuck on after a fault, 83.8 uA
    fe.inject("dac_stuck")
    fe.off()
    assert fe.true_i_nA > 80000       # off() did not stop it
    top = 0.0
    for _ in range(int(hours * 360)):
        fe.advance(10000)
        top = max(top, fe.true_v_uV)
    return fe, top


def test_the_source_stops_at_its_compliance_voltage(monkeypatch):
    # a rail of 4.5 V: the model cell's side reaction holds it near 4.7 V at 83.8 uA, so
    # the board's 5 V rail would not be reached and the clamp not exercised
    fe, top = _stuck_charge_for(3, monkeypatch, rail=4500000)
    assert top <= 4500000 + 1000, top
    assert fe.true_i_nA < 83800      # at the rail it drives less than it was set to


def test_control_without_the_clamp_the_cell_goes_past_the_rail(monkeypatch):
    _fe_, top = _stuck_charge_for(3, monkeypatch, rail=10 ** 9)
    assert top > 4500000 + 100000, top


def test_an_open_relay_lets_no_current_into_the_cell_whatever_the_source_does():
    fe = _quiet()
    fe.select_range(2)
    fe.set_current_nA(83800)
    fe.advance(1000)
    assert fe.true_i_nA > 80000
    fe.inject("dac_stuck")
    fe.disconnect()
    soc = fe.cell.soc
    for i_nA in (-83800, 0, 83800):
        fe.set_current_nA(i_nA)
        fe.advance(60000)
        assert fe.true_i_nA == 0 and fe.cell.i_A == 0
    fe.off()
    fe.advance(60000)
    assert fe.cell.soc == soc and fe.true_i_nA == 0
    fe.measure()
    assert abs(fe.v_uV) < 1000 and fe.true_v_uV > 2000000   # the input sees an open lead
    # closing it: the stuck source drives the cell again (what the relay kept out)
    fe.connect()
    assert fe.true_i_nA > 80000
    fe.advance(60000)
    assert fe.cell.soc > soc


def test_control_a_closed_relay_passes_the_stuck_source():
    fe = _quiet()
    fe.select_range(2)
    fe.set_current_nA(83800)
    fe.inject("dac_stuck")
    fe.off()
    soc = fe.cell.soc
    fe.advance(60000)
    assert fe.connected and fe.true_i_nA > 80000 and fe.cell.soc > soc


def _rail_below_the_cell(monkeypatch, cell):
    # a stuck source charging a cell whose rest voltage is above the rail: at its rail
    # the (bipolar) source pulls current out of the cell
    monkeypatch.setattr(femodel, "COMPLIANCE_UV", 3600000)
    z = [0.0, 0.0, 0.0, 0.0]
    fe = femodel.FrontEndModel(cell, v_noise_uV=0.0, i_noise_frac=0.0, oversample=1,
                               offset_nA=z, gain_err=z, out_offset_nA=z, out_gain_err=z)
    fe.select_range(2)
    fe.set_current_nA(83800)
    fe.inject("dac_stuck")
    fe.off()
    return fe


def test_the_rail_holds_across_zero_with_a_charge_only_resistance(monkeypatch):
    # an aged cell has a resistance on charge only (cellmodel r_chg): the current the
    # rail drives is on the discharge side, where that resistance is not; the clamp
    # takes the secant on that side, so the terminals sit at the rail
    cell = cellmodel.make_cell("fig4", soc0=0.5, age0_cycles=100.0)
    assert cell.r_chg > 5 * cell.r0 and cell.ocv_V > 3.65
    fe = _rail_below_the_cell(monkeypatch, cell)
    assert fe.true_i_nA < 0
    assert abs(fe.true_v_uV - 3600000) < 1.0
    # control: the secant through the charge side (R0 + r_chg) leaves it far off
    i = 83800.0
    v1 = cell.voltage_if(i * 1e-9) * 1e6
    v0 = cell.voltage_if(0.0) * 1e6
    i_chg_side = i * (3600000 - v0) / (v1 - v0)
    assert abs(cell.voltage_if(i_chg_side * 1e-9) * 1e6 - 3600000) > 10000
