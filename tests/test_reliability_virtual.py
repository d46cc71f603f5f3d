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

from host_tools import deploy, simboard

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
    return boardtest.connect(b.port, T)


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


def _write_all(port, data, chunk=16384):
    """Write without reading (pyserial blocks while the pty is full)."""
    for k in range(0, len(data), chunk):
        port.write(data[k:k + chunk])


def _burst(seed, size, extra=()):
    rng = random.Random(seed)
    # every byte a USB CDC port passes, signal characters included (0x03 Ctrl-C, 0x1a
    # Ctrl-Z, 0x1c Ctrl-\, 0x04 Ctrl-D, XON/XOFF, ...): the board sees them as bytes
    lines = hostile_lines(rng, 2000) + list(extra)
    rng.shuffle(lines)
    data = ("\n".join(lines) + "\n").encode("latin-1")
    while len(data) < size:
        data += data[:size - len(data)]
    return lines, data


HOSTILE_EXTRA = ["garbage-not-a-command-\x1astop", "garbage-\x1cabort", "\x03", "\x03\x03",
                 "\x04", "\x1a", "\x1c", "\x11\x13stop-", "x\x03abort", "\x00stop"]


def _drain(bd, marker="drain-marker-7741"):
    """Read up to the answer to a unique line: no reply held from before is then taken
    for the answer to the next command."""
    end = time.monotonic() + T
    bd.port.write(b"\n" + marker.encode() + b"\n")
    buf = b""
    while marker.encode() + b":" not in buf:
        assert time.monotonic() < end, "no answer to the marker: %r" % buf[-300:]
        buf = buf[-4000:] + bd.port.read(max(1, bd.port.in_waiting))
    bd.pending.clear()


def _check_still_running(bd, i0, what):
    st = bd.status(timeout=20)
    assert st["state"] == "running" and st["out"] == "on", (what, st)
    # the same step; its command trims the output's error, within 1/8 of the current
    assert st["step"] == "2" and abs(int(st["out_i_nA"]) - i0) <= i0 // 8, (what, st)
    return st


