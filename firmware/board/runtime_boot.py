# The runtime's boot-time code (Runtime.start): count the boot, restore a checkpointed
# run PAUSED, number the records on from the last reservation, push the boot record and
# say `ok boot`. Runtime.start() imports it and drops it after (sys.modules): it takes no
# heap while the board runs.
import engine as _engine
import store
import wire

# checkpoint.txt as Runtime._checkpoint writes it: the protocol's CRC, the engine's
# checkpoint (engine.CP_*), then the next record number and the test time
CPF_CRC = 0
CPF_ENGINE = 1
CPF_SEQ = 1 + _engine.CP_LEN
CPF_T_MS = 2 + _engine.CP_LEN
CPF_LEN = 3 + _engine.CP_LEN


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
         "or abort" % (cp[CPF_ENGINE + _engine.CP_STEP], cp[CPF_ENGINE + _engine.CP_CYCLE],
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
        for k in (_engine.CP_STEP, _engine.CP_CYCLE, _engine.CP_INDEX, _engine.CP_BLOCK,
                  _engine.CP_REP):
            r[n] = cp[CPF_ENGINE + k]
            n += 1
    self.ring.push("B", r, n)
    for k in range(2, len(r)):
        r[k] = 0

