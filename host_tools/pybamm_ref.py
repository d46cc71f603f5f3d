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
    p.update(overrides)
    return p


def parameter_values(params, soc0):
    """pybamm.ParameterValues of the Thevenin model for our (reduced) parameters."""
    import numpy as np
    import pybamm

    cell = cellmodel.CellModel(params)
    q_Ah = cell.capacity_mAh * 1e-3
    x = np.array([s for s, _ in cellmodel.OCV_TABLE])
    y = np.array([v for _, v in cellmodel.OCV_TABLE])

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
