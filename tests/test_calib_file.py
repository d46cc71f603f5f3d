"""calib_file.load: a real board's setup reads calib.json through calibration.load (the
same checks) into a small record and does not keep calibration.py loaded."""
import sys

import pytest

import host_tools  # noqa: F401  (board-side folders on sys.path)
import calib_file
import calibration

RANGES = (20000, 200000, 2000000, 20000000)


def test_a_plausible_file_becomes_a_record_and_calibration_is_dropped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cal = calibration.Calibration(1001000, -200, (999000, 1000500, 1000000, 1002000),
                                  (3, -4, 50, 100), board="pico")
    calibration.save(cal)
    monkeypatch.delitem(sys.modules, "calibration")
    rec = calib_file.load(RANGES)
    assert "calibration" not in sys.modules          # not kept in the heap
    assert not isinstance(rec, calibration.Calibration)
    for f in ("v_gain_ppm", "v_offset_uV", "i_gain_ppm", "i_offset_nA", "dac_gain_ppm",
              "dac_offset_nA", "board"):
        assert getattr(rec, f) == getattr(cal, f), f
    # what calibration.Session reads of it (show) works on the record
    s = calibration.Session(None, RANGES, rec)
    assert s.show().startswith("v=1001000,-200 r0=999000,3")


def test_an_implausible_or_missing_file_raises_as_calibration_load_does(tmp_path,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(calibration.CalibrationError, match="no calibration file"):
        calib_file.load(RANGES)
    calibration.save(calibration.Calibration(1200000, 0, (1000000,) * 4, (0,) * 4))
    with pytest.raises(calibration.CalibrationError, match="implausible"):
        calib_file.load(RANGES)
    assert "calibration" in sys.modules   # the error's class stays the one main.py checks
