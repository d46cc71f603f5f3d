"""Fixtures for the virtual-board tests: a placeholder main.py and a started board."""
import os
import sys

import pytest

# `pytest` as well as `python -m pytest` from the repo root finds host_tools.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# Stands in for the firmware's main.py until it exists: records each boot in a file,
# echoes console bytes it polls from stdin, prints ticks, and says when it stops.
PLACEHOLDER_MAIN = """\
import sys, time, select
with open('boots.txt', 'a') as f:
    f.write('boot\\n')
p = select.poll()
p.register(sys.stdin, select.POLLIN)
n = 0
try:
    while True:
        if p.poll(0):
            print('got', sys.stdin.buffer.read(1))
        n += 1
        if n % 20 == 0:
            print('tick', n)
        time.sleep_ms(5)
finally:
    print('output off')
"""


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A private registry of running virtual boards (other sessions may run theirs)."""
    reg = tmp_path / "registry"
    monkeypatch.setenv("CYCLER_SIMBOARD_REGISTRY", str(reg))
    return reg


@pytest.fixture
def sim_board(tmp_path, registry):
    """Start a virtual board on tmp_path/board with PLACEHOLDER_MAIN: yields the SimBoard."""
    from host_tools.simboard import SimBoard

    board_dir = tmp_path / "board"
    board_dir.mkdir()
    (board_dir / "main.py").write_text(PLACEHOLDER_MAIN)
    board = SimBoard(str(board_dir), cell="fig4", speed=100)
    board.start()
    try:
        yield board
    finally:
        board.stop()


@pytest.fixture(scope="module")
def deployed_board(tmp_path_factory):
    """A virtual board running the real firmware (deployed with the real mpremote),
    shared by the tests of a module (in file order: a test that leaves the board
    unusable goes last), with its own registry."""
    import boardtest
    d = tmp_path_factory.mktemp("deployed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CYCLER_SIMBOARD_REGISTRY", str(d / "registry"))
        with boardtest.deployed_board(d / "board", cell="fig4", speed=300,
                                      tick_ms=1000) as b:
            yield b
