"""Host side of the coin-cell cycler: the `cycler` command and what it is made of.

Deliberately not called `cycler`: matplotlib imports a PyPI package of that name.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE_DIR = os.path.join(ROOT, "firmware")
CORE_DIR = os.path.join(FIRMWARE_DIR, "core")          # pure control core
BOARD_DIR = os.path.join(FIRMWARE_DIR, "board")        # board runtime and drivers
SIMULATION_DIR = os.path.join(ROOT, "simulation")      # cell and front-end models
BOARDS_DIR = os.path.join(ROOT, "boards")
PROTOCOLS_DIR = os.path.join(ROOT, "protocols")

# The board-side modules, by the flat names they have on a board (`import engine`):
# the one list of folders both interpreters search (docs/architecture.md).
BOARD_PATH = [CORE_DIR, BOARD_DIR, SIMULATION_DIR, ROOT]

# The firmware's pure modules run here too (the same engine on the board and in
# CPython): make them importable by their board-side names.
for _p in reversed(BOARD_PATH):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def micropypath(*extra):
    """MICROPYPATH for the `micropython` executable: the board-side folders, then
    `extra`, then the frozen modules."""
    return os.pathsep.join(BOARD_PATH + list(extra) + [".frozen"])


def find_tool(name, install_hint):
    """An executable installed with this interpreter (the venv's bin/), else on PATH."""
    import shutil
    here = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(here, os.X_OK):
        return here
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError("no `%s` executable next to %s or on PATH; install it with "
                            "`%s`" % (name, sys.executable, install_hint))
