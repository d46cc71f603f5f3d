# The cycling engine: executes a validated Protocol tick by tick on measured voltage
# and current, and says what the output should be (engine.out_on, engine.out_i_nA).
# It never reads a clock or a pin: the caller passes time and measurements in.
# tick() is integer-only and allocates nothing (it runs under heap_lock in the tests).
# Safety is not here: firmware/core/channel.py checks the hard limits before the engine.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

from units import ticks_diff_ms
from accounting import Accounting, MAX_DT_MS, CHUNK_MS
from regulator import Regulator, PROBE_MIN_NA
from protocol_defs import CC, CV, REST, CR, SWEEP

# states
IDLE = const(0)      # no protocol
LOADED = const(1)    # a validated protocol, not started
RUNNING = const(2)
PAUSED = const(3)
DONE = const(4)
FAULT = const(5)
STATE_NAMES = ("idle", "loaded", "running", "paused", "done", "fault")

# why a step ended
END_NONE = const(0)
END_VOLTAGE = const(1)
END_CURRENT = const(2)
END_TIME = const(3)
END_USER = const(4)
END_FAULT = const(5)
END_COMPLETE = const(6)   # a sweep finished its sweeps; the protocol finished
END_RESET = const(7)      # the board reset mid-run (restored from its checkpoint)
END_NAMES = ("none", "voltage", "current", "time", "user", "fault", "complete", "reset")

# CV termination (FACTS: holds end at a current threshold, C/46 and C/24): the filtered
# current must stay at or below i_end for _QUAL_N ticks AND _QUAL_MS, after t_min.
# The filter is defined in time (a first-order lag of I_TAU_MS whatever the tick), so
# the board's 100 ms tick and `cycler simulate`'s long ticks end a hold at one point
# (350 ms: the 1/4 per 100 ms tick the filter had before).
_QUAL_N = const(2)
_QUAL_MS = const(5000)
# ... and a reading counts for at most _QUAL_TICK_MS of that time: the filtered current
# after one long tick (cycler simulate's holds, 10-80 s) is one reading, taken where the
# regulator's look-ahead over that tick had just cut the current; it is not 5 s of
# evidence (the board's 100 ms tick is not affected)
_QUAL_TICK_MS = const(1000)
I_TAU_MS = const(350)
# A CC step into a hold hands over HANDOVER_MS of voltage drift early (the drift the
# regulator learned on the step, regulator.track; two board ticks): the hold starts
# reducing the current before the cell's momentum carries it past the setpoint.
HANDOVER_MS = const(200)
HANDOVER_MAX_MS = const(1000)
TRIM_AFTER_MS = const(1000)   # a CC step trims its output error from then on
# A sweep at least this fast (uV/s) from rest on an unmeasured loop opens with an R probe
# (_begin): the default R's loop follows 0.1-1 mV/s within 4.7-7.4 mV on fig4, not 10
_FAST_SWEEP_UV_S = const(2000)

# step record fields (engine.step_rec), written when a step ends
SR_NUMBER = const(0)     # steps executed so far in the run, 1-based
SR_INDEX = const(1)      # index into protocol.steps
SR_KIND = const(2)
SR_CYCLE = const(3)
SR_REASON = const(4)
SR_MS = const(5)
SR_Q_CHG = const(6)
SR_Q_DIS = const(7)
SR_E_CHG = const(8)
SR_E_DIS = const(9)
SR_V_END = const(10)
SR_I_END = const(11)
SR_LEN = const(12)
# the step record as the S record carries it after t_ms (wire.FIELDS["S"][2:]): every
# field but the protocol index, which the host finds from the step number
SR_WIRE = (SR_NUMBER, SR_KIND, SR_CYCLE, SR_REASON, SR_MS, SR_Q_CHG, SR_Q_DIS, SR_E_CHG,
           SR_E_DIS, SR_V_END, SR_I_END)

# cycle record fields (engine.cycle_rec), written when a cycle closes
CR_CYCLE = const(0)
CR_CHG_CC = const(1)
CR_CHG_CV = const(2)
CR_DIS_CC = const(3)
CR_DIS_CV = const(4)
CR_E_CHG = const(5)
CR_E_DIS = const(6)
CR_S = const(7)
CR_LEN = const(8)   # the C record carries all of them after t_ms (wire.FIELDS["C"][2:])


