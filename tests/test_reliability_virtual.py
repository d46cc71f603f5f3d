"""End to end on the virtual board (real micropython, the deployed firmware, a pty):
a cell disconnected during CC (injected through the sim board's test-only file), a
watchdog-style reset mid-step (the process killed), a burst of hostile input over the
pty during a run, and the logger pulled and restarted again and again during a run.
Every wait is bounded."""
import collections
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from host_tools import deploy, link, simboard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "boards"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import sim as simcfg  # noqa: E402
import boardtest  # noqa: E402
import safety  # noqa: E402
from test_reliability_hostile import hostile_lines  # noqa: E402

T = 60
# fig4 (FACTS: fig4): a 1C charge long enough to act in, then its hold
PROTO = ["cell 83900 437", "window 2600000 4100000", "limits 2500000 4150000 300000 400000",
         "rest 5", "cc 83900 4100000 0", "cv 4100000 8390 0 0", "rest 5",
         "cc -83900 2600000 0"]


@pytest.fixture
def board(tmp_path, registry):
    with boardtest.deployed_board(tmp_path / "board", timeout=T, cell="fig4", speed=50,
                                  tick_ms=100, telemetry_ms=1000) as b:
        yield b


def _connect(b):
    end = time.monotonic() + T
    while True:
        try:
            bd = link.Board(link.open_port(b.port))
            bd.command("status", timeout=5)
            return bd
        except (link.BoardError, OSError):
            assert time.monotonic() < end, "the board does not answer"
            time.sleep(0.3)


def _wait(bd, pred, what, timeout=T):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = bd.status()
        if pred(st):
            return st
        time.sleep(0.2)
    raise AssertionError("%s: %s" % (what, bd.status()))


def _start_in_cc(bd):
    bd.load(PROTO)
    bd.command("start")
    # into the CC step (step number 2), the output on
    return _wait(bd, lambda s: s["state"] == "running" and s["step"] == "2"
                 and s["out"] == "on", "never reached the CC step")


def test_cell_disconnected_during_cc_is_an_open_circuit_fault(board):
    bd = _connect(board)
    try:
        _start_in_cc(bd)
        with open(os.path.join(board.dir, simcfg.INJECT_FILE), "w") as f:
            f.write("cell_open\n")
        st = _wait(bd, lambda s: s["state"] == "fault", "no fault after the disconnect")
        assert st["out"] == "off" and st["fault"] == "open_circuit", st
        f = [r for r in bd.pending if r.kind == "F"]
        deadline = time.monotonic() + 10
        while not f and time.monotonic() < deadline:
            bd.poll()
            f = [r for r in bd.pending if r.kind == "F"]
        assert f and f[0]["code"] == safety.OPEN_CIRCUIT, list(bd.pending)[-5:]
        # latched: it stays off
        time.sleep(1.0)
        assert bd.status()["out"] == "off"
    finally:
        bd.close()


def test_reset_mid_step_boots_safe_and_resumes_only_on_command(board):
    bd = _connect(board)
    try:
        _start_in_cc(bd)
        # a checkpoint is written at the step boundaries (rest -> cc)
        cp = os.path.join(board.dir, "checkpoint.txt")
        end = time.monotonic() + T
        while not os.path.exists(cp):
            assert time.monotonic() < end
            time.sleep(0.1)
        time.sleep(1.0)
        boots = board.boots
        board.restart()             # the watchdog bites: the process dies mid-step
        end = time.monotonic() + T
        while board.boots == boots:
            assert time.monotonic() < end, "the board did not come back"
            time.sleep(0.1)
        bd.close()
        bd = _connect(board)
        st = bd.status()
        assert st["state"] == "paused" and st["out"] == "off", st
        assert st["step"] == "2", st
        # the B record (asked again with replay 0: it was sent before we connected)
        bd.command("replay 0")
        b = None
        for r in bd.records(timeout=3):
            if r.kind == "B":
                b = r
                break
        # after the cause: the boot count, then the checkpoint: step number, cycle, ...
        assert b is not None and len(b.extra) >= 6 and b.extra[1] == 2, b
        # it waits: still paused, output off, a while later
        time.sleep(1.5)
        st = bd.status()
        assert st["state"] == "paused" and st["out"] == "off", st
        bd.command("resume")
        st = _wait(bd, lambda s: s["state"] == "running" and s["out"] == "on",
                   "did not resume")
        assert st["step"] == "2"
    finally:
        bd.close()


