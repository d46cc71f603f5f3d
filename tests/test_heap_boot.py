"""The virtual board in a small board's heap (issue 10): the ring is sized from the heap
the board has after its imports (runtime.ring_n_for, main.py), so the firmware boots
and runs in a Pico's ~192 KB. An ESP32's ~110 KB does not hold the imports themselves
(measured: ~119 KB of loaded .mpy with the simulation models): see docs/reliability.md."""
import os
import sys
import time

import pytest
import serial

from host_tools import deploy, protocol_file, simboard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import host_tools  # noqa: E402,F401
import runtime  # noqa: E402
import wire  # noqa: E402


def test_ring_size_follows_the_heap():
    slot = wire.MAX_RECORD + 2
    assert runtime.ring_n_for(10 ** 9, 512) == 512                      # plenty: RING_N
    n = runtime.ring_n_for(runtime.HEAP_RESERVE_B + 100 * slot, 512)
    assert n == 100                                                      # what fits
    assert runtime.ring_n_for(1000, 512) == runtime.RING_MIN             # floor
    # control: without the reserve the same heap would be taken whole
    assert runtime.ring_n_for(runtime.HEAP_RESERVE_B + 100 * slot, 512) < \
        (runtime.HEAP_RESERVE_B + 100 * slot) // slot


def _talk(port, text, want, timeout=20.0):
    with serial.Serial(port, timeout=0.3) as s:
        end = time.time() + timeout
        buf = b""
        while time.time() < end:
            s.write(text)
            buf += s.read(8000)
            if want in buf or b"MemoryError" in buf:
                break
        return buf


@pytest.mark.slow
def test_the_virtual_board_boots_and_runs_in_a_picos_heap(tmp_path, registry):
    b = simboard.SimBoard(str(tmp_path / "b"), cell="fig4", speed=50, heapsize="192K")
    b.start()
    try:
        deploy.deploy(b.port, "sim", log=lambda s: None, timeout=60)
        out = _talk(b.port, b"stats\n", b"ok stats")
        assert b"ok stats" in out and b"MemoryError" not in out, out[-800:]
        boots = b.boots      # deploy reset it: count from here
        st = dict(w.split("=", 1) for w in out.split(b"ok stats: ")[1].split(b"\n")[0]
                  .decode().split() if "=" in w)
        assert runtime.RING_MIN <= int(st["ring_n"]) < 8192, st
        parsed = protocol_file.load(protocol_file.resolve("quick"))
        out = _talk(b.port, b"load\n" + "\n".join(parsed.lines).encode() + b"\nend\nstart\n",
                    b"ok start")
        assert b"ok start" in out, out[-800:]
        time.sleep(3.0)          # 150 s of the run at 50x
        out = _talk(b.port, b"status\n", b"state=running")
        assert b"state=running" in out and b"MemoryError" not in out, out[-800:]
        assert b.boots == boots, "the firmware restarted"
    finally:
        b.stop()


@pytest.mark.xfail(strict=True, reason="an ESP32's ~110 KB heap does not hold the ~119 KB "
                   "of loaded .mpy (with the sim models); a real ESP32 image freezes them")
def test_the_virtual_board_boots_in_an_esp32s_heap(tmp_path, registry):
    b = simboard.SimBoard(str(tmp_path / "b"), cell="fig4", speed=50, heapsize="110K")
    b.start()
    try:
        deploy.deploy(b.port, "sim", log=lambda s: None, timeout=60)
        out = _talk(b.port, b"stats\n", b"ok stats", timeout=8)
        assert b"ok stats" in out, out[-300:]
    finally:
        b.stop()
