"""Protocol files: tables of good and bad inputs (the shape of PyBaMM's step tests), the
shipped protocols, PyBaMM's own parser as a second opinion, and generated step strings."""
import glob
import json
import math
import os
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

import host_tools
from host_tools import cli
import protocol as fw_protocol
from host_tools import protocol_file as pf
import units

PROTOCOLS = sorted(glob.glob(os.path.join(host_tools.PROTOCOLS_DIR, "*.toml")))
CAP_NAH = 100_000  # the test cell: capacity_mAh = 0.1, so C/10 is 10 000 nA


def _toml(steps, top="", cell="capacity_mAh = 0.1", limits=""):
    """A protocol file with one block; returns (text, line of the first step)."""
    head = top + "[cell]\n" + cell + "\n"
    if limits:
        head += "[limits]\n" + limits + "\n"
    head += "[[block]]\nrepeat = 1\nsteps = [\n"
    body = "".join("    %s,\n" % json.dumps(s) for s in steps) + "]\n"
    return head + body, head.count("\n") + 1


def _one(step, **kw):
    text, _ = _toml([step], **kw)
    p = pf.parse(text, "t.toml")
    return p.steps[0]["compact"]


# ---- good steps: string -> compact line (cell of 100 000 nAh, default limits) ----
GOOD = [
    ("Charge at C/10 until 4.1 V", "cc 10000 4100000 0"),
    ("Charge at C/10 until 4.1V", "cc 10000 4100000 0"),
    ("Discharge at 1C until 2.6 V", "cc -100000 2600000 0"),
    ("Discharge at 1 C until 2.6 V", "cc -100000 2600000 0"),
    ("Charge at 2C until 4.1 V", "cc 200000 4100000 0"),
    ("Charge at C/2.5 until 4.1 V", "cc 40000 4100000 0"),
    ("Discharge at C/3 for 30 minutes until 2.7 V", "cc -33333 2700000 1800"),
    ("Charge at 0.5C for 2 hours", "cc 50000 4100000 7200"),          # window edge
    ("Discharge at 0.5 C for 2 hours", "cc -50000 2600000 7200"),
    ("Discharge at 0.5 C for 2 hours or until 3.0 V", "cc -50000 3000000 7200"),
    ("Charge at 50 uA until 4.1 V", "cc 50000 4100000 0"),           # our extension
    ("Charge at 0.05 mA until 4.1 V", "cc 50000 4100000 0"),
    ("Charge at 1e-5 A for 90 s", "cc 10000 4100000 90"),
    ("Charge at C/10 until > 4.1 V", "cc 10000 4100000 0"),
    ("Discharge at C/10 until < 2.6 V", "cc -10000 2600000 0"),
    ("Charge at C/10 for 1 hr or until 4.05 V", "cc 10000 4050000 3600"),
    ("Hold at 4.1 V until C/46", "cv 4100000 2174 0 0"),
    ("Hold at 4.1V until C/50", "cv 4100000 2000 0 0"),
    ("Hold at 4.1 V until < C/46", "cv 4100000 2174 0 0"),
    ("Hold at 4.1 V until 50 uA", "cv 4100000 50000 0 0"),
    ("Hold at 2.6 V until 0.002 mA", "cv 2600000 2000 0 0"),
    ("Hold at 4100 mV until C/46", "cv 4100000 2174 0 0"),
    ("Hold at 2.6 V for 1 hour", "cv 2600000 500 3600 3600"),         # time only
    ("Hold at 4.1 V for 2 hours or until C/50", "cv 4100000 2000 7200 0"),
    ("Discharge at 3.0 V until C/20", "cv 3000000 5000 0 0"),
    ("Rest for 10 minutes", "rest 600"),
    ("Rest for 1.5 hours (1 minute period)", "rest 5400"),
    ("Rest for 30 sec", "rest 30"),
    ("Rest for 2 min", "rest 120"),
    ("Rest for 1 h", "rest 3600"),
    ("Discharge at 217000 Ohm until 3.0 V", "cr 217000 3000000 0"),
    ("Discharge at 217 kOhm until 3.0 V", "cr 217000 3000000 0"),     # our extension
    ("Discharge at 253 kOhm for 3 hours", "cr 253000 2600000 10800"),
]


