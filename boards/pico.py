# Raspberry Pi Pico (RP2040) front-end: one coin-cell channel, +-1 uA .. +-20 mA.
# Data first, the factory last; `machine` is imported only inside make_frontend() so that
# CPython imports this file and tests its numbers (tests/test_boards.py).
#
# Wiring (one channel): the analog board is boards/analog/channel.py (schematic, BOM and
# SPICE figures in docs/hardware.md); its 2x8 header J3 ("to MCU") pin -> Pico pin:
#
#   J3.1  V3V3 ------------- 3V3(OUT) (pin 36): ADS1115, TMP117, I2C pull-ups, fault pull-up
#   J3.2/4 GND ------------- GND (pin 38)
#   J3.3  VBUS ------------- VBUS (pin 40): the relay coil (5 V)
#   J3.5  SDA -------------- GP4  I2C0 SDA (pin 6): MCP4725 0x60, ADS1115 0x48, TMP117 0x49
#   J3.6  SCL -------------- GP5  I2C0 SCL (pin 7)
#   J3.7  RANGE0 ----------- GP10 (pin 14)   range bits -> ADG1409 A0, A1 (force and sense
#   J3.8  RANGE1 ----------- GP11 (pin 15)   sections; 100 k pull-downs: range 0 at reset)
#   J3.9  EN_MCU ----------- GP14 (pin 19): output enable -> ADG1419 IN (100 k pull-down;
#                            low: the loop runs into the cell-voltage buffer, a dummy load)
#   J3.10 RELAY_EN --------- GP12 (pin 16): cell-disconnect relay K1 (open at reset)
#   J3.11 FAULT_N ---------- GP13 (pin 17): the hardware cut-off's latch (low = tripped)
#   J3.12 FAULT_CLR -------- GP16 (pin 21): driven low for 1 ms to clear the latch, else input
#   J3.13 V_SENSE ---------- GP27 ADC1 (pin 32)  [internal-ADC build]
#   J3.14 V_MID ------------ GP28 ADC2 (pin 34)  [internal-ADC build]: read to cancel it
#   J3.15 V_CELL_DIV ------- GP26 ADC0 (pin 31)  [internal-ADC build]: V_cell / 2
#   J3.16 REF (3.000 V) ---- ADC_VREF (pin 35): the board's REF3430 also references the ADC
#   GP15 PWM7B (pin 20) ---- [PWM-DAC build, in place of the MCP4725] 1 k - 1 uF - 1 k -
#                            1 uF RC filter -> V_SET
#   ADS1115 (the recommended build): AIN0 = V_SENSE, AIN1 = V_MID (current, differential),
#     AIN2 = V_CELL_DIV, AIN3 = cell sense- (AIN2 - AIN3: four-wire cell voltage)
#
# The current loop: a differential integrator drives the output until the in-amp's output
# equals the DAC voltage, so with the output enabled
#     V_sense = V_mid + G * I * R_shunt = V_dac   ->   I = (V_dac - V_mid) / (G * R_shunt).
# The DAC's VDD, V_mid (REF x 10/24) and the comparator thresholds all come from one
# REF3430 (3.000 V): a drifting 3V3 rail moves neither zero current nor the scale.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

NAME = "pico"
# What this board's image holds (`cycler deploy`; folders of the repository, each
# module by its flat name at the board's `/`). No simulation, no host-only code.
MANIFEST = ("firmware/core", "firmware/board")

# ---- Current ranges --------------------------------------------------------------------
# FACTS: "a channel must source and sink from about 1 uA (C/76 of fig4 = 1.10 uA) to about
# 3.3 mA (3C of max)"; the paper's Neware tester has 20 mA channels. Four decade ranges,
# ascending; each shunt drops 0.2 V at full scale (20 uA x 10 kOhm = 20 mA x 10 Ohm), little
# of the compliance, and 0.2 V x 20 mA = 4 mW in the 10 Ohm shunt.
RANGES_NA = (20000, 200000, 2000000, 20000000)
SHUNTS_OHM = (10000, 1000, 100, 10)          # 0.1 %, 25 ppm/K thin film
SHUNT_FS_UV = const(200000)                  # = RANGES_NA[k] * SHUNTS_OHM[k] / 1000
SENSE_GAIN = (309, 62)                       # INA826, G = 1 + 49.4 k / 12.4 k = 4.984
SENSE_FS_UV = const(996774)                  # G * SHUNT_FS_UV: the sense swing around V_mid

