# ESP32 DevKit (ESP32-WROOM-32) front-end: one coin-cell channel, +-1 uA .. +-20 mA.
# Data first, the factory last; `machine` is imported only inside make_frontend() so that
# CPython imports this file and tests its numbers (tests/test_boards.py).
#
# Wiring (one channel): the analog board is boards/analog/channel.py (docs/hardware.md);
# its header J3 ("to MCU") pin -> DevKit pin:
#
#   J3.1 V3V3 -> 3V3    J3.2/4 GND -> GND    J3.3 VBUS -> 5V (USB; the relay coil)
#   J3.5 SDA -> GPIO21, J3.6 SCL -> GPIO22: MCP4725 0x60, ADS1115 0x48, TMP117 0x49
#   J3.7 RANGE0 -> GPIO32, J3.8 RANGE1 -> GPIO33 (ADG1409 A0, A1)
#   J3.9 EN_MCU -> GPIO27 (ADG1419 IN; low: the loop runs into the dummy load)
#   J3.10 RELAY_EN -> GPIO26, J3.11 FAULT_N -> GPIO35 (input only), J3.12 FAULT_CLR -> GPIO19
#   J3.13 V_SENSE -> GPIO39 (VN, ADC1_CH3)     [internal-ADC build]
#   J3.14 V_MID -> GPIO34 (ADC1_CH6)           [internal-ADC build]: read to cancel drift
#   J3.15 V_CELL_DIV -> GPIO36 (VP, ADC1_CH0)  [internal-ADC build]: V_cell / 2
#   [internal-DAC build] GPIO25 DAC1 -> V_SET in place of the MCP4725 VOUT
# The recommended ESP32 build is the Pico's: MCP4725 + ADS1115 (dac="mcp4725",
# adc="ads1115"). The cheap build (8-bit DAC1, ADC1) is kept with its limits stated below:
# 235 nA per DAC code on range 0, DAC1 referenced to VDD3P3 (not REF: 1 % of 3V3 moves zero
# current by 1.3 % of full scale), ADC1 noise of tens of mV.
# ADC1 only: ADC2 is taken by the Wi-Fi radio. No strapping pins (0, 2, 5, 12, 15) are used.
# The ADC runs at 11 dB attenuation; read_uv() applies the chip's eFuse calibration. Its
# linear span is about 150 .. 2450 mV (MicroPython ESP32 quick reference), and every
# signal here stays inside it: V_sense 0.25 .. 2.25 V, the divided cell 1.0 .. 2.4 V for
# 2.0 .. 4.8 V.
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
SENSE_GAIN = (309, 62)
SENSE_FS_UV = const(996774)
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
MCP4725_SPAN_UV = const(3000000)  # VDD = REF (3.000 V)
ADS1115_ADDR = const(0x48)
ADS_PGA_I = const(2)           # +-2.048 V (boards/pico.py has the derivation)
ADS_PGA_V = const(1)           # +-4.096 V
ADS_RATE = const(7)            # 860 SPS
OVERSAMPLE_ADS = const(4)

# ---- ADC1, 11 dB, read_uv() ------------------------------------------------------------
ADC_V_PIN = const(36)
ADC_I_PIN = const(39)
ADC_MID_PIN = const(34)
ADC_MIN_UV = const(150000)     # the 11 dB linear span (ESP32 quick reference)
ADC_MAX_UV = const(2450000)
ADC_READ_MAX_UV = const(3300000)  # the most read_uv() can return: bounds the scale factors
V_DIV = (2, 1)                 # 100 k / 100 k on the analog board: V_cell = 2 V_adc
OVERSAMPLE = const(32)         # the ESP32 ADC is noisy (~ +-10 mV): 32 x 3 reads, noise / 5.7

