"""An independent check of the cell model: its reduced form (OCV table + R0 + one RC,
no diffusion) written as PyBaMM's Thevenin equivalent circuit, solved by PyBaMM with
the same experiment strings our float reference driver runs.

pybamm is imported inside the functions (host_tools rule: no heavy imports at top).
PyBaMM's SoC is our soc (0 = Li1.0, 1 = Li0.3, FACTS: 192 mAh/g), which runs a
little past 0 and 1 inside the 2.6-4.1 V window; so the Thevenin model's "Minimum
SoC" / "Maximum SoC" events are dropped (the OCV table covers soc -0.1 .. 1.06).
"Cell capacity" and "Nominal cell capacity" must be equal: PyBaMM converts a C-rate
step to amperes with the nominal one but a C-rate termination ("until C/46") with
the cell capacity.
"""
import math
import re

import cellmodel


def reduced_params(cell="fig4", **overrides):
    """Our parameters with what PyBaMM's Thevenin cannot express switched off:
    no diffusion limit (tau_fast_s 0), and R1 independent of the state of charge."""
    if isinstance(cell, str):
        p = dict(cellmodel.CELLS[cell])
    else:
        p = dict(cell)
    p["tau_fast_s"] = 0.0
    p["tau_slow_s"] = 0.0
    # nor ageing, nor the side reaction, nor the lithiation lag (the full check below
    # has the exchange and the lag)
    p.update(r_age_per_cycle=0.0, tau_age_per_cycle=0.0, act_frac=0.0, fade_per_cycle=0.0,
             side_c_at_4v1=0.0, r_chg_max_ohm=0.0, lag_V=0.0)
    p.update(overrides)
    return p


def parameter_values(params, soc0):
    """pybamm.ParameterValues of the Thevenin model for our (reduced) parameters."""
    import numpy as np
    import pybamm

    cell = cellmodel.CellModel(params)
    q_Ah = cell.capacity_mAh * 1e-3
    x, y = _ocv_grid()   # our monotone cubic, sampled densely

    def ocv(sto):
        return pybamm.Interpolant(x, y, sto, "ocv", interpolator="linear")

    pv = pybamm.ParameterValues("ECM_Example")
    pv.update({
        "Cell capacity [A.h]": q_Ah,
        "Nominal cell capacity [A.h]": q_Ah,
        "Initial SoC": soc0,
        "Open-circuit voltage [V]": ocv,
        "R0 [Ohm]": cell.r0,
        "R1 [Ohm]": cell.r1,
        "C1 [F]": cell.tau1 / cell.r1,
        "Element-1 initial overpotential [V]": 0.0,
        "Entropic change [V/K]": 0.0,
        "Upper voltage cut-off [V]": 4.6,
        "Lower voltage cut-off [V]": 1.9,
        "Current function [A]": q_Ah,
        "RCR lookup limit [A]": 1.0,
    })
    return pv


def run_pybamm(params, steps, soc0=0.0, period_s=10.0):
    """Solve the experiment with PyBaMM; per step: duration (s) and charge (A s, +
    charging), from the change of SoC (exact, whatever the output sampling)."""
    import pybamm

    model = pybamm.equivalent_circuit.Thevenin()
    # Our soc leaves [0, 1] a little inside the window (see the module docstring).
    model.events = [e for e in model.events if e.name not in ("Minimum SoC", "Maximum SoC")]
    pv = parameter_values(params, soc0)
    exp = pybamm.Experiment([tuple(steps)], period="%g seconds" % period_s)
    sim = pybamm.Simulation(model, experiment=exp, parameter_values=pv)
    sol = sim.solve()
    q_cap_As = pv["Cell capacity [A.h]"] * 3600.0
    out = []
    for st in sol.cycles[0].steps:
        t = st["Time [s]"].entries
        soc = st["SoC"].entries
        out.append({"t_s": float(t[-1] - t[0]),
                    "q_As": float((soc[-1] - soc[0]) * q_cap_As)})
    return out


