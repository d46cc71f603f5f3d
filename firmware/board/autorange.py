# Current autoranging: which shunt range to use, from the measured and the commanded current,
# with hysteresis, a qualification count before down-ranging and a settling time after each
# switch during which measurements are held. Pure: told the time and the currents, it never
# touches a pin; integers only; `update` allocates nothing.
#
# How the runtime uses it, every tick:
#   fe.measure()
#   ar.update(now_ms, fe.i_nA, engine.out_i_nA)   # engine.out_i_nA: the next setpoint
#   if ar.index != fe.range_index: fe.select_range(ar.index)
#   use ar.i_nA (held while ar.settling) for the engine and the charge count
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

from units import ticks_diff_ms

UP_PCT = const(90)      # up-range above 90 % of the present range's full scale
DOWN_PCT = const(80)    # down-range below 80 % of the next lower range's full scale
                        # (= 8 % of the present one for decade ranges): after the switch
                        # the reading sits below the lower range's up threshold (hysteresis)
SETTLE_MS = const(50)   # the sense amplifier and the current loop settle after a switch
DOWN_COUNT = const(3)   # updates in a row below the down threshold before down-ranging


class AutoRange:
    def __init__(self, ranges_nA, index=None, up_pct=UP_PCT, down_pct=DOWN_PCT,
                 settle_ms=SETTLE_MS, down_count=DOWN_COUNT):
        n = len(ranges_nA)
        for k in range(1, n):
            if ranges_nA[k] <= ranges_nA[k - 1]:
                raise ValueError("ranges_nA must ascend")
        if not (0 < down_pct < 100 and 0 < up_pct <= 100):
            raise ValueError("thresholds must be positive percentages")
        self.ranges_nA = tuple(ranges_nA)
        self._up = tuple(r * up_pct // 100 for r in ranges_nA)
        # _down[k]: below it range k goes to k - 1; range 0 has none (-1 never matches).
        self._down = (-1,) + tuple(ranges_nA[k - 1] * down_pct // 100 for k in range(1, n))
        for k in range(1, n):
            if self._down[k] >= self._up[k - 1]:
                raise ValueError("no hysteresis: range %d down threshold %d nA >= range %d up "
                                 "threshold %d nA" % (k, self._down[k], k - 1, self._up[k - 1]))
        self.settle_ms = settle_ms
        self.down_count = down_count
        self.index = n - 1 if index is None else index  # boot in the largest range: safe
        self.settling = False
        self.i_nA = 0           # the measurement to use (held while settling)
        self.switches = 0
        self._t_switch = 0
        self._below = 0

    def fit_index(self, mag_nA):
        """The most sensitive range whose up threshold holds mag_nA (the largest if none)."""
        k = 0
        last = len(self._up) - 1
        while k < last and mag_nA > self._up[k]:
            k += 1
        return k

    def update(self, now_ms, i_nA, i_set_nA=0):
        """Decide the range for this tick; sets self.index, self.i_nA, self.settling."""
        if self.settling:
            # Possible outcomes: still settling (hold, no switch, unless the setpoint needs
            # a larger range: the source would saturate) or settled (fall through).
            d = ticks_diff_ms(now_ms, self._t_switch)
            if d < self.settle_ms:
                ms = i_set_nA if i_set_nA >= 0 else -i_set_nA
                if ms > self._up[self.index]:
                    self._switch(now_ms, self.fit_index(ms))
                return self.index
            self.settling = False
        self.i_nA = i_nA
        m = i_nA if i_nA >= 0 else -i_nA
        ms = i_set_nA if i_set_nA >= 0 else -i_set_nA
        if ms > m:
            m = ms
        k = self.index
        # Outcomes: over the up threshold -> switch up at once (a saturated reading is not a
        # measurement); under the down threshold for down_count updates -> switch down to
        # the range that fits; otherwise stay.
        if m > self._up[k]:
            self._below = 0
            self._switch(now_ms, self.fit_index(m))
        elif m < self._down[k]:
            self._below += 1
            if self._below >= self.down_count:
                self._below = 0
                self._switch(now_ms, self.fit_index(m))
        else:
            self._below = 0
        return self.index

    def ensure(self, now_ms, i_set_nA):
        """Before a new setpoint is applied: a setpoint beyond the present range's up
        threshold pulls the range up at once (the source would clip it otherwise)."""
        m = i_set_nA if i_set_nA >= 0 else -i_set_nA
        if m > self._up[self.index]:
            self._below = 0
            self._switch(now_ms, self.fit_index(m))
        return self.index

    def _switch(self, now_ms, k):
        if k == self.index:
            return
        self.index = k
        self.settling = True
        self._t_switch = now_ms
        self.switches += 1
