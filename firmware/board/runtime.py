# The board's loop: a fixed-period control tick around the pure core, with the
# console, telemetry, checkpoints and the watchdog around it. Hardware is handed in
# (front-end, clock, watchdog, output port); this module never imports `machine`.
# Order in a tick: measure -> channel.tick (safety, engine) -> apply the output ->
# records -> console input -> send what the port takes -> checkpoint -> watchdog.
# The output port never blocks the tick: records wait in the ring (firmware/core/ring.py).
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

import gc
import sys
import time
import engine as _engine
import safety as _safety
import store
import wire
from ring import Ring
from console import Console
from units import ticks_diff_ms
from loop import control_tick
from accounting import CHG_CC as _CHG_CC, CHG_CV as _CHG_CV, DIS_CC as _DIS_CC, DIS_CV as _DIS_CV

try:
    _us = time.ticks_us
    _us_diff = time.ticks_diff
except AttributeError:  # CPython (tests)
    _perf = getattr(time, "perf_counter")

    def _us():
        return int(_perf() * 1e6)

    def _us_diff(a, b):
        return a - b
try:
    _mem_alloc = gc.mem_alloc
    _collect = gc.collect
except AttributeError:  # CPython: its heap is not the board's
    def _mem_alloc():
        return 0

    def _collect():
        pass

TICK_MS = const(100)            # 10 Hz control tick by default
TELEMETRY_MS = const(1000)
CHECKPOINT_MIN_MS = const(30000)  # spare the flash: at most one checkpoint per 30 s
# ... and at least one per 10 min of a running step: a reset loses at most that much of
# the run (docs/reliability.md: the bound, and the flash wear it costs)
CHECKPOINT_EVERY_MS = const(600000)
# Record numbers never repeat across resets: numbers are reserved in blocks of
# SEQ_BLOCK (seq.txt holds the end of the reservation); after a reset numbering goes
# on from there, so the gap marks the reset. One flash write per SEQ_BLOCK records.
SEQ_BLOCK = const(4096)
RING_N = const(512)
RING_MIN = const(32)            # the fewest records kept: a few minutes of telemetry at 1 Hz
# Heap left free after the ring: the runtime's own objects built after it (the console,
# its buffers, the reply list: ~2 kB on the unix port) and then the run's peak (a `load`
# of quick.toml with its parser and then its checks loaded, `start`, a checkpoint,
# `stats` or `help`): 26.8-28.6 kB in all, measured on the virtual board
# (benchmarks/heap_margin.py --need; docs/reliability.md, "Memory"). Before, 24 kB (the
# boot check not counting the runtime's objects): 110K booted and its load ran out.
HEAP_RESERVE_B = const(32768)
# what a Ring takes beside its slots: the object, its memoryview and array, and the GC
# rounding of its two buffers (32-byte blocks on the 64-bit unix port). Without it
# ring_n_for's ring left a few hundred bytes less than HEAP_RESERVE_B, _make_ring found
# the reserve broken and halved it: the ring came out at half of what fits.
_RING_OBJ_B = const(512)
# Heap a board that has it keeps free for a `load` of a long protocol: the fig4 rate test
# (99 lines, 64 steps: FACTS, rate sequence of the fig4 cell) needs 65.7 kB free after
# the smallest ring (benchmarks/heap_margin.py --need --protocol fig4_rate_test); after a
# larger ring the heap's holes take more: on a Pico's 192K it loaded with 88 kB kept
# (7 kB left after `start`) and with 96 kB (17 kB left; ring 142 slots: --at 192K).
# Before, the ring took all but HEAP_RESERVE_B and that load failed at every heap
# ("internal error MemoryError"). A heap that cannot keep this beside the smallest ring keeps what it can
# (at least HEAP_RESERVE_B): it loads the shorter protocols, and a load that does not fit
# is refused saying so (console_load).
LOAD_RESERVE_B = const(98304)
# the least free heap a board boots with (main.py refuses less, naming the figures): the
# smallest ring and the run's reserve after it
BOOT_FREE_MIN_B = HEAP_RESERVE_B + _RING_OBJ_B + RING_MIN * (wire.MAX_RECORD + 2)
_SEND_MAX = const(32)           # records written per tick at most
REPLY_MAX = const(8)            # reply lines held for a host that does not read; the
                                # oldest are dropped and counted (status: dropped_replies=)
