"""On the sim board's front-end model (boards/sim.py: ranges 20 uA .. 20 mA, 16-bit
ADC, offsets and gain errors per range), the C/46 termination of the fig4 cell
(FACTS: termination currents; 83.9 uAh / 46 = 1.82 uA) is measured within 5 %: the
autoranging has moved down to the 20 uA range by the end of the hold."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from host_tools.simulate import Sim  # noqa: E402
import engine  # noqa: E402
import protocol  # noqa: E402

I_END = 83900 // 46


def test_c46_measured_within_5_percent():
    lines = ["cell 83900 437", "window 2600000 4100000",
             "limits 2500000 4150000 3300000 720000",
             "cc 41950 4100000 0", "cv 4100000 %d 0 0" % I_END]
    for seed in (1, 2, 3):
        sim = Sim(lines, "fig4", seed=seed, fe_kwargs={"fast": False})
        sim.start()
        e = sim.ch.engine
        samples = []
        while sim.running():
            sim.tick()
            if e.state == engine.RUNNING and e.step.kind == protocol.CV:
                true = sim.fe.true_i_nA
                if abs(true) < 1.5 * I_END:
                    samples.append((sim.fe.i_nA, true, sim.fe.range_index))
            sim.advance(1000)
        assert e.step_rec[engine.SR_REASON] == engine.END_CURRENT
        assert len(samples) >= 5
        ranges = {r for _, _, r in samples}
        assert ranges == {0}, ranges  # the 20 uA range
        meas = sum(m for m, _, _ in samples) / len(samples)
        true = sum(t for _, t, _ in samples) / len(samples)
        assert abs(meas - true) <= 0.05 * true, (seed, meas, true)
        # and the hold ended near C/46 in truth, not just on paper
        assert abs(samples[-1][1] - I_END) <= 0.1 * I_END
