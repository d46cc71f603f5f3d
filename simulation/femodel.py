# A model of a cycler channel's front end, between the engine and the cell model:
# DAC-quantised current setpoint on a selectable range (clipped at its full scale,
# with offset and gain errors), and ADC readings of voltage and current with noise,
# quantisation and oversampling. The engine sees what a board would measure; the
# truth stays visible (true_v_uV, true_i_nA) for tests. Floats: simulation only,
# never in the heap-locked tick. Same interface as a board front-end
# (docs/architecture.md "Front-end interface") plus advance(dt_ms) for the clock,
# and inject(kind) / clear_faults() to break it on purpose (docs/reliability.md).
import math

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# Full scales of the current ranges (nA): 20 mA (the paper's Neware channels, FACTS:
# "5 V / 20 mA channels") down to 20 uA, so C/76 of fig4 (1.10 uA) is 5 % of a range.
RANGES_NA = (20000000, 2000000, 200000, 20000)

_U32 = const(0xFFFFFFFF)

# Faults inject() can put in (docs/reliability.md):
#   v_stuck      the voltage ADC's reading freezes at its last value
#   v_open_low   the voltage input is open and reads 0 (code 0)
#   v_open_high  the voltage input is open and reads full scale
#   i_open       the current path is broken: no current flows, the reading says so
#   cell_open    the cell is disconnected: no current, the source runs to its compliance
#                rail (COMPLIANCE_UV charging, 0 V discharging, 0 V when off)
#   short        an internal short: the terminal collapses to SHORT_OCV_UV + I x SHORT_OHM
#   range_raise  select_range() raises OSError (a bus or pin driver failing)
#   range_stay   select_range() returns but the range does not change
#   dac_stuck    off() does not stop the source: it keeps driving its last current
FAULT_KINDS = ("v_stuck", "v_open_low", "v_open_high", "i_open", "cell_open", "short",
               "range_raise", "range_stay", "dac_stuck")
COMPLIANCE_UV = 5000000       # the current source's rail (FACTS: 5 V / 20 mA channels)
SHORT_OCV_UV = 300000         # what is left of the cell's voltage behind a short
SHORT_OHM = 5.0


class XorShift32:
    """A seedable generator that gives the same numbers under CPython and MicroPython
    (MicroPython's random has one global state and no gauss)."""

    def __init__(self, seed=1):
        self.x = (seed * 2654435761 + 0x9E3779B9) & _U32 or 0x12345678
        self._spare = None

    def next_u32(self):
        x = self.x
        x ^= (x << 13) & _U32
        x ^= x >> 17
        x ^= (x << 5) & _U32
        self.x = x
        return x

    def random(self):
        """Uniform in (0, 1)."""
        return (self.next_u32() + 0.5) / 4294967296.0

    def gauss(self):
        """Standard normal (Box-Muller, the second value kept for the next call)."""
        s = self._spare
        if s is not None:
            self._spare = None
            return s
        c, s = self.gauss2()   # (no value kept: a new pair)
        self._spare = s
        return c

    def gauss2(self):
        """The next two values gauss() would give, in one call (the measurement's two
        inputs draw one each every simulated tick)."""
        # two random() draws, next_u32 inlined
        x = self.x
        x ^= (x << 13) & _U32
        x ^= x >> 17
        x ^= (x << 5) & _U32
        u = (x + 0.5) / 4294967296.0
        x ^= (x << 13) & _U32
        x ^= x >> 17
        x ^= (x << 5) & _U32
        self.x = x
        r = math.sqrt(-2.0 * math.log(u))
        a = 6.283185307179586 * ((x + 0.5) / 4294967296.0)
        s = self._spare
        if s is None:
            return r * math.cos(a), r * math.sin(a)
        self._spare = r * math.sin(a)   # the kept value first, then the new pair's
        return s, r * math.cos(a)


