"""The shipped protocols on the cell model through the firmware's engine (cycler
simulate), against the paper (issue 13; FACTS: what the results look like, other
electrical tests). Numbers the paper gives are asserted as numbers; shapes as shapes."""
import csv
import os
import re

import pytest

import host_tools  # noqa: F401
from host_tools import protocol_file
from host_tools.simulate import simulate
import cellmodel


def _run(name, cell=None, text_sub=None, out=None, **kw):
    path = protocol_file.resolve(name)
    text = open(path).read()
    for a, b in (text_sub or []):
        text = re.sub(a, b, text)
    parsed = protocol_file.parse(text, path)
    w, sim = simulate(parsed, cell or parsed.cell.get("name"), out_dir=out, **kw)
    return w, sim


def _gain(cycles):
    n = len(cycles) // 2
    withh = cycles[n - 1]
    without = cycles[-1]
    return ((withh["discharge_cc_mAh_g"] + withh["discharge_cv_mAh_g"])
            / without["discharge_cc_mAh_g"])


FIG4_CAP = [(r"capacity_mAh = 0.218", "capacity_mAh = 0.0839")]


def test_fig5_cv_comparison_gains_at_its_rate():
    """FACTS: the protocol: more than 2x (fig5b-cell2) and more than 3x (fig4)."""
    w, sim = _run("fig5_cv_comparison")
    assert sim.ch.state_name() == "done"
    assert _gain(w.cycles) > 2.0
    w, sim = _run("fig5_cv_comparison", cell="fig4", text_sub=FIG4_CAP)
    assert sim.ch.state_name() == "done"
    assert _gain(w.cycles) > 3.0


def test_control_at_c10_the_holds_gain_little():
    """Why the protocol states 1C: at C/10 the constant current already gives most."""
    sub = [(r"1C", "C/10")]
    w, sim = _run("fig5_cv_comparison", text_sub=sub)
    assert sim.ch.state_name() == "done"
    assert _gain(w.cycles) < 2.0


def test_calorimetry_starts_from_a_3v7_rest_and_logs_heat(tmp_path):
    w, sim = _run("calorimetry", out=str(tmp_path), sample_s=60.0)
    assert sim.ch.state_name() == "done"
    steps = list(csv.DictReader(open(os.path.join(str(tmp_path), "steps.csv"))))
    rests = [s for s in steps if s["type"] == "rest"]
    assert rests and all(abs(float(s["end_voltage_V"]) - 3.7) < 0.015 for s in rests)
    cr = [s for s in steps if s["type"] == "cr_discharge"]
    assert [s["source"] for s in cr] == ["Discharge at 217 kOhm until 2.6 V",
                                         "Discharge at 553 kOhm until 2.6 V"]
    ts = list(csv.DictReader(open(os.path.join(str(tmp_path), "timeseries.bdf.csv"))))
    mo = list(csv.DictReader(open(os.path.join(str(tmp_path), "model.csv"))))
    assert len(ts) == len(mo) and "Heat / W" in mo[0]
    heat = {}
    for a, b in zip(ts, mo):
        assert float(a["Test Time / s"]) == pytest.approx(float(b["Test Time / s"]))
        if a["Step Type"] == "cr_discharge" and float(a["Step Time / s"]) <= 3600.0:
            heat.setdefault(a["Step Count / 1"], []).append(float(b["Heat / W"]))
    h217, h553 = [sum(v) / len(v) for _, v in sorted(heat.items(), key=lambda kv: int(kv[0]))]
    # the larger current gives off more heat (FACTS: Fig. 7B: "the higher the
    # discharge current the greater the amount of heat"); Joule + overpotential heat
    # is far below the paper's 14.6 uW (docs/cellmodel.md)
    assert 0.0 < h553 < h217 < 14.6e-6


