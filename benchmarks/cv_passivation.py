"""Would a side reaction that passivates with the charge it passes give the CV's sharp
rise at 4.0 V (FACTS: the cycling window and why) without the 4.1 V holds seeing it?
A negative result (issue 13; docs/cellmodel.md "Cyclic voltammetry"): a second side
current at the model's 50 mV e-fold, A_f at 4.1 V, times exp(-Q_f / q_p), Q_f the charge
it has passed, on the float reference (tests/cc_cv_reference.py): the CV's first two
2.8 -> 4.5 V sweeps at 0.1 mV/s from a fresh fig4 cell (current at 3.9-4.3 V), the side
charge, and a fresh cell's first C/50 charge to 4.1 V with its hold to C/46. Not part of
the shipped model.

    .venv/bin/python benchmarks/cv_passivation.py
"""
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import host_tools  # noqa: E402,F401
import cellmodel  # noqa: E402
import cc_cv_reference as ref  # noqa: E402



class Passivating(cellmodel.CellModel):
    """The model with a second, fresh side current at the same e-fold (a_f_A at 4.1 V)
    that falls as exp(-q_f / q_p_As), q_f the charge it has passed (part of the state,
    so the reference's trial steps put it back)."""

    def passivate(self, a_f_A, q_p_As):
        self.base_A = self.side_A_4v1
        self.a_f_A = a_f_A
        self.q_p_As = q_p_As
        self.q_f = 0.0
        self.side_A_4v1 = self.base_A + a_f_A

    def state(self):
        return (super().state(), self.q_f)

    def set_state(self, st):
        super().set_state(st[0])
        self.q_f = st[1]
        self.side_A_4v1 = self.base_A + self.a_f_A * math.exp(-self.q_f / self.q_p_As)

    def step(self, dt_s, i_A):
        super().step(dt_s, i_A)
        if dt_s > 0 and self.i_side_A > 0:
            fresh = (self.side_A_4v1 - self.base_A) / self.side_A_4v1
            self.q_f += self.i_side_A * fresh * dt_s
            self.side_A_4v1 = self.base_A + self.a_f_A * math.exp(-self.q_f / self.q_p_As)


def make(a_f_A, q_p_As, soc):
    c = Passivating(dict(cellmodel.CELLS["fig4"]))
    c.passivate(a_f_A, q_p_As)
    c.set_soc(soc)
    return c


def main():
    for a_f in (2e-6, 5e-6):
        for q_p in (0.03, 0.1):
            c = make(a_f, q_p, cellmodel.soc_at_ocv(2.8))
            res = []
            for _ in range(2):
                up = ref.sweep(c, 4.5, 1e-4)
                ref.sweep(c, 2.8, 1e-4)
                res.append(" ".join("%.2f:%.0f" % (v, 1e6 * min(up, key=lambda r: abs(r[0] - v))[1])
                                    for v in (3.9, 4.0, 4.1, 4.2, 4.3)))
            qcv = c.q_f
            # the rate test's first cycle: C/50 charge to 4.1 V, hold to C/46
            d = make(a_f, q_p, 0.0)
            i1c = d.capacity_As / 3600.0
            r1 = ref.run_cc(d, i1c / 50, 4.1, dt=20.0)
            r2 = ref.run_cv(d, 4.1, i1c / 46, dt=20.0, t_max=2e6)
            print("A_f %.0f uA q_p %.2f As | sweep 1 (V:uA) %s | sweep 2 %s | the CV's fresh side "
                  "charge %.3f As | first C/50 charge: %.3f As of %.3f As to the fresh side "
                  "reaction, hold %.1f h (%s)"
                  % (a_f * 1e6, q_p, res[0], res[1], qcv, d.q_f, r1["q_As"] + r2["q_As"],
                     r2["t_s"] / 3600, r2["end"]))


if __name__ == "__main__":
    main()
