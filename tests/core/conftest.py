"""The core tests are plain functions so the same files run under MicroPython too
(tests/test_micropython_core.py). Under pytest they import the firmware's modules by
their board-side names, as the board does."""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
import host_tools  # noqa: E402  (the board-side folders on sys.path)

for _p in (host_tools.BOARDS_DIR, _HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)