@pytest.mark.parametrize("step,compact", GOOD)
def test_good_step(step, compact):
    assert _one(step) == compact
    # and the board's own parser takes it (firmware/core/protocol.py, 20 mA channel, 500 nA floor)
    text, _ = _toml([step])
    fw_protocol.load(pf.parse(text).lines, 20_000_000, 500)


def test_sweep_in_a_diagnostic_file():
    s = _one("Sweep from 2.0 V to 4.5 V at 0.1 mV/s for 5 cycles",
             top="diagnostic = true\n", limits="v_trip_lo = 1.9\nv_trip_hi = 4.6")
    assert s == "sweep 2000000 4500000 100 10"  # 5 cycles there and back = 10 sweeps
    s = _one("Sweep from 3.8 V to 3.6 V at 2 mV/s for 3 sweeps", top="diagnostic = true\n")
    assert s == "sweep 3800000 3600000 2000 3"
    with pytest.raises(pf.ProtocolError, match="too fast"):
        _one("Sweep from 3.8 V to 3.6 V at 0.2 V/s for 3 sweeps", top="diagnostic = true\n")


def test_diagnostic_lets_a_hold_leave_the_window_but_not_the_trips():
    assert _one("Hold at 4.12 V until C/46", top="diagnostic = true\n") == "cv 4120000 2174 0 0"
    with pytest.raises(pf.ProtocolError, match="hard trips"):
        _one("Hold at 4.15 V until C/46", top="diagnostic = true\n")


# ---- bad steps: each is refused, naming the file, its line, the text, and teaching ---
BAD = [
    ("Charge at C/10 untl 4.1 V", "did you mean 'until'"),
    ("charge at C/10 until 4.1 V", "did you mean 'Charge'"),
    ("Chrage at C/10 until 4.1 V", "did you mean 'Charge'"),
    ("Charge at C/10", "never ends"),
    ("Charge at C/10 until 4.3 V", "outside"),
    ("Discharge at C/10 until 2.5 V", "outside"),
    ("Hold at 4.2 V until C/46", "outside"),
    ("Charge at 1 mW for 1 hour", "constant-power"),
    ("Charge at 4.1 V until C/46", "not a hold"),
    ("Hold at 1 mA for 1 hour", "takes a voltage"),
    ("Hold at 4.1 V until 3 V", "ends on a current"),
    ("Hold at 4.1 V until 0.1 uA", "below the 500 nA"),
    ("Hold at 4.1 V until 100 nA", "below the 500 nA"),
    ("Hold at 4.1 V until 100 pA", "unknown unit 'pA'"),
    ("Charge at 10 mA until 4.1 V", "above i_max"),
    ("Hold at 4.1 V until 10 mA", "above i_max"),
    ("Charge at C/10 until C/46", "ends on a voltage"),
    ("Discharge at C/10 until > 2.6 V", "wrong way"),
    ("Rest until 3 V", "only on time"),
    ("Rest at 1 mA for 1 hour", "takes no value"),
    ("Rest for 0.2 seconds", "shorter than one second"),
    ("Rest for 10 days", "time unit"),
    ("Rest for 250 hours", "longer than step_max"),
    ("Discharge at 10 Ohm until 2.6 V", "above i_max"),
    ("Charge at 217 kOhm until 4.1 V", "only a discharge"),
    ("Discharge at 0.1 Ohm until 2.6 V", "outside 1 Ohm"),
    ("Discharge at 2000 kOhm until 2.6 V", "1 MOhm"),
    ("Sweep from 2.0 V to 4.5 V at 0.1 mV/s for 5 cycles", "diagnostic = true"),
    ("Charge at -1 mA until 4.1 V", "negative"),
    ("Charge  at C/10 until 4.1 V", "extra spaces"),
    ("Discharge at C/10 until 2.6 V at 25 oC", "temperature"),
    ("Charge at C/10 for 1 hour until 4.1 V until 4.0 V", "one 'until'"),
    ("Charge at 0.0001 uA until 4.1 V", "rounds to 0"),
    ("Charge at C/0 until 4.1 V", "positive"),
    ("Discharge at 2 parsecs until 2.6 V", "unknown unit 'parsecs'"),
    ("Discharge at lots until 2.6 V", "cannot read the setpoint"),
    ("Hold at 4.1 V until C/46 (1 fortnight period)", "time unit"),
    (42, "must be a string"),
]


