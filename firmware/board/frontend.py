# The front-end interface and a generic front-end built from parts handed in.
# It turns a current setpoint into a DAC code and oversampled ADC readings into calibrated
# uV and nA, in integers, without allocating. It never imports `machine`: board files make
# the pins, buses and chips and hand them in.
#
# The interface (docs/architecture.md, "Front-end interface"), duck typed:
#   measure()            oversample; update v_uV, i_nA (calibrated), v_raw, i_raw; no return
#   set_current_nA(i)    the output setpoint, + = charging; clamped to the present range
#   off()                output disabled (open circuit); voltage is still measured
#   ranges_nA            tuple of full-scale currents, ascending (index 0 = most sensitive)
#   range_index, select_range(n)
#   on                   True while the output is enabled
# `v_raw` (uV) and `i_raw` (nA) are the readings with the nominal scale factors of the
# board file and no calibration; calibration maps raw -> calibrated per range:
#   value = raw * gain_ppm / 1e6 + offset.
#
# The analog chain this class assumes (boards/pico.py shows it wired):
#   * a current source whose loop forces the sense-amplifier output to the DAC voltage:
#       V_sense = V_mid + G * I * R_shunt[range]   and   V_sense = V_dac when enabled;
#   * the sense-amplifier output read by `i_adc.read_uv()` (minus `sense_mid_uV`, which is
#     0 when the reader already subtracts V_mid, e.g. a differential input);
#   * the cell voltage through a divider, read by `v_adc.read_uv()`: V_cell = V_adc * k.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

from units import fit_ratio, muldiv, TICKS_MASK  # noqa: F401  (integer helpers: units.py)

_MAX_OVERSAMPLE = const(256)  # 256 x 3.3e6 uV stays below 2**30
_RAW_LIMIT = const(100000000)  # |raw| bound under which apply_ppm stays in small ints
_GAIN_DEV_MAX = const(100000)  # |gain - 1e6| ppm bound for apply_ppm


