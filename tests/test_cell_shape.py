"""The cell model as the paper shows it (issue 13): the open-circuit curve from a
measured Ni-rich curve (Chen2020's NMC811) on the paper's pinpoints, smooth and
strictly increasing; no falling voltage during a constant-current charge; ageing as a
state (FACTS: what the results look like). Each bound has a control case that breaks
it. The full shipped fig4 protocol through the engine is in test_cell_protocols.py."""
import math

import pytest

import host_tools  # noqa: F401  (board-side folders on sys.path)
import cellmodel
import cc_cv_reference as ref


# --- the open-circuit curve ---------------------------------------------------------

def test_chen2020_coefficients_are_pybamms():
    pybamm = pytest.importorskip("pybamm")
    from pybamm.input.parameters.lithium_ion import Chen2020
    import numpy as np
    for y in np.linspace(0.25, 0.95, 57):
        assert cellmodel.chen2020_nmc811_V(float(y)) == pytest.approx(
            float(Chen2020.nmc_LGM50_ocp_Chen2020(y)), abs=1e-12)
    assert pybamm.__version__


def test_ocv_follows_the_measured_curve_between_its_ends():
    lo, hi = cellmodel.SOC_CHEN_LO, cellmodel.SOC_LI029
    y0, y1 = cellmodel.CHEN2020_Y_RANGE[1], cellmodel._Y_AT_405
    for k in range(101):
        s = lo + (hi - lo) * k / 100.0
        y = y0 + (y1 - y0) * k / 100.0
        # the spline between knots stays within 1 mV of the measured curve (5 mV in
        # the end intervals, next to the steep ends)
        edge = 100.0 / cellmodel._N_CHEN
        tol = 5e-3 if (k < edge or k > 100.0 - edge) else 1e-3
        assert cellmodel.ocv_V(s) == pytest.approx(cellmodel.chen2020_nmc811_V(y), abs=tol)
    assert cellmodel.chen2020_nmc811_V(y1) == pytest.approx(4.05, abs=1e-4)


def test_ocv_pinpoints():
    ocv, inv = cellmodel.ocv_V, cellmodel.soc_at_ocv
    assert ocv(0.0) == pytest.approx(2.71, abs=1e-9)                 # pristine Li1.0
    assert ocv((1 - 0.29) / 0.7) == pytest.approx(4.05, abs=1e-3)    # Li0.29
    window = (inv(4.1) - inv(2.6)) * cellmodel.SPECIFIC_MAH_G
    # 192 (Li1.0 -> Li0.3) and 196 (DFT) are the paper's; exactly 192 is not possible
    # with 2.71 V at Li1.0 and 4.05 V at Li0.29 (194.7 between those two alone), and
    # ends steep enough to be DFT-like are too stiff for the hold regulator: 201.5
    # (docs/cellmodel.md). A CC-CV cycle ending at C/46 and C/24 gives about 189.
    assert 192.0 <= window <= 202.0
    # a cycled cell rests at 3.7 V: inside the window, in the measured solid solution
    assert cellmodel.SOC_CHEN_LO < inv(3.7) < cellmodel.SOC_LI029
    # most of the capacity sits above 3.6 V, as in a measured Ni-rich curve: the mean
    # over the window (3.67 V) lies between the old straight-segment table's (3.48 V at
    # C/50) and Chen2020's over its own range (3.88 V; the window adds the steep tail)
    n = 400
    mean = sum(ocv(inv(2.6) + (inv(4.1) - inv(2.6)) * (k + 0.5) / n) for k in range(n)) / n
    assert 3.6 < mean < 3.88, mean
    share = sum(1 for k in range(n)
                if ocv(inv(2.6) + (inv(4.1) - inv(2.6)) * (k + 0.5) / n) > 3.6) / n
    assert share > 0.6


def _slopes_at_knots(f, xs, e=1e-7):
    return [((f(x) - f(x - e)) / e, (f(x + e) - f(x)) / e) for x in xs[1:-1]]