# ---- Pins ------------------------------------------------------------------------------
RANGE_PINS = (32, 33)
ENABLE_PIN = const(27)
RELAY_PIN = const(26)
# connect() waits this long after RELAY_EN goes high: the G6K-2F-Y's operate time is 3 ms
# max (Omron G6K datasheet); 5 ms leaves margin for bounce before the first reading.
# The firmware opens the relay on every latched fault and closes it only at boot, `start`,
# `resume` or a calibration `source` (firmware/core/channel.py, docs/hardware.md).
RELAY_CLOSE_US = const(5000)
FAULT_PIN = const(35)
FAULT_CLR_PIN = const(19)
FAULT_CLR_MS = const(1)
RANGE_SETTLE_US = const(1000)  # boards/pico.py has the derivation

# ---- Limits ----------------------------------------------------------------------------
I_MAX_NA = const(20000000)
# The smallest termination current accepted (channel.Channel; protocol.py refuses a
# hold ending below it, naming I_FLOOR_NA): the default build (ADC1, the 8-bit DAC)
# has no end current from which on its holds end within 5 % of it (profile
# esp32-internal, simulation/feprofiles.py i_end_min_nA, where the why is: its DAC's
# 259 nA code is 14 % of C/46 of fig4, and its 2.2 mV reading noise through the hold's
# loop; 300 nA .. 55 uA, 6 seeds), so it takes no hold: the floor is above
# HOLD_I_MAX_NA (CC steps, rests and CR run). With an ADS1115 (profile esp32-ads1115)
# 1.82 uA: setup() puts ADS_I_FLOOR_NA in its place when board_config.adc is "ads1115".
I_FLOOR_NA = 180010
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
V_CELL_MAX_UV = const(4800000)  # 2.4 V at the ADC: the 11 dB span's top; above the
                                 # 4.61 V hardware over-voltage trip
# What the firmware is told about its voltage reading and DAC (firmware/core/channel.py),
# for the default build (ADC1, the 8-bit DAC): profile esp32-internal of simulation/feprofiles.py, where each figure's
# datasheet source is. V_NOISE_UV: rms noise of one tick's oversampled reading (the
# regulator's band and R estimate, the safety's filter); V_ERR_UV: its error after
# calibration (holds closer to the window's edge than V_ERR_UV - 5 mV are refused);
# HOLD_I_MAX_NA: the largest hold current whose DAC code is <= 2.6 uA.
V_NOISE_UV = 2210
V_ERR_UV = 28000
HOLD_I_MAX_NA = const(180000)
# The ADS1115 build's (adc="ads1115", profile esp32-ads1115 of simulation/feprofiles.py:
# its voltage reading's tick noise and error, its measured termination floor); setup()
# puts them in place of the default build's above before the channel is built (the
# channel reads the board file's V_NOISE_UV, V_ERR_UV and I_FLOOR_NA when it is made).
ADS_V_NOISE_UV = const(75)
ADS_V_ERR_UV = const(1000)
ADS_I_FLOOR_NA = const(1823)


class _DiffUv:
    """Two read_uv() inputs as one differential reader: V_sense - V_mid."""

    def __init__(self, pos, neg):
        self.pos = pos
        self.neg = neg

    def read_uv(self):
        return self.pos.read_uv() - self.neg.read_uv()


