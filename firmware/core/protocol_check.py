# protocol.validate's code: the checks that refuse a protocol this channel could not run
# safely, and their messages. Split from protocol.py so that it is not resident: it is
# imported at a `load` (or a resuming boot) once protocol_parse.py is dropped, and
# dropped after (protocol.load's `forget`: the board's runtime.forget; a parse error
# loads it for its message, and the runtime drops it after the line). The checks are
# protocol.py's before the split, unchanged. No clock, no pin.
from protocol_defs import (CC, CV, REST, CR, SWEEP, KIND_NAMES, MAX_REPEAT, MAX_R_OHM,
                           MAX_RATE_UV_S, MIN_TRIP_MARGIN_UV, ABS_TRIP_LO_UV,
                           ABS_TRIP_HI_UV, ABS_DIAG_TRIP_LO_UV, ABS_DIAG_TRIP_HI_UV,
                           V_TOL_UV, HOLD_NOISE_SIGMA)

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


def _err(lineno, text, what, kind=None):
    ex = _EXAMPLES.get(kind) if kind else None
    msg = "line %d %r: %s" % (lineno, text, what)
    if ex:
        msg += "; for example %r" % ex
    return ValueError(msg)


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
        _validate_step(p, s, i_floor_nA, hold_i_max_nA)
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


def _validate_step(p, s, i_floor_nA, hold_i_max_nA=0):
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
            if hold_i_max_nA and i_floor_nA > hold_i_max_nA:
                bad(s, "this board ends no hold on its current: the least end current "
                    "it ends one on within 5 %% of it (I_FLOOR_NA, %d nA) is above the "
                    "most it holds a voltage at (HOLD_I_MAX_NA, %d nA; docs/hardware.md)."
                    " End the hold on its time only, or use a board with a 12-bit DAC "
                    "and an ADS1115" % (i_floor_nA, hold_i_max_nA), "cv")
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
