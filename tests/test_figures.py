"""The paper-style figures, checked on the pictures: every PNG is opened, is not blank,
and shows each series of figures.json (its colour, inside its panel) and no colour it
should not; CE axes hold every point; tick labels do not overlap; titles come from the
protocol's name; a BDF file with canonical columns only and the imported real files
plot too."""
import csv
import json
import os
import re
import shutil

import numpy as np
import pytest

from host_tools import cli, plot, protocol_file, records
from host_tools.simulate import simulate

FOREIGN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "foreign")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The quick protocol (2 cycles at C/2, 1 at 1C) in a folder NOT named after it."""
    out = str(tmp_path_factory.mktemp("a_folder_name"))
    simulate(protocol_file.load(protocol_file.resolve("quick")), "fig4", out)
    paths = plot.plot_dir(out)
    with open(os.path.join(out, plot.META_FILE)) as f:
        meta = json.load(f)
    return out, paths, meta


def _img(path):
    import matplotlib.image as mpimg
    a = mpimg.imread(path)
    return (a[:, :, :3] * 255).round().astype(int)


def _hex(c):
    return np.array([int(c[k:k + 2], 16) for k in (1, 3, 5)])


def _pixels_near(img, colour, box=None, tol=40):
    """How many pixels of img (inside box = [x0, y0, x1, y1], top-left origin) are
    within tol (max over channels) of colour."""
    if box is not None:
        x0, y0, x1, y1 = [int(round(v)) for v in box]
        img = img[max(y0, 0):y1, max(x0, 0):x1]
    return int((np.abs(img - _hex(colour)).max(axis=2) <= tol).sum())


def check_figure(path, meta, min_series=1):
    """Not blank; each series' colour drawn inside its panel; returns the series."""
    img = _img(path)
    nonwhite = (img.min(axis=2) < 240).mean()
    assert nonwhite > 0.03, (path, nonwhite)                  # not blank
    m = meta[os.path.basename(path)]
    series = m["series"]
    assert len(series) >= min_series, (path, series)
    for s in series:
        box = m["axes"][s["panel"]]["box"]
        assert _pixels_near(img, s["color"], box) >= 15, (path, s)
    assert os.path.exists(os.path.splitext(path)[0] + plot.VECTOR_EXT)
    return series


def test_every_figure_png_and_svg_with_its_series(quick):
    out, paths, meta = quick
    assert [os.path.basename(p) for p in paths] == list(plot.FIGURES)
    want = {                      # series per figure for 2 rates (C/2, 1C)
        "voltage_vs_capacity.png": 2, "capacity_per_cycle.png": 4,
        "coulombic_efficiency.png": 4, "dqdv.png": 2, "rate_capability.png": 2,
        "retention_resistance.png": 4}
    for p in paths:
        series = check_figure(p, meta)
        assert len(series) == want[os.path.basename(p)], (p, series)


def test_colour_by_rate_one_legend_entry_per_rate(quick):
    out, _paths, meta = quick
    vq = meta["voltage_vs_capacity.png"]["series"]
    assert [s["label"] for s in vq] == ["C/2", "1C"]           # slowest first
    assert len({s["color"] for s in vq}) == 2
    # the same rate has the same colour in every figure
    colours = {}
    for name, m in meta.items():
        for s in m["series"]:
            if s["label"] in ("C/2", "1C"):
                colours.setdefault(s["label"], set()).add(s["color"])
    assert all(len(v) == 1 for v in colours.values()), colours
    # control: a tab10 colour of no series is not in the V-Q panel
    img = _img(os.path.join(out, "voltage_vs_capacity.png"))
    box = meta["voltage_vs_capacity.png"]["axes"][0]["box"]
    assert _pixels_near(img, "#17becf", box, tol=20) < 5


def test_ce_axes_show_every_point(quick):
    out, _paths, meta = quick
    rows = list(csv.DictReader(open(os.path.join(out, "cycles.csv"))))
    axes = meta["coulombic_efficiency.png"]["axes"]
    for ax, col in zip(axes, ("coulombic_efficiency_pct", "coulombic_efficiency_cc_pct")):
        lo, hi = ax["ylim"]
        for r in rows:
            assert lo < float(r[col]) < hi, (col, r[col], ax["ylim"])
    # the 1C cycle's CC-only CE is far above 100 % (CV carries much of its charge)
    assert max(float(r["coulombic_efficiency_cc_pct"]) for r in rows) > 200


