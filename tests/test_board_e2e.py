"""The deployed firmware on the virtual board, driven like a real one: a run started
over the wire delivers current; Ctrl-C (what mpremote sends to reach the REPL) does
nothing during a run and, once the run is stopped, reaches the REPL with the output
off; `cycler console` talks the wire protocol."""
import os
import subprocess
import sys
import time

import pytest
import serial

from host_tools import protocol_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import host_tools  # noqa: E402,F401  (the board-side folders on sys.path)
import wire_read  # noqa: E402


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
    if not wire_read.is_record(line):
        return False
    try:
        kind, f = wire_read.decode(line)
    except ValueError:
        return False
    return kind == "T" and f[2] == 2 and f[7] > 1000  # running, I > 1 uA


def _mpremote_exec(port, code, timeout=60):
    """mpremote's exec; None if it was still waiting for the raw REPL after timeout s
    (it keeps waiting while the board keeps sending records)."""
    try:
        return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "resume",
                               "exec", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def test_console_command_answers(deployed_board):
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "console", "--port",
                        deployed_board.port], input="status\nhelp load\nbogus\n:quit\n",
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    out = r.stdout + r.stderr
    assert "ok status" in out and "state=idle" in out, out
    assert "ok help" in out, out
    assert "error bogus" in out and "unknown command" in out, out


def test_the_host_s_first_status_survives_a_reboot_under_way(tmp_path):
    """`cycler run` asks `status` right after deploy's reset; what a rebooting board is
    sent is lost (the CI run that failed: "no reply to 'status' within 5 s"). hello
    asks again once the board says `ok boot`: asked while the board is down, it is
    answered, again and again."""
    import boardtest
    from host_tools import link
    with boardtest.deployed_board(tmp_path / "board", cell="fig4", speed=300) as sb:
        b = link.Board(link.open_port(sb.port))
        try:
            assert b.hello()["state"] == "idle"
            for _ in range(3):
                boots = sb.boots
                sb.restart()                      # the firmware process ends...
                assert b.hello()["state"] == "idle"   # ...asked at once, answered
                assert sb.boots == boots + 1
        finally:
            b.port.close()


# last: it leaves the shared board at the REPL
@pytest.mark.slow
def test_ctrl_c_does_nothing_during_a_run_and_reaches_the_repl_once_it_is_stopped(
        deployed_board):
    """A run is never interrupted by a byte on the wire (micropython.kbd_intr(-1)):
    a stray 0x03, or mpremote's Ctrl-C, leaves it running with the output on. After
    `abort` the loop restores Ctrl-C: mpremote reaches the REPL, the output is off."""
    port = deployed_board.port
    parsed = protocol_file.load(protocol_file.resolve("quick"))
    with serial.Serial(port, timeout=0.2) as s:
        _wait_ready(s)
        s.write(b"rate 1000\nload\n" + "\n".join(parsed.lines).encode() + b"\nend\nstart\n")
        _read_until(s, lambda t: t.startswith("ok start"))
        _read_until(s, _charging)      # current flows
        s.write(b"\x03\x03\r\x03\x01")   # what mpremote sends to reach the raw REPL
        time.sleep(1.0)
        s.write(b"\nstatus\n")
        st = _read_until(s, lambda t: t.startswith("ok status"))
        assert "state=running" in st and "out=on" in st, st
        _read_until(s, _charging)      # and it still drives the cell
    r = _mpremote_exec(port, "print('OUT', RUNTIME.fe.model.on)", timeout=6)
    assert r is None or (r.returncode != 0 and "OUT" not in r.stdout), r.stdout + r.stderr
    with serial.Serial(port, timeout=0.2) as s:
        s.write(b"\nabort\n")
        _read_until(s, lambda t: t.startswith("ok abort"))
        time.sleep(0.5)                # a tick: Ctrl-C is back
    r = _mpremote_exec(port, "print('OUT', RUNTIME.fe.model.on, RUNTIME.ch.state_name())")
    assert r is not None and r.returncode == 0, r and (r.stdout + r.stderr)
    assert "OUT False done" in r.stdout, r.stdout