@pytest.mark.parametrize("step,fragment", BAD)
def test_bad_step_names_its_line(step, fragment):
    # The bad step sits third, after two good ones, so its line is known.
    text, first = _toml(["Charge at C/10 until 4.1 V", "Rest for 10 minutes", step,
                         "Rest for 10 minutes"])
    with pytest.raises(pf.ProtocolError) as ei:
        pf.parse(text, "t.toml")
    msg = str(ei.value)
    assert ei.value.line == first + 2
    assert msg.startswith("t.toml:%d: " % (first + 2))
    assert str(step) in msg
    assert fragment in msg
    assert "expected:" in msg and "for example:" in msg


def test_floor_is_a_parameter():
    text, _ = _toml(["Hold at 4.1 V until 0.4 uA"])
    with pytest.raises(pf.ProtocolError, match="below the 500 nA"):
        pf.parse(text, "t.toml")
    assert pf.parse(text, "t.toml", i_floor_nA=100).steps[0]["i_end_nA"] == 400


# ---- bad files: (text, line, fragment) ----
_BLOCK = '[[block]]\nrepeat = 1\nsteps = ["Rest for 1 minute"]\n'
BAD_FILES = [
    ('name = "x"\n' + _BLOCK, 1, "missing the [cell] table"),
    ('[cell]\nname = "fig4"\n' + _BLOCK, 1, "capacity"),
    ("[cell]\ncapacity_mah = 0.1\n" + _BLOCK, 2, "did you mean 'capacity_mAh'"),
    ("[cell]\ncapacity_mAh = -1\n" + _BLOCK, 2, "positive number"),
    ("[cell]\ncapacity_mAh = \"0.1 mAh\"\n" + _BLOCK, 2, "positive number"),
    ("[cell]\ncapacity_mAh = 5000\n" + _BLOCK, 1, "outside 1 nAh"),
    ("[cell]\ncapacity_mAh = 0.1\n[[blocks]]\nrepeat = 1\nsteps = []\n", 3, "did you mean 'block'"),
    ("[cell]\ncapacity_mAh = 0.1\n", 2, "no blocks"),
    ("[cell]\ncapacity_mAh = 0.1\n[[block]]\nrepeat = 0\nsteps = [\"Rest for 1 s\"]\n", 4, "repeat"),
    ("[cell]\ncapacity_mAh = 0.1\n[[block]]\nrepeat = 100000\nsteps = [\"Rest for 1 s\"]\n", 4,
     "repeat"),
    ("[cell]\ncapacity_mAh = 0.1\n[[block]]\nrepeat = true\nsteps = [\"Rest for 1 s\"]\n", 4,
     "repeat"),
    ("[cell]\ncapacity_mAh = 0.1\n[[block]]\nrepeat = \"5\"\nsteps = [\"Rest for 1 s\"]\n", 4,
     "repeat"),
    ("[cell]\ncapacity_mAh = 0.1\n[[block]]\nrepeat = 2\nsteps = []\n", 5, "no steps"),
    ("[cell]\ncapacity_mAh = 0.1\n[[block]]\nrepeat = 2\n", 3, "no steps"),
    ("[cell]\ncapacity_mAh = 0.1\n[[block]]\nrepeats = 2\nsteps = [\"Rest for 1 s\"]\n", 4,
     "did you mean 'repeat'"),
    ("[cell]\ncapacity_mAh = 0.1\n[limits]\nv_min = 4.2\n" + _BLOCK, 3, "out of order"),
    ("[cell]\ncapacity_mAh = 0.1\n[limits]\nv_trip_hi = 4.1\n" + _BLOCK, 3, "out of order"),
    ("[cell]\ncapacity_mAh = 0.1\n[limits]\nv_trip_hi = 4.105\n" + _BLOCK, 3, "10 mV outside"),
    ("[cell]\ncapacity_mAh = 0.1\n[[block]]\nrepeat = 3\nsteps = [\"Rest for 1 s\"]\n", 4,
     "rests only"),
    ("[cell]\ncapacity_mAh = 0.1\n[limits]\nvmin = 2.7\n" + _BLOCK, 4, "did you mean 'v_min'"),
    ("[cell]\ncapacity_mAh = 0.1\n[limits]\ni_max = 5\n" + _BLOCK, 4, "needs its unit"),
    ("[cell]\ncapacity_mAh = 0.1\n[limits]\ni_max = \"50 mA\"\n" + _BLOCK, 4, "20 mA"),
    ("[cell]\ncapacity_mAh = 0.1\n[limits]\nstep_max = \"400 hours\"\n" + _BLOCK, 4, "298 hours"),
    ("[cell]\ncapacity_mAh = 0.1\n[limits]\nv_max = \"4.1 A\"\n" + _BLOCK, 4, "must be a voltage"),
    ("[cell]\ncapacity_mAh = 0.1\n[limits]\nv_max = 7\n" + _BLOCK, 4, "outside the board"),
    ('diagnostic = "yes"\n[cell]\ncapacity_mAh = 0.1\n' + _BLOCK, 1, "true or false"),
    ("[cell]\ncapacity_mAh = 0.1\n[[block]]\nrepeat = 1\nsteps = [\"Rest for 1 s\"\n", 5,
     "not valid TOML"),
    ("[cell]\ncapacity_mAh 0.1\n" + _BLOCK, 2, "not valid TOML"),
]


