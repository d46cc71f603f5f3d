# Hard limits that the engine cannot override: a voltage envelope outside the cycling
# window, a maximum current, a maximum step time. A limit trips after it has been
# crossed on QUALIFY_COUNT consecutive ticks (one noisy sample never trips), so a real
# excursion trips within QUALIFY_COUNT tick periods (300 ms at the default 10 Hz).
# A trip latches; only clear() leaves it. check() allocates nothing.
# Front-end faults (docs/reliability.md): a measured current far from the command
# (broken or shorted current path), a voltage reading frozen while current flows (a
# stuck ADC), and the cell missing from the circuit (voltage at a rail, no current).
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

QUALIFY_COUNT = const(3)
# With the board's voltage noise known (v_noise_uV, the rms of one tick's reading), the
# voltage trips act on a filtered reading (a lag of 1/4 per tick: its noise is 0.38 of a
# reading's) qualified QUALIFY_COUNT ticks, and GROSS_COUNT readings in a row beyond a
# trip by GROSS_SIGMA sigma (p < 1e-18 from noise alone) trip at once: noise never
# trips, a real excursion trips within QUALIFY_COUNT + 4 ticks, a gross one in
# GROSS_COUNT (docs/reliability.md).
GROSS_SIGMA = const(6)
GROSS_COUNT = const(2)

# fault codes (0: none)
OK = const(0)
OVERVOLTAGE = const(1)
UNDERVOLTAGE = const(2)
OVERCURRENT = const(3)
STEP_TIME = const(4)
CURRENT_MISMATCH = const(5)   # measured current disagrees with the command
EXTERNAL = const(6)           # reported by a driver or the runtime (e.g. range switch)
STUCK_READING = const(7)      # the voltage reading did not change for stuck_n ticks
OPEN_CIRCUIT = const(8)       # voltage beyond a trip with no current: the cell is gone
INTERNAL = const(9)           # an unexpected exception in the board's loop
IDLE_CURRENT = const(10)      # current through the cell while the output is off
FAULT_NAMES = ("none", "overvoltage", "undervoltage", "overcurrent", "step time",
               "current mismatch", "external", "stuck reading", "open circuit",
               "internal", "idle current")


