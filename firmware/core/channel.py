# One cycler channel: the safety limits, then the engine, every tick. The safety runs
# first and cannot be bypassed: a trip switches the output off in the same tick and
# latches a FAULT with its reason and the values seen; only clear_fault() leaves it.
# Pure logic: time and measurements come in, the command goes out (out_on, out_i_nA,
# and cell_connected: the cell-disconnect relay, opened by every latched fault and
# closed again only by `start`/`resume` or a calibration `source`, never by itself).
import engine as _engine
from safety import Safety, FAULT_NAMES, OK, IDLE_CURRENT, QUALIFY_COUNT


class Channel:
    def __init__(self, i_max_nA, i_floor_nA, mismatch_nA=0, mismatch_pct=0,
                 mismatch_fs_pct=0, stuck_n=0, v_max_uV=0, v_noise_uV=0, v_err_uV=0,
                 hold_i_max_nA=0):
        """i_max_nA: what the front-end can source or sink; i_floor_nA: the smallest
        current it resolves (a termination current below it is refused).
        Front-end fault detection, from the board file (0: off; firmware/core/safety.py):
        mismatch_nA a fixed bound on |measured - commanded| current, or mismatch_pct %
        of |command| but at least mismatch_fs_pct % of the range's full scale (the
        caller sets i_fs_nA to the range each reading was taken on); stuck_n ticks of
        an unchanged voltage reading while current is driven.
        v_max_uV: the most the front-end measures (0: unknown); every load is checked
        against it and the absolute limits of firmware/core/protocol.py.
        The board's voltage reading (its board file's V_NOISE_UV, V_ERR_UV; 0: unknown):
        v_noise_uV the rms noise of one tick's reading (the regulator's band and R
        estimate, the safety's filter), v_err_uV its error bound after calibration
        (holds it cannot keep inside the window are refused); hold_i_max_nA the
        largest current its DAC resolves finely enough for a hold (HOLD_I_MAX_NA)."""
        self.i_max_nA = i_max_nA
        self.v_max_uV = v_max_uV
        self.i_floor_nA = i_floor_nA
        self.mismatch_nA = mismatch_nA
        self.mismatch_pct = mismatch_pct
        self.mismatch_fs_pct = mismatch_fs_pct
        self.stuck_n = stuck_n
        self.i_fs_nA = i_max_nA   # full scale of the range in use (the runtime keeps it)
        self.v_noise_uV = v_noise_uV
        self.v_err_uV = v_err_uV
        self.hold_i_max_nA = hold_i_max_nA
        self.engine = _engine.Engine()
        self.engine.reg.configure(v_noise_uV)
        self.safety = Safety()
        self.safety.v_noise_uV = v_noise_uV
        self.out_on = False
        self.out_i_nA = 0
        self.lines = None
        self.protocol = None
        self.blocked = None      # why the channel refuses to run, or None
        # calibration: a fixed current into a reference meter or a dummy cell, with the
        # safety running (source()); the ranging stands aside while it does
        self.sourcing = False
        self._src_i_nA = 0
        # safety in every state: current while the output is off (a DAC or a switch
        # stuck on) latches IDLE_CURRENT; in FAULT it is flagged (idle_leak) and the
        # cell disconnect is driven open again
        self._n_idle = 0
        self.idle_leak = False
        # the cell-disconnect relay's command (the loop applies it: firmware/core/loop.py):
        # closed at boot (the board file closes it), opened by every latched fault
        self.cell_connected = True
        self.start_pending = False   # a start waiting for a reading of the cell (start())
        # forget(name): drops a module imported for a job (the board's runtime hands in
        # runtime.forget; None on the host): a load parses, then checks, then keeps
        # neither's code (protocol.load)
        self.forget = None

    # --- commands --------------------------------------------------------------

    def block(self, reason):
        """Refuse to load or start anything until the board is fixed (e.g. a missing or
        implausible calibration): the console and `calibrate` still work."""
        self.blocked = reason

    def load_lines(self, lines):
        if self.blocked:
            raise ValueError(self.blocked)
        import protocol as _protocol   # the load's code: dropped after (forget)
        try:
            # how far a hold may keep the true voltage from its setpoint: the reading's
            # calibrated error and its noise (a hold closer to the window's edge is refused)
            p = _protocol.load(lines, self.i_max_nA, self.i_floor_nA, self.v_max_uV,
                               _protocol.hold_err_uV(self.v_err_uV, self.v_noise_uV),
                               self.hold_i_max_nA, forget=self.forget)
        finally:
            if self.forget is not None:
                self.forget("protocol")
        self.load(p)
        self.lines = list(lines)  # the runtime saves them for a resume after a reset

    def load(self, protocol):
        if self.safety.code:
            raise ValueError("a fault is latched (%s); clear it first" % self.fault_name())
        if self.sourcing:
            raise ValueError("the channel is sourcing for calibration; `calibrate off` first")
        self.engine.load(protocol)
        self.start_pending = False
        self.protocol = protocol
        self._arm()

    def _arm(self):
        p = self.protocol
        if p is None:
            return
        self.safety.configure(p.trip_lo_uV, p.trip_hi_uV, p.i_max_nA, p.step_max_ms,
                              self.mismatch_nA, self.mismatch_pct, self.mismatch_fs_pct,
                              self.stuck_n)

    def source(self, i_nA, i_fs_nA, v_max_uV):
        """Drive i_nA (calibration) with the safety running: an overcurrent 10 % above
        the range's full scale i_fs_nA, a voltage above v_max_uV or a broken current
        path trips and latches a fault like in a run. Refused during a run or a fault."""
        e = self.engine
        if e.state == _engine.RUNNING or e.state == _engine.PAUSED:
            raise ValueError("a run is active; stop it before sourcing a calibration current")
        if self.safety.code:
            raise ValueError("a fault is latched (%s); clear it first" % self.fault_name())
        self.safety.configure(-v_max_uV, v_max_uV, i_fs_nA, 0, self.mismatch_nA,
                              self.mismatch_pct, self.mismatch_fs_pct, 0)
        self.sourcing = True
        self.cell_connected = True   # an explicit command: the meter is on the cell leads
        self._src_i_nA = i_nA
        self.out_on = True
        self.out_i_nA = i_nA

    def source_off(self):
        if self.sourcing:
            self.sourcing = False
            self._arm()   # the loaded protocol's limits again
        self._follow()

    def detect(self, mismatch_nA=0, mismatch_pct=0, mismatch_fs_pct=0, stuck_n=0):
        """Set the front-end fault detection (see __init__), also for a loaded protocol."""
        self.mismatch_nA = mismatch_nA
        self.mismatch_pct = mismatch_pct
        self.mismatch_fs_pct = mismatch_fs_pct
        self.stuck_n = stuck_n
        s = self.safety
        s.mismatch_nA = mismatch_nA
        s.mismatch_pct = mismatch_pct
        s.mismatch_fs_pct = mismatch_fs_pct
        s.stuck_n = stuck_n

    def start(self, now_ms):
        if self.blocked:
            raise ValueError(self.blocked)
        if self.safety.code:
            raise ValueError("a fault is latched (%s); clear it first" % self.fault_name())
        self.source_off()   # a run takes over from a calibration current
        if not self.cell_connected:
            # the one way back after a fault: load + start. The readings taken with
            # the relay open are an open lead's (0 V), and the first step would begin
            # on one (its end check, its R probe): close the relay now, start the run
            # in the next tick, on the first reading of the cell
            self.cell_connected = True
            self.start_pending = True
            return
        self.engine.start(now_ms)
        self._follow()

    def pause(self, now_ms):
        self.engine.pause(now_ms)
        self._follow()

    def resume(self, now_ms):
        self.engine.resume(now_ms)
        self.cell_connected = True
        self._follow()

    def stop(self, now_ms):
        if self.start_pending:
            self.start_pending = False   # the run never began
            return
        self.engine.stop(now_ms)
        self._follow()

    def abort(self, now_ms):
        """Output off now, whatever the state; the run (if any) ends as a user stop."""
        self.start_pending = False
        if self.engine.state in (_engine.RUNNING, _engine.PAUSED):
            self.engine.stop(now_ms)
        self._follow()

    def clear_fault(self, now_ms=0):
        self.engine.clear_fault()
        self.safety.clear()
        self._n_idle = 0
        self.idle_leak = False
        self._follow()

    # --- the tick --------------------------------------------------------------

    def tick(self, now_ms, v_uV, i_nA):
        e = self.engine
        self.safety.i_fs_nA = self.i_fs_nA
        if self.sourcing:
            if self.safety.check(v_uV, i_nA, 0, True, self._src_i_nA):
                self.sourcing = False
                e.fault()
                self._follow()
            else:
                e.v_uV = v_uV
                e.i_nA = i_nA
                self.out_on = True
                self.out_i_nA = self._src_i_nA
            return
        if self.start_pending:
            self.start_pending = False
            if e.state == _engine.LOADED or e.state == _engine.DONE:
                e.v_uV = v_uV        # the step begins on this reading (start())
                e.i_nA = i_nA
                e.start(now_ms)
        active = e.state == _engine.RUNNING or e.state == _engine.PAUSED
        if active and self.safety.check(v_uV, i_nA, e.step_ms, self.out_on, self.out_i_nA):
            e.fault()
        else:
            e.tick(now_ms, v_uV, i_nA)
        if not active and not self.out_on:
            self._idle_check(v_uV, i_nA)
        # (_follow, inlined: once a tick)
        if e.state == _engine.FAULT:
            self.start_pending = False
            self.cell_connected = False   # every latched fault opens the cell disconnect
        self.out_on = e.out_on
        self.out_i_nA = e.out_i_nA

    def reaim(self, ahead_ms):
        """A hold's command of this tick aimed over ahead_ms, the coming tick's length
        (engine.reaim; `cycler simulate` picks it after the tick). True if it did: the
        caller applies out_i_nA (firmware/core/loop.py reaim)."""
        if self.sourcing or not self.engine.reaim(ahead_ms):
            return False
        self._follow()
        return True

    def range_switched(self, i_nA):
        """The front-end switched its current range before this tick's command; i_nA
        the current read on the old range (what flowed)."""
        if self.engine.state == _engine.RUNNING:
            self.engine.range_switched(i_nA)

    def idle_limit_nA(self):
        """The most current that may be read with the output off: the mismatch bound
        for a zero command (the range's offset and noise stay well below it), else
        5 % of the range's full scale (an uncalibrated board reads offsets of a few %)."""
        fs = self.i_fs_nA
        lim = fs // 100 * (self.mismatch_fs_pct or 5)
        return lim if lim > self.mismatch_nA else self.mismatch_nA

    def _idle_check(self, v_uV, i_nA):
        lim = self.idle_limit_nA()
        self._n_idle = self._n_idle + 1 if (i_nA > lim or -i_nA > lim) else 0
        if self._n_idle >= QUALIFY_COUNT:
            if self.engine.state == _engine.FAULT:
                self.idle_leak = True     # latched already; status says current flows
                self.cell_connected = False   # and the loop drives the relay open again
            else:
                self.trip(IDLE_CURRENT, v_uV, i_nA)

    def trip(self, code, v_uV, i_nA):
        """A fault found outside the limits (a driver, the runtime)."""
        self.safety.trip(code, v_uV, i_nA, self.engine.step_ms)
        self.sourcing = False
        self.engine.fault()
        self._follow()

    def restore(self, cp, now_ms):
        """A checkpoint back after a reset: the run PAUSED, the output off."""
        self.engine.restore(cp, now_ms)
        self._follow()

    def _follow(self):
        if self.engine.state == _engine.FAULT:
            self.start_pending = False
        self.out_on = self.engine.out_on
        self.out_i_nA = self.engine.out_i_nA
        if self.engine.state == _engine.FAULT:
            self.cell_connected = False   # every latched fault opens the cell disconnect

    # --- reporting (allocates) -------------------------------------------------

    def state_name(self):
        return _engine.STATE_NAMES[self.engine.state]

    def fault_name(self):
        return FAULT_NAMES[self.safety.code]

    def status_text(self):
        e = self.engine
        s = "state=%s step=%d cycle=%d v_uV=%d i_nA=%d out=%s out_i_nA=%d" % (
            self.state_name(), e.step_number, e.cycle, e.v_uV, e.i_nA,
            "on" if self.out_on else "off", self.out_i_nA)
        if self.blocked:
            s += " refused=yes"
        if self.safety.code != OK:
            f = self.safety
            s += " fault=%s fault_v_uV=%d fault_i_nA=%d" % (
                self.fault_name().replace(" ", "_"), f.v_uV, f.i_nA)
        if self.idle_leak:
            s += " idle_current=yes"
        if not self.cell_connected:
            s += " relay=open"
        if self.start_pending:
            s += " start=pending"
        return s
