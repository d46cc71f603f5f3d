"""The independent check, through OUR closed loop: the firmware's engine, regulator
and accounting driving the reduced cell model (OCV table + R0 + one RC, no diffusion)
behind the front-end model, against PyBaMM's own solver on its Thevenin model with the
same parameters and the same experiment strings. Every step's end time and capacity
agree within 2 %, for a C/10 cycle and a 1C cycle (issue 3).

"End time" is when the step ends, counted from the start of the experiment; a step's
capacity is compared against the charge of its half cycle (charge or discharge). A
hold of the reduced model lasts only a minute or so (no diffusion), and the engine
ends a hold only after the filtered current has stayed below the threshold for 5 s
and 3 ticks (engine._QUAL_MS, _QUAL_N: robust to noise), which PyBaMM does not do:
a hold's own duration runs up to ~15 s longer. That lag is printed, not hidden.
"""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from host_tools import protocol_file, pybamm_ref  # noqa: E402
from host_tools.simulate import simulate  # noqa: E402
import cellmodel  # noqa: E402

pytest.importorskip("pybamm")


@pytest.mark.parametrize("rate", ["C/10", "1C"])
def test_engine_closed_loop_agrees_with_pybamm(rate):
    params = pybamm_ref.reduced_params("fig4")
    steps = pybamm_ref.cccv_steps(rate)
    ref = pybamm_ref.run_pybamm(params, steps, soc0=0.0)

    cell = cellmodel.CellModel(dict(params, soc0=0.0))
    toml = ('[cell]\nname = "fig4"\ncapacity_mAh = %r\n[limits]\ni_max = "5C"\n'
            '[[block]]\nrepeat = 1\nsteps = [%s]\n' % (
                cell.capacity_mAh, ", ".join('"%s"' % s for s in steps)))
    parsed = protocol_file.parse(toml, "<pybamm-check>")
    w, sim = simulate(parsed, "fig4", cell=cell, fixed_tick_ms=1000)
    assert sim.ch.state_name() == "done"
    ours = w.steps
    assert len(ours) == len(ref) == 4
    t_o = t_r = 0.0
    half = {}
    for o, r in zip(ours, ref):
        q_r = r["q_As"]
        half[q_r > 0] = half.get(q_r > 0, 0.0) + abs(q_r)
    for k, (o, r) in enumerate(zip(ours, ref)):
        t_o += o["duration_ms"] / 1000.0
        t_r += r["t_s"]
        q_o = (o["q_chg_nAh"] - o["q_dis_nAh"]) * 1e-9 * 3600.0  # A s, + charging
        print("%-28s end %8.1f s vs %8.1f s, q %.5f vs %.5f A s" % (steps[k], t_o, t_r,
                                                                  q_o, r["q_As"]))
        assert t_o == pytest.approx(t_r, rel=0.02), (k, steps[k], t_o, t_r)
        assert abs(q_o - r["q_As"]) <= 0.02 * half[r["q_As"] > 0], (k, steps[k], q_o, r)
