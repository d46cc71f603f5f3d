"""The cell model (simulation/cellmodel.py): the paper's shapes through the float
reference CC-CV driver (tests/cc_cv_reference.py), numerical stability, the OCV
table, the named cells, and the same numbers under MicroPython."""
import math
import os
import subprocess

import pytest

import host_tools  # noqa: F401  (puts firmware/ on sys.path)
import cellmodel
import cc_cv_reference as ref

ROOT = host_tools.ROOT
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")


def _steady_cycle(rate, cv=True, n=2, dt=5.0, name="fig4", age=0.0):
    """Cycle a cell n times at one rate, its ageing frozen at `age` equivalent
    cycles; return the last cycle."""
    cell = cellmodel.make_cell(name, age0_cycles=age)
    cell.frozen = True
    r = None
    for _ in range(n):
        r = ref.cycle(cell, rate, rate, cv=cv, dt=dt)
    return r


@pytest.fixture(scope="module")
def at_1c():
    return _steady_cycle(1.0, age=30.0)   # the first 1C block of the rate test


# --- the paper's shape (FACTS: "What the results look like") ----------------------
# Numbers the paper gives: 1C discharge CC 100-120 (> 120 at best), 1C discharge CV
# < 70, about 192 in all; the gain from the holds (> 3x fig4). Shapes only: charge CC
# "almost null" at 1C above cycle 70 (our bound: 5 %), the fall with rate.

def test_1c_discharge_cc_and_with_hold(at_1c):
    assert 100.0 <= at_1c["discharge_cc"] <= 126.0
    assert at_1c["discharge_cv"] < 70.0
    assert 185.0 <= at_1c["discharge"] <= 196.0


def test_1c_charge_almost_all_in_the_hold():
    # "almost null" (a shape; the bound: under 5 %), by the charge-only
    # resistance that grows with the age (docs/cellmodel.md "Ageing"; its control,
    # that resistance off, is tests/test_cell_shape.py's). Control: C/2 is far above.
    r = _steady_cycle(1.0, age=75.0)
    assert r["charge_cc"] < 0.05 * r["charge"]
    assert _steady_cycle(0.5, age=75.0)["charge_cc"] > 0.08 * r["charge"]


def test_coulombic_efficiency_about_100_percent_with_holds(at_1c):
    assert abs(at_1c["discharge"] / at_1c["charge"] - 1.0) < 0.01


def test_c50_constant_current_gives_over_90_percent():
    r = _steady_cycle(1.0 / 50, dt=30.0)
    assert r["charge_cc"] > 0.9 * cellmodel.SPECIFIC_MAH_G
    assert r["discharge_cc"] > 0.9 * cellmodel.SPECIFIC_MAH_G
    assert r["discharge_cc"] > 0.9 * r["discharge"]


def test_without_cv_a_1c_cycle_gives_less_than_a_third(at_1c):
    cell = cellmodel.make_cell("fig4")
    ref.cycle(cell, 1.0, 1.0, dt=5.0)  # conditioned with the holds (FACTS: fig5b)
    for _ in range(3):
        r = ref.cycle(cell, 1.0, 1.0, cv=False, dt=5.0)
    # FACTS: "more than 3x gain for the fig4 cell ... when the CV steps are counted"
    assert 3.0 * r["discharge"] < at_1c["discharge"]


def test_cc_share_falls_with_rate():
    shares = []
    for rate in (1.0 / 20, 1.0 / 5, 1.0 / 2, 1.0, 2.0):
        r = _steady_cycle(rate, dt=10.0)
        shares.append(r["discharge_cc"] / r["discharge"])
    assert all(a > b for a, b in zip(shares, shares[1:])), shares


def test_thick_cells_lose_more_at_c10_than_fig4():
    thin = _steady_cycle(0.1, dt=10.0)
    thick = _steady_cycle(0.1, dt=10.0, name="max", age=4.0)
    assert thick["discharge_cc"] < thin["discharge_cc"]
    assert thick["discharge"] > 0.5 * cellmodel.SPECIFIC_MAH_G  # C/10 still works


# --- numerics -------------------------------------------------------------------

def test_charge_is_counted_exactly():
    cell = cellmodel.make_cell("fig4", soc0=0.3, side_c_at_4v1=0.0)  # all charge stored
    q = 0.0
    for k in range(200):
        i = 80e-6 * math.sin(k * 0.3)
        dt = 0.01 + (k % 7) * 9.0
        cell.step(dt, i)
        q += i * dt
    assert cell.soc == pytest.approx(0.3 + q / cell.capacity_As, abs=1e-12)


