# Boot: build the channel from the board file (board.py, installed by `cycler deploy`)
# and run the loop. Boots safe (output off), never resumes a run by itself.
# While a run is active (running or paused) no byte on the wire interrupts the loop
# (micropython.kbd_intr(-1)); on an idle, loaded, done or faulted board Ctrl-C raises
# KeyboardInterrupt in the loop: the output goes off on the way out and the REPL takes
# over (mpremote can then reach the board). To reach the REPL during a run: `abort`
# (or `stop`), then Ctrl-C.
import gc
import sys
import board
import calibration
from channel import Channel
from runtime import Runtime, ring_n_for
from stdio_port import StdioPort
from autorange import AutoRange

try:
    from micropython import kbd_intr
except ImportError:
    kbd_intr = None

try:
    import board_config as config
except ImportError:
    config = None

FIRMWARE = "coin-cycler 0.1"


RUNTIME = None  # the running loop, for a look from the REPL after Ctrl-C


class _WithCalib:
    """The board config with a calibration put in (the nominal one, for bring-up)."""

    def __init__(self, base, calib):
        self._base = base
        self.calib = calib

    def __getattr__(self, name):
        return getattr(self._base, name)


def main():
    global RUNTIME
    blocked = None
    try:
        hw = board.setup(config)
    except calibration.CalibrationError as e:
        # Without a plausible calibration the board comes up on the nominal scale so
        # that `calibrate` can fix it, and refuses to load or start a protocol.
        blocked = "refused: %s" % e
        hw = board.setup(_WithCalib(config, calibration.identity(len(board.RANGES_NA))))
    # front-end fault detection from the board file (absent: off); docs/reliability.md
    ch = Channel(board.I_MAX_NA, board.I_FLOOR_NA,
                 mismatch_pct=getattr(board, "MISMATCH_PCT", 0),
                 mismatch_fs_pct=getattr(board, "MISMATCH_FS_PCT", 0),
                 stuck_n=getattr(board, "STUCK_TICKS", 0),
                 v_max_uV=getattr(board, "V_CELL_MAX_UV", 0),
                 v_noise_uV=getattr(board, "V_NOISE_UV", 0),
                 v_err_uV=getattr(board, "V_ERR_UV", 0),
                 hold_i_max_nA=getattr(board, "HOLD_I_MAX_NA", 0))
    if blocked:
        ch.block(blocked)
    calib = calibration.Session(hw.fe, board.RANGES_NA, getattr(hw.fe, "calib", None),
                                board=board.NAME, channel=ch)
    # the ring takes what the heap spares (a Pico ~190 KB, an ESP32 ~110 KB)
    # modules the board file reads only in setup() (boards/sim.py: its profiles) leave
    # the heap before the ring takes what it spares
    for name in getattr(board, "SETUP_ONLY", ()):
        if name in sys.modules:
            del sys.modules[name]
    gc.collect()
    free = gc.mem_free() if hasattr(gc, "mem_free") else 1 << 30
    ring_n = ring_n_for(free, getattr(board, "RING_N", 512))
    rt = Runtime(hw.fe, hw.clock, ch, StdioPort(), wdt=hw.wdt, calib=calib,
                 ranger=AutoRange(board.RANGES_NA, index=hw.fe.range_index),
                 reset_cause=hw.reset_cause, tick_ms=hw.tick_ms, firmware=FIRMWARE,
                 telemetry_ms=getattr(config, "telemetry_ms", 1000),
                 ring_n=ring_n,
                 profile=getattr(config, "profile", False), kbd_intr=kbd_intr)
    RUNTIME = rt
    rt.start()
    rt.run()


main()