def test_ocv_is_smooth_and_strictly_increasing():
    xs = [p[0] for p in cellmodel.OCV_TABLE]
    for left, right in _slopes_at_knots(cellmodel.ocv_V, xs):
        assert right == pytest.approx(left, rel=1e-3, abs=1e-3)   # no kink
    s, last = -0.15, -1.0
    while s < 1.1:
        v = cellmodel.ocv_V(s)
        assert v > last
        assert cellmodel.soc_at_ocv(v) == pytest.approx(s, abs=1e-9)
        last = v
        s += 0.0013


def test_control_straight_segments_kink():
    """The same knots joined by straight lines (the old table) fail the kink test."""
    t = cellmodel.OCV_TABLE

    def lin(s):
        for (a, va), (b, vb) in zip(t, t[1:]):
            if a <= s <= b:
                return va + (vb - va) * (s - a) / (b - a)
        raise ValueError
    xs = [p[0] for p in t]
    kinks = [abs(r - l) > 1e-3 * abs(l) + 1e-3 for l, r in _slopes_at_knots(lin, xs)]
    assert any(kinks)


def test_spline_is_the_standard_pchip():
    scipy_interp = pytest.importorskip("scipy.interpolate")
    xs = [p[0] for p in cellmodel.OCV_TABLE]
    ys = [p[1] for p in cellmodel.OCV_TABLE]
    p = scipy_interp.PchipInterpolator(xs, ys)
    for k in range(500):
        s = xs[0] + (xs[-1] - xs[0]) * k / 499.0
        assert cellmodel.ocv_V(s) == pytest.approx(float(p(s)), abs=1e-9)


# --- no falling voltage during a CC charge ----------------------------------------

RATES = (1 / 50, 1 / 20, 1 / 10, 1 / 5, 1 / 3, 1 / 2, 1.0, 2.0, 3.0)


def _cc_charge_drop(cell, rate, after_s=60.0):
    """CC-CV discharge to the paper's end (the state a charge starts from), then a CC
    charge to 4.1 V; the largest drop of the voltage below its running maximum after
    the first minute (V)."""
    i1c = cell.capacity_As / 3600.0
    dt = min(30.0, 2.0 / rate)
    ref.run_cc(cell, -rate * i1c, 2.6, dt)
    ref.run_cv(cell, 2.6, i1c / 24.0, dt)
    i = rate * i1c
    t, vmax, drop = 0.0, -1.0, 0.0
    h = min(dt, 5.0)
    while cell.v_V < 4.1 and t < 200.0 * 3600.0:
        cell.step(h, i)
        t += h
        if t > after_s:
            vmax = max(vmax, cell.v_V)
            drop = max(drop, vmax - cell.v_V)
    return drop


@pytest.mark.parametrize("name", sorted(cellmodel.CELLS))
def test_no_falling_voltage_during_cc_charge(name):
    worst = 0.0
    for rate in RATES:
        for age in (0.0, 100.0):
            cell = cellmodel.make_cell(name, soc0=0.9, age0_cycles=age)
            worst = max(worst, _cc_charge_drop(cell, rate))
    assert worst < 0.002


def test_control_old_exchange_law_falls():
    """The old law (exchange time from the bulk's state alone, slow below a knee)
    makes the surface give lithium back while the bulk speeds up: the voltage falls."""
    cell = cellmodel.make_cell("fig4", soc0=0.9, surface_frac=0.05, tau_fast_s=1800.0,
                               tau_slow_s=5600.0, soc_knee=0.25)

    def old_tau(d, soc, f):
        return 1.0 / cell.diffusivity(soc - f * d)   # the bulk's state (soc_bulk)
    cell.tau_at = old_tau
    assert _cc_charge_drop(cell, 0.5) > 0.01


# --- ageing (FACTS: what the results look like) --------------------------------------

def _cycle_at(age, rate=1.0, name="fig4", n=2, **ov):
    cell = cellmodel.make_cell(name, age0_cycles=age, **ov)
    cell.frozen = True
    for _ in range(n):
        r = ref.cycle(cell, rate, rate, dt=5.0)
    return r, cell


