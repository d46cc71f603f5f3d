"""`cycler fit` on the real instrument files of tests/data/foreign: what fits and how
well (the numbers in docs/import-fit.md). Run: .venv/bin/python benchmarks/fit_real_files.py
Each fit drives the cell model (simulation/cellmodel.py, an NMC955 OCV) with the file's
current; the files are other chemistries, so an OCV shift and the capacity absorb what
they can and the RMS voltage error says what is left."""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from host_tools import fit  # noqa: E402

FOREIGN = os.path.join(ROOT, "tests", "data", "foreign")
RUNS = [("nw4-120-6-1-36.ndax", None), ("250116_kigr_gen6_01_02_GCPL_CD8.mpr", None),
        ("250116_kigr_gen6_01_02_GCPL_CD8.mpr", {2, 3}), ("arbin_example.res", {1, 2, 3, 4})]


def main():
    print("| file | cycles | points | model runs | wall s | RMS mV | per cycle mV | "
          "capacity mAh | R0+R1 ohm | OCV shift V |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, cycles in RUNS:
        t0 = time.perf_counter()
        r = fit.fit_file(os.path.join(FOREIGN, name), cycles=cycles)
        p = r["params"]
        print("| %s | %s | %d | %d | %.0f | %.1f | %s | %.4g | %.4g | %+.3f |" % (
            name, "all" if not cycles else ",".join(map(str, sorted(cycles))), r["points"],
            r["evals"], time.perf_counter() - t0, r["rms_V"] * 1e3,
            " ".join("%.0f" % (x[1] * 1e3) for x in r["per_cycle"]), p["capacity_mAh"],
            p["r0_ohm"] + p["r1_ohm"], p["ocv_shift_V"]))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
