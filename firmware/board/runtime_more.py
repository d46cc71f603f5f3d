# The runtime's code for boot and for rare requests: the ring at boot (make_ring), start()
# (count the boot, restore a checkpointed run PAUSED, number the records on from the
# last reservation, push the boot record, say `ok boot`) and the `stats` line. runtime.py
# imports it for these and drops it after (sys.modules): it takes no heap while the
# board runs.
import gc

import engine_cp   # the checkpoint layout (dropped with this module, runtime.py)
from ring import Ring
import store
import wire

# checkpoint.txt as Runtime._checkpoint writes it: the protocol's CRC, the engine's
# checkpoint (engine_cp.CP_*), then the next record number and the test time
CPF_CRC = 0
CPF_ENGINE = 1
CPF_SEQ = 1 + engine_cp.CP_LEN
CPF_T_MS = 2 + engine_cp.CP_LEN
CPF_LEN = 3 + engine_cp.CP_LEN


def start(self, _lines_crc, CHECKPOINT_EVERY_MS):
    """Runtime.start() for Runtime `self`; the runtime's protocol CRC function and
    checkpoint interval come with the call (this module does not import runtime)."""
    b = store.read_ints(self._f_boot)
    self.boot = (b[0] + 1) if b else 1
    store.write_ints(self._f_boot, [self.boot])
    cp = store.read_ints(self._f_cp)
    lines = store.read_lines(self._f_proto)
    restored = False
    lost_max_nAh = 0
    if cp and lines is not None and cp[CPF_CRC] == _lines_crc(lines):
        try:
            self.ch.load_lines(lines)
            self.ch.restore(cp[CPF_ENGINE:CPF_SEQ], self.clock.ticks_ms())
            restored = True
            self.checkpoint = cp
            self._saved_lines = self.ch.lines
            # test time goes on from the checkpoint's
            if len(cp) >= CPF_LEN:
                self.t_ms = cp[CPF_T_MS]
            # what may be lost: the run's current limit for one checkpoint interval
            p = self.ch.protocol
            lost_max_nAh = p.i_max_nA // 1000 * (CHECKPOINT_EVERY_MS // 1000) // 3600
        except ValueError as e:
            self._reply("error boot: checkpoint not restored: %s" % e)
    # record numbers: from the end of the last reservation (never one used before)
    s = store.read_ints(self._f_seq)
    seq = s[0] if s else 0
    if restored and len(cp) >= CPF_LEN and cp[CPF_SEQ] > seq:
        seq = cp[CPF_SEQ]
    self.ring.next_seq = self.ring.cursor = seq
    self._reserve_seq()
    _push_boot(self, cp if restored else None)
    self._reply("ok boot: cause=%s boot=%d %s" % (
        self.reset_cause, self.boot,
        ("checkpoint step=%d cycle=%d t_s=%d lost_max_s=%d lost_max_nAh=%d; resume "
         "or abort" % (cp[CPF_ENGINE + engine_cp.CP_STEP], cp[CPF_ENGINE + engine_cp.CP_CYCLE],
                       self.t_ms // 1000, CHECKPOINT_EVERY_MS // 1000, lost_max_nAh))
        if restored else "no checkpoint"))


def _push_boot(self, cp):
    r = self._rec
    r[0] = self.t_ms
    r[1] = wire.PROTOCOL_VERSION
    r[2] = self.reset_cause
    n = 3
    r[n] = self.boot
    n += 1
    if cp:
        # step number, cycle, index, block, rep: where the run stands
        for k in (engine_cp.CP_STEP, engine_cp.CP_CYCLE, engine_cp.CP_INDEX,
                  engine_cp.CP_BLOCK, engine_cp.CP_REP):
            r[n] = cp[CPF_ENGINE + k]
            n += 1
    self.ring.push("B", r, n)
    for k in range(2, len(r)):
        r[k] = 0


def make_ring(n, RING_MIN, HEAP_RESERVE_B):
    """A ring of n slots, or the most that fits when the heap cannot give one block that
    large (a fragmented heap: free bytes are not one free block) or the ring would leave
    less than HEAP_RESERVE_B free for the run: a bisection between RING_MIN and n, a
    collection before each try (boot only). Raises MemoryError below RING_MIN slots."""
    r = _try_ring(n, RING_MIN, HEAP_RESERVE_B)
    if r is not None:
        return r
    fits, fails = RING_MIN, n      # fails: known not to fit
    while fails - fits > 1:
        mid = (fits + fails) // 2
        gc.collect()
        r = _try_ring(mid, RING_MIN, HEAP_RESERVE_B)
        if r is None:
            fails = mid
        else:
            fits = mid
        r = None
    gc.collect()
    r = _try_ring(fits, RING_MIN, HEAP_RESERVE_B) if fits > RING_MIN else None
    return r if r is not None else Ring(RING_MIN)   # the floor: MemoryError if not even that


def _try_ring(n, RING_MIN, HEAP_RESERVE_B):
    try:
        r = Ring(n)
    except MemoryError:
        return None
    if n <= RING_MIN or not hasattr(gc, "mem_free") or gc.mem_free() >= HEAP_RESERVE_B:
        return r
    return None


def stats(self):
    """Runtime.stats_text() for Runtime `self`."""
    n = self.ticks or 1
    return "ticks=%d overruns=%d tick_us_avg=%d tick_us_max=%d alloc_b_per_tick=%d " \
           "records=%d dropped=%d mem_free=%d fe_errors=%d ring_n=%d boot_free=%d" % (
               self.ticks, self.overruns, self.tick_us_sum // n, self.tick_us_max,
               self.alloc_sum // n if self.profile else -1, self.ring.next_seq, self.ring.dropped,
               gc.mem_free() if hasattr(gc, "mem_free") else -1, self.fe_errors,
               self.ring.n, self.boot_free_b)