def _overlap(a, b):
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def test_rate_capability_log_axis_and_labels_apart(tmp_path):
    """Six rates on the log axis (a fig4-like sequence, short cycles): labels apart."""
    text = ['name = "six_rates"', '[cell]', 'name = "fig4"', 'capacity_mAh = 0.0839']
    for rate in ("C/10", "C/5", "C/3", "C/2", "1C", "2C"):
        text += ['[[block]]', 'label = "%s"' % rate, 'repeat = 1', 'steps = [',
                 '"Charge at %s until 4.1 V", "Hold at 4.1 V until C/46",' % rate,
                 '"Discharge at %s until 2.6 V", "Hold at 2.6 V until C/24",' % rate, ']']
    p = tmp_path / "six.toml"
    p.write_text("\n".join(text) + "\n")
    out = str(tmp_path / "run")
    simulate(protocol_file.load(str(p)), "fig4", out)
    plot.plot_dir(out)
    meta = json.load(open(os.path.join(out, plot.META_FILE)))
    rc = meta["rate_capability.png"]
    assert rc["title"].startswith("six_rates:")
    check_figure(os.path.join(out, "rate_capability.png"), meta)
    assert all(s["n"] == 6 for s in rc["series"])
    ticks = rc["axes"][0]["xticks"]
    assert len(ticks) == 6
    assert not any(_overlap(a, b) for k, a in enumerate(ticks) for b in ticks[k + 1:])
    pts = plot.rate_capability(plot.Run(out))
    assert [p[0] for p in pts] == ["C/10", "C/5", "C/3", "C/2", "1C", "2C"]
    # CC alone falls with the rate; CC + CV stays near the slow capacity
    cc = [p[3] for p in pts]
    assert cc[-1] < 0.8 * cc[0] and pts[-1][4] > 0.95 * pts[0][4]


def test_titles_from_the_protocol_not_the_folder(quick):
    out, _paths, meta = quick
    for name, m in meta.items():
        assert m["title"].startswith("quick:"), (name, m["title"])
        assert "a_folder_name" not in m["title"]


