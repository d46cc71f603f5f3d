# The constant-voltage loop. The channel is a current source, so a voltage hold is an
# integral controller that moves the current setpoint by (V_set - V) / R_est each tick.
# R_est is the cell's resistance seen from one tick to the next, estimated from the
# voltage step at each step change (biased upwards by the noise, which only slows the
# loop, never destabilises it). Inside a noise band the gain drops, so voltage noise
# does not become current noise near the termination current. No allocation.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

R_DEFAULT_OHM = const(10000)  # before any estimate; large = slow but stable
R_MIN_OHM = const(1)
R_MAX_OHM = const(1000000)
BAND_UV = const(1000)       # |error| below this is treated as noise: gain / 16
NOISE_UV = const(1000)      # assumed voltage noise when estimating R (upper bound)
PROBE_MIN_NA = const(200)   # smaller current steps say too little about R
_E_MAX_UV = const(1000000)


# With the board's noise known (configure): the band is 3 sigma of one tick's voltage
# reading, and an R estimate adds 4 sigma to the voltage step it saw, so a step lost
# in the noise gives a large (slow, safe) R, never a small one (docs/reliability.md).
BAND_SIGMA = const(3)
NOISE_SIGMA = const(4)


class Regulator:
    def __init__(self):
        self.r_ohm = R_DEFAULT_OHM
        self.i_nA = 0
        self.band_uV = BAND_UV
        self.noise_uV = NOISE_UV
        self._e_prev = 0
        self._r_seen = R_MAX_OHM   # the last measured R (none yet: no bound)

    def configure(self, v_noise_uV):
        """The rms noise of one tick's voltage reading on this board (0: the defaults)."""
        b = BAND_SIGMA * v_noise_uV
        n = NOISE_SIGMA * v_noise_uV
        self.band_uV = b if b > BAND_UV else BAND_UV
        self.noise_uV = n if n > NOISE_UV else NOISE_UV

    def start(self, i0_nA):
        """Bumpless start from the current already flowing (e.g. the CC current)."""
        self.i_nA = i0_nA
        self._e_prev = 0

    def observe(self, dv_uV, di_nA):
        """A step of di_nA in the command moved the voltage by dv_uV: update R_est."""
        if di_nA < 0:
            di_nA = -di_nA
            dv_uV = -dv_uV
        if di_nA < PROBE_MIN_NA:
            return
        if dv_uV < 0:
            return  # the voltage moved against the current: noise or relaxation, no R
        if dv_uV > _E_MAX_UV:
            dv_uV = _E_MAX_UV
        r = (dv_uV + self.noise_uV) * 1000 // di_nA
        if r < R_MIN_OHM:
            r = R_MIN_OHM
        elif r > R_MAX_OHM:
            r = R_MAX_OHM
        self.r_ohm = r
        self._r_seen = r

    def update(self, v_set_uV, v_uV, i_lo_nA, i_hi_nA):
        """One tick of the hold; returns the new current setpoint in nA."""
        e = v_set_uV - v_uV
        # Ringing (the error swings across the band from one tick to the next) means
        # R_est is too small for this cell: double it, halving the loop gain.
        p = self._e_prev
        self._e_prev = e
        big = self.band_uV << 1
        if (e > big and p < -big) or (e < -big and p > big):
            # (at most 4x the last measured R: a range switch's step of output offset
            # also swings the error, and a loop detuned far beyond the cell's R cannot
            # follow a cell whose surface fills up: it overshoots by lagging)
            if self.r_ohm < R_MAX_OHM // 2 and self.r_ohm < self._r_seen << 2:
                self.r_ohm <<= 1
        neg = e < 0
        if neg:
            e = -e
        if e > _E_MAX_UV:
            e = _E_MAX_UV
        di = e * 1000 // self.r_ohm
        if e > self.band_uV:
            di -= di >> 2   # gain 3/4 of 1/R_est
        else:
            di >>= 4
        i = self.i_nA - di if neg else self.i_nA + di
        if i < i_lo_nA:
            i = i_lo_nA
        elif i > i_hi_nA:
            i = i_hi_nA
        self.i_nA = i
        return i