# checkpoint fields: engine_cp.py (CP_*), loaded for a checkpoint or a restore


class Engine:
    # the longest tick integrated as such (a longer gap counts as this long): the
    # board's; `cycler simulate` raises it on its engine for its long CC ticks
    max_dt_ms = MAX_DT_MS

    def __init__(self):
        self.acc = Accounting()
        self.reg = Regulator()
        self.protocol = None
        self.state = IDLE
        self.out_on = False
        self.out_i_nA = 0
        # position
        self.block = 0
        self.rep = 0             # repetition of the block, 0-based
        self.index = 0           # step index in protocol.steps
        self.step = None
        self.step_number = 0     # steps begun in this run
        self.cycle = 0
        self.step_ms = 0
        self.i_f_nA = 0          # filtered current (for CV termination)
        self.v_uV = 0
        self.i_nA = 0
        self._last_ms = 0
        self._had_dis = False
        self._below_n = 0
        self._below_ms = 0
        self._ramp = False           # a CC step ramping in on the hold's loop
        self._dt = 100               # the last tick's length (ms)
        self._aimed = False          # this tick's command came from the hold's loop
        self._ramp_v = -1            # the ramp's last voltage and current readings
        self._trim = 0               # CC: the output error trimmed out (nA)
        self._cap_trim = 0           # CV: the CC step's trim, on its range (nA)
        self._ramp_i = 0
        self._ramp_rest = False
        self._probe_n = 0            # ticks until the R probe reads (0: none armed)
        self._probe_v_uV = 0
        self._probe_i_nA = 0
        self._probe_di_nA = 0
        # sweep
        self._sw_v_uV = 0
        self._sw_dir = 1
        self._sw_r = 0
        self._sw_done = 0
        # records for whoever reports them (polled by sequence counters)
        self.step_rec = [0] * SR_LEN
        self.cycle_rec = [0] * CR_LEN
        self.step_seq = 0
        self.cycle_seq = 0

    # --- commands (outside the tick) ---------------------------------------------

    def load(self, protocol):
        if self.state in (RUNNING, PAUSED):
            raise ValueError("a run is in progress; stop or abort it before loading")
        self.protocol = protocol
        self._enter(LOADED)

    def start(self, now_ms):
        if self.state not in (LOADED, DONE):
            raise ValueError("start needs a loaded protocol and no run in progress "
                             "(state is %s)" % STATE_NAMES[self.state])
        self.block = 0
        self.rep = 0
        self.step_number = 0
        self.cycle = 1
        self._had_dis = False
        self.acc.reset_cycle()
        self._last_ms = now_ms
        self._enter(RUNNING)
        self._begin(self.protocol.blocks[0].first, self.v_uV)

    def pause(self, now_ms):
        if self.state != RUNNING:
            raise ValueError("pause needs a running protocol (state is %s)" %
                             STATE_NAMES[self.state])
        self._enter(PAUSED)

    def resume(self, now_ms):
        if self.state != PAUSED:
            raise ValueError("resume needs a paused run (state is %s)" %
                             STATE_NAMES[self.state])
        self._last_ms = now_ms
        self._enter(RUNNING)
        # the hold restarts from zero current: the cell relaxed while paused
        self.reg.forget_drift()
        if self.step.kind == CV or self.step.kind == SWEEP:
            self.reg.start(0)
            self._probe_n = 0   # (a sweep's opening pulse does not resume)
        elif self.step.kind == CC and self.step.handover:
            self.reg.start(0)
            self._ramp = True
            self._ramp_v = -1
            self._ramp_rest = True
        self._command(self.v_uV)

    def stop(self, now_ms):
        """End the run on purpose: the step and the cycle are recorded as they are."""
        if self.state not in (RUNNING, PAUSED):
            raise ValueError("stop needs a run in progress (state is %s)" %
                             STATE_NAMES[self.state])
        self._record_step(END_USER)
        self._close_cycle()
        self._enter(DONE)

    def fault(self):
        """Called by the channel when the safety trips: output off in this same tick."""
        if self.state in (RUNNING, PAUSED):
            self._record_step(END_FAULT)
            self._close_cycle()
        self._enter(FAULT)

    def clear_fault(self):
        if self.state != FAULT:
            raise ValueError("there is no fault to clear (state is %s)" %
                             STATE_NAMES[self.state])
        self._enter(LOADED if self.protocol is not None else IDLE)

    # --- checkpoint (outside the tick; allocates) -------------------------------

    def checkpoint(self):
        """The run's position now, as engine_cp.CP_LEN ints (the CP_* fields): enough to
        resume it after a reset. engine_cp.py has the code and the layout: loaded for a
        checkpoint or a restore, dropped by the board's runtime after (not resident)."""
        import engine_cp
        return engine_cp.checkpoint(self)

    def restore(self, cp, now_ms):
        """Put a loaded protocol's run back where checkpoint() left it, PAUSED: the
        output stays off until an explicit resume (never by itself after a reset)."""
        if self.protocol is None or self.state != LOADED:
            raise ValueError("restore needs the checkpoint's protocol loaded and idle")
        import engine_cp
        engine_cp.restore(self, cp)
        self._last_ms = now_ms
        self._enter(PAUSED)

    # --- the tick ----------------------------------------------------------------

    def tick(self, now_ms, v_uV, i_nA):
        dt = ticks_diff_ms(now_ms, self._last_ms)
        self._last_ms = now_ms
        if dt < 0:
            dt = 0
        elif dt > self.max_dt_ms:
            dt = self.max_dt_ms
        self.v_uV = v_uV
        self.i_nA = i_nA
        self._dt = dt if dt > 0 else 1
        self._aimed = False
        if self.state != RUNNING:
            return
        s = self.step
        self.step_ms += dt
        self.acc.add(dt, v_uV, i_nA, s.kind == CV)
        self._filter(i_nA, dt)
        # R probe: two ticks after a step changed the current, the new current has
        # flowed for at least one tick whether the runtime applied it at once or
        # after the next tick; compare with the voltage measured before the change.
        # (Drift over the extra tick only overestimates R: a slower, stable loop.)
        if self._probe_n:
            self._probe_n -= 1
            if self._probe_n == 0:
                # the MEASURED current step: the output's offset and gain errors (1 %
                # of full scale on a DAC referenced to 3V3) would bias a commanded one
                self.reg.observe(v_uV - self._probe_v_uV, i_nA - self._probe_i_nA)
        reason = self._ended(s, v_uV, dt)
        if reason:
            self._record_step(reason)
            self._next(v_uV)   # begins the next step, which sets its own command
            return
        self._command(v_uV)

    def reaim(self, ahead_ms):
        """A hold's command of this tick aimed again over ahead_ms, the coming tick's
        length, for a caller that picks it after the tick (`cycler simulate`; the
        board's tick is fixed, and the regulator looks ahead over the last one).
        Returns True if the command changed hands (out_i_nA is the new one)."""
        if not self._aimed or self.state != RUNNING:
            return False
        self.out_i_nA = self.reg.reaim(ahead_ms)
        return True

    def range_switched(self, i_nA):
        """A range switch before this tick's command (firmware/core/loop.py): a hold
        (or a ramp on its loop) goes on from the current that flowed."""
        if self.step is not None and (self.step.kind == CV or self._ramp):
            self.reg.rebase(i_nA)
        self._cap_trim = 0    # (the CC step's trim was the old range's output error)

    def _filter(self, i_nA, dt):
        # i_f += (i - i_f) * dt / (I_TAU_MS + dt), in small ints: the weight in 1/256
        d = i_nA - self.i_f_nA
        if dt >= 8 * I_TAU_MS:
            self.i_f_nA = i_nA
            return
        w = (dt << 8) // (I_TAU_MS + dt)
        self.i_f_nA += (d >> 8) * w + (((d & 255) * w) >> 8)

    def _ended(self, s, v_uV, dt):
        # Possible outcomes: the step's own end condition (voltage, current, complete),
        # its time limit, or carrying on (END_NONE).
        k = s.kind
        if k == CC:
            # a CC step that hands over to a hold at its end voltage ends one noise
            # band early, so the hold's loop takes over before the setpoint is reached
            band = self.reg.band_uV if s.handover else 0
            if s.handover:
                # and as far as the cell will run on over the next HANDOVER_TICKS
                # (or over the next tick, if longer: its reading comes after it; at
                # most HANDOVER_MAX_MS: a longer tick, `cycler simulate`'s far from the
                # end, shortens itself near it)
                w = dt if dt > HANDOVER_MS else HANDOVER_MS
                band += self.reg.drift_uV(self.i_nA, w if w < HANDOVER_MAX_MS else
                                          HANDOVER_MAX_MS)
            if s.sign > 0:
                if v_uV >= s.until_uV - band:
                    return END_VOLTAGE
            elif v_uV <= s.until_uV + band:
                return END_VOLTAGE
        elif k == CV:
            i = self.i_f_nA
            if i < 0:
                i = -i
            if i <= s.i_end_nA:
                self._below_n += 1
                self._below_ms += dt if dt < _QUAL_TICK_MS else _QUAL_TICK_MS
            else:
                self._below_n = 0
                self._below_ms = 0
            if (self._below_n >= _QUAL_N and self._below_ms >= _QUAL_MS
                    and self.step_ms >= s.t_min_ms):
                return END_CURRENT
        elif k == CR:
            if v_uV <= s.until_uV:
                return END_VOLTAGE
        elif k == SWEEP:
            if self._sweep_advance(s, dt):
                return END_COMPLETE
        if s.t_max_ms and self.step_ms >= s.t_max_ms:
            return END_TIME
        return END_NONE

    def _command(self, v_uV):
        s = self.step
        k = s.kind
        i_max = self.protocol.i_max_nA
        if k == CC:
            self.out_on = True
            if self._ramp:
                # a CC step into a hold starts on the hold's loop aimed at the end voltage
                # with the step's current as its limit (a CC-CV charger's one loop): far
                # from the end it reaches the step's current in a tick or two and stays
                # there; a cell whose ohmic jump alone would pass the end voltage is
                # ramped up to it instead of jumped past it
                lim = s.i_nA
                # (aimed half-way to two noise bands short of the end voltage: the
                # step's own end check hands over to the hold one band short of it,
                # and a ramp's first ticks know the cell's run-on only roughly)
                b2 = self.reg.band_uV << 1
                aim = s.until_uV - b2 if lim > 0 else s.until_uV + b2
                aim = aim - ((aim - v_uV) >> 1) if (aim - v_uV) * lim > 0 else aim
                i = self.reg.update(aim, v_uV, lim if lim < 0 else 0,
                                    lim if lim > 0 else 0, self._dt, self.i_nA)
                if i == lim:
                    self._ramp = False
                # R from this tick's measured voltage and current against the last
                # tick's (both readings see the same current: no command timing in it)
                if self._ramp_v >= 0 and self._ramp_rest:
                    # (only from rest: later the cell's run-on is in the step too; the
                    # rest reading is kept until the new current has flowed a tick)
                    # (and, on a noisy board, until the voltage has moved by 2 noise
                    # bounds from it: the first steps are lost in its noise; the run-on
                    # since then only raises the estimate)
                    di = self.i_nA - self._ramp_i
                    dv = v_uV - self._ramp_v
                    nb = self.reg.noise_uV << 1 if self.reg.noisy else 0
                    # (flowed: at least half the command before this one, not the
                    # current reading's noise at rest)
                    half = (self.out_i_nA if self.out_i_nA >= 0 else -self.out_i_nA) >> 1
                    if half < PROBE_MIN_NA:
                        half = PROBE_MIN_NA
                    if (di >= half or di <= -half) and (dv >= nb or -dv >= nb):
                        self.reg.observe(dv, di)
                        self._ramp_rest = False
                if self._ramp:
                    self._probe_n = 0   # (the ramp's own pairs read R; at once at the
                if not (self._ramp_rest and self._ramp_v >= 0):   # step's current,
                    self._ramp_v = v_uV                           # the step's probe)
                    self._ramp_i = self.i_nA
                self.out_i_nA = i
            else:
                if self.step_ms >= TRIM_AFTER_MS:   # past the step's transients
                    t = self._trim + ((s.i_nA - self.i_nA) >> 3)
                    lim = (s.i_nA if s.i_nA > 0 else -s.i_nA) >> 3
                    self._trim = lim if t > lim else (-lim if t < -lim else t)
                # the step's current as measured: the output's own offset and gain
                # errors (1 % of full scale from the 3V3 rail) trimmed out by a slow
                # integrator, at most 1/8 of the current
                self.out_i_nA = s.i_nA + self._trim
                if s.handover:
                    self.reg.track(v_uV, self.i_nA, self._dt)
        elif k == CV:
            # (no R from the hold's own reading pairs: its run-on reads as a resistance
            # of the wrong sign, and an R_est below the cell's would make the loop ring)
            # the hold draws no more than its limit (by default the CC step's current
            # before it: docs/protocol-files.md) the way it charges or discharges
            # (on the command: the CC step's trim, the output's error it measured at
            # that current on this range, moves the cap with it, so the hold may draw
            # what the CC step drew, not the CC step's command less the output's error)
            cap = s.i_cap_nA if s.i_cap_nA else i_max
            if s.sign > 0:
                lo, hi = -i_max, cap + self._cap_trim
            else:
                lo, hi = -cap + self._cap_trim, i_max
            self.out_on = True
            self.out_i_nA = self.reg.update(s.v_uV, v_uV, lo, hi, self._dt, self.i_nA)
            self._aimed = True
        elif k == CR:
            # I = V / R in nA without leaving small ints: V // R is in uA
            r = s.r_ohm
            q = v_uV // r
            self.out_on = True
            self.out_i_nA = -(q * 1000 + (v_uV - q * r) * 1000 // r)
        elif k == SWEEP:
            self.out_on = True
            if self._probe_n:   # (the opening pulse, until its probe reads: _begin)
                self.out_i_nA = self.reg.i_nA
                return
            self.out_i_nA = self.reg.update(self._sw_v_uV, v_uV, -i_max, i_max)
        else:  # REST: open circuit, the voltage is still measured
            self.out_on = False
            self.out_i_nA = 0

    def _sweep_advance(self, s, dt):
        # move the setpoint rate*dt/1000 uV, carrying the remainder; True when done.
        # rate <= 100000 uV/s and dt <= CHUNK_MS (10 s) keep the product a small int.
        while dt > CHUNK_MS:
            if self._sweep_move(s, CHUNK_MS):
                return True
            dt -= CHUNK_MS
        return self._sweep_move(s, dt)

    def _sweep_move(self, s, dt):
        x = s.rate_uV_s * dt + self._sw_r
        adv = x // 1000
        self._sw_r = x - adv * 1000
        lo = s.v_uV if s.v_uV < s.until_uV else s.until_uV
        hi = s.until_uV if s.v_uV < s.until_uV else s.v_uV
        d = self._sw_dir
        v = self._sw_v_uV + adv * d
        toward_end = (d > 0) == (s.until_uV > s.v_uV)
        if (d > 0 and v >= hi) or (d < 0 and v <= lo):
            v = hi if d > 0 else lo
            if not toward_end:
                self._sw_done += 1
                if self._sw_done >= s.n:
                    self._sw_v_uV = v
                    return True
            self._sw_dir = -self._sw_dir
        self._sw_v_uV = v
        return False

    # --- position ----------------------------------------------------------------

    def _next(self, v_uV):
        p = self.protocol
        b = p.blocks[self.block]
        nxt = self.index + 1
        if nxt < b.end:
            self._begin(nxt, v_uV)
            return
        self.rep += 1
        if self.rep < b.repeat:
            self._begin(b.first, v_uV)
            return
        self.block += 1
        self.rep = 0
        if self.block < len(p.blocks):
            self._begin(p.blocks[self.block].first, v_uV)
            return
        self._close_cycle()
        self._enter(DONE)

    def _begin(self, index, v_uV):
        s = self.protocol.steps[index]
        if s.sign > 0 and self._had_dis:
            # a charge after a discharge opens the next cycle (the paper counts
            # charge then discharge, FACTS: coulombic efficiency vs previous charge)
            self._close_cycle()
            self.cycle += 1
            self._had_dis = False
        elif s.sign < 0:
            self._had_dis = True
        prev_i = self.out_i_nA if self.out_on else 0
        prev = self.step
        self.index = index
        self.step = s
        self.step_number += 1
        self.step_ms = 0
        self._below_n = 0
        self._below_ms = 0
        self.acc.reset_step()
        if s.kind == CV:
            self._ramp_v = -1
            # bumpless from the CC step before it; from rest, start at zero (and
            # without the drift its CC step taught the regulator)
            if prev is not None and prev.handover:
                self.reg.start(prev_i)
            else:
                self.reg.start(0)
                self.reg.forget_drift()
        self._ramp = s.kind == CC and s.handover
        self._ramp_v = -1
        self._ramp_rest = prev_i == 0    # the ramp starts from rest: its first pair is R
        self._cap_trim = self._trim if (s.kind == CV and prev is not None
                                        and prev.handover) else 0
        self._trim = 0
        if self._ramp:
            self.reg.start(prev_i)
            self.reg.forget_drift()
        elif s.kind == SWEEP:
            self.reg.start(0)
            self.reg.forget_drift()
            self._sw_v_uV = s.v_uV
            self._sw_dir = 1 if s.until_uV > s.v_uV else -1
            self._sw_r = 0
            self._sw_done = 0
            self._probe_n = 0
            # a fast sweep from rest on a loop that has never measured the cell (no CC
            # step before it) opens with a C/10 pulse the way it goes, read as a CC
            # step's R probe: on the default R the loop lags a 10 mV/s ramp by 170 mV on
            # fig4, within 11 mV with R measured (docs/protocol-files.md); a slow one
            # keeps the default's slow, safe loop, which follows it
            p = self.protocol
            i = p.capacity_nAh // 10
            if i > p.i_max_nA:
                i = p.i_max_nA   # (the sweep's own limit)
            if prev_i == 0 and s.rate_uV_s >= _FAST_SWEEP_UV_S and i and not self.reg.r_seen:
                self.reg.start(i * self._sw_dir)
                self._probe_n = 2
                self._probe_v_uV = v_uV
                self._probe_i_nA = self.i_nA
        self._command(v_uV)
        # a step that jumps the current tells the cell's resistance; a hold starts
        # bumpless and says nothing reliable
        if s.kind == CC or s.kind == CR or s.kind == REST:
            self._probe_n = 2
            self._probe_v_uV = v_uV
            self._probe_i_nA = self.i_nA
            self._probe_di_nA = (self.out_i_nA if self.out_on else 0) - prev_i
        elif s.kind != SWEEP and not (s.kind == CV and prev is not None and prev.handover):
            # a hold taking over from its CC step keeps the CC step's probe running
            # (a CC step may end at its first tick when the ohmic jump alone reaches
            # the end voltage); any other hold cancels it
            self._probe_n = 0
        self.i_f_nA = self.out_i_nA if self.out_on else 0

    # --- records -----------------------------------------------------------------

    def _record_step(self, reason):
        r = self.step_rec
        a = self.acc
        r[SR_NUMBER] = self.step_number
        r[SR_INDEX] = self.index
        r[SR_KIND] = self.step.kind
        r[SR_CYCLE] = self.cycle
        r[SR_REASON] = reason
        r[SR_MS] = self.step_ms
        r[SR_Q_CHG] = a.step_q_chg_nAh
        r[SR_Q_DIS] = a.step_q_dis_nAh
        r[SR_E_CHG] = a.step_e_chg_nWh
        r[SR_E_DIS] = a.step_e_dis_nWh
        r[SR_V_END] = self.v_uV
        r[SR_I_END] = self.i_nA
        self.step_seq += 1

    def _close_cycle(self):
        a = self.acc
        q = a.cycle_q_nAh
        if q[0] == 0 and q[1] == 0 and q[2] == 0 and q[3] == 0:
            return  # nothing flowed: not a cycle worth a record
        r = self.cycle_rec
        r[CR_CYCLE] = self.cycle
        r[CR_CHG_CC] = q[0]
        r[CR_CHG_CV] = q[1]
        r[CR_DIS_CC] = q[2]
        r[CR_DIS_CV] = q[3]
        r[CR_E_CHG] = a.cycle_e_chg_nWh
        r[CR_E_DIS] = a.cycle_e_dis_nWh
        r[CR_S] = a.cycle_s
        self.cycle_seq += 1
        a.reset_cycle()

    def _enter(self, state):
        """The one way into a state. Output is off in every state but RUNNING."""
        self.state = state
        if state != RUNNING:
            self.out_on = False
            self.out_i_nA = 0