@pytest.mark.parametrize("text,line,fragment", BAD_FILES)
def test_bad_file_names_its_line(text, line, fragment):
    with pytest.raises(pf.ProtocolError) as ei:
        pf.parse(text, "bad.toml")
    assert ei.value.line == line, str(ei.value)
    assert str(ei.value).startswith("bad.toml:%d: " % line)
    assert fragment in str(ei.value)
    assert "expected:" in str(ei.value) and "for example:" in str(ei.value)


def test_inline_tables_still_name_the_line():
    text = ('cell = {capacity_mAh = 0.1}\n'
            'block = [{repeat = 2, steps = ["Charge at C/10 until 4.1 V",\n'
            '                              "Hold at 4.5 V until C/20"]}]\n')
    with pytest.raises(pf.ProtocolError) as ei:
        pf.parse(text, "i.toml")
    assert ei.value.line == 3 and "4.5 V is outside" in str(ei.value)


def test_cell_from_active_mass_and_from_capacity():
    text, _ = _toml(["Rest for 1 s"], cell="active_mass_mg = 0.437")  # FACTS: fig4
    p = pf.parse(text)
    assert p.cell["capacity_nAh"] == units.capacity_nAh(mass_mg=0.437) == 83904
    assert p.lines[0] == "cell 83904 437"
    text, _ = _toml(["Rest for 1 s"], cell="capacity_mAh = 0.0839")
    p = pf.parse(text)
    assert p.cell["mass_derived"] and p.lines[0] == "cell 83900 437"  # 0.0839 / 192 g
    text, _ = _toml(["Rest for 1 s"], cell="capacity_mAh = 0.1\nactive_mass_mg = 0.6\n"
                    "specific_capacity_mAh_g = 196")
    p = pf.parse(text)
    assert p.lines[0] == "cell 100000 600" and not p.cell["mass_derived"]


def test_header_lines_and_defaults():
    text, _ = _toml(["Rest for 1 s"])
    p = pf.parse(text)
    # 0.1 mAh / 192 mAh/g = 0.521 mg; FACTS: cycling window; i_max defaults to 5C (500 uA).
    assert p.lines[:3] == ["cell 100000 521", "window 2600000 4100000",
                           "limits 2500000 4150000 500000 720000"]
    assert p.lines[3:] == ["repeat 1", "rest 1", "end"]
    assert "diag" not in p.lines
    text, _ = _toml(["Rest for 1 s"], top="diagnostic = true\n",
                    limits='v_min = "2.7 V"\nv_max = 4.0\ni_max = "2 mA"\nstep_max = "10 hours"'
                           '\ncv_min_time = "30 seconds"')
    p = pf.parse(text)
    assert p.lines[:4] == ["cell 100000 521", "window 2700000 4000000",
                           "limits 2500000 4150000 2000000 36000", "diag"]
    assert p.limits["cv_min_s"] == 30


