# The board files' numbers (every signal inside its converter's span, scale factors that
# agree, ranges from about 1 uA to 20 mA) and their factories, built on a `machine`
# stand-in wired to a model of the analog board (tests/chips.py).
import os
import sys

import pytest

import host_tools  # noqa: F401  (firmware/ and the repo root on sys.path)
import calibration
import chips
from boards import esp32, pico

BOARDS = [pico, esp32]
# FACTS: "a channel must source and sink from about 1 uA (C/76 of fig4 = 1.10 uA) to about
# 3.3 mA (3C of max)"; the paper's tester has 20 mA channels.
I_SMALLEST_NA = 1100
I_LARGEST_NA = 20000000


@pytest.mark.parametrize("b", BOARDS, ids=lambda b: b.NAME)
def test_ranges_cover_1_uA_to_20_mA_in_ascending_decades(b):
    r = b.RANGES_NA
    assert list(r) == sorted(r) and len(r) == len(b.SHUNTS_OHM)
    assert r[-1] >= I_LARGEST_NA and b.I_MAX_NA == r[-1]
    # The smallest current reads at >= 5 % of the lowest range's full scale.
    assert I_SMALLEST_NA * 20 >= r[0]
    assert 1 << len(b.RANGE_PINS) >= len(r)


@pytest.mark.parametrize("b", BOARDS, ids=lambda b: b.NAME)
def test_shunt_and_sense_scale_factors_agree(b):
    gn, gd = b.SENSE_GAIN
    for fs, ohm in zip(b.RANGES_NA, b.SHUNTS_OHM):
        assert fs * ohm // 1000 == b.SHUNT_FS_UV          # nA * Ohm = nV
        assert fs * fs * ohm < 0.05 * 1e18                 # < 50 mW in any shunt
    assert b.SHUNT_FS_UV * gn // gd == b.SENSE_FS_UV


def _adc_span(b):
    if b is pico:
        return 0, b.ADC_VREF_UV
    return b.ADC_MIN_UV, b.ADC_MAX_UV


@pytest.mark.parametrize("b", BOARDS, ids=lambda b: b.NAME)
def test_sense_and_cell_voltages_stay_inside_the_adc_span(b):
    lo, hi = _adc_span(b)
    # 110 % of full scale either way: above the 90 % up-range threshold, with margin.
    assert lo <= b.V_MID_UV - b.SENSE_FS_UV * 11 // 10
    assert b.V_MID_UV + b.SENSE_FS_UV * 11 // 10 <= hi
    n, d = b.V_DIV
    assert b.V_CELL_MAX_UV * d // n <= hi
    # FACTS: the cycling window 2.6 .. 4.1 V and sweeps down to 2.0 V read above the floor.
    assert 2000000 * d // n >= lo


def _dac_options(b):
    if b is pico:
        return [(b.DAC_BITS, b.DAC_SPAN_UV), (b.DAC_BITS, b.PWM_SPAN_UV)]
    return [(b.DAC_BITS, b.DAC_SPAN_UV), (b.MCP4725_BITS, b.MCP4725_SPAN_UV)]


@pytest.mark.parametrize("b", BOARDS, ids=lambda b: b.NAME)
def test_dac_reaches_full_scale_both_ways(b):
    for bits, span in _dac_options(b):
        codes_per_uV = (1 << bits) / span
        lo = (b.V_MID_UV - b.SENSE_FS_UV) * codes_per_uV
        hi = (b.V_MID_UV + b.SENSE_FS_UV) * codes_per_uV
        assert 0 <= lo and hi <= (1 << bits) - 1
        assert hi - lo >= 150  # at least 75 codes per full scale each way


def _two_section_rc(r_ohm, c_f, f_hz):
    """Two equal RC sections in cascade, the second loading the first:
    H(s) = 1 / (1 + 3 sRC + (sRC)^2). (|H| at f_hz, time to settle to half a 12-bit LSB
    after a full-scale step, s)."""
    import math
    rc = r_ohm * c_f
    t1, t2 = rc * 2 / (3 - math.sqrt(5)), rc * 2 / (3 + math.sqrt(5))
    w = 2 * math.pi * f_hz * rc
    h = 1 / abs(complex(1 - w * w, 3 * w))
    return h, t1 * math.log(t1 / (t1 - t2) * 8192)