_RATE = r"(?:(\d+(?:\.\d+)?)C|C/(\d+(?:\.\d+)?))"
_CC = re.compile(r"^(Charge|Discharge) at " + _RATE + r" until (\d+(?:\.\d+)?) V$")
_CV = re.compile(r"^Hold at (\d+(?:\.\d+)?) V until " + _RATE + r"$")
_REST = re.compile(r"^Rest for (\d+(?:\.\d+)?) (seconds|minutes|hours)$")


def _c(num, den):
    return float(num) if num else 1.0 / float(den)


def run_ours(params, steps, ref, soc0=0.0, dt=1.0):
    """The same experiment strings through our model and a float CC-CV driver `ref`
    (tests/cc_cv_reference.py: run_cc, run_cv, run_rest); only the few step forms
    used here are understood."""
    cell = cellmodel.CellModel(dict(params, soc0=soc0))
    i1c = cell.capacity_As / 3600.0
    out = []
    for s in steps:
        m = _CC.match(s)
        if m:
            sign = 1.0 if m.group(1) == "Charge" else -1.0
            r = ref.run_cc(cell, sign * _c(m.group(2), m.group(3)) * i1c,
                           float(m.group(4)), dt)
        else:
            m = _CV.match(s)
            if m:
                r = ref.run_cv(cell, float(m.group(1)), _c(m.group(2), m.group(3)) * i1c, dt)
            else:
                m = _REST.match(s)
                if not m:
                    raise ValueError("step %r: expected e.g. 'Charge at C/10 until 4.1 V', "
                                     "'Hold at 4.1 V until C/46', 'Rest for 10 minutes'" % s)
                k = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0}[m.group(2)]
                r = ref.run_rest(cell, float(m.group(1)) * k, dt)
        out.append({"t_s": r["t_s"], "q_As": r["q_As"]})
    return out


def cccv_steps(rate, v_lo=2.6, v_hi=4.1, end_charge="C/46", end_discharge="C/24"):
    """The paper's cycle (FACTS: the protocol, termination currents) as step strings."""
    return ["Charge at %s until %g V" % (rate, v_hi),
            "Hold at %g V until %s" % (v_hi, end_charge),
            "Discharge at %s until %g V" % (rate, v_lo),
            "Hold at %g V until %s" % (v_lo, end_discharge)]


# ---- the FULL model (issue 13) ------------------------------------------------------
# PyBaMM's Thevenin model with its diffusion submodel replaced by our two reservoirs:
# the same state (mean soc, gap d = s_s - s_b, one RC), the same exchange law
# (cellmodel.CellModel.tau_exchange: tau_chg while the bulk gives lithium up, the
# Kirchhoff-transform flux G(s_s) - G(s_b) while it takes lithium back), the OCV of the
# surface state (our monotone cubic, sampled densely), R0, R1||C1, the charge-only
# resistance r_chg (in series while charging), with the ageing state frozen at the
# cell's present age (its R0, R1, r_chg, exchange times and reachable capacity).
# PyBaMM's current is + on discharge; ours + on charge.
# The lithiation lag (lag_V) is in its RC element (LaggedRC).
# Not in it: the side reaction above 4 V (switched off on both sides for the check).

OCV_GRID_N = 4000


def _ocv_grid():
    import numpy as np
    lo, hi = -0.2, 1.2
    x = np.linspace(lo, hi, OCV_GRID_N)
    y = np.array([cellmodel.ocv_V(float(s)) for s in x])
    return x, y


def full_params(cell="fig4", age=0.0, **overrides):
    """Our parameter dict for the full-model check: the named cell, its ageing frozen
    at `age` equivalent cycles, the side reaction off."""
    p = dict(cellmodel.CELLS[cell]) if isinstance(cell, str) else dict(cell)
    p["age0_cycles"] = age
    p["side_c_at_4v1"] = 0.0
    p.update(overrides)
    return p


def full_cell(params, soc0):
    c = cellmodel.CellModel(dict(params, soc0=soc0))
    c.frozen = True
    return c


