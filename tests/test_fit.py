"""`cycler fit`: on a run simulated with a cell of known parameters, the least-squares fit
recovers what the data can tell (capacity, R0 + R1, the exchange time, the OCV shift),
and writes a CELL.toml that `cycler simulate` and the virtual board's MicroPython take."""
import csv
import os
import subprocess

import pytest

pytest.importorskip("scipy")

from host_tools import cli, fit, protocol_file, simboard  # noqa: E402
from host_tools.simulate import simulate  # noqa: E402

PROTOCOL = """name = "fit_check"
[cell]
name = "fig4"
capacity_mAh = 0.0839
[[block]]
label = "1C"
repeat = 1
steps = ["Rest for 10 minutes", "Charge at 1C until 4.1 V", "Hold at 4.1 V until C/20",
         "Rest for 10 minutes", "Discharge at 1C until 2.6 V", "Rest for 10 minutes"]
[[block]]
label = "C/2"
repeat = 1
steps = ["Charge at C/2 until 4.1 V", "Hold at 4.1 V until C/20", "Rest for 10 minutes",
         "Discharge at C/2 until 2.6 V", "Rest for 10 minutes"]
"""
TRUE = {"capacity_mAh": 0.075, "r0_ohm": 450.0, "r1_ohm": 400.0, "tau_fast_s": 2500.0,
        "ocv_shift_V": 0.03}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A 'measured' run: the protocol on the fig4 model with TRUE parameters."""
    import cellmodel
    from boards import sim as simboard_cfg
    d = tmp_path_factory.mktemp("fit")
    (d / "p.toml").write_text(PROTOCOL)
    p = dict(cellmodel.CELLS["fig4"])
    p.update(TRUE)
    cell = cellmodel.make_cell(p)
    cell.set_soc(simboard_cfg.SOC0)
    out = str(d / "run")
    simulate(protocol_file.load(str(d / "p.toml")), "fig4", out, cell=cell)
    return d, out


@pytest.mark.slow
def test_fit_recovers_what_the_data_can_tell(measured):
    d, out = measured
    r = fit.fit_file(out)
    p = r["params"]
    assert p["capacity_mAh"] == pytest.approx(TRUE["capacity_mAh"], rel=0.02)
    assert p["ocv_shift_V"] == pytest.approx(TRUE["ocv_shift_V"], abs=0.005)
    # 30 s samples cannot split R0 from R1 (tau1 = 20 s): their sum is what is known
    assert p["r0_ohm"] + p["r1_ohm"] == pytest.approx(850.0, rel=0.1)
    assert p["tau_fast_s"] == pytest.approx(TRUE["tau_fast_s"], rel=0.15)
    assert r["rms_V"] < 0.003 and [c for c, *_ in r["per_cycle"]] == [1, 2]
    # control: the unfitted starting cell (fig4) is far off on the same data
    t, v, i, cyc, q = fit.load_series(out)
    tk, vk, ck, ik, irow = fit.thin(t, v, i, cyc, q)
    base = fit.base_params("fig4")
    base.pop("name")
    import numpy as np
    e = fit.model_voltage(base, tk, ik, vk[0], irow) - vk
    assert np.sqrt(np.mean(e ** 2)) > 10 * r["rms_V"]


def test_cell_file_for_simulate_and_the_virtual_board(measured, tmp_path, capsys):
    d, out = measured
    cell = str(tmp_path / "mycell.toml")
    # a quick fit (few model runs): the file's form and its users are what is checked.
    # The exchange time is fitted: fixed at fig4's 1150 s (the data's is 2500 s) the
    # 12-step fit lands in a 116 mV minimum (R0 -> 0) whose cell no hold can regulate
    assert cli.main(["fit", out, "--out", cell, "--max-evals", "12",
                     "--fix", "tau_slow_s,tau1_s"]) == 0
    text = capsys.readouterr().out
    assert "cycle  RMS error / mV" in text and "overall RMS" in text
    # the measured and fitted voltage, drawn
    import json
    png = str(tmp_path / "mycell-fit.png")
    meta = json.load(open(str(tmp_path / "figures.json")))["mycell-fit.png"]
    assert [x["label"] for x in meta["series"]] == ["measured", "fitted model",
                                                    "model - measured"]
    import matplotlib.image as mpimg
    img = (mpimg.imread(png)[:, :, :3] * 255).round().astype(int)
    assert (img.min(axis=2) < 240).mean() > 0.03                 # not blank
    for sr in meta["series"]:
        x0, y0, x1, y1 = [int(round(c)) for c in meta["axes"][sr["panel"]]["box"]]
        want = [int(sr["color"][k:k + 2], 16) for k in (1, 3, 5)]
        near = (abs(img[y0:y1, x0:x1] - want).max(axis=2) <= 40).sum()
        assert near >= 15, sr
    params = fit.load_cell(cell)
    assert params["name"] == "mycell" and params["capacity_mAh"] > 0
    # cycler simulate --cell CELL.toml runs the protocol on it
    sim_out = str(tmp_path / "sim")
    assert cli.main(["simulate", str(d / "p.toml"), "--cell", cell, "--out", sim_out,
                     "--quiet"]) == 0
    rows = list(csv.DictReader(open(os.path.join(sim_out, "cycles.csv"))))
    assert len(rows) == 2 and float(rows[1]["discharge_mAh"]) > 0
    # the virtual board: board_config.py carries the parameter dict, and the real
    # MicroPython's cellmodel builds the cell from it
    bd = tmp_path / "board"
    bd.mkdir()
    simboard.write_config(str(bd), cell=cell)
    import host_tools
    mp = host_tools.find_tool("micropython", "bash scripts/setup.sh")
    env = dict(os.environ, MICROPYPATH=host_tools.micropypath(str(bd)))
    code = ("import board_config, cellmodel; c = cellmodel.make_cell(board_config.cell); "
            "print(c.name, c.capacity_mAh, c.r0, c.ocv_shift)")
    r = subprocess.run([mp, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    name, cap, r0, shift = r.stdout.split()
    assert name == "mycell"
    assert float(cap) == pytest.approx(params["capacity_mAh"], rel=1e-6)
    assert float(r0) == pytest.approx(params["r0_ohm"], rel=1e-6)
    assert float(shift) == pytest.approx(params["ocv_shift_V"], abs=1e-9)


def test_bad_cell_files_are_refused(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n')
    assert cli.main(["simulate", "quick", "--cell", str(bad), "--quiet"]) == 2
    assert "no [params] table" in capsys.readouterr().err
    bad.write_text("name = \n")
    with pytest.raises(ValueError, match="not valid TOML"):
        fit.load_cell(str(bad))
    assert cli.main(["fit", str(tmp_path / "none"), "--out", str(tmp_path / "c.toml")]) == 2
