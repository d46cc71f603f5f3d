"""The deployed firmware on the virtual board, driven like a real one: a run started
over the wire delivers current; Ctrl-C (what mpremote sends to reach the REPL) stops
the loop with the output switched off and the REPL answering; `cycler console` talks
the wire protocol."""
import os
import subprocess
import sys
import time

import serial

from host_tools import protocol_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import host_tools  # noqa: E402,F401  (the board-side folders on sys.path)
import wire  # noqa: E402


def _read_until(s, pred, timeout=30.0):
    buf = b""
    end = time.time() + timeout
    while time.time() < end:
        buf += s.read(4096)
        *lines, rest = buf.split(b"\n")
        for line in lines:
            t = line.strip().decode(errors="replace")
            if pred(t):
                return t
        buf = rest
    raise AssertionError("timed out; last: %r" % buf[-600:])


def _wait_ready(s, timeout=30.0):
    """Bytes sent while the board still boots (deploy resets it) are lost, as on a real
    board: ask `version` until the loop answers, then talk."""
    end = time.time() + timeout
    while time.time() < end:
        s.write(b"version\n")
        try:
            _read_until(s, lambda t: t.startswith("ok version"), timeout=1.0)
            return
        except AssertionError:
            pass
    raise AssertionError("the board never answered `version`")


def _charging(line):
    if not wire.is_record(line):
        return False
    try:
        kind, f = wire.decode(line)
    except ValueError:
        return False
    return kind == "T" and f[2] == 2 and f[7] > 1000  # running, I > 1 uA


def test_console_command_answers(deployed_board):
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "console", "--port",
                        deployed_board.port], input="status\nhelp load\nbogus\n:quit\n",
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    out = r.stdout + r.stderr
    assert "ok status" in out and "state=idle" in out, out
    assert "ok help" in out, out
    assert "error bogus" in out and "unknown command" in out, out


# last: it leaves the shared board at the REPL
def test_ctrl_c_switches_the_output_off_and_reaches_the_repl(deployed_board):
    port = deployed_board.port
    parsed = protocol_file.load(protocol_file.resolve("quick"))
    with serial.Serial(port, timeout=0.2) as s:
        _wait_ready(s)
        s.write(b"rate 1000\nload\n" + "\n".join(parsed.lines).encode() + b"\nend\nstart\n")
        _read_until(s, lambda t: t.startswith("ok start"))
        _read_until(s, _charging)      # current flows
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "resume", "exec",
                        "print('OUT', RUNTIME.fe.model.on, RUNTIME.ch.state_name())"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # the loop is interrupted mid-run: the engine still says running, the output is off
    assert "OUT False running" in r.stdout, r.stdout
