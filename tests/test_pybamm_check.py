"""An independent check: the reduced cell model (OCV table + R0 + one RC, no
diffusion) through our float reference driver and through PyBaMM's Thevenin model
with the same experiment strings agree, step by step, within 2 % in end time and
charge, for a C/10 and a 1C CC-CV cycle (FACTS: the protocol, termination currents)."""
import pytest

pytest.importorskip("pybamm")

import host_tools  # noqa: F401,E402
from host_tools import pybamm_ref  # noqa: E402
import cc_cv_reference  # noqa: E402

# fig4's own R0, R1, tau1; and a slow variant where a large, slow RC stands in for
# the diffusion limit so the holds carry a large share of the charge at 1C.
PARAMS = {
    "fig4": pybamm_ref.reduced_params("fig4"),
    "fig4-slow-rc": pybamm_ref.reduced_params("fig4", r1_ohm=4000.0, tau1_s=1800.0),
}


@pytest.mark.parametrize("rate", ["C/10", "1C"])
@pytest.mark.parametrize("pname", sorted(PARAMS))
def test_steps_agree_with_pybamm(pname, rate):
    params = PARAMS[pname]
    steps = pybamm_ref.cccv_steps(rate)
    ours = pybamm_ref.run_ours(params, steps, cc_cv_reference, soc0=0.0, dt=0.5)
    theirs = pybamm_ref.run_pybamm(params, steps, soc0=0.0)
    assert len(ours) == len(theirs) == len(steps)
    for s, a, b in zip(steps, ours, theirs):
        assert b["t_s"] > 0, s
        assert a["t_s"] == pytest.approx(b["t_s"], rel=0.02), s
        assert a["q_As"] == pytest.approx(b["q_As"], rel=0.02), s
    # the steps did what their strings say: charge in, charge out
    assert ours[0]["q_As"] > 0 and ours[1]["q_As"] > 0
    assert ours[2]["q_As"] < 0 and ours[3]["q_As"] < 0


def test_the_step_strings_parse_in_pybamm():
    import pybamm
    exp = pybamm.Experiment([tuple(pybamm_ref.cccv_steps("C/10"))])
    assert len(exp.steps) == 4
    with pytest.raises(ValueError, match="expected"):
        pybamm_ref.run_ours(PARAMS["fig4"], ["Charge at C/10 for 1 hour"], cc_cv_reference)
