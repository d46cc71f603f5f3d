# The MCP4725 and ADS1115 drivers against register-level stand-ins of the chips
# (tests/chips.py), and the hot paths of the whole hardware side run under
# micropython.heap_lock() on the MicroPython unix port.
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

import host_tools  # noqa: F401  (puts firmware/ on sys.path)
import chips
from drivers import ads1115, mcp4725

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")


# ---- MCP4725 ---------------------------------------------------------------------------

def _dac(**kw):
    chip = chips.MCP4725(**kw)
    return chip, mcp4725.MCP4725(chips.I2CBus(chip), chip.addr)


@pytest.mark.parametrize("code", [0, 1, 0x0FF, 0x100, 1552, 2048, 0xABC, 4095])
def test_mcp4725_fast_write_sets_the_dac_register(code):
    chip, dac = _dac(vdd_uV=3300000)
    dac.write(code)
    assert chip.code == code and chip.pd == mcp4725.PD_NORMAL
    assert chip.vout_uV() == 3300000 * code // 4096
    assert dac.read()[0] == code  # the chip's own read-back agrees


@pytest.mark.parametrize("code, kept", [(-5, 0), (4096, 4095), (100000, 4095)])
def test_mcp4725_write_clamps_to_12_bits(code, kept):
    chip, dac = _dac()
    dac.write(code)
    assert chip.code == kept


@pytest.mark.parametrize("mode", [mcp4725.PD_1K, mcp4725.PD_100K, mcp4725.PD_500K])
def test_mcp4725_power_down_keeps_the_code_and_write_wakes_it(mode):
    chip, dac = _dac()
    dac.write(3000)
    dac.power_down(mode)
    assert chip.pd == mode and chip.code == 3000 and chip.vout_uV() == 0
    assert dac.read()[1] == mode
    dac.write(1000)
    assert chip.pd == mcp4725.PD_NORMAL and chip.code == 1000 and chip.vout_uV() > 0


def test_mcp4725_power_down_rejects_a_mode_that_is_not_off():
    _, dac = _dac()
    with pytest.raises(ValueError):
        dac.power_down(0)


def test_mcp4725_eeprom_write_survives_a_power_cycle_and_waits_for_ready():
    chip, dac = _dac(eeprom_code=0, eeprom_busy_reads=4)
    dac.write_eeprom(1552)
    assert chip.eeprom_code == 1552 and chip.eeprom_writes == 1
    assert chip._busy == 0  # the driver polled RDY until the write finished
    dac.write(4000)          # accepted: the EEPROM write is over
    assert chip.code == 4000 and chip.ignored == 0
    chip.power_cycle()
    code, pd, ee_code, ee_pd, ready, por = dac.read()
    assert (code, pd, ee_code, ee_pd, ready, por) == (1552, 0, 1552, 0, 1, 1)


def test_mcp4725_eeprom_power_down_mode_is_stored():
    chip, dac = _dac()
    dac.write_eeprom(2048, mcp4725.PD_100K)
    chip.power_cycle()
    assert chip.code == 2048 and chip.pd == mcp4725.PD_100K


def test_mcp4725_eeprom_that_never_finishes_is_an_error():
    chip, dac = _dac(eeprom_busy_reads=10 ** 6)
    with pytest.raises(OSError, match="EEPROM"):
        dac.write_eeprom(100)


def test_absent_chip_is_an_oserror():
    dac = mcp4725.MCP4725(chips.I2CBus(), 0x60)
    with pytest.raises(OSError):
        dac.write(1)
    adc = ads1115.ADS1115(chips.I2CBus(), 0x48)
    with pytest.raises(OSError):
        adc.convert(ads1115.config_word(0, 2, 7))


# ---- ADS1115 ---------------------------------------------------------------------------

def _adc(latency=3):
    chip = chips.ADS1115(latency=latency)
    return chip, ads1115.ADS1115(chips.I2CBus(chip), chip.addr)


def test_ads1115_config_word_matches_the_datasheet_reset_value():
    # Reset value 0x8583: OS=1, AIN0-AIN1, +-2.048 V, single-shot, 128 SPS, comparator off.
    w = ads1115.config_word(ads1115.MUX_0_1, ads1115.PGA_2048, ads1115.DR_128)
    assert w | 0x8000 == 0x8583
    chip, adc = _adc()
    assert adc.read_reg(ads1115.REG_CONFIG) == 0x8583
    assert adc.read_reg(ads1115.REG_LO_THRESH) == 0x8000
    assert adc.read_reg(ads1115.REG_HI_THRESH) == 0x7FFF