class FrontEndModel:
    """One channel: a bipolar current source with ranges, and two ADC inputs.

    Parameters (defaults in brackets):
      cell          a cellmodel.CellModel (step(dt_s, i_A), v_V)
      ranges_nA     full-scale currents [RANGES_NA]
      v_bits, v_span_uV   voltage ADC: unipolar 0 .. span [16 bits over 0 .. 5.0 V]
      v_noise_uV    rms noise of one voltage sample [150 uV, about one LSB]
      i_bits        current ADC: bipolar +- full scale of the range [16]
      i_noise_frac  rms noise of one current sample, fraction of full scale [1e-4]
      oversample    samples summed per measure() [4]
      dac_bits      setpoint DAC, bipolar +- full scale of the range [12]
      offset_nA, gain_err   per range, errors of the current measurement; if None
                    they are drawn from the RNG within +-offset_frac x FS and +-gain_frac
      out_offset_nA, out_gain_err   per range, errors of the output current, same rule
      offset_frac, gain_frac   spread of the drawn errors [2e-4, 1e-3]
      seed          RNG seed [1]
    The readings (v_uV, i_nA) are converted with the nominal scale only: the board's
    calibration, if any, is someone else's job; cal_offset_nA and cal_gain (per range)
    are applied if set: i_nA = (nominal - cal_offset_nA) / cal_gain.
    """

    def __init__(self, cell, ranges_nA=RANGES_NA, v_bits=16, v_span_uV=5000000,
                 v_noise_uV=150.0, i_bits=16, i_noise_frac=1e-4, oversample=4,
                 dac_bits=12, offset_nA=None, gain_err=None, out_offset_nA=None,
                 out_gain_err=None, offset_frac=2e-4, gain_frac=1e-3, seed=1,
                 range_index=0, fast=False, profile=None, v_inl_uV=0.0, dnl_spikes=(),
                 dnl_width=0, i_inl_frac=0.0, dac_codes_fs=0.0, dac_zero_code_err=0.0,
                 dac_inl_lsb=0.0, settle_ms=0.0, out_offset_frac=None, out_gain_frac=None,
                 drift_frac=0.0, drift_period_s=3600.0, v_gain_err=0.0, switch_ms=0.0,
                 switch_glitch_frac=0.0, enable_ms=0.0, enable_glitch_frac=0.0,
                 leak_nA=0.0):
        self.cell = cell
        self.profile = profile
        self.fast = fast
        self.ranges_nA = tuple(ranges_nA)
        n = len(self.ranges_nA)
        self.rng = XorShift32(seed)
        self.v_bits = v_bits
        self.v_span_uV = v_span_uV
        self.v_lsb_uV = v_span_uV / float(1 << v_bits)
        self.v_code_max = (1 << v_bits) - 1
        self.v_noise_uV = float(v_noise_uV)
        self.i_bits = i_bits
        self.i_code_max = (1 << (i_bits - 1)) - 1  # bipolar: -2**(b-1) .. 2**(b-1)-1
        self.i_noise_frac = float(i_noise_frac)
        self.oversample = int(oversample)
        if self.oversample < 1:
            raise ValueError("oversample must be >= 1 (e.g. 4)")
        self.dac_bits = dac_bits
        self.dac_code_max = (1 << (dac_bits - 1)) - 1
        # A real DAC's usable codes: dac_codes_fs per full scale (e.g. 1241.2 of an
        # MCP4725 on 3V3 with zero at 1.25 V; 0: 2**(bits-1)), its zero code off by
        # dac_zero_code_err codes, an INL bow of dac_inl_lsb codes at mid-span.
        self.dac_codes_fs = float(dac_codes_fs) if dac_codes_fs else float(self.dac_code_max + 1)
        if dac_codes_fs:
            self.dac_code_max = int(dac_codes_fs)
        self.dac_zero_err = float(dac_zero_code_err)
        self.dac_inl = float(dac_inl_lsb)
        # ADC nonlinearity: a bow of v_inl_uV at mid-span (signed by the seed), DNL
        # spikes (wide codes, the next dnl_width - 1 codes missing: RP2040-E11); the
        # current input's bow i_inl_frac of full scale; v_gain_err: the voltage
        # reading's residual gain error after calibration (signed by the seed).
        self.v_inl_uV = float(v_inl_uV)
        self.dnl_spikes = tuple(dnl_spikes)
        self.dnl_width = int(dnl_width)
        self.i_inl_frac = float(i_inl_frac)
        # the output: a first-order lag of settle_ms, a slow drift of its offset
        # (drift_frac of FS over drift_period_s: the 3V3 rail's temperature), a
        # transient of switch_glitch_frac x FS for switch_ms after a range switch,
        # of enable_glitch_frac x FS for enable_ms when the output is switched on,
        # and leak_nA through the open switch (always flowing)
        self.settle_ms = float(settle_ms)
        self.drift_frac = float(drift_frac)
        self.drift_period_ms = float(drift_period_s) * 1000.0
        self.switch_ms = float(switch_ms)
        self.switch_glitch_frac = float(switch_glitch_frac)
        self.enable_ms = float(enable_ms)
        self.enable_glitch_frac = float(enable_glitch_frac)

        def draw(given, spread, scale):
            if given is not None:
                return [float(x) for x in given]
            return [spread * scale[k] * (2.0 * self.rng.random() - 1.0) for k in range(n)]

        ones = [1.0] * n
        fs = [float(x) for x in self.ranges_nA]
        self.offset_nA = draw(offset_nA, offset_frac, fs)
        self.gain_err = draw(gain_err, gain_frac, ones)
        self.out_offset_nA = draw(out_offset_nA, offset_frac if out_offset_frac is None
                                  else out_offset_frac, fs)
        self.out_gain_err = draw(out_gain_err, gain_frac if out_gain_frac is None
                                 else out_gain_frac, ones)
        sgn = 1.0 if self.rng.random() < 0.5 else -1.0
        self.v_inl_uV *= sgn
        self.i_inl_frac *= -sgn
        self.dac_inl *= 1.0 if self.rng.random() < 0.5 else -1.0
        self.v_gain_err = float(v_gain_err) * (2.0 * self.rng.random() - 1.0)
        self.drift_phase = 6.283185307179586 * self.rng.random()
        self.leak_nA = float(leak_nA) * (1.0 if self.rng.random() < 0.5 else -1.0)
        self._glitch_nA = 0.0      # the transient in force and how long it lasts
        self._glitch_ms = 0.0
        self._target_nA = 0.0      # where the lagging output is heading
        # the extremes of the true terminal voltage since reset_extremes() (tests)
        self.v_hi_uV = -1e18
        self.v_lo_uV = 1e18
        self.cal_offset_nA = [0.0] * n
        self.cal_gain = [1.0] * n

        self.range_index = 0
        self.on = False
        self.set_nA = 0       # the setpoint the engine asked for
        self.dac_code = 0
        self.out_i_nA = 0.0   # the current the source really drives (float)
        self._drive_nA = 0.0  # what it would drive, but for its compliance rails
        self.v_uV = 0
        self.i_nA = 0
        self.v_raw = 0
        self.i_raw = 0
        self.t_ms = 0
        self.faults = ()      # injected faults, by name (FAULT_KINDS)
        # the cell-disconnect relay (boards/analog K1, DPDT: force and sense leads):
        # open, no current reaches the cell whatever the source does, and the voltage
        # input sees an open lead (read as 0 V: the real buffer's input floats)
        self.connected = True
        self._v_frozen = None
        self.select_range(range_index)

    # --- faults on purpose (tests) ---------------------------------------------
    def inject(self, kind):
        """Break the front end in one of the FAULT_KINDS ways until clear_faults()."""
        if kind not in FAULT_KINDS:
            raise ValueError("fault %r: one of %s" % (kind, " ".join(FAULT_KINDS)))
        if kind == "v_stuck":
            self._v_frozen = (self.v_raw, self.v_uV)
        self.faults = self.faults + (kind,)
        self._apply()

    def clear_faults(self):
        self.faults = ()
        self._v_frozen = None
        self._apply()

    def _fault_v(self):
        # a broken voltage input overrides what measure() just read
        f = self.faults
        if "v_stuck" in f:
            self.v_raw, self.v_uV = self._v_frozen
        elif "v_open_low" in f:
            self.v_raw = self.v_uV = 0
        elif "v_open_high" in f:
            self.v_raw = self.v_code_max * self.oversample
            self.v_uV = int(round(self.v_code_max * self.v_lsb_uV))

    def _terminal_uV(self):
        """The voltage at the channel's terminals (the cell's, unless a fault)."""
        f = self.faults
        if f:
            if "cell_open" in f:
                return float(COMPLIANCE_UV) if (self.on and self.set_nA > 0) else 0.0
            if "short" in f:
                return SHORT_OCV_UV + self.out_i_nA * 1e-3 * SHORT_OHM
        return self.cell.v_V * 1e6

    # --- the board interface ------------------------------------------------
    def select_range(self, n):
        if not 0 <= n < len(self.ranges_nA):
            raise ValueError("range %r: the ranges are 0 .. %d (%s nA)"
                             % (n, len(self.ranges_nA) - 1, self.ranges_nA))
        if self.faults:
            if "range_raise" in self.faults:
                raise OSError(5, "range switch failed (injected)")
            if "range_stay" in self.faults:
                return
        if n != self.range_index and self.on and self.switch_glitch_frac:
            # the mux breaks before it makes: the loop opens and the output slews
            self._glitch_nA = (self.switch_glitch_frac * self.ranges_nA[n] *
                               (1.0 if self.rng.random() < 0.5 else -1.0))
            self._glitch_ms = self.switch_ms
        self.range_index = n
        self._apply()

    def set_current_nA(self, i_nA):
        if not self.on and self.enable_glitch_frac:
            # the switch closes on a loop that waited: a kick the command's way
            fs = self.ranges_nA[self.range_index]
            self._glitch_nA = self.enable_glitch_frac * fs * (1.0 if i_nA >= 0 else -1.0)
            self._glitch_ms = self.enable_ms
        self.set_nA = i_nA
        self.on = True
        self._apply()

    def off(self):
        self.on = False
        self._apply()

    def connect(self):
        self.connected = True
        self._apply()

    def disconnect(self):
        self.connected = False
        self._apply()

    def measure(self):
        """Oversample both inputs; update v_raw, i_raw (sums of codes), v_uV, i_nA.
        fast: the same statistics for the mean of n samples with one draw per input:
        noise sigma / sqrt(n), quantised once. For long simulations (cycler simulate),
        where the per-sample dither of a quantiser finer than the noise does not
        matter. (The hottest path of cycler simulate: math.floor and round give ints.)"""
        if not self.fast:
            return self._measure_each()
        rng = self.rng
        n = self.oversample
        root = math.sqrt(n)
        lsb = self.v_lsb_uV
        g_v, g_i = rng.gauss2()
        c = math.floor((self._v_seen() + self.v_noise_uV / root * g_v) / lsb + 0.5)
        if self.dnl_spikes:
            c = self._dnl(c)
        cmax = self.v_code_max
        c = 0 if c < 0 else (cmax if c > cmax else c)
        self.v_raw = c * n
        self.v_uV = round(c * lsb)
        k = self.range_index
        fs = self.ranges_nA[k]
        ilsb = fs / float(self.i_code_max + 1)
        seen = self._i_seen(k, fs)
        c = math.floor((seen + self.i_noise_frac * fs / root * g_i) / ilsb + 0.5)
        imax = self.i_code_max
        c = -imax - 1 if c < -imax - 1 else (imax if c > imax else c)
        self.i_raw = c * n
        self.i_nA = round((c * ilsb - self.cal_offset_nA[k]) / self.cal_gain[k])
        if self.faults:
            self._fault_v()

    def _measure_each(self):
        # every sample drawn and quantised (the default)
        rng = self.rng
        n = self.oversample
        # Voltage: unipolar ADC, one code = span / 2**bits.
        lsb = self.v_lsb_uV
        v_true = self._v_seen()
        cmax = self.v_code_max
        sv = 0
        spikes = self.dnl_spikes
        for _ in range(n):
            c = int(math.floor((v_true + self.v_noise_uV * rng.gauss()) / lsb + 0.5))
            if spikes:
                c = self._dnl(c)
            sv += 0 if c < 0 else (cmax if c > cmax else c)
        self.v_raw = sv
        self.v_uV = int(round(sv * lsb / n))
        # Current: bipolar ADC over +- FS of the selected range, with the range's
        # offset and gain errors in front of it.
        k = self.range_index
        fs = self.ranges_nA[k]
        ilsb = fs / float(self.i_code_max + 1)
        seen = self._i_seen(k, fs)
        noise = self.i_noise_frac * fs
        imax = self.i_code_max
        imin = -imax - 1
        si = 0
        for _ in range(n):
            c = int(math.floor((seen + noise * rng.gauss()) / ilsb + 0.5))
            si += imin if c < imin else (imax if c > imax else c)
        self.i_raw = si
        nominal = si * ilsb / n
        self.i_nA = int(round((nominal - self.cal_offset_nA[k]) / self.cal_gain[k]))
        if self.faults:
            self._fault_v()

    def _v_seen(self):
        """What the voltage input sees before noise and quantisation: the terminal
        voltage with the residual gain error and the INL bow (zero at both ends of the
        span, v_inl_uV at mid-span). An open relay: an open lead, 0 V."""
        if not self.connected:
            return 0.0
        v = self._terminal_uV() if self.faults else self.cell.v_V * 1e6
        if self.v_inl_uV or self.v_gain_err:
            u = v / self.v_span_uV
            if u < 0.0:
                u = 0.0
            elif u > 1.0:
                u = 1.0
            v = v * (1.0 + self.v_gain_err) + self.v_inl_uV * 4.0 * u * (1.0 - u)
        return v

    def _i_seen(self, k, fs):
        x = self.out_i_nA   # (true_i_nA)
        seen = x * (1.0 + self.gain_err[k]) + self.offset_nA[k]
        if self.i_inl_frac:
            u = x / fs
            if -1.0 <= u <= 1.0:   # an S-shaped bow, zero at 0 and at +-FS
                seen += self.i_inl_frac * fs * math.sin(math.pi * u)
        return seen

    def _dnl(self, c):
        # a wide code at each spike: the dnl_width codes from it read as it
        w = self.dnl_width
        for sp in self.dnl_spikes:
            if sp <= c < sp + w:
                return sp
        return c

    # --- the simulation side --------------------------------------------------
    def reset_extremes(self):
        v = self._terminal_uV()
        self.v_hi_uV = self.v_lo_uV = v

    def _seen(self):
        v = self._terminal_uV() if self.faults else self.cell.v_V * 1e6
        if v > self.v_hi_uV:
            self.v_hi_uV = v
        if v < self.v_lo_uV:
            self.v_lo_uV = v

    def advance(self, dt_ms):
        """Step the cell dt_ms with the current the source really drives: a range or
        enable transient first, then the output's lag toward its target. Compliance:
        a current source cannot push its terminals beyond its rails (0 .. COMPLIANCE_UV,
        FACTS: the paper's tester has 5 V channels): there it turns into a voltage
        source at the rail, and the current becomes what the rail drives through the
        cell's series (ohmic) part."""
        cell = self.cell
        left = float(dt_ms)
        if self._glitch_ms > 0.0:
            # a ms-long transient: its ohmic spike is not a state the cell keeps (the
            # extremes track the voltage between transients)
            g = self._glitch_ms if self._glitch_ms < left else left
            self._comply()
            glitch = self._glitch_nA if self.connected else 0.0
            cell.step(g * 1e-3, (self.out_i_nA + glitch) * 1e-9)
            self._glitch_ms -= g
            left -= g
        self.t_ms += dt_ms
        tau = self.settle_ms
        if left > 0.0:
            d = self._drive_nA - self._target_nA
            if tau >= 1.0 and d:
                e = math.exp(-left / tau)
                self._drive_nA = self._target_nA + d * tau / left * (1.0 - e)  # the mean
                self._comply()
                cell.step(left * 1e-3, self.out_i_nA * 1e-9)
                self._drive_nA = self._target_nA + d * e
            else:
                self._comply()
                cell.step(left * 1e-3, self.out_i_nA * 1e-9)
        # the cell moved during the step: the terminals stay at the rail (_comply), and
        # the extremes see the new voltage (_seen)
        if self.drift_frac:
            self._apply(False)   # the offset drifted: a new target (_apply does both)
        else:
            self._comply()
            self._seen()

    def _comply(self):
        # an open relay: nothing reaches the cell (a stuck source drives again on closing)
        i = self._drive_nA if self.connected else 0.0
        if i != self.out_i_nA:   # off the rail last time: try the full drive again
            self.out_i_nA = i
            self.cell.step(0, i * 1e-9)
        v1 = self.cell.v_V * 1e6
        if not ((i > 0 and v1 > COMPLIANCE_UV) or (i < 0 and v1 < 0)):
            return
        self.cell.step(0, 0.0)
        v0 = self.cell.v_V * 1e6
        rail = COMPLIANCE_UV if i > 0 else 0
        # the ohmic part is linear in the current; with the cell polarised beyond the
        # rail the (bipolar) source at its rail pulls it back: the current turns over
        i2 = 0.0 if v1 == v0 else i * (rail - v0) / (v1 - v0)
        if i2 * i < 0.0:
            # the other side of zero: the ohmic part may have another slope there (the
            # cell model's resistance that acts on charge only): its own secant
            self.cell.step(0, i2 * 1e-9)
            v2 = self.cell.v_V * 1e6
            i2 = 0.0 if v2 == v0 else i2 * (rail - v0) / (v2 - v0)
        i = i2
        self.out_i_nA = i
        self.cell.step(0, i * 1e-9)

    def _apply(self, now=True):
        k = self.range_index
        fs = self.ranges_nA[k]
        if not self.on:
            if "dac_stuck" in self.faults:
                i = self._target_nA - self.leak_nA   # it keeps driving its last current
            else:
                self.dac_code = 0
                i = 0.0
        else:
            cf = self.dac_codes_fs
            lsb = fs / cf
            c = math.floor(self.set_nA / lsb + 0.5)   # (an int)
            cmax = self.dac_code_max
            if c > cmax:
                c = cmax
            elif c < -cmax - 1:
                c = -cmax - 1
            self.dac_code = c
            code = c + self.dac_zero_err
            if self.dac_inl:
                code += self.dac_inl * math.sin(math.pi * c / cf)
            # the offset's slow drift (the reference's temperature)
            df = self.drift_frac
            drift = df * fs * math.sin(6.283185307179586 * self.t_ms / self.drift_period_ms
                                       + self.drift_phase) if df else 0.0
            i = code * lsb * (1.0 + self.out_gain_err[k]) + self.out_offset_nA[k] + drift
            # The source cannot drive more than its range's full scale.
            if i > fs:
                i = float(fs)
            elif i < -fs:
                i = -float(fs)
            if self.faults and ("i_open" in self.faults or "cell_open" in self.faults):
                i = 0.0   # nothing flows through a broken path
        i += self.leak_nA   # the open switch and the mux leak either way
        self._target_nA = i
        # a lag far below a tick (the MCP4725's 6 us) is taken as none
        if self.settle_ms < 1.0 or (now and not self.on and "dac_stuck" not in self.faults):
            self._drive_nA = i
        # The cell's terminal voltage jumps with the current (ohmic part) at once,
        # up to the compliance rails.
        self._comply()
        self._seen()

    # The truth, for tests: what the source drives and the cell's terminal voltage.
    @property
    def true_i_nA(self):
        return self.out_i_nA

    @property
    def true_v_uV(self):
        return self._terminal_uV() if self.connected else self.cell.v_V * 1e6
