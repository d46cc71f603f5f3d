# Hard limits that the engine cannot override: a voltage envelope outside the cycling
# window, a maximum current, a maximum step time. A limit trips after it has been
# crossed on QUALIFY_COUNT consecutive ticks (one noisy sample never trips), so a real
# excursion trips within QUALIFY_COUNT tick periods (300 ms at the default 10 Hz).
# A trip latches; only clear() leaves it. check() allocates nothing.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

QUALIFY_COUNT = const(3)

# fault codes (0: none)
OK = const(0)
OVERVOLTAGE = const(1)
UNDERVOLTAGE = const(2)
OVERCURRENT = const(3)
STEP_TIME = const(4)
CURRENT_MISMATCH = const(5)   # measured current disagrees with the command
EXTERNAL = const(6)           # reported by a driver or the runtime (e.g. range switch)
FAULT_NAMES = ("none", "overvoltage", "undervoltage", "overcurrent", "step time",
               "current mismatch", "external")


class Safety:
    def __init__(self):
        self.trip_lo_uV = 0
        self.trip_hi_uV = 0
        self.i_max_nA = 0
        self.step_max_ms = 0
        # a measured current this far beyond the command, for QUALIFY_COUNT ticks,
        # while the output is on, means the current path is broken or shorted
        self.mismatch_nA = 0
        self._n_hi = 0
        self._n_lo = 0
        self._n_i = 0
        self._n_mm = 0
        # the latched fault: code and the values seen when it tripped
        self.code = OK
        self.v_uV = 0
        self.i_nA = 0
        self.step_ms = 0

    def configure(self, trip_lo_uV, trip_hi_uV, i_max_nA, step_max_ms, mismatch_nA=0):
        self.trip_lo_uV = trip_lo_uV
        self.trip_hi_uV = trip_hi_uV
        # the overcurrent trip sits 10 % above the protocol's limit
        self.i_max_nA = i_max_nA + i_max_nA // 10
        self.step_max_ms = step_max_ms
        self.mismatch_nA = mismatch_nA
        self._n_hi = self._n_lo = self._n_i = self._n_mm = 0

    def check(self, v_uV, i_nA, step_ms, out_on, cmd_i_nA):
        """One tick. Returns the latched fault code (OK while none)."""
        if self.code:
            return self.code
        self._n_hi = self._n_hi + 1 if v_uV > self.trip_hi_uV else 0
        self._n_lo = self._n_lo + 1 if v_uV < self.trip_lo_uV else 0
        self._n_i = self._n_i + 1 if (i_nA > self.i_max_nA or -i_nA > self.i_max_nA) else 0
        if out_on and self.mismatch_nA:
            d = i_nA - cmd_i_nA
            self._n_mm = self._n_mm + 1 if (d > self.mismatch_nA or -d > self.mismatch_nA) else 0
        else:
            self._n_mm = 0
        # Possible outcomes: a qualified voltage, current or mismatch excursion, the
        # step running past its hard limit (no qualification: time is not noisy), or
        # nothing.
        if self._n_hi >= QUALIFY_COUNT:
            self._trip(OVERVOLTAGE, v_uV, i_nA, step_ms)
        elif self._n_lo >= QUALIFY_COUNT:
            self._trip(UNDERVOLTAGE, v_uV, i_nA, step_ms)
        elif self._n_i >= QUALIFY_COUNT:
            self._trip(OVERCURRENT, v_uV, i_nA, step_ms)
        elif self._n_mm >= QUALIFY_COUNT:
            self._trip(CURRENT_MISMATCH, v_uV, i_nA, step_ms)
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
        self.code = OK
        self._n_hi = self._n_lo = self._n_i = self._n_mm = 0
