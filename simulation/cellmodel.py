# The Li | Li6PS5Cl | NMC955 coin cell of the paper as a small float model, for the
# simulated board and the host's closed loop. It runs outside the heap-locked control
# tick (floats allocate), and it never reads a clock: it is told dt and the current.
#
# Model (docs/cellmodel.md): terminal voltage = OCV(surface state of charge)
#   + I * R0 + v1 (one RC element for charge transfer), and the cathode's lithium
# sits in two reservoirs (a thin surface shell and the particle bulk, the "kinetic
# battery model") exchanging at a rate that slows down where the NMC is lithiated.
# Current: amperes, + = charging (as everywhere in this project).
import math

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# FACTS: "Theoretical specific capacity 192 mAh/g (Li1.0 -> Li0.3)".
SPECIFIC_MAH_G = 192.0
# FACTS: "Li anode 8 mm diameter ... A = pi * 0.4^2 = 0.503 cm2".
AREA_CM2 = 0.503
# Lithiation x of LixNMC955 and state of charge: soc = (1 - x) / 0.7, so soc 0 is
# Li1.0 and soc 1 is Li0.3 and soc 1 holds exactly the nominal capacity (192 mAh/g).
X_SPAN = 0.7

# --- Open-circuit voltage ---------------------------------------------------------
# The shape of the solid-solution part is MEASURED data of a close relative: the
# NMC811 open-circuit potential of Chen et al., "Development of Experimental
# Techniques for Parameterization of Multi-scale Lithium-ion Battery Models",
# J. Electrochem. Soc. 167 (2020) 080534 (their fit, as shipped by PyBaMM in
# pybamm/input/parameters/lithium_ion/Chen2020.py, nmc_LGM50_ocp_Chen2020):
#   U(y) = a0 y + a1 - b1 tanh(c1 (y - d1)) - b2 tanh(c2 (y - d2)) + b3 tanh(c3 (y - d3))
# with y the NMC811 stoichiometry, valid over their measured range 0.2661 .. 0.9084.
CHEN2020_NMC811 = (-0.8090, 4.4875, 0.0428, 18.5138, 0.5542, 17.7326, 15.7890, 0.3117,
                   17.5842, 15.9308, 0.3120)
CHEN2020_Y_RANGE = (0.2661, 0.9084)   # Chen2020: stoichiometry at 100 % and 0 % SoC


def chen2020_nmc811_V(y):
    a0, a1, b1, c1, d1, b2, c2, d2, b3, c3, d3 = CHEN2020_NMC811
    return (a0 * y + a1 - b1 * math.tanh(c1 * (y - d1)) - b2 * math.tanh(c2 * (y - d2))
            + b3 * math.tanh(c3 * (y - d3)))


# Mapped onto the paper's pinpoints (FACTS: the cycling window and why; open-circuit
# potentials seen). soc = (1 - x) / 0.7 for LixNMC955, so soc 0 is Li1.0, soc 1 Li0.3.
SOC_LI029 = (1.0 - 0.29) / 0.7   # 4.05 V at Li0.29, the DFT's stable top (1.0143)
SOC_CHEN_LO = 0.12               # where the measured solid solution takes over (3.56 V)
_Y_AT_405 = 0.43659         # Chen2020's y where U = 4.050 V (checked in the tests)
_N_CHEN = 24                     # knots taken from the measured curve


def _ocv_knots():
    k = [
        (-0.100, 2.000),  # below the window, sweeps only: Mn4+ -> Mn3+ below 2.24 V
        (-0.060, 2.240),  # top of the Mn shoulder, 2.24 V
        (-0.020, 2.600),  # lower cut-off 2.60 V (2.63 V edge of the DOS gap): steep,
                          # but no steeper than a hold can regulate (docs/cellmodel.md)
        (0.000, 2.710),   # pristine cathode (Li1.0) 2.71 V (SKPM)
        (0.0714, 3.000),  # Co4+ -> Co3+ between 2.63 and 3.00 V: Co is 5 % of the
                          # transition metals, x 1.0 -> 0.95, soc 0 -> 0.0714
        (0.095, 3.120),   # first shoulder 3.12 V: Ni4+ -> Ni3+ above 3.00 V
        (0.110, 3.360),   # inflection 3.36 V: the solid solution above it
    ]
    # The measured NMC811 solid solution, y = Chen2020_Y_RANGE[1] (3.56 V, their
    # discharged end) at SOC_CHEN_LO, linearly in soc to 4.05 V at Li0.29.
    y0, y1 = CHEN2020_Y_RANGE[1], _Y_AT_405
    for j in range(_N_CHEN + 1):
        s = SOC_CHEN_LO + (SOC_LI029 - SOC_CHEN_LO) * j / _N_CHEN
        y = y0 + (y1 - y0) * j / _N_CHEN
        k.append((s, chen2020_nmc811_V(y)))
    k.append((SOC_LI029 + 0.015, 4.100))   # DOS falls above 4.04 V: steep to the 4.1 V
                                           # cut-off (FACTS: charge cut-off 4.05 V)
    k.append((SOC_LI029 + 0.080, 4.500))   # beyond the window, sweeps to 4.5 V only
    return tuple(k)