def make_frontend(dac="internal", calib=None, oversample=0, adc="internal"):
    """The channel's FrontEnd. dac: "internal" (GPIO25) or "mcp4725"; adc: "internal"
    (ADC1) or "ads1115" (the recommended build: dac="mcp4725", adc="ads1115").

    calib None loads calib.json and refuses to run without a plausible one
    (calibration.CalibrationError); pass calibration.identity(4) to bring a board up.
    """
    import machine
    import time
    import calib_file   # calib.json without keeping calibration.py in the heap
    from frontend import FrontEnd

    if calib is None:
        calib = calib_file.load(RANGES_NA)
    enable = machine.Pin(ENABLE_PIN, machine.Pin.OUT, value=0)
    ranges = [machine.Pin(p, machine.Pin.OUT, value=1) for p in RANGE_PINS]
    i2c = None
    if dac == "mcp4725" or adc == "ads1115":
        i2c = machine.I2C(I2C_ID, sda=machine.Pin(I2C_SDA), scl=machine.Pin(I2C_SCL), freq=I2C_FREQ)
    if dac == "internal":
        d = machine.DAC(machine.Pin(DAC_PIN))
        bits, span = DAC_BITS, DAC_SPAN_UV
    elif dac == "mcp4725":
        from drivers.mcp4725 import MCP4725
        d = MCP4725(i2c, MCP4725_ADDR)
        bits, span = MCP4725_BITS, MCP4725_SPAN_UV
    else:
        raise ValueError("dac must be 'internal' or 'mcp4725', not %r" % (dac,))
    if adc == "internal":
        adcs = []
        for p in (ADC_V_PIN, ADC_I_PIN, ADC_MID_PIN):
            a = machine.ADC(machine.Pin(p))
            a.atten(machine.ADC.ATTN_11DB)
            adcs.append(a)
        v_adc, i_adc = adcs[0], _DiffUv(adcs[1], adcs[2])
        v_max = i_max = ADC_READ_MAX_UV
        n = oversample or OVERSAMPLE
    elif adc == "ads1115":
        from drivers.ads1115 import cell_readers
        v_adc, i_adc, v_max, i_max = cell_readers(i2c, ADS1115_ADDR, ADS_PGA_V, ADS_PGA_I,
                                                  ADS_RATE)
        n = oversample or OVERSAMPLE_ADS
    else:
        raise ValueError("adc must be 'internal' or 'ads1115', not %r" % (adc,))
    fe = FrontEnd(d, v_adc, i_adc, ranges, enable, RANGES_NA, SHUNTS_OHM, SENSE_GAIN, bits,
                  span, V_MID_UV, 0, V_DIV, v_max, i_max, calib, n,
                  getattr(time, "sleep_us", None), RANGE_SETTLE_US,
                  machine.Pin(RELAY_PIN, machine.Pin.OUT, value=0), RELAY_CLOSE_US)
    connect_cell(machine, fe)
    return fe


def connect_cell(machine, fe):
    """With the output off: clear the cut-off latch (it powers up tripped), close the relay.
    Returns FAULT_N's pin (1 = no fault); boards/pico.py has the same."""
    import time
    machine.Pin(FAULT_CLR_PIN, machine.Pin.OUT, value=0)
    if hasattr(time, "sleep_ms"):
        time.sleep_ms(FAULT_CLR_MS)
    else:  # CPython (tests)
        time.sleep(FAULT_CLR_MS / 1000)
    machine.Pin(FAULT_CLR_PIN, machine.Pin.IN)
    fe.connect()   # RELAY_EN high (the front-end drives the relay from here on)
    return machine.Pin(FAULT_PIN, machine.Pin.IN)


def _ads_figures():
    """The ADS1115 build's figures in place of the default build's (setup())."""
    global V_NOISE_UV, V_ERR_UV, I_FLOOR_NA
    V_NOISE_UV, V_ERR_UV, I_FLOOR_NA = ADS_V_NOISE_UV, ADS_V_ERR_UV, ADS_I_FLOOR_NA


def setup(config=None):
    """What main.py runs on: Hardware(fe, clock, wdt, reset cause, tick_ms).

    config (board_config.py, optional) may set calib (a Calibration), tick_ms, wdt_ms
    (0: no watchdog) and the make_frontend options. The watchdog starts last, once the
    front-end is built and the output is off.
    """
    import machine
    import time
    from hardware import Hardware, reset_cause_name
    from timeclock import TimeClock

    cause = reset_cause_name(machine)
    if getattr(config, "adc", "internal") == "ads1115":
        _ads_figures()
    fe = make_frontend(dac=getattr(config, "dac", "internal"), calib=getattr(config, "calib", None),
                       adc=getattr(config, "adc", "internal"))
    wdt_ms = getattr(config, "wdt_ms", WDT_MS)
    wdt = machine.WDT(timeout=wdt_ms) if wdt_ms else None
    return Hardware(fe, TimeClock(time), wdt, cause, getattr(config, "tick_ms", TICK_MS))
