"""The virtual board in a small board's heap (issue 10). `--heap N` is the board's heap:
the process gets N + boards/sim.py SIM_HEAP_B, the cell and front-end models are built
first and a ballast holds the rest of that allowance (boards/sim.py prepare), so the
firmware sees N. The ring is sized from what the firmware leaves (runtime.ring_n_for,
main.py). It boots and runs in a Pico's 192 KB and in an ESP32's 110 KB (the smallest
ring and the run's reserve kept); a heap that cannot keep them stops the boot saying so
(docs/reliability.md, "Memory"). The direct boots here run main.py in `micropython` on a
pipe (no pty, no mpremote), as the virtual board does (simboard.RUN_MAIN, MICROPYPATH ':lib')."""
import os
import re
import sys
import time

import pytest
import serial

from host_tools import deploy, protocol_file, simboard
from boards import sim as simcfg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import host_tools  # noqa: E402,F401
import runtime  # noqa: E402
import wire  # noqa: E402


def test_ring_size_follows_the_heap():
    slot = wire.MAX_RECORD + 2
    assert runtime.ring_n_for(10 ** 9, 512) == 512                      # plenty: RING_N
    n = runtime.ring_n_for(runtime.LOAD_RESERVE_B + 100 * slot + 512, 512)
    assert n == 100                                 # what fits beside a long load's room
    # a smaller heap: the smallest ring, the rest kept for the run (at least HEAP_RESERVE_B)
    assert runtime.ring_n_for(runtime.HEAP_RESERVE_B + 100 * slot + 512, 512) == \
        runtime.RING_MIN
    assert runtime.ring_n_for(1000, 512) == runtime.RING_MIN             # floor
    # control: without the reserve the same heap would be taken whole
    assert runtime.ring_n_for(runtime.HEAP_RESERVE_B + 100 * slot, 512) < \
        (runtime.HEAP_RESERVE_B + 100 * slot) // slot


def test_the_process_heap_is_the_boards_plus_the_models_allowance(tmp_path):
    assert simboard.heap_bytes("110K") == 110 * 1024 and simboard.heap_bytes("1m") == 1 << 20
    assert simboard.process_heap("192K") == 192 * 1024 + simcfg.SIM_HEAP_B
    for bad in ("", "K", "12X", "-5K", "0"):
        with pytest.raises(ValueError, match="192K"):
            simboard.heap_bytes(bad)
    simboard.write_config(str(tmp_path), heap_b=110 * 1024)
    text = (tmp_path / simboard.CONFIG_FILE).read_text()
    assert "heap_b = 112640" in text and "sim_heap_b" not in text
    # the allowance holds the biggest cell model in sight (issue 13's, ~22 KB) with the
    # front-end model and the board file (~15 KB measured) and a margin
    assert simcfg.SIM_HEAP_B >= 22 * 1024 + 14 * 1024 + 8 * 1024


def _boot_direct(tmp_path, heap, sim_heap_b=None, config_heap=True, secs=1.0,
                 text=b"stats\n", then=b""):
    """main.py in `micropython -X heapsize=<board heap + allowance>` with the sim image
    built as deploy builds it; `text` is sent once it booted, `then` (if any) `secs`
    later (and read for 0.5 s). Returns its output."""
    d = str(tmp_path / ("b%d" % len(os.listdir(str(tmp_path)))))
    os.makedirs(d)
    deploy.build("sim", d)
    hb = simboard.heap_bytes(heap)
    simboard.write_config(d, "fig4", 1000, heap_b=hb if config_heap else None,
                          sim_heap_b=sim_heap_b)
    feed = [(text, secs)] + ([(then, 0.5)] if then else [])
    return simboard.run_image(d, heap, sim_heap_b, feed)


def _stats(out):
    line = [l for l in out.splitlines() if l.startswith("ok stats:")]
    assert line, out[-1500:]
    return dict(w.split("=", 1) for w in line[-1].split() if "=" in w)


@pytest.mark.slow
def test_the_models_heap_never_reaches_the_firmware(tmp_path):
    # `stats` boot_free: the free heap after the imports and the setup, that the ring was
    # sized from. The same board heap with twice the models' allowance: the ballast takes
    # the extra, the firmware sees the same heap (a larger process heap has larger GC
    # tables: 1.2 %, ~0.6 KB here). Control: no board heap set (no ballast), the same
    # process heap hands what the models left of the allowance to the firmware.
    def free(heap, **kw):
        st = _stats(_boot_direct(tmp_path, heap, **kw))
        assert runtime.RING_MIN <= int(st["ring_n"]), st
        return int(st["boot_free"])
    a = free("192K")
    b = free("192K", sim_heap_b=2 * simcfg.SIM_HEAP_B)
    assert abs(a - b) <= 1024, (a, b)
    c = free("192K", config_heap=False)
    assert c - a >= 12 * 1024, (a, c)        # ~28 KB: SIM_HEAP_B 80 KB less the models' ~52 KB
    # and 64 KB more of board heap is 64 KB more for the firmware, to 1.5 %
    d = free("256K")
    assert abs((d - a) - 64 * 1024) <= 1024, (a, d)


@pytest.mark.slow
def test_too_small_an_allowance_for_the_models_fails_at_boot_naming_it(tmp_path):
    out = _boot_direct(tmp_path, "192K", sim_heap_b=4096)
    assert "MemoryError" in out and "SIM_HEAP_B" in out and "ok boot" not in out, out[-800:]


@pytest.mark.slow
def test_a_board_heap_below_the_firmwares_need_fails_at_boot(tmp_path):
    out = _boot_direct(tmp_path, "64K")
    assert "MemoryError" in out and "ok boot" not in out, out[-800:]