def _pchip_slopes(x, y):
    """Fritsch-Carlson slopes (as scipy's PchipInterpolator): monotone, C1."""
    n = len(x)
    h = [x[i + 1] - x[i] for i in range(n - 1)]
    dl = [(y[i + 1] - y[i]) / h[i] for i in range(n - 1)]
    m = [0.0] * n
    for i in range(1, n - 1):
        if dl[i - 1] * dl[i] <= 0.0:
            m[i] = 0.0
        else:
            w1 = 2.0 * h[i] + h[i - 1]
            w2 = h[i] + 2.0 * h[i - 1]
            m[i] = (w1 + w2) / (w1 / dl[i - 1] + w2 / dl[i])
    # ends: the one-sided three-point formula, kept monotone
    for (i, j, a, b) in ((0, 1, 0, 1), (n - 1, n - 2, n - 2, n - 3)):
        ha, hb = h[a], h[b]
        da, db = dl[a], dl[b]
        d = ((2.0 * ha + hb) * da - ha * db) / (ha + hb)
        if d * da <= 0.0:
            d = 0.0
        elif da * db <= 0.0 and abs(d) > abs(3.0 * da):
            d = 3.0 * da
        m[i] = d
    return m


OCV_TABLE = _ocv_knots()
_OCV_S = [p[0] for p in OCV_TABLE]
_OCV_V = [p[1] for p in OCV_TABLE]
_OCV_N = len(OCV_TABLE)
_OCV_M = _pchip_slopes(_OCV_S, _OCV_V)
del _ocv_knots, _pchip_slopes   # (import-time only: their code off the board's heap)


# The knot interval of a state of charge in O(1): a uniform grid over the inner knots
# (s[1] .. s[n-2]) with, per grid point, the last knot at or below it; the grid is finer
# than the closest knots (0.01 apart), so the lookup is one step away from the answer.
_GRID_N = 128
_GRID_LO = _OCV_S[1]
_GRID_W = (_OCV_S[_OCV_N - 2] - _OCV_S[1]) / _GRID_N


def _grid():
    b = bytearray(_GRID_N + 1)
    k = 1
    for j in range(_GRID_N + 1):
        x = _GRID_LO + j * _GRID_W
        while k < _OCV_N - 3 and _OCV_S[k + 1] <= x:
            k += 1
        b[j] = k
    return bytes(b)


_GRID = _grid()
del _grid


_OCV_S1 = _OCV_S[1]
_OCV_SN2 = _OCV_S[_OCV_N - 2]
_OCV_SN1 = _OCV_S[_OCV_N - 1]


def ocv_V(soc):
    """Open-circuit voltage (V) at a state of charge: a monotone cubic (PCHIP) through
    OCV_TABLE, continued linearly with the end slopes beyond the table."""
    s = _OCV_S
    if soc <= s[0]:
        return _OCV_V[0] + _OCV_M[0] * (soc - s[0])
    if soc >= _OCV_SN1:
        n = _OCV_N
        return _OCV_V[n - 1] + _OCV_M[n - 1] * (soc - _OCV_SN1)
    # the knot interval: the grid's guess, then a step or two (tests/test_cellmodel.py
    # checks it against a bisection)
    if soc <= _OCV_S1:
        k = 0
    elif soc >= _OCV_SN2:
        k = _OCV_N - 2
    else:
        j = int((soc - _GRID_LO) / _GRID_W)
        k = _GRID[j if j < _GRID_N else _GRID_N]
        while soc >= s[k + 1]:
            k += 1
        while soc < s[k]:
            k -= 1
    v = _OCV_V
    m = _OCV_M
    s0 = s[k]
    h = s[k + 1] - s0
    t = (soc - s0) / h
    t2 = t * t
    t3 = t2 * t
    return ((2.0 * t3 - 3.0 * t2 + 1.0) * v[k] + (t3 - 2.0 * t2 + t) * h * m[k]
            + (-2.0 * t3 + 3.0 * t2) * v[k + 1] + (t3 - t2) * h * m[k + 1])