def test_ageing_resistance_grows_cc_falls_total_stays():
    early, c0 = _cycle_at(26.0)
    late, c1 = _cycle_at(200.0)
    assert c1.r0 > 1.5 * c0.r0 and c1.r1 > 1.5 * c0.r1     # the paper: R grows (PEIS)
    assert late["discharge_cc"] < early["discharge_cc"] - 2.0
    assert late["discharge"] == pytest.approx(early["discharge"], abs=2.0)
    assert early["discharge_cc"] > 120.0                    # FACTS: > 120 at best
    for r in (early, late):
        assert r["discharge_cv"] < 70.0                     # FACTS: CV < 70
        assert 185.0 <= r["discharge"] <= 196.0             # FACTS: about 192


def test_1c_charge_cc_is_under_5_percent_of_the_charge_above_cycle_70():
    """FACTS: what the results look like: charging at 1C above cycle 70 the CC part is
    almost null (the issue's bound: under 5 % of the charge). The charge-only
    resistance (r_chg, building up with the age) does it; the discharge does not see
    it."""
    for age in (71.0, 120.0, 200.0):
        r, c = _cycle_at(age)
        assert r["charge_cc"] < 0.05 * (r["charge_cc"] + r["charge_cv"]), age
        assert c.r_chg > 2.0 * c.r0
    # control: the charge resistance switched off breaks the bound at cycle 71 ...
    off, c = _cycle_at(71.0, r_chg_max_ohm=0.0)
    assert off["charge_cc"] > 0.05 * (off["charge_cc"] + off["charge_cv"])
    # ... and the discharge is the same with and without it (charge only)
    on, _ = _cycle_at(71.0)
    assert on["discharge_cc"] == pytest.approx(off["discharge_cc"], abs=0.5)
    assert on["discharge"] == pytest.approx(off["discharge"], abs=0.5)


def test_charge_resistance_acts_on_charge_only():
    c = cellmodel.make_cell("fig4", age0_cycles=100.0, soc0=0.5)
    m2 = (100.0 / 60.0) ** 2
    assert c.r_chg == pytest.approx(3800.0 * m2 / (1.0 + m2))   # r_chg_max m^2 / (1 + m^2)
    v0 = c.v_V
    i = 1e-4
    assert c.voltage_if(i) - v0 == pytest.approx(i * (c.r0 + c.r_chg))
    assert c.voltage_if(-i) - v0 == pytest.approx(-i * c.r0)
    c.step(0, i)
    assert c.v_V - v0 == pytest.approx(i * (c.r0 + c.r_chg))
    assert cellmodel.make_cell("fig4").r_chg == 0.0          # fresh: none


def test_ageing_is_a_state_that_moves_with_throughput():
    cell = cellmodel.make_cell("fig4")
    r0 = cell.r0
    for _ in range(3):
        ref.cycle(cell, 1.0, 1.0, dt=10.0)
    assert 2.5 < cell.age_cycles < 3.5
    assert cell.r0 > r0
    frozen = cellmodel.make_cell("fig4")
    frozen.frozen = True
    ref.cycle(frozen, 1.0, 1.0, dt=10.0)
    assert frozen.age_cycles == 0.0 and frozen.r0 == r0


TOFSIMS = [(1 / 50, 3), (1 / 20, 3), (1 / 10, 3), (1 / 5, 1)]   # FACTS: TOF-SIMS cell


def _totals(name, seq, **ov):
    cell = cellmodel.make_cell(name, **ov)
    out = []
    for rate, n in seq:
        for _ in range(n):
            out.append((rate, ref.cycle(cell, rate, rate, dt=min(60.0, 5.0 / rate))["discharge"]))
    return out


def test_thick_cells_peak_after_the_first_cycle_then_fade():
    t = _totals("tofsims", TOFSIMS)
    k = max(range(len(t)), key=lambda j: t[j][1])
    assert t[k][0] == pytest.approx(0.1) and k > 0          # the peak: at C/10
    assert t[-1][1] < t[k][1] - 1.0                         # then it fades
    assert t[k + 1][1] < t[k][1]
    r = _totals("raman", [(1 / 20, 10)])                    # FACTS: Raman cell, C/20
    k = max(range(len(r)), key=lambda j: r[j][1])
    assert 0 < k < 9 and r[-1][1] < r[k][1] - 1.0


