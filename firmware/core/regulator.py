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
NOISE_MIN_UV = const(200)   # the least noise bound when the board's noise is known
KP_PERMILLE = 500           # the proportional gain on the voltage change, of 1/R_est
_E_MAX_UV = const(1000000)
_K_MAX = const(50000)       # ohm per second: bounds the drift model (small ints)


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
        self._v_prev = -1          # the last tick's voltage (-1: none since start)
        self._v_track = -1         # track(): the last CC tick's voltage
        self._k_raw = 0
        self.k_ohm_s = 0           # the drift model (track()); 0: none

    def configure(self, v_noise_uV):
        """The rms noise of one tick's voltage reading on this board (0: the defaults)."""
        b = BAND_SIGMA * v_noise_uV
        n = NOISE_SIGMA * v_noise_uV
        self.band_uV = b if b > BAND_UV else BAND_UV
        if v_noise_uV:
            self.noise_uV = n if n > NOISE_MIN_UV else NOISE_MIN_UV
        else:
            self.noise_uV = NOISE_UV

    def start(self, i0_nA):
        """Bumpless start from the current already flowing (e.g. the CC current)."""
        self.i_nA = i0_nA
        self._e_prev = 0
        self._v_prev = -1

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
            # a large step (uV x 1000 would leave the small ints): uV per uA is ohm
            r = (dv_uV + self.noise_uV) // (di_nA // 1000 if di_nA >= 1000 else 1)
        else:
            r = (dv_uV + self.noise_uV) * 1000 // di_nA
        if r < R_MIN_OHM:
            r = R_MIN_OHM
        elif r > R_MAX_OHM:
            r = R_MAX_OHM
        self.r_ohm = r
        self._r_seen = r

    def observe_pair(self, dv_uV, di_nA, i_nA, dt_ms):
        """Two successive readings during a hold: the voltage moved dv_uV while the
        measured current moved di_nA from i_nA. Less the drift the model expects
        (track()), what is left is R x di; a step lost in the noise (|di| x R_est
        under 8 noise bounds) says nothing. Averaged into R_est (1/2 per pair)."""
        m = di_nA if di_nA >= 0 else -di_nA
        if m < PROBE_MIN_NA or m * self.r_ohm // 1000 < (self.noise_uV << 1):
            return
        kt = self.k_ohm_s * dt_ms // 1000
        if kt:
            a = i_nA if i_nA >= 0 else -i_nA
            drift = (a // 1000) * kt + (a % 1000) * kt // 1000
            dv_uV = dv_uV - drift if i_nA >= 0 else dv_uV + drift
        r0 = self.r_ohm
        self.observe(dv_uV, di_nA)
        if self.r_ohm != r0:
            self.r_ohm = (self.r_ohm + r0) >> 1
            self._r_seen = self.r_ohm

    def forget_drift(self):
        """A new CC step: its current makes a new drift (track())."""
        self._v_track = -1
        self._k_raw = 0
        self.k_ohm_s = 0

    def track(self, v_uV, i_nA, dt_ms):
        """A tick at constant current (a CC step): learn how fast the voltage runs on
        at this current (the cell's RC and its particles' surface charging: an
        integrating plant), as k_ohm_s, ohm per second (drift uV/s per nA x 1000)."""
        vp = self._v_track
        self._v_track = v_uV
        m = i_nA if i_nA >= 0 else -i_nA
        if vp < 0 or m < PROBE_MIN_NA or dt_ms <= 0:
            return
        dv = v_uV - vp if i_nA > 0 else vp - v_uV
        if dv > _E_MAX_UV:
            dv = _E_MAX_UV
        elif dv < -_E_MAX_UV:
            dv = -_E_MAX_UV
        k = dv * 1000 // m           # ohm over this tick (may be < 0: noise)
        k = k * 1000 // dt_ms if -_K_MAX < k < _K_MAX else (_K_MAX if k > 0 else -_K_MAX)
        if k > _K_MAX:
            k = _K_MAX
        elif k < -_K_MAX:
            k = -_K_MAX
        d = k - self._k_raw
        self._k_raw += d >> 2 if d >= 0 else -((-d) >> 2)
        self.k_ohm_s = self._k_raw if self._k_raw > 0 else 0

    def drift_uV(self, i_nA, dt_ms):
        """How far the voltage will run on over dt_ms at i_nA (track()'s model), >= 0."""
        kt = self.k_ohm_s * dt_ms // 1000
        if kt > _K_MAX:
            kt = _K_MAX
        m = i_nA if i_nA >= 0 else -i_nA
        return (m // 1000) * kt + (m % 1000) * kt // 1000

    def update(self, v_set_uV, v_uV, i_lo_nA, i_hi_nA, dt_ms=100):
        """One tick of the hold; returns the new current setpoint in nA."""
        e = v_set_uV - v_uV
        # the drift expected over the next tick at the present current (track()):
        # aim at the error it will leave, through the resistance it adds
        kt = self.k_ohm_s * dt_ms // 1000
        if kt > _K_MAX:
            kt = _K_MAX
        if kt:
            i0 = self.i_nA
            m = i0 if i0 >= 0 else -i0
            drift = (m // 1000) * kt + (m % 1000) * kt // 1000
            e = e - drift if i0 >= 0 else e + drift
        r = self.r_ohm + kt
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
        di = e * 1000 // r
        if e > self.band_uV:
            di -= di >> 2   # gain 3/4 of 1/R_est
        else:
            di >>= 4
        i = self.i_nA - di if neg else self.i_nA + di
        # Proportional action on the voltage's change since the last tick (the PI's
        # velocity form): a cell whose voltage runs on at constant current (its RC and
        # its particles' surface charging) is met by the current at once, instead of
        # only by the integral once the error has built up past the setpoint. Half of
        # 1/R_est: stable while R_est > R / 2 (R_est is biased upwards).
        vp = self._v_prev
        self._v_prev = v_uV
        if vp >= 0:
            dv = v_uV - vp
            if dv > _E_MAX_UV:
                dv = _E_MAX_UV
            elif dv < -_E_MAX_UV:
                dv = -_E_MAX_UV
            dp = (dv if dv >= 0 else -dv) * KP_PERMILLE // self.r_ohm
            i = i - dp if dv >= 0 else i + dp
        if i < i_lo_nA:
            i = i_lo_nA
        elif i > i_hi_nA:
            i = i_hi_nA
        self.i_nA = i
        return i
