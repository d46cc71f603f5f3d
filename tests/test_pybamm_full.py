"""PyBaMM check of the FULL cell model (issue 13): the two reservoirs with the
model's exchange law, R0, R1||C1, our OCV, ageing frozen, written as a PyBaMM model
(host_tools/pybamm_ref.full_model) and solved by PyBaMM through pybamm.Experiment on
the same step strings. Every step's charge, holds included, agrees within 2 % of that
step: through the float reference driver (the same equations, an ideal instrument) on
the fig4 rate test's first cycles, aged and thick cells and generated protocols; and
through the firmware's engine in the closed loop (front-end noise and errors, 1 s
tick), where each hold is compared at the current the engine really ended it at."""
import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

pybamm = pytest.importorskip("pybamm")

import host_tools  # noqa: F401,E402
from host_tools import protocol_file, pybamm_ref  # noqa: E402
from host_tools.simulate import simulate  # noqa: E402
import cc_cv_reference  # noqa: E402

TOL = 0.02


def _agree(steps, ours, theirs, q_cap_As):
    assert len(ours) == len(theirs) == len(steps)
    for s, a, b in zip(steps, ours, theirs):
        if abs(b["q_As"]) < 1e-4 * q_cap_As:
            # a hold that ends at once (its end current is above the step's start
            # current, e.g. C/50 into "until C/24"): nothing to compare but nothing
            assert abs(a["q_As"]) < 1e-3 * q_cap_As, s
            continue
        assert a["q_As"] == pytest.approx(b["q_As"], rel=TOL), s


def _check(params, steps, soc0=0.0, dt=2.0):
    ours = pybamm_ref.run_ours_full(params, steps, cc_cv_reference, soc0=soc0, dt=dt)
    theirs = pybamm_ref.run_pybamm_full(params, steps, soc0=soc0)
    cap = pybamm_ref.full_cell(params, soc0)._q_eff   # the reachable capacity
    _agree(steps, ours, theirs, cap)
    return ours, theirs


def test_fig4_rate_test_first_cycles():
    """The fig4 protocol's first cycles (C/50, C/20, C/10), one experiment."""
    parsed = protocol_file.load(protocol_file.resolve("fig4_rate_test"))
    cycles = parsed.pybamm_cycles()
    steps = list(cycles[0]) + list(cycles[2]) + list(cycles[5])
    assert steps[0] == "Charge at C/50 until 4.1 V" and "C/10" in steps[-2]
    ours, _ = _check(pybamm_ref.full_params("fig4"), steps, dt=10.0)
    # the diffusion part matters here: at C/10 the holds carry real charge
    assert abs(ours[-3]["q_As"]) > 0.02 * abs(ours[-2]["q_As"])


def test_aged_and_thick_cells_at_1c():
    """Ageing frozen at 150 cycles (fig4) and a thick cell part-way through its
    activation: the charge sits mostly in the holds, the part the model is about."""
    steps = pybamm_ref.cccv_steps("1C")
    ours, _ = _check(pybamm_ref.full_params("fig4", age=150.0), steps)
    assert ours[1]["q_As"] > 5.0 * ours[0]["q_As"]            # charge: mostly the hold
    _check(pybamm_ref.full_params("tofsims", age=3.0), pybamm_ref.cccv_steps("C/5"))


_RATES = ["C/20", "C/10", "C/5", "C/2", "1C", "2C"]
_ENDS_CHG = ["C/15", "C/30", "C/46", "C/76"]   # FACTS: charge CV ended C/15 .. C/76
_ENDS_DIS = ["C/10", "C/24", "C/40"]


@settings(max_examples=3, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.sampled_from(["fig4", "fig5b-cell2", "raman"]),
       r_c=st.sampled_from(_RATES), r_d=st.sampled_from(_RATES),
       e_c=st.sampled_from(_ENDS_CHG), e_d=st.sampled_from(_ENDS_DIS),
       age=st.sampled_from([0.0, 4.0, 10.0]))   # the thick cells live ~10 cycles
def test_generated_protocols(cell, r_c, r_d, e_c, e_d, age):
    steps = ["Charge at %s until 4.1 V" % r_c, "Hold at 4.1 V until %s" % e_c,
             "Discharge at %s until 2.6 V" % r_d, "Hold at 2.6 V until %s" % e_d,
             "Charge at %s until 4.1 V" % r_d, "Hold at 4.1 V until %s" % e_c]
    _check(pybamm_ref.full_params(cell, age=age), steps)