def test_hostile_burst_over_the_pty_changes_nothing(board):
    """All bytes, signal characters included, 100 kB written without reading: the
    run goes on unchanged, the firmware process is not restarted."""
    bd = _connect(board)
    try:
        st = _start_in_cc(bd)
        i0 = int(st["out_i_nA"])
        boots = board.boots
        lines, data = _burst(99, 100000, HOSTILE_EXTRA)
        assert all(c in data for c in (b"\x03", b"\x1a", b"\x1c", b"\x04", b"\x11", b"\x13"))
        bd.poll()
        bd.pending.clear()     # records from before the CC step
        _write_all(bd.port, data)
        bd.port.write(b"\n")
        time.sleep(1.0)
        st = _check_still_running(bd, i0, "after the burst")
        assert board.boots == boots, "the firmware process was restarted"
        bd.poll()
        currents = [r["i_nA"] for r in bd.pending if r.kind == "T" and r["step"] == 2]
        assert len(currents) >= 2 and all(abs(i - i0) < i0 // 10 for i in currents), currents
    finally:
        bd.close()


def test_control_a_real_stop_in_the_same_burst_stops_the_run(board):
    """The burst test can see a run stopped: the same bytes with one real `stop`."""
    bd = _connect(board)
    try:
        _start_in_cc(bd)
        _lines, data = _burst(99, 20000, HOSTILE_EXTRA)
        _write_all(bd.port, data + b"\nstop\n")
        st = _wait(bd, lambda s: s["state"] == "done", "the stop was not obeyed")
        assert st["out"] == "off", st
    finally:
        bd.close()


@pytest.mark.slow
def test_a_megabyte_flood_while_the_host_does_not_read(board):
    """1 MB of commands and garbage while the host reads nothing for a while (replies
    and telemetry pile up): the board drops and counts them, the run goes on, status
    answers after. Before issue 10, ~4 kB exhausted the heap (MemoryError, REPL)."""
    bd = _connect(board)
    try:
        _start_in_cc(bd)
        boots = board.boots
        chunk = (b"status\n" * 100 + b"x\n" * 200 + b"\x03\x1a\x1c" + b"y" * 300 + b"\n")
        data = chunk * (1000000 // len(chunk) + 1)
        sent = board._relay.to_fw_total + len(data)
        _write_all(bd.port, data)          # blocks while the board's input is full
        end = time.monotonic() + T
        while board._relay.to_fw_total < sent:   # the board takes it all in, unread
            assert time.monotonic() < end, "the board stopped reading its input"
            time.sleep(0.2)
        time.sleep(1.0)
        _drain(bd)                         # the host comes back: what was held, read
        # ~25 s at 50x: the charge went on (into its CV hold, perhaps), nothing else
        st = bd.status(timeout=20)
        assert st["state"] == "running" and st["out"] == "on", st
        assert st["step"] in ("2", "3") and "fault" not in st, st
        assert board.boots == boots, "the firmware process was restarted"
        assert int(st["dropped_replies"]) > 10000, st
        assert "crash" not in st, st
        print("\n1 MB flood: dropped_replies=%s dropped_records=%s"
              % (st["dropped_replies"], st["dropped_records"]))
    finally:
        bd.close()


def test_the_hostile_load_over_the_wire_is_refused_by_the_board(board):
    """The firmware's own validator, not the host tools: the issue's hostile `load`
    (trip at 1000 V, window to 4.9 V, 10C) sent as raw lines is refused; `start` does
    nothing. Control: the same lines with trips within the limits load."""
    bd = _connect(board)
    try:
        hostile = ["load 5", "cell 83900 437", "window 2600000 4900000",
                   "limits 2500000 1000000000 20000000 1000", "cc 839000 4900000 0",
                   "cv 4900000 500 0 0"]
        bd.port.write(("\n".join(hostile) + "\nstart\n").encode())
        buf = b""
        end = time.monotonic() + T
        while b"error start" not in buf:
            assert time.monotonic() < end, buf[-500:]
            buf += bd.port.read(max(1, bd.port.in_waiting))
        assert b"error load 5: hard trips" in buf and b"absolute limits" in buf, buf[-800:]
        st = bd.status()
        assert st["state"] == "idle" and st["out"] == "off", st
        ok = ["cell 83900 437", "window 2600000 4100000",
              "limits 2500000 4150000 20000000 1000", "cc 839000 4100000 0"]
        bd.load(ok)
        assert bd.status()["state"] == "loaded"
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


@pytest.mark.slow
def test_a_reset_during_cycler_run_repeats_no_record_number_and_is_in_gaps(tmp_path, registry):
    """The issue's reproduction: `cycler run`, the firmware killed in step 3 (its
    logger never saw a boot record), `resume`, `cycler log` to the end: every record
    number once, the restart in gaps.txt, every step in steps.csv once."""
    import test_run_log as trl
    b = simboard.SimBoard(str(tmp_path / "board"), cell="fig4", speed=300, tick_ms=1000)
    port = b.start()
    p = None
    try:
        deploy.deploy(port, "sim", log=lambda s: None, timeout=T)
        proto = trl._protocol(tmp_path, 20)
        out = str(tmp_path / "out")
        p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "run", str(proto),
                              "--port", port, "--out", out, "--no-plot", "--quiet"], cwd=ROOT,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        end = time.monotonic() + 3 * T
        while len(trl._rows(os.path.join(out, "steps.csv"))) < 2:
            assert time.monotonic() < end and p.poll() is None, "step 2 never ended"
            time.sleep(0.1)
        boots = b.boots
        b.restart()                       # kill -9 the firmware in step 3 (the rest)
        while b.boots == boots:
            assert time.monotonic() < end, "the board did not come back"
            time.sleep(0.1)
        time.sleep(2.0)                   # the logger sees the board's new records
        p.kill()
        p.wait(T)
        bd = _connect(b)
        try:
            assert bd.status()["state"] == "paused"
            bd.command("resume")
        finally:
            bd.close()
        r = trl._cli("log", "--port", port, "--out", out, "--quiet", timeout=3 * T)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        if p is not None and p.poll() is None:
            p.kill()
        b.stop()
    seqs = trl._all_seqs(out)
    dup = [s for s, n in collections.Counter(seqs).items() if n > 1]
    assert not dup, "written twice: %s" % dup[:10]
    gaps = open(os.path.join(out, "gaps.txt")).read()
    assert "restarted" in gaps, gaps
    steps = trl._rows(os.path.join(out, "steps.csv"))
    assert [int(s["step"]) for s in steps] == list(range(1, 7)), steps
