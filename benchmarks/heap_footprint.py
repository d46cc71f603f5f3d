"""What each board-side module takes of the heap once loaded, under the real MicroPython
unix port: the sim board's image is built as `cycler deploy` builds it (mpy-cross .mpy,
boards/sim.py as board.mpy) into a temporary folder; for each module in boot order a
fresh `micropython` process imports the ones before it, then the module, and prints the
growth of gc.mem_alloc() (after gc.collect()); and each group's total.

    .venv/bin/python benchmarks/heap_footprint.py [--board sim|esp32|pico] [--heap 400K]

(The esp32 and pico images are plain bytecode but for the -march flag, so the unix port
loads them: their board file and drivers are measured the same way.)

    .venv/bin/python benchmarks/heap_footprint.py --wasm DIR [--board ...]

measures the same images on a 32-bit MicroPython: the WebAssembly port (wasm32: 4-byte
pointers, 16-byte GC blocks, as on the RP2040 and ESP32) under node, from DIR where
`npm install @micropython/micropython-webassembly-pyscript@1.27.0` was run (node and
that package are not project dependencies; this is a one-off comparison).

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

# boot order of main.py (firmware: what stays loaded), then the simulation (the sim
# board's hardware); the modules loaded for a while only ("transient": main.py's setup
# and the runtime's boot code at boot, dropped before the ring is sized or after
# `ok boot`; the console's load and rare commands while they run; calibration.py at the
# first `calibrate`) are measured after the firmware, in that order
FIRMWARE = ("units", "wire", "ring", "protocol_defs", "accounting", "regulator", "safety",
            "engine", "channel", "console", "loop", "store", "runtime", "stdio_port",
            "autorange")
TRANSIENT = ("hardware", "firmware_setup", "engine_cp", "runtime_more", "console_load",
             "protocol", "protocol_parse", "protocol_check", "console_more", "board_files",
             "calibration")
SIMULATION = ("femodel", "cellmodel", "board")
# a real board's hardware layer (its image, with the MCP4725 and ADS1115 build)
HARDWARE = ("calib_file", "timeclock", "frontend", "drivers.mcp4725", "drivers.ads1115", "board")

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
with open(sys.argv[2]) as f:   # (a file: an argument over 255 characters crashes the unix port)
    deps(f.read().split(','))
gc.collect()
a = gc.mem_alloc()
take(sys.argv[1])
gc.collect()
print(gc.mem_alloc() - a)
"""


def measure(board="sim", heap="400K", groups=None):
    """{(group, module): bytes} on the unix port, with (group, "TOTAL") per group."""
    if groups is None:
        groups = ((("simulation", SIMULATION), ("firmware", FIRMWARE),
                   ("transient", TRANSIENT)) if board == "sim"
                  else (("firmware", FIRMWARE), ("hardware", HARDWARE),
                        ("transient", TRANSIENT)))
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
                with open(os.path.join(d, "deps.txt"), "w") as f:
                    f.write(",".join(before))
                r = subprocess.run([exe, "-X", "heapsize=" + heap, "measure.py", n,
                                    "deps.txt"], cwd=d, env=env, capture_output=True,
                                   text=True, timeout=60)
                if r.returncode:
                    raise SystemExit(r.stdout + r.stderr)
                out[(g, n)] = int(r.stdout.split()[-1])
                tot += out[(g, n)]
                before.append(n)
            out[(g, "TOTAL")] = tot
    return out


# The same measurement in the WebAssembly port under node: one fresh MicroPython per
# module, the image's .mpy files copied into its in-memory filesystem.
WASM_SCRIPT = r"""
import { loadMicroPython } from %(module)s;
import fs from "fs";
import path from "path";
const img = %(img)s, groups = %(groups)s;
function copy(mp, rel) {
  for (const f of fs.readdirSync(path.join(img, rel))) {
    const p = path.join(img, rel, f);
    if (fs.statSync(p).isDirectory()) { mp.FS.mkdir("/m/" + path.join(rel, f)); copy(mp, path.join(rel, f)); }
    else if (f.endsWith(".mpy")) mp.FS.writeFile("/m/" + path.join(rel, f), fs.readFileSync(p));
  }
}
const before = [];
for (const [g, names] of groups) {
  for (const n of names) {
    const out = [];
    const mp = await loadMicroPython({ stdout: (l) => out.push(l) });
    mp.FS.mkdir("/m");
    copy(mp, "");
    mp.runPython("import sys\nsys.path.insert(0, '/m')\nfor _n in " + JSON.stringify(before) +
      ":\n    __import__(_n)\n" + %(measure)s + "take(" + JSON.stringify(n) + ")\n");
    console.log(g + " " + n + " " + out.join(" ").trim());
    before.push(n);
  }
}
"""
_WASM_MEASURE = ("import gc\ndef _t(n):\n    __import__(n)\ndef take(n):\n    gc.collect()\n"
                 "    a = gc.mem_alloc()\n    _t(n)\n    gc.collect()\n"
                 "    print(gc.mem_alloc() - a)\n")


def measure_wasm(wasm_dir, board="sim", groups=None):
    """measure() on the 32-bit WebAssembly port (node + the npm package in wasm_dir)."""
    import json
    if groups is None:
        groups = ((("simulation", SIMULATION), ("firmware", FIRMWARE),
                   ("transient", TRANSIENT)) if board == "sim"
                  else (("firmware", FIRMWARE), ("hardware", HARDWARE),
                        ("transient", TRANSIENT)))
    mod = os.path.join(os.path.abspath(wasm_dir), "node_modules", "@micropython",
                       "micropython-webassembly-pyscript", "micropython.mjs")
    if not os.path.exists(mod):
        raise SystemExit("no %s: run `npm install @micropython/micropython-webassembly-"
                         "pyscript@1.27.0` in %s first" % (mod, wasm_dir))
    out = {}
    with tempfile.TemporaryDirectory() as d:
        plan = deploy.build(board, d)
        gs = [[g, [n for n in names if n.replace(".", "/") + ".mpy" in plan]]
              for g, names in groups]
        js = os.path.join(d, "measure.mjs")
        with open(js, "w") as f:
            f.write(WASM_SCRIPT % {"module": json.dumps(mod), "img": json.dumps(d),
                                   "groups": json.dumps(gs),
                                   "measure": json.dumps(_WASM_MEASURE)})
        r = subprocess.run(["node", js], capture_output=True, text=True, timeout=600)
        if r.returncode:
            raise SystemExit(r.stdout + r.stderr)
    for line in r.stdout.splitlines():
        g, n, b = line.split()
        out[(g, n)] = int(b)
        out[(g, "TOTAL")] = out.get((g, "TOTAL"), 0) + int(b)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default="sim")
    ap.add_argument("--heap", default="400K")
    ap.add_argument("--wasm", default=None, metavar="DIR",
                    help="measure on the 32-bit WebAssembly port (node) instead")
    a = ap.parse_args()
    res = measure_wasm(a.wasm, a.board) if a.wasm else measure(a.board, a.heap)
    totals = [(k, v) for k, v in res.items() if k[1] == "TOTAL"]
    for (g, n), b in [(k, v) for k, v in res.items() if k[1] != "TOTAL"] + totals:
        print("%-12s %-16s %7.1f KB" % (g, n, b / 1024.0))


if __name__ == "__main__":
    main()
