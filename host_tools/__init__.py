"""Host side of the coin-cell cycler: the `cycler` command and what it is made of.

Deliberately not called `cycler`: matplotlib imports a PyPI package of that name.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE_DIR = os.path.join(ROOT, "firmware")
BOARDS_DIR = os.path.join(ROOT, "boards")
PROTOCOLS_DIR = os.path.join(ROOT, "protocols")

# The firmware's pure modules run here too (the same engine on the board and in
# CPython): make them importable by their board-side names.
for _p in (FIRMWARE_DIR, ROOT):
    if _p not in sys.path:
        sys.path.insert(0, _p)
