# calib.json at boot for a real board's setup, without keeping calibration.py (~9 KB of
# heap) loaded: calibration.load() reads and checks the file (loaded for it, dropped
# after when it was not loaded before), and what the front-end and the `calibrate`
# session read of it is copied into a small record. A missing or implausible file
# raises calibration.CalibrationError as calibration.load() does (the module then stays).
import sys


class Calib:
    """The fields of a calibration.Calibration: v_gain_ppm, v_offset_uV; i_gain_ppm[r],
    i_offset_nA[r] per range; dac_gain_ppm, dac_offset_nA (None or per range); board."""

    def __init__(self, c):
        self.v_gain_ppm = c.v_gain_ppm
        self.v_offset_uV = c.v_offset_uV
        self.i_gain_ppm = c.i_gain_ppm
        self.i_offset_nA = c.i_offset_nA
        self.dac_gain_ppm = c.dac_gain_ppm
        self.dac_offset_nA = c.dac_offset_nA
        self.board = c.board


def load(ranges_nA):
    """The board's checked calibration (calibration.load) as a Calib record."""
    was = "calibration" in sys.modules
    import calibration
    cal = Calib(calibration.load(ranges_nA))   # CalibrationError: not dropped
    calibration = None
    if not was:
        del sys.modules["calibration"]
    return cal