# ---- the shipped protocols ----
def _fields_are_integers(line):
    word, *rest = line.split(" ")
    return word.isalpha() and all(f.lstrip("-").isdigit() for f in rest)


@pytest.mark.parametrize("path", PROTOCOLS, ids=os.path.basename)
def test_shipped_protocol_parses(path):
    p = pf.load(path)
    assert all(_fields_are_integers(x) for x in p.lines)
    assert p.lines.count("end") == len(p.blocks) == sum(x.startswith("repeat ") for x in p.lines)
    assert len(p.origins) == len(p.lines)
    with open(path) as f:
        file_lines = f.read().splitlines()
    for s in p.steps:  # each step points at the line of the file that holds it
        assert s["source"] in file_lines[s["line"] - 1]
        assert p.lines[s["compact_index"]] == s["compact"]
        assert p.notes[s["compact_index"]] == s["source"]
    assert p.cell["name"] and p.cycle_count == len(p.cycle_rates())
    fw = fw_protocol.load(p.lines, 20_000_000, pf.I_FLOOR_NA)  # the board accepts it too
    assert len(fw.steps) == len(p.steps) and [b.repeat for b in fw.blocks] == [
        b["repeat"] for b in p.blocks]


def test_protocols_ship():
    names = {os.path.basename(x) for x in PROTOCOLS}
    assert {"fig4_rate_test.toml", "tofsims.toml", "raman.toml", "fig5_cv_comparison.toml",
            "quick.toml", "cv_diagnostic.toml"} <= names


def _runs(rates):
    out = []
    for r in rates:
        if not out or out[-1][0] != r:
            out.append([r, 0])
        out[-1][1] += 1
    return [tuple(x) for x in out]


def test_fig4_rate_test_follows_the_paper():
    p = pf.load(pf.resolve("fig4_rate_test"))
    rates = [c for c, d in p.cycle_rates()]
    assert rates == [d for c, d in p.cycle_rates()]
    assert len(rates) == 200  # FACTS: fig4, "about 200 in all"
    seq = [r for r, n in _runs(rates[:70])]
    # FACTS: rate sequence of the fig4 cell (Fig. 4E/F)
    assert seq == ["C/50", "C/20", "C/10", "C/5", "C/3", "C/2", "1C", "C/10", "2C", "3C",
                   "C/10", "C/5", "C/3", "C/2", "1C"]
    assert set(rates[70:]) == {"1C"}
    assert p.cell["capacity_nAh"] == 83900  # FACTS: fig4
    holds = {(s["v_uV"], s["rate_label"]) for s in p.steps if s["kind"] == "cv"}
    assert holds == {(4100000, "C/46"), (2600000, "C/24")}  # FACTS: termination currents


def test_paper_cells_and_sequences():
    p = pf.load(pf.resolve("tofsims"))
    assert _runs([c for c, d in p.cycle_rates()]) == [("C/50", 3), ("C/20", 3), ("C/10", 3),
                                                      ("C/5", 1)]
    assert p.cell["capacity_nAh"] == 955000
    p = pf.load(pf.resolve("raman"))
    assert _runs(p.cycle_rates()) == [(("C/20", "C/20"), 10)]
    assert {s["kind"] for s in p.steps} == {"cc", "cv"}
    p = pf.load(pf.resolve("fig5_cv_comparison"))
    a, b = p.blocks
    assert a["repeat"] == b["repeat"] and p.cell["capacity_nAh"] == 218000
    kinds = [[p.steps[k]["kind"] for k in blk["steps"]] for blk in (a, b)]
    assert "cv" in kinds[0] and "cv" not in kinds[1]
    p = pf.load(pf.resolve("cv_diagnostic"))
    assert p.diagnostic and "diag" in p.lines
    assert [s["compact"] for s in p.steps if s["kind"] == "sweep"] == [
        "sweep 2000000 4500000 100 10"]  # FACTS: cyclic voltammetry 2.0-4.5 V, 5 cycles


