# The engine's checkpoint: where a run stands (Engine.checkpoint) and putting it back
# after a reset (Engine.restore), as CP_LEN integers. Split from engine.py so that its
# code is not resident: the engine imports it for a checkpoint (at most every 30 s of a
# run, runtime.CHECKPOINT_MIN_MS) or a restore (a boot that resumes), and the board's
# runtime drops it after. `self` is the engine.Engine. No clock, no pin.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

from protocol_defs import SWEEP

# checkpoint fields (checkpoint()): where the run stands at a step's start
CP_BLOCK = const(0)
CP_REP = const(1)
CP_INDEX = const(2)
CP_STEP = const(3)       # steps executed so far (the step record's number)
CP_CYCLE = const(4)
CP_HAD_DIS = const(5)
CP_Q = const(6)          # the cycle's charge, 4 fields in accounting's order (CHG_CC ..)
CP_E_CHG = const(10)
CP_E_DIS = const(11)
CP_CYCLE_S = const(12)
# where the current step stands (a checkpoint taken within a long step): its time and
# what it has counted so far, so a resume goes on from there
CP_STEP_MS = const(13)
CP_STEP_Q_CHG = const(14)
CP_STEP_Q_DIS = const(15)
CP_STEP_E_CHG = const(16)
CP_STEP_E_DIS = const(17)
CP_LEN = const(18)


def checkpoint(self):
    """The run's position now, as CP_LEN ints (the CP_* fields): enough to resume it
    after a reset, with the cycle's and the current step's counts and the step's
    time (taken at a step's start, or within a long step)."""
    a = self.acc
    cp = [0] * CP_LEN
    cp[CP_BLOCK] = self.block
    cp[CP_REP] = self.rep
    cp[CP_INDEX] = self.index
    cp[CP_STEP] = self.step_number
    cp[CP_CYCLE] = self.cycle
    cp[CP_HAD_DIS] = 1 if self._had_dis else 0
    for k in range(4):
        cp[CP_Q + k] = a.cycle_q_nAh[k]
    cp[CP_E_CHG] = a.cycle_e_chg_nWh
    cp[CP_E_DIS] = a.cycle_e_dis_nWh
    cp[CP_CYCLE_S] = a.cycle_s
    cp[CP_STEP_MS] = self.step_ms
    cp[CP_STEP_Q_CHG] = a.step_q_chg_nAh
    cp[CP_STEP_Q_DIS] = a.step_q_dis_nAh
    cp[CP_STEP_E_CHG] = a.step_e_chg_nWh
    cp[CP_STEP_E_DIS] = a.step_e_dis_nWh
    return cp

def restore(self, cp):
    """Put the engine's run (its protocol loaded, the engine LOADED: Engine.restore
    checks, then pauses it) back where checkpoint() left it."""
    p = self.protocol
    if len(cp) != CP_LEN:
        raise ValueError("a checkpoint has %d integers, got %d" % (CP_LEN, len(cp)))
    block, rep, index = cp[CP_BLOCK], cp[CP_REP], cp[CP_INDEX]
    b = p.blocks[block] if 0 <= block < len(p.blocks) else None
    if b is None or not (0 <= rep < b.repeat and b.first <= index < b.end):
        raise ValueError("checkpoint position %d/%d/%d is not in this protocol" % (
            block, rep, index))
    self.block, self.rep, self.index = block, rep, index
    self.step_number, self.cycle = cp[CP_STEP], cp[CP_CYCLE]
    self._had_dis = bool(cp[CP_HAD_DIS])
    a = self.acc
    a.reset_cycle()
    for k in range(4):
        a.cycle_q_nAh[k] = cp[CP_Q + k]
    a.cycle_e_chg_nWh = cp[CP_E_CHG]
    a.cycle_e_dis_nWh = cp[CP_E_DIS]
    a.cycle_s = cp[CP_CYCLE_S]
    a.reset_step()
    a.step_q_chg_nAh = cp[CP_STEP_Q_CHG]
    a.step_q_dis_nAh = cp[CP_STEP_Q_DIS]
    a.step_e_chg_nWh = cp[CP_STEP_E_CHG]
    a.step_e_dis_nWh = cp[CP_STEP_E_DIS]
    self.step = p.steps[index]
    self.step_ms = cp[CP_STEP_MS]
    self._below_n = self._below_ms = 0
    self.reg.start(0)
    self.reg.forget_drift()
    if self.step.kind == SWEEP:
        self._sw_v_uV = self.step.v_uV
        self._sw_dir = 1 if self.step.until_uV > self.step.v_uV else -1
        self._sw_r = self._sw_done = 0
    self._probe_n = 0
