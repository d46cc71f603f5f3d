"""`cycler import`: the real instrument files in tests/data/foreign (SOURCES.md there
states what each holds, read with the instruments' own readers) into our files, the
CC/CV split from the data, and one-line errors for files it cannot read."""
import csv
import os
import zipfile

import numpy as np
import pytest

from host_tools import cli, importers

HERE = os.path.dirname(os.path.abspath(__file__))
FOREIGN = os.path.join(HERE, "data", "foreign")
NEWARE = os.path.join(FOREIGN, "nw4-120-6-1-36.ndax")
BIOLOGIC = os.path.join(FOREIGN, "250116_kigr_gen6_01_02_GCPL_CD8.mpr")
ARBIN = os.path.join(FOREIGN, "arbin_example.res")
SINTEF = os.path.join(FOREIGN, "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv")

pytest.importorskip("NewareNDA")
pytest.importorskip("galvani")
pytest.importorskip("access_parser")


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _import(tmp_path, path, *extra):
    out = str(tmp_path / os.path.basename(path))
    assert cli.main(["import", path, "--out", out] + list(extra)) == 0
    return out, _rows(os.path.join(out, "cycles.csv")), _rows(os.path.join(out, "steps.csv"))


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Each real file imported once: name -> (folder, cycles rows, steps rows)."""
    tmp = tmp_path_factory.mktemp("imp")
    return {"neware": _import(tmp, NEWARE, "--capacity-mAh", "45"),
            "biologic": _import(tmp, BIOLOGIC, "--capacity-mAh", "2.413"),
            "arbin": _import(tmp, ARBIN),
            "sintef": _import(tmp, SINTEF)}


def _f(rows, col):
    return [float(r[col]) for r in rows]


def test_neware_five_cccv_cycles_of_38_mAh(imported):
    out, cyc, steps = imported["neware"]
    assert len(cyc) == 5                                   # SOURCES: 5 cycles
    for q in _f(cyc, "discharge_mAh"):                     # about 38.0 mAh each
        assert 37.5 < q < 38.5
    # each cycle: CC charge, CV charge (the hold at 4.2 V), CC discharge
    for c in range(1, 6):
        kinds = [s["type"] for s in steps if int(s["cycle"]) == c]
        assert kinds == ["cc_charge", "cv_charge", "cc_discharge"], (c, kinds)
    assert {r["charge_rate"] for r in cyc} == {"C/2"}       # 22.5 mA of 45 mAh
    ts = _rows(os.path.join(out, "timeseries.bdf.csv"))
    assert len(ts) == 7257
    kinds = [r["Step Type"] for r in ts]
    assert kinds.count("cv_charge") == 1817 and kinds.count("cc_discharge") == 3186
    cv = [s for s in steps if s["type"] == "cv_charge"]
    for s in cv:                                           # 30 min holds at 4.2 V
        assert abs(float(s["duration_s"]) - 1800) < 60
        assert abs(float(s["end_voltage_V"]) - 4.2) < 0.005
        assert 2.0e-3 < float(s["end_current_A"]) < 3.5e-3  # tapers to 2.2-3.4 mA
    # Unix time from the instrument's timestamps (2025-02-06)
    assert 1738800000 < float(ts[0]["Unix Time / s"]) < 1738900000


def test_biologic_current_from_dq_dt_and_three_cycles(imported):
    out, cyc, steps = imported["biologic"]
    assert len(cyc) == 3
    for q, want in zip(_f(cyc, "discharge_mAh"), (1.79, 1.85, 1.85)):   # SOURCES
        assert abs(q - want) < 0.01
    ts = _rows(os.path.join(out, "timeseries.bdf.csv"))
    assert len(ts) == 3791
    i = np.array(_f(ts, "Current / A"))
    assert abs(i.min() * 1e3 + 1.207) < 0.002 and abs(i.max() * 1e3 - 1.208) < 0.002
    cv = [s for s in steps if s["type"] == "cv_charge"]
    assert len(cv) == 3
    for s, hold_s in zip(cv, (1840, 1630, 1280)):           # the holds of SOURCES
        assert abs(float(s["duration_s"]) - hold_s) / hold_s < 0.05
        assert abs(float(s["end_voltage_V"]) - 4.9) < 0.03
    assert not [s for s in steps if s["type"].startswith("cv_dis")]
    assert {r["discharge_rate"] for r in cyc} == {"C/2"}    # 1.2065 mA of 2.413 mAh


def test_arbin_four_cc_cycles_types_from_the_data(imported):
    out, cyc, steps = imported["arbin"]
    assert len(cyc) == 4                 # 5 cycle indices, the 5th only a rest
    for q in _f(cyc, "charge_mAh"):
        assert 0.47 < q < 0.49           # about 0.48 mAh
    assert not [s for s in steps if s["type"].startswith("cv")]   # no CV steps
    assert steps[0]["type"] == "rest" and float(steps[0]["duration_s"]) > 47 * 3600
    assert {r["charge_rate"] for r in cyc} == {"0.0865 mA"}       # +-86.5 uA, in mA
    assert all("(data)" in s["source"] for s in steps)


def test_sintef_bdf_reference_lithiation_first(imported):
    out, cyc, steps = imported["sintef"]
    # lithiation (discharge) first, so cycle 1 is lithiation + delithiation and
    # cycle 2 the partial lithiation: about 1.5 cycles
    assert [s["type"] for s in steps] == ["rest", "cc_discharge", "cc_charge", "cc_discharge"]
    assert len(cyc) == 2
    assert abs(float(cyc[0]["discharge_mAh"]) - 6.3) < 0.05
    assert abs(float(cyc[0]["charge_mAh"]) - 3.2) < 0.05
    # the efficiency of a lithiation-first cycle is delithiation / lithiation
    assert abs(float(cyc[0]["coulombic_efficiency_pct"]) - 100 * 3.2 / 6.3) < 0.5


def test_mass_gives_mAh_per_g(tmp_path):
    out, cyc, steps = _import(tmp_path, ARBIN, "--mass-mg", "3.5")
    for r in cyc:
        c = int(r["cycle"])
        q = sum(float(s["discharge_mAh"]) for s in steps
                if int(s["cycle"]) == c and s["type"] == "cc_discharge")
        assert abs(float(r["discharge_cc_mAh_g"]) - q / 3.5e-3) < 1e-3
    # capacity and specific capacity give the same mass
    out2, cyc2, _ = _import(tmp_path / "b", ARBIN, "--capacity-mAh", "0.672",
                            "--specific-mAh-g", "192")
    assert abs(float(cyc2[0]["discharge_cc_mAh_g"]) - float(cyc[0]["discharge_cc_mAh_g"])) < 0.01


def _bdf(path, t, v, i):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Test Time / s", "Voltage / V", "Current / A"])
        for row in zip(t, v, i):
            w.writerow(row)


def test_cc_cv_split_found_in_the_data(tmp_path):
    """Time, voltage and current only: a CC charge, a CV hold (flat V, falling I), a
    rest, a CC discharge. The split lands where the current leaves the CC value."""
    t = np.arange(0, 400.0)
    i = np.r_[np.full(100, 1e-3), 1e-3 * np.exp(-np.arange(100) / 30.0),
              np.zeros(100), np.full(100, -1e-3)]
    v = np.r_[np.linspace(3.5, 4.1, 100), np.full(100, 4.1), np.full(100, 3.9),
              np.linspace(3.85, 3.0, 100)]
    _bdf(tmp_path / "x.csv", t, v, i)
    s = importers.read(str(tmp_path / "x.csv"))
    ann = importers.annotate(s)
    kinds = list(ann["kind"])
    assert kinds[:100] == ["cc_charge"] * 100
    # the hold's first rows still carry > 90 % of the CC current: CC until then
    first_cv = kinds.index("cv_charge")
    assert 100 <= first_cv <= 105
    assert kinds[200:300] == ["rest"] * 100 and kinds[300:] == ["cc_discharge"] * 100
    # control: the current falls but the voltage keeps rising: no CV part
    v2 = v.copy()
    v2[100:200] = np.linspace(4.1, 4.4, 100)
    _bdf(tmp_path / "y.csv", t, v2, i)
    assert "cv_charge" not in importers.annotate(importers.read(str(tmp_path / "y.csv")))["kind"]


def test_our_own_output_reimports_to_the_same_cycles(tmp_path):
    from host_tools import protocol_file
    from host_tools.simulate import simulate
    run = str(tmp_path / "run")
    simulate(protocol_file.load(protocol_file.resolve("quick")), "fig4", run)
    ours = _rows(os.path.join(run, "cycles.csv"))
    out, back, _ = _import(tmp_path, os.path.join(run, "timeseries.bdf.csv"))
    assert len(back) == len(ours) == 3
    for a, b in zip(ours, back):
        # the time series is sampled every 30 s: the last row of each step is there
        assert abs(float(a["charge_mAh"]) - float(b["charge_mAh"])) < 1e-4
        assert abs(float(a["discharge_mAh"]) - float(b["discharge_mAh"])) < 1e-4


# --- errors: one line, exit 2 ---------------------------------------------------------

def _err(capsys, path, tmp_path):
    assert cli.main(["import", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cycler import: ") and "\n" not in err and "Traceback" not in err
    return err


def test_wrong_type(tmp_path, capsys):
    p = tmp_path / "picture.mpr"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    assert "is not a file this command reads" in _err(capsys, p, tmp_path)
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("x.txt", "hello")
    assert "not a Neware .ndax" in _err(capsys, z, tmp_path)


@pytest.mark.parametrize("src,frac,word", [(NEWARE, 0.5, "truncated"),
                                           (BIOLOGIC, 0.5, "truncated"),
                                           (ARBIN, 0.5001, "truncated")])
def test_truncated(tmp_path, capsys, src, frac, word):
    data = open(src, "rb").read()
    p = tmp_path / os.path.basename(src)
    p.write_bytes(data[:int(len(data) * frac)])
    assert word in _err(capsys, p, tmp_path)


def test_unknown_column_layout(tmp_path, capsys):
    p = tmp_path / "x.csv"
    p.write_text("time,volts,amps\n0,3.7,0.001\n")
    err = _err(capsys, p, tmp_path)
    assert "unknown column layout" in err and "Current / A" in err


def test_a_copy_keeps_its_licence_notice():
    text = open(os.path.join(FOREIGN, "SOURCES.md")).read()
    for f in (NEWARE, BIOLOGIC, ARBIN, SINTEF):
        assert "## " + os.path.basename(f) in text
    assert "Graham Kimbell" in text and "Ben Smith" in text
    assert os.path.exists(os.path.join(FOREIGN, "LICENSE-Apache-2.0.txt"))


def test_semicolon_csv_with_machine_names(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("test_time_second;voltage_volt;current_ampere\n0;3.7;0.001\n10;3.8;0.001\n"
                 "20;3.9;0.001\n30;4.0;0.001\n")
    s = importers.read(str(p))
    assert list(s.v_V) == [3.7, 3.8, 3.9, 4.0]
    rows = importers.tables(s, importers.annotate(s))[2]
    assert len(rows) == 1 and abs(rows[0]["charge_mAh"] - 1e-3 * 30 / 3.6) < 1e-9


def test_a_run_folder_is_not_overwritten(tmp_path, capsys):
    d = tmp_path / "run"
    d.mkdir()
    (d / "cycles.csv").write_text("cycle\n1\n")
    assert cli.main(["import", ARBIN, "--out", str(d)]) == 2
    assert "already holds cycles.csv" in capsys.readouterr().err
    assert (d / "cycles.csv").read_text() == "cycle\n1\n"
    assert cli.main(["import", ARBIN, "--out", str(d), "--force"]) == 0
    assert len((d / "cycles.csv").read_text().splitlines()) == 5
