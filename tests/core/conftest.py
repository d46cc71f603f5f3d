"""The core tests are plain functions so the same files run under MicroPython too
(tests/test_micropython_core.py). Under pytest they import the firmware's modules by
their board-side names, as the board does."""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))
_FIRMWARE = os.path.join(_ROOT, "firmware")
_BOARDS = os.path.join(_ROOT, "boards")
for _p in (_FIRMWARE, _BOARDS, _HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)
