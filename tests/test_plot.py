"""`cycler plot DIR`: the four figures of an output folder, from a real simulated run
(the quick protocol, ~1 s) and from folders cut the way a run in progress leaves them."""
import csv
import os
import shutil
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from host_tools import cli, plot, protocol_file  # noqa: E402
from host_tools.simulate import simulate  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """A finished run of the quick protocol: (folder, parsed protocol)."""
    out = str(tmp_path_factory.mktemp("quick"))
    parsed = protocol_file.load(protocol_file.resolve("quick"))
    simulate(parsed, "fig4", out)
    return out, parsed


def _assert_png(path, min_bytes=10000):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > min_bytes, (path, len(data))


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _write(path, rows, tail=""):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
        f.write(tail)


def _copy(src, dst):
    os.makedirs(dst, exist_ok=True)
    for n in ("timeseries.bdf.csv", "cycles.csv", "steps.csv"):
        shutil.copy(os.path.join(src, n), os.path.join(dst, n))
    return dst


def test_full_run_gives_four_pngs(quick, tmp_path):
    d = _copy(quick[0], str(tmp_path / "run"))
    paths = plot.plot_dir(d)
    assert [os.path.basename(p) for p in paths] == list(plot.FIGURES)
    for p in paths:
        assert os.path.dirname(os.path.abspath(p)) == os.path.abspath(d)
        _assert_png(p)


def test_mass_and_curve_ends_match_the_cycle_table(quick):
    d, parsed = quick
    run = plot.Run(d)
    # the mass cycles.csv used, recovered from its mAh and mAh/g columns
    assert run.mass_g == pytest.approx(parsed.cell["mass_ug"] * 1e-6, rel=1e-3)
    cycles = {int(r["cycle"]): r for r in csv.DictReader(open(os.path.join(d, "cycles.csv")))}
    segs = {(c, side): q for c, side, _k, q, _v in run.segments()}
    assert set(c for c, _ in segs) == set(cycles)
    for c, r in cycles.items():
        for side, pre in (("charge", "charge"), ("discharge", "discharge")):
            total = float(r[pre + "_cc_mAh_g"]) + float(r[pre + "_cv_mAh_g"])
            q = segs[(c, side)]
            assert np.all(np.diff(q) >= 0)          # a curve never runs back
            assert q[0] == 0.0
            assert q[-1] == pytest.approx(total, rel=0.01), (c, side)


