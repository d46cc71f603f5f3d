"""End to end on the virtual board with the real mpremote deploy: `cycler run` loads and
starts a short protocol, its logger is killed (SIGKILL) mid-run, `cycler log` resumes;
every record number must be in the output exactly once, the cycle in cycles.csv."""
import collections
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import boardtest
from host_tools import simboard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T = 60  # seconds: every wait is bounded
# the virtual clock never sleeps: the board runs as fast as the machine lets it (its
# ring keeps 8192 records, more than a whole run here, for a logger that is away)
FULL_SPEED = 10 ** 6

# fig4 cell (FACTS: fig4), one cycle at 2C with both holds, ended at C/5 to keep the
# test short (the paper's C/46 and C/24 holds run in tests/test_simulate.py).
PROTOCOL = """\
name = "tiny"
[cell]
name = "fig4"
capacity_mAh = 0.0839

[[block]]
label = "2C"
repeat = 1
steps = [
    "Charge at 2C until 4.1 V",
    "Hold at 4.1 V until C/5",
    "Rest for %s minutes",
    "Discharge at 2C until 2.6 V",
    "Hold at 2.6 V until C/5",
    "Rest for %s minutes",
]
"""


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "host_tools.cli"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=kw.pop("timeout", T), **kw)


def _protocol(tmp_path, rest_min):
    p = tmp_path / "tiny.toml"
    p.write_text(PROTOCOL % (rest_min, rest_min))
    r = _cli("validate", str(p))
    assert r.returncode == 0, r.stderr
    return p


_rows = boardtest.rows


def _all_seqs(d):
    seqs = [int(r["Record / 1"]) for r in _rows(os.path.join(d, "timeseries.bdf.csv"))]
    seqs += [int(r["seq"]) for r in _rows(os.path.join(d, "steps.csv"))]
    with open(os.path.join(d, "log_state.json")) as f:
        seqs += json.load(f)["c_seqs"]
    return seqs


@pytest.fixture
def board(tmp_path, registry):
    with boardtest.deployed_board(tmp_path / "board", timeout=T, cell="fig4", speed=FULL_SPEED,
                                  tick_ms=1000) as b:
        yield b


@pytest.mark.slow
def test_logger_killed_mid_run_resumes_exactly_once(board, tmp_path):
    proto = _protocol(tmp_path, 5)
    out = str(tmp_path / "out")
    env = dict(os.environ)
    first = subprocess.Popen(
        [sys.executable, "-m", "host_tools.cli", "run", str(proto), "--port", board.port,
         "--out", out, "--no-plot", "--quiet"], cwd=ROOT, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def a_step_done():
            assert first.poll() is None, first.stdout.read().decode()
            return len(_rows(os.path.join(out, "steps.csv"))) >= 1
        boardtest.wait_progress(a_step_done, lambda: boardtest.tree_bytes(out),
                                "the run did not get going")
        first.send_signal(signal.SIGKILL)   # the logger crashes mid-run
        first.wait(T)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(T)
    steps_at_kill = len(_rows(os.path.join(out, "steps.csv")))
    assert steps_at_kill < 6, "the run ended before the logger was killed"
    time.sleep(0.5)   # records go on while nobody listens (the board discards them)
    r = _cli("log", "--port", board.port, "--out", out, "--quiet", timeout=3 * T)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "done" in r.stdout

    seqs = _all_seqs(out)
    dup = [s for s, n in collections.Counter(seqs).items() if n > 1]
    assert not dup, "written twice: %s" % dup[:10]
    missing = sorted(set(range(min(seqs), max(seqs) + 1)) - set(seqs))
    assert not missing, "lost: %s" % missing[:10]
    steps = _rows(os.path.join(out, "steps.csv"))
    assert [s["end"] for s in steps] == ["voltage", "current", "time", "voltage",
                                         "current", "time"]
    cyc = _rows(os.path.join(out, "cycles.csv"))
    assert [c["cycle"] for c in cyc] == ["1"]
    assert float(cyc[0]["charge_mAh"]) > 0 and float(cyc[0]["discharge_mAh"]) > 0
    assert not os.path.exists(os.path.join(out, "gaps.txt"))
    try:
        from host_tools.plot import plot_dir
    except ImportError:
        return
    for p in plot_dir(out):
        assert os.path.getsize(p) > 0


@pytest.mark.slow
def test_run_without_port_starts_two_virtual_boards(tmp_path, registry):
    proto = _protocol(tmp_path, 1)
    out = tmp_path / "out"
    r = _cli("run", str(proto), "--boards", "2", "--out", str(out), "--speed", str(FULL_SPEED),
             "--tick-ms", "1000", "--quiet", timeout=2 * T)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("cell-1", "cell-2"):
        d = out / name
        assert (d / "protocol.txt").exists() and (d / "protocol.toml").exists()
        cyc = _rows(d / "cycles.csv")
        assert [c["cycle"] for c in cyc] == ["1"]
        seqs = _all_seqs(str(d))
        assert len(seqs) == len(set(seqs)) == max(seqs) - min(seqs) + 1
        try:
            import host_tools.plot  # noqa: F401
        except ImportError:
            continue
        assert (d / "voltage_vs_capacity.png").exists()
    assert simboard.list_running() == []


def test_log_refuses_a_folder_without_protocol(tmp_path):
    r = _cli("log", "--port", "loop://", "--out", str(tmp_path))
    assert r.returncode == 2
    assert "protocol.txt" in r.stderr and "cycler run" in r.stderr


@pytest.mark.slow
def test_ctrl_c_stops_the_cell_safely(tmp_path, registry):
    """With no terminal, --on-interrupt decides; stop: `stop` sent, files finished."""
    # 10 h rests: the interrupt lands in the first rest however slow the machine is
    proto = _protocol(tmp_path, 600)
    out = str(tmp_path / "out")
    p = subprocess.Popen(
        [sys.executable, "-m", "host_tools.cli", "run", str(proto), "--out", out,
         "--speed", "2000", "--tick-ms", "1000", "--on-interrupt", "stop", "--no-plot",
         "--quiet"], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        def two_steps_done():
            assert p.poll() is None, p.stdout.read().decode()
            return len(_rows(os.path.join(out, "steps.csv"))) >= 2
        # bounded by progress (the run's files growing), not by a deadline
        boardtest.wait_progress(two_steps_done, lambda: boardtest.tree_bytes(out),
                                "the run did not get through its first two steps")
        p.send_signal(signal.SIGINT)
        text = p.communicate(timeout=T)[0].decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(T)
    assert p.returncode == 0, text
    steps = _rows(os.path.join(out, "steps.csv"))
    assert steps[-1]["end"] == "user" and len(steps) < 6
    seqs = _all_seqs(out)
    assert len(seqs) == len(set(seqs)) == max(seqs) - min(seqs) + 1