# ---- PyBaMM as a second opinion ----
def _pybamm_numbers(step):
    """(kind, magnitude in our units, duration s or None, end value in our units or None)."""
    import pybamm

    s = pybamm.step.string(step)
    name = type(s).__name__
    dur = None if s.uses_default_duration else s.duration
    end = None
    if s.termination:
        t = s.termination[0]
        scale = {"VoltageTermination": 1e6, "CurrentTermination": 1e9}.get(type(t).__name__)
        end = t.value * scale if scale else ("C", t.value)
    return name, s.value, dur, end


@pytest.mark.parametrize("path", PROTOCOLS, ids=os.path.basename)
def test_shipped_steps_parse_in_pybamm(path):
    import pybamm

    p = pf.load(path)
    for s in p.steps:
        if s["kind"] == "sweep":
            assert s["pybamm"] is None
            continue
        if s["ext"]:  # uA or kOhm: PyBaMM refuses the words, takes our rewrite
            with pytest.raises(ValueError):
                pybamm.step.string(s["source"])
        else:
            assert s["pybamm"] == s["source"]
        pybamm.step.string(s["pybamm"])
    if not any(s["kind"] == "sweep" for s in p.steps):
        exp = pybamm.Experiment(p.pybamm_cycles())
        assert len(exp.cycle_lengths) == p.cycle_count


@pytest.mark.parametrize("step,compact", GOOD)
def test_good_steps_agree_with_pybamm(step, compact):
    s = pf.parse_step(step, CAP_NAH)
    name, value, dur, end = _pybamm_numbers(s["pybamm"])
    assert (dur or 0) == s["t_max_s"] or (s["kind"] == "rest" and dur == s["t_s"])
    if s["kind"] == "cc":
        assert name == ("CRate" if s["rate"] is not None else "Current")
        # PyBaMM: positive = discharge; C-rates stay C-rates, currents are in A.
        ours = -s["i_nA"] / CAP_NAH if s["rate"] is not None else -s["i_nA"] / 1e9
        assert value == pytest.approx(ours, rel=1e-4)
        if end is not None:
            assert end == pytest.approx(s["until_uV"])
    elif s["kind"] == "cv":
        assert name == "Voltage" and value * 1e6 == pytest.approx(s["v_uV"])
        if end is not None:
            if isinstance(end, tuple):  # a C-rate end stays a C-rate in PyBaMM
                assert end[1] == pytest.approx(s["i_end_nA"] / CAP_NAH, rel=1e-3)
            else:
                assert end == pytest.approx(s["i_end_nA"], rel=1e-3)
    elif s["kind"] == "cr":
        assert name == "Resistance" and value == pytest.approx(s["r_ohm"])
    else:
        assert name == "Rest"


# ---- generated step strings round-trip to the right numbers ----
_num = st.decimals(min_value=Fraction(1, 100), max_value=50, places=2).map(
    lambda d: format(d.normalize(), "f"))
_volt = st.integers(2600, 4100).map(lambda mv: "%d.%03d" % divmod(mv, 1000))
_time = st.tuples(st.integers(1, 600), st.sampled_from(sorted(pf._TIME)))
_sp = st.sampled_from(["", " "])