def full_model(params):
    """pybamm Thevenin with the two-reservoir exchange in place of its diffusion."""
    import pybamm

    c = full_cell(params, 0.0)
    f = c.f
    g = f * (1.0 - f)
    q_As = c.capacity_As
    q_eff_As = c._q_eff
    tf, ts, kn, L, tc = c.tau_fast, c.tau_slow, c.soc_knee, c._ln_ratio, c.tau_chg
    r_chg = c.r_chg

    def G(s):
        if -1e-12 < L < 1e-12:
            return s / tf
        cl = pybamm.minimum(pybamm.maximum(s, 0.0), kn)
        return (pybamm.minimum(s, 0.0) / ts
                + kn / (L * tf) * (pybamm.exp(-L * (1.0 - cl / kn)) - math.exp(-L))
                + pybamm.maximum(s - kn, 0.0) / tf)

    class TwoReservoirs(pybamm.BaseSubModel):
        def __init__(self, param, options=None):
            super().__init__(param)
            self.model_options = options

        def get_fundamental_variables(self):
            d = pybamm.Variable("Reservoir gap")
            return {"Reservoir gap": d}

        def get_coupled_variables(self, variables):
            soc = variables["SoC"]
            d = variables["Reservoir gap"]
            s_s = soc + (1.0 - f) * d
            z = pybamm.PrimaryBroadcast(s_s, "ECMD particle")
            x = pybamm.SpatialVariable("x ECMD", domain=["ECMD particle"],
                                       coord_sys="Cartesian")
            # the charge-only resistance rides on this overpotential (the Thevenin
            # voltage is OCV + element overpotentials + this one): + while charging
            i_chg = -variables["Current [A]"]
            eta = self.param.ocv(s_s) - self.param.ocv(soc)
            if r_chg > 0.0:
                eta = eta + r_chg * pybamm.maximum(i_chg, 0.0)
            variables.update({
                "Distributed SoC": z, "x ECMD": x, "Surface SoC": s_s,
                "Diffusion overpotential [V]": eta,
            })
            return variables

        def set_rhs(self, variables):
            soc = variables["SoC"]
            d = variables["Reservoir gap"]
            i_chg = -variables["Current [A]"]       # + charging (ours)
            s_b = soc - f * d
            flux = pybamm.maximum(d, 0.0) / tc + (G(s_b + pybamm.minimum(d, 0.0)) - G(s_b))
            self.rhs = {d: i_chg / (f * q_eff_As) - flux / g}

        def set_initial_conditions(self, variables):
            self.initial_conditions = {variables["Reservoir gap"]: pybamm.Scalar(0.0)}

    lag_V, lag_i0_A = c.lag_V, c.lag_i0_A

    class LaggedRC(pybamm.equivalent_circuit_elements.RCElement):
        # PyBaMM's R1||C1 with our lithiation lag in its target while discharging
        # (cellmodel.CellModel._lag_rc): v1 -> -I R1 - lag_V asinh(I / I0) w(s_s), I > 0
        def set_rhs(self, variables):
            super().set_rhs(variables)
            if not lag_V > 0.0:
                return
            vrc = variables["Element-1 overpotential [V]"]
            i = variables["Current [A]"]
            w = (variables["Surface SoC"] / 0.6) ** 2
            lag = lag_V * pybamm.arcsinh(pybamm.maximum(i, 0.0) / lag_i0_A) / (1.0 + w * w)
            self.rhs = {vrc: self.rhs[vrc] - lag / variables["tau1 [s]"]}

    model = pybamm.equivalent_circuit.Thevenin(build=False)
    model.submodels["Diffusion"] = TwoReservoirs(model.param, model.options)
    model.submodels["Element-1 (RC)"] = LaggedRC(model.param, 1, model.options)
    model.build_model()
    model.events = [e for e in model.events if e.name not in ("Minimum SoC", "Maximum SoC")]
    # the OCV element integrates SoC with the cell capacity: make it the reachable one
    return model, q_eff_As / 3600.0, q_As / 3600.0


