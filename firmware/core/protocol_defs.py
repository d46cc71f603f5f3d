# The protocol as the board runs it: steps and repeat blocks in integer units (the Step,
# Protocol and Block classes), the step kinds and the limits. This is the resident part
# (the engine reads the Step fields during a tick); protocol.py parses the compact form
# and validates it at a load (protocol_parse.py, protocol_check.py). No hardware.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# Step kinds
CC = const(1)      # constant current until a voltage
CV = const(2)      # constant-voltage hold until |I| <= i_end
REST = const(3)    # open circuit for a duration
CR = const(4)      # constant-resistance discharge (FACTS: calorimetry, 217 kOhm, 253 kOhm)
SWEEP = const(5)   # linear voltage sweep (FACTS: cyclic voltammetry), diagnostic only
KIND_NAMES = ("?", "cc", "cv", "rest", "cr", "sweep")

MAX_STEPS = const(256)
MAX_REPEAT = const(100000)
# Largest resistance whose current (v_uV % r) * 1000 stays a small int (see engine).
MAX_R_OHM = const(1000000)
# Largest scan rate: rate * dt_ms (dt <= 10 s) stays a small int in the engine.
MAX_RATE_UV_S = const(100000)
# Safety: hard trips sit outside the window by at least this much (FACTS: the cut-offs
# are hard limits; trips at e.g. 2.5 V and 4.15 V sit outside 2.6 .. 4.1 V).
MIN_TRIP_MARGIN_UV = const(10000)

# Absolute limits: no protocol may put its hard trips beyond these, whoever sends the
# `load` (the board checks every load; the host tools run this same validator).
# FACTS: the cycling window: beyond 2.6-4.1 V the damage is irreversible; a trip may
# sit at most 0.1 V outside the window (the default trips sit 0.1 / 0.05 V outside).
ABS_TRIP_LO_UV = const(2500000)
ABS_TRIP_HI_UV = const(4200000)
# A protocol marked 'diag' (FACTS: other electrical tests: cyclic voltammetry 2.0 to
# 4.5 V) may widen them to 0.1 V around the paper's sweep, no further.
ABS_DIAG_TRIP_LO_UV = const(1900000)
ABS_DIAG_TRIP_HI_UV = const(4600000)

# Defaults for the paper's cell (FACTS: cycling window; trips just outside it).
DEFAULT_V_MIN_UV = const(2600000)
DEFAULT_V_MAX_UV = const(4100000)
DEFAULT_TRIP_LO_UV = const(2500000)
DEFAULT_TRIP_HI_UV = const(4150000)

# The reliability bound: the true cell voltage may pass the window's edge by at most this
# (docs/reliability.md). A board that reads the voltage to +-v_err_uV (its V_ERR_UV)
# refuses holds and end voltages closer to the window's edge than v_err_uV - V_TOL_UV.
V_TOL_UV = const(5000)
# A hold on a board whose one-tick reading has noise sigma (its V_NOISE_UV) keeps the true
# voltage within HOLD_NOISE_SIGMA sigma of its reading's truth: 3 sigma of a reading,
# and the run-on its loop misses while its filter catches up (1/8 per tick on a board
# noisier than regulator.NOISY_UV; measured up to 9 sigma on pico-internal, 8 on
# esp32-internal, docs/reliability.md). The reading's own error (V_ERR_UV) comes on top.
HOLD_NOISE_SIGMA = const(10)


class Step:
    """One step, integer fields only. `sign` is +1 for a charging step, -1 for a
    discharging one, 0 otherwise; `line` is the compact-form line it came from."""

    def __init__(self, kind, line, text):
        self.kind = kind
        self.line = line
        self.text = text
        self.sign = 0
        self.i_nA = 0         # CC current (signed)
        self.v_uV = 0         # CV setpoint; SWEEP start
        self.until_uV = 0     # CC/CR end voltage; SWEEP end
        self.i_end_nA = 0     # CV termination current
        self.t_max_ms = 0     # 0: only the hard step_max applies
        self.t_min_ms = 0     # CV minimum hold
        self.r_ohm = 0        # CR load
        self.rate_uV_s = 0    # SWEEP scan rate
        self.n = 0            # SWEEP count
        self.handover = False  # CC ends into a CV hold at the same voltage
        self.i_lim_nA = 0     # CV: the protocol's current limit (0: the default)
        self.i_cap_nA = 0     # CV: the limit in force (0: the channel's i_max)


class Protocol:
    def __init__(self):
        self.capacity_nAh = 0
        self.mass_ug = 0
        self.v_min_uV = DEFAULT_V_MIN_UV
        self.v_max_uV = DEFAULT_V_MAX_UV
        self.trip_lo_uV = DEFAULT_TRIP_LO_UV
        self.trip_hi_uV = DEFAULT_TRIP_HI_UV
        self.i_max_nA = 0
        self.step_max_ms = 0
        self.diag = False
        self.steps = []
        self.blocks = []   # Block, in order


class Block:
    """A repeat block: steps[first:end] run `repeat` times; `line` is the protocol line
    that opened it (for errors)."""

    def __init__(self, first, end, repeat, line):
        self.first = first
        self.end = end
        self.repeat = repeat
        self.line = line