# ---- References ------------------------------------------------------------------------
V_MID_UV = const(1250000)      # REF x 10 / 24, buffered: zero current. V_mid +- 1.0 V
                               # = 0.25 .. 2.25 V stays inside both the DAC and ADC spans.

# ---- DAC: MCP4725 (default) or PWM -----------------------------------------------------
I2C_ID = const(0)
I2C_SDA = const(4)
I2C_SCL = const(5)
I2C_FREQ = const(400000)
MCP4725_ADDR = const(0x60)
DAC_BITS = const(12)
DAC_SPAN_UV = const(3000000)   # MCP4725: VOUT = VDD * code / 4096, VDD = REF (3.000 V)
# Zero current at code V_mid * 4096 / 3.0 V = 1706.7 -> 1707; full scale is +-0.997 V
# = +-1361 codes, i.e. 14.7 nA per code in the 20 uA range (SPICE: docs/hardware.md).
PWM_PIN = const(15)
PWM_FREQ = const(30517)        # 125 MHz / 4096: a 12-bit PWM period (TOP = 4095);
                               # duty_u16(code << 4) puts the 12-bit code in its top bits.
# The filter: two equal RC sections, R = 1 k, C = 1 uF. The second loads the first, so
# H(s) = 1 / (1 + 3 sRC + (sRC)^2): poles at tau = 2.618 RC = 2.62 ms and 0.382 RC =
# 0.38 ms (not two of RC), -3 dB at 59.6 Hz. At 30.5 kHz |H| = 2.72e-5: the PWM's
# fundamental (2 / pi x 3.3 V at 50 % duty) leaves 57 uV of ripple, 0.07 LSB (806 uV).
# A full-scale step settles to half an LSB of 12 bits in 2.62 ms x ln(1.17 x 8192) =
# 24 ms, inside autorange.SETTLE_MS (50 ms) after a range switch. The 10 k / 1 uF filter
# this replaces settled in 240 ms: after a range switch's 50 ms it was still 15 % off.
PWM_FILTER_R_OHM = const(1000)
PWM_FILTER_C_NF = const(1000)
PWM_SPAN_UV = const(3300000)   # the GPIO high level, IOVDD = 3V3. The cheap build's limit:
                               # this span is the 3V3 rail, not REF, so 1 % of 3V3 moves
                               # zero current by 1.3 % of full scale (calibrate warm, and
                               # prefer the MCP4725 for microampere holds).

# ---- ADC: the RP2040's own (default) or an ADS1115 -------------------------------------
ADC_V_PIN = const(26)
ADC_I_PIN = const(27)
ADC_MID_PIN = const(28)
ADC_VREF_UV = const(3000000)   # REF (3.000 V) from J3.16 on ADC_VREF (Pico datasheet 4.3;
                               # it overrides the Pico's 200 Ohm feed from 3V3: 1 mA)
# read_u16() scales the 12-bit result to 0..65535 (x16), so uV = u16 * 3.0 V / 65536:
# 45.8 uV per u16 step, 0.73 mV per 12-bit LSB.
# In current, an LSB / (G R) per range (docs/hardware.md has them from SPICE too):
#   range:           0 (20 uA)   1 (200 uA)   2 (2 mA)   3 (20 mA)
#   DAC (MCP4725):   14.7 nA     147 nA       1.47 uA    14.7 uA
#   ADS1115 +-2 V:   1.25 nA     12.5 nA      125 nA     1.25 uA
#   RP2040 ADC:      14.7 nA     147 nA       1.47 uA    14.7 uA
ADC_U16_SPAN = const(65536)
V_DIV = (2, 1)                 # 100 k / 100 k: V_cell = 2 * V_adc; 5 V cell -> 2.5 V
ADS1115_ADDR = const(0x48)
ADS_PGA_I = const(2)           # +-2.048 V: twice the +-1.0 V sense swing
ADS_PGA_V = const(1)           # +-4.096 V: a 5 V cell reads 2.5 V (inputs stay < VDD + 0.3 V)
ADS_RATE = const(7)            # 860 SPS: 1.2 ms per conversion