@pytest.mark.parametrize("dt", [0.01, 0.1, 1.0, 10.0, 60.0])
def test_1c_discharge_does_not_depend_on_the_tick(dt):
    cell = cellmodel.make_cell("fig4", soc0=1.0)
    t = min(600.0, 2000 * dt)
    ref.run_rest(cell, 0.0)
    n = int(round(t / dt))
    for _ in range(n):
        cell.step(dt, -cell.capacity_As / 3600.0)
    v = cell.v_V
    fine = cellmodel.make_cell("fig4", soc0=1.0)
    for _ in range(int(round(t / 0.01))):
        fine.step(0.01, -fine.capacity_As / 3600.0)
    assert abs(v - fine.v_V) < 1e-3


def test_large_ticks_stay_finite_and_bounded():
    cell = cellmodel.make_cell("max", soc0=0.5)
    i1c = cell.capacity_As / 3600.0
    for k in range(300):
        cell.step(60.0, (3.0 if k % 50 < 25 else -3.0) * i1c)
        assert math.isfinite(cell.v_V) and math.isfinite(cell.soc_surface)
    cell.rest(1e6)
    assert abs(cell.soc_surface - cell.soc) < 1e-3
    assert abs(cell.v_V - cellmodel.ocv_V(cell.soc)) < 1e-3


def test_capacity_of_a_cycle_does_not_depend_on_the_tick():
    a = _steady_cycle(1.0, dt=1.0)
    b = _steady_cycle(1.0, dt=60.0)
    for k in ("charge_cc", "charge", "discharge_cc", "discharge"):
        assert b[k] == pytest.approx(a[k], rel=0.005)


def test_rest_relaxes_toward_ocv():
    cell = cellmodel.make_cell("fig4", soc0=0.2)
    for _ in range(300):
        cell.step(2.0, cell.capacity_As / 3600.0)
    vs = []
    for _ in range(40):
        cell.rest(60.0)
        vs.append(cell.v_V)
    assert all(a >= b - 1e-12 for a, b in zip(vs, vs[1:]))
    assert vs[-1] == pytest.approx(cellmodel.ocv_V(cell.soc), abs=0.02)


# --- the OCV table and the named cells ---------------------------------------------

def test_ocv_strictly_increasing_and_inverse():
    t = cellmodel.OCV_TABLE
    assert all(b[0] > a[0] and b[1] > a[1] for a, b in zip(t, t[1:]))
    s = -0.15
    last = -1.0
    while s < 1.1:
        v = cellmodel.ocv_V(s)
        assert v > last
        assert cellmodel.soc_at_ocv(v) == pytest.approx(s, abs=1e-9)
        last = v
        s += 0.003


def test_ocv_pinpoints_from_facts():
    ocv = cellmodel.ocv_V
    assert ocv(0.0) == pytest.approx(2.71)             # pristine Li1.0
    assert ocv((1 - 0.29) / 0.7) == pytest.approx(4.05, abs=1e-3)  # Li0.29
    lo, hi = cellmodel.soc_at_ocv(2.6), cellmodel.soc_at_ocv(4.1)
    # Li1.0 (pristine) to the 4.1 V cut-off holds the DFT's 196 mAh/g; the window
    # reaches a little below the pristine state (2.71 V) down to 2.6 V.
    assert (hi - 0.0) * cellmodel.SPECIFIC_MAH_G == pytest.approx(196.0, abs=2.0)
    assert 192.0 < (hi - lo) * cellmodel.SPECIFIC_MAH_G < 202.0
    for v in (3.12, 3.36):
        s = cellmodel.soc_at_ocv(v)
        assert lo < s < hi


FACTS_CELLS = {  # name: (capacity mAh, 1C uA) from FACTS: the cell
    "fig4": 0.0839, "fig5b-cell2": 0.218, "raman": 0.804, "tofsims": 0.955, "max": 1.091,
}


def test_named_cells_match_facts():
    assert set(cellmodel.CELLS) == set(FACTS_CELLS)
    prev = None
    for name in ("fig4", "fig5b-cell2", "raman", "tofsims", "max"):
        c = cellmodel.make_cell(name)
        assert c.capacity_mAh == pytest.approx(FACTS_CELLS[name], rel=0.005)
        assert c.active_mass_mg == pytest.approx(c.capacity_mAh / 192.0 * 1000.0)
        if prev is not None:  # thicker: more resistance, slower exchange
            assert c.r0 > prev.r0 and c.r1 > prev.r1 and c.tau_fast > prev.tau_fast
        prev = c
    assert cellmodel.make_cell("fig4").active_mass_mg == pytest.approx(0.437, abs=0.001)


def test_make_cell_overrides_and_dicts():
    c = cellmodel.make_cell("raman", r0_ohm=1234.0, soc0=0.5)
    assert c.r0 == 1234.0 and c.soc == 0.5 and c.name == "raman"
    d = cellmodel.make_cell({"capacity_mAh": 0.5})
    assert d.capacity_mAh == 0.5 and d.r1 == cellmodel.CELLS["fig4"]["r1_ohm"]
    with pytest.raises(ValueError, match="fig4"):
        cellmodel.make_cell("fig9")