def docv_dsoc(soc):
    """The slope of ocv_V (V per unit soc), > 0 everywhere."""
    e = 1e-7
    return (ocv_V(soc + e) - ocv_V(soc - e)) / (2.0 * e)


def soc_at_ocv(v_V):
    """The inverse of ocv_V (strictly increasing): bisection inside the knot interval."""
    v = _OCV_V
    s = _OCV_S
    n = _OCV_N
    if v_V <= v[0]:
        return s[0] + (v_V - v[0]) / _OCV_M[0]
    if v_V >= v[n - 1]:
        return s[n - 1] + (v_V - v[n - 1]) / _OCV_M[n - 1]
    k = 0
    while v[k + 1] < v_V:
        k += 1
    lo, hi = s[k], s[k + 1]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if ocv_V(mid) < v_V:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return 0.5 * (lo + hi)


# Parameters of the fig4 cell (FACTS: fig4, 0.167 mAh/cm2). How each was fitted to the
# paper's shapes is in docs/cellmodel.md. make_cell(dict) takes these names (issue 14's
# `cycler fit` fits them); a missing key comes from this dict.
_FIG4 = {
    "areal_mAh_cm2": 0.167,
    "r0_ohm": 300.0,        # ohmic (R1 of the PEIS): separator + contacts
    "r1_ohm": 600.0,        # charge transfer (R2||C of the PEIS)
    "tau1_s": 20.0,         # its time constant R1 * C1
    "surface_frac": 0.05,    # share of the capacity in the surface reservoir
    # Exchange while the bulk takes lithium back (discharge direction):
    "tau_fast_s": 925.0,    # surface <-> bulk exchange time where the NMC is delithiated
    "tau_slow_s": 2000.0,   # ... and where it is fully lithiated (x -> 1)
    "soc_knee": 0.3,        # below this soc the exchange slows, log-linearly
    # Exchange while the bulk gives lithium up (charge direction): one time constant.
    "tau_chg_s": 7000.0,
    "soc0": 0.0,            # initial state: discharged (pristine, 2.71 V at rest)
    "ocv_shift_V": 0.0,     # the OCV curve moved up or down (cycler fit on a measured cell)
    # Ageing (a state: equivalent full cycles n = charge throughput / (2 x capacity)).
    "age0_cycles": 0.0,       # n at the start
    "r_age_per_cycle": 0.005,   # R0 and R1 grow by this share per cycle (x 2 at 200)
    # A resistance in series on charge only (delithiation) that builds up with the age
    # and levels off: r_chg_max_ohm x m^2 / (1 + m^2), m = n / r_chg_cycles (half of it
    # at r_chg_cycles). It empties the 1C charge CC above cycle 70 while the discharge
    # keeps its CC (FACTS: what the results look like; docs/cellmodel.md "Ageing").
    "r_chg_max_ohm": 3800.0,
    "r_chg_cycles": 60.0,
    "tau_age_per_cycle": 0.0003,   # the exchange times grow by this share per cycle
    "act_frac": 0.0,          # share of the capacity not yet reached at n = 0 ...
    "act_cycles": 2.2,        # ... reached over this many cycles (exp(-n / act_cycles))
    "fade_per_cycle": 0.0,    # share of the capacity lost per cycle
    # Irreversible oxidation above about 4.0 V (FACTS: "above about 4.1 V holes
    # dominate: oxygen release, sulfur oxidation"; "a sharp current rise at >= 4.0 V"):
    # a current, as a C-rate, that grows e-fold every side_mV_e of electrode potential.
    "side_c_at_4v1": 4.0e-4,  # at 4.1 V: 34 nA on fig4, 2 % of the C/46 end current
    "side_mV_e": 50.0,        # e-fold per 50 mV: x 3000 at 4.5 V (about C/1 on fig4)
    # Lithiation lag (docs/cellmodel.md "Cyclic voltammetry"): while discharging, the
    # charge-transfer element also carries lag_V asinh(|I| / (C/10)), weighted
    # 1 / (1 + (s_s / 0.6)^4) (near full lithiation); 0 switches it off.
    "lag_V": 0.1,
}
_THICK_REF = 0.167


