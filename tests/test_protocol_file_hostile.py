"""Protocol files from an attacker or a clumsy hand (issue 10): the size and nesting are
checked before parsing, any text or bytes ends in a ProtocolError naming the file (never
a traceback), and the time grows linearly with the number of steps."""
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools import protocol_file as pf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = open(os.path.join(ROOT, "protocols", "quick.toml")).read()
_BIN = os.path.join(tempfile.mkdtemp(prefix="protocol-bytes-"), "bin.toml")


def _refused(text, what=None):
    with pytest.raises(pf.ProtocolError) as e:
        pf.parse(text, "t.toml")
    if what:
        assert what in str(e.value), str(e.value)
    return e.value


def test_the_issue_inputs_are_refused_without_a_traceback():
    base = QUICK
    _refused(base.replace("capacity_mAh = 0.0839", "capacity_mAh = inf"), "capacity_mAh")
    _refused(base.replace("capacity_mAh = 0.0839", "capacity_mAh = nan"), "capacity_mAh")
    _refused("x = " + "[" * 5000 + "]" * 5000 + "\n" + base, "nested")
    _refused("x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n" + base, "nested")
    _refused(base.replace("capacity_mAh = 0.0839", "capacity_mAh = " + "9" * 5001))
    _refused("a" * (pf.MAX_FILE_BYTES + 1), "larger than")


def test_control_the_shipped_protocol_and_moderate_nesting_pass_the_guards():
    p = pf.parse(QUICK, "quick.toml")
    assert p.lines
    # nesting within the limit is not refused for its nesting (unknown key instead)
    e = _refused("x = " + "[" * 5 + "]" * 5 + "\n" + QUICK)
    assert "nested" not in str(e) and "unknown key" in str(e), str(e)
    # nor are brackets inside strings and comments counted
    import re
    text = re.sub(r'(?m)^description = ".*"$', 'description = "%s"  # %s'
                  % ("[" * 100, "{" * 100), QUICK)
    assert text != QUICK
    pf.parse("# " + "[" * 50 + "\n" + text, "q.toml")


def _steps_file(n):
    return QUICK.split("[[block]]")[0] + "[[block]]\nrepeat = 1\nsteps = [\n" + \
        '"Rest for 1 minute",\n' * n + "]\n"


def test_too_many_steps_is_refused_before_the_steps_are_read(monkeypatch):
    # count the per-step work: no step is parsed once the count is over the table
    calls = []
    real = pf.parse_step
    monkeypatch.setattr(pf, "parse_step", lambda *a, **k: calls.append(1) or real(*a, **k))
    e = _refused(_steps_file(5000), "steps")
    assert len(calls) == 0, len(calls)
    assert "256" in str(e)
    # control: within the table, each step is parsed once
    pf.parse(_steps_file(200), "ok.toml")
    assert len(calls) == 200


_toml_atoms = st.one_of(
    st.sampled_from(["[cell]", "[limits]", "[[block]]", "[block]", "name = \"x\"",
                     "capacity_mAh = 0.0839", "capacity_mAh = inf", "repeat = 5",
                     "repeat = 99999999999", "steps = [\"Rest for 1 hour\"]", "steps = []",
                     "steps = [1, 2]", "v_trip_hi = 1000", "i_max = \"99 A\"",
                     "diagnostic = true", "x = [[[[]]]]", "a = {b = {c = 1}}", "\"", "'''",
                     "steps = [\"Charge at 10C until 4.9 V\"]", "v_min = -1", "= 3",
                     "step_max = \"1e400 hours\"", "active_mass_mg = 1e308"]),
    st.text(max_size=40))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_toml_atoms, max_size=25))
def test_any_toml_like_text_parses_or_is_refused(atoms):
    text = "\n".join(atoms)
    try:
        pf.parse(text, "h.toml")
    except pf.ProtocolError as e:
        assert str(e).startswith("h.toml"), str(e)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_load_or_are_refused(data):
    path = _BIN
    with open(path, "wb") as f:
        f.write(data)
    try:
        pf.load(path)
    except pf.ProtocolError as e:
        assert str(e).startswith(path), str(e)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=30), st.integers(0, 40))
def test_mutations_of_a_shipped_file_parse_or_are_refused(piece, at):
    lines = QUICK.splitlines()
    k = at % len(lines)
    lines[k] = lines[k][: len(lines[k]) // 2] + piece
    try:
        p = pf.parse("\n".join(lines), "m.toml")
    except pf.ProtocolError:
        return
    # accepted: then it is within the board's absolute limits (the firmware validator)
    import protocol as fw
    q = fw.load(p.lines, pf.CHANNEL_I_MAX_NA, pf.I_FLOOR_NA)
    lo, hi = ((fw.ABS_DIAG_TRIP_LO_UV, fw.ABS_DIAG_TRIP_HI_UV) if q.diag
              else (fw.ABS_TRIP_LO_UV, fw.ABS_TRIP_HI_UV))
    assert lo <= q.trip_lo_uV and q.trip_hi_uV <= hi
