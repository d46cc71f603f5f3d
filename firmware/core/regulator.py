# The constant-voltage loop. The channel is a current source, so a voltage hold is an
# integral controller that moves the current setpoint by (V_set - V - D) / R_est each
# tick, D the voltage's run-on over the next tick at the present current (the cell's
# RC and its particles' surface: an integrating plant), measured from the last ticks
# less the ohmic part of the last command step: the loop aims at where the voltage will
# be at the end of the tick, not where it was at its start (docs/reliability.md). The
# coming tick is the board's fixed one; `cycler simulate` picks its tick after the tick
# and aims the command again over it (reaim: one control law for any tick length).
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
_E_MAX_UV = const(1000000)
_K_MAX = const(50000000)    # milliohm per second: bounds the drift model (small ints)
_Y_MAX = const(1000000)     # uV/s: bounds a run-on's rate (small ints)
# the run-on model's filter: 1/2 per tick, 1/8 where one tick's reading is noisier
# than NOISY_UV (its noise / current would make the drift model noise)
NOISY_UV = const(500)
# a reading pair closer than this in time says nothing about the run-on's rate (a tick
# right after a start or resume command: its noise and any jump x 1000 / dt)
RUNON_MIN_MS = const(50)
# The run-on of a current STEP (_see_step): in a hold the cell's surface and RC answer a
# step of the command with a voltage that keeps moving (tens to hundreds of ohm per
# second on fig4), while the run-on at the hold's current (k_ohm_s) is small, since the
# hold's current is near the one at which the voltage stays. Over a long tick the step's
# own run-on is most of the resistance the command acts through: learned from steps of at
# least STEP_NOISE_N noise bounds over ticks of at least STEP_MIN_MS (only `cycler
# simulate`'s long hold ticks: over the board's 100 ms it is lost in the noise, and the
# board's tick never learns it), it makes up the run-on's resistance over the coming tick
# when larger (_aim). Without it a 10-60 s hold tick over-corrects 2-10x and rings.
STEP_MIN_MS = const(1500)
STEP_NOISE_N = const(4)


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
        self.r_seen = 0           # the last measured R (0: none yet)
        self._v_prev = -1          # the last tick's voltage (-1: none since a rest)
        self._i_last = 0           # the command before the present one
        self._k_raw = 0
        self.k_ohm_s = 0           # the run-on per nA (milliohm per second; _see()); >= 0
        self._k_shift = 1          # its filter: 1/2 per tick, 1/8 on a noisy board
        self._k_fast = False       # the latest tick's run-on if larger (known small noise)
        self.noisy = False         # one tick's reading noisier than NOISY_UV
        self._i_read = None        # this tick's measured current (update, track)
        self._i_read_prev = None   # the last tick's (None: none since a rest)
        self._v_set = 0            # the last update's setpoint, reading and limits
        self._v = 0                # (reaim() aims its command again)
        self._lo = 0
        self._hi = 0
        self._k_step = 0           # a step's run-on per nA of it (milliohm/s; _see_step)
        self._drift_pred = 0       # the run-on the last command was aimed over (uV, signed)
        self._aimed = False        # the last command was the loop's (_aim), not a CC's

    def configure(self, v_noise_uV):
        """The rms noise of one tick's voltage reading on this board (0: the defaults)."""
        b = BAND_SIGMA * v_noise_uV
        n = NOISE_SIGMA * v_noise_uV
        self.band_uV = b if b > BAND_UV else BAND_UV
        self.noisy = v_noise_uV > NOISY_UV
        self._k_shift = 3 if self.noisy else 1
        self._k_fast = 0 < v_noise_uV <= NOISY_UV
        if v_noise_uV:
            self.noise_uV = n if n > NOISE_MIN_UV else NOISE_MIN_UV
        else:
            self.noise_uV = NOISE_UV

    def start(self, i0_nA):
        """Bumpless start from the current already flowing (e.g. the CC current); the
        run-on seen so far stays (forget_drift() after a rest or a new current)."""
        self.i_nA = i0_nA
        self._i_last = i0_nA
        self._aimed = False

    def rebase(self, i_nA):
        """Go on from i_nA, the current that flowed (the command made up for an output
        offset that has just changed: a range switch). The command step that took
        effect over the last tick stays for the run-on model (its ohmic part is in this
        tick's reading: a ramp's first step from rest, clipped by the old range)."""
        self._i_last = i_nA - (self.i_nA - self._i_last)
        self.i_nA = i_nA

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
        self.r_seen = r

    def forget_drift(self):
        """After a rest or at a new current: no run-on known, no last reading."""
        self._v_prev = -1
        self._i_read_prev = None
        self._k_raw = 0
        self.k_ohm_s = 0
        self._k_step = 0
        self._drift_pred = 0
        self._aimed = False

    def _ohmic_uV(self, di_nA):
        # di x R_est in uV, within the small ints
        a = di_nA if di_nA >= 0 else -di_nA
        r = self.r_ohm
        q = a // 1000
        u = _E_MAX_UV if q > _E_MAX_UV // r else q * r + (a % 1000) * r // 1000
        return u if di_nA >= 0 else -u

    def _see(self, v_uV, dt_ms):
        # the run-on over the last tick: the voltage's change less the ohmic part of
        # the command step that took effect over it, per nA of the current that
        # flowed (it grows with the current: the RC and the surface charge at it),
        # as k_ohm_s (milliohm per second: drift uV/s per uA x 1000); filtered 1/2 per
        # tick, 1/8 on a noisy board
        vp = self._v_prev
        self._v_prev = v_uV
        ir = self._i_read
        ip = self._i_read_prev
        self._i_read_prev = ir
        if dt_ms < RUNON_MIN_MS:
            return
        i = self.i_nA
        m = i if i >= 0 else -i
        step = i - self._i_last
        if ir is not None and ip is not None:
            # the current step between the two readings as MEASURED: what the output
            # really did (an 8-bit DAC's code, its offset and gain errors: 1.5 kOhm x
            # one 2.6 uA code is 3.9 mV, which the commanded step would call run-on)
            step = ir - ip
        if vp < 0 or dt_ms <= 0 or m < PROBE_MIN_NA or (step and not self.r_seen):
            return   # (a step with no R measured yet: its ohmic part is not known)
        if self._ohmic_uV(m) < (self.noise_uV << 1):
            return   # (a current whose ohmic drop is under 2 noise bounds: its run-on
            #        is lost in the noise, and small; the model learned stays)
        d = v_uV - vp - self._ohmic_uV(step)
        if i < 0:
            d = -d
        if d > _E_MAX_UV:
            d = _E_MAX_UV
        elif d < -_E_MAX_UV:
            d = -_E_MAX_UV
        # the rate (uV/s), then per uA of the current (milliohm per second)
        y = d * 1000 // dt_ms if dt_ms < 1000 else d // (dt_ms // 1000)
        if y > _Y_MAX:
            y = _Y_MAX
        elif y < -_Y_MAX:
            y = -_Y_MAX
        k = y * 1000 // (m // 1000) if m >= 1000 else (_K_MAX if y > 0 else -_K_MAX)
        if k > _K_MAX:
            k = _K_MAX
        elif k < -_K_MAX:
            k = -_K_MAX
        x = k - self._k_raw
        sh = self._k_shift
        self._k_raw += x >> sh if x >= 0 else -((-x) >> sh)
        if self.noisy and self._k_raw < 0:
            self._k_raw = 0   # (no debt for its slow filter to repay: a relaxing cell)
        # the run-on grows toward the window's edges (the OCV steepens, the RC
        # charges): where one tick's noise is known to be small, the latest tick's
        # run-on when it is the larger (the filter lags a growing run-on)
        if self._k_fast and k > self._k_raw and k > 0:
            self.k_ohm_s = k
        else:
            self.k_ohm_s = self._k_raw if self._k_raw > 0 else 0

    def _see_step(self, v_uV, dt_ms):
        # the voltage's move over the last tick less the ohmic part of the measured step
        # and less the run-on the command was aimed over: what the step itself ran on,
        # per nA of it, per second (milliohm per second), >= 0; filtered 1/2 per tick.
        # Only from the loop's own commands (update): at constant current (track) a
        # measured step is the reading's noise, and the run-on is the current's
        vp = self._v_prev
        ir = self._i_read
        ip = self._i_read_prev
        if vp < 0 or ir is None or ip is None or not self._aimed:
            return
        dv_uV = v_uV - vp
        step_nA = ir - ip
        a = step_nA if step_nA >= 0 else -step_nA
        if a < 1000 or self._ohmic_uV(a) < STEP_NOISE_N * self.noise_uV:
            return
        d = dv_uV - self._ohmic_uV(step_nA) - self._drift_pred
        if step_nA < 0:
            d = -d
        if d < 0:
            d = 0
        elif d > _E_MAX_UV:
            d = _E_MAX_UV
        y = d * 1000 // dt_ms                          # uV/s (dt_ms >= STEP_MIN_MS)
        k = y * 1000 // (a // 1000)                    # per uA: milliohm per second
        if k > _K_MAX:
            k = _K_MAX
        x = k - self._k_step
        self._k_step += x >> 1 if x >= 0 else -((-x) >> 1)

    def track(self, v_uV, i_nA, dt_ms):
        """A tick at constant current (a CC step before a hold; i_nA measured): learn
        how fast the voltage runs on at it, for the hand-over and the hold's first
        ticks."""
        self._i_read = i_nA
        self._see(v_uV, dt_ms)
        self.i_nA = i_nA
        self._i_last = i_nA
        self._aimed = False   # (no command aimed: the CC step's current)

    def drift_uV(self, i_nA, dt_ms):
        """How far the voltage will run on over dt_ms at i_nA (k_ohm_s), >= 0."""
        k = self.k_ohm_s
        a = (i_nA if i_nA >= 0 else -i_nA) // 1000     # uA
        y = (k // 1000) * a + (k % 1000) * a // 1000   # uV/s
        if y > _Y_MAX:
            y = _Y_MAX
        return y // 1000 * dt_ms + (y % 1000) * dt_ms // 1000

    def update(self, v_set_uV, v_uV, i_lo_nA, i_hi_nA, dt_ms=100, i_read_nA=None,
               ahead_ms=0):
        """One tick of the hold (i_read_nA: the current measured with v_uV, if known);
        returns the new current setpoint in nA. dt_ms is the tick that has just passed
        (the run-on seen over it), ahead_ms the one the command will hold for (0: as
        long as dt_ms, the board's fixed tick; reaim() if it is only known later)."""
        self._i_read = i_read_nA
        if dt_ms >= STEP_MIN_MS:
            self._see_step(v_uV, dt_ms)
        self._see(v_uV, dt_ms)
        self._v_set = v_set_uV
        self._v = v_uV
        self._lo = i_lo_nA
        self._hi = i_hi_nA
        self._i_last = self.i_nA
        return self._aim(ahead_ms if ahead_ms > 0 else dt_ms)

    def reaim(self, ahead_ms):
        """The last update's command again, aimed over ahead_ms instead: for a caller
        that picks the coming tick's length after the tick (`cycler simulate`); the
        run-on seen is not seen twice. Returns the new setpoint in nA."""
        self.i_nA = self._i_last
        return self._aim(ahead_ms)

    def _aim(self, ahead_ms):
        # aim at where the voltage will be at the end of the coming tick: the error less
        # the run-on expected over it at the present current, through the resistance
        # the run-on adds (it grows with the new current too)
        e = self._v_set - self._v
        drift = self.drift_uV(self.i_nA, ahead_ms)
        if self.i_nA >= 0:
            e = e - drift
            self._drift_pred = drift
        else:
            e = e + drift
            self._drift_pred = -drift
        self._aimed = True
        # (the run-on's resistance over the tick: k x dt, in ohm; k the run-on at the
        # present current, or a step's own run-on if larger: _see_step)
        k = self.k_ohm_s if self.k_ohm_s >= self._k_step else self._k_step
        k //= 1000
        kt = k * (ahead_ms // 1000) + k * (ahead_ms % 1000) // 1000
        r = self.r_ohm + (kt if kt < R_MAX_OHM else R_MAX_OHM)
        # (No ringing rule that raises R_est: with the run-on modelled, an R_est above
        # the cell's makes the loop swing slowly, and raising it further would only
        # swing it more; R_est comes from measured steps, biased upwards by the noise.)
        neg = e < 0
        if neg:
            e = -e
        if e > _E_MAX_UV:
            e = _E_MAX_UV
        di = e * 1000 // r
        if e <= self.band_uV:
            di >>= 4   # inside the noise band: gain / 16
        i = self.i_nA - di if neg else self.i_nA + di
        if i < self._lo:
            i = self._lo
        elif i > self._hi:
            i = self._hi
        self.i_nA = i
        return i