def test_hostile_burst_over_the_pty_changes_nothing(board):
    bd = _connect(board)
    try:
        st = _start_in_cc(bd)
        i0 = int(st["out_i_nA"])
        rng = random.Random(99)
        # bytes a terminal's line discipline would turn into signals (Ctrl-C, Ctrl-Z,
        # Ctrl-\) are left out: a USB CDC port has none, the pty does
        lines = [l for l in hostile_lines(rng, 2600)
                 if not any(c in l for c in "\x03\x1a\x1c\x11\x13\x0f\x16\x12\x17\x15")]
        lines = lines[:2000]
        data = ("\n".join(lines) + "\n").encode("latin-1")
        while len(data) < 100000:
            data += data[:100000 - len(data)]
        sent = 0
        currents = []
        bd.poll()
        bd.pending.clear()     # records from before the CC step
        for k in range(0, len(data), 4096):
            bd.port.write(data[k:k + 4096])
            sent += len(data[k:k + 4096])
            bd.poll()
            for r in list(bd.pending):
                if r.kind == "T" and r["step"] == 2:
                    currents.append(r["i_nA"])
            bd.pending.clear()
        bd.port.write(b"\n")
        time.sleep(1.0)
        st = bd.status(timeout=20)
        assert st["state"] == "running" and st["out"] == "on", st
        assert int(st["out_i_nA"]) == i0, st
        bd.poll()
        currents += [r["i_nA"] for r in bd.pending if r.kind == "T" and r["step"] == 2]
        assert len(currents) >= 2 and all(abs(i - i0) < i0 // 10 for i in currents), currents
        print("\nhostile burst over the pty: %d lines, %d bytes" % (len(lines), sent))
    finally:
        bd.close()


@pytest.mark.slow
def test_logger_pulled_again_and_again_keeps_every_record_once(tmp_path, registry):
    """`cycler run` starts the run; its logger is killed, then `cycler log` is started
    and killed (SIGKILL, the port yanked with it) over and over during the run, then
    left to finish: every record number is in the log exactly once."""
    import test_run_log as trl
    # speed 600: the run lasts at least 14 s of real time (the virtual clock sleeps),
    # the kills below take at most 2 s each
    b = simboard.SimBoard(str(tmp_path / "board"), cell="fig4", speed=600, tick_ms=1000)
    port = b.start()
    p = None
    try:
        deploy.deploy(port, "sim", log=lambda s: None, timeout=T)
        proto = trl._protocol(tmp_path, 5)
        out = str(tmp_path / "out")
        cmd = [sys.executable, "-m", "host_tools.cli"]
        rng = random.Random(5)
        kills = 0
        p = subprocess.Popen(cmd + ["run", str(proto), "--port", port, "--out", out,
                                    "--no-plot", "--quiet"], cwd=ROOT,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        end = time.monotonic() + T
        while not os.path.exists(os.path.join(out, "log_state.json")):
            assert time.monotonic() < end and p.poll() is None, "the run did not start"
            time.sleep(0.05)
        for _ in range(6):
            time.sleep(rng.uniform(0.3, 1.5))
            if p.poll() is not None:
                break            # it finished on its own: the run is over
            p.send_signal(signal.SIGKILL)
            p.wait(T)
            kills += 1
            time.sleep(rng.uniform(0.0, 0.5))    # nobody listens for a while
            p = subprocess.Popen(cmd + ["log", "--port", port, "--out", out, "--quiet"],
                                 cwd=ROOT, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        p.wait(3 * T)
        r = trl._cli("log", "--port", port, "--out", out, "--quiet", timeout=3 * T)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        if p is not None and p.poll() is None:
            p.kill()
        b.stop()
    assert kills >= 3, kills
    seqs = trl._all_seqs(out)
    dup = [s for s, n in collections.Counter(seqs).items() if n > 1]
    assert not dup, "written twice: %s" % dup[:10]
    missing = sorted(set(range(min(seqs), max(seqs) + 1)) - set(seqs))
    assert not missing, "lost: %s" % missing[:10]
    steps = trl._rows(os.path.join(out, "steps.csv"))
    assert len(steps) == 6, steps
    print("\nlogger killed %d times; %d records, each once" % (kills, len(seqs)))
