"""Protocol files: TOML with steps in PyBaMM's experiment grammar -> the board's compact form.

Host side only (CPython, tomllib). It refuses anything a person can get wrong in a file,
naming the file, the line, what was expected and a worked example (STYLE.md 12). It never
talks to a board; the firmware validates the compact form again on its own.

    cycler validate protocols/quick.toml       # prints the compact form, or the error (exit 2)

The grammar is in docs/protocol-files.md; the compact form in docs/architecture.md.
"""
import difflib
import math
import os
import re
import sys
from fractions import Fraction
from typing import NoReturn

import host_tools  # noqa: F401  (puts firmware/ on sys.path)
import protocol as fw_protocol  # the board's own parser: its bounds are ours
import units

# ---- defaults (cited by their names in docs/paper.md) -------------------
# FACTS: cycling window, "Galvanostatic cycling between 2.6 V and 4.1 V".
DEFAULT_V_MIN_UV = 2_600_000
DEFAULT_V_MAX_UV = 4_100_000
# Hard trips just outside the window: above ~4.1 V holes dominate and below 2.6 V Ni2+
# and Mn3+ form, both irreversible (FACTS: "the cut-offs are hard safety limits"). The
# trip sits a little beyond the window so regulation overshoot does not trip it.
DEFAULT_V_TRIP_LO_UV = 2_500_000
DEFAULT_V_TRIP_HI_UV = 4_150_000
# The boards' own bounds, from their board files (one source): a file the host accepts
# loads on every board. FACTS: the paper's tester has 5 V / 20 mA channels.
def _board_ints(name):
    """A board file's integer constants (NAME = const(N), NAME = N, NAME = OTHER),
    read without running the file (it may need `machine`)."""
    import ast
    with open(os.path.join(host_tools.BOARDS_DIR, name + ".py")) as f:
        tree = ast.parse(f.read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            v = node.value
            if isinstance(v, ast.Call) and getattr(v.func, "id", "") == "const" and v.args:
                v = v.args[0]
            if isinstance(v, ast.Constant) and type(v.value) is int:
                out[node.targets[0].id] = v.value
            elif isinstance(v, ast.Name) and v.id in out:
                out[node.targets[0].id] = out[v.id]
    return out


_BOARDS = [_board_ints(n) for n in ("pico", "esp32", "sim")]
CHANNEL_I_MAX_NA = min(b["I_MAX_NA"] for b in _BOARDS)
BOARD_V_MAX_UV = min(b["V_CELL_MAX_UV"] for b in _BOARDS)
# Default current limit: 5C of the cell (the fastest paper step is 3C, FACTS: fig4),
# never above the channel.
DEFAULT_I_MAX_C = 5
DEFAULT_STEP_MAX_S = 200 * 3600  # a C/50 half cycle is 50 h; 200 h leaves room for holds
STEP_MAX_LIMIT_S = (1 << 30) // 1000  # step times are ms below 2**30: 12.4 days
# A CV hold's end current below every board's floor (the board files' I_FLOOR_NA) is
# lost in the noise of the lowest range; FACTS: C/76 of fig4 is 1.10 uA, so the paper's
# smallest end current still passes. A board with a higher floor (its build's, e.g. the
# recommended build 740 nA, the RP2040's own ADC 30.14 uA: docs/hardware.md) refuses the
# rest at `load` with its own validator; `cycler validate --i-floor-nA` checks one.
I_FLOOR_NA = min(b["I_FLOOR_NA"] for b in _BOARDS)
MAX_REPEAT = fw_protocol.MAX_REPEAT   # one source: the board's own bound
MAX_SWEEPS = 1_000
# Checked before the TOML parser sees the text (issue 10): the shipped files are under
# 4 kB and nest 2 deep ([[block]] steps = [...]); a protocol has at most MAX_STEPS steps.
MAX_FILE_BYTES = 256 * 1024
MAX_NESTING = 8

_TOP_KEYS = ("name", "description", "diagnostic", "cell", "limits", "block")
_CELL_KEYS = ("name", "capacity_mAh", "active_mass_mg", "specific_capacity_mAh_g")
_LIMIT_KEYS = ("v_min", "v_max", "v_trip_lo", "v_trip_hi", "i_max", "step_max", "cv_min_time",
               "cv_i_max")
_BLOCK_KEYS = ("label", "repeat", "steps")

_EXAMPLE_BLOCK = ('[[block]]\nrepeat = 5\nlabel = "C/10"\nsteps = ["Charge at C/10 until 4.1 V", '
                  '"Hold at 4.1 V until C/46",\n         "Discharge at C/10 until 2.6 V", '
                  '"Hold at 2.6 V until C/24", "Rest for 10 minutes"]')
_EXAMPLE_FILE = ('name = "quick"\n[cell]\nname = "fig4"\ncapacity_mAh = 0.0839\n\n'
                 + _EXAMPLE_BLOCK)
_STEP_EXAMPLES = ('"Charge at C/10 until 4.1 V", "Hold at 4.1 V until C/46", '
                  '"Discharge at 0.5 mA for 2 hours or until 2.6 V", "Rest for 10 minutes", '
                  '"Discharge at 217 kOhm until 3.0 V"')


class ProtocolError(ValueError):
    """A protocol file was refused. Carries where, what, what was expected, an example."""

    def __init__(self, path, line, text, problem, expected, example):
        self.path = path
        self.line = line
        self.text = text
        self.problem = problem
        self.expected = expected
        self.example = example
        where = "%s:%s" % (path, line) if line else str(path)
        if "\n" in example:  # a TOML snippet: show it as a block
            example = "\n      " + example.replace("\n", "\n      ")
        msg = "%s: %s: %s\n  expected: %s\n  for example: %s" % (
            where, problem, text, expected, example)
        super().__init__(msg)


class _Bad(Exception):
    """A refusal before its place in the file is known (the caller adds file and line)."""

    def __init__(self, problem, expected, example):
        super().__init__(problem)
        self.problem = problem
        self.expected = expected
        self.example = example


# ---- numbers and units ------------------------------------------------------------
_NUM = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NUM_UNIT = re.compile(r"^(?P<num>%s)\s*(?P<unit>[A-Za-z/]+)$" % _NUM)
_C_OVER = re.compile(r"^C/(?P<den>%s)$" % _NUM)

# unit -> (kind, multiplier to the compact unit, is it our extension beyond PyBaMM)
_ELECTRIC = {
    "A": ("current", 10**9, False),
    "mA": ("current", 10**6, False),
    "uA": ("current", 10**3, True),
    "nA": ("current", 1, True),
    "V": ("voltage", 10**6, False),
    "mV": ("voltage", 10**3, False),
    "Ohm": ("resistance", 1, False),
    "mOhm": ("resistance", Fraction(1, 1000), False),
    "kOhm": ("resistance", 1000, True),
    "W": ("power", None, False),
    "mW": ("power", None, False),
}
# PyBaMM's time units (pybamm.experiment.step.base_step._convert_time_to_seconds).
_TIME = {}
for _u in ("second", "seconds", "s", "sec"):
    _TIME[_u] = 1
for _u in ("minute", "minutes", "m", "min"):
    _TIME[_u] = 60
for _u in ("hour", "hours", "h", "hr"):
    _TIME[_u] = 3600
_SWEEP_RATE = {"uV/s": 1, "mV/s": 1000, "V/s": 1_000_000}


def _round(x):
    """Round half up, exactly (x is a Fraction or an int)."""
    return math.floor(x + Fraction(1, 2))


def _fmt(x):
    return "%.12g" % float(x)


def rate_label(rate):
    """How cycles.csv names a C-rate: 1/10 -> 'C/10', 1 -> '1C', 2 -> '2C', 2/5 -> '0.4C'."""
    if rate.numerator == 1 and rate.denominator > 1:
        return "C/%d" % rate.denominator
    if rate.denominator == 1:
        return "%dC" % rate.numerator
    return "%sC" % _fmt(rate)


def _electric(text, capacity_nAh, where):
    """'C/46', '1C', '0.5 C', '4.1 V', '50 mA', '2 uA', '217 kOhm' -> dict.

    kind: 'C-rate' | 'current' | 'voltage' | 'resistance' | 'power'; 'value' in the
    compact unit (nA, uV, ohm) as an exact Fraction; 'rate' the C-rate if one was given.
    """
    t = text.strip()
    m = _C_OVER.match(t.replace(" ", ""))
    if m:
        den = Fraction(m.group("den"))
        if den <= 0:
            raise _Bad("a C-rate needs a positive divisor", "C/N with N > 0", "C/46")
        rate = 1 / den
    else:
        m = _NUM_UNIT.match(t)
        if not m:
            if t.startswith("-"):
                raise _Bad("negative %s" % where,
                           "a positive value: the verb (Charge/Discharge) gives the sign",
                           '"Discharge at 1 mA until 2.6 V" instead of "Charge at -1 mA ..."')
            raise _Bad("cannot read the %s %r" % (where, text),
                       "a number and a unit: C-rate (C/10, 1C, 0.5 C), current (A, mA, uA, nA), "
                       "voltage (V, mV) or resistance (Ohm, kOhm)",
                       "C/10, 2C, 50 uA, 4.1 V, 217 kOhm")
        num, unit = Fraction(m.group("num")), m.group("unit")
        if unit == "C":
            rate = num
            if rate <= 0:
                raise _Bad("a C-rate must be positive", "a C-rate like C/10 or 2C", "C/10")
        elif unit in _ELECTRIC:
            kind, mult, ext = _ELECTRIC[unit]
            if kind == "power":
                raise _Bad("the board has no constant-power mode (%s)" % text,
                           "a C-rate, a current, a voltage or a resistance",
                           "Discharge at 1 mA until 2.6 V")
            return {"kind": kind, "value": num * mult, "rate": None, "ext": ext,
                    "text": t, "num": num, "unit": unit}
        else:
            hint = difflib.get_close_matches(unit, list(_ELECTRIC) + ["C"], 1)
            raise _Bad("unknown unit %r in the %s %r%s" % (
                unit, where, text, " (did you mean %r?)" % hint[0] if hint else ""),
                "one of C (C-rate), A, mA, uA, nA, V, mV, Ohm, kOhm",
                "C/10, 1C, 2 uA, 4.1 V, 217 kOhm")
    if capacity_nAh is None:
        raise _Bad("a C-rate needs the cell's capacity", "capacity_mAh or active_mass_mg in [cell]",
                   "[cell]\ncapacity_mAh = 0.0839")
    return {"kind": "C-rate", "value": Fraction(units.rate_to_nA(capacity_nAh, rate.numerator,
                                                                 rate.denominator)),
            "rate": rate, "ext": False, "text": t, "num": rate, "unit": "C"}


def _seconds(text, where, allow_zero=False):
    t = text.strip()
    m = _NUM_UNIT.match(t)
    if not m or m.group("unit") not in _TIME:
        raise _Bad("cannot read the %s %r" % (where, text),
                   "a number and a time unit: seconds (s, sec), minutes (m, min) or "
                   "hours (h, hr)", "10 minutes, 2 hours, 30 seconds")
    s = _round(Fraction(m.group("num")) * _TIME[m.group("unit")])
    if s < (0 if allow_zero else 1):
        raise _Bad("the %s %r is shorter than one second" % (where, text),
                   "at least 1 second (the compact form counts whole seconds)", "30 seconds")
    return s


def _volts_uV(value, where):
    """A voltage given as a number of volts (2.6) or a string with its unit ('2.6 V')."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _Bad("%s must be a voltage" % where, "a number of volts or a string with a unit",
                   "%s = 2.6" % where)
    if isinstance(value, str):
        e = _electric(value, None, where)
        if e["kind"] != "voltage":
            raise _Bad("%s must be a voltage, not %r" % (where, value), "volts", "%s = 2.6" % where)
        uv = _round(e["value"])
    else:
        uv = _round(Fraction(value) * 10**6)
    if not 0 < uv <= BOARD_V_MAX_UV:
        raise _Bad("%s = %r is outside the board's 0 .. 5 V" % (where, value),
                   "a voltage between 0 and 5 V", "%s = 2.6" % where)
    return uv


# ---- one step --------------------------------------------------------------------
_SWEEP = re.compile(r"^Sweep from (?P<a>.+?) to (?P<b>.+?) at (?P<rate>%s)\s*(?P<ru>\S+) "
                    r"for (?P<n>\d+) (?P<what>cycles?|sweeps?)$" % _NUM)
_VERBS = ("Charge", "Discharge", "Hold", "Rest")


def _termination(text, capacity_nAh):
    """'4.1 V', '< 2.6 V', 'C/46', '50 mA' -> (operator or None, electric dict)."""
    t = text.strip()
    op = None
    if t[:1] in "<>" and t:
        op, t = t[0], t[1:].strip()
    # PyBaMM removes every space in a termination ("4.1 V" -> "4.1V").
    return op, _electric(t.replace(" ", ""), capacity_nAh, "end condition")


def parse_step(text, capacity_nAh, v_min_uV=DEFAULT_V_MIN_UV, v_max_uV=DEFAULT_V_MAX_UV,
               cv_min_s=0, i_floor_nA=I_FLOOR_NA, cv_i_max_nA=0):
    """One step string -> dict with 'kind' (cc, cv, rest, cr, sweep), its compact line
    ('compact') and the host's metadata. Raises _Bad; checks the grammar, not the limits
    (the board's validator does: _board_check)."""
    _check_text(text)
    if text.startswith("Sweep"):
        return _parse_sweep(text)
    rest, period_s, until, had_or, duration = _split_step(text)
    t_max_s = _seconds(duration, "duration") if duration is not None else 0
    verb, _, value_text = rest.partition(" at ")
    _check_verb(verb)
    step = {"source": text, "period_s": period_s, "ext": False, "rate": None,
            "rate_label": None, "t_max_s": t_max_s}
    if verb == "Rest":
        return _rest_step(step, rest, value_text, until, duration)
    if not value_text:
        raise _Bad("'%s' needs 'at VALUE'" % verb, "'%s at VALUE ...'" % verb,
                   '"Charge at C/10 until 4.1 V"')
    val = _electric(value_text, capacity_nAh, "setpoint")
    op, end = _termination(until, capacity_nAh) if until is not None else (None, None)
    step["ext"] = val["ext"] or bool(end and end["ext"])
    if val["kind"] in ("C-rate", "current"):
        _cc_step(step, verb, val, value_text, op, end, v_min_uV, v_max_uV)
    elif val["kind"] == "voltage":
        _cv_step(step, verb, val, value_text, op, end, cv_min_s, i_floor_nA)
        if cv_i_max_nA:
            # [limits] cv_i_max: the hold may draw up to it (default: no more than
            # the CC step before it; docs/protocol-files.md)
            step["compact"] += " %d" % cv_i_max_nA
    elif val["kind"] == "resistance":
        _cr_step(step, verb, val, value_text, op, end, v_min_uV)
    step["pybamm"] = _pybamm_text(verb, val, duration, had_or, until, op, end, period_s, text)
    return step


def _check_text(text):
    if not isinstance(text, str):
        raise _Bad("a step must be a string", "a quoted step", '"Rest for 10 minutes"')
    if text != text.strip() or "  " in text:
        raise _Bad("extra spaces in the step", "single spaces between words (PyBaMM splits "
                   "on ' at ', ' for ', ' until ')", '"Charge at C/10 until 4.1 V"')
    if "oC" in text:
        raise _Bad("temperatures are not part of a step", "no temperature (the cell sits at "
                   "25 oC, FACTS: the cell)", '"Rest for 10 minutes"')


def _split_step(src):
    """'VERB at VALUE for TIME or until COND (P period)' -> its parts:
    (verb and value, period_s or None, until or None, had_or, duration or None)."""
    rest = src
    period_s = None
    if rest.endswith(" period)"):
        if rest.count(" (") != 1:
            raise _Bad("cannot read the period", "one '(TIME period)' at the end",
                       '"Rest for 10 minutes (1 minute period)"')
        rest, ptxt = rest.split(" (")
        period_s = _seconds(ptxt[: -len(" period)")], "period")
    until = None
    had_or = False
    if " until " in rest or rest.endswith(" until"):
        parts = rest.split(" until ")
        if len(parts) != 2 or not parts[1]:
            raise _Bad("a step has one 'until' followed by one condition",
                       "'... until CONDITION' once (a voltage, a current or a C-rate)",
                       '"Discharge at C/3 for 2 hours or until 2.5 V"')
        rest, until = parts
        if rest.endswith(" or"):
            rest, had_or = rest[:-3], True
    duration = None
    if " for " in rest:
        parts = rest.split(" for ")
        if len(parts) != 2:
            raise _Bad("a step has one 'for'", "'... for TIME' once", '"Rest for 10 minutes"')
        rest, duration = parts
    if until is None and duration is None:
        for word in rest.split():
            hint = difflib.get_close_matches(word, ["for", "until"], 1, 0.6)
            if hint and word != hint[0]:
                raise _Bad("unknown word %r (did you mean %r?)" % (word, hint[0]),
                           "'for TIME', 'until CONDITION', or 'for TIME or until CONDITION'",
                           _STEP_EXAMPLES)
        raise _Bad("the step never ends", "'for TIME', 'until CONDITION', or "
                   "'for TIME or until CONDITION'", _STEP_EXAMPLES)
    return rest, period_s, until, had_or, duration


def _check_verb(verb):
    if verb in _VERBS:
        return
    close = [v for v in _VERBS + ("Sweep",) if v.lower() == verb.lower()]
    close = close or difflib.get_close_matches(verb, _VERBS, 1)
    raise _Bad("unknown instruction %r%s" % (verb, " (did you mean %r? PyBaMM needs the "
               "capital letter)" % close[0] if close else ""),
               "Charge, Discharge, Hold or Rest (or Sweep, for diagnostics)", _STEP_EXAMPLES)


def _rest_step(step, rest, value_text, until, duration):
    if value_text or rest != "Rest":
        raise _Bad("'Rest' takes no value", "'Rest for TIME'", '"Rest for 10 minutes"')
    if until is not None or duration is None:
        raise _Bad("a rest ends only on time (the board's rest has no end condition)",
                   "'Rest for TIME'", '"Rest for 10 minutes"')
    t = step["t_max_s"]
    step.update(kind="rest", direction="rest", t_s=t, compact="rest %d" % t,
                pybamm=step["source"])
    return step


def _rate_label(step, src):
    """The step's rate label from `src` (a C-rate value or end, else its text)."""
    if src["rate"] is not None:
        step["rate"] = src["rate"]
        step["rate_label"] = rate_label(src["rate"])
    else:
        step["rate_label"] = src["text"]


def _cc_step(step, verb, val, value_text, op, end, v_min_uV, v_max_uV):
    if verb == "Hold":
        raise _Bad("'Hold' takes a voltage", "'Hold at VOLTAGE until CURRENT'",
                   '"Hold at 4.1 V until C/46"')
    sign = 1 if verb == "Charge" else -1
    i_nA = _round(val["value"])
    if i_nA < 1:
        raise _Bad("the current %r rounds to 0 nA" % value_text, "at least 1 nA",
                   '"Charge at C/76 until 4.1 V"')
    if end is not None and end["kind"] != "voltage":
        raise _Bad("a constant-current step ends on a voltage",
                   "'until VOLTAGE' after a current or C-rate",
                   '"%s at %s until %s"' % (verb, value_text, "4.1 V" if sign > 0 else "2.6 V"))
    _check_operator(op, ">" if sign > 0 else "<", verb)
    # No voltage end given ("for" only): the window edge in the step's direction.
    until_uV = _round(end["value"]) if end else (v_max_uV if sign > 0 else v_min_uV)
    step.update(kind="cc", direction=verb.lower(), i_nA=sign * i_nA, until_uV=until_uV)
    _rate_label(step, val)
    step["compact"] = "cc %d %d %d" % (sign * i_nA, until_uV, step["t_max_s"])


def _cv_step(step, verb, val, value_text, op, end, cv_min_s, i_floor_nA):
    if verb == "Charge":
        raise _Bad("'Charge at VOLTAGE' is not a hold (PyBaMM reads it as minus that voltage)",
                   "'Hold at VOLTAGE until CURRENT'", '"Hold at 4.1 V until C/46"')
    v_uV = _round(val["value"])
    t_max_s = step["t_max_s"]
    if end is not None:
        if end["kind"] not in ("C-rate", "current"):
            raise _Bad("a hold ends on a current", "'until CURRENT' or 'until C-RATE'",
                       '"Hold at %s until C/46"' % value_text)
        _check_operator(op, "<", verb)
        i_end = _round(end["value"])
        t_min = min(cv_min_s, t_max_s) if t_max_s else cv_min_s
        _rate_label(step, end)
    else:
        # Time only: the board wants an end current, so give it the floor, and a
        # minimum hold equal to the time so the current cannot end it early.
        i_end, t_min = i_floor_nA, t_max_s
    step.update(kind="cv", direction="hold", v_uV=v_uV, i_end_nA=i_end, t_min_s=t_min)
    step["compact"] = "cv %d %d %d %d" % (v_uV, i_end, t_max_s, t_min)


def _cr_step(step, verb, val, value_text, op, end, v_min_uV):
    if verb != "Discharge":
        raise _Bad("only a discharge goes through a resistance",
                   "'Discharge at RESISTANCE until VOLTAGE'", '"Discharge at 217 kOhm until 3.0 V"')
    r = _round(val["value"])
    if not 1 <= r <= fw_protocol.MAX_R_OHM:
        raise _Bad("resistance %r is outside 1 Ohm .. 1 MOhm (the board's range)" % value_text,
                   "a resistance of at least 1 Ohm", '"Discharge at 217 kOhm until 3.0 V"')
    if end is not None and end["kind"] != "voltage":
        raise _Bad("a resistance discharge ends on a voltage", "'until VOLTAGE'",
                   '"Discharge at 217 kOhm until 3.0 V"')
    _check_operator(op, "<", verb)
    until_uV = _round(end["value"]) if end else v_min_uV
    step.update(kind="cr", direction="discharge", r_ohm=r, until_uV=until_uV)
    step["rate_label"] = "%d Ohm" % r
    step["compact"] = "cr %d %d %d" % (r, until_uV, step["t_max_s"])


def _check_operator(op, want, verb):
    if op is not None and op != want:
        raise _Bad("'until %s' points the wrong way for %s" % (op, verb),
                   "no operator, or '%s'" % want, '"Discharge at C/10 until 2.6 V"')


def _pybamm_text(verb, val, duration, had_or, until, op, end, period_s, src):
    """The same step in words PyBaMM accepts (our extensions rewritten), or src itself."""
    if not (val["ext"] or (end and end["ext"])):
        return src

    def plain(e):
        if e["unit"] in ("uA", "nA"):
            return "%s mA" % _fmt(e["num"] / (1000 if e["unit"] == "uA" else 10**6))
        if e["unit"] == "kOhm":
            return "%s Ohm" % _fmt(e["num"] * 1000)
        return e["text"]

    out = "%s at %s" % (verb, plain(val))
    if duration is not None:
        out += " for " + duration
    if until is not None:
        out += (" or until " if had_or else " until ") + (op + " " if op else "") + plain(end)
    if src.endswith(" period)"):
        out += " (" + src.split(" (")[1]
    return out


def _parse_sweep(src):
    m = _SWEEP.match(src)
    example = '"Sweep from 2.0 V to 4.5 V at 0.1 mV/s for 5 cycles"'
    if not m:
        raise _Bad("cannot read the sweep", "'Sweep from VOLTAGE to VOLTAGE at RATE mV/s for N "
                   "cycles' (or 'for N sweeps')", example)
    a = _electric(m.group("a"), None, "sweep start")
    b = _electric(m.group("b"), None, "sweep end")
    if a["kind"] != "voltage" or b["kind"] != "voltage":
        raise _Bad("a sweep goes between two voltages", "'from VOLTAGE to VOLTAGE'", example)
    if m.group("ru") not in _SWEEP_RATE:
        raise _Bad("unknown sweep rate unit %r" % m.group("ru"), "uV/s, mV/s or V/s", example)
    rate = _round(Fraction(m.group("rate")) * _SWEEP_RATE[m.group("ru")])
    v0, v1 = _round(a["value"]), _round(b["value"])
    n = int(m.group("n"))
    # A cycle of cyclic voltammetry goes there and back: two linear sweeps. The engine
    # counts there-and-back cycles (engine._sweep_move), so a sweep count must be even.
    n_sweeps = 2 * n if m.group("what").startswith("cycle") else n
    if n_sweeps % 2:
        raise _Bad("a sweep step ends back where it started, so it runs an even number of "
                   "sweeps", "'for N cycles' (N there-and-back) or an even 'for N sweeps'",
                   example)
    if not 1 <= rate <= fw_protocol.MAX_RATE_UV_S or v0 == v1 or not 1 <= n_sweeps <= MAX_SWEEPS:
        raise _Bad("the sweep is empty, too slow or too fast", "a rate of 1 uV/s .. %d mV/s, two "
                   "different voltages, 1 .. %d sweeps" % (fw_protocol.MAX_RATE_UV_S // 1000,
                                                           MAX_SWEEPS), example)
    t_s = (abs(v1 - v0) * n_sweeps + rate - 1) // rate
    return {"source": src, "kind": "sweep", "direction": "sweep", "ext": True, "pybamm": None,
            "rate": None, "rate_label": "%s %s" % (m.group("rate"), m.group("ru")),
            "v_start_uV": v0, "v_end_uV": v1, "rate_uV_s": rate, "n_sweeps": n_sweeps,
            "period_s": None, "t_max_s": 0, "t_s": t_s,
            "compact": "sweep %d %d %d %d" % (v0, v1, rate, n_sweeps // 2)}


# ---- where things are in the file -------------------------------------------------
def _too_deep(text, limit):
    """The 1-based line where [ or { nest deeper than `limit` (strings and comments
    skipped), or 0. One pass, before the TOML parser (which recurses) sees the text."""
    depth = 0
    line = 1
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c == '"' or c == "'":
            q3 = text[i:i + 3]
            if q3 == c * 3:
                j = text.find(q3, i + 3)
                j = n if j < 0 else j + 3
            else:
                j = i + 1
                while j < n and text[j] != c and text[j] != "\n":
                    j += 2 if (c == '"' and text[j] == "\\") else 1
                j += 1
            line += text.count("\n", i, min(j, n))
            i = j
            continue
        elif c == "[" or c == "{":
            depth += 1
            if depth > limit:
                return line
        elif c == "]" or c == "}":
            depth = depth - 1 if depth > 0 else 0
        i += 1
    return 0



_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")


class _Locator:
    """Line numbers for keys and step strings (tomllib gives values, not positions)."""

    def __init__(self, text):
        self.lines = text.splitlines()
        self.headers = []  # (index of line, name, is_array)
        for n, line in enumerate(self.lines):
            m = _HEADER.match(line)
            if m:
                self.headers.append((n, m.group(2).strip(), m.group(1) == "[["))

    def region(self, table=None, nth=0):
        """(first, end) line indexes of a table ([cell]), or of the nth [[block]]."""
        if table is None:
            end = self.headers[0][0] if self.headers else len(self.lines)
            return 0, end
        seen = 0
        for k, (n, name, _) in enumerate(self.headers):
            if name == table:
                if seen == nth:
                    end = self.headers[k + 1][0] if k + 1 < len(self.headers) else len(self.lines)
                    return n, end
                seen += 1
        return None

    def table_line(self, table):
        """The line of a [table] header, or of 'table = {...}' written inline (or None)."""
        reg = self.region(table)
        return reg[0] + 1 if reg else self.key(table)

    def key(self, key, table=None, nth=0):
        reg = self.region(table, nth)
        if reg is None:
            return None
        pat = re.compile(r"^\s*[\"']?%s[\"']?\s*=" % re.escape(key))
        for n in range(reg[0], reg[1]):
            if pat.match(self.lines[n]):
                return n + 1
        return reg[0] + 1 if table is not None else None

    def steps(self, nth, steps):
        """Line number of each step string of the nth block, found in order."""
        reg = self.region("block", nth)
        first = self.key("steps", "block", nth) or (reg[0] + 1 if reg else None)
        if reg is None:  # block = [{...}] written inline: look from its key on
            first = self.key("block")
            reg = ((first or 1) - 1, len(self.lines))
        out = []
        n, col = (first - 1 if first else reg[0]), 0
        for s in steps:
            found = None
            if isinstance(s, str):
                quoted = ('"%s"' % s.replace("\\", "\\\\").replace('"', '\\"'), "'%s'" % s)
            else:  # a number or a boolean where a string belongs
                quoted = (str(s).lower() if isinstance(s, bool) else str(s),)
            for ln in range(n, reg[1]):
                start = col if ln == n else 0
                hits = [self.lines[ln].find(q, start) for q in quoted]
                hits = [h for h in hits if h >= 0]
                if hits:
                    found, n, col = ln + 1, ln, min(hits) + 1
                    break
            out.append(found or first)
        return out


# ---- the whole file --------------------------------------------------------------
class ParsedProtocol:
    """A checked protocol: the compact form and what the host keeps about each step.

    lines    the compact form, one item a line (docs/architecture.md)
    origins  for each compact line, the line of the TOML file it came from (or None)
    notes    for each compact line, the step string it came from (or None)
    cell     dict: name, capacity_nAh, mass_ug, mass_mg, mass_derived, specific_capacity_mAh_g
    limits   dict: v_min_uV, v_max_uV, v_trip_lo_uV, v_trip_hi_uV, i_max_nA, step_max_s, cv_min_s
    blocks   list of dicts: label, repeat, line, charge_rate, discharge_rate, steps (indexes)
    steps    list of dicts (one per step string): kind, direction, source, line, block,
             index, compact, rate_label, pybamm (the string PyBaMM accepts, or None), ...
    """

    def __init__(self, path, name, description, diagnostic, cell, limits, blocks, steps,
                 lines, origins, notes):
        self.path = path
        self.name = name
        self.description = description
        self.diagnostic = diagnostic
        self.cell = cell
        self.limits = limits
        self.blocks = blocks
        self.steps = steps
        self.lines = lines
        self.origins = origins
        self.notes = notes

    def text(self):
        return "\n".join(self.lines) + "\n"

    @property
    def cycle_count(self):
        return sum(b["repeat"] for b in self.blocks)

    def cycle_rates(self):
        """(charge_rate, discharge_rate) for each cycle, one cycle per block repetition."""
        out = []
        for b in self.blocks:
            out.extend([(b["charge_rate"], b["discharge_rate"])] * b["repeat"])
        return out

    def pybamm_cycles(self):
        """The experiment for pybamm.Experiment: one tuple of step strings per cycle,
        uA and kOhm rewritten as mA and Ohm. A sweep has no PyBaMM form: ValueError."""
        out = []
        for b in self.blocks:
            cyc = []
            for k in b["steps"]:
                s = self.steps[k]
                if s["pybamm"] is None:
                    raise ValueError("%s:%s: %r has no PyBaMM equivalent"
                                     % (self.path, s["line"], s["source"]))
                cyc.append(s["pybamm"])
            out.extend([tuple(cyc)] * b["repeat"])
        return out


def resolve(name):
    """A path as given, or a name of a shipped protocol ('quick', 'fig4_rate_test.toml')."""
    if os.path.exists(name):
        return name
    for cand in (name, name + ".toml"):
        p = os.path.join(host_tools.PROTOCOLS_DIR, cand)
        if os.path.exists(p):
            return p
    return name


def load(path, i_floor_nA=I_FLOOR_NA, board=None):
    """Read and check a protocol file. Raises ProtocolError (or OSError)."""
    with open(path, "rb") as f:
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ProtocolError(path, None, "(%d+ bytes)" % len(raw), "the file is larger than "
                            "%d bytes" % MAX_FILE_BYTES, "a protocol file of a few kB "
                            "(at most %d steps)" % fw_protocol.MAX_STEPS, _EXAMPLE_BLOCK)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(path, None, "(bytes)", "the file is not UTF-8 text", "a UTF-8 "
                            "TOML file", _EXAMPLE_BLOCK) from e
    return parse(text, path, i_floor_nA, board)


def parse(text, path="<protocol>", i_floor_nA=I_FLOOR_NA, board=None):
    """Check a protocol given as TOML text; returns a ParsedProtocol. board: a
    front-end profile (simulation/feprofiles.py): also check what that board refuses
    (its voltage error, its DAC's hold current, its termination floor), as its own
    `load` will."""
    r = _Reader(text, path)
    doc = r.toml()
    name, description, diagnostic = r.top(doc)
    cell = r.cell(doc.get("cell"))
    limits = r.limits(doc.get("limits", {}), cell["capacity_nAh"])
    blocks_t = r.block_list(doc.get("block"))
    lines, origins = r.header(cell, limits, diagnostic)
    blocks, steps = [], []
    for nb, bt in enumerate(blocks_t):
        blocks.append(r.block(nb, bt, cell["capacity_nAh"], limits, i_floor_nA, steps,
                              lines, origins))
    notes = [None] * len(lines)
    for s in steps:
        notes[s["compact_index"]] = s["source"]
    _board_check(lines, origins, notes, r.loc, i_floor_nA, r.refuse, board)
    return ParsedProtocol(path, name, description, diagnostic, cell, limits, blocks, steps,
                          lines, origins, notes)


_UNKNOWN_EXAMPLES = {
    "cell": "[cell]\nname = \"fig4\"\ncapacity_mAh = 0.0839",
    "limits": "[limits]\nv_min = 2.6\nv_max = 4.1\ni_max = \"1 mA\"\nstep_max = \"200 hours\"",
    "block": _EXAMPLE_BLOCK,
}


class _Reader:
    """One protocol file's tables, each read by its own method; every refusal names
    the file and the line (the _Locator finds it)."""

    def __init__(self, text, path):
        if len(text) > MAX_FILE_BYTES:
            raise ProtocolError(path, None, "(%d characters)" % len(text), "the file is "
                                "larger than %d bytes" % MAX_FILE_BYTES, "a protocol file "
                                "of a few kB (at most %d steps)" % fw_protocol.MAX_STEPS,
                                _EXAMPLE_BLOCK)
        self.text = text
        self.path = path
        self.loc = _Locator(text)

    def refuse(self, line, shown, bad) -> NoReturn:
        raise ProtocolError(self.path, line, shown, bad.problem, bad.expected, bad.example)

    def src(self, line):
        lines = self.loc.lines
        return lines[line - 1].strip() if line and line <= len(lines) else ""

    # -- the text ---------------------------------------------------------------
    def toml(self):
        import tomllib
        deep = _too_deep(self.text, MAX_NESTING)
        if deep:
            self.refuse(deep, self.src(deep)[:80], _Bad(
                "arrays or tables nested more than %d deep" % MAX_NESTING,
                "steps = [\"...\", ...] inside [[block]] tables", _EXAMPLE_BLOCK))
        try:
            return tomllib.loads(self.text)
        except (tomllib.TOMLDecodeError, ValueError, RecursionError) as e:
            # ValueError: e.g. an integer of more digits than Python converts
            m = re.search(r"\(at line (\d+)", str(e))
            line = int(m.group(1)) if m else (len(self.loc.lines) or None)
            self.refuse(line, self.src(line)[:80] or "(end of file)",
                        _Bad("not valid TOML (%s)" % str(e).split(" (at")[0][:200],
                             "TOML: key = value lines, strings in double quotes, [cell], "
                             "[limits] and [[block]] tables", _EXAMPLE_BLOCK))

    def unknown(self, keys, allowed, table, nth=0):
        loc = self.loc
        for k in keys:
            if k in allowed:
                continue
            hint = difflib.get_close_matches(k, allowed, 1)
            line = loc.key(k, table, nth)
            if table is None and line is None:
                reg = loc.region(k)
                line = reg[0] + 1 if reg else None
            self.refuse(line, self.src(line) or k, _Bad(
                "unknown key %r%s%s" % (k, " in [%s]" % table if table else "",
                                        " (did you mean %r?)" % hint[0] if hint else ""),
                "one of: %s" % ", ".join(allowed),
                _UNKNOWN_EXAMPLES.get(table or "", _EXAMPLE_FILE)))

    # -- the tables -------------------------------------------------------------
    def top(self, doc):
        self.unknown(doc, _TOP_KEYS, None)
        name = doc.get("name", os.path.splitext(os.path.basename(str(self.path)))[0])
        diagnostic = doc.get("diagnostic", False)
        if not isinstance(diagnostic, bool):
            line = self.loc.key("diagnostic")
            self.refuse(line, self.src(line), _Bad("diagnostic must be true or false",
                                                   "a TOML boolean", "diagnostic = true"))
        return name, doc.get("description", ""), diagnostic

    def cell(self, cell_t):
        loc, src = self.loc, self.src
        if not isinstance(cell_t, dict):
            self.refuse(1 if cell_t is None else loc.key("cell"),
                        "[cell]" if cell_t is None else src(loc.key("cell")),
                        _Bad("missing the [cell] table" if cell_t is None else
                             "cell must be a table", "a [cell] table with capacity_mAh or "
                             "active_mass_mg (C-rates need it)",
                             "[cell]\nname = \"fig4\"\ncapacity_mAh = 0.0839   # FACTS: fig4"))
        self.unknown(cell_t, _CELL_KEYS, "cell")
        cap_mAh = cell_t.get("capacity_mAh")
        mass_mg = cell_t.get("active_mass_mg")
        spec = cell_t.get("specific_capacity_mAh_g", units.SPECIFIC_CAPACITY_MAH_G)
        for key, v in (("capacity_mAh", cap_mAh), ("active_mass_mg", mass_mg),
                       ("specific_capacity_mAh_g", spec)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or
                                  not 0 < v < 1e9):
                line = loc.key(key, "cell")
                self.refuse(line, src(line), _Bad(
                    "%s must be a positive number" % key,
                    "a number, without a unit (the unit is in the name)", "%s = 0.0839" % key))
        try:
            cap_nAh = units.capacity_nAh(cap_mAh, mass_mg, spec)
        except ValueError as e:
            line = loc.table_line("cell")
            self.refuse(line, src(line), _Bad(
                str(e).split(" (e.g.")[0], "capacity_mAh or active_mass_mg in [cell], "
                "within 1 nAh .. 1.07 Ah", "[cell]\ncapacity_mAh = 0.0839   # FACTS: fig4\n"
                "# or: active_mass_mg = 0.437"))
        # FACTS: "Active mass follows from capacity / 192 mAh/g".
        mass_derived = mass_mg is None
        if mass_derived:
            mass_mg = cap_mAh / spec * 1000
        return {"name": cell_t.get("name", ""), "capacity_nAh": cap_nAh,
                "mass_mg": mass_mg, "mass_ug": int(round(mass_mg * 1000)),
                "mass_derived": mass_derived, "specific_capacity_mAh_g": spec}

    def limits(self, lim_t, cap_nAh):
        loc, src = self.loc, self.src
        if not isinstance(lim_t, dict):
            line = loc.key("limits")
            self.refuse(line, src(line), _Bad("limits must be a table", "a [limits] table",
                                              "[limits]\nv_min = 2.6"))
        self.unknown(lim_t, _LIMIT_KEYS, "limits")

        def lim(key, conv, default):
            if key not in lim_t:
                return default
            try:
                return conv(lim_t[key])
            except _Bad as bad:
                line = loc.key(key, "limits")
                self.refuse(line, src(line), bad)

        def volts(key):
            return lambda v: _volts_uV(v, key)

        L = {
            "v_min_uV": lim("v_min", volts("v_min"), DEFAULT_V_MIN_UV),
            "v_max_uV": lim("v_max", volts("v_max"), DEFAULT_V_MAX_UV),
            "v_trip_lo_uV": lim("v_trip_lo", volts("v_trip_lo"), DEFAULT_V_TRIP_LO_UV),
            "v_trip_hi_uV": lim("v_trip_hi", volts("v_trip_hi"), DEFAULT_V_TRIP_HI_UV),
            "i_max_nA": lim("i_max", lambda v: _current_limit(v, cap_nAh),
                            min(CHANNEL_I_MAX_NA, units.rate_to_nA(cap_nAh, DEFAULT_I_MAX_C, 1))),
            "step_max_s": lim("step_max", _time_limit("step_max", False), DEFAULT_STEP_MAX_S),
            "cv_min_s": lim("cv_min_time", _time_limit("cv_min_time", True), 0),
        }
        margin = fw_protocol.MIN_TRIP_MARGIN_UV
        if not (L["v_trip_lo_uV"] + margin <= L["v_min_uV"] < L["v_max_uV"]
                <= L["v_trip_hi_uV"] - margin):
            self.refuse(loc.table_line("limits"),
                        "v_trip_lo=%s v_min=%s v_max=%s v_trip_hi=%s V" % tuple(
                            _fmt(Fraction(L[k], 10**6)) for k in (
                                "v_trip_lo_uV", "v_min_uV", "v_max_uV", "v_trip_hi_uV")),
                        _Bad("the limits are out of order", "v_trip_lo < v_min < v_max < "
                             "v_trip_hi, the trips at least %d mV outside the window"
                             % (margin // 1000),
                             "v_trip_lo = 2.5\nv_min = 2.6\nv_max = 4.1\nv_trip_hi = 4.15"))
        if L["step_max_s"] > STEP_MAX_LIMIT_S:
            line = loc.key("step_max", "limits")
            self.refuse(line, src(line), _Bad("step_max is longer than a step can be timed",
                                              "at most 298 hours (2**30 ms)",
                                              'step_max = "200 hours"'))
        return L

    def block_list(self, blocks_t):
        """The [[block]] tables, refused before any step is read if they hold more
        steps than the board's table: the work stays linear in a bounded count."""
        loc = self.loc
        if not isinstance(blocks_t, list) or not blocks_t:
            self.refuse(len(loc.lines) or 1, "(no [[block]] table)", _Bad(
                "the protocol has no blocks", "at least one [[block]] table", _EXAMPLE_BLOCK))
        n_steps = sum(len(b["steps"]) if isinstance(b, dict) and isinstance(b.get("steps"), list)
                      else 1 for b in blocks_t)
        if n_steps <= fw_protocol.MAX_STEPS:
            return blocks_t
        # the first step past the table, found by searching only up to it
        left, line, shown = fw_protocol.MAX_STEPS, loc.table_line("block"), "%d steps" % n_steps
        for nb, bt in enumerate(blocks_t):
            st = bt.get("steps") if isinstance(bt, dict) else None
            k = len(st) if isinstance(st, list) else 1
            if k > left and isinstance(st, list):
                line = loc.steps(nb, st[:left + 1])[-1] or line
                shown = self.src(line)[:80]
                break
            left -= k
        self.refuse(line, shown, _Bad(
            "more than %d steps in all (the board's table)" % fw_protocol.MAX_STEPS,
            "fewer distinct steps: put repeated ones in a block with repeat = N",
            _EXAMPLE_BLOCK))

    def header(self, cell, L, diagnostic):
        """The compact form's first lines, and the TOML line each came from."""
        loc = self.loc
        lines = ["cell %d %d" % (cell["capacity_nAh"], cell["mass_ug"]),
                 "window %d %d" % (L["v_min_uV"], L["v_max_uV"]),
                 "limits %d %d %d %d" % (L["v_trip_lo_uV"], L["v_trip_hi_uV"], L["i_max_nA"],
                                         L["step_max_s"])]
        lim_line = loc.table_line("limits")
        origins = [loc.table_line("cell"), lim_line, lim_line]
        if diagnostic:
            lines.append("diag")
            origins.append(loc.key("diagnostic"))
        return lines, origins

    def block(self, nb, bt, cap_nAh, L, i_floor_nA, steps, lines, origins):
        """One [[block]]: its steps go to `steps`, its compact lines to `lines`."""
        loc, src = self.loc, self.src
        head = loc.region("block", nb)
        head_line = head[0] + 1 if head else None
        if not isinstance(bt, dict):
            self.refuse(head_line, str(bt), _Bad("a block must be a table", "[[block]]",
                                                 _EXAMPLE_BLOCK))
        self.unknown(bt, _BLOCK_KEYS, "block", nb)
        repeat = bt.get("repeat", 1)
        rline = loc.key("repeat", "block", nb) or head_line
        if isinstance(repeat, bool) or not isinstance(repeat, int) or \
                not 1 <= repeat <= MAX_REPEAT:
            self.refuse(rline, src(rline), _Bad(
                "repeat must be a whole number from 1 to %d" % MAX_REPEAT,
                "repeat = N, the cycles of this block", "repeat = 5"))
        st = bt.get("steps")
        sline = loc.key("steps", "block", nb) or head_line
        if not isinstance(st, list) or not st:
            self.refuse(sline, src(sline) or "[[block]]", _Bad(
                "the block has no steps", "steps = a list of step strings", _EXAMPLE_BLOCK))
        step_lines = loc.steps(nb, st)
        block = {"label": bt.get("label", ""), "repeat": repeat, "line": head_line,
                 "steps": [], "charge_rate": None, "discharge_rate": None}
        lines.append("repeat %d" % repeat)
        origins.append(rline)
        for j, s in enumerate(st):
            try:
                step = parse_step(s, cap_nAh, L["v_min_uV"], L["v_max_uV"], L["cv_min_s"],
                                  i_floor_nA)
            except _Bad as bad:
                self.refuse(step_lines[j], repr(s) if not isinstance(s, str) else '"%s"' % s,
                            bad)
            step.update(line=step_lines[j], block=nb, index=j, compact_index=len(lines))
            if step["kind"] == "cc" and block[step["direction"] + "_rate"] is None:
                block[step["direction"] + "_rate"] = step["rate_label"]
            block["steps"].append(len(steps))
            steps.append(step)
            lines.append(step["compact"])
            origins.append(step_lines[j])
        if repeat > 1 and all(steps[k]["kind"] == "rest" for k in block["steps"]):
            self.refuse(rline, src(rline), _Bad(
                "a repeated block of rests only never cycles the cell",
                "repeat = 1, or a block that charges or discharges", _EXAMPLE_BLOCK))
        lines.append("end")
        origins.append(head_line)
        return block


def _current_limit(v, cap_nAh):
    if not isinstance(v, str):
        raise _Bad("i_max needs its unit", "a string with a current or a C-rate",
                   'i_max = "1 mA"   # or "5C"')
    e = _electric(v, cap_nAh, "i_max")
    if e["kind"] not in ("current", "C-rate") or not 1 <= _round(e["value"]) <= CHANNEL_I_MAX_NA:
        raise _Bad("i_max must be a current up to the channel's 20 mA", "a current or a C-rate",
                   'i_max = "1 mA"')
    return _round(e["value"])


def _time_limit(key, allow_zero):
    def conv(v):
        if not isinstance(v, str):
            raise _Bad("%s needs its unit" % key, "a string with a time unit",
                       '%s = "200 hours"' % key)
        return _seconds(v, key, allow_zero)
    return conv


def _v(uV):
    return "%s V" % _fmt(Fraction(uV, 10**6))


# What a refusal by the board's validator expects, by compact item (the host's words).
_FW_HINTS = {
    "cc": ("a current within i_max, ending within the window", '"Charge at C/10 until 4.1 V"'
           " (FACTS: cycling window 2.6 .. 4.1 V)"),
    "cv": ("a hold within the window, ending on a current between the board's floor and "
           "i_max", '"Hold at 4.1 V until C/46"'),
    "cr": ("a load that draws at most i_max, ending within the window",
           '"Discharge at 217 kOhm until 3.0 V" (FACTS: calorimetry)'),
    "rest": ("a rest of at least one second, at most step_max", '"Rest for 10 minutes"'),
    "sweep": ("diagnostic = true at the top of the file (FACTS: cyclic voltammetry runs "
              "outside 2.6-4.1 V on purpose), a rate of 0.1 .. 100 mV/s",
              "diagnostic = true\n[limits]\nv_trip_lo = 1.9\nv_trip_hi = 4.6"),
    "repeat": ("repeat = N from 1 to %d, a block that charges or discharges" % MAX_REPEAT,
               _EXAMPLE_BLOCK),
}
_FW_LINE = re.compile(r"^line (\d+) '[^']*': (.*?)(?:; for example '[^']*')?$", re.S)


def _board_check(lines, origins, notes, loc, i_floor_nA, refuse, board=None):
    """Run the board's own validator (firmware/core/protocol.py) on the compact form,
    with the widest board's bounds (or, given a front-end profile, that board's: the
    figures its Channel gets, boards/sim.channel_figures), and refuse with its message
    at the TOML line the offending compact line came from. One source for every limit."""
    err = hold_i_max = 0
    if board:
        from boards import sim as simboard
        f = simboard.channel_figures(board)
        err = fw_protocol.hold_err_uV(f["v_err_uV"], f["v_noise_uV"])
        hold_i_max = f["hold_i_max_nA"]
        if f["i_floor_nA"] > i_floor_nA:
            i_floor_nA = f["i_floor_nA"]
    try:
        fw_protocol.load(lines, CHANNEL_I_MAX_NA, i_floor_nA, BOARD_V_MAX_UV, err,
                         hold_i_max)
        return
    except ValueError as e:
        msg = str(e)
    m = _FW_LINE.match(msg)
    if m:
        k = int(m.group(1)) - 1
        line, problem = origins[k], m.group(2)
        item = lines[k].split()[0]
        shown = '"%s"' % notes[k] if notes[k] else (
            loc.lines[line - 1].strip() if line else lines[k])
    else:
        line = loc.table_line("limits") or loc.table_line("cell")
        problem, item = msg.split("; e.g.")[0], "limits"
        shown = loc.lines[line - 1].strip() if line else "[limits]"
    # the host's units: volts, not microvolts
    problem = re.sub(r"(-?\d+)\.\.(-?\d+) uV", lambda m: "%s .. %s" % (
        _v(int(m.group(1))), _v(int(m.group(2)))), problem)
    problem = re.sub(r"(-?\d+) uV", lambda m: _v(int(m.group(1))), problem)
    expected, example = _FW_HINTS.get(item, (
        "v_trip_lo < v_min < v_max < v_trip_hi within the board's absolute limits "
        "%s .. %s (diagnostic: %s .. %s)" % (_v(fw_protocol.ABS_TRIP_LO_UV),
                                             _v(fw_protocol.ABS_TRIP_HI_UV),
                                             _v(fw_protocol.ABS_DIAG_TRIP_LO_UV),
                                             _v(fw_protocol.ABS_DIAG_TRIP_HI_UV)),
        "[limits]\nv_trip_lo = 2.5\nv_min = 2.6\nv_max = 4.1\nv_trip_hi = 4.15"))
    if board and "this board" in problem:   # the profile's own limit, not the file's
        expected = "a step the %s board can hold (docs/hardware.md, per profile)" % board
        inside = re.search(r"inside ([\d.]+) V \.\. ([\d.]+) V", problem)
        v = re.search(r"([\d.]+) V", shown)
        if inside and v:   # the same step at the nearest voltage this board takes
            lo, hi = float(inside.group(1)), float(inside.group(2))
            near = math.floor(hi * 100) / 100 if float(v.group(1)) > hi else \
                math.ceil(lo * 100) / 100
            example = shown.replace(v.group(0), "%.2f V" % near, 1)
        elif "ends no hold on its current" in problem:
            at = re.search(r"at ([\d.]+ V)", shown)
            example = ('"Hold at %s for 2 hours" (on its time only), or another --board '
                       "(docs/hardware.md: each profile's smallest end current)"
                       % (at.group(1) if at else "4.1 V"))
        elif "I_FLOOR_NA" in problem:
            example = ("the hold ending at a larger current, or another --board "
                       "(docs/hardware.md: each profile's smallest end current)")
        else:
            example = "the step slower, or with a limit; or another --board"
    refuse(line, shown, _Bad(problem, expected, example))


def unknown_cell(p, name=None):
    """The error text when the cell model named by `name` or the file's [cell] name is
    not one the virtual board and `cycler simulate` know (None when it is, or no name)."""
    import cellmodel
    from host_tools import fit
    name = name or p.cell.get("name")
    if not name or name in cellmodel.CELLS:
        return None
    if fit.is_cell_file(name):     # a cell written by `cycler fit`
        try:
            fit.load_cell(name)
        except ValueError as e:
            return str(e)
        return None
    hint = difflib.get_close_matches(name, list(cellmodel.CELLS), 1)
    return ("unknown cell %r%s; [cell] name is a cell model, one of %s (or leave it out)"
            % (name, " (did you mean %r?)" % hint[0] if hint else "",
               ", ".join(sorted(cellmodel.CELLS))))


# ---- `cycler validate` -----------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("protocol", help="a protocol file, or the name of one in protocols/")
    parser.add_argument("--i-floor-nA", type=int, default=I_FLOOR_NA, dest="i_floor_nA",
                        help="smallest CV end current accepted (default %(default)s nA)")
    parser.add_argument("--explain", action="store_true",
                        help="show the file line each compact line comes from")
    parser.add_argument("--board", default=None, metavar="PROFILE",
                        help="also check what this front-end profile refuses: "
                        "pico-ads1115, esp32-ads1115, pico-internal, esp32-internal")


def run(args):
    path = resolve(args.protocol)
    if args.board:
        import feprofiles
        try:
            feprofiles.get(args.board)
        except ValueError as e:
            print("cycler validate: %s" % e, file=sys.stderr)
            return 2
    try:
        p = load(path, args.i_floor_nA, args.board)
    except ProtocolError as e:
        print(e, file=sys.stderr)
        return 2
    except OSError as e:
        print("%s: cannot read: %s" % (path, e.strerror or e), file=sys.stderr)
        return 2
    bad = unknown_cell(p)
    if bad:
        print("%s: %s" % (path, bad), file=sys.stderr)
        return 2
    if not args.explain:
        sys.stdout.write(p.text())
        return 0
    width = max(len(x) for x in p.lines)
    for line, org, note in zip(p.lines, p.origins, p.notes):
        where = "  # %s:%d %s" % (os.path.basename(path), org, note or "") if org else ""
        print((line.ljust(width) + where).rstrip())
    return 0
