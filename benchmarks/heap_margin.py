"""How much board heap the firmware needs to boot and to run, on the virtual board
(the unix port, 64-bit): main.py boots in `micropython` on a pipe with the sim image
built as `cycler deploy` builds it (as tests/test_heap_boot.py's direct boots do), is
sent `rate 0`, a `load` of quick.toml, `start`, then `stats` after a while, and the
smallest board heap (`--heap`) is found by bisection for

  - boot: the boot passes main.py's check (`ok boot`, `boot_free` >= BOOT_FREE_MIN_B);
  - run:  it also loads quick.toml (`ok load`), starts, runs a few hundred virtual
          seconds (checkpoints) and answers `stats` without a MemoryError.

    .venv/bin/python benchmarks/heap_margin.py [--lo 90K] [--hi 130K] [--step 256]
    .venv/bin/python benchmarks/heap_margin.py --at 110K     # one boot, its figures

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
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from host_tools import deploy, protocol_file, simboard  # noqa: E402


SEND = "rate 0;load;start"


def boot(d, heap_b, secs=2.0, send=SEND):
    """One boot of the image in folder d with a board heap of heap_b bytes, sent the
    commands `send` (;-separated, `load` is a load of quick.toml) then `stats`; returns
    (output text, dict of the figures)."""
    simboard.write_config(d, "fig4", 1000, heap_b=heap_b)
    parsed = protocol_file.load(protocol_file.resolve("quick"))
    text = "".join((c if c != "load" else "load\n" + "\n".join(parsed.lines) + "\nend")
                   + "\n" for c in send.split(";")).encode()
    argv = [simboard.find_micropython(), "-X",
            "heapsize=%d" % simboard.process_heap(heap_b), "-c", simboard.RUN_MAIN]
    for f in ("checkpoint.txt", "protocol.txt", "boots.txt", "seq.txt", "cell_state.txt"):
        try:
            os.remove(os.path.join(d, f))
        except OSError:
            pass
    p = subprocess.Popen(argv, cwd=d, env=dict(os.environ, MICROPYPATH=":lib"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = []
    th = threading.Thread(target=lambda: out.append(p.stdout.read()), daemon=True)
    th.start()
    try:
        time.sleep(0.3)
        p.stdin.write(text)
        p.stdin.flush()
        time.sleep(secs)
        p.stdin.write(b"stats\n")
        p.stdin.flush()
        time.sleep(0.3)
    except BrokenPipeError:
        pass
    p.kill()
    th.join(5)
    o = b"".join(out).decode(errors="replace")
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


def smallest(d, what, lo, hi, step, tries, send=SEND):
    """The smallest heap in lo..hi (bytes, step apart) where every try passes `what`."""
    def ok(h):
        return all(boot(d, h, send=send)[1][what] for _ in range(tries))
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
                    " `load` loads quick.toml); `stats` follows")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        deploy.build("sim", d)
        if a.at:
            o, fig = boot(d, simboard.heap_bytes(a.at), send=a.send)
            print(o[-1500:] if not fig["run"] else "")
            print(" ".join("%s=%s" % kv for kv in sorted(fig.items())))
            return
        lo, hi = simboard.heap_bytes(a.lo), simboard.heap_bytes(a.hi)
        for what in ("boot", "run"):
            h = smallest(d, what, lo, hi, a.step, a.tries, a.send)
            print("%-5s needs %s" % (what, "more than %d B" % hi if h is None else
                                     "%d B (%.2f K)" % (h, h / 1024.0)))
            if h is not None:
                lo = max(lo, h - 4 * a.step) if what == "boot" else lo


if __name__ == "__main__":
    main()