# --- MicroPython --------------------------------------------------------------------

_MP_SCRIPT = """
import sys
sys.path.insert(0, 'simulation')
import cellmodel, femodel
c = cellmodel.make_cell('fig4', soc0=0.1)
fe = femodel.FrontEndModel(c, seed=7)
fe.select_range(2)
fe.set_current_nA(83900)
for k in range(50):
    fe.advance(1000)
    fe.measure()
c.step(60.0, -20e-6)
fe.measure()
print(repr(c.soc), repr(c.v_V), fe.v_raw, fe.i_raw, fe.v_uV, fe.i_nA)
"""


@pytest.mark.skipif(not os.path.exists(MICROPYTHON), reason="no micropython in .venv")
def test_micropython_runs_both_models_with_the_same_numbers():
    out = subprocess.run([MICROPYTHON, "-c", _MP_SCRIPT], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    mp = out.stdout.split()
    ns = {}
    import io
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(_MP_SCRIPT.replace("sys.path.insert(0, 'simulation')", ""), "mp", "exec"), ns)
    cp = buf.getvalue().split()
    assert float(mp[0]) == pytest.approx(float(cp[0]), rel=1e-9)
    assert float(mp[1]) == pytest.approx(float(cp[1]), rel=1e-9)
    # Same seed, same generator: the same ADC codes (a code may differ by one where
    # a sample sits on a rounding edge, floats being printed/derived identically).
    for a, b in zip(mp[2:], cp[2:]):
        assert abs(int(a) - int(b)) <= 1


def _seg_by_bisection(soc):
    s, n = cellmodel._OCV_S, cellmodel._OCV_N
    if soc <= s[1]:
        return 0
    if soc >= s[n - 2]:
        return n - 2
    lo, hi = 1, n - 2
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if soc < s[mid]:
            hi = mid
        else:
            lo = mid
    return lo


def _ocv_by_bisection(x):
    """ocv_V's cubic on the interval a bisection finds (inside the table)."""
    s, v, m = cellmodel._OCV_S, cellmodel._OCV_V, cellmodel._OCV_M
    k = _seg_by_bisection(x)
    h = s[k + 1] - s[k]
    t = (x - s[k]) / h
    return ((2 * t ** 3 - 3 * t ** 2 + 1) * v[k] + (t ** 3 - 2 * t ** 2 + t) * h * m[k]
            + (-2 * t ** 3 + 3 * t ** 2) * v[k + 1] + (t ** 3 - t ** 2) * h * m[k + 1])


def _inside(socs):
    s = cellmodel._OCV_S
    return [x for x in socs if s[0] < x < s[-1]]


def test_ocv_interval_lookup_is_the_bisection():
    """ocv_V finds its knot interval on a grid (cost per tick): the same interval as a
    bisection, at and next to every knot and across the whole range."""
    s = cellmodel._OCV_S
    socs = [x + e for x in s for e in (0.0, 1e-15, -1e-15, 1e-12, -1e-12)]
    socs += [-0.2 + 1.4 * k / 20000.0 for k in range(20001)]
    bad = [x for x in _inside(socs) if abs(cellmodel.ocv_V(x) - _ocv_by_bisection(x)) > 1e-12]
    assert not bad, bad[:5]
    # the grid is finer than the closest knots (what makes the lookup one step away)
    assert cellmodel._GRID_W < min(s[i + 1] - s[i] for i in range(len(s) - 1))


def test_control_a_coarse_grid_misses_intervals(monkeypatch):
    # the lookup walks from the grid's guess to the true interval; a grid that guesses
    # wrong and does not walk would land in the wrong interval: prove the check sees it
    s = cellmodel._OCV_S
    monkeypatch.setattr(cellmodel, "_GRID", bytes([1]) * (cellmodel._GRID_N + 1))
    socs = [-0.2 + 1.4 * k / 2000.0 for k in range(2001)]
    assert all(abs(cellmodel.ocv_V(x) - _ocv_by_bisection(x)) <= 1e-12
               for x in _inside(socs))   # walks
    stale = [1] * len(socs)
    assert any(stale[k] != _seg_by_bisection(x) for k, x in enumerate(socs))


def test_current_jump_moves_only_the_ohmic_part():
    """step(0, i) (every tick of the closed loop) sets the terminal voltage from the OCV
    it last computed: the same value a full recomputation gives."""
    cell = cellmodel.make_cell("fig4", soc0=0.3)
    for k in range(200):
        i = (-1) ** k * 8.39e-5 * (1 + k % 7)
        cell.step(7.0 + k % 3, i)
        cell.step(0, -i / 3.0)
        full = cellmodel.ocv_V(cell.soc_surface) + cell.ocv_shift
        assert cell.ocv_V == full
        assert cell.v_V == full + cell.i_A * cell.r_ohm(cell.i_A) + cell.v1
        assert cell.i_A == -i / 3.0