# the console's parts loaded for a command (console.py), dropped after the line that
# used them (console_load once the load is over), and a load's parser and checks (the
# channel drops them itself: here too if a load ended between them): their code takes
# heap only while they work
_RARE = ("console_more", "console_load", "board_files", "protocol_parse",
         "protocol_check")
# the stages of a tick, named in the fault an unexpected exception latches
STAGES = ("control", "records", "input", "send", "checkpoint", "watchdog")

# checkpoint.txt: the protocol's CRC, the engine's checkpoint (engine_cp.CP_*), then the
# next record number and the test time (runtime_more.CPF_* read it back at boot)

PROTOCOL_FILE = "protocol.txt"
CHECKPOINT_FILE = "checkpoint.txt"
BOOT_FILE = "boots.txt"
SEQ_FILE = "seq.txt"


class Runtime:
    """One channel's loop. `fe`: front-end (docs/architecture.md); `clock`: object
    with ticks_ms() and sleep_ms(ms); `port`: object with write(bytes) -> n written
    or None, writable() -> bool, read_byte() -> int or None; `wdt`: has feed(), or
    None; `ranger`: autoranging (update(i_nA, cmd_nA, now_ms) -> range or -1), or None.
    """

    def __init__(self, fe, clock, channel, port, wdt=None, ranger=None, calib=None,
                 tick_ms=TICK_MS, telemetry_ms=TELEMETRY_MS, reset_cause="power_on",
                 firmware="dev", ring_n=RING_N, fs_dir="", profile=False, kbd_intr=None,
                 ring_buf=None):
        # first: the one large block; ring_buf: a buffer held since early boot for it (the
        # ring then has as many slots as fit in it, at most ring_n)
        if ring_buf is not None:
            self.ring = Ring(min(ring_n, len(ring_buf) // wire.MAX_RECORD), buf=ring_buf)
        else:
            import runtime_more
            self.ring = runtime_more.make_ring(ring_n, RING_MIN, HEAP_RESERVE_B)
        self.fe = fe
        self.clock = clock
        self.ch = channel
        channel.forget = forget   # a load's parser and checks: dropped after use
        self.port = port
        self.wdt = wdt
        self.ranger = ranger
        self.calib = calib
        self.tick_ms = tick_ms
        self.console = Console(channel, self._reply, self.ring, calib, firmware,
                               telemetry_ms, self.stats_text, self,
                               self.drops_text)
        self.kbd_intr = kbd_intr
        self._kbd_active = None        # what kbd_intr was last set for (None: not yet)
        self.reply_max = REPLY_MAX
        self.replies_dropped = 0       # reply lines dropped: the host did not read
        self.crash_stage = -1          # STAGES index of the first unexpected error, and
        self.crash_exc = None          # its exception class (status: crash=stage:Name)
        self.crashes = 0
        self.reset_cause = reset_cause
        self._fs_dir = fs_dir
        d = fs_dir + "/" if fs_dir else ""
        self._f_boot = d + BOOT_FILE
        self._f_cp = d + CHECKPOINT_FILE
        self._f_proto = d + PROTOCOL_FILE
        self._f_seq = d + SEQ_FILE
        self._seq_reserved = 0
        self.t_ms = 0                  # test time since `start` (may outgrow a small int)
        self._last_ms = clock.ticks_ms()
        self._next_tel_ms = 0
        self._step_seq = 0
        self._cycle_seq = 0
        self._fault_seen = False
        self._cp_last_ms = -CHECKPOINT_MIN_MS
        self._cp_due = False
        self._rec = [0] * 16           # fields of the record being pushed (reused)
        self._replies = []             # reply lines waiting for the port
        self.ticks = 0
        self.overruns = 0
        self.fe_errors = 0             # front-end calls that raised or failed
        self.tick_us_sum = 0           # cost of tick() (the whole loop body), summed
        self.tick_us_max = 0
        self.profile = profile         # count heap bytes per tick (gc.mem_alloc)
        self.alloc_sum = 0             # heap bytes allocated inside tick(), summed
        self.boot = 0
        self.boot_free_b = -1          # free heap the ring was sized from (main.py sets it)
        self.checkpoint = None
        # Boots safe: output off before anything else.
        fe.off()

    # --- boot ----------------------------------------------------------------

    def start(self):
        """After a reset: count the boot, report the cause and any checkpoint, and
        restore the run PAUSED if there is one. It never resumes by itself. (The code is
        in runtime_more.py, which is loaded for it and dropped after, as is the engine's
        engine_cp.py.)"""
        import runtime_more
        try:
            runtime_more.start(self, _lines_crc, CHECKPOINT_EVERY_MS)
        finally:
            drop_module("runtime_more")
            drop_module("engine_cp")

    def _reserve_seq(self):
        self._seq_reserved = self.ring.next_seq + SEQ_BLOCK
        store.write_ints(self._f_seq, [self._seq_reserved])

    # --- the loop --------------------------------------------------------------

    def run(self, max_ticks=-1):
        """The loop; returns after max_ticks (tests) or never. Ctrl-C (KeyboardInterrupt)
        can only happen while no run is active (see kbd_intr); it leaves the loop with
        the output switched off on the way out."""
        try:
            n = 0
            while max_ticks < 0 or n < max_ticks:
                self.tick()
                n += 1
                try:
                    self._sleep_to_next()
                except Exception as e:
                    self._crashed(5, e)
        finally:
            self.fe.off()
            self._set_kbd(False)

    def _set_kbd(self, active):
        """Ctrl-C off while a run is active, on otherwise (called every tick; acts on a
        change only)."""
        if active is self._kbd_active:
            return
        self._kbd_active = active
        if self.kbd_intr is not None:
            self.kbd_intr(-1 if active else 3)

    def _sleep_to_next(self):
        spent = ticks_diff_ms(self.clock.ticks_ms(), self._last_ms)
        wait = self.tick_ms - spent
        if wait > 0:
            self.clock.sleep_ms(wait)
        else:
            self.overruns += 1

    def tick(self):
        t0 = _us()
        if self.profile:
            # gc.mem_alloc() scans the heap: only when asked (it costs about as much
            # as the rest of the loop on an RP2040)
            a0 = _mem_alloc()
            self._tick()
            a = _mem_alloc() - a0
            if a > 0:   # negative when a collection ran inside: not counted
                self.alloc_sum += a
        else:
            self._tick()
        d = _us_diff(_us(), t0)
        self.tick_us_sum += d
        if d > self.tick_us_max:
            self.tick_us_max = d

    # the console's `files` (board_files.Files of the board's folder, loaded for it)
    def ls(self, start):
        import board_files
        return board_files.Files(self._fs_dir).ls(start)

    def cat(self, name, offset):
        import board_files
        return board_files.Files(self._fs_dir).cat(name, offset)

    def stats_text(self):
        """The `stats` line: loop counters, heap (runtime_more.py, loaded for it)."""
        import runtime_more
        try:
            return runtime_more.stats(self)
        finally:
            drop_module("runtime_more")
            drop_module("engine_cp")

    def _tick(self):
        now = self.clock.ticks_ms()
        dt = ticks_diff_ms(now, self._last_ms)
        self._last_ms = now
        st = self.ch.engine.state
        if dt > 0 and (st == _engine.RUNNING or st == _engine.PAUSED):
            self.t_ms += dt   # test time: runs from `start`, 0 before (docs/protocol.md)
        fe = self.fe
        ch = self.ch
        # A front-end that raises (a bus error, a range switch that fails) must not end
        # the loop: the fault latches as EXTERNAL, the output goes off, the loop goes on.
        try:
            if not control_tick(fe, ch, self.ranger, now):
                self._fe_fault()   # a range switch silently failed
        except Exception:   # KeyboardInterrupt is not an Exception: Ctrl-C still gets out
            self._fe_fault()
        self.ticks += 1
        # Any other stage that raises (a bug, MemoryError, a port error): the output
        # goes off, a fault latches (INTERNAL, the stage and the exception's name in
        # status), and the loop goes on answering the console in FAULT.
        healthy = False
        try:
            healthy = self._records(now)
        except Exception as e:
            self._crashed(1, e)
        try:
            self._input(now)
        except Exception as e:
            self._crashed(2, e)
        try:
            self._send()
        except Exception as e:
            self._crashed(3, e)
        try:
            self._checkpoint(now)
        except Exception as e:
            self._crashed(4, e)
        st = ch.engine.state
        self._set_kbd(st == _engine.RUNNING or st == _engine.PAUSED)
        if (healthy or not ch.out_on) and self.wdt is not None:
            self.wdt.feed()

    def _crashed(self, stage, exc):
        """An unexpected exception in a stage of the loop: output off, fault latched.
        Allocates nothing (the heap may be what ran out): the name is formatted by
        `status` (drops_text)."""
        self.crashes += 1
        try:
            self.fe.off()
        except Exception:
            pass
        try:
            self.fe.disconnect()   # the cell disconnect opens with every fault
        except Exception:
            pass
        ch = self.ch
        if self.crash_stage < 0:
            self.crash_stage = stage
            self.crash_exc = type(exc)
        try:
            ch.trip(_safety.INTERNAL, self.fe.v_uV, self.fe.i_nA)
        except Exception:
            # the channel itself is broken: at least the command is off
            ch.out_on = False
            ch.out_i_nA = 0

    def _fe_fault(self):
        # Possible outcomes: the output goes off (fe.off() works), or off() raises too
        # (the board is beyond help; the channel is latched off all the same and the
        # watchdog keeps being fed only while the output is off).
        ch = self.ch
        st = ch.engine.state
        if st == _engine.RUNNING or st == _engine.PAUSED or ch.sourcing:
            ch.trip(_safety.EXTERNAL, self.fe.v_uV, self.fe.i_nA)
        self.fe_errors += 1
        try:
            self.fe.off()
        except Exception:
            pass
        if not ch.cell_connected:
            try:
                self.fe.disconnect()
            except Exception:
                pass

    # --- records ---------------------------------------------------------------

    def _records(self, now):
        e = self.ch.engine
        r = self._rec
        ring = self.ring
        if e.step_seq != self._step_seq:
            self._step_seq = e.step_seq
            sr = e.step_rec
            r[0] = self.t_ms
            n = 1
            for k in _engine.SR_WIRE:   # the S record's layout (wire.FIELDS["S"])
                r[n] = sr[k]
                n += 1
            ring.push("S", r, n)
            self._cp_due = True
        if e.cycle_seq != self._cycle_seq:
            self._cycle_seq = e.cycle_seq
            cr = e.cycle_rec
            r[0] = self.t_ms
            for k in range(_engine.CR_LEN):
                r[1 + k] = cr[k]
            ring.push("C", r, 1 + _engine.CR_LEN)
            self._cp_due = True
        faulted = e.state == _engine.FAULT
        if faulted and not self._fault_seen:
            s = self.ch.safety
            r[0] = self.t_ms
            r[1] = s.code
            r[2] = s.v_uV
            r[3] = s.i_nA
            r[4] = e.step_number
            ring.push("F", r, 5)
        self._fault_seen = faulted
        rate = self.console.rate_ms
        if rate and ticks_diff_ms(now, self._next_tel_ms) >= 0:
            self._next_tel_ms = now + rate
            q = e.acc.cycle_q_nAh
            r[0] = self.t_ms   # the T record's layout (wire.FIELDS["T"])
            r[1] = e.state
            r[2] = e.step_number
            r[3] = e.step.kind if e.step is not None else 0
            r[4] = e.cycle
            r[5] = e.v_uV
            r[6] = e.i_nA
            r[7] = q[_CHG_CC] + q[_CHG_CV]
            r[8] = q[_DIS_CC] + q[_DIS_CV]
            r[9] = e.step_ms
            r[10] = self.fe.range_index
            ring.push("T", r, 11)
        return not faulted or not self.ch.out_on

    # --- console and port ------------------------------------------------------

    def _input(self, now):
        port = self.port
        e = self.ch.engine
        for _ in range(256):  # bounded: a flood of input cannot starve the tick
            b = port.read_byte()
            if b is None:
                break
            was = e.state
            self.console.feed(b, now)
            if e.state == _engine.RUNNING and was not in (_engine.RUNNING, _engine.PAUSED):
                self.t_ms = 0   # a new run (`start`), not a `resume`: test time from 0
            if b == 10 or b == 13:
                # after each line, not at the tick's end: the lines of one read (`rate 0`
                # then `load` and its protocol) would otherwise hold console_more and the
                # load's parse at once
                loading = self.console.loading()
                for m in _RARE:
                    if m in sys.modules and (m != "console_load" or not loading):
                        drop_module(m)   # a rare command's code: garbage from here on
                if loading and not self._loading:
                    # a `load` begins: the garbage of the commands before it (console_more
                    # for a `rate 0` in the same read) back to the heap now, in one
                    # piece, before the protocol's lines, Steps and code are placed
                    # (else in the holes between that garbage). Once per load, not per
                    # line: a flood of unknown words (console_more each) must not spend
                    # its time collecting (gc.mem_free() is a scan of the heap too)
                    _collect()
                self._loading = loading
        lines = self.ch.lines
        if lines is not self._saved_lines and lines is not None:
            # a newly loaded protocol goes to flash once, for a resume after a reset
            self._saved_lines = lines
            store.write_lines(self._f_proto, lines)

    _saved_lines = None
    _loading = False   # the console was in a `load` at the last line's end

    def _reply(self, line):
        # bounded: a host that sends commands and does not read costs dropped replies
        # (the oldest go, counted), never the heap; the newest answer is kept
        if len(self._replies) >= self.reply_max:
            self._replies.pop(0)
            self.replies_dropped += 1
        self._replies.append(line)

    def drops_text(self):
        """For `status`: what a host that did not read has lost so far."""
        s = "dropped_records=%d dropped_replies=%d" % (self.ring.dropped,
                                                        self.replies_dropped)
        c = self.crash
        if c is not None:
            s += " crash=" + c
        return s

    @property
    def crash(self):
        """"stage:ExceptionName" of the first unexpected error, or None."""
        if self.crash_stage < 0:
            return None
        return "%s:%s" % (STAGES[self.crash_stage], self.crash_exc.__name__)

    def _send(self):
        port = self.port
        while self._replies and port.writable():
            line = self._replies[0]
            b = (line + "\n").encode()
            port.write(b, 0, len(b))
            self._replies.pop(0)
        ring = self.ring
        for _ in range(_SEND_MAX):
            if not port.writable() or not ring.send_one(port):
                break

    # --- checkpoint ------------------------------------------------------------

    def _checkpoint(self, now):
        if self.ring.next_seq >= self._seq_reserved - 64:
            self._reserve_seq()   # before the numbers run out (a tick pushes a few)
        e = self.ch.engine
        st = e.state
        if st == _engine.DONE or st == _engine.LOADED or st == _engine.IDLE:
            if self.checkpoint is not None or self._cp_due:
                store.remove(self._f_cp)  # a finished or aborted run: nothing to resume
                self.checkpoint = None
            self._cp_due = False
            return
        if st != _engine.RUNNING:
            return
        since = ticks_diff_ms(now, self._cp_last_ms)
        # due: a run just started (no checkpoint yet), a step or cycle ended, or a
        # long step has run CHECKPOINT_EVERY_MS since the last one
        if self.checkpoint is None or since >= CHECKPOINT_EVERY_MS:
            self._cp_due = True
        if not self._cp_due:
            return
        if since < CHECKPOINT_MIN_MS and self.checkpoint:
            return
        self._cp_due = False
        self._cp_last_ms = now
        cp = [_lines_crc(self.ch.lines)] + e.checkpoint() + [self.ring.next_seq, self.t_ms]
        drop_module("engine_cp")   # the checkpoint's code: loaded for it (engine.py)
        store.write_ints(self._f_cp, cp)
        self.checkpoint = cp


def ring_n_for(free_b, n_max, slot_len=wire.MAX_RECORD):
    """How many ring slots fit in free_b bytes of free heap (measured after the imports
    and the board setup), leaving LOAD_RESERVE_B for the rest of the run where the heap
    has it beside the smallest ring, else what it has beside it, at least HEAP_RESERVE_B:
    at most n_max (the board file's RING_N), at least RING_MIN (a board that cannot spare
    that much fails at boot, loudly, rather than later)."""
    reserve = free_b - _RING_OBJ_B - RING_MIN * (slot_len + 2)
    if reserve > LOAD_RESERVE_B:
        reserve = LOAD_RESERVE_B
    if reserve < HEAP_RESERVE_B:
        reserve = HEAP_RESERVE_B
    n = (free_b - reserve - _RING_OBJ_B) // (slot_len + 2)   # + the lengths' 2 B
    if n > n_max:
        n = n_max
    return n if n > RING_MIN else RING_MIN


def drop_module(name):
    """Forget a module imported for a one-time or rare job (runtime_more, console_more):
    its code and texts are garbage once nothing refers to them."""
    try:
        del sys.modules[name]
    except KeyError:
        pass


def forget(name):
    """drop_module, then a collection: the channel's `forget` (a load drops its parser
    before its checks load): the parse's garbage goes back to the heap before the
    checks' code is placed, which otherwise could find no block large enough in the
    holes between the new Steps (a MemoryError "allocating 786 bytes" at 110K)."""
    drop_module(name)
    _collect()


def _lines_crc(lines):
    return wire.crc16("\n".join(lines).encode()) if lines else 0