def apply_ppm(x, dev_ppm):
    """x * (1e6 + dev_ppm) / 1e6 in small ints, for |x| < 1e8 and |dev_ppm| <= 1e5.

    x = 10000 q + r (0 <= r < 10000), so q * dev and r * dev both stay below 2**30.
    """
    q = x // 10000
    r = x - q * 10000
    return x + (q * dev_ppm + (r * dev_ppm) // 10000) // 100


def inverse_dev_ppm(gain_ppm):
    """dev such that apply_ppm(apply_ppm(x, gain_ppm - 1e6), dev) ~ x (load time only)."""
    return (10 ** 12 + gain_ppm // 2) // gain_ppm - 1000000


class FrontEnd:
    """A current-source channel made of a DAC, two ADC readers, range and enable pins.

    dac          .write(code): the setpoint code, 0 .. 2**dac_bits - 1
    v_adc, i_adc .read_uv(): an integer in uV (cell-voltage divider output, sense output)
    range_pins   pins with .value(b), bit 0 first; range n drives bit k of n on pin k
    enable_pin   .value(1) connects the output stage to the cell, .value(0) opens it
    ranges_nA    full-scale currents, ascending; shunts_ohm the shunt of each range
    sense_gain   (num, den): the sense amplifier's gain G
    dac_bits, dac_span_uV   code c gives c * dac_span_uV / 2**dac_bits at the DAC pin
    set_mid_uV   V_mid: the DAC voltage for zero current
    sense_mid_uV what i_adc reads at zero current (0 for a differential reader)
    v_div        (num, den): V_cell = V_adc * num / den
    calib        an object with v_gain_ppm, v_offset_uV, i_gain_ppm[], i_offset_nA[]
                 (calibration.Calibration), or None for the nominal scale factors
    oversample   samples averaged per measure()
    sleep_us, settle_us   a sleep function (time.sleep_us) and how long select_range waits
                 for the loop between the new code and the pins of a lower-resistance
                 range (None, 0: no wait; the board file's RANGE_SETTLE_US)

    The sequences the analog board was simulated with (docs/hardware.md, SPICE figures):
    select_range to a lower-resistance shunt writes the new range's code first (the old,
    larger shunt then carries less current), waits settle_us, then switches the pins; to
    a higher-resistance shunt it switches the pins first (the old code then means less
    current), then writes the code. Either way no moment has the old setpoint on a lower
    resistance; the range pins clear before they set (see _set_range_pins). set_current_nA
    writes the code, then enables: while off, the loop runs
    into the board's dummy load, so enabling moves a settled current onto the cell.
    """

    def __init__(self, dac, v_adc, i_adc, range_pins, enable_pin, ranges_nA, shunts_ohm,
                 sense_gain, dac_bits, dac_span_uV, set_mid_uV, sense_mid_uV, v_div,
                 v_adc_max_uV, i_adc_max_uV, calib=None, oversample=16, sleep_us=None,
                 settle_us=0):
        n = len(ranges_nA)
        if n == 0 or len(shunts_ohm) != n:
            raise ValueError("ranges_nA and shunts_ohm need one entry per range")
        for k in range(1, n):
            if ranges_nA[k] <= ranges_nA[k - 1]:
                raise ValueError("ranges_nA must ascend (index 0 = most sensitive range)")
        if (1 << len(range_pins)) < n:
            raise ValueError("%d range pins select at most %d ranges, not %d"
                             % (len(range_pins), 1 << len(range_pins), n))
        if not 1 <= oversample <= _MAX_OVERSAMPLE:
            raise ValueError("oversample must be 1..%d" % _MAX_OVERSAMPLE)
        self._dac = dac
        self._sleep_us = sleep_us
        self._settle_us = settle_us if sleep_us is not None else 0
        self._v_adc = v_adc
        self._i_adc = i_adc
        self._range_pins = tuple(range_pins)
        self._enable = enable_pin
        self.ranges_nA = tuple(ranges_nA)
        self.shunts_ohm = tuple(shunts_ohm)
        self.oversample = oversample
        self._sense_mid = sense_mid_uV
        self._code_max = (1 << dac_bits) - 1
        gn, gd = sense_gain
        # DAC code of zero current: V_mid * 2**bits / span.
        self.mid_code = (set_mid_uV * (1 << dac_bits) + dac_span_uV // 2) // dac_span_uV
        # Per range: nA per sense-ADC uV is 1000 / (G * R) (nA * Ohm = nV = uV / 1000);
        # DAC codes per nA is G * R * 2**bits / (1000 * span).
        i_num, i_den, c_num, c_den = [], [], [], []
        for k in range(n):
            r = shunts_ohm[k]
            a, b = fit_ratio(1000 * gd, gn * r, i_adc_max_uV)
            i_num.append(a)
            i_den.append(b)
            a, b = fit_ratio(gn * r * (1 << dac_bits), 1000 * gd * dac_span_uV, 2 * ranges_nA[k])
            c_num.append(a)
            c_den.append(b)
        self._i_num, self._i_den = tuple(i_num), tuple(i_den)
        self._c_num, self._c_den = tuple(c_num), tuple(c_den)
        self._v_num, self._v_den = fit_ratio(v_div[0], v_div[1], v_adc_max_uV)
        self.set_calibration(calib)
        self.v_uV = 0
        self.i_nA = 0
        self.v_raw = 0
        self.i_raw = 0
        self.i_set_nA = 0
        self.code = self.mid_code
        self.on = False
        self.range_index = n - 1
        self.off()
        self.select_range(n - 1)

    def set_calibration(self, calib):
        self.calib = calib
        n = len(self.ranges_nA)
        if calib is None:
            self._v_dev, self._v_off = 0, 0
            self._i_dev = (0,) * n
            self._i_off = (0,) * n
            self._i_inv = (0,) * n
        else:
            if len(calib.i_gain_ppm) != n or len(calib.i_offset_nA) != n:
                raise ValueError("the calibration has %d ranges, this front-end %d"
                                 % (len(calib.i_gain_ppm), n))
            devs = [g - 1000000 for g in calib.i_gain_ppm] + [calib.v_gain_ppm - 1000000]
            for d in devs:
                if not -_GAIN_DEV_MAX <= d <= _GAIN_DEV_MAX:
                    raise ValueError("a calibration gain is %d ppm off 1e6 (at most +-%d)"
                                     % (d, _GAIN_DEV_MAX))
            self._v_dev = calib.v_gain_ppm - 1000000
            self._v_off = calib.v_offset_uV
            self._i_dev = tuple(g - 1000000 for g in calib.i_gain_ppm)
            self._i_off = tuple(calib.i_offset_nA)
            self._i_inv = tuple(inverse_dev_ppm(g) for g in calib.i_gain_ppm)
        # The setpoint path: its own gain and offset (true current = the code's nominal
        # current x gain + offset) when the calibration has them, else the inverse of the
        # measurement's (right when the DAC and the ADC see the same V_SENSE scale).
        dac_g = getattr(calib, "dac_gain_ppm", None) if calib is not None else None
        if dac_g:
            if len(dac_g) != n:
                raise ValueError("the calibration has %d DAC ranges, this front-end %d"
                                 % (len(dac_g), n))
            for g in dac_g:
                if not -_GAIN_DEV_MAX <= g - 1000000 <= _GAIN_DEV_MAX:
                    raise ValueError("a DAC calibration gain is %d ppm (at most 1e6 +-%d)"
                                     % (g, _GAIN_DEV_MAX))
            self._s_off = tuple(calib.dac_offset_nA)
            self._s_inv = tuple(inverse_dev_ppm(g) for g in dac_g)
        else:
            self._s_off = self._i_off
            self._s_inv = self._i_inv

    def select_range(self, n):
        """Switch the shunt; the setpoint is re-expressed in the new range's DAC codes,
        in the order that never puts the old setpoint on a lower resistance."""
        if not 0 <= n < len(self.ranges_nA):
            raise ValueError("range index %d outside 0..%d" % (n, len(self.ranges_nA) - 1))
        old = self.range_index
        if self.on and n != old and self.shunts_ohm[n] < self.shunts_ohm[old]:
            self.range_index = n
            self._write_setpoint()          # on the old shunt: R_new / R_old of the current
            if self._settle_us:
                self._sleep_us(self._settle_us)
            self._set_range_pins(n)
            return
        self._set_range_pins(n)
        self.range_index = n
        if self.on:
            self._write_setpoint()

    def _set_range_pins(self, n):
        # The pins change one after the other: clear bits first, then set them, so the
        # range selected for a moment in between is (old & n), a lower index (a larger
        # shunt) than both; 2 -> 1 set bit 0 first would pass through range 3.
        for bit in (0, 1):
            k = 0
            for p in self._range_pins:
                if (n >> k) & 1 == bit:
                    p.value(bit)
                k += 1

    def set_current_nA(self, i_nA):
        """Enable the output at i_nA, clamped to +- the present range's full scale."""
        fs = self.ranges_nA[self.range_index]
        if i_nA > fs:
            i_nA = fs
        elif i_nA < -fs:
            i_nA = -fs
        self.i_set_nA = i_nA
        self._write_setpoint()
        if not self.on:
            self._enable.value(1)
            self.on = True

    def code_for(self, i_nA, r):
        """The DAC code of a calibrated current in range r (clamped to the DAC's codes)."""
        # Calibrated current -> the nominal current that gives it -> DAC code.
        raw = apply_ppm(i_nA - self._s_off[r], self._s_inv[r])
        code = self.mid_code + muldiv(raw, self._c_num[r], self._c_den[r])
        if code < 0:
            code = 0
        elif code > self._code_max:
            code = self._code_max
        return code

    def command_raw_nA(self):
        """The nominal current of the present DAC code in the present range (what the
        code means with the board file's scale factors): the DAC path's raw value."""
        r = self.range_index
        return muldiv(self.code - self.mid_code, self._c_den[r], self._c_num[r])

    def _write_setpoint(self):
        code = self.code_for(self.i_set_nA, self.range_index)
        self.code = code
        self._dac.write(code)

    def store_power_up_code(self):
        """Program the DAC's power-up code (the MCP4725's EEPROM) to zero current on range
        0, the range the analog board resets to (pull-downs on the range pins), so a reset
        never wakes the DAC at an old setpoint. Returns the code, or None for a DAC without
        one (PWM, the ESP32's DAC1: they wake at 0 V, i.e. -1.25 V below zero current,
        into the enable switch's dummy load). Slow (EEPROM, ~50 ms): calibration only."""
        write_eeprom = getattr(self._dac, "write_eeprom", None)
        if write_eeprom is None:
            return None
        code = self.code_for(0, 0)
        write_eeprom(code)
        self._dac.write(self.code)   # the EEPROM write also set the output: put it back
        return code

    def off(self):
        """Open the output, then park the DAC at zero current."""
        self._enable.value(0)
        self.on = False
        self.i_set_nA = 0
        self.code = self.mid_code
        self._dac.write(self.mid_code)

    def measure(self):
        n = self.oversample
        sv = 0
        si = 0
        for _ in range(n):
            sv += self._v_adc.read_uv()
            si += self._i_adc.read_uv()
        v = muldiv(sv, 1, n)
        i = muldiv(si, 1, n) - self._sense_mid
        r = self.range_index
        self.v_raw = muldiv(v, self._v_num, self._v_den)
        self.i_raw = muldiv(i, self._i_num[r], self._i_den[r])
        self.v_uV = apply_ppm(self.v_raw, self._v_dev) + self._v_off
        self.i_nA = apply_ppm(self.i_raw, self._i_dev[r]) + self._i_off[r]


# ---- What a board file's setup() hands to main.py (boards/sim.py has the same shape) ----

class Hardware:
    def __init__(self, fe, clock, wdt, cause, tick_ms):
        self.fe = fe
        self.clock = clock
        self.wdt = wdt
        self.reset_cause = cause
        self.tick_ms = tick_ms


class TimeClock:
    """The real clock: ticks_ms() wraps at 2**30 like units.ticks_diff_ms expects."""

    def __init__(self, time_module):
        self._t = time_module

    def ticks_ms(self):
        return self._t.ticks_ms() & TICKS_MASK

    def sleep_ms(self, ms):
        self._t.sleep_ms(ms)


_CAUSES = (("PWRON_RESET", "power_on"), ("WDT_RESET", "watchdog"), ("HARD_RESET", "hard"),
           ("SOFT_RESET", "soft"), ("DEEPSLEEP_RESET", "deepsleep"))


def reset_cause_name(machine):
    c = machine.reset_cause()
    for attr, name in _CAUSES:
        if getattr(machine, attr, None) == c:
            return name
    return "unknown(%d)" % c
