# The protocol as the board runs it: steps and repeat blocks in integer units, parsed
# from the compact form (docs/architecture.md) and validated before anything runs.
# Parsing and validation run at load time (they allocate); the engine only reads the
# Step fields during a tick. This module never touches hardware.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

from units import SMALL_INT_MAX

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

_EXAMPLES = {
    "cell": "cell 83900 437",
    "window": "window 2600000 4100000",
    "limits": "limits 2500000 4150000 3300000 360000",
    "diag": "diag",
    "cc": "cc 8390 4100000 0",
    "cv": "cv 4100000 1824 36000 0",
    "rest": "rest 600",
    "cr": "cr 217000 3000000 0",
    "sweep": "sweep 2000000 4500000 100 5",
    "repeat": "repeat 5",
    "end": "end",
}
_NFIELDS = {"cell": 2, "window": 2, "limits": 4, "diag": 0, "cc": 3, "cv": 4,
            "rest": 1, "cr": 3, "sweep": 4, "repeat": 1, "end": 0}
# items that take one more, optional, field: cv's current limit (docs/protocol.md)
_NFIELDS_OPT = {"cv": 5}
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


def _err(lineno, text, what, kind=None):
    ex = _EXAMPLES.get(kind) if kind else None
    msg = "line %d %r: %s" % (lineno, text, what)
    if ex:
        msg += "; for example %r" % ex
    return ValueError(msg)