def test_control_without_activation_and_fade_c50_wins():
    t = _totals("tofsims", TOFSIMS, act_frac=0.0, fade_per_cycle=0.0)
    k = max(range(len(t)), key=lambda j: t[j][1])
    assert t[k][0] == pytest.approx(1 / 50)


def test_side_reaction_charge_is_not_stored_and_negligible_in_the_window():
    on = cellmodel.make_cell("fig4", soc0=1.0)
    off = cellmodel.make_cell("fig4", soc0=1.0, side_c_at_4v1=0.0)
    for c in (on, off):
        ref.run_cv(c, 4.1, c.capacity_As / 3600.0 / 46.0, dt=10.0)
        ref.run_cv(c, 4.4, c.capacity_As / 3600.0 / 46.0, dt=10.0, t_max=3600.0)
    # at 4.4 V the side current is large and stores nothing: less soc for the charge
    assert on.i_side_A > 1e-6 and off.i_side_A == 0.0
    assert on.soc < off.soc
    # at the 4.1 V cut-off it is a few % of the C/46 end current
    c = cellmodel.make_cell("fig4", soc0=1.0)
    ref.run_cv(c, 4.1, c.capacity_As / 3600.0 / 46.0, dt=10.0)
    assert c.i_side_A < 0.05 * c.capacity_As / 3600.0 / 46.0


# --- cyclic voltammetry (FACTS: the cycling window and why: "a reduction peak at 3.3 V")

def _cv_reduction_peak(**ov):
    """protocols/cv_diagnostic.toml's main sweep on the float reference (an ideal
    potentiostat, 5 s ticks): a fresh fig4 cell from its 2.8 V rest, 2.8 -> 4.5 V and
    back at 0.1 mV/s twice; the second down sweep's largest reduction current."""
    c = cellmodel.make_cell("fig4", **ov)
    c.set_soc(cellmodel.soc_at_ocv(2.8))
    for _ in range(2):
        ref.sweep(c, 4.5, 1e-4)
        down = ref.sweep(c, 2.8, 1e-4)
    return min(down, key=lambda r: r[1])


def test_cv_reduction_peak_sits_near_3v3():
    v, i = _cv_reduction_peak()
    assert 3.25 <= v <= 3.35, v
    assert -80e-6 < i < -20e-6            # a peak, inside the protocol's 3C trip


def test_control_without_the_lithiation_lag_the_peak_sits_at_3v5():
    # the lag switched off: the peak sits where the surface reaches the bottom of the
    # measured solid solution (3.56 V at soc 0.12) less the 900 ohm drop
    v, _ = _cv_reduction_peak(lag_V=0.0)
    assert v > 3.45, v


def test_lithiation_lag_only_while_discharging_and_only_near_full_lithiation():
    # the lag is in the RC element's target while discharging: none on charge, and at a
    # delithiated surface (soc 0.9: weight 0.17) well under its value near soc 0.35 (0.94)
    i1c = cellmodel.make_cell("fig4").capacity_As / 3600.0
    gap = {}
    for soc0 in (0.35, 0.9):
        for sign in (1.0, -1.0):
            a = cellmodel.make_cell("fig4", soc0=soc0)
            b = cellmodel.make_cell("fig4", soc0=soc0, lag_V=0.0)
            for c in (a, b):
                c.step(20.0, sign * i1c)
            gap[soc0, sign] = b.v_V - a.v_V
    assert gap[0.35, 1.0] == 0.0 and gap[0.9, 1.0] == 0.0
    assert gap[0.35, -1.0] > 0.03          # 0.1 V asinh(10) x 0.94 x (1 - 1/e): 0.18 V
    assert 0.0 < gap[0.9, -1.0] < 0.3 * gap[0.35, -1.0]