def _params_for(areal):
    """A cell of the study by its areal capacity: the fig4 cell, made thicker.

    A thicker composite cathode adds ionic path in series (resistance grows with the
    loading, the separator part does not) and slows the reach of the inner particles
    (exchange times grow with the square root of the loading ratio, a mild choice:
    FACTS "the thick cells (~2 mAh/cm2) peak at C/10" so C/10 must still work).
    A thick cathode also needs cycles to bring all its particles into contact and
    then fades (FACTS: the thick cells peak after the first cycle, then fade): the
    share not reached at first and the fade per cycle grow with the loading.
    """
    k = areal / _THICK_REF
    p = dict(_FIG4)
    p["areal_mAh_cm2"] = areal
    # R0 = 200 ohm separator (fixed) + 100 ohm composite (x loading ratio): fig4 = 300.
    p["r0_ohm"] = 200.0 + 100.0 * k
    # Charge transfer: more active area in parallel (1/k) but a longer path (x k):
    # keep the area-specific part, plus a path term growing with sqrt(k).
    p["r1_ohm"] = _FIG4["r1_ohm"] * math.sqrt(k)
    ks = math.sqrt(k)
    p["tau_fast_s"] = _FIG4["tau_fast_s"] * ks
    p["tau_slow_s"] = _FIG4["tau_slow_s"] * ks
    p["tau_chg_s"] = _FIG4["tau_chg_s"] * ks
    # The charge-only resistance is an interface's (per particle surface): k times the
    # particles in parallel, 1/k the ohms (the same overpotential at the same C-rate).
    p["r_chg_max_ohm"] = _FIG4["r_chg_max_ohm"] / k
    p["act_frac"] = 0.048 * (k - 1.0)
    p["fade_per_cycle"] = 0.0034 * (k - 1.0)
    return p


CELLS = {
    "fig4": _params_for(0.167),         # FACTS: fig4, Fig. 4 and Fig. 5B cell 1
    "fig5b-cell2": _params_for(0.434),  # FACTS: fig5b-cell2
    "raman": _params_for(1.6),          # FACTS: raman
    "tofsims": _params_for(1.90),       # FACTS: tofsims
    "max": _params_for(2.17),           # FACTS: max, the upper bound of the study
}
for _name in CELLS:
    CELLS[_name]["name"] = _name


def make_cell(name_or_dict="fig4", **overrides):
    """A CellModel from a CELLS name or a parameter dict, with keyword overrides.

    make_cell("fig4"), make_cell("max", soc0=0.5),
    make_cell({"areal_mAh_cm2": 1.0, "r0_ohm": 500.0}) (missing keys from fig4).
    """
    if isinstance(name_or_dict, str):
        if name_or_dict not in CELLS:
            raise ValueError("unknown cell %r: give one of %s, or a dict of parameters "
                             "(e.g. {'areal_mAh_cm2': 0.167})"
                             % (name_or_dict, ", ".join(sorted(CELLS))))
        p = dict(CELLS[name_or_dict])
    else:
        p = dict(_FIG4)
        p["name"] = "custom"
        p.update(name_or_dict)
    p.update(overrides)
    return CellModel(p)