# ---- Pins ------------------------------------------------------------------------------
RANGE_PINS = (10, 11)          # bit 0, bit 1 of the range index
RELAY_PIN = const(12)          # high: the cell-disconnect relay closes (after <= 3 ms)
# connect() waits this long after RELAY_EN goes high: the G6K-2F-Y's operate time is 3 ms
# max (Omron G6K datasheet); 5 ms leaves margin for bounce before the first reading.
# The firmware opens the relay on every latched fault and closes it only at boot, `start`,
# `resume` or a calibration `source` (firmware/core/channel.py, docs/hardware.md).
RELAY_CLOSE_US = const(5000)
FAULT_PIN = const(13)          # FAULT_N: low while the hardware cut-off is latched
FAULT_CLR_PIN = const(16)      # low for FAULT_CLR_MS clears the latch; input otherwise
FAULT_CLR_MS = const(1)
# Switching to a lower-resistance shunt: frontend.FrontEnd writes the new range's code
# first (the old, larger shunt then carries a tenth of the current), waits this long for
# the loop to settle, then switches the pins. The loop's 10-90 % rise on the old range is
# 44 .. 180 us with the cell model (docs/hardware.md, figures), 1 ms is > 5 of them.
RANGE_SETTLE_US = const(1000)
ENABLE_PIN = const(14)

# ---- Limits ----------------------------------------------------------------------------
I_MAX_NA = const(20000000)     # the largest range's full scale
# The smallest termination current accepted (channel.Channel; protocol.py refuses a
# hold ending below it, naming I_FLOOR_NA): the smallest end current the default build
# (RP2040 ADC) ends a hold on with the true current within 5 % of it, MEASURED on its
# profile pico-internal (simulation/feprofiles.py i_end_min_nA, where the why is):
# 15 uA. Its reading's 1.0 mV per tick (V_NOISE_UV) through the hold's loop wanders the
# current by about 0.6 uA rms on fig4; C/46 of fig4 (1.82 uA, FACTS: termination
# currents) ends up to 48 % off. With the ADS1115 (profile pico-ads1115) 500 nA: setup()
# puts ADS_I_FLOOR_NA in its place when board_config.adc is "ads1115" (docs/hardware.md).
I_FLOOR_NA = 15000
TICK_MS = const(100)           # the control tick (10 Hz)
WDT_MS = const(5000)           # watchdog timeout: under the RP2040's 8388 ms maximum
# Front-end fault detection (firmware/core/safety.py, docs/reliability.md): the measured
# current may differ from the command by 10 % of it, but at least 2 % of the range's
# full scale (calibrated offsets and gains sit well inside that); a voltage reading
# identical for 50 ticks (5 s) while current is driven is a frozen input: the RP2040's ADC (several LSB of noise, 16x oversampled) or the ADS1115 (>= 1 LSB
#   of noise at 860 SPS)
#   never repeats that long.
MISMATCH_PCT = const(10)
MISMATCH_FS_PCT = const(2)
STUCK_TICKS = const(50)
V_CELL_MAX_UV = const(5000000) # the front-end measures up to 5 V (docs/architecture.md units)
# What the firmware is told about its voltage reading and DAC (firmware/core/channel.py),
# for the default build (adc="internal"; with adc="ads1115" setup() puts the ADS_
# figures below in their place): profile pico-internal of simulation/feprofiles.py, where each figure's
# datasheet source is. V_NOISE_UV: rms noise of one tick's oversampled reading (the
# regulator's band and R estimate, the safety's filter); V_ERR_UV: its error after
# calibration (holds closer to the window's edge than V_ERR_UV - 5 mV are refused);
# HOLD_I_MAX_NA: the largest hold current whose DAC code is <= 2.6 uA.
V_NOISE_UV = 1025
V_ERR_UV = 5000
HOLD_I_MAX_NA = const(1800000)
# The ADS1115 build's (adc="ads1115", profile pico-ads1115 of simulation/feprofiles.py:
# its voltage reading's tick noise and error, its measured termination floor); setup()
# puts them in place of the default build's above before the channel is built (the
# channel reads the board file's V_NOISE_UV, V_ERR_UV and I_FLOOR_NA when it is made).
ADS_V_NOISE_UV = const(60)
ADS_V_ERR_UV = const(1000)
ADS_I_FLOOR_NA = const(500)
OVERSAMPLE_INTERNAL = const(16)  # 16 x 3 reads of ~2 us each: noise / 4
OVERSAMPLE_ADS = const(4)        # 4 x 2 conversions x 1.2 ms = 10 ms of a 100 ms tick


