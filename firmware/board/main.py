# Boot: build the channel from the board file (board.py, installed by `cycler deploy`)
# and run the loop. Boots safe (output off), never resumes a run by itself.
# While a run is active (running or paused) no byte on the wire interrupts the loop
# (micropython.kbd_intr(-1)); on an idle, loaded, done or faulted board Ctrl-C raises
# KeyboardInterrupt in the loop: the output goes off on the way out and the REPL takes
# over (mpremote can then reach the board). To reach the REPL during a run: `abort`
# (or `stop`), then Ctrl-C.
import gc

try:
    import board_config as config
except ImportError:
    config = None
gc.collect()
_HEAP0_B = gc.mem_alloc()   # before the board file: a virtual board measures its models
import board
# The virtual board builds its hardware (the cell and front-end models) before any
# firmware module and keeps the firmware to the board's heap (boards/sim.py prepare).
_prepare = getattr(board, "prepare", None)
if _prepare is not None:
    def _drop(name):
        import sys
        sys.modules.pop(name, None)
    _prepare(config, _HEAP0_B, _drop)
    _drop = None
_prepare = None
# While the firmware loads, a collection every 2 kB allocated: each import's garbage
# goes back before the next module's code is placed, so the heap is left in a few large
# free blocks, not many holes between resident objects (110K: 30 kB in one block at the
# end of the boot, 14 kB without). Back to collecting only when full before the loop
# (the virtual board's cell model allocates every tick). docs/reliability.md, Memory.
_threshold = getattr(gc, "threshold", None)
if _threshold is not None:
    _threshold(2048)

# The buffer of the smallest ring (runtime.RING_MIN = 32 slots of wire.MAX_RECORD =
# 168 B), taken before the firmware's modules load: loading leaves holes between the
# objects it keeps, and a heap with enough free bytes could still lack one block this
# large. A heap that gives a much larger ring frees it first (main() below).
_hold = bytearray(32 * 168)
from runtime import Runtime, ring_n_for, drop_module, BOOT_FREE_MIN_B, RING_MIN

try:
    from micropython import kbd_intr
except ImportError:
    kbd_intr = None

FIRMWARE = "coin-cycler 0.1"


RUNTIME = None  # the running loop, for a look from the REPL after Ctrl-C


class _Calib:
    """The `calibrate` commands' calibration.Session, made at the first such command:
    calibration.py (~9 KB of heap once loaded) is not needed to boot or to run."""

    def __init__(self, fe, ch):
        self._fe = fe
        self._ch = ch
        self._s = None

    def __getattr__(self, name):
        s = self._s
        if s is None:
            try:
                import calibration
                s = calibration.Session(self._fe, board.RANGES_NA,
                                        getattr(self._fe, "calib", None), board=board.NAME,
                                        channel=self._ch)
            except MemoryError:
                gc.collect()
                raise ValueError("no heap for the calibration routines now (%d B free); "
                                 "abort the run or reset the board, then calibrate"
                                 % gc.mem_free())
            self._s = s
        return getattr(s, name)


def main():
    global RUNTIME, _hold
    ch = None
    try:
        import firmware_setup
        fe, clock, wdt, cause, tick_ms, ch, calib, port, ranger = firmware_setup.build(
            board, config, _Calib)
    except MemoryError:
        pass   # it ran out building the engine or the channel: the check below says so
    firmware_setup = None
    drop_module("firmware_setup")   # one-time code: not in the heap the ring is sized from
    # the ring takes what the heap spares (a Pico ~190 KB, an ESP32 ~110 KB)
    gc.collect()
    free = (gc.mem_free() if hasattr(gc, "mem_free") else 1 << 30) + len(_hold)
    if ch is None or free < BOOT_FREE_MIN_B:
        # a board that would boot but could not load a protocol: say so now, with figures
        raise MemoryError("heap too small: %d B free after the firmware loaded%s, the "
                          "smallest ring and the run's reserve need %d B "
                          "(runtime.BOOT_FREE_MIN_B; docs/reliability.md, Memory)"
                          % (free, " (it ran out building the channel)" if ch is None
                             else "", BOOT_FREE_MIN_B))
    ring_n = ring_n_for(free, getattr(board, "RING_N", 512))
    # Near the floor the ring is the held block's (a few slots less than ring_n, if any):
    # a heap that gives twice that returns it and takes a block of the size it spares.
    buf = _hold if ring_n < 2 * RING_MIN else None
    _hold = None
    if buf is None:
        gc.collect()
    rt = Runtime(fe, clock, ch, port, wdt=wdt, calib=calib, ranger=ranger,
                 reset_cause=cause, tick_ms=tick_ms, firmware=FIRMWARE,
                 telemetry_ms=getattr(config, "telemetry_ms", 1000),
                 ring_n=ring_n,
                 profile=getattr(config, "profile", False), kbd_intr=kbd_intr,
                 ring_buf=buf)
    buf = None
    rt.boot_free_b = free
    RUNTIME = rt
    rt.start()
    if _threshold is not None:
        _threshold(-1)
    rt.run()


main()