class CellModel:
    """State: mean soc, surface-bulk gap, RC overpotential, ageing (equivalent cycles).
    Read v_V, ocv_V, soc, i_A, age_cycles, heat_W."""

    def __init__(self, params):
        p = dict(_FIG4)
        p.update(params)
        for k in p:
            if k not in _FIG4 and k not in ("name", "capacity_mAh", "active_mass_mg"):
                raise ValueError("unknown cell parameter %r; the parameters are: %s"
                                 % (k, ", ".join(sorted(_FIG4))))
        self.params = p
        self.name = p.get("name", "custom")
        if "capacity_mAh" in p:
            cap = float(p["capacity_mAh"])
        else:
            cap = float(p["areal_mAh_cm2"]) * AREA_CM2  # FACTS: capacity = areal x 0.503
        if not cap > 0:
            raise ValueError("capacity must be > 0 mAh (got %r)" % cap)
        self.capacity_mAh = cap
        self.capacity_As = cap * 3.6  # mAh -> A s
        # FACTS: active mass = capacity / 192 mAh/g.
        self.active_mass_mg = p.get("active_mass_mg", cap / SPECIFIC_MAH_G * 1000.0)
        self.r0_fresh = float(p["r0_ohm"])
        self.r1_fresh = float(p["r1_ohm"])
        self.tau1 = float(p["tau1_s"])
        f = float(p["surface_frac"])
        if not 0.0 < f < 1.0:
            raise ValueError("surface_frac must be between 0 and 1 (e.g. 0.05)")
        self.f_nom = f
        self.f = f
        self.tau_fast_fresh = float(p["tau_fast_s"])
        self.tau_slow_fresh = float(p["tau_slow_s"])
        self.soc_knee = float(p["soc_knee"])
        self.tau_chg_fresh = float(p["tau_chg_s"])
        if self.tau_fast_fresh > 0.0 and not self.tau_chg_fresh > 0.0:
            raise ValueError("tau_chg_s must be > 0 s (got %r)" % self.tau_chg_fresh)
        self.k_r = float(p["r_age_per_cycle"])
        self.r_chg_max = float(p["r_chg_max_ohm"])
        self.r_chg_cycles = float(p["r_chg_cycles"])
        self.k_tau = float(p["tau_age_per_cycle"])
        self.act_frac = float(p["act_frac"])
        self.act_cycles = float(p["act_cycles"])
        self.k_fade = float(p["fade_per_cycle"])
        self.side_A_4v1 = float(p["side_c_at_4v1"]) * self.capacity_As / 3600.0
        self.side_V_e = float(p["side_mV_e"]) * 1e-3
        if not self.side_V_e > 0.0:
            raise ValueError("side_mV_e must be > 0 mV (e.g. 50)")
        self.i_side_A = 0.0
        self.lag_V = float(p["lag_V"])
        self.lag_i0_A = self.capacity_As / 36000.0    # the lag's I0: C/10
        self.ocv_shift = float(p.get("ocv_shift_V", 0.0))
        # tau_fast_s 0 switches the diffusion limit off (surface = bulk).
        self._ln_ratio = (math.log(self.tau_slow_fresh / self.tau_fast_fresh)
                          if self.tau_fast_fresh > 0.0 else 0.0)
        self._exp_mL = math.exp(-self._ln_ratio)   # _g's constant
        self.frozen = False     # True: the ageing state does not move (PyBaMM check)
        self._rc_dt = self._rc_tau = self._rc_k = 0.0   # step()'s RC factor, kept
        self._last = [None, None]   # step()'s last step: its start and its result
        self.i_A = 0.0
        self.t_s = 0.0
        self.age_cycles = float(p["age0_cycles"])
        self._age_apply()
        self.set_soc(float(p["soc0"]))

    # --- ageing ------------------------------------------------------------
    def _age_apply(self):
        """The parameters at the present ageing state n (equivalent full cycles)."""
        n = self.age_cycles
        self._aged_at = n
        self.r0 = self.r0_fresh * (1.0 + self.k_r * n)
        self.r1 = self.r1_fresh * (1.0 + self.k_r * n)
        # in series on charge only
        m2 = (n / self.r_chg_cycles) ** 2 if self.r_chg_cycles > 0.0 else 0.0
        self.r_chg = self.r_chg_max * m2 / (1.0 + m2)
        a = 1.0 + self.k_tau * n
        self.tau_fast = self.tau_fast_fresh * a
        self.tau_slow = self.tau_slow_fresh * a
        self.tau_chg = self.tau_chg_fresh * a
        reach = 1.0 - self.act_frac * (math.exp(-n / self.act_cycles)
                                       if self.act_cycles > 0 else 0.0)
        keep = 1.0 - self.k_fade * n
        if keep < 0.05:
            keep = 0.05
        self.q_frac = reach * keep   # share of the bulk the cell can reach
        # the unreached and the lost material is bulk: the surface reservoir (the
        # contacted particle surfaces) keeps its f of the nominal capacity
        fn = self.f_nom
        reachable = fn + (1.0 - fn) * self.q_frac
        self.f = fn / reachable
        self._q_eff = self.capacity_As * reachable
        self._age_next = n + 0.02    # re-derive every 1/50 of a cycle
        self._g_consts()

    def _g_consts(self):
        # _g's constants at the present exchange times (None: L = 0, G linear): tau_at
        # reads them several times a simulated tick
        L = self._ln_ratio
        if -1e-12 < L < 1e-12 or not self.tau_fast > 0.0:
            self._gc = None
        else:
            gk = self.soc_knee / (L * self.tau_fast)
            self._gc = (self.tau_slow, self.tau_fast, self.soc_knee, gk, -L, self._exp_mL,
                        gk * (1.0 - self._exp_mL))

    # --- state -------------------------------------------------------------
    def set_soc(self, soc):
        """Put the cell at rest, in equilibrium, at a state of charge."""
        self.soc = soc          # mean state of charge of the reachable capacity
        self.d = 0.0            # surface soc - bulk soc
        self.v1 = 0.0
        self.i_A = 0.0
        self._update_v()

    def state(self):
        return (self.soc, self.d, self.v1, self.i_A, self.t_s, self.age_cycles)

    def set_state(self, st):
        self.soc, self.d, self.v1, self.i_A, self.t_s, self.age_cycles = st
        if self.age_cycles != self._aged_at:   # (a function of n alone: same n, same)
            self._age_apply()
        self._update_v()

    @property
    def soc_surface(self):
        return self.soc + (1.0 - self.f) * self.d

    @property
    def soc_bulk(self):
        return self.soc - self.f * self.d

    def diffusivity(self, s):
        """1 / exchange time (1/s) at a local state s: slow where LixNMC is nearly full
        (x -> 1, s -> 0), fast above soc_knee, log-linear in between."""
        if s >= self.soc_knee:
            return 1.0 / self.tau_fast
        if s <= 0.0:
            return 1.0 / self.tau_slow
        return math.exp(-self._ln_ratio * (1.0 - s / self.soc_knee)) / self.tau_fast

    def _g(self, s):
        """Integral of diffusivity from 0 to s (the Kirchhoff transform)."""
        c = self._gc
        if c is None:   # (tau_slow < tau_fast is allowed: L < 0; L = 0 is linear)
            return s / self.tau_slow if s <= 0.0 else s / self.tau_fast
        ts, tf, kn, gk, nL, em, g_kn = c
        if s <= 0.0:
            return s / ts
        if s < kn:
            return gk * (math.exp(nL * (1.0 - s / kn)) - em)
        return g_kn + (s - kn) / tf

    def tau_exchange(self):
        """Surface <-> bulk exchange time (s) now. Lithium going into the bulk (the
        surface below the bulk, d < 0): the flux is J = G(s_s) - G(s_b), G the integral
        of the diffusivity, and tau = d / J (the secant). Lithium leaving the bulk
        (d > 0): tau_chg."""
        return self.tau_at(self.d, self.soc, self.f)

    def tau_at(self, d, soc, f):
        """tau_exchange() of a state (soc, d; f the surface share): what step()'s
        sub-steps call (the exchange law's one home: a test swaps it here)."""
        if d >= 0.0:
            return self.tau_chg
        sb = soc - f * d
        if d > -1e-9:
            return 1.0 / self.diffusivity(sb)
        c = self._gc
        if c is None:
            return d / (self._g(sb + d) - self._g(sb))
        # d / (_g(sb + d) - _g(sb)), _g inlined (the same operations)
        ts, tf, kn, gk, nL, em, g_kn = c
        sa = sb + d
        if sa <= 0.0:
            ga = sa / ts
        elif sa < kn:
            ga = gk * (math.exp(nL * (1.0 - sa / kn)) - em)
        else:
            ga = g_kn + (sa - kn) / tf
        if sb <= 0.0:
            gb = sb / ts
        elif sb < kn:
            gb = gk * (math.exp(nL * (1.0 - sb / kn)) - em)
        else:
            gb = g_kn + (sb - kn) / tf
        return d / (ga - gb)

    # --- dynamics ------------------------------------------------------------
    def step(self, dt_s, i_A):
        """Advance dt_s seconds with a constant current i_A (+ = charging).

        Exact exponential updates for the RC element and the exchange (for a frozen
        exchange time), sub-stepped so the exchange time is refreshed often: stable
        for any dt. The flux J = G(s_s) - G(s_b) makes the surface state move
        monotonically at constant current (docs/cellmodel.md), so a CC charge never
        shows a falling voltage.
        """
        if dt_s <= 0:
            # the current jumps, nothing else moves: only the ohmic part changes (the
            # same sum as _update_v, on the OCV it last computed)
            self.i_A = i_A
            self.v_V = self.ocv_V + i_A * (self.r0 + self.r_chg if i_A > 0.0 else
                                           self.r0) + self.v1
            return
        # The model is deterministic: the same step (dt, current) from the same state
        # (soc, d, v1, ageing; the parameters follow the ageing) ends in the same state.
        # host_tools/simulate.py tries a tick's step ahead from a copy of the state, puts
        # the copy back, then takes the step: that second step is the last one's result,
        # read back from _last (a list: the copy of the state holds the same list).
        key = (dt_s, i_A, self.soc, self.d, self.v1, self.age_cycles, self._aged_at,
               self.frozen)
        last = self._last
        if last[0] == key:
            (self.soc, self.d, self.v1, self.i_side_A, self.age_cycles, self.ocv_V,
             self.v_V, self._rc_k) = last[1]
            self._rc_dt = dt_s
            self._rc_tau = self.tau1
            self.i_A = i_A
            self.t_s += dt_s
            return
        f = self.f
        g = f * (1.0 - f)
        # RC element: exact for a constant current over dt (its factor kept for the
        # next step of the same length: most ticks are).
        if dt_s != self._rc_dt or self.tau1 != self._rc_tau:
            self._rc_dt = dt_s
            self._rc_tau = self.tau1
            self._rc_k = math.exp(-dt_s / self.tau1)
        ir1 = i_A * self.r1
        v1_0 = self.v1
        lag = i_A < 0.0 and self.lag_V > 0.0
        if lag:
            # the lithiation lag moves with the surface state: here at the start's (the
            # side reaction's electrode potential), at the step's end from both (below)
            s0 = self.soc + (1.0 - f) * self.d
            v1 = self._lag_rc(v1_0, i_A, s0, s0, dt_s)
        else:
            v1 = ir1 + (v1_0 - ir1) * self._rc_k
        self.v1 = v1
        # the side reaction takes its share of a charging current first (its charge
        # is not stored); driven by the electrode potential, OCV + charge transfer
        e_V = self.ocv_V + v1
        if e_V > 3.95 and self.side_A_4v1 > 0.0:   # below: < 5 % of its 4.1 V value
            x = (e_V - 4.1) / self.side_V_e
            i_side = self.side_A_4v1 * math.exp(x if x < 30.0 else 30.0)
        else:
            i_side = 0.0
        self.i_side_A = i_side
        rate = (i_A - i_side) / self._q_eff  # soc per second
        left = dt_s
        d = self.d
        soc = self.soc
        if self.tau_fast > 0.0:
            h = left
            tau_at = self.tau_at
            tau = tau_at(d, soc, f)
            exp = math.exp
            while left > 0.0:
                if h > left:
                    h = left
                # d' = rate / f - d / (f (1 - f) tau): relaxes to d_inf in g * tau.
                d_inf = rate * (1.0 - f) * tau
                d1 = d_inf + (d - d_inf) * exp(-h / (g * tau))
                s1 = soc + rate * h
                if h > 1.0:
                    # tau was frozen over h: accept if it moved less than 2 %
                    t1 = tau_at(d1, s1, f)
                    if abs(t1 - tau) > 0.02 * tau:
                        h *= 0.25
                        continue
                    tau = t1    # the exchange time of the new state: the next tau
                    d = d1
                    soc = s1
                    left -= h
                else:
                    d = d1
                    soc = s1
                    left -= h
                    if left > 0.0:
                        tau = tau_at(d, soc, f)
                h *= 2.0
            self.d = d
        else:  # no diffusion limit: surface = bulk
            soc += rate * dt_s
        if lag:
            v1 = self._lag_rc(v1_0, i_A, s0, soc + (1.0 - f) * self.d, dt_s)
            self.v1 = v1
        self.soc = soc
        self.i_A = i_A
        self.t_s += dt_s
        aged = False
        if not self.frozen and i_A != 0.0:
            self.age_cycles += abs(i_A) * dt_s / (2.0 * self.capacity_As)
            if self.age_cycles >= self._age_next:
                self._age_apply()
                f = self.f
                aged = True
        # _update_v, inlined
        o = ocv_V(soc + (1.0 - f) * d) + self.ocv_shift
        self.ocv_V = o
        v = o + i_A * (self.r0 + self.r_chg if i_A > 0.0 else self.r0) + v1
        self.v_V = v
        if aged:   # (the parameters moved: not a result of the key alone)
            last[0] = None
        else:
            last[0] = key
            last[1] = (soc, self.d, v1, i_side, self.age_cycles, o, v, self._rc_k)

    def _lag_rc(self, v1, i_A, sa, sb, h):
        # the RC element over h at a discharge current i_A whose surface state goes sa ->
        # sb: exact for its target, I R1 - lag_V asinh(|I| / I0) / (1 + (s_s / 0.6)^4),
        # moving linearly between its values at the two ends (asinh as a log)
        x = -i_A / self.lag_i0_A
        la = self.lag_V * math.log(x + math.sqrt(x * x + 1.0))
        w = sa / 0.6
        w *= w
        ta = i_A * self.r1 - la / (1.0 + w * w)
        w = sb / 0.6
        w *= w
        k = (i_A * self.r1 - la / (1.0 + w * w) - ta) / h * self.tau1
        return ta + k * h / self.tau1 - k + (v1 - ta + k) * math.exp(-h / self.tau1)

    def rest(self, dt_s):
        self.step(dt_s, 0.0)

    def _update_v(self):
        self.ocv_V = ocv_V(self.soc + (1.0 - self.f) * self.d) + self.ocv_shift
        self.v_V = self.ocv_V + self.i_A * self.r_ohm(self.i_A) + self.v1

    def r_ohm(self, i_A):
        """The series resistance (ohm) a current i_A sees now: R0, and on charge the
        charge-only resistance r_chg as well (it grows with the ageing state)."""
        return self.r0 + self.r_chg if i_A > 0.0 else self.r0

    def voltage_if(self, i_A):
        """Terminal voltage if the current jumped to i_A now (ohmic step only)."""
        return self.ocv_V + i_A * self.r_ohm(i_A) + self.v1

    @property
    def heat_W(self):
        """Heat the cell gives off now (W): Joule heat in R0 and the charge-transfer
        and diffusion overpotential heat, I x (V - OCV(mean soc)) (reversible heat, the
        entropic term, is not modelled: it is not known for NMC955 | Li6PS5Cl)."""
        return self.i_A * (self.v_V - ocv_V(self.soc) - self.ocv_shift)

    def dv_bound_V(self, dt_s, i_A):
        """The most the terminal voltage can move (V, >= 0) in dt_s seconds at a
        constant current i_A (the one already flowing: no ohmic step) from the present
        state. The surface reservoir moves at most as fast as the current and the
        present surface-bulk gap together drive it with the exchange standing still,
        ((|I| + side) / q + |d| / tau_min) / f; the OCV is monotone, so its values at
        the two ends bound its move; the RC element moves at most its whole distance to
        I R1 times (1 - exp(-dt / tau1)). host_tools/simulate.py bounds its tick with
        it so that no tick steps over an end voltage (the discharge knee)."""
        f = self.f
        q = self._q_eff
        a = (abs(i_A) + self.i_side_A) / q     # the current's own pull, soc per s
        b = 0.0                                # the exchange's, either way
        if self.tau_fast > 0.0:
            tmin = min(self.tau_fast, self.tau_chg, self.tau_slow)
            b = abs(self.d) / tmin / f
            a /= f
        ss = self.soc + (1.0 - f) * self.d
        o = ocv_V(ss)
        up = a + b if i_A > 0.0 else b        # the farthest the surface can go up ...
        dn = a + b if i_A <= 0.0 else b       # ... and down
        dv = ocv_V(ss + up * dt_s) - o if i_A > 0.0 else o - ocv_V(ss - dn * dt_s)
        if b > a:   # the exchange may outrun the current: the other way too
            dv = max(dv, ocv_V(ss + up * dt_s) - o, o - ocv_V(ss - dn * dt_s))
        if i_A < 0.0 and self.lag_V > 0.0:   # (the RC element's move at the lag)
            return dv + abs(self._lag_rc(self.v1, i_A, ss, ss, dt_s) - self.v1)
        return dv + abs(i_A * self.r1 - self.v1) * (1.0 - math.exp(-dt_s / self.tau1))