def _seconds_to_ms(lineno, text, s, kind):
    if s < 0 or s > SMALL_INT_MAX // 1000:
        raise _err(lineno, text, "a time must be 0 .. %d s" % (SMALL_INT_MAX // 1000), kind)
    return s * 1000


def parse(lines):
    """Compact form -> Protocol (not yet validated). Raises ValueError naming the line."""
    p = Protocol()
    block_start = -1
    block_repeat = 0
    seen_cell = False
    lineno = 0
    for raw in lines:
        lineno += 1
        text = raw.strip()
        if not text or text[0] == "#":
            continue
        parts = text.split()
        key = parts[0]
        if key not in _NFIELDS:
            raise _err(lineno, text, "unknown item %r; expected one of %s" % (
                key, ", ".join(sorted(_NFIELDS))))
        if len(parts) - 1 != _NFIELDS[key] and len(parts) - 1 != _NFIELDS_OPT.get(key, -1):
            raise _err(lineno, text, "%r takes %d integer field(s), got %d" % (
                key, _NFIELDS[key], len(parts) - 1), key)
        try:
            f = [int(x) for x in parts[1:]]
        except ValueError:
            raise _err(lineno, text, "fields must be integers (uV, nA, s, ohm)", key)
        for x in f:
            if x > SMALL_INT_MAX or x < -SMALL_INT_MAX:
                raise _err(lineno, text, "%d is outside +-2**30" % x, key)
        if key == "cell":
            p.capacity_nAh, p.mass_ug = f
            seen_cell = True
        elif key == "window":
            p.v_min_uV, p.v_max_uV = f
        elif key == "limits":
            p.trip_lo_uV, p.trip_hi_uV, p.i_max_nA = f[0], f[1], f[2]
            p.step_max_ms = _seconds_to_ms(lineno, text, f[3], key)
        elif key == "diag":
            p.diag = True
        elif key == "repeat":
            if block_start >= 0:
                raise _err(lineno, text, "repeat blocks do not nest; close the open one "
                           "with 'end' first", key)
            block_start = len(p.steps)
            block_repeat = f[0]
            block_line = lineno
        elif key == "end":
            if block_start < 0:
                raise _err(lineno, text, "'end' without an open 'repeat'", "repeat")
            p.blocks.append(Block(block_start, len(p.steps), block_repeat, block_line))
            block_start = -1
        else:
            if len(p.steps) >= MAX_STEPS:
                raise _err(lineno, text, "too many steps (at most %d)" % MAX_STEPS)
            s = Step(CC, lineno, text)
            if key == "cc":
                s.kind = CC
                s.i_nA, s.until_uV = f[0], f[1]
                s.t_max_ms = _seconds_to_ms(lineno, text, f[2], key)
                s.sign = 1 if s.i_nA > 0 else -1
            elif key == "cv":
                s.kind = CV
                s.v_uV, s.i_end_nA = f[0], f[1]
                s.t_max_ms = _seconds_to_ms(lineno, text, f[2], key)
                s.t_min_ms = _seconds_to_ms(lineno, text, f[3], key)
                if len(f) > 4:
                    s.i_lim_nA = f[4]
            elif key == "rest":
                s.kind = REST
                s.t_max_ms = _seconds_to_ms(lineno, text, f[0], key)
            elif key == "cr":
                s.kind = CR
                s.r_ohm, s.until_uV = f[0], f[1]
                s.t_max_ms = _seconds_to_ms(lineno, text, f[2], key)
                s.sign = -1
            elif key == "sweep":
                s.kind = SWEEP
                s.v_uV, s.until_uV, s.rate_uV_s, s.n = f
            if block_start < 0:
                # a step outside any repeat block is a block of its own, run once
                p.blocks.append(Block(len(p.steps), len(p.steps) + 1, 1, lineno))
            p.steps.append(s)
    if block_start >= 0:
        raise _err(block_line, "repeat %d" % block_repeat,
                   "this repeat block is never closed; add a line 'end'", "end")
    if not seen_cell:
        raise ValueError("the protocol has no 'cell' line; it is needed to report "
                         "capacities, e.g. %r" % _EXAMPLES["cell"])
    _infer_signs(p)
    return p


def _infer_signs(p):
    # A CV hold counts as charge or discharge by the CC step before it (the paper's
    # holds follow their CC step); with none, by which half of the window it is in.
    mid = (p.v_min_uV + p.v_max_uV) // 2
    prev = None
    for s in p.steps:
        if s.kind == CV:
            if prev is not None and prev.kind == CC:
                s.sign = prev.sign
                if prev.until_uV == s.v_uV:
                    prev.handover = True
                # a hold draws no more than the CC step before it (as commercial
                # cyclers do) unless its line gives a limit
                s.i_cap_nA = prev.i_nA if prev.i_nA > 0 else -prev.i_nA
            else:
                s.sign = 1 if s.v_uV >= mid else -1
            if s.i_lim_nA > 0:
                s.i_cap_nA = s.i_lim_nA
        prev = s


def validate(p, channel_i_max_nA, i_floor_nA, v_max_uV=0, v_err_uV=0, hold_i_max_nA=0):
    """Refuse a protocol that could not run safely on this channel.

    channel_i_max_nA: the most the front-end can source or sink (its largest range's
    full scale). i_floor_nA: the smallest termination current the board ends a hold on
    within 5 % of it (its I_FLOOR_NA).
    v_max_uV: the most the front-end measures (0: not given); a trip must lie below.
    v_err_uV: how far a hold may keep the true voltage from its setpoint on this board
    (its V_ERR_UV, INL and drift, + HOLD_NOISE_SIGMA x V_NOISE_UV); 0: not checked.
    hold_i_max_nA: the largest current a hold may draw on this board (its
    HOLD_I_MAX_NA: above it one DAC code moves a coin cell's voltage by more than the
    hold can keep); 0: not checked.
    """
    _validate_cell(p)
    _validate_limits(p, channel_i_max_nA, v_max_uV)
    _validate_blocks(p)
    for s in p.steps:
        _validate_step(p, s, i_floor_nA)
        if not p.diag:
            _validate_board(p, s, v_err_uV, hold_i_max_nA)
    return p


def _validate_cell(p):
    if p.capacity_nAh <= 0:
        raise ValueError("cell capacity must be > 0 nAh, e.g. %r (FACTS: fig4 is "
                         "0.0839 mAh = 83900 nAh)" % _EXAMPLES["cell"])
    if p.mass_ug < 0:
        raise ValueError("active mass must be >= 0 ug (0: unknown)")
    if not 0 < p.v_min_uV < p.v_max_uV:
        raise ValueError("window %d..%d uV is empty; e.g. %r (FACTS: cycling window)" % (
            p.v_min_uV, p.v_max_uV, _EXAMPLES["window"]))
    if p.trip_lo_uV > p.v_min_uV - MIN_TRIP_MARGIN_UV or \
            p.trip_hi_uV < p.v_max_uV + MIN_TRIP_MARGIN_UV:
        raise ValueError("hard trips %d/%d uV must lie outside the window %d..%d uV by "
                         "at least %d uV; e.g. %r" % (
                             p.trip_lo_uV, p.trip_hi_uV, p.v_min_uV, p.v_max_uV,
                             MIN_TRIP_MARGIN_UV, _EXAMPLES["limits"]))
    if p.trip_lo_uV < 0:
        raise ValueError("the low trip must be >= 0 uV")


def _validate_limits(p, channel_i_max_nA, v_max_uV):
    if p.diag:
        lo, hi, what = ABS_DIAG_TRIP_LO_UV, ABS_DIAG_TRIP_HI_UV, "a diag protocol's"
    else:
        lo, hi, what = ABS_TRIP_LO_UV, ABS_TRIP_HI_UV, "the cycling"
    if v_max_uV and v_max_uV < hi:
        hi = v_max_uV
    if p.trip_lo_uV < lo or p.trip_hi_uV > hi:
        raise ValueError("hard trips %d/%d uV lie beyond %s absolute limits %d..%d uV "
                         "(FACTS: the cycling window; damage beyond it is irreversible); "
                         "e.g. %r" % (p.trip_lo_uV, p.trip_hi_uV, what, lo, hi,
                                      _EXAMPLES["limits"]))
    if p.i_max_nA <= 0:
        p.i_max_nA = channel_i_max_nA
    if p.i_max_nA > channel_i_max_nA:
        raise ValueError("limit i_max %d nA exceeds what this channel can source or sink "
                         "(%d nA)" % (p.i_max_nA, channel_i_max_nA))
    if p.step_max_ms <= 0:
        raise ValueError("the hard step time limit must be > 0 s; e.g. %r" % _EXAMPLES["limits"])
    if not p.steps:
        raise ValueError("the protocol has no steps; add e.g. %r" % _EXAMPLES["cc"])


def _validate_blocks(p):
    for b in p.blocks:
        if b.end <= b.first:
            raise _err(b.line, "repeat %d" % b.repeat, "this repeat block holds no step", "repeat")
        if not 1 <= b.repeat <= MAX_REPEAT:
            raise _err(b.line, "repeat %d" % b.repeat, "repeat count must be 1 .. %d" % MAX_REPEAT,
                       "repeat")
        if all(p.steps[k].kind == REST for k in range(b.first, b.end)) and b.repeat > 1:
            raise _err(b.line, "repeat %d" % b.repeat, "a repeated block of rests only would "
                       "loop without cycling the cell", "repeat")


def _validate_step(p, s, i_floor_nA):
    def bad(s, what, kind):
        raise _err(s.line, s.text, what, kind)

    lo, hi = p.v_min_uV, p.v_max_uV
    window = "the window %d..%d uV" % (lo, hi)
    if s.kind == CC:
        if s.i_nA == 0:
            bad(s, "a constant-current step needs a current != 0 nA (use 'rest')", "cc")
        if abs(s.i_nA) > p.i_max_nA:
            bad(s, "the current |%d| nA is above i_max = %d nA" % (s.i_nA, p.i_max_nA),
                "cc")
        if not (lo <= s.until_uV <= hi or p.diag):
            bad(s, "end voltage %d uV is outside %s" % (s.until_uV, window), "cc")
    elif s.kind == CV:
        if not (lo <= s.v_uV <= hi or p.diag):
            bad(s, "hold voltage %d uV is outside %s" % (s.v_uV, window), "cv")
        # (a hold that ends on its time only, t_min >= t_max, never ends on its current)
        if s.i_end_nA < i_floor_nA and not (s.t_max_ms and s.t_min_ms >= s.t_max_ms):
            bad(s, "the end current %d nA is below the %d nA this board ends a hold on "
                "within 5 %% of it (I_FLOOR_NA: one code of its DAC, its current "
                "reading's error and the noise its voltage reading puts into the hold's "
                "current, docs/hardware.md). Raise the end current, or use a board with "
                "a 12-bit DAC and an ADS1115" % (s.i_end_nA, i_floor_nA), "cv")
        if s.i_end_nA > p.i_max_nA:
            bad(s, "the end current %d nA is above i_max = %d nA" % (
                s.i_end_nA, p.i_max_nA), "cv")
        if s.i_lim_nA < 0 or s.i_lim_nA > p.i_max_nA:
            bad(s, "current limit %d nA must be 0 (the CC step's current) .. %d nA "
                "(the protocol's limit)" % (s.i_lim_nA, p.i_max_nA), "cv")
        if s.i_lim_nA and s.i_lim_nA < s.i_end_nA:
            bad(s, "current limit %d nA is below the termination current %d nA" % (
                s.i_lim_nA, s.i_end_nA), "cv")
        if s.t_max_ms and s.t_min_ms > s.t_max_ms:
            bad(s, "minimum hold %d s is longer than the time limit %d s" % (
                s.t_min_ms // 1000, s.t_max_ms // 1000), "cv")
    elif s.kind == REST:
        if s.t_max_ms <= 0:
            bad(s, "a rest needs a duration > 0 s", "rest")
    elif s.kind == CR:
        if not 0 < s.r_ohm <= MAX_R_OHM:
            bad(s, "load must be 1 .. %d ohm" % MAX_R_OHM, "cr")
        if not (lo <= s.until_uV <= hi or p.diag):
            bad(s, "end voltage %d uV is outside %s" % (s.until_uV, window), "cr")
        if p.v_max_uV // s.r_ohm * 1000 > p.i_max_nA:
            bad(s, "at %d uV the load draws %d nA, above i_max = %d nA" % (
                p.v_max_uV, p.v_max_uV // s.r_ohm * 1000, p.i_max_nA), "cr")
    elif s.kind == SWEEP:
        if not p.diag:
            bad(s, "a sweep leaves the cycling window; it runs only in a protocol "
                "marked 'diag' (FACTS: cyclic voltammetry runs outside 2.6-4.1 V)",
                "sweep")
        if s.rate_uV_s <= 0 or s.rate_uV_s > MAX_RATE_UV_S:
            bad(s, "scan rate must be 1 .. %d uV/s (FACTS: the paper sweeps at 0.1 "
                "to 50 mV/s)" % MAX_RATE_UV_S, "sweep")
        if s.n < 1 or s.n > 1000:
            bad(s, "sweep count must be 1 .. 1000", "sweep")
        if s.v_uV == s.until_uV:
            bad(s, "a sweep needs two different voltages", "sweep")
    if s.t_max_ms > p.step_max_ms:
        bad(s, "the step lasts %d s, longer than step_max = %d s (the hard step time)"
            % (s.t_max_ms // 1000, p.step_max_ms // 1000), KIND_NAMES[s.kind])
    if s.kind == CV:
        v_ends = (s.v_uV,)
    elif s.kind == SWEEP:
        v_ends = (s.v_uV, s.until_uV)
    elif s.kind == REST:
        v_ends = ()
    else:
        v_ends = (s.until_uV,)
    for v in v_ends:
        if not p.trip_lo_uV < v < p.trip_hi_uV:
            bad(s, "%d uV lies beyond the hard trips %d..%d uV: the step would trip "
                "the safety" % (v, p.trip_lo_uV, p.trip_hi_uV), KIND_NAMES[s.kind])


def _ends(s):
    if s.kind == CV:
        return (s.v_uV,)
    if s.kind == SWEEP:
        return (s.v_uV, s.until_uV)
    if s.kind == REST:
        return ()
    return (s.until_uV,)


def _validate_board(p, s, v_err_uV, hold_i_max_nA):
    # what this board's front-end cannot hold (its board file's V_ERR_UV, HOLD_I_MAX_NA)
    def bad(what, kind):
        raise _err(s.line, s.text, what, kind)

    lo, hi = p.v_min_uV, p.v_max_uV
    if s.kind == CV:
        cap = s.i_cap_nA if s.i_cap_nA else p.i_max_nA
        if hold_i_max_nA and cap > hold_i_max_nA:
            bad("this hold may draw up to %d nA (%s), more than this board holds "
                "a voltage at (%d nA, HOLD_I_MAX_NA: above it one code of its DAC "
                "steps the current by more than 2.6 uA, i.e. > 2 mV on a 1 kOhm "
                "cell). Charge and discharge slower, give the hold a limit (the "
                "5th field, [limits] cv_i_max), or use a board with a 12-bit DAC "
                "(docs/hardware.md)" % (cap, "the CC step's current" if not
                                        s.i_lim_nA else "its limit", hold_i_max_nA),
                "cv")
    m = v_err_uV - V_TOL_UV
    if m > 0 and s.kind in (CC, CV, CR):
        for v in _ends(s):
            if v + m > hi or v - m < lo:
                bad("%d uV is within %d uV of the window %d..%d uV, and this board "
                    "holds the cell voltage only to +-%d uV (V_ERR_UV + %d V_NOISE_UV: "
                    "its ADC's INL, drift and noise): the true voltage could pass the "
                    "window by more than %d uV. Keep end and hold voltages inside "
                    "%d..%d uV on this board, or use one with an ADS1115 "
                    "(docs/hardware.md)" % (v, m, lo, hi, v_err_uV, HOLD_NOISE_SIGMA,
                                            V_TOL_UV, lo + m, hi - m), KIND_NAMES[s.kind])


def load(lines, channel_i_max_nA, i_floor_nA, v_max_uV=0, v_err_uV=0, hold_i_max_nA=0):
    return validate(parse(lines), channel_i_max_nA, i_floor_nA, v_max_uV, v_err_uV,
                    hold_i_max_nA)