@pytest.mark.slow
def test_cv_diagnostic_starts_at_rest_runs_five_cycles_without_a_trip(tmp_path):
    w, sim = _run("cv_diagnostic", out=str(tmp_path), sample_s=60.0)
    assert sim.ch.state_name() == "done"
    steps = list(csv.DictReader(open(os.path.join(str(tmp_path), "steps.csv"))))
    assert [s["end"] for s in steps] == ["time"] + ["complete"] * 4
    ts = list(csv.DictReader(open(os.path.join(str(tmp_path), "timeseries.bdf.csv"))))
    rest_v = [float(r["Voltage / V"]) for r in ts if r["Step Type"] == "rest"][-1]
    assert abs(rest_v - 2.8) < 0.02          # the sweeps start at the rest voltage
    main = [(float(r["Voltage / V"]), float(r["Current / A"])) for r in ts
            if r["Step Count / 1"] == "4"]
    tops = sum(1 for k in range(1, len(main) - 1)
               if main[k][0] > 4.45 and main[k][0] >= main[k - 1][0]
               and main[k][0] > main[k + 1][0])
    assert tops == 5                          # 5 cycles = 5 there-and-back sweeps
    # the oxidation current rises steeply at the top (the side reaction)
    i43 = max(i for v, i in main if 4.28 < v < 4.32)
    i45 = max(i for v, i in main if v > 4.48)
    assert i45 > 2.0 * i43
    assert max(abs(i) for _, i in main) < 3.0 * 83.9e-6   # inside its own i_max
    # FACTS: the cycling window and why: "a reduction peak at 3.3 V" (the lithiation
    # lag; tests/test_cell_shape.py has the control without it, at 3.52 V)
    lows = [k for k in range(1, len(main) - 1) if main[k][0] < 2.85
            and main[k][0] <= main[k - 1][0] and main[k][0] < main[k + 1][0]]
    down = main[lows[0]:lows[1]]     # the second sweep's way down (as cv_shape.py)
    v_pk, i_pk = min((r for r in down if r[1] < 0), key=lambda r: r[1])
    assert 3.25 <= v_pk <= 3.35, v_pk


@pytest.mark.slow
def test_fig4_rate_test_ageing_on_the_shipped_protocol():
    """FACTS: what the results look like. Numbers: 1C discharge CC 100-120 with some
    cycle above 120, CV < 70, about 192 in all (we bound 185-196). Shapes: resistance
    grows, CC falls while CC+CV stays (capacity recovery), charge CC almost null above
    cycle 70 (the issue's bound: under 5 % of the charge; its control, the charge-only
    resistance off, is tests/test_cell_shape.py's)."""
    w, sim = _run("fig4_rate_test")
    assert sim.ch.state_name() == "done" and len(w.cycles) == 200
    one = [c for c in w.cycles if c["discharge_rate"] == "1C"]
    cc = [c["discharge_cc_mAh_g"] for c in one]
    cv = [c["discharge_cv_mAh_g"] for c in one]
    tot = [a + b for a, b in zip(cc, cv)]
    assert max(cc) > 120.0 and min(cc) > 100.0
    assert all(x <= 120.5 for x in cc[-30:])   # > 120 only at best (the early cycles)
    assert max(cv) < 70.0
    assert 185.0 <= min(tot) and max(tot) <= 196.0
    assert cc[-1] < cc[0] - 3.0 and abs(tot[-1] - tot[0]) < 2.0
    late = [c for c in w.cycles if c["cycle"] > 70]
    assert all(c["charge_cc_mAh_g"] < 0.05 * (c["charge_cc_mAh_g"] + c["charge_cv_mAh_g"])
               for c in late)
    fresh = cellmodel.make_cell("fig4")
    assert sim.cell.r0 > 1.8 * fresh.r0 and sim.cell.age_cycles > 190


@pytest.mark.slow
def test_a_surface_that_meets_the_1c_charge_cc_bound_keeps_the_hold_currents_signed(tmp_path):
    import cc_cv_reference as ref
    import boards.sim as simboard
    # (the smaller surface alone: the charge-only resistance, which meets the bound in
    # the shipped model, switched off)
    ov = dict(surface_frac=0.03, tau_fast_s=1050.0, r_chg_max_ohm=0.0)
    cell = cellmodel.make_cell("fig4", age0_cycles=75.0, **ov)
    cell.frozen = True
    for _ in range(2):
        r = ref.cycle(cell, 1.0, 1.0, dt=5.0)
    assert r["charge_cc"] < 0.05 * r["charge"]          # the bound: met here
    c = cellmodel.make_cell("fig4", **ov)
    c.set_soc(simboard.SOC0)
    parsed = protocol_file.load(protocol_file.resolve("quick"))
    w, sim = simulate(parsed, "fig4", out_dir=str(tmp_path), cell=c)
    assert sim.ch.state_name() == "done"
    rows = list(csv.DictReader(open(os.path.join(str(tmp_path), "timeseries.bdf.csv"))))
    # every row of a charge step charges, every row of a discharge step discharges
    # (it failed with the regulator before its look-ahead over the coming tick and its
    # step run-on: up to +2.1 uA at the end of the 2.6 V holds; at 0.05 none)
    wrong = [r for r in rows if r["Step Type"] != "rest"
             and (float(r["Current / A"]) > 0) != r["Step Type"].endswith("_charge")]
    assert not wrong
