# Charge and energy bookkeeping in integers: nAh and nWh, per step and per cycle,
# split into the constant-current and constant-voltage parts (FACTS: capacity is
# reported per cycle, split into CC and CV parts, for charge and for discharge).
# add() runs inside the control tick: integer arithmetic only, no allocation, every
# intermediate within +-2**30, with remainders carried so nothing is lost by rounding.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# The integrator splits I = a uA + b nA, so a*dt_ms is in nA*s and b*dt_ms in nA*ms.
# A tick (up to the engine's MAX_DT_MS) is integrated in chunks short enough that
# a*chunk < 2**30: one chunk for any current up to 8 mA at the longest tick.
CHUNK_MS = const(10000)       # also the engine's sweep step bound
MAX_DT_MS = const(120000)
_PRODUCT_MAX = const(1000000000)
_NAS_PER_NAH = const(3600)
_PWH_PER_NWH = const(1000)

# cycle buckets
CHG_CC = const(0)
CHG_CV = const(1)
DIS_CC = const(2)
DIS_CV = const(3)


class _Integrator:
    """|I| dt -> whole nAh, remainders carried (one per direction)."""

    def __init__(self):
        self.r_nAms = 0  # 0 .. 999 nA*ms
        self.r_nAs = 0   # 0 .. 3599 nA*s

    def add(self, i_abs_nA, dt_ms):
        a = i_abs_nA // 1000
        self.r_nAms += (i_abs_nA - a * 1000) * dt_ms
        c = self.r_nAms // 1000
        self.r_nAms -= c * 1000
        self.r_nAs += a * dt_ms + c
        n = self.r_nAs // _NAS_PER_NAH
        self.r_nAs -= n * _NAS_PER_NAH
        return n


class Accounting:
    def __init__(self):
        self._chg = _Integrator()
        self._dis = _Integrator()
        self._r_chg_pWh = 0
        self._r_dis_pWh = 0
        # per cycle, by bucket (CHG_CC, CHG_CV, DIS_CC, DIS_CV)
        self.cycle_q_nAh = [0, 0, 0, 0]
        self.cycle_e_chg_nWh = 0
        self.cycle_e_dis_nWh = 0
        self.cycle_ms = 0       # time in this cycle, ms (capped use: see engine)
        self.cycle_s = 0        # whole seconds of this cycle
        # per step
        self.step_q_chg_nAh = 0
        self.step_q_dis_nAh = 0
        self.step_e_chg_nWh = 0
        self.step_e_dis_nWh = 0

    def reset_step(self):
        self.step_q_chg_nAh = 0
        self.step_q_dis_nAh = 0
        self.step_e_chg_nWh = 0
        self.step_e_dis_nWh = 0

    def reset_cycle(self):
        q = self.cycle_q_nAh
        q[0] = 0
        q[1] = 0
        q[2] = 0
        q[3] = 0
        self.cycle_e_chg_nWh = 0
        self.cycle_e_dis_nWh = 0
        self.cycle_ms = 0
        self.cycle_s = 0

    def add(self, dt_ms, v_uV, i_nA, cv):
        """Integrate one tick of measured current; `cv` tells the part (hold or not)."""
        a = i_nA // 1000 if i_nA >= 0 else (-i_nA) // 1000
        cap = _PRODUCT_MAX // (a + 1)   # longest chunk with a*chunk < 2**30
        v_mV = v_uV // 1000
        if v_mV < 0:
            v_mV = 0
        while True:   # in chunks of at most cap: one for any current up to 8 mA
            t = dt_ms if dt_ms <= cap else cap
            dt_ms -= t
            self.cycle_ms += t
            if self.cycle_ms >= 1000:
                s = self.cycle_ms // 1000
                self.cycle_s += s
                self.cycle_ms -= s * 1000
            if i_nA > 0:
                n = self._chg.add(i_nA, t)
                if n:
                    self.step_q_chg_nAh += n
                    self.cycle_q_nAh[CHG_CV if cv else CHG_CC] += n
                    self._r_chg_pWh += n * v_mV  # mV * nAh = pWh
                    e = self._r_chg_pWh // _PWH_PER_NWH
                    self._r_chg_pWh -= e * _PWH_PER_NWH
                    self.step_e_chg_nWh += e
                    self.cycle_e_chg_nWh += e
            elif i_nA < 0:
                n = self._dis.add(-i_nA, t)
                if n:
                    self.step_q_dis_nAh += n
                    self.cycle_q_nAh[DIS_CV if cv else DIS_CC] += n
                    self._r_dis_pWh += n * v_mV
                    e = self._r_dis_pWh // _PWH_PER_NWH
                    self._r_dis_pWh -= e * _PWH_PER_NWH
                    self.step_e_dis_nWh += e
                    self.cycle_e_dis_nWh += e
            if dt_ms <= 0:
                break
