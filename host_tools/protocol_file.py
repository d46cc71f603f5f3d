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
# FACTS: the paper's tester has 5 V / 20 mA channels; architecture: +-20 000 000 nA.
CHANNEL_I_MAX_NA = 20_000_000
BOARD_V_MAX_UV = 5_000_000
# Default current limit: 5C of the cell (the fastest paper step is 3C, FACTS: fig4),
# never above the channel.
DEFAULT_I_MAX_C = 5
DEFAULT_STEP_MAX_S = 200 * 3600  # a C/50 half cycle is 50 h; 200 h leaves room for holds
STEP_MAX_LIMIT_S = (1 << 30) // 1000  # step times are ms below 2**30: 12.4 days
# A CV hold's end current below this is lost in the noise of a 20 mA channel's lowest
# range; FACTS: C/76 of fig4 is 1.10 uA, so the paper's smallest end current still passes.
I_FLOOR_NA = 500
MAX_REPEAT = 10_000
MAX_SWEEPS = 1_000

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
    ('compact') and the host's metadata. Raises _Bad; checks the grammar, not the limits."""
    if not isinstance(text, str):
        raise _Bad("a step must be a string", "a quoted step", '"Rest for 10 minutes"')
    src = text
    if src != src.strip() or "  " in src:
        raise _Bad("extra spaces in the step", "single spaces between words (PyBaMM splits "
                   "on ' at ', ' for ', ' until ')", '"Charge at C/10 until 4.1 V"')
    if "oC" in src:
        raise _Bad("temperatures are not part of a step", "no temperature (the cell sits at "
                   "25 oC, FACTS: the cell)", '"Rest for 10 minutes"')
    if src.startswith("Sweep"):
        return _parse_sweep(src)

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
    t_max_s = _seconds(duration, "duration") if duration is not None else 0

    verb, _, value_text = rest.partition(" at ")
    if verb not in _VERBS:
        close = [v for v in _VERBS + ("Sweep",) if v.lower() == verb.lower()]
        close = close or difflib.get_close_matches(verb, _VERBS, 1)
        raise _Bad("unknown instruction %r%s" % (verb, " (did you mean %r? PyBaMM needs the "
                   "capital letter)" % close[0] if close else ""),
                   "Charge, Discharge, Hold or Rest (or Sweep, for diagnostics)", _STEP_EXAMPLES)
    step = {"source": src, "period_s": period_s, "ext": False, "rate": None,
            "rate_label": None, "t_max_s": t_max_s}

    if verb == "Rest":
        if value_text or rest != "Rest":
            raise _Bad("'Rest' takes no value", "'Rest for TIME'", '"Rest for 10 minutes"')
        if until is not None or duration is None:
            raise _Bad("a rest ends only on time (the board's rest has no end condition)",
                       "'Rest for TIME'", '"Rest for 10 minutes"')
        step.update(kind="rest", direction="rest", t_s=t_max_s)
        step["compact"] = "rest %d" % t_max_s
        step["pybamm"] = src
        return step

    if not value_text:
        raise _Bad("'%s' needs 'at VALUE'" % verb, "'%s at VALUE ...'" % verb,
                   '"Charge at C/10 until 4.1 V"')
    val = _electric(value_text, capacity_nAh, "setpoint")
    term = _termination(until, capacity_nAh) if until is not None else (None, None)
    op, end = term
    step["ext"] = val["ext"] or bool(end and end["ext"])

    if val["kind"] in ("C-rate", "current"):
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
                       '"%s at %s until %s"' % (verb, value_text,
                                                "4.1 V" if sign > 0 else "2.6 V"))
        _check_operator(op, ">" if sign > 0 else "<", verb)
        # No voltage end given ("for" only): the window edge in the step's direction.
        until_uV = _round(end["value"]) if end else (v_max_uV if sign > 0 else v_min_uV)
        step.update(kind="cc", direction=verb.lower(), i_nA=sign * i_nA, until_uV=until_uV)
        if val["rate"] is not None:
            step["rate"] = val["rate"]
            step["rate_label"] = rate_label(val["rate"])
        else:
            step["rate_label"] = val["text"]
        step["compact"] = "cc %d %d %d" % (sign * i_nA, until_uV, t_max_s)
    elif val["kind"] == "voltage":
        if verb == "Charge":
            raise _Bad("'Charge at VOLTAGE' is not a hold (PyBaMM reads it as minus that voltage)",
                       "'Hold at VOLTAGE until CURRENT'", '"Hold at 4.1 V until C/46"')
        v_uV = _round(val["value"])
        if end is not None:
            if end["kind"] not in ("C-rate", "current"):
                raise _Bad("a hold ends on a current", "'until CURRENT' or 'until C-RATE'",
                           '"Hold at %s until C/46"' % value_text)
            _check_operator(op, "<", verb)
            i_end = _round(end["value"])
            t_min = min(cv_min_s, t_max_s) if t_max_s else cv_min_s
            if end["rate"] is not None:
                step["rate"] = end["rate"]
                step["rate_label"] = rate_label(end["rate"])
            else:
                step["rate_label"] = end["text"]
        else:
            # Time only: the board wants an end current, so give it the floor, and a
            # minimum hold equal to the time so the current cannot end it early.
            i_end, t_min = i_floor_nA, t_max_s
        step.update(kind="cv", direction="hold", v_uV=v_uV, i_end_nA=i_end, t_min_s=t_min)
        step["compact"] = "cv %d %d %d %d" % (v_uV, i_end, t_max_s, t_min)
        if cv_i_max_nA:
            # [limits] cv_i_max: the hold may draw up to it (default: no more than
            # the CC step before it; docs/protocol-files.md)
            step["compact"] += " %d" % cv_i_max_nA
    elif val["kind"] == "resistance":
        if verb != "Discharge":
            raise _Bad("only a discharge goes through a resistance",
                       "'Discharge at RESISTANCE until VOLTAGE'",
                       '"Discharge at 217 kOhm until 3.0 V"')
        r = _round(val["value"])
        if not 1 <= r <= fw_protocol.MAX_R_OHM:
            raise _Bad("resistance %r is outside 1 Ohm .. 1 MOhm (the board's range)"
                       % value_text,
                       "a resistance of at least 1 Ohm", '"Discharge at 217 kOhm until 3.0 V"')
        if end is not None and end["kind"] != "voltage":
            raise _Bad("a resistance discharge ends on a voltage", "'until VOLTAGE'",
                       '"Discharge at 217 kOhm until 3.0 V"')
        _check_operator(op, "<", verb)
        until_uV = _round(end["value"]) if end else v_min_uV
        step.update(kind="cr", direction="discharge", r_ohm=r, until_uV=until_uV)
        step["rate_label"] = "%d Ohm" % r
        step["compact"] = "cr %d %d %d" % (r, until_uV, t_max_s)
    step["pybamm"] = _pybamm_text(verb, val, duration, had_or, until, op, end, period_s, src)
    return step


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
    # A cycle of cyclic voltammetry goes there and back: two linear sweeps.
    n_sweeps = 2 * n if m.group("what").startswith("cycle") else n
    if not 1 <= rate <= fw_protocol.MAX_RATE_UV_S or v0 == v1 or not 1 <= n_sweeps <= MAX_SWEEPS:
        raise _Bad("the sweep is empty, too slow or too fast", "a rate of 1 uV/s .. %d mV/s, two "
                   "different voltages, 1 .. %d sweeps" % (fw_protocol.MAX_RATE_UV_S // 1000,
                                                           MAX_SWEEPS), example)
    t_s = (abs(v1 - v0) * n_sweeps + rate - 1) // rate
    return {"source": src, "kind": "sweep", "direction": "sweep", "ext": True, "pybamm": None,
            "rate": None, "rate_label": "%s %s" % (m.group("rate"), m.group("ru")),
            "v_start_uV": v0, "v_end_uV": v1, "rate_uV_s": rate, "n_sweeps": n_sweeps,
            "period_s": None, "t_max_s": 0, "t_s": t_s,
            "compact": "sweep %d %d %d %d" % (v0, v1, rate, n_sweeps)}


