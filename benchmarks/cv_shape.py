"""The cyclic voltammetry protocol (protocols/cv_diagnostic.toml, 0.1 mV/s, fig4) through
the engine (`cycler simulate`, adaptive tick): the swept current on the main sweeps
(step 4, 2.8 -> 4.5 V and back, five times) at given voltages, and where the reduction
peak sits (issue 13; FACTS: the cycling window and why: "a reduction peak at 3.3 V and a
sharp current rise at 4.0 V and above"). docs/cellmodel.md "Cyclic voltammetry" quotes it.

    .venv/bin/python benchmarks/cv_shape.py [--set key=value ...]
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from host_tools import protocol_file  # noqa: E402
from host_tools import simulate as sm  # noqa: E402
import cellmodel  # noqa: E402

UP_AT = (3.7, 3.8, 3.9, 3.95, 4.0, 4.05, 4.1, 4.2, 4.3, 4.4, 4.5)


def run(overrides=None):
    parsed = protocol_file.load(protocol_file.resolve("cv_diagnostic"))
    c = cellmodel.make_cell("fig4", **(overrides or {}))
    import boards.sim as simboard
    c.set_soc(simboard.SOC0)
    rows = []
    tick = sm.Sim.tick

    def watching(self):
        e = self.ch.engine
        if e.state == 2:
            rows.append((e.step_number, self.cell.v_V, self.cell.i_A, self.cell.i_side_A))
        return tick(self)

    sm.Sim.tick = watching
    try:
        w, sim = sm.simulate(parsed, "fig4", cell=c)
    finally:
        sm.Sim.tick = tick
    for n in sorted(set(r[0] for r in rows)):
        vs = [r[1] for r in rows if r[0] == n]
        print("step %d: %d ticks, %.3f .. %.3f V" % (n, len(vs), min(vs), max(vs)))
    # the main sweeps: the step that reaches 4.5 V
    main = max(set(r[0] for r in rows), key=lambda n: max(r[1] for r in rows if r[0] == n))
    return [r[1:] for r in rows if r[0] == main], sim


def legs(rows, back_V=0.01):
    """Split the sweep into monotone legs (up, down, up, ...): a leg ends at its extreme
    once the voltage has come back back_V from it."""
    out, start, up, ext = [], 0, True, 0
    for k, r in enumerate(rows):
        if (r[0] > rows[ext][0]) if up else (r[0] < rows[ext][0]):
            ext = k
        elif abs(r[0] - rows[ext][0]) > back_V:
            out.append((up, rows[start:ext + 1]))
            start, up, ext = ext, not up, k
    out.append((up, rows[start:]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    ov = dict((kv.split("=")[0], float(kv.split("=")[1])) for kv in a.set)
    rows, sim = run(ov)
    print("overrides", ov, "state", sim.ch.state_name())
    lg = legs(rows)
    print("%d legs" % len(lg))
    for up, leg in lg[2:4]:   # the second there-and-back sweep
        if up:
            print("up:  " + "  ".join(
                "%.2f V %5.1f uA (side %.1f)" % (v0, 1e6 * r[1], 1e6 * r[2]) for v0, r in
                ((v0, min(leg, key=lambda r: abs(r[0] - v0))) for v0 in UP_AT)))
        else:
            pk = min(leg, key=lambda r: r[1])
            print("down: reduction peak %.3f V, %.1f uA" % (pk[0], 1e6 * pk[1]))


if __name__ == "__main__":
    main()
