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

# Open-circuit voltage against state of charge: (soc, V) points, linear in between,
# extended beyond both ends with the end segments' slopes. Each point from FACTS
# ("The cycling window and why"):
OCV_TABLE = (
    (-0.100, 2.000),  # below the window, sweeps only: the Mn4+ -> Mn3+ "second
                      # shoulder" gives extra capacity below 2.24 V (x = 1.07)
    (-0.030, 2.240),  # top of the Mn shoulder, 2.24 V
    (-0.020, 2.600),  # lower cut-off 2.60 V: the DOS gap between 2.24 V and 2.63 V
                      # holds almost no capacity, the curve is nearly vertical there
    (0.000, 2.710),   # pristine cathode (Li1.0) 2.71 V (SKPM)
    (0.070, 3.000),   # Co4+ -> Co3+ between 2.63 V and 3.00 V: Co is 5 % of the
                      # transition metals, x 1.0 -> 0.95, soc 0 -> 0.07
    (0.100, 3.120),   # first shoulder 3.12 V: Ni4+ -> Ni3+ starts above 3.00 V
    (0.250, 3.300),   # the reduction peak of the cyclic voltammetry at 3.3 V: a
                      # flat stretch holds much charge
    (0.400, 3.360),   # inflection 3.36 V, flattest point, solid solution above it
    (0.550, 3.480),   # the solid solution LixNMC955, 0.29 <= x <= 1, rises steadily,
    (0.700, 3.700),   # through the 3.7 V a rested cycled cell showed,
    (0.850, 3.860),
    (0.950, 3.970),
    (1.0143, 4.050),  # 4.05 V at Li0.29: x = 0.29, soc = 0.71 / 0.7
    (1.022, 4.100),   # DOS falls above 4.04 V: the curve turns steep; 4.1 V cut-off at
                      # x = 0.285, i.e. 0.715 / 0.7 x 192 = 196 mAh/g (the DFT's 196)
    (1.060, 4.500),   # beyond the window, sweeps to 4.5 V only (holes, O2 release)
)
_OCV_S = [p[0] for p in OCV_TABLE]
_OCV_V = [p[1] for p in OCV_TABLE]
_OCV_N = len(OCV_TABLE)


def ocv_V(soc):
    """Open-circuit voltage (V) at a state of charge (linear between table points)."""
    s = _OCV_S
    if soc <= s[1]:
        k = 0
    elif soc >= s[_OCV_N - 2]:
        k = _OCV_N - 2
    else:
        lo = 1
        hi = _OCV_N - 2  # s[lo] <= soc < s[hi]
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if soc < s[mid]:
                hi = mid
            else:
                lo = mid
        k = lo
    v = _OCV_V
    return v[k] + (v[k + 1] - v[k]) * (soc - s[k]) / (s[k + 1] - s[k])


def soc_at_ocv(v_V):
    """The inverse of ocv_V (the table is strictly increasing)."""
    v = _OCV_V
    if v_V <= v[1]:
        k = 0
    elif v_V >= v[_OCV_N - 2]:
        k = _OCV_N - 2
    else:
        k = 1
        while v[k + 1] < v_V:
            k += 1
    s = _OCV_S
    return s[k] + (s[k + 1] - s[k]) * (v_V - v[k]) / (v[k + 1] - v[k])


# Parameters of the fig4 cell (FACTS: fig4, 0.167 mAh/cm2). How each was fitted to the
# paper's shapes is in docs/cellmodel.md.
_FIG4 = {
    "areal_mAh_cm2": 0.167,
    "r0_ohm": 300.0,        # ohmic (R1 of the PEIS): separator + contacts
    "r1_ohm": 600.0,        # charge transfer (R2||C of the PEIS)
    "tau1_s": 20.0,         # its time constant R1 * C1
    "surface_frac": 0.05,   # share of the capacity in the surface reservoir
    "tau_fast_s": 1800.0,   # surface <-> bulk exchange time where the NMC is delithiated
    "tau_slow_s": 5600.0,   # ... and where the bulk is fully lithiated (x -> 1)
    "soc_knee": 0.25,       # below this bulk soc the exchange slows, log-linearly
    "soc0": 0.0,            # initial state: discharged (pristine, 2.71 V is reached at rest)
    "ocv_shift_V": 0.0,     # the OCV curve moved up or down (cycler fit on a measured cell)
}
_THICK_REF = 0.167


