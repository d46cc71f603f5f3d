"""What each board-side module takes of the heap once loaded, under the real MicroPython
unix port: the sim board's image is built as `cycler deploy` builds it (mpy-cross .mpy,
boards/sim.py as board.mpy) into a temporary folder; for each module in boot order a
fresh `micropython` process imports the ones before it, then the module, and prints the
growth of gc.mem_alloc() (after gc.collect()); and each group's total.

    .venv/bin/python benchmarks/heap_footprint.py [--board sim|esp32|pico] [--heap 400K]

(The esp32 and pico images are plain bytecode but for the -march flag, so the unix port
loads them: their board file and drivers are measured the same way.)

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
# (the virtual board's boot loads all but frontend and calibration; calibration is loaded
# at the first `calibrate` command)
FIRMWARE = ("units", "wire", "ring", "protocol", "accounting", "regulator", "safety",
            "engine", "channel", "console", "loop", "store", "runtime", "stdio_port",
            "hardware", "autorange", "calibration")
SIMULATION = ("femodel", "cellmodel", "board")
# a real board's hardware layer (its image, with the MCP4725 and ADS1115 build)
HARDWARE = ("frontend", "drivers.mcp4725", "drivers.ads1115", "board")

# One process per module: its dependencies (the modules before it in boot order) are
# imported first, then the module itself inside a function (no stale pointers to the
# loader's garbage on the stack keep it alive), with a collection before each reading.
SCRIPT = r"""
import gc, sys
def deps(names):
    for n in names:
        if n:
            __import__(n)
def take(name):
    __import__(name)
deps(sys.argv[2].split(','))
gc.collect()
a = gc.mem_alloc()
take(sys.argv[1])
gc.collect()
print(gc.mem_alloc() - a)
"""


def measure(board="sim", heap="400K", groups=None):
    """{(group, module): bytes} on the unix port, with (group, "TOTAL") per group."""
    if groups is None:
        groups = ((("simulation", SIMULATION), ("firmware", FIRMWARE)) if board == "sim"
                  else (("firmware", FIRMWARE), ("hardware", HARDWARE)))
    out = {}
    with tempfile.TemporaryDirectory() as d:
        plan = deploy.build(board, d)
        with open(os.path.join(d, "measure.py"), "w") as f:
            f.write(SCRIPT)
        env = dict(os.environ, MICROPYPATH=d)
        exe = simboard.find_micropython()
        before = []
        for g, names in groups:
            tot = 0
            for n in names:
                if n.replace(".", "/") + ".mpy" not in plan:
                    continue
                r = subprocess.run([exe, "-X", "heapsize=" + heap, "measure.py", n,
                                    ",".join(before)], cwd=d, env=env, capture_output=True,
                                   text=True, timeout=60)
                if r.returncode:
                    raise SystemExit(r.stdout + r.stderr)
                out[(g, n)] = int(r.stdout.split()[-1])
                tot += out[(g, n)]
                before.append(n)
            out[(g, "TOTAL")] = tot
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
