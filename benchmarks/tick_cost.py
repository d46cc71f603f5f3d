"""Core tick cost: microseconds per tick and heap bytes allocated per tick.

Runs under both interpreters; run it with CPython and it also runs itself under the
micropython executable and prints both:
    .venv/bin/python benchmarks/tick_cost.py
    MICROPYPATH=firmware/core:tests/core .venv/bin/micropython benchmarks/tick_cost.py
The tick measured is Channel.tick (safety, engine, regulator, accounting, command)
during a CC-CV cycle of the fig4 cell (FACTS: fig4) at 1C with a simple cell stand-in;
the cell model's own time is excluded.
"""
import sys
import os

try:
    HERE = os.path.dirname(os.path.abspath(__file__))
    ROOT = os.path.dirname(HERE)
except AttributeError:  # MicroPython: os.path may be missing; MICROPYPATH is set
    ROOT = None
if ROOT:
    sys.path[:0] = [os.path.join(ROOT, "firmware", "core"), os.path.join(ROOT, "tests", "core")]

import gc
import time
import channel
import engine
from paper import cccv
from standin import StandInCell

MP = sys.implementation.name == "micropython"


def _us():
    return time.ticks_us() if MP else int(time.perf_counter() * 1e6)


def _diff(a, b):
    return time.ticks_diff(a, b) if MP else a - b


def bench(n_max=200000, trace=True):
    ch = channel.Channel(20000000, 500)
    ch.load_lines(cccv(rate_num=1, rate_den=1))
    cell = StandInCell()
    ch.tick(0, int(cell.v() * 1e6), 0)
    ch.start(0)
    now = 0
    spent_us = 0
    alloc = 0
    n = 0
    gc.collect()
    trace = trace and not MP
    if trace:
        import tracemalloc
        tracemalloc.start()
    while ch.engine.state == engine.RUNNING and n < n_max:
        v = int(cell.v() * 1e6)
        i = int(cell.i_A * 1e9)
        if MP:
            gc.disable()
            a0 = gc.mem_alloc()
        elif trace:
            a0 = tracemalloc.get_traced_memory()[0]
        t0 = _us()
        ch.tick(now, v, i)
        t1 = _us()
        if MP:
            alloc += gc.mem_alloc() - a0
            gc.enable()
        elif trace:
            alloc += max(0, tracemalloc.get_traced_memory()[0] - a0)
        spent_us += _diff(t1, t0)
        cell.step(0.1, (ch.out_i_nA if ch.out_on else 0) * 1e-9)
        now = (now + 100) & 0x3FFFFFFF
        n += 1
    if trace:
        tracemalloc.stop()
    return n, spent_us, alloc


def main():
    n, us, alloc = bench()
    if not MP:  # time it again without tracemalloc's own cost
        n, us, _ = bench(trace=False)
    print("%s: %d ticks, %.2f us/tick, %.3f bytes allocated/tick (net)" % (
        sys.implementation.name, n, us / n, alloc / n))
    if not MP and ROOT:
        import subprocess
        exe = os.path.join(os.path.dirname(sys.executable), "micropython")
        env = dict(os.environ, MICROPYPATH=os.pathsep.join(
            [os.path.join(ROOT, "firmware", "core"), os.path.join(ROOT, "tests", "core")]))
        r = subprocess.run([exe, os.path.abspath(__file__)], env=env,
                           capture_output=True, text=True)
        print(r.stdout.strip() or r.stderr.strip())


main()