def _params_for(areal):
    """A cell of the study by its areal capacity: the fig4 cell, made thicker.

    A thicker composite cathode adds ionic path in series (resistance grows with the
    loading, the separator part does not) and slows the reach of the inner particles
    (exchange times grow with the square root of the loading ratio, a mild choice:
    FACTS "the thick cells (~2 mAh/cm2) peak at C/10" so C/10 must still work).
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
    """State: surface soc, bulk soc, RC overpotential. Read v_V, ocv_V, soc, i_A."""

    def __init__(self, params):
        p = dict(_FIG4)
        p.update(params)
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
        self.r0 = float(p["r0_ohm"])
        self.r1 = float(p["r1_ohm"])
        self.tau1 = float(p["tau1_s"])
        f = float(p["surface_frac"])
        if not 0.0 < f < 1.0:
            raise ValueError("surface_frac must be between 0 and 1 (e.g. 0.1)")
        self.f = f
        self.tau_fast = float(p["tau_fast_s"])
        self.tau_slow = float(p["tau_slow_s"])
        self.soc_knee = float(p["soc_knee"])
        self.ocv_shift = float(p.get("ocv_shift_V", 0.0))
        # tau_fast_s 0 switches the diffusion limit off (surface = bulk).
        self._ln_ratio = (math.log(self.tau_slow / self.tau_fast)
                          if self.tau_fast > 0.0 else 0.0)
        self.i_A = 0.0
        self.t_s = 0.0
        self.set_soc(float(p["soc0"]))

    # --- state -------------------------------------------------------------
    def set_soc(self, soc):
        """Put the cell at rest, in equilibrium, at a state of charge."""
        self.soc = soc          # mean state of charge (what coulomb counting sees)
        self.d = 0.0            # surface soc - bulk soc
        self.v1 = 0.0
        self.i_A = 0.0
        self._update_v()

    def state(self):
        return (self.soc, self.d, self.v1, self.i_A, self.t_s)

    def set_state(self, st):
        self.soc, self.d, self.v1, self.i_A, self.t_s = st
        self._update_v()

    @property
    def soc_surface(self):
        return self.soc + (1.0 - self.f) * self.d

    @property
    def soc_bulk(self):
        return self.soc - self.f * self.d

    def tau_exchange(self):
        """Surface <-> bulk exchange time (s) at the present state.

        Set by the bulk's state: lithium moves slowly through nearly full LixNMC
        (x -> 1), so a charge that starts from the discharged state is slow to draw
        on the bulk, while a discharge is not slowed until the bulk is nearly full.
        """
        s = self.soc - self.f * self.d
        if s >= self.soc_knee:
            return self.tau_fast
        if s <= 0.0:
            return self.tau_slow
        return self.tau_fast * math.exp(self._ln_ratio * (1.0 - s / self.soc_knee))

    # --- dynamics ------------------------------------------------------------
    def step(self, dt_s, i_A):
        """Advance dt_s seconds with a constant current i_A (+ = charging).

        Exact exponential updates for the RC element and the exchange (for a frozen
        exchange time), sub-stepped so the exchange time is refreshed at least every
        few seconds and every few % of its own value: stable for any dt.
        """
        if dt_s <= 0:
            self.i_A = i_A
            self._update_v()
            return
        q = self.capacity_As
        f = self.f
        g = f * (1.0 - f)
        # RC element: exact for a constant current over dt.
        ir1 = i_A * self.r1
        self.v1 = ir1 + (self.v1 - ir1) * math.exp(-dt_s / self.tau1)
        rate = i_A / q  # soc per second
        left = dt_s
        while left > 0.0:
            if self.tau_fast > 0.0:
                tau = self.tau_exchange()
                h = 0.02 * g * tau
                if h < 1.0:
                    h = 1.0
                if h > left:
                    h = left
                # d' = rate / f - d / (f (1 - f) tau): relaxes to d_inf in g * tau.
                d_inf = rate * (1.0 - f) * tau
                self.d = d_inf + (self.d - d_inf) * math.exp(-h / (g * tau))
            else:  # no diffusion limit (the reduced model PyBaMM can express)
                h = left
            self.soc += rate * h
            left -= h
        self.i_A = i_A
        self.t_s += dt_s
        self._update_v()

    def rest(self, dt_s):
        self.step(dt_s, 0.0)

    def _update_v(self):
        self.ocv_V = ocv_V(self.soc + (1.0 - self.f) * self.d) + self.ocv_shift
        self.v_V = self.ocv_V + self.i_A * self.r0 + self.v1

    def voltage_if(self, i_A):
        """Terminal voltage if the current jumped to i_A now (ohmic step only)."""
        return self.ocv_V + i_A * self.r0 + self.v1