def test_in_progress_folder_still_gives_the_voltage_plot(quick, tmp_path):
    """cycles.csv with only its header, the time series cut mid-cycle and mid-line."""
    src, _ = quick
    d = str(tmp_path / "partial")
    os.makedirs(d)
    ts = _rows(os.path.join(src, "timeseries.bdf.csv"))
    _write(os.path.join(d, "timeseries.bdf.csv"), ts[:len(ts) // 4], tail="1234.5,3.71")
    _write(os.path.join(d, "cycles.csv"), _rows(os.path.join(src, "cycles.csv"))[:1])
    steps = _rows(os.path.join(src, "steps.csv"))
    _write(os.path.join(d, "steps.csv"), steps[:3])          # header + 2 steps of cycle 1
    run = plot.Run(d)
    assert run.mass_g is None                                # nothing to derive it from
    per = run.per_cycle()
    assert list(per) == [1] and per[1]["partial"]
    assert per[1]["chg_cc"] == pytest.approx(float(steps[1][7]))   # mAh, from steps.csv
    paths = plot.plot_dir(d)
    names = [os.path.basename(p) for p in paths]
    assert "voltage_vs_capacity.png" in names
    assert "coulombic_efficiency.png" not in names           # no cycle has ended
    for p in paths:
        _assert_png(p)


def test_header_only_everywhere_but_the_time_series(quick, tmp_path):
    src, _ = quick
    d = str(tmp_path / "early")
    os.makedirs(d)
    ts = _rows(os.path.join(src, "timeseries.bdf.csv"))
    _write(os.path.join(d, "timeseries.bdf.csv"), ts[:40])
    for n in ("cycles.csv", "steps.csv"):
        _write(os.path.join(d, n), _rows(os.path.join(src, n))[:1])
    paths = plot.plot_dir(d)
    assert [os.path.basename(p) for p in paths][0] == "voltage_vs_capacity.png"
    _assert_png(paths[0])


def test_one_cycle_and_empty_cells(quick, tmp_path):
    src, _ = quick
    d = str(tmp_path / "one")
    os.makedirs(d)
    ts = _rows(os.path.join(src, "timeseries.bdf.csv"))
    h = ts[0]
    one = [h] + [r for r in ts[1:] if r[h.index("Cycle Count / 1")] == "1"]
    for r in one[5:200:7]:
        r[h.index("Voltage / V")] = ""                       # empty voltage cells
    one[50][h.index("Charging Capacity / Ah")] = "nan"
    _write(os.path.join(d, "timeseries.bdf.csv"), one)
    cyc = _rows(os.path.join(src, "cycles.csv"))[:2]
    cyc[1][cyc[0].index("coulombic_efficiency_cc_pct")] = ""
    _write(os.path.join(d, "cycles.csv"), cyc)
    steps = _rows(os.path.join(src, "steps.csv"))
    _write(os.path.join(d, "steps.csv"), [steps[0]] + [r for r in steps[1:] if r[2] == "1"])
    paths = plot.plot_dir(d)
    # one cycle, one rate: no rate-capability figure (it needs two rates)
    assert [os.path.basename(p) for p in paths] == [
        n for n in plot.FIGURES if n != "rate_capability.png"]
    for p in paths:
        _assert_png(p)
    # and a row whose CE cells are both empty: no CE figure, the others still there
    cyc[1][cyc[0].index("coulombic_efficiency_pct")] = ""
    _write(os.path.join(d, "cycles.csv"), cyc)
    for p in paths:
        os.remove(p)
    names = [os.path.basename(p) for p in plot.plot_dir(d)]
    assert "coulombic_efficiency.png" not in names and "capacity_per_cycle.png" in names


@pytest.mark.parametrize("make", ["empty", "missing", "headers"])
def test_no_data_exits_2_with_a_message(tmp_path, capsys, make):
    d = tmp_path / "d"
    if make != "missing":
        d.mkdir()
    if make == "headers":
        (d / "cycles.csv").write_text("cycle,charge_rate\n")
        (d / "timeseries.bdf.csv").write_text("")
    assert cli.main(["plot", str(d)]) == 2
    err = capsys.readouterr().err
    assert "cycler plot:" in err and str(d) in err
    if make == "empty":
        assert "no data files" in err
    assert not list(tmp_path.rglob("*.png"))


def test_dqdv_of_a_known_curve():
    """Q = 120 mAh/g per volt from 3.0 to 4.0 V, with noise on V: dQ/dV is 120 inside,
    positive on charge, negative on discharge."""
    rng = np.random.default_rng(0)
    v = np.linspace(3.0, 4.0, 400)
    q = 120.0 * (v - 3.0)
    vn = v + rng.normal(0, 0.0005, v.size)
    x, y = plot.dqdv(q, vn, +1)
    inner = (x > 3.1) & (x < 3.9)
    assert inner.sum() > 50
    assert np.median(y[inner]) == pytest.approx(120.0, rel=0.05)
    x, y = plot.dqdv(q, vn[::-1], -1)                        # discharge: V falls as Q grows
    inner = (x > 3.1) & (x < 3.9)
    assert np.median(y[inner]) == pytest.approx(-120.0, rel=0.05)
    assert len(plot.dqdv([0, 1], [3.0, 3.1], 1)[0]) == 0    # too short: nothing


def test_select_cycles():
    assert plot.select_cycles([3, 1, 2]) == [1, 2, 3]
    sel = plot.select_cycles(list(range(1, 201)), 12)
    assert sel[0] == 1 and sel[-1] == 200 and len(sel) <= 14
    assert sel == sorted(set(sel))


class _TsRun:
    """A Run's time series and steps.csv rows (what plot.sweeps reads)."""

    def __init__(self, rows, steps=()):
        self.ts = rows
        self.steps = list(steps)   # steps.csv's rows (none: no step has ended)


def _triangle(n_cycles, lo, hi, step_v, noise_v, seed=0):
    rng = np.random.default_rng(seed)
    up = np.arange(lo, hi, step_v)
    leg = np.concatenate([up, up[::-1]])
    v = np.concatenate([leg] * n_cycles) + rng.normal(0, noise_v, n_cycles * len(leg))
    i = np.gradient(v)   # > 0 up, < 0 down
    return [{"Step Type": "sweep", "Step Count / 1": "4", "Voltage / V": "%.6f" % a,
             "Current / A": "%.3e" % b} for a, b in zip(v, i)]


def test_sweeps_cut_there_and_back_cycles_through_noise():
    # five there-and-back cycles 2.8 -> 4.5 V read every 3 mV (0.1 mV/s, 30 s rows)
    # with 1 mV rms noise: five cycles, each from about 2.8 up to 4.5 and back
    run = _TsRun(_triangle(5, 2.8, 4.5, 0.003, 0.001))
    cyc = plot.sweeps(run)
    assert [(n, k) for n, k, _v, _i in cyc] == [(4, k) for k in range(1, 6)]
    for _n, _k, v, _i in cyc:
        assert v.max() > 4.49 and v[0] < 2.81 and v[-1] < 2.81


def test_sweeps_control_without_the_turn_band_noise_cuts_legs():
    # the control: with no turn band (TURN_V 0) every reversal of the noise is a turn,
    # and the same rows give far more than five cycles
    run = _TsRun(_triangle(5, 2.8, 4.5, 0.0003, 0.001))   # 1 s rows: noise > the step
    assert len(plot.sweeps(run)) == 5
    saved = plot.TURN_V
    plot.TURN_V = 0.0
    try:
        assert len(plot.sweeps(run)) > 50
    finally:
        plot.TURN_V = saved


def test_sweeps_by_the_steps_clock_through_a_ringing_voltage():
    # two cycles 2.8 -> 4.5 V at 10 mV/s (170 s a leg), read every second, with the
    # measured voltage ringing 30 mV (a loop that cannot follow the ramp): the step's
    # words in steps.csv give the legs by its clock, two cycles of 340 s each
    t = np.arange(0, 680.0, 1.0)
    ramp = np.where((t % 340) < 170, 2.8 + 0.01 * (t % 340), 4.5 - 0.01 * ((t % 340) - 170))
    v = ramp + 0.03 * np.sin(t)
    rows = [{"Step Type": "sweep", "Step Count / 1": "2", "Voltage / V": "%.5f" % a,
             "Current / A": "1e-6", "Step Time / s": "%g" % b} for a, b in zip(v, t)]
    run = _TsRun(rows)
    run.steps = [{"step": "2", "source": "Sweep from 2.8 V to 4.5 V at 10 mV/s for 2 cycles"}]
    cyc = plot.sweeps(run)
    assert [(n, k, len(vv)) for n, k, vv, _i in cyc] == [(2, 1, 341), (2, 2, 340)]
    assert plot.sweep_leg_s(run.steps[0]["source"]) == pytest.approx(170.0)
    assert plot.sweep_leg_s("Sweep from 2800 mV to 2.7 V at 100 uV/s for 1 cycle") == \
        pytest.approx(1000.0)
    # the control: without the words, the measured voltage's turns cut the legs, and
    # its ringing (30 mV, more than the 20 mV turn band) makes many more cycles
    run.steps = []
    assert len(plot.sweeps(run)) > 10