def test_canonical_only_bdf_plots(quick, tmp_path):
    """A BDF time series with only BDF columns (no Step Type, no cycles.csv)."""
    src = os.path.join(quick[0], "timeseries.bdf.csv")
    rows = list(csv.DictReader(open(src)))
    canon = [c for c in records.BDF_COLUMNS if c not in records.BDF_EXTRA_COLUMNS]
    d = tmp_path / "bdf_only"
    d.mkdir()
    with open(d / "timeseries.bdf.csv", "w", newline="") as f:
        w = csv.DictWriter(f, canon, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    assert cli.main(["plot", str(d), "--capacity-mAh", "0.0839"]) == 0
    sub = d / "cycler-import"
    meta = json.load(open(sub / plot.META_FILE))
    assert (d / "timeseries.bdf.csv").read_text().startswith("Test Time / s,Unix")  # untouched
    labels = [s["label"] for s in meta["voltage_vs_capacity.png"]["series"]]
    assert labels == ["C/2", "1C"]
    for n in ("voltage_vs_capacity.png", "capacity_per_cycle.png", "rate_capability.png"):
        check_figure(str(sub / n), meta)


@pytest.mark.parametrize("name,cap,n_vq,title", [
    ("nw4-120-6-1-36.ndax", "45", 5, "nw4-120-6-1-36:"),
    ("250116_kigr_gen6_01_02_GCPL_CD8.mpr", "2.413", 3, "250116_kigr_gen6_01_02_GCPL_CD8:"),
    ("arbin_example.res", None, 4, "ajm314_LCO_ajm5-SSB1-F_Wait48hr-Repeat-01-012:")])  # its test name
def test_imported_real_files_plot(tmp_path, name, cap, n_vq, title):
    pytest.importorskip({"ndax": "NewareNDA", "mpr": "galvani",
                         "res": "access_parser"}[name.rsplit(".", 1)[1]])
    f = tmp_path / name
    shutil.copy(os.path.join(FOREIGN, name), f)
    argv = ["plot", str(f)] + (["--capacity-mAh", cap] if cap else [])
    assert cli.main(argv) == 0
    out = str(f).rsplit(".", 1)[0] + "-figures"
    meta = json.load(open(os.path.join(out, plot.META_FILE)))
    assert meta["voltage_vs_capacity.png"]["title"].startswith(title)
    series = check_figure(os.path.join(out, "voltage_vs_capacity.png"), meta)
    assert len(series) == n_vq              # one rate: one curve pair per cycle
    for n in ("capacity_per_cycle.png", "coulombic_efficiency.png",
              "retention_resistance.png"):
        check_figure(os.path.join(out, n), meta)


def test_compare_tables_differences_and_overlays(quick, tmp_path, capsys):
    """The quick run against itself re-imported from its BDF file (differences 0) and
    against the same protocol on a thicker cell (differences = the cycles.csv ones)."""
    a = quick[0]
    b = str(tmp_path / "thick")
    simulate(protocol_file.load(protocol_file.resolve("quick")), "fig5b-cell2", b)
    out = str(tmp_path / "cmp")
    assert cli.main(["compare", a, os.path.join(a, "timeseries.bdf.csv"), b,
                     "--out", out]) == 0
    assert "discharge (charge) capacity per cycle" in capsys.readouterr().out
    rows = list(csv.reader(open(os.path.join(out, "compare.csv"))))
    assert rows[0] == ["# unit: mAh"]    # the BDF file alone has no mass: mAh for all
    head, body = rows[1], rows[2:]
    assert [int(r[0]) for r in body] == [1, 2, 3]
    ca = {int(r["cycle"]): r for r in csv.DictReader(open(os.path.join(a, "cycles.csv")))}
    cb = {int(r["cycle"]): r for r in csv.DictReader(open(os.path.join(b, "cycles.csv")))}
    same = [k for k, h in enumerate(head) if h.endswith("discharge") and " - " in h]
    assert len(same) == 2
    for r in body:
        c = int(r[0])
        assert abs(float(r[same[0]])) < 1e-4                     # the same data
        want = float(cb[c]["discharge_mAh"]) - float(ca[c]["discharge_mAh"])
        assert float(r[same[1]]) == pytest.approx(want, abs=2e-4)
    meta = json.load(open(os.path.join(out, plot.META_FILE)))
    series = check_figure(os.path.join(out, "compare.png"), meta)
    assert len([s for s in series if s["panel"] == 0]) == 3      # one V-Q colour per run
    assert len({s["color"] for s in series}) == 3


def test_resistance_at_each_discharge_start(quick):
    """simulate writes a row two ticks into each step (where the engine's R probe
    reads): the voltage jump over 2 s is at least the cell model's R0 and well under
    what a 30 s sample would give (R0 + R1 + relaxation)."""
    import cellmodel
    run = plot.Run(quick[0])
    r = plot.resistances(run)
    assert sorted(r) == [1, 2, 3]
    assert run.r_dt_s == pytest.approx(2.0, abs=0.01)
    p = cellmodel.CELLS["fig4"]
    for c, ohm in r.items():
        assert p["r0_ohm"] < ohm < p["r0_ohm"] + p["r1_ohm"] + 1000, (c, ohm)


def _cv_toml(tmp_path, steps):
    text = ['name = "cv_short"', 'diagnostic = true', '[cell]', 'name = "fig4"',
            'capacity_mAh = 0.0839', '[limits]', 'v_trip_lo = 1.9', 'v_trip_hi = 4.6',
            'i_max = "3C"', '[[block]]', 'label = "CV"', 'repeat = 1', 'steps = [']
    text += ['"%s",' % s for s in steps] + [']']
    p = tmp_path / "cv_short.toml"
    p.write_text("\n".join(text) + "\n")
    return protocol_file.load(str(p))


def test_a_voltammetry_run_gives_the_voltammogram_alone(tmp_path):
    """A sweep-only run (a short cyclic voltammetry from the fig4 cell's rest): one
    figure, current against voltage, one curve per there-and-back cycle, and none of the
    cycling figures (its 'capacity per cycle' would be the sweeps' charge)."""
    parsed = _cv_toml(tmp_path, ["Rest for 10 minutes",
                                 "Sweep from 2.8 V to 3.0 V at 1 mV/s for 3 cycles",
                                 "Sweep from 2.8 V to 2.7 V at 1 mV/s for 1 cycle"])
    out = str(tmp_path / "run")
    simulate(parsed, "fig4", out, sample_s=2.0)
    paths = plot.plot_dir(out)
    assert [os.path.basename(p) for p in paths] == [plot.VOLTAMMOGRAM]
    with open(os.path.join(out, plot.META_FILE)) as f:
        meta = json.load(f)
    series = check_figure(paths[0], meta, min_series=4)
    got = [re.fullmatch(r"step (\d+), cycle (\d+): ([0-9.]+)-([0-9.]+) V", s["label"])
           for s in series]
    assert all(got), series
    assert [(int(m.group(1)), int(m.group(2))) for m in got] == [(2, 1), (2, 2), (2, 3), (3, 1)]
    for m, lo, hi in ((got[0], 2.8, 3.0), (got[3], 2.7, 2.8)):
        # the range reached (the start's row may still read the rest voltage)
        a, b = float(m.group(3)), float(m.group(4))
        assert abs(a - lo) < 0.015 and abs(b - hi) < 0.015, m.group(0)
    # the cycle table names the sweep's rate on both sides (no CC step gave it one)
    rows = list(csv.DictReader(open(os.path.join(out, "cycles.csv"))))
    assert [(r["charge_rate"], r["discharge_rate"]) for r in rows] == [("1 mV/s", "1 mV/s")]
    run = plot.Run(out)
    for _n, _k, v, i in plot.sweeps(run):
        # there and back; at the same voltage the current going up (oxidation) is
        # above the current coming down (reduction): the loop of a voltammogram
        turn = int(np.argmax(v)) if v[-1] < v.max() - 0.05 else int(np.argmin(v))
        assert 0 < turn < len(v) - 1
        a, b = (v[:turn + 1], i[:turn + 1]), (v[turn:], i[turn:])
        up, down = (a, b) if v[turn] > v[0] else (b, a)
        grid = np.linspace(v.min() + 0.02, v.max() - 0.02, 20)
        iu = np.interp(grid, *(x[np.argsort(up[0])] for x in up))
        idn = np.interp(grid, *(x[np.argsort(down[0])] for x in down))
        assert (iu - idn).mean() > 0, (iu, idn)


def test_a_cycling_run_has_no_voltammogram(quick):
    # the control: CC-CV cycles have no sweep rows, so no voltammogram
    _out, paths, meta = quick
    assert plot.VOLTAMMOGRAM not in [os.path.basename(p) for p in paths]
    assert plot.VOLTAMMOGRAM not in meta
