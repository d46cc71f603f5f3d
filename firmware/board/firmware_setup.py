# main.py's one-time part: the hardware from the board file, the channel, the port and
# the ranging, before the ring is sized. main.py imports it, calls build() and drops it
# (sys.modules) before it sizes the ring, so its code is not in the heap that is measured.
import gc

from channel import Channel
from stdio_port import StdioPort
from autorange import AutoRange
from runtime import drop_module


class _WithCalib:
    """The board config with a calibration put in (the nominal one, for bring-up)."""

    def __init__(self, base, calib):
        self._base = base
        self.calib = calib

    def __getattr__(self, name):
        return getattr(self._base, name)


def build(board, config, calib_cls):
    """(fe, clock, wdt, reset_cause, tick_ms, channel, calib, port, ranger) for main.py,
    from the board file's setup(); calib_cls is main.py's _Calib."""
    blocked = None
    try:
        hw = board.setup(config)
    except Exception as e:
        import calibration   # a real board's setup reads calib.json
        if not isinstance(e, calibration.CalibrationError):
            raise
        # Without a plausible calibration the board comes up on the nominal scale so
        # that `calibrate` can fix it, and refuses to load or start a protocol.
        blocked = "refused: %s" % e
        hw = board.setup(_WithCalib(config, calibration.identity(len(board.RANGES_NA))))
        del calibration
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
    fe = hw.fe
    out = (fe, hw.clock, hw.wdt, hw.reset_cause, hw.tick_ms, ch, calib_cls(fe, ch),
           StdioPort(), AutoRange(board.RANGES_NA, index=fe.range_index))
    hw = None
    drop_module("hardware")   # the record's module: boot only (the clock is timeclock.py)
    gc.collect()
    return out
