"""deploy refuses, before copying, a board whose MicroPython cannot load what mpy-cross
made or is older than the firmware needs, and says what to flash; its errors are one
or two lines (never the script it runs on the board)."""
import subprocess
import sys

import pytest

from host_tools import deploy, mpremote_io


def _mpy(tmp_path, *flags):
    src = tmp_path / "m.py"
    src.write_text("x = 1\n")
    out = tmp_path / ("m%d.mpy" % len(flags))
    subprocess.run([deploy.find_mpy_cross()] + list(flags) + ["-o", str(out), str(src)],
                   check=True, timeout=60)
    return {"m.mpy": str(out)}


# sys.implementation._mpy = version | sub-version << 8 | arch << 10 (py/persistentcode.h);
# 6 | 3 << 8 | 2 << 10 is what the 1.29 unix port on x64 reports (2822).
BOARD_129_X64 = ("1.29.0", 6 | 3 << 8 | 2 << 10, "linux")
BOARD_129_ARMV6M = ("1.29.0", 6 | 3 << 8 | 4 << 10, "rp2")


@pytest.mark.parametrize("info, flags, words", [
    (("1.19.1", 6 | 0 << 8 | 4 << 10, "rp2"), [], "needs 1.29"),   # loads v6, too old
    (("1.18.0", 5 | 4 << 10, "rp2"), [], "loads .mpy v5.0, mpy-cross made v6"),
    (BOARD_129_X64, ["-march=armv6m", "-X", "emit=native"], "made v6.3"),  # native for another arch
])
def test_an_unfit_board_is_refused_with_what_to_flash(tmp_path, info, flags, words):
    with pytest.raises(deploy.DeployError) as e:
        deploy.check_board(info, _mpy(tmp_path, *flags), "pico")
    msg = str(e.value)
    assert words in msg and "flash MicroPython 1.29 or later for rp2" in msg
    assert msg.count("\n") == 0


@pytest.mark.parametrize("info, flags", [
    (BOARD_129_X64, []),                                   # bytecode loads anywhere
    (BOARD_129_ARMV6M, ["-march=armv6m"]),
    (BOARD_129_ARMV6M, ["-march=armv6m", "-X", "emit=native"]),
    (("1.30.1", 6 | 3 << 8 | 4 << 10, "rp2"), []),        # a later release
])
def test_a_fit_board_passes(tmp_path, info, flags):
    deploy.check_board(info, _mpy(tmp_path, *flags), "pico")


def test_a_missing_port_is_one_line_without_the_script(tmp_path):
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "deploy", "--board", "pico",
                        "--port", str(tmp_path / "ttyUSB9")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    err = r.stderr.strip()
    assert "no board at" in err and len(err.splitlines()) <= 2
    assert "hashlib" not in err and "Traceback" not in err


def test_mpremote_errors_name_a_script_by_what_it_does():
    d = mpremote_io._describe(["connect", "/dev/x", "exec", "import os\nprint(1)\n"],
                              "the board's file list")
    assert d == "mpremote connect /dev/x exec <the board's file list>"