def test_ads1115_config_is_written_big_endian_through_the_pointer():
    chip, adc = _adc()
    w = ads1115.config_word(ads1115.MUX_2_G, ads1115.PGA_4096, ads1115.DR_860)
    adc.write_config(w)
    assert chip.regs[1] & 0x7FFF == w & 0x7FFF
    assert adc.read_reg(ads1115.REG_CONFIG) & 0x7FFF == w


def test_ads1115_config_word_rejects_bad_fields():
    with pytest.raises(ValueError):
        ads1115.config_word(8, 0, 0)
    with pytest.raises(ValueError):
        ads1115.config_word(0, 6, 0)


@pytest.mark.parametrize("pga, lsb_uV", [(0, 187.5), (1, 125), (2, 62.5), (3, 31.25),
                                         (4, 15.625), (5, 7.8125)])
def test_ads1115_raw_to_uv_is_full_scale_over_32768(pga, lsb_uV):
    assert lsb_uV * 32768 == ads1115.FULL_SCALE_UV[pga]
    for raw in (-32768, -12345, -1, 0, 1, 777, 32767):
        assert abs(ads1115.raw_to_uv(raw, pga) - raw * lsb_uV) <= 0.5


def test_ads1115_waits_for_the_conversion_not_the_stale_register():
    chip, adc = _adc(latency=5)
    ch = adc.channel(ads1115.MUX_0_G, ads1115.PGA_2048, ads1115.DR_860)
    chip.vin[0] = 1000000
    first = ch.read_uv()
    chip.vin[0] = 500000
    second = ch.read_uv()
    assert abs(first - 1000000) <= 62 and abs(second - 500000) <= 62
    assert chip.conversions == 2


def test_ads1115_differential_and_negative():
    chip, adc = _adc()
    chip.vin[:] = [1000000, 1750000, 0, 0]
    ch = adc.channel(ads1115.MUX_0_1, ads1115.PGA_1024)
    assert ch.read_raw() < 0
    assert abs(ch.read_uv() - -750000) <= 31


def test_ads1115_clips_at_full_scale():
    chip, adc = _adc()
    chip.vin[3] = 3000000
    assert adc.channel(ads1115.MUX_3_G, ads1115.PGA_2048).read_raw() == 32767


def test_ads1115_conversion_that_never_finishes_is_an_error():
    chip, adc = _adc(latency=10 ** 6)
    with pytest.raises(OSError, match="conversion"):
        adc.channel(0).read_uv()


class _Clock:
    """Each reading advances 100 us: an I2C register read at 400 kHz."""

    def __init__(self):
        self.t = 0

    def __call__(self):
        self.t += 100
        return self.t


@pytest.mark.parametrize("rate, polls, ok", [
    (ads1115.DR_8, 1250, True),      # 125 ms at 8 SPS: more than 1000 polls, still fine
    (ads1115.DR_8, 3500, False),     # 350 ms: past twice the period + 50 ms
    (ads1115.DR_860, 30, True),      # 3 ms at 860 SPS
    (ads1115.DR_860, 600, False),    # 60 ms: a conversion at 860 SPS is stuck by then
])
def test_ads1115_conversion_wait_is_bounded_by_time_not_by_polls(rate, polls, ok):
    chip = chips.ADS1115(latency=polls)
    adc = ads1115.ADS1115(chips.I2CBus(chip), chip.addr, ticks_us=_Clock())
    ch = adc.channel(ads1115.MUX_0_G, ads1115.PGA_2048, rate)
    if ok:
        ch.read_raw()
    else:
        with pytest.raises(OSError, match="did not finish"):
            ch.read_raw()


@settings(max_examples=200, deadline=None)
@given(mux=st.integers(0, 7), pga=st.integers(0, 5),
       vin=st.lists(st.integers(0, 3300000), min_size=4, max_size=4))
def test_ads1115_reads_every_input_pair_within_one_lsb(mux, pga, vin):
    chip, adc = _adc(latency=1)
    chip.vin[:] = vin
    p, n = ((0, 1), (0, 3), (1, 3), (2, 3), (0, -1), (1, -1), (2, -1), (3, -1))[mux]
    want = vin[p] - (vin[n] if n >= 0 else 0)
    fs = ads1115.FULL_SCALE_UV[pga]
    got = adc.channel(mux, pga).read_uv()
    lsb = fs / 32768
    if -fs < want < fs - lsb:
        assert abs(got - want) <= lsb / 2 + 1
    else:
        assert abs(got) >= fs - 2 * lsb  # clipped at a rail


