# ESP32 DevKit (ESP32-WROOM-32) front-end: one coin-cell channel, +-1 uA .. +-20 mA.
# Data first, the factory last; `machine` is imported only inside make_frontend() so that
# CPython imports this file and tests its numbers (tests/test_boards.py).
#
# Wiring (one channel; the analog board is the Pico's, see boards/pico.py):
#
#   DevKit                       analog board
#   3V3 --------------------- MCP4725 VDD, 1.25 V reference supply
#   GPIO25 DAC1 ------------- control input (the 8-bit DAC; or the MCP4725 VOUT instead)
#   GPIO21 SDA, GPIO22 SCL -- MCP4725 (0x60), 4.7 k pull-ups to 3V3
#   GPIO36 (VP, ADC1_CH0) --- cell voltage: cell+ -> unity-gain CMOS buffer ->
#                             150 k / 100 k divider (V_adc = V_cell * 2 / 5)
#   GPIO39 (VN, ADC1_CH3) --- current-sense amplifier output V_sense
#   GPIO34 (ADC1_CH6) ------- V_mid, the 1.25 V reference (buffered); read to cancel drift
#   GPIO32, GPIO33 ---------- range select bits 0 and 1 -> dual 4:1 analog multiplexer
#   GPIO27 ------------------ output enable, 100 k pull-down (cell open at reset)
# ADC1 only: ADC2 is taken by the Wi-Fi radio. No strapping pins (0, 2, 5, 12, 15) are used.
# The ADC runs at 11 dB attenuation; read_uv() applies the chip's eFuse calibration. Its
# linear span is about 150 .. 2450 mV (MicroPython ESP32 quick reference), and every
# signal here stays inside it: V_sense 0.25 .. 2.25 V, the divided cell 0.4 .. 2.0 V
# for 1 .. 5 V.
#
# The current loop is the Pico's: I = (V_dac - V_mid) / (G * R_shunt).
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

NAME = "esp32"
# What this board's image holds (`cycler deploy`; folders of the repository, each
# module by its flat name at the board's `/`). No simulation, no host-only code.
MANIFEST = ("firmware/core", "firmware/board")

# ---- Current ranges (the same analog board as the Pico; derivation in boards/pico.py) ----
RANGES_NA = (20000, 200000, 2000000, 20000000)
SHUNTS_OHM = (10000, 1000, 100, 10)
SHUNT_FS_UV = const(200000)
SENSE_GAIN = (5, 1)
SENSE_FS_UV = const(1000000)
V_MID_UV = const(1250000)

# ---- DAC: the 8-bit DAC1 on GPIO25 (default) or an MCP4725 ------------------------------
DAC_PIN = const(25)
DAC_BITS = const(8)
DAC_SPAN_UV = const(3300000)   # DAC1: VOUT = VDD3P3 * code / 256
# Zero current at 1.25 V * 256 / 3.3 V = 97 (96.97); +-1.0 V is +-77.6 codes, so 258 nA per
# code in the 20 uA range: coarse; the MCP4725 (16 nA per code there) is the better choice
# for the fig4 cell's microampere currents.
I2C_ID = const(0)
I2C_SDA = const(21)
I2C_SCL = const(22)
I2C_FREQ = const(400000)
MCP4725_ADDR = const(0x60)
MCP4725_BITS = const(12)
MCP4725_SPAN_UV = const(3300000)

# ---- ADC1, 11 dB, read_uv() ------------------------------------------------------------
ADC_V_PIN = const(36)
ADC_I_PIN = const(39)
ADC_MID_PIN = const(34)
ADC_MIN_UV = const(150000)     # the 11 dB linear span (ESP32 quick reference)
ADC_MAX_UV = const(2450000)
ADC_READ_MAX_UV = const(3300000)  # the most read_uv() can return: bounds the scale factors
V_DIV = (5, 2)                 # 150 k / 100 k: V_cell = V_adc * 5 / 2
OVERSAMPLE = const(32)         # the ESP32 ADC is noisy (~ +-10 mV): 32 x 3 reads, noise / 5.7

# ---- Pins ------------------------------------------------------------------------------
RANGE_PINS = (32, 33)
ENABLE_PIN = const(27)