def full_parameter_values(params, soc0):
    import pybamm

    c = full_cell(params, soc0)
    q_nom_Ah = c.capacity_mAh * 1e-3
    q_eff_Ah = c._q_eff / 3600.0
    x, y = _ocv_grid()

    def ocv(sto):
        return pybamm.Interpolant(x, y, sto, "ocv", interpolator="linear")

    pv = pybamm.ParameterValues("ECM_Example")
    pv.update({
        # the SoC equation uses "Cell capacity": the reachable capacity (ageing); the
        # C-rates of the steps and terminations use the nominal one (ours do too)
        "Cell capacity [A.h]": q_eff_Ah,
        "Nominal cell capacity [A.h]": q_nom_Ah,
        "Initial SoC": soc0,
        "Open-circuit voltage [V]": ocv,
        "R0 [Ohm]": c.r0,
        "R1 [Ohm]": c.r1,
        "C1 [F]": c.tau1 / c.r1,
        "Element-1 initial overpotential [V]": 0.0,
        "Entropic change [V/K]": 0.0,
        "Upper voltage cut-off [V]": 4.6,
        "Lower voltage cut-off [V]": 1.9,
        "Current function [A]": q_nom_Ah,
        "RCR lookup limit [A]": 1.0,
    })
    return pv


def run_pybamm_full(params, steps, soc0=0.0, period_s=60.0):
    """The full model through pybamm.Experiment. Per step: duration (s) and charge (A s,
    + charging, from the current integrated by PyBaMM: exact whatever the sampling),
    and the end current (A, + charging)."""
    import numpy as np
    import pybamm

    model, q_eff_Ah, _ = full_model(params)
    pv = full_parameter_values(params, soc0)
    c = full_cell(params, soc0)
    nom = c.capacity_mAh * 1e-3
    # PyBaMM converts "until C/46" with "Cell capacity"; ours with the nominal one:
    # write terminations in amperes so both mean the same current
    steps = [_abs_termination(s, nom) for s in steps]
    exp = pybamm.Experiment([tuple(steps)], period="%g seconds" % period_s)
    sim = pybamm.Simulation(model, experiment=exp, parameter_values=pv,
                            solver=pybamm.IDAKLUSolver(rtol=1e-8, atol=1e-10))
    sol = sim.solve()
    out = []
    for st in sol.cycles[0].steps:
        if isinstance(st, pybamm.EmptySolution):   # a step that ended at once
            out.append({"t_s": 0.0, "q_As": 0.0,
                        "i_end_A": out[-1]["i_end_A"] if out else 0.0})
            continue
        t = st["Time [s]"].entries
        soc = st["SoC"].entries
        i = st["Current [A]"].entries
        out.append({"t_s": float(t[-1] - t[0]),
                    "q_As": float((soc[-1] - soc[0]) * q_eff_Ah * 3600.0),
                    "i_end_A": float(-i[-1])})
    del np
    return out


_TERM = re.compile(r"until " + _RATE + r"$")


def _abs_termination(step, nominal_Ah):
    m = re.search(r"^(Hold at .* V) until " + _RATE + r"$", step)
    if not m:
        return step
    i_A = _c(m.group(2), m.group(3)) * nominal_Ah
    return "%s until %.9g A" % (m.group(1), i_A)


def run_ours_full(params, steps, ref, soc0=0.0, dt=2.0):
    """The same step strings through the cell model (ageing frozen) and the float
    reference driver; adds the end current."""
    cell = full_cell(params, soc0)
    i1c = cell.capacity_As / 3600.0
    out = []
    for s in steps:
        m = _CC.match(s)
        if m:
            sign = 1.0 if m.group(1) == "Charge" else -1.0
            r = ref.run_cc(cell, sign * _c(m.group(2), m.group(3)) * i1c,
                           float(m.group(4)), dt)
        else:
            m = _CV.match(s)
            if not m:
                raise ValueError("step %r: expected 'Charge at C/10 until 4.1 V' or "
                                 "'Hold at 4.1 V until C/46'" % s)
            r = ref.run_cv(cell, float(m.group(1)), _c(m.group(2), m.group(3)) * i1c, dt)
        out.append({"t_s": r["t_s"], "q_As": r["q_As"], "i_end_A": cell.i_A})
    return out