# ---- allocation-free hot paths on MicroPython -------------------------------------------

HEAP_SCRIPT = r"""
import sys, micropython
import chips, frontend, autorange, calibration
from drivers import ads1115, mcp4725
import boards.pico as pico
bench = chips.Bench(pico, shunt_err_ppm=(3000, -2000, 1000, 500), sense_offset_uV=2000, noise_uV=300)
dchip = chips.MCP4725(vdd_uV=3300000)
achip = chips.ADS1115(source=bench.ain, latency=2)
bus = chips.I2CBus(dchip, achip)
bench.dac = dchip
dac = mcp4725.MCP4725(bus)
adc = ads1115.ADS1115(bus)
v_ch = adc.channel(ads1115.MUX_2_G, ads1115.PGA_4096)
i_ch = adc.channel(ads1115.MUX_0_1, ads1115.PGA_2048)
pins = [bench.pin(p) for p in pico.RANGE_PINS]
cal = calibration.Calibration(1001000, -300, (1003000, 998000, 1000500, 999000), (12, -50, 400, -3000))
fe = frontend.FrontEnd(dac, v_ch, i_ch, pins, bench.pin(pico.ENABLE_PIN), pico.RANGES_NA,
                       pico.SHUNTS_OHM, pico.SENSE_GAIN, 12, 3300000, pico.V_MID_UV, 0,
                       pico.V_DIV, 4096000, 2048000, cal, 4)
ar = autorange.AutoRange(pico.RANGES_NA)
setpoints = (3000000, 1500000, -250000, 90000, 1800, -1800, 15000000, 0)
micropython.heap_lock()
try:
    for k in range(400):
        i_set = setpoints[(k // 50) % 8]
        fe.measure()
        r = ar.update(k * 10, fe.i_nA, i_set)
        if r != fe.range_index:
            fe.select_range(r)
        fe.set_current_nA(i_set)
        dac.power_down(mcp4725.PD_500K)
        dac.write(fe.code)
    fe.off()
    fe.measure()
finally:
    micropython.heap_unlock()
print("switches", ar.switches, "range", fe.range_index, "i", fe.i_nA, "v", fe.v_uV)
print("HEAP-OK")
"""


@pytest.mark.skipif(not os.path.exists(MICROPYTHON), reason="no micropython unix port in .venv")
def test_hot_paths_allocate_nothing_under_micropython_heap_lock():
    env = dict(os.environ, MICROPYPATH=os.pathsep.join(
        host_tools.BOARD_PATH + [os.path.join(ROOT, "tests"), ".frozen"]))
    p = subprocess.run([MICROPYTHON, "-c", HEAP_SCRIPT], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 0 and "HEAP-OK" in p.stdout, p.stdout + p.stderr
    words = p.stdout.split()
    assert int(words[words.index("switches") + 1]) >= 4  # it really moved across ranges


# ---- TMP117 (cell temperature) ------------------------------------------------------------

class _Tmp117Chip:
    """Registers read big-endian after a pointer write (TMP117 datasheet 7.5.3)."""

    def __init__(self, raw, device_id=0x0117):
        self.addr = 0x49
        self.regs = {0x00: raw & 0xFFFF, 0x0F: device_id}
        self.pointer = 0
        self._n = 0

    def start(self, read):
        self._n = 0

    def stop(self):
        pass

    def rx(self, b):
        if self._n == 0:
            self.pointer = b
        self._n += 1

    def tx(self):
        v = self.regs[self.pointer]
        k = self._n
        self._n += 1
        return (v >> 8) if k == 0 else (v & 0xFF)


@pytest.mark.parametrize("raw, mC", [(0x0C80, 25000), (0x0F00, 30000), (0x0001, 8),
                                     (0xFF80, -1000), (0xFFFF, -8), (0x0000, 0)])
def test_tmp117_reads_the_datasheet_codes(raw, mC):
    from drivers import tmp117
    t = tmp117.TMP117(chips.I2CBus(_Tmp117Chip(raw)))
    t.check()
    assert t.read_mC() == mC    # 25 C (the paper's cells) is 0x0C80, 30 C 0x0F00


def test_tmp117_refuses_another_chip():
    from drivers import tmp117
    with pytest.raises(OSError, match="TMP117"):
        tmp117.TMP117(chips.I2CBus(_Tmp117Chip(0, device_id=0x0000))).check()