# ---- Limits ----------------------------------------------------------------------------
I_MAX_NA = const(20000000)
# The smallest termination current accepted (channel.Channel): 4 codes of the 8-bit DAC
# in the 20 uA range (258 nA per code); C/46 of fig4 (1.82 uA, FACTS) passes.
I_FLOOR_NA = const(1000)
TICK_MS = const(100)           # the control tick (10 Hz)
WDT_MS = const(5000)           # watchdog timeout: 50 ticks of slack
# Front-end fault detection (firmware/core/safety.py, docs/reliability.md): the measured
# current may differ from the command by 10 % of it, but at least 2 % of the range's
# full scale (calibrated offsets and gains sit well inside that); a voltage reading
# identical for 50 ticks (5 s) while current is driven is a frozen input: ADC1 at 11 dB (tens of mV of noise, read_uv)
#   never repeats that long.
MISMATCH_PCT = const(10)
MISMATCH_FS_PCT = const(2)
STUCK_TICKS = const(50)
V_CELL_MAX_UV = const(5000000)
# What the firmware is told about its voltage reading and DAC (firmware/core/channel.py),
# for the default build (ADC1, the 8-bit DAC): profile esp32-internal of simulation/feprofiles.py, where each figure's
# datasheet source is. V_NOISE_UV: rms noise of one tick's oversampled reading (the
# regulator's band and R estimate, the safety's filter); V_ERR_UV: its error after
# calibration (holds closer to the window's edge than V_ERR_UV - 5 mV are refused);
# HOLD_I_MAX_NA: the largest hold current whose DAC code is <= 2.6 uA.
V_NOISE_UV = const(2210)
V_ERR_UV = const(28000)
HOLD_I_MAX_NA = const(180000)


class _DiffUv:
    """Two read_uv() inputs as one differential reader: V_sense - V_mid."""

    def __init__(self, pos, neg):
        self.pos = pos
        self.neg = neg

    def read_uv(self):
        return self.pos.read_uv() - self.neg.read_uv()


def make_frontend(dac="internal", calib=None, oversample=0):
    """The channel's FrontEnd. dac: "internal" (GPIO25) or "mcp4725".

    calib None loads calib.json and refuses to run without a plausible one
    (calibration.CalibrationError); pass calibration.identity(4) to bring a board up.
    """
    import machine
    import calibration
    from frontend import FrontEnd

    if calib is None:
        calib = calibration.load(RANGES_NA)
    enable = machine.Pin(ENABLE_PIN, machine.Pin.OUT, value=0)
    ranges = [machine.Pin(p, machine.Pin.OUT, value=1) for p in RANGE_PINS]
    if dac == "internal":
        d = machine.DAC(machine.Pin(DAC_PIN))
        bits, span = DAC_BITS, DAC_SPAN_UV
    elif dac == "mcp4725":
        from drivers.mcp4725 import MCP4725
        i2c = machine.I2C(I2C_ID, sda=machine.Pin(I2C_SDA), scl=machine.Pin(I2C_SCL), freq=I2C_FREQ)
        d = MCP4725(i2c, MCP4725_ADDR)
        bits, span = MCP4725_BITS, MCP4725_SPAN_UV
    else:
        raise ValueError("dac must be 'internal' or 'mcp4725', not %r" % (dac,))
    adcs = []
    for p in (ADC_V_PIN, ADC_I_PIN, ADC_MID_PIN):
        a = machine.ADC(machine.Pin(p))
        a.atten(machine.ADC.ATTN_11DB)
        adcs.append(a)
    return FrontEnd(d, adcs[0], _DiffUv(adcs[1], adcs[2]), ranges, enable, RANGES_NA, SHUNTS_OHM,
                    SENSE_GAIN, bits, span, V_MID_UV, 0, V_DIV, ADC_READ_MAX_UV, ADC_READ_MAX_UV,
                    calib, oversample or OVERSAMPLE)


def setup(config=None):
    """What main.py runs on: Hardware(fe, clock, wdt, reset cause, tick_ms).

    config (board_config.py, optional) may set calib (a Calibration), tick_ms, wdt_ms
    (0: no watchdog) and the make_frontend options. The watchdog starts last, once the
    front-end is built and the output is off.
    """
    import machine
    import time
    from frontend import Hardware, TimeClock, reset_cause_name

    cause = reset_cause_name(machine)
    fe = make_frontend(dac=getattr(config, "dac", "internal"), calib=getattr(config, "calib", None))
    wdt_ms = getattr(config, "wdt_ms", WDT_MS)
    wdt = machine.WDT(timeout=wdt_ms) if wdt_ms else None
    return Hardware(fe, TimeClock(time), wdt, cause, getattr(config, "tick_ms", TICK_MS))
