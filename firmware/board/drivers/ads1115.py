# ADS1115: 16-bit delta-sigma I2C ADC with a PGA and a 4-input mux (TI SBAS444).
# Used single-shot: write the config with OS=1, poll OS until the conversion is done, read
# the conversion register. Read paths use preallocated buffers and integer-only scaling;
# they never allocate. Never builds its own bus: `i2c` is handed in.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

ADDR = const(0x48)  # ADDR pin to GND; 0x49 VDD, 0x4A SDA, 0x4B SCL

# Pointer register values (datasheet 9.6.1).
REG_CONVERSION = const(0)
REG_CONFIG = const(1)
REG_LO_THRESH = const(2)
REG_HI_THRESH = const(3)

# Config register fields (datasheet 9.6.3).
_OS = const(0x8000)          # write 1: start a single conversion; read 0: converting
_MODE_SINGLE = const(0x0100)
_COMP_DISABLE = const(0x0003)  # COMP_QUE = 11: comparator off, ALERT/RDY high-Z

# MUX[14:12]: the input pair (positive - negative).
MUX_0_1 = const(0)
MUX_0_3 = const(1)
MUX_1_3 = const(2)
MUX_2_3 = const(3)
MUX_0_G = const(4)
MUX_1_G = const(5)
MUX_2_G = const(6)
MUX_3_G = const(7)

# PGA[11:9]: full scale +-6.144, 4.096, 2.048, 1.024, 0.512, 0.256 V.
PGA_6144 = const(0)
PGA_4096 = const(1)
PGA_2048 = const(2)
PGA_1024 = const(3)
PGA_512 = const(4)
PGA_256 = const(5)
FULL_SCALE_UV = (6144000, 4096000, 2048000, 1024000, 512000, 256000)
# One LSB = full scale / 32768 = 187.5, 125, 62.5, 31.25, 15.625, 7.8125 uV, i.e.
# 375/2, 125/1, 125/2, 125/4, 125/8, 125/16: an integer times 2**-shift, exactly.
_LSB_NUM = (375, 125, 125, 125, 125, 125)
_LSB_SHIFT = (1, 0, 1, 2, 3, 4)

# DR[7:5]: samples per second.
RATES_SPS = (8, 16, 32, 64, 128, 250, 475, 860)
DR_8 = const(0)
DR_128 = const(4)
DR_860 = const(7)

# A single-shot conversion takes one data-rate period (datasheet 9.3.5: the data rate is
# within 10 %); convert() waits up to twice that plus 50 ms (I2C retries, a garbage
# collection on the board), by the clock: a count of polls gave up early at 8 SPS (125 ms,
# more than 1000 polls of ~100 us) and late at 860 SPS.
_PERIOD_US = (125000, 62500, 31250, 15625, 7813, 4000, 2106, 1163)
_MARGIN_US = const(50000)

try:
    from time import ticks_us as _ticks_us, ticks_diff as _ticks_diff  # type: ignore
except ImportError:  # CPython
    import time as _time
    _perf = getattr(_time, "perf_counter")  # not in the ports' time module: looked up

    def _ticks_us():
        return int(_perf() * 1000000)

    def _ticks_diff(a, b):
        return a - b


def config_word(mux, pga, rate, single=True):
    """The config register value (without OS) for an input pair, full scale and data rate."""
    if not (0 <= mux <= 7 and 0 <= pga <= 5 and 0 <= rate <= 7):
        raise ValueError("mux 0..7, pga 0..5 (6.144..0.256 V), rate 0..7 (8..860 SPS); "
                         "got %r %r %r" % (mux, pga, rate))
    return (mux << 12) | (pga << 9) | (_MODE_SINGLE if single else 0) | (rate << 5) | _COMP_DISABLE


def raw_to_uv(raw, pga):
    """A signed conversion result in uV at full scale `pga`, rounded; integers only."""
    s = _LSB_SHIFT[pga]
    if s == 0:
        return raw * _LSB_NUM[pga]
    return (raw * _LSB_NUM[pga] + (1 << (s - 1))) >> s


class ADS1115:
    def __init__(self, i2c, addr=ADDR, ticks_us=None):
        """ticks_us: a microsecond clock (default time.ticks_us), for the conversion wait."""
        self.i2c = i2c
        self.addr = addr
        self._ticks = ticks_us if ticks_us is not None else _ticks_us
        self._w = bytearray(2)
        self._r = bytearray(2)

    def write_config(self, word):
        b = self._w
        b[0] = (word >> 8) & 0xFF
        b[1] = word & 0xFF
        self.i2c.writeto_mem(self.addr, REG_CONFIG, b)

    def read_reg(self, reg):
        """A register as an unsigned 16-bit int (big-endian on the wire)."""
        b = self._r
        self.i2c.readfrom_mem_into(self.addr, reg, b)
        return (b[0] << 8) | b[1]

    def busy(self):
        return not (self.read_reg(REG_CONFIG) & _OS)

    def read_raw(self):
        """The conversion register as a signed int (-32768..32767)."""
        v = self.read_reg(REG_CONVERSION)
        if v & 0x8000:
            v -= 0x10000
        return v

    def convert(self, word):
        """One single-shot conversion with config `word`; the signed result. Allocation-free.

        Waits for OS = 1 up to twice the data rate's period + 50 ms, by the clock."""
        self.write_config(word | _OS)
        limit = 2 * _PERIOD_US[(word >> 5) & 7] + _MARGIN_US
        t0 = self._ticks()
        while self.busy():
            if _ticks_diff(self._ticks(), t0) > limit:
                raise OSError("ADS1115 at 0x%02x: conversion did not finish in %d us (OS bit "
                              "stayed 0)" % (self.addr, limit))
        return self.read_raw()

    def channel(self, mux, pga=PGA_2048, rate=DR_860):
        return Channel(self, mux, pga, rate)


class Channel:
    """One input pair at one full scale: a reader with `read_uv()` for the front-end."""

    def __init__(self, adc, mux, pga, rate):
        self.adc = adc
        self.pga = pga
        self.word = config_word(mux, pga, rate)
        self.full_scale_uV = FULL_SCALE_UV[pga]

    def read_raw(self):
        return self.adc.convert(self.word)

    def read_uv(self):
        return raw_to_uv(self.adc.convert(self.word), self.pga)


def cell_readers(i2c, addr, pga_v, pga_i, rate):
    """The analog board's two inputs on one ADS1115 (docs/hardware.md): the divided cell
    voltage on AIN2 against ground and the sense amplifier across AIN0-AIN1. Returns
    (voltage reader, current reader, voltage full scale uV, current full scale uV)."""
    chip = ADS1115(i2c, addr)
    return (chip.channel(MUX_2_G, pga_v, rate), chip.channel(MUX_0_1, pga_i, rate),
            FULL_SCALE_UV[pga_v], FULL_SCALE_UV[pga_i])