def _engine_vs_pybamm(rate):
    params = pybamm_ref.full_params("fig4")
    steps = pybamm_ref.cccv_steps(rate)
    cell = pybamm_ref.full_cell(params, 0.0)
    toml = ('[cell]\nname = "fig4"\ncapacity_mAh = %r\n[limits]\ni_max = "5C"\n'
            '[[block]]\nrepeat = 1\nsteps = [%s]\n' % (
                cell.capacity_mAh, ", ".join('"%s"' % s for s in steps)))
    parsed = protocol_file.parse(toml, "<pybamm-full-check>")
    w, sim = simulate(parsed, "fig4", cell=cell, fixed_tick_ms=1000)
    assert sim.ch.state_name() == "done"
    ours = w.steps
    # The engine ends a hold once its filtered current has stayed below the end
    # current for 5 s and 3 ticks (robust to noise); PyBaMM ends it the instant the
    # current crosses. So PyBaMM is run to the current the engine really ended at.
    same_end = [s if not s.startswith("Hold") else
                "%s until %.9g A" % (s.split(" until ")[0], abs(o["i_nA"]) * 1e-9)
                for s, o in zip(steps, ours)]
    theirs = pybamm_ref.run_pybamm_full(params, same_end)
    mine = [{"q_As": (o["q_chg_nAh"] - o["q_dis_nAh"]) * 1e-9 * 3600.0} for o in ours]
    _agree(steps, mine, theirs, cell.capacity_As)
    return mine, theirs


@pytest.mark.parametrize("rate", ["C/10", "1C"])
def test_engine_closed_loop_agrees_with_pybamm_full(rate):
    mine, theirs = _engine_vs_pybamm(rate)
    assert mine[1]["q_As"] > 0 and mine[3]["q_As"] < 0


def test_control_a_different_exchange_law_fails_the_check():
    """The check can fail: PyBaMM on the fig4 parameters against our model with the
    charge-direction exchange 30 % faster disagrees by more than 2 % on a step."""
    steps = pybamm_ref.cccv_steps("1C")
    p = pybamm_ref.full_params("fig4")
    ours = pybamm_ref.run_ours_full(dict(p, tau_chg_s=p["tau_chg_s"] * 0.7), steps,
                                    cc_cv_reference)
    theirs = pybamm_ref.run_pybamm_full(p, steps)
    with pytest.raises(AssertionError):
        _agree(steps, ours, theirs, pybamm_ref.full_cell(p, 0.0).capacity_As)


def test_control_pybamm_without_the_charge_resistance_fails_the_check():
    """The PyBaMM model carries the charge-only resistance: at 150 cycles, PyBaMM
    without it (r_chg 0) against our model with it disagrees by more than 2 %."""
    steps = pybamm_ref.cccv_steps("1C")
    p = pybamm_ref.full_params("fig4", age=150.0)
    assert pybamm_ref.full_cell(p, 0.0).r_chg > 1000.0
    ours = pybamm_ref.run_ours_full(p, steps, cc_cv_reference)
    theirs = pybamm_ref.run_pybamm_full(dict(p, r_chg_max_ohm=0.0), steps)
    with pytest.raises(AssertionError):
        _agree(steps, ours, theirs, pybamm_ref.full_cell(p, 0.0).capacity_As)


def test_control_the_lithiation_lag_missing_on_one_side_fails_the_check():
    """PyBaMM's RC element carries the lithiation lag (pybamm_ref.LaggedRC): without it
    on PyBaMM's side, the 1C discharge steps disagree by more than 2 %."""
    steps = pybamm_ref.cccv_steps("1C")
    p = pybamm_ref.full_params("fig4")
    assert p["lag_V"] > 0.0
    ours = pybamm_ref.run_ours_full(p, steps, cc_cv_reference)
    theirs = pybamm_ref.run_pybamm_full(dict(p, lag_V=0.0), steps)
    with pytest.raises(AssertionError):
        _agree(steps, ours, theirs, pybamm_ref.full_cell(p, 0.0).capacity_As)