# ---- where things are in the file -------------------------------------------------
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


def load(path, i_floor_nA=I_FLOOR_NA):
    """Read and check a protocol file. Raises ProtocolError (or OSError)."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(path, None, "(bytes)", "the file is not UTF-8 text", "a UTF-8 "
                            "TOML file", _EXAMPLE_BLOCK) from e
    return parse(text, path, i_floor_nA)


def parse(text, path="<protocol>", i_floor_nA=I_FLOOR_NA):
    """Check a protocol given as TOML text; returns a ParsedProtocol."""
    import tomllib

    loc = _Locator(text)

    def refuse(line, shown, bad) -> NoReturn:
        raise ProtocolError(path, line, shown, bad.problem, bad.expected, bad.example)

    def src(line):
        return loc.lines[line - 1].strip() if line and line <= len(loc.lines) else ""

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+)", str(e))
        line = int(m.group(1)) if m else (len(loc.lines) or None)
        refuse(line, src(line) or "(end of file)",
               _Bad("not valid TOML (%s)" % str(e).split(" (at")[0],
                    "TOML: key = value lines, strings in double quotes, [cell], [limits] "
                    "and [[block]] tables", _EXAMPLE_BLOCK))

    def unknown(keys, allowed, table, nth=0):
        for k in keys:
            if k not in allowed:
                hint = difflib.get_close_matches(k, allowed, 1)
                line = loc.key(k, table if table != "block" else "block", nth)
                if table is None and line is None:
                    reg = loc.region(k)
                    line = reg[0] + 1 if reg else None
                refuse(line, src(line) or k, _Bad(
                    "unknown key %r%s%s" % (k, " in [%s]" % table if table else "",
                                            " (did you mean %r?)" % hint[0] if hint else ""),
                    "one of: %s" % ", ".join(allowed),
                    {"cell": "[cell]\nname = \"fig4\"\ncapacity_mAh = 0.0839",
                     "limits": "[limits]\nv_min = 2.6\nv_max = 4.1\ni_max = \"1 mA\"\n"
                               "step_max = \"200 hours\"",
                     "block": _EXAMPLE_BLOCK}.get(table or "", _EXAMPLE_FILE)))

    unknown(doc, _TOP_KEYS, None)
    name = doc.get("name", os.path.splitext(os.path.basename(str(path)))[0])
    description = doc.get("description", "")
    diagnostic = doc.get("diagnostic", False)
    if not isinstance(diagnostic, bool):
        line = loc.key("diagnostic")
        refuse(line, src(line), _Bad("diagnostic must be true or false", "a TOML boolean",
                                     "diagnostic = true"))

    # [cell]
    cell_t = doc.get("cell")
    if not isinstance(cell_t, dict):
        refuse(1 if cell_t is None else loc.key("cell"), "[cell]" if cell_t is None else
               src(loc.key("cell")),
               _Bad("missing the [cell] table" if cell_t is None else "cell must be a table",
                    "a [cell] table with capacity_mAh or active_mass_mg (C-rates need it)",
                    "[cell]\nname = \"fig4\"\ncapacity_mAh = 0.0839   # FACTS: fig4"))
    unknown(cell_t, _CELL_KEYS, "cell")
    cap_mAh = cell_t.get("capacity_mAh")
    mass_mg = cell_t.get("active_mass_mg")
    spec = cell_t.get("specific_capacity_mAh_g", units.SPECIFIC_CAPACITY_MAH_G)
    for key, v in (("capacity_mAh", cap_mAh), ("active_mass_mg", mass_mg),
                   ("specific_capacity_mAh_g", spec)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
            line = loc.key(key, "cell")
            refuse(line, src(line), _Bad("%s must be a positive number" % key,
                                         "a number, without a unit (the unit is in the name)",
                                         "%s = 0.0839" % key))
    try:
        cap_nAh = units.capacity_nAh(cap_mAh, mass_mg, spec)
    except ValueError as e:
        line = loc.table_line("cell")
        refuse(line, src(line), _Bad(str(e).split(" (e.g.")[0], "capacity_mAh or active_mass_mg "
                                     "in [cell], within 1 nAh .. 1.07 Ah",
                                     "[cell]\ncapacity_mAh = 0.0839   # FACTS: fig4\n"
                                     "# or: active_mass_mg = 0.437"))
    # FACTS: "Active mass follows from capacity / 192 mAh/g".
    mass_derived = mass_mg is None
    if mass_derived:
        mass_mg = cap_mAh / spec * 1000
    cell = {"name": cell_t.get("name", ""), "capacity_nAh": cap_nAh,
            "mass_mg": mass_mg, "mass_ug": int(round(mass_mg * 1000)),
            "mass_derived": mass_derived, "specific_capacity_mAh_g": spec}

    # [limits]
    lim_t = doc.get("limits", {})
    if not isinstance(lim_t, dict):
        line = loc.key("limits")
        refuse(line, src(line), _Bad("limits must be a table", "a [limits] table",
                                     "[limits]\nv_min = 2.6"))
    unknown(lim_t, _LIMIT_KEYS, "limits")

    def lim(key, conv, default):
        if key not in lim_t:
            return default
        try:
            return conv(lim_t[key])
        except _Bad as bad:
            line = loc.key(key, "limits")
            refuse(line, src(line), bad)

    def current_limit(v):
        if not isinstance(v, str):
            raise _Bad("i_max needs its unit", "a string with a current or a C-rate",
                       'i_max = "1 mA"   # or "5C"')
        e = _electric(v, cap_nAh, "i_max")
        if e["kind"] not in ("current", "C-rate") or not 1 <= _round(e["value"]) <= CHANNEL_I_MAX_NA:
            raise _Bad("i_max must be a current up to the channel's 20 mA", "a current or a C-rate",
                       'i_max = "1 mA"')
        return _round(e["value"])

    def time_limit(key, allow_zero):
        def conv(v):
            if not isinstance(v, str):
                raise _Bad("%s needs its unit" % key, "a string with a time unit",
                           '%s = "200 hours"' % key)
            return _seconds(v, key, allow_zero)
        return conv

    limits = {
        "v_min_uV": lim("v_min", lambda v: _volts_uV(v, "v_min"), DEFAULT_V_MIN_UV),
        "v_max_uV": lim("v_max", lambda v: _volts_uV(v, "v_max"), DEFAULT_V_MAX_UV),
        "v_trip_lo_uV": lim("v_trip_lo", lambda v: _volts_uV(v, "v_trip_lo"), DEFAULT_V_TRIP_LO_UV),
        "v_trip_hi_uV": lim("v_trip_hi", lambda v: _volts_uV(v, "v_trip_hi"), DEFAULT_V_TRIP_HI_UV),
        "i_max_nA": lim("i_max", current_limit,
                        min(CHANNEL_I_MAX_NA, units.rate_to_nA(cap_nAh, DEFAULT_I_MAX_C, 1))),
        "step_max_s": lim("step_max", time_limit("step_max", False), DEFAULT_STEP_MAX_S),
        "cv_min_s": lim("cv_min_time", time_limit("cv_min_time", True), 0),
        "cv_i_max_nA": lim("cv_i_max", current_limit, 0),
    }
    L = limits
    margin = fw_protocol.MIN_TRIP_MARGIN_UV
    if not (L["v_trip_lo_uV"] + margin <= L["v_min_uV"] < L["v_max_uV"]
            <= L["v_trip_hi_uV"] - margin):
        line = loc.table_line("limits")
        refuse(line, "v_trip_lo=%s v_min=%s v_max=%s v_trip_hi=%s V" % tuple(
            _fmt(Fraction(L[k], 10**6)) for k in ("v_trip_lo_uV", "v_min_uV", "v_max_uV",
                                                  "v_trip_hi_uV")),
            _Bad("the limits are out of order", "v_trip_lo < v_min < v_max < v_trip_hi, the "
                 "trips at least %d mV outside the window" % (margin // 1000),
                 "v_trip_lo = 2.5\nv_min = 2.6\nv_max = 4.1\nv_trip_hi = 4.15"))
    if L["step_max_s"] > STEP_MAX_LIMIT_S:
        line = loc.key("step_max", "limits")
        refuse(line, src(line), _Bad("step_max is longer than a step can be timed",
                                     "at most 298 hours (2**30 ms)", 'step_max = "200 hours"'))

    # [[block]]
    blocks_t = doc.get("block")
    if not isinstance(blocks_t, list) or not blocks_t:
        refuse(len(loc.lines) or 1, "(no [[block]] table)",
               _Bad("the protocol has no blocks", "at least one [[block]] table", _EXAMPLE_BLOCK))

    lines = ["cell %d %d" % (cap_nAh, cell["mass_ug"]),
             "window %d %d" % (L["v_min_uV"], L["v_max_uV"]),
             "limits %d %d %d %d" % (L["v_trip_lo_uV"], L["v_trip_hi_uV"], L["i_max_nA"],
                                     L["step_max_s"])]
    cell_line = loc.table_line("cell")
    lim_line = loc.table_line("limits")
    origins = [cell_line, lim_line, lim_line]
    if diagnostic:
        lines.append("diag")
        origins.append(loc.key("diagnostic"))

    blocks, steps = [], []
    for nb, bt in enumerate(blocks_t):
        head = loc.region("block", nb)
        head_line = head[0] + 1 if head else None
        if not isinstance(bt, dict):
            refuse(head_line, str(bt), _Bad("a block must be a table", "[[block]]", _EXAMPLE_BLOCK))
        unknown(bt, _BLOCK_KEYS, "block", nb)
        label = bt.get("label", "")
        repeat = bt.get("repeat", 1)
        rline = loc.key("repeat", "block", nb) or head_line
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
            refuse(rline, src(rline), _Bad("repeat must be a whole number from 1 to %d"
                                           % MAX_REPEAT, "repeat = N, the cycles of this block",
                                           "repeat = 5"))
        st = bt.get("steps")
        sline = loc.key("steps", "block", nb) or head_line
        if not isinstance(st, list) or not st:
            refuse(sline, src(sline) or "[[block]]",
                   _Bad("the block has no steps", "steps = a list of step strings",
                        _EXAMPLE_BLOCK))
        step_lines = loc.steps(nb, st)
        block = {"label": label, "repeat": repeat, "line": head_line, "steps": [],
                 "charge_rate": None, "discharge_rate": None}
        lines.append("repeat %d" % repeat)
        origins.append(rline)
        for j, s in enumerate(st):
            try:
                step = parse_step(s, cap_nAh, L["v_min_uV"], L["v_max_uV"], L["cv_min_s"],
                                  i_floor_nA, cv_i_max_nA=L["cv_i_max_nA"])
                _check(step, L, diagnostic, i_floor_nA)
            except _Bad as bad:
                refuse(step_lines[j], repr(s) if not isinstance(s, str) else '"%s"' % s, bad)
            step.update(line=step_lines[j], block=nb, index=j, compact_index=len(lines))
            if step["kind"] == "cc" and block[step["direction"] + "_rate"] is None:
                block[step["direction"] + "_rate"] = step["rate_label"]
            block["steps"].append(len(steps))
            steps.append(step)
            lines.append(step["compact"])
            origins.append(step_lines[j])
        if repeat > 1 and all(steps[k]["kind"] == "rest" for k in block["steps"]):
            refuse(rline, src(rline), _Bad("a repeated block of rests only never cycles the cell",
                                           "repeat = 1, or a block that charges or discharges",
                                           _EXAMPLE_BLOCK))
        if len(steps) > fw_protocol.MAX_STEPS:
            refuse(step_lines[-1], src(step_lines[-1]), _Bad(
                "more than %d steps in all (the board's table)" % fw_protocol.MAX_STEPS,
                "fewer distinct steps: put repeated ones in a block with repeat = N",
                _EXAMPLE_BLOCK))
        lines.append("end")
        origins.append(head_line)
        blocks.append(block)
    notes = [None] * len(lines)
    for s in steps:
        notes[s["compact_index"]] = s["source"]
    return ParsedProtocol(path, name, description, diagnostic, cell, limits, blocks, steps,
                          lines, origins, notes)


def _v(uV):
    return "%s V" % _fmt(Fraction(uV, 10**6))


def _check(step, L, diag, i_floor_nA):
    """The host's checks of one parsed step against the file's limits."""
    lo, hi = (L["v_trip_lo_uV"], L["v_trip_hi_uV"]) if diag else (L["v_min_uV"], L["v_max_uV"])
    inside = (lambda v: lo < v < hi) if diag else (lambda v: lo <= v <= hi)
    span = ("strictly between the hard trips %s and %s (diagnostic = true)" if diag else
            "within the window %s .. %s (or set diagnostic = true)") % (_v(lo), _v(hi))
    k = step["kind"]
    if k == "sweep" and not diag:
        raise _Bad("a sweep leaves the cycling window", "diagnostic = true at the top of the file "
                   "(FACTS: cyclic voltammetry runs outside 2.6-4.1 V on purpose)",
                   "diagnostic = true\n[limits]\nv_trip_lo = 1.9\nv_trip_hi = 4.6")
    volts = {"cc": ("until_uV",), "cv": ("v_uV",), "cr": ("until_uV",),
             "sweep": ("v_start_uV", "v_end_uV")}.get(k, ())
    for key in volts:
        if not inside(step[key]):
            raise _Bad("%s is outside the limits" % _v(step[key]), "a voltage %s" % span,
                       '"Charge at C/10 until 4.1 V" (FACTS: cycling window 2.6 .. 4.1 V)')
    imax = L["i_max_nA"]
    if k == "cc" and abs(step["i_nA"]) > imax:
        raise _Bad("the current %d nA is above i_max = %d nA" % (abs(step["i_nA"]), imax),
                   "at most i_max (raise it in [limits] if the cell can take it)",
                   '[limits]\ni_max = "1 mA"')
    if k == "cv" and step["i_end_nA"] > imax:
        raise _Bad("the end current %d nA is above i_max = %d nA" % (step["i_end_nA"], imax),
                   "an end current below i_max", '"Hold at 4.1 V until C/46"')
    if k == "cv" and step["i_end_nA"] < i_floor_nA:
        raise _Bad("the end current %d nA is below the %d nA the board can resolve"
                   % (step["i_end_nA"], i_floor_nA),
                   "an end current of at least %d nA, or a time: 'for TIME'" % i_floor_nA,
                   '"Hold at 4.1 V until C/46" or "Hold at 4.1 V for 2 hours"')
    if k == "cr":
        i_peak = L["v_max_uV"] * 1000 // step["r_ohm"]  # uV / ohm = uA; x1000 -> nA
        if i_peak > imax:
            raise _Bad("%d Ohm draws up to %d nA at %s, above i_max = %d nA"
                       % (step["r_ohm"], i_peak, _v(L["v_max_uV"]), imax),
                       "a larger resistance, or a larger i_max",
                       '"Discharge at 217 kOhm until 3.0 V" (FACTS: calorimetry)')
    t = step.get("t_s") if k in ("rest", "sweep") else step["t_max_s"]
    if t and t > L["step_max_s"]:
        raise _Bad("the step lasts %d s, longer than step_max = %d s" % (t, L["step_max_s"]),
                   "a shorter step, or a longer step_max in [limits]",
                   '[limits]\nstep_max = "250 hours"')


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


def run(args):
    path = resolve(args.protocol)
    try:
        p = load(path, args.i_floor_nA)
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
