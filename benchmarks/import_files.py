"""`cycler import` on the real instrument files of tests/data/foreign: wall time per
file (read + annotate + write) and what it found. Run: .venv/bin/python benchmarks/import_files.py"""
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from host_tools import importers  # noqa: E402

FOREIGN = os.path.join(ROOT, "tests", "data", "foreign")
FILES = ("nw4-120-6-1-36.ndax", "250116_kigr_gen6_01_02_GCPL_CD8.mpr", "arbin_example.res",
         "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv")


def main():
    print("| file | rows | read s | annotate + write s | steps | cycles |")
    print("|---|---|---|---|---|---|")
    for name in FILES:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            s = importers.read(os.path.join(FOREIGN, name))
            t1 = time.perf_counter()
            r = importers.write_dir(s, d)
            t2 = time.perf_counter()
        print("| %s | %d | %.2f | %.2f | %d | %d |" % (name, len(s.t_s), t1 - t0, t2 - t1,
                                                     r["steps"], r["cycles"]))


if __name__ == "__main__":
    main()
