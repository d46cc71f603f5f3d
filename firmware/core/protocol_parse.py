# protocol.parse's code: the compact form (docs/architecture.md) to a Protocol of Steps
# and Blocks, not yet validated. Split from protocol.py so that it is not resident: it is
# imported at a `load` (or a resuming boot) and dropped before the checks load
# (protocol.load's `forget`; the board's runtime hands in runtime.forget), so the load's
# peak holds this or protocol_check.py, never both. The code is protocol.py's before the
# split, unchanged but for where the examples come from. No clock, no pin.
from units import SMALL_INT_MAX
from protocol_defs import CC, CV, REST, CR, SWEEP, MAX_STEPS, Step, Protocol, Block

_NFIELDS = {"cell": 2, "window": 2, "limits": 4, "diag": 0, "cc": 3, "cv": 4,
            "rest": 1, "cr": 3, "sweep": 4, "repeat": 1, "end": 0}
# items that take one more, optional, field: cv's current limit (docs/protocol.md)
_NFIELDS_OPT = {"cv": 5}


def _err(lineno, text, what, kind=None):
    # the error's text and example: protocol_check.py's (loaded for an error only)
    from protocol_check import _err as err
    return err(lineno, text, what, kind)


def _example(kind):
    from protocol_check import _EXAMPLES
    return _EXAMPLES[kind]


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
                         "capacities, e.g. %r" % _example("cell"))
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