def _talk(port, text, want, timeout=20.0):
    """Send text (again every 0.3 s while no answer) until `want` (bytes or a compiled
    pattern) or a MemoryError is read."""
    with serial.Serial(port, timeout=0.3) as s:
        end = time.time() + timeout
        buf = b""
        while time.time() < end:
            if text:
                s.write(text)
            buf += s.read(8000)
            found = want.search(buf) if hasattr(want, "search") else want in buf
            if found or b"MemoryError" in buf:
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
        assert int(st["boot_free"]) >= runtime.BOOT_FREE_MIN_B, st
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


@pytest.mark.slow
def test_the_virtual_board_boots_and_runs_in_an_esp32s_heap(tmp_path, registry):
    # 110 KB of board heap (the models apart): the firmware boots with the smallest ring
    # and the run's reserve kept, loads quick.toml and runs its first step (a C/2 charge
    # to 4.1 V, ~1.5 h: ~7 s at 1000x) to its end; a second step begins.
    b = simboard.SimBoard(str(tmp_path / "b"), cell="fig4", speed=1000, heapsize="110K")
    b.start()
    try:
        deploy.deploy(b.port, "sim", log=lambda s: None, timeout=60)
        parsed = protocol_file.load(protocol_file.resolve("quick"))
        # no telemetry at 1000x (a T record per virtual second floods the reading here);
        # the step records come all the same
        out = _talk(b.port, b"rate 0\nload\n" + "\n".join(parsed.lines).encode()
                    + b"\nend\nstart\n", b"ok start")
        assert b"ok load: %d lines" % len(parsed.lines) in out and b"ok start" in out, \
            out[-800:]
        boots = b.boots      # the firmware answered: deploy's reset is counted by now
        step1 = re.compile(rb"(?:^|\n)S \d+ \d+ 1 ")            # step 1's end record
        out = _talk(b.port, b"", step1, timeout=60)
        assert step1.search(out) and b"MemoryError" not in out, out[-800:]
        out = _talk(b.port, b"status\nstats\n", b"ok stats")
        m = re.search(rb"state=running step=(\d+) ", out)
        assert m and int(m.group(1)) >= 2 and b"MemoryError" not in out, out[-800:]
        st = dict(w.split("=", 1) for w in out.split(b"ok stats: ")[1].split(b"\n")[0]
                  .decode().split() if "=" in w)
        assert int(st["ring_n"]) >= runtime.RING_MIN, st
        assert int(st["boot_free"]) >= runtime.BOOT_FREE_MIN_B, st   # the reserve kept
        assert b.boots == boots, "the firmware restarted"
    finally:
        b.stop()


@pytest.mark.slow
def test_the_least_heap_the_boot_accepts_runs_a_load(tmp_path):
    # BOOT_FREE_MIN_B is the run's honest need: the board whose heap just passes the
    # boot check (boot_free within 1 kB above it; the ring at its floor) loads
    # quick.toml, starts it, checkpoints and answers `stats` (the console_more, the
    # load's parser, then its checks, runtime_more and engine_cp loaded in turn, the
    # runtime's own objects already built). The boot's free heap follows the board's
    # heap byte for byte (the same image): a 110K boot says where the edge is.
    free = int(_stats(_boot_direct(tmp_path, "110K"))["boot_free"])
    assert free >= runtime.BOOT_FREE_MIN_B + 1024, free        # 110K: a real margin
    heap = 110 * 1024 - (free - runtime.BOOT_FREE_MIN_B) + 256
    parsed = protocol_file.load(protocol_file.resolve("quick"))
    out = _boot_direct(tmp_path, str(heap), secs=2.0,
                       text=b"rate 0\nload\n" + "\n".join(parsed.lines).encode()
                       + b"\nend\nstart\n", then=b"status\nstats\n")
    st = _stats(out)
    assert 0 <= int(st["boot_free"]) - runtime.BOOT_FREE_MIN_B <= 1024, st
    assert int(st["ring_n"]) == runtime.RING_MIN, st
    assert b"ok load: %d lines" % len(parsed.lines) in out.encode() and "ok start" in out, \
        out[-800:]
    assert "MemoryError" not in out and "state=running" in out and "crash=" not in out, \
        out[-800:]


@pytest.mark.slow
def test_a_heap_that_cannot_keep_the_reserve_stops_the_boot_saying_so(tmp_path):
    # control for the test above: 6 KB less board heap boots the modules but could not
    # keep the run's reserve after the smallest ring: the boot stops and says why
    out = _boot_direct(tmp_path, "104K")
    assert "heap too small" in out and "%d B" % runtime.BOOT_FREE_MIN_B in out, out[-800:]
    assert "ok boot" not in out, out[-800:]


@pytest.mark.slow
def test_the_paper_s_rate_test_loads_on_a_pico_and_is_refused_clearly_on_110k(tmp_path):
    # the fig4 rate test (99 lines, 64 steps) needs about 66 kB free for its load: a
    # Pico's 192K keeps runtime.LOAD_RESERVE_B beside its ring and loads and starts it;
    # 110K cannot, and says so (before: "internal error MemoryError" at every heap)
    parsed = protocol_file.load(protocol_file.resolve("fig4_rate_test"))
    text = b"rate 0\nload\n" + "\n".join(parsed.lines).encode() + b"\nend\nstart\n"
    out = _boot_direct(tmp_path, "192K", text=text, secs=3.0, then=b"status\n")
    assert b"ok load: %d lines" % len(parsed.lines) in out.encode(), out[-800:]
    assert "ok start" in out and "state=running" in out and "MemoryError" not in out, \
        out[-800:]
    out = _boot_direct(tmp_path, "110K", text=text, secs=3.0)
    assert "does not fit in this board's free memory" in out, out[-800:]
    assert "internal error" not in out and "ok start" not in out, out[-800:]
