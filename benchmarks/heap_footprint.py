"""What each board-side module takes of the heap once loaded, under the real MicroPython
unix port: the sim board's image is built as `cycler deploy` builds it (mpy-cross .mpy,
boards/sim.py as board.mpy) into a temporary folder, then one `micropython` process
imports the modules one by one in boot order and prints gc.mem_alloc() after each
(after gc.collect()), and the firmware's total.

    .venv/bin/python benchmarks/heap_footprint.py [--board sim] [--heap 400K]

The unix port is 64-bit: 8-byte pointers and 32-byte GC blocks, against 4-byte pointers
and 16-byte blocks on the RP2040 and the ESP32, so these figures are an upper bound for
the real chips (docs/reliability.md, "Memory", has the figures and the comparison).
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from host_tools import deploy, simboard  # noqa: E402

# boot order of main.py (firmware), then the simulation (the sim board's hardware)
FIRMWARE = ("units", "wire", "ring", "protocol", "accounting", "regulator", "safety",
            "engine", "channel", "console", "loop", "store", "runtime", "stdio_port",
            "frontend", "autorange", "calibration")
SIMULATION = ("femodel", "cellmodel", "board")

SCRIPT = r"""
import gc, sys
def take(name):
    gc.collect()
    a = gc.mem_alloc()
    __import__(name)
    gc.collect()
    return gc.mem_alloc() - a
for group in sys.argv[1:]:
    tot = 0
    g, names = group.split(':')
    for n in names.split(','):
        b = take(n)
        tot += b
        print('%-12s %-12s %6d' % (g, n, b))
    print('%-12s %-12s %6d' % (g, 'TOTAL', tot))
"""


def measure(board="sim", heap="400K", groups=None):
    """{(group, module): bytes}, as printed by the unix port."""
    groups = groups or (("simulation", SIMULATION), ("firmware", FIRMWARE))
    with tempfile.TemporaryDirectory() as d:
        plan = deploy.build(board, d)
        with open(os.path.join(d, "measure.py"), "w") as f:
            f.write(SCRIPT)
        env = dict(os.environ, MICROPYPATH=d)
        # the firmware group first would put it under the simulation's figures: the
        # groups run in the order given (simulation first, as the virtual board boots)
        argv = [simboard.find_micropython(), "-X", "heapsize=" + heap, "measure.py"]
        argv += ["%s:%s" % (g, ",".join(n for n in names if n + ".mpy" in plan
                                        or n == "board"))
                 for g, names in groups]
        r = subprocess.run(argv, cwd=d, env=env, capture_output=True, text=True, timeout=120)
        if r.returncode:
            raise SystemExit(r.stdout + r.stderr)
    out = {}
    for line in r.stdout.splitlines():
        g, n, b = line.split()
        out[(g, n)] = int(b)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default="sim")
    ap.add_argument("--heap", default="400K")
    a = ap.parse_args()
    for (g, n), b in measure(a.board, a.heap).items():
        print("%-12s %-12s %7.1f KB" % (g, n, b / 1024.0))


if __name__ == "__main__":
    main()
