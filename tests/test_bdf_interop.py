"""Our timeseries.bdf.csv read by other tools: batterydf's strict validation, and
navani's cycle count (it splits half cycles on the sign of the current, so the rests'
noise would split them: a control shows it). cellpy is not tested: its newest release
for Python 3.11 (1.0.3) reads BDF only with the old labels ("Test Time / h",
"Charge Capacity / Ah"), not the BDF of today that we write."""
import csv
import os
import random
import time
import warnings

import pytest

from host_tools import protocol_file, records
from host_tools.simulate import simulate


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("quick"))
    t0 = time.time()
    w, _sim = simulate(protocol_file.load(protocol_file.resolve("quick")), "fig4", out)
    return out, w.cycles, t0


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_columns_units_and_wall_time(quick):
    out, cycles, t0 = quick
    rows = _rows(os.path.join(out, "timeseries.bdf.csv"))
    assert list(rows[0]) == records.BDF_COLUMNS
    unix = [float(r["Unix Time / s"]) for r in rows]
    test = [float(r["Test Time / s"]) for r in rows]
    # Unix time = the run's start (wall clock) + test time
    assert t0 - 5 <= unix[0] - test[0] <= time.time() + 5
    assert all(abs((u - t) - (unix[0] - test[0])) < 2e-3 for u, t in zip(unix, test))
    # rests carry 0 A; every other row a current of its step's sign
    for r in rows:
        i = float(r["Current / A"])
        if r["Step Type"] == "rest":
            assert i == 0.0
        elif r["Step Type"].endswith("_charge"):
            assert i > 0
        else:
            assert i < 0
    # Step Index: the protocol's step (1-based), the same for every repeat of it
    by_type = {}
    for r in rows:
        if r["Step Type"] != "rest":
            by_type.setdefault((r["Step Type"], r["Cycle Count / 1"]), set()).add(
                r["Step Index / 1"])
    assert all(len(v) == 1 for v in by_type.values())
    # energies per cycle, charge then discharge, close to the steps' own (exact) ones
    steps = _rows(os.path.join(out, "steps.csv"))
    for c in ("1", "2", "3"):
        e_dis = sum(float(s["discharge_mWh"]) for s in steps if s["cycle"] == c)
        last = [r for r in rows if r["Cycle Count / 1"] == c][-1]
        assert abs(float(last["Discharging Energy / Wh"]) * 1e3 - e_dis) < 0.03 * e_dis


def test_batterydf_strict_validation(quick):
    bdf = pytest.importorskip("bdf")
    path = os.path.join(quick[0], "timeseries.bdf.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no legacy-label or time warnings either
        rep = bdf.validate(path, raise_on_error=True)
    assert rep["ok"] and rep["missing"] == []
    assert rep["time_stats"]["monotonic"]
    # everything but our three extra columns is a BDF column by its preferred label
    assert sorted(rep["extras"]) == sorted(records.BDF_EXTRA_COLUMNS)
    # control: without a current column it is not BDF
    rows = _rows(path)
    bad = os.path.join(quick[0], "bad.bdf.csv")
    with open(bad, "w", newline="") as f:
        w = csv.DictWriter(f, [c for c in records.BDF_COLUMNS if c != "Current / A"],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(Exception):
        bdf.validate(bad, raise_on_error=True)


def _navani_cycles(path):
    ec = pytest.importorskip("navani.echem")
    import numpy as np
    if not hasattr(np, "trapz"):    # navani is written for numpy < 2 (np.trapz, gone in 2.4)
        np.trapz = np.trapezoid
    df = ec.echem_file_loader(path)
    return ec.cycle_summary(df)


def test_navani_counts_three_cycles(quick, tmp_path):
    out, cycles, _ = quick
    summ = _navani_cycles(os.path.join(out, "timeseries.bdf.csv"))
    assert len(summ) == 3
    for (_c, row), ours in zip(summ.iterrows(), cycles):
        # navani's mAh from our per-cycle capacity columns; it zeroes each half cycle
        # at its first row, which comes up to one 30 s sample into the step (~1 %)
        assert abs(row["Discharge Capacity"] - ours["discharge_mAh"]) < 0.02 * ours["discharge_mAh"]
    # control: the rests' measured noise (both signs, as written before) splits the
    # half cycles and navani counts far more cycles
    rows = _rows(os.path.join(out, "timeseries.bdf.csv"))
    rnd = random.Random(1)
    for r in rows:
        if r["Step Type"] == "rest":
            r["Current / A"] = "%.3e" % rnd.uniform(-2e-9, 2e-9)
    noisy = str(tmp_path / "noisy.bdf.csv")
    with open(noisy, "w", newline="") as f:
        w = csv.DictWriter(f, records.BDF_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    assert len(_navani_cycles(noisy)) > 3


def test_navani_counts_the_imported_neware_cycles(tmp_path):
    pytest.importorskip("NewareNDA")
    from host_tools import cli
    src = os.path.join(os.path.dirname(__file__), "data", "foreign", "nw4-120-6-1-36.ndax")
    out = str(tmp_path / "nw")
    assert cli.main(["import", src, "--out", out]) == 0
    summ = _navani_cycles(os.path.join(out, "timeseries.bdf.csv"))
    assert len(summ) == 5
    assert all(37.5 < q < 38.5 for q in summ["Discharge Capacity"])
