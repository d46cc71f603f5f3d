"""How long the test suite takes on this machine: the fast lane (`-m "not slow"`, the
one for development) and the whole suite, each timed from the outside, with pytest's
slowest tests. Run by hand, from the repository:

    .venv/bin/python benchmarks/suite_time.py            # both lanes
    .venv/bin/python benchmarks/suite_time.py fast       # only the fast lane
    .venv/bin/python benchmarks/suite_time.py full --durations 30

Prints, per lane: wall seconds, pytest's summary line, the machine's load average
before and after (the figures mean little on a busy machine: say so with them).
No test asserts a time; this is where the times are measured.
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LANES = {"fast": ["-m", "not slow"], "full": []}


def run_lane(name, durations):
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--durations=%d" % durations] + LANES[name]
    load0 = os.getloadavg()
    t0 = time.monotonic()
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t0
    load1 = os.getloadavg()
    lines = r.stdout.strip().splitlines()
    summary = lines[-1] if lines else "(no output)"
    slowest = [l for l in lines if l.split()[:1] and l.split()[0].endswith("s")
               and l.split()[0][:-1].replace(".", "", 1).isdigit()]
    print("== %s lane: %.0f s wall (%d min %02d s); load %.1f -> %.1f on %d cores"
          % (name, wall, wall // 60, wall % 60, load0[0], load1[0], os.cpu_count() or 0))
    print("   " + summary)
    for l in lines:
        if l.startswith(("FAILED ", "ERROR ")):
            print("   " + l)
    for l in slowest[:durations]:
        print("   " + l)
    return r.returncode


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lanes", nargs="*", help="fast, full (default: both)")
    ap.add_argument("--durations", type=int, default=15)
    a = ap.parse_args(argv)
    bad = [x for x in a.lanes if x not in LANES]
    if bad:
        ap.error("unknown lane %s: the lanes are %s" % (", ".join(bad), ", ".join(LANES)))
    rc = 0
    for name in a.lanes or ["fast", "full"]:
        rc |= run_lane(name, a.durations)
    return rc


if __name__ == "__main__":
    sys.exit(main())