class _PwmDac:
    """A 12-bit DAC made of a PWM pin and an RC filter: .write(code)."""

    def __init__(self, pwm):
        self.pwm = pwm

    def write(self, code):
        self.pwm.duty_u16(code << 4)


class _AdcUv:
    """machine.ADC as a read_uv() reader: (read_u16 - read_u16 of ref) * VREF / 65536."""

    def __init__(self, adc, ref=None):
        from units import fit_ratio, muldiv   # the integer helpers' one home
        self._muldiv = muldiv
        self.adc = adc
        self.ref = ref
        self.num, self.den = fit_ratio(ADC_VREF_UV, ADC_U16_SPAN, ADC_U16_SPAN)

    def read_uv(self):
        x = self.adc.read_u16()
        if self.ref is not None:
            x -= self.ref.read_u16()
        return self._muldiv(x, self.num, self.den)


def make_frontend(dac="mcp4725", adc="internal", calib=None, oversample=0):
    """The channel's FrontEnd. dac: "mcp4725" or "pwm"; adc: "internal" or "ads1115".

    calib None loads calib.json and refuses to run without a plausible one
    (calibration.CalibrationError); pass calibration.identity(4) to bring a board up.
    """
    import machine
    import time
    import calib_file   # calib.json without keeping calibration.py in the heap
    from frontend import FrontEnd

    if calib is None:
        calib = calib_file.load(RANGES_NA)
    # Output off first: the enable pin low before anything else moves.
    enable = machine.Pin(ENABLE_PIN, machine.Pin.OUT, value=0)
    ranges = [machine.Pin(p, machine.Pin.OUT, value=1) for p in RANGE_PINS]
    i2c = None
    if dac == "mcp4725" or adc == "ads1115":
        i2c = machine.I2C(I2C_ID, sda=machine.Pin(I2C_SDA), scl=machine.Pin(I2C_SCL), freq=I2C_FREQ)
    if dac == "mcp4725":
        from drivers.mcp4725 import MCP4725
        d = MCP4725(i2c, MCP4725_ADDR)
        span = DAC_SPAN_UV
    elif dac == "pwm":
        pwm = machine.PWM(machine.Pin(PWM_PIN))
        pwm.freq(PWM_FREQ)
        d = _PwmDac(pwm)
        span = PWM_SPAN_UV
    else:
        raise ValueError("dac must be 'mcp4725' or 'pwm', not %r" % (dac,))
    if adc == "internal":
        v_adc = _AdcUv(machine.ADC(machine.Pin(ADC_V_PIN)))
        i_adc = _AdcUv(machine.ADC(machine.Pin(ADC_I_PIN)), machine.ADC(machine.Pin(ADC_MID_PIN)))
        v_max = i_max = ADC_VREF_UV
        n = oversample or OVERSAMPLE_INTERNAL
    elif adc == "ads1115":
        from drivers.ads1115 import cell_readers
        v_adc, i_adc, v_max, i_max = cell_readers(i2c, ADS1115_ADDR, ADS_PGA_V, ADS_PGA_I,
                                                  ADS_RATE)
        n = oversample or OVERSAMPLE_ADS
    else:
        raise ValueError("adc must be 'internal' or 'ads1115', not %r" % (adc,))
    fe = FrontEnd(d, v_adc, i_adc, ranges, enable, RANGES_NA, SHUNTS_OHM, SENSE_GAIN,
                  DAC_BITS, span, V_MID_UV, 0, V_DIV, v_max, i_max, calib, n,
                  getattr(time, "sleep_us", None), RANGE_SETTLE_US,
                  machine.Pin(RELAY_PIN, machine.Pin.OUT, value=0), RELAY_CLOSE_US)
    connect_cell(machine, fe)
    return fe


def connect_cell(machine, fe):
    """With the output off: clear the cut-off latch (it powers up tripped), close the relay.

    Returns FAULT_N's pin (1 = no fault). The latch trips again by itself if the cell is
    past a limit; a tripped latch keeps the relay open whatever RELAY_EN says."""
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
    fe = make_frontend(dac=getattr(config, "dac", "mcp4725"), adc=getattr(config, "adc", "internal"), calib=getattr(config, "calib", None))
    wdt_ms = getattr(config, "wdt_ms", WDT_MS)
    wdt = machine.WDT(timeout=wdt_ms) if wdt_ms else None
    return Hardware(fe, TimeClock(time), wdt, cause, getattr(config, "tick_ms", TICK_MS))
