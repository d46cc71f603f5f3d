"""The `cycler` command in a terminal, used as a person uses it: 80 and 160 columns,
Ctrl-C then one key, a pipe into `head`. Everything drawn must fit the terminal; a
wide one shows more. The terminal is a real pty (tests/pty_term.py)."""
import json
import os
import subprocess
import sys

import pytest

from pty_term import Terminal, lines, plain

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CYCLER = [sys.executable, "-m", "host_tools.cli"]


def _env(registry=None):
    e = dict(os.environ, PYTHONPATH=ROOT)
    if registry is not None:
        e["CYCLER_SIMBOARD_REGISTRY"] = str(registry)
    return e


def _fits(text, cols):
    long = [ln for ln in lines(text) if len(ln) > cols]
    assert not long, "wider than %d columns:\n%s" % (cols, "\n".join(long))


def _run_and_press(tmp_path, cols, key, before=""):
    """`cycler run` of the quick protocol on a virtual board in a terminal `cols` wide;
    once the view shows cycle 1 of 3: type `before`, Ctrl-C, check the view goes on,
    then `key`."""
    t = Terminal(CYCLER + ["run", "quick", "--out", "o", "--tick-ms", "1000",
                           "--speed", "1000", "--no-plot"],
                 cols=cols, cwd=str(tmp_path), env=_env(tmp_path / "registry"))
    try:
        t.wait_for(r"1/3", 90)
        if before:
            t.press(before)
            t.read(0.5)
        t.press(b"\x03")
        t.wait_for(r"press s to stop the cell safely, d to detach", 15)
        # the view keeps drawing while the question waits for its key
        first = t.wait_for(r"(\d+m\d\ds)", 10).group(1)
        t.wait_for(r"(?!%s)\d+m\d\ds" % first, 15)
        t.press(key)
        status = t.wait(90)
    finally:
        t.close()
    return status, t.out


@pytest.mark.slow
def test_run_at_80_columns_ctrl_c_then_s_stops_and_says_so(tmp_path):
    status, out = _run_and_press(tmp_path, 80, "s")
    assert status == 0, plain(out[-2000:])
    _fits(out, 80)
    text = plain(out)
    assert "cycle" in text and "ETA" in text and "elapsed" in text
    assert " uA " in text or " nA " in text or " mA " in text
    assert "chg mAh" not in text           # no room for it in 80 columns
    assert "o: stopped;" in text           # the summary
    with open(tmp_path / "o" / "log_state.json") as f:
        assert json.load(f)["finished"] == "stopped"


@pytest.mark.slow
def test_run_at_160_columns_shows_more_and_d_detaches(tmp_path):
    # an `s` typed before Ctrl-C is not taken as the answer: the `d` after it is
    status, out = _run_and_press(tmp_path, 160, "d", before="s")
    _fits(out, 160)
    text = plain(out)
    assert "chg mAh" in text and "records" in text   # a wide terminal shows more
    assert "o: detached;" in text and "re-attach with: cycler log" in text
    with open(tmp_path / "o" / "log_state.json") as f:
        assert json.load(f)["finished"] is None      # nothing ended: the log can go on


def test_help_is_for_users_and_fits_80_columns():
    t = Terminal(CYCLER + ["--help"], cols=80, env=_env())
    try:
        t.wait(30)
    finally:
        t.close()
    _fits(t.out, 80)
    text = plain(t.out)
    assert "examples:" in text and "cycler run protocols/quick.toml" in text
    assert "add_arguments" not in text       # not the developer's docstring
    r = subprocess.run(CYCLER + ["--version"], capture_output=True, text=True, env=_env(),
                       timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("cycler 0.")


def test_validate_explain_into_head_ends_quietly(tmp_path):
    # A long protocol: more lines than head takes and more than a pipe buffers.
    steps = ", ".join('"Rest for %d minutes"' % (k + 1) for k in range(200))
    f = tmp_path / "long.toml"
    f.write_text('name = "long"\n[cell]\ncapacity_mAh = 0.1\n[[block]]\nrepeat = 1\n'
                 'steps = [%s]\n' % steps)
    r = subprocess.run("%s -m host_tools.cli validate %s --explain | head -3"
                       % (sys.executable, f), shell=True, capture_output=True, text=True,
                       env=_env(), timeout=60)
    assert len(r.stdout.splitlines()) == 3
    assert "BrokenPipeError" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("cell, ok", [("fig4", True), ("fig44", False)])
def test_validate_refuses_an_unknown_cell_like_run(tmp_path, cell, ok):
    f = tmp_path / "c.toml"
    f.write_text('name = "c"\n[cell]\nname = "%s"\ncapacity_mAh = 0.1\n[[block]]\n'
                 'steps = ["Hold at 4.1 V until 800 nA"]\n' % cell)
    r = subprocess.run(CYCLER + ["validate", str(f)], capture_output=True, text=True,
                       env=_env(), timeout=60)
    assert (r.returncode == 0) == ok, r.stderr
    if ok:
        assert "cv 4100000 800 " in r.stdout           # nA in the grammar, kept exactly
    else:
        assert "unknown cell 'fig44' (did you mean 'fig4'?)" in r.stderr


def test_50_nA_is_grammar_and_the_floor_is_the_boards(tmp_path):
    f = tmp_path / "n.toml"
    f.write_text('name = "n"\n[cell]\ncapacity_mAh = 0.1\n[[block]]\n'
                 'steps = ["Hold at 4.1 V until 50 nA"]\n')
    r = subprocess.run(CYCLER + ["validate", str(f), "--i-floor-nA", "50"],
                       capture_output=True, text=True, env=_env(), timeout=60)
    assert r.returncode == 0 and "cv 4100000 50 " in r.stdout, r.stderr
    r = subprocess.run(CYCLER + ["validate", str(f)], capture_output=True, text=True,
                       env=_env(), timeout=60)
    assert r.returncode == 2 and "below the 500 nA" in r.stderr   # the control


@pytest.mark.parametrize("cols", [80, 160])
def test_ports_fits_the_terminal(tmp_path, cols):
    import pty
    reg = tmp_path / "registry"
    reg.mkdir()
    m, s = pty.openpty()
    try:
        (reg / "a.json").write_text(json.dumps({
            "port": os.ttyname(s), "pid": os.getpid(), "started": 0, "cell": "fig4",
            "speed": 100000, "link": "/tmp/cycler-simboard-123456-0",
            "dir": "/tmp/cycler-board-" + "x" * 40}))
        t = Terminal(CYCLER + ["ports"], cols=cols, env=_env(reg))
        try:
            assert t.wait(30) == 0
        finally:
            t.close()
    finally:
        os.close(m)
        os.close(s)
    _fits(t.out, cols)
    assert "virtual board" in plain(t.out)


def test_ctrl_c_while_starting_ends_quietly_and_leaves_no_board(tmp_path):
    reg = tmp_path / "registry"
    t = Terminal(CYCLER + ["run", "quick", "--out", "o", "--no-plot"], cols=80,
                 cwd=str(tmp_path), env=_env(reg))
    try:
        t.wait_for(r"deploying the firmware", 60)
        t.press(b"\x03")
        status = t.wait(60)
    finally:
        t.close()
    text = plain(t.out)
    assert status != 0 and "Traceback" not in text, text[-2000:]
    assert not list(reg.glob("*.json"))      # the virtual board it started is gone