@st.composite
def _cc_step(draw):
    verb = draw(st.sampled_from(["Charge", "Discharge"]))
    kind = draw(st.sampled_from(["C/", "xC", "mA", "uA"]))
    if kind == "C/":
        n = draw(st.integers(1, 76))
        val, i_nA = "C/%d" % n, Fraction(CAP_NAH, n)
    elif kind == "xC":
        x = draw(st.sampled_from(["0.5", "1", "2", "3", "0.25", "1.5"]))
        val, i_nA = x + draw(_sp) + "C", Fraction(x) * CAP_NAH
    else:
        x = draw(_num)
        i_nA = Fraction(x) * (10**6 if kind == "mA" else 10**3)
        if kind == "mA":
            i_nA = min(i_nA, 500_000)  # stay under the default i_max (5C)
            x = str(float(i_nA / 10**6))
        val = x + draw(_sp) + kind
    text = "%s at %s" % (verb, val)
    t = draw(st.one_of(st.none(), _time))
    v = draw(st.one_of(st.none(), _volt))
    if t is None and v is None:
        v = "4.1" if verb == "Charge" else "2.6"
    if t is not None:
        text += " for %d %s" % t
    if v is not None:
        text += (" or until " if t is not None and draw(st.booleans()) else " until ") + v + \
            draw(_sp) + "V"
    sign = 1 if verb == "Charge" else -1
    until = int(Fraction(v) * 10**6) if v else (4_100_000 if sign > 0 else 2_600_000)
    t_s = t[0] * pf._TIME[t[1]] if t else 0
    return text, sign, i_nA, until, t_s, kind == "uA"


@settings(max_examples=150, deadline=None)
@given(_cc_step())
def test_generated_cc_steps_round_trip(case):
    text, sign, i_nA, until, t_s, ext = case
    s = pf.parse_step(text, CAP_NAH)
    assert s["kind"] == "cc"
    assert abs(s["i_nA"] - sign * i_nA) <= Fraction(1, 2)
    assert s["i_nA"] * sign > 0
    assert (s["until_uV"], s["t_max_s"]) == (until, t_s)
    assert s["compact"] == "cc %d %d %d" % (s["i_nA"], until, t_s)
    assert s["ext"] == ext
    # and PyBaMM reads the same numbers from the same words (or from our rewrite)
    name, value, dur, end = _pybamm_numbers(s["pybamm"])
    assert (dur or 0) == t_s
    ours = float(-sign * i_nA / CAP_NAH) if name == "CRate" else float(-sign * i_nA / 10**9)
    assert value == pytest.approx(ours, rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(_volt, st.one_of(st.integers(1, 76).map(lambda n: ("C/%d" % n, Fraction(CAP_NAH, n))),
                        st.integers(1, 400).map(lambda u: ("%d uA" % u, Fraction(u * 1000)))),
       st.one_of(st.none(), _time))
def test_generated_holds_round_trip(v, end, t):
    text = "Hold at %s V" % v
    if t is not None:
        text += " for %d %s or" % t
    text += " until " + end[0]
    s = pf.parse_step(text, CAP_NAH)
    t_s = t[0] * pf._TIME[t[1]] if t else 0
    i_end = math.floor(end[1] + Fraction(1, 2))  # half up, as units.rate_to_nA rounds
    assert s["compact"] == "cv %d %d %d 0" % (int(Fraction(v) * 10**6), i_end, t_s)


@settings(max_examples=50, deadline=None)
@given(_time)
def test_generated_rests_round_trip(t):
    s = pf.parse_step("Rest for %d %s" % t, CAP_NAH)
    assert s["compact"] == "rest %d" % (t[0] * pf._TIME[t[1]])


# ---- the command ----
def test_cycler_validate_prints_the_compact_form(capsys):
    assert cli.main(["validate", "quick"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == pf.load(pf.resolve("quick")).lines
    assert cli.main(["validate", "quick", "--explain"]) == 0
    assert "Charge at C/2 until 4.1 V" in capsys.readouterr().out


def test_cycler_validate_refuses_with_exit_2(tmp_path, capsys):
    text, first = _toml(["Charge at C/10 until 4.1 V", "Charge at C/10 untl 4.1 V"])
    f = tmp_path / "bad.toml"
    f.write_text(text)
    assert cli.main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml:%d:" % (first + 1) in err and "untl" in err
    assert cli.main(["validate", str(tmp_path / "missing.toml")]) == 2


def test_more_steps_than_the_board_holds_is_refused():
    steps = ["Rest for %d s" % (k + 1) for k in range(fw_protocol.MAX_STEPS + 1)]
    text, first = _toml(steps)
    with pytest.raises(pf.ProtocolError, match="more than 256 steps") as ei:
        pf.parse(text, "t.toml")
    assert ei.value.line == first + fw_protocol.MAX_STEPS