class Safety:
    def __init__(self):
        self.trip_lo_uV = 0
        self.trip_hi_uV = 0
        self.i_max_nA = 0
        self.step_max_ms = 0
        # a measured current this far beyond the command, for QUALIFY_COUNT ticks,
        # while the output is on, means the current path is broken or shorted
        self.mismatch_nA = 0
        # or, when set, a threshold that follows the command and the range in use:
        # max(mismatch_pct % of |command|, mismatch_fs_pct % of the range's full scale)
        self.mismatch_pct = 0
        self.mismatch_fs_pct = 0
        self.i_fs_nA = 0          # full scale of the range the reading was taken on
        # a voltage reading identical for this many ticks in a row while the output
        # drives a current means a frozen ADC (0: off; needs ADC noise >= ~0.5 LSB)
        self.stuck_n = 0
        self.v_noise_uV = 0       # rms noise of one tick's voltage reading (0: unknown)
        self._vf = -1             # the filtered voltage (-1: none yet)
        self._n_gross = 0
        self._v_last = -1
        self._n_st = 0
        self._n_oc = 0
        self._n_hi = 0
        self._n_lo = 0
        self._n_i = 0
        self._n_mm = 0
        # the latched fault: code and the values seen when it tripped
        self.code = OK
        self.v_uV = 0
        self.i_nA = 0
        self.step_ms = 0

    def configure(self, trip_lo_uV, trip_hi_uV, i_max_nA, step_max_ms, mismatch_nA=0,
                  mismatch_pct=0, mismatch_fs_pct=0, stuck_n=0):
        self.trip_lo_uV = trip_lo_uV
        self.trip_hi_uV = trip_hi_uV
        # the overcurrent trip sits 10 % above the protocol's limit
        self.i_max_nA = i_max_nA + i_max_nA // 10
        self.step_max_ms = step_max_ms
        self.mismatch_nA = mismatch_nA
        self.mismatch_pct = mismatch_pct
        self.mismatch_fs_pct = mismatch_fs_pct
        self.stuck_n = stuck_n
        self._n_hi = self._n_lo = self._n_i = self._n_mm = self._n_st = self._n_oc = 0
        self._v_last = -1
        self._vf = -1
        self._n_gross = 0

    def mismatch_limit(self, cmd_i_nA):
        """How far the measured current may be from the command (0: not checked)."""
        lim = self.mismatch_nA
        if self.mismatch_pct:
            m = cmd_i_nA if cmd_i_nA >= 0 else -cmd_i_nA
            a = m // 100 * self.mismatch_pct
            b = self.i_fs_nA // 100 * self.mismatch_fs_pct
            a = a if a > b else b
            lim = a if a > lim else lim
        return lim

    def check(self, v_uV, i_nA, step_ms, out_on, cmd_i_nA):
        """One tick. Returns the latched fault code (OK while none)."""
        if self.code:
            return self.code
        vf = v_uV
        g = self.v_noise_uV
        if g:
            vf = self._vf
            if vf < 0:
                vf = v_uV
            else:
                d = v_uV - vf
                vf += d >> 2 if d >= 0 else -((-d) >> 2)
            self._vf = vf
            g *= GROSS_SIGMA
        self._n_hi = self._n_hi + 1 if vf > self.trip_hi_uV else 0
        self._n_lo = self._n_lo + 1 if vf < self.trip_lo_uV else 0
        gross = False
        if g:
            # two readings in a row beyond a trip by GROSS_SIGMA sigma (the second lets
            # the mismatch detector see whether the cell is gone)
            hi = v_uV > self.trip_hi_uV + g
            lo = v_uV < self.trip_lo_uV - g
            self._n_gross = self._n_gross + 1 if (hi or lo) else 0
            if self._n_gross >= GROSS_COUNT:
                gross = True
                if hi:
                    self._n_hi = QUALIFY_COUNT
                else:
                    self._n_lo = QUALIFY_COUNT
        self._n_i = self._n_i + 1 if (i_nA > self.i_max_nA or -i_nA > self.i_max_nA) else 0
        lim = self.mismatch_limit(cmd_i_nA) if out_on else 0
        if lim:
            d = i_nA - cmd_i_nA
            self._n_mm = self._n_mm + 1 if (d > lim or -d > lim) else 0
            # no current at all, the voltage beyond either trip (the source runs to its
            # rail, whichever way the engine pushes it): the cell is not connected
            if self._n_mm and (i_nA if i_nA >= 0 else -i_nA) < lim and \
                    (v_uV > self.trip_hi_uV or v_uV < self.trip_lo_uV):
                self._n_oc += 1
            else:
                self._n_oc = 0
        else:
            self._n_mm = self._n_oc = 0
        if self.stuck_n and out_on and cmd_i_nA:
            self._n_st = self._n_st + 1 if v_uV == self._v_last else 0
        else:
            self._n_st = 0
        self._v_last = v_uV
        # Possible outcomes: the cell gone from the circuit (a voltage excursion while
        # the current that flows is nowhere near a non-zero command), a qualified
        # voltage, current or mismatch excursion, a frozen voltage reading, the step
        # running past its hard limit (no qualification: time is not noisy), or nothing.
        if self._n_oc >= QUALIFY_COUNT or (gross and self._n_oc >= GROSS_COUNT):
            # (a gross excursion with no current where one is commanded: the cell is
            # gone, whichever trips first)
            self._trip(OPEN_CIRCUIT, v_uV, i_nA, step_ms)
        elif self._n_hi >= QUALIFY_COUNT:
            self._trip(OVERVOLTAGE, v_uV, i_nA, step_ms)
        elif self._n_lo >= QUALIFY_COUNT:
            self._trip(UNDERVOLTAGE, v_uV, i_nA, step_ms)
        elif self._n_i >= QUALIFY_COUNT:
            self._trip(OVERCURRENT, v_uV, i_nA, step_ms)
        elif self._n_mm >= QUALIFY_COUNT:
            self._trip(CURRENT_MISMATCH, v_uV, i_nA, step_ms)
        elif self.stuck_n and self._n_st >= self.stuck_n:
            self._trip(STUCK_READING, v_uV, i_nA, step_ms)
        elif self.step_max_ms and step_ms > self.step_max_ms:
            self._trip(STEP_TIME, v_uV, i_nA, step_ms)
        return self.code

    def trip(self, code, v_uV, i_nA, step_ms):
        """A fault found elsewhere (a driver, the runtime): latch it like any other."""
        if not self.code:
            self._trip(code, v_uV, i_nA, step_ms)

    def _trip(self, code, v_uV, i_nA, step_ms):
        self.code = code
        self.v_uV = v_uV
        self.i_nA = i_nA
        self.step_ms = step_ms

    def clear(self):
        self._vf = -1
        self._n_gross = 0
        self.code = OK
        self._n_hi = self._n_lo = self._n_i = self._n_mm = self._n_st = self._n_oc = 0
        self._v_last = -1