def test_pico_pwm_is_a_12_bit_period_and_its_filter_kills_the_ripple_and_settles():
    import autorange
    assert abs(pico.PWM_FREQ - 125000000 / 4096) < 1
    h, settle_s = _two_section_rc(pico.PWM_FILTER_R_OHM, pico.PWM_FILTER_C_NF * 1e-9,
                                  pico.PWM_FREQ)
    lsb_uV = pico.PWM_SPAN_UV / 4096
    ripple_uV = 2 / 3.14159265 * pico.PWM_SPAN_UV * h     # the fundamental at 50 % duty
    assert ripple_uV < lsb_uV / 4
    assert settle_s * 1000 < autorange.SETTLE_MS
    # Control: the earlier 10 k / 1 uF sections took 240 ms, past the autorange settle.
    _, slow_s = _two_section_rc(10000, 1e-6, pico.PWM_FREQ)
    assert slow_s * 1000 > autorange.SETTLE_MS


def test_board_files_import_without_machine():
    # A fresh CPython imports both board files and never loads `machine`.
    import subprocess
    code = ("import sys, boards.pico, boards.esp32; "
            "assert 'machine' not in sys.modules; print(boards.pico.NAME, boards.esp32.NAME)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert p.returncode == 0 and p.stdout.split() == ["pico", "esp32"], p.stderr


# ---- the factories on a bench ----------------------------------------------------------

def _build(monkeypatch, b, port, bench, i2c_devices=(), **kw):
    m = chips.Machine(bench, port, i2c_devices)
    monkeypatch.setitem(sys.modules, "machine", m)
    if b is pico:
        bench.adc_nodes = {b.ADC_V_PIN: "v", b.ADC_I_PIN: "i", b.ADC_MID_PIN: "mid"}
    else:
        bench.adc_nodes = {b.ADC_V_PIN: "v", b.ADC_I_PIN: "i", b.ADC_MID_PIN: "mid"}
    return b.make_frontend(**kw), m


# (id, board, port, factory options, an MCP4725 on the bus)
CONFIGS = [
    ("pico-mcp4725-internal", pico, "rp2", dict(dac="mcp4725", adc="internal"), True),
    ("pico-pwm-internal", pico, "rp2", dict(dac="pwm", adc="internal"), False),
    ("pico-mcp4725-ads1115", pico, "rp2", dict(dac="mcp4725", adc="ads1115"), True),
    ("esp32-internal", esp32, "esp32", dict(dac="internal"), False),
    ("esp32-mcp4725", esp32, "esp32", dict(dac="mcp4725"), True),
    ("esp32-mcp4725-ads1115", esp32, "esp32", dict(dac="mcp4725", adc="ads1115"), True),
]


def _chips(bench, with_mcp):
    out = []
    if with_mcp:
        # The MCP4725's VDD is its reference: the analog board's REF (3.000 V).
        b = bench.board
        out.append(chips.MCP4725(vdd_uV=getattr(b, "MCP4725_SPAN_UV", b.DAC_SPAN_UV)))
        bench.dac = out[0]
    out.append(chips.ADS1115(source=bench.ain, latency=1))
    return out


def _setpoint_error_nA(fe, b, bits, span):
    # One DAC code in nA in the present range.
    gn, gd = b.SENSE_GAIN
    return span / (1 << bits) * 1000 * gd / (gn * b.SHUNTS_OHM[fe.range_index])


@pytest.mark.parametrize("name, b, port, kw, mcp", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_factory_sources_sinks_and_measures_on_every_range(monkeypatch, name, b, port, kw, mcp):
    bench = chips.Bench(b)
    fe, m = _build(monkeypatch, b, port, bench, _chips(bench, mcp),
                   calib=calibration.identity(len(b.RANGES_NA)), **kw)
    assert not bench.enabled() and bench.current_nA() == 0       # boots with the output off
    assert fe.range_index == len(b.RANGES_NA) - 1 == bench.range_index()
    bits = 12 if (mcp or kw.get("dac") == "pwm") else b.DAC_BITS
    if mcp:
        span = getattr(b, "MCP4725_SPAN_UV", b.DAC_SPAN_UV)
    else:
        span = getattr(b, "PWM_SPAN_UV", b.DAC_SPAN_UV) if kw.get("dac") == "pwm" else b.DAC_SPAN_UV
    for r, fs in enumerate(b.RANGES_NA):
        fe.select_range(r)
        assert bench.range_index() == r
        for frac in (-80, -20, 0, 20, 80):
            i = fs * frac // 100
            fe.set_current_nA(i)
            assert bench.enabled()
            fe.measure()
            true = bench.current_nA()
            step = _setpoint_error_nA(fe, b, bits, span)
            assert abs(true - i) <= step + 1, (r, i, true)
            # The reading: a 12-bit ADC LSB (0.73 mV of 1 V full scale) or better.
            assert abs(fe.i_nA - true) <= fs * 0.0025 + 1, (r, i, true, fe.i_nA)
            assert abs(fe.v_uV - bench.cell_uV()) <= 3000
    fe.off()
    assert not bench.enabled() and bench.current_nA() == 0
    fe.measure()
    assert abs(fe.v_uV - bench.ocv_uV) <= 3000


def test_setpoint_is_clamped_to_the_range(monkeypatch):
    bench = chips.Bench(pico)
    fe, _ = _build(monkeypatch, pico, "rp2", bench, _chips(bench, True),
                   calib=calibration.identity(4))
    fe.select_range(0)
    fe.set_current_nA(5000000)
    assert fe.i_set_nA == 20000 and abs(bench.current_nA() - 20000) < 50


def test_factory_refuses_to_run_without_a_calibration(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    bench = chips.Bench(pico)
    with pytest.raises(calibration.CalibrationError, match="calibrate"):
        _build(monkeypatch, pico, "rp2", bench, _chips(bench, True))
    assert not bench.enabled()


def test_factory_loads_the_stored_calibration(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    calibration.save(calibration.Calibration(1000000, 0, (1000000,) * 4, (0, 0, 0, 30000)))
    bench = chips.Bench(pico)
    fe, _ = _build(monkeypatch, pico, "rp2", bench, _chips(bench, True))
    fe.off()
    fe.measure()
    assert abs(fe.i_nA - 30000) <= 3000


@pytest.mark.parametrize("name, b, port, kw, mcp",
                         [CONFIGS[0], CONFIGS[2], CONFIGS[4]], ids=[CONFIGS[k][0] for k in (0, 2, 4)])
def test_two_point_calibration_against_a_reference_removes_part_errors(
        monkeypatch, name, b, port, kw, mcp):
    # Shunts off by up to 0.8 %, the sense amplifier's gain -0.3 % and offset +4 mV, the
    # divider +0.25 %: the nominal readings are off by up to 1 %; calibrated, < 0.1 %.
    errs = dict(shunt_err_ppm=(8000, -5000, 3000, -2000), gain_err_ppm=-3000,
                sense_offset_uV=4000, v_div_err_ppm=2500)
    bench = chips.Bench(b, **errs)
    n = len(b.RANGES_NA)
    fe, _ = _build(monkeypatch, b, port, bench, _chips(bench, mcp),
                   calib=calibration.identity(n), **kw)
    worst_before = 0
    i_points = []
    for r, fs in enumerate(b.RANGES_NA):
        fe.select_range(r)
        pts = []
        for frac in (-80, 80):
            fe.set_current_nA(fs * frac // 100)
            fe.measure()
            ref = bench.current_nA()   # the reference meter in series
            worst_before = max(worst_before, abs(fe.i_raw - ref) / fs)
            pts += [fe.i_raw, ref]
        i_points.append(tuple(pts))
    fe.off()
    v_pts = []
    for ocv in (2600000, 4100000):    # FACTS: cycling window
        bench.ocv_uV = ocv
        fe.measure()
        v_pts += [fe.v_raw, bench.cell_uV()]
    cal = calibration.fit(tuple(v_pts), i_points, b.NAME)
    calibration.check(cal, b.RANGES_NA)
    assert worst_before > 0.004
    fe.set_calibration(cal)
    for r, fs in enumerate(b.RANGES_NA):
        fe.select_range(r)
        for frac in (-60, -5, 5, 30, 60):
            want = fs * frac // 100
            fe.set_current_nA(want)
            fe.measure()
            true = bench.current_nA()
            assert abs(fe.i_nA - true) <= fs * 0.001 + 2, (r, want, true, fe.i_nA)
            # The setpoint goes through the inverse calibration: the true current is right too.
            assert abs(true - want) <= fs * 0.002 + 20, (r, want, true)
    fe.off()
    bench.ocv_uV = 3700000
    fe.measure()
    assert abs(fe.v_uV - 3700000) <= 1500


def test_fig4_c46_termination_is_measured_within_5_percent_with_autoranging(monkeypatch):
    # FACTS: termination currents (charge CV ends on average at C/46) and fig4 (1C = 83.9 uA):
    # C/46 = 1.82 uA. A CV-like decay from 1C, autoranged, on the Pico's internal ADC with
    # noise and part errors, calibrated first.
    import autorange
    errs = dict(shunt_err_ppm=(4000, -3000, 2000, -1000), sense_offset_uV=1500, noise_uV=800)
    bench = chips.Bench(pico, **errs)
    fe, _ = _build(monkeypatch, pico, "rp2", bench, _chips(bench, True),
                   calib=calibration.identity(4), dac="mcp4725", adc="internal")
    pts = []
    for r, fs in enumerate(pico.RANGES_NA):
        fe.select_range(r)
        p = []
        for frac in (-80, 80):
            fe.set_current_nA(fs * frac // 100)
            fe.measure()
            p += [fe.i_raw, bench.current_nA()]
        pts.append(tuple(p))
    fe.off()
    cal = calibration.fit((0, 0, 1000000, 1000000), pts)
    fe.set_calibration(cal)
    ar = autorange.AutoRange(fe.ranges_nA)
    i_set = 83900
    t = 0
    while True:
        fe.measure()
        r = ar.update(t, fe.i_nA, i_set)
        if r != fe.range_index:
            fe.select_range(r)
        fe.set_current_nA(i_set)
        t += 100
        if i_set == 1824 and not ar.settling and t > 1000000:
            break
        i_set = max(1824, i_set * 95 // 100)
        if i_set == 1824 and t < 1000000:
            t = 1000000
    readings = []
    for _ in range(10):
        fe.measure()
        readings.append(fe.i_nA)
    assert fe.range_index == 0
    true = bench.current_nA()
    assert abs(true - 1824) <= 1824 * 0.05
    assert abs(sum(readings) / 10 - true) <= true * 0.05


@pytest.mark.parametrize("b, port", [(pico, "rp2"), (esp32, "esp32")], ids=["pico", "esp32"])
def test_setup_hands_main_py_what_it_runs_on(monkeypatch, b, port):
    class Config:
        calib = calibration.identity(4)
        tick_ms = 200
    bench = chips.Bench(b)
    m = chips.Machine(bench, port, _chips(bench, True))
    m.cause = m.WDT_RESET
    monkeypatch.setitem(sys.modules, "machine", m)
    bench.adc_nodes = {b.ADC_V_PIN: "v", b.ADC_I_PIN: "i", b.ADC_MID_PIN: "mid"}
    hw = b.setup(Config)
    assert hw.reset_cause == "watchdog" and hw.tick_ms == 200
    assert hw.wdt is m.wdt and 0 < m.wdt.timeout <= 8388   # the RP2040's maximum
    assert not hw.fe.on and not bench.enabled()
    # the board file carries its default build's termination floor (above C/46 of fig4
    # for the RP2040's and the ESP32's own ADC; the recommended build's is below C/76,
    # FACTS: termination currents: tests/test_fe_termination.py)
    assert b.I_FLOOR_NA >= 500 and b.TICK_MS * 10 <= b.WDT_MS
    Config.wdt_ms = 0
    assert b.setup(Config).wdt is None


@pytest.mark.parametrize("b, port", [(pico, "rp2"), (esp32, "esp32")], ids=["pico", "esp32"])
def test_the_front_end_drives_the_cell_disconnect_relay(monkeypatch, b, port):
    # RELAY_EN (J3.10) is the front-end's: built open, closed by the board file at boot
    # after the cut-off latch is cleared, opened by disconnect() (every latched fault,
    # firmware/core/loop.py), closed again only by connect()
    class Config:
        calib = calibration.identity(4)
    bench = chips.Bench(b)
    m = chips.Machine(bench, port, _chips(bench, True))
    monkeypatch.setitem(sys.modules, "machine", m)
    bench.adc_nodes = {b.ADC_V_PIN: "v", b.ADC_I_PIN: "i", b.ADC_MID_PIN: "mid"}
    fe = b.setup(Config).fe
    relay = bench.pin(b.RELAY_PIN)
    assert relay.mode == chips.Pin.OUT and relay.v == 1 and fe.connected
    fe.set_current_nA(1000)
    fe.disconnect()
    assert relay.v == 0 and not fe.connected
    fe.off()
    assert relay.v == 0           # the output switching off does not close it
    fe.connect()
    assert relay.v == 1 and fe.connected
    assert 3000 <= b.RELAY_CLOSE_US <= 20000   # G6K-2F-Y: operate time 3 ms max


def test_calibration_save_programs_the_dac_power_up_code_to_zero_current(monkeypatch, tmp_path):
    # The MCP4725 wakes at its EEPROM code: after `calibrate save` that is zero current on
    # range 0 (the range the analog board resets to), with range 0's calibrated offset.
    monkeypatch.chdir(tmp_path)
    bench = chips.Bench(pico, sense_offset_uV=3000)
    devices = _chips(bench, True)
    dchip = devices[0]
    fe, _ = _build(monkeypatch, pico, "rp2", bench, devices, calib=calibration.identity(4))
    s = calibration.Session(fe, pico.RANGES_NA, path=str(tmp_path / "calib.json"), board="pico")
    fe.select_range(0)
    for frac in (-80, 80):
        fe.set_current_nA(pico.RANGES_NA[0] * frac // 100)
        fe.measure()
        s.point(0, fe.i_raw, bench.current_nA())
    fe.set_current_nA(5000)
    code_before = dchip.code
    reply = s.save()
    assert "power_up_code=%d" % fe.code_for(0, 0) in reply
    assert dchip.eeprom_code == fe.code_for(0, 0) != fe.mid_code   # the offset moved it
    assert dchip.code == code_before            # the running setpoint was put back
    fe.off()
    dchip.power_cycle()
    fe.select_range(0)
    fe._enable.value(1)                         # as if enabled right after a reset
    assert abs(bench.current_nA()) <= 20        # within about one DAC code of zero


def _calibrate_range0(monkeypatch, tmp_path, dac_points):
    # A DAC whose reference is 0.5 % high (its span, not the measurement, is off) and a
    # sense offset. `calibrate source` + `point` at -80 % and +80 % of range 0, then save.
    monkeypatch.chdir(tmp_path)
    bench = chips.Bench(pico, sense_offset_uV=2000)
    devices = _chips(bench, True)
    devices[0].vdd_uV = pico.DAC_SPAN_UV * 1005 // 1000
    fe, _ = _build(monkeypatch, pico, "rp2", bench, devices, calib=calibration.identity(4))
    s = calibration.Session(fe, pico.RANGES_NA, path=str(tmp_path / "calib.json"), board="pico")
    fe.select_range(0)
    for frac in (-80, 80):
        fe.set_current_nA(pico.RANGES_NA[0] * frac // 100)
        fe.measure()
        s.point(0, fe.i_raw, bench.current_nA())
    if not dac_points:
        s.dac_points = {}
    s.save()
    worst = 0
    for frac in (-60, -10, 10, 60):
        want = pico.RANGES_NA[0] * frac // 100
        fe.set_current_nA(want)
        worst = max(worst, abs(bench.current_nA() - want) / pico.RANGES_NA[0])
    return worst, s.current


def test_setpoint_path_has_its_own_calibration(monkeypatch, tmp_path):
    worst, cal = _calibrate_range0(monkeypatch, tmp_path, True)
    assert cal.dac_gain_ppm is not None and cal.dac_gain_ppm[0] != cal.i_gain_ppm[0]
    assert worst < 0.001          # within 0.1 % of full scale (the DAC's 14.7 nA code: 0.07 %)
    assert calibration.load(pico.RANGES_NA, str(tmp_path / "calib.json")) == cal


def test_control_setpoint_through_the_measurement_calibration_keeps_the_dac_error(
        monkeypatch, tmp_path):
    worst, cal = _calibrate_range0(monkeypatch, tmp_path, False)
    assert cal.dac_gain_ppm is None
    assert worst > 0.002          # the DAC's 0.5 % span error stays
