# Calibration: the two-point fit, the stored file (atomic write), the plausibility check
# and load()'s refusal to run on a missing or implausible calibration.
import json
import os

import pytest
from hypothesis import given, settings, strategies as st

import host_tools  # noqa: F401  (puts firmware/ on sys.path)
import calibration
import frontend

RANGES = (20000, 200000, 2000000, 20000000)


@settings(max_examples=300, deadline=None)
@given(gain=st.integers(950000, 1050000), off=st.integers(-600000, 600000),
       a=st.integers(-20000000, 20000000), b=st.integers(-20000000, 20000000))
def test_two_point_fit_recovers_gain_and_offset(gain, off, a, b):
    if abs(a - b) < 100000:
        b = a + 100000 if a < 0 else a - 100000
    ref = lambda raw: raw * gain / 1e6 + off  # noqa: E731
    g, o = calibration.fit_two_point(a, round(ref(a)), b, round(ref(b)))
    # Rounding the references to integers limits what two points can tell apart.
    assert abs(g - gain) <= 1 + 2e6 / abs(a - b)
    for raw in (a, b):
        assert abs(raw * g / 1e6 + o - ref(raw)) <= 2


def test_fit_refuses_two_points_at_the_same_reading():
    with pytest.raises(calibration.CalibrationError, match="far apart"):
        calibration.fit_two_point(1000, 1010, 1000, 1020)


def test_fit_builds_a_calibration_per_range():
    v = (3000000, 3003000, 4000000, 4004000)   # gain 1.001, offset 0
    i = [(-fs * 8 // 10, -fs * 8 // 10 + 10, fs * 8 // 10, fs * 8 // 10 + 10) for fs in RANGES]
    cal = calibration.fit(v, i, board="pico")
    assert cal.v_gain_ppm == 1001000 and cal.v_offset_uV == 0
    assert cal.i_gain_ppm == (1000000,) * 4 and cal.i_offset_nA == (10,) * 4
    assert calibration.problems(cal, RANGES) == []


def test_save_load_round_trip_is_atomic(tmp_path):
    path = str(tmp_path / "calib.json")
    cal = calibration.Calibration(1002000, -1500, (1010000, 990000, 1000000, 1000100),
                                  (100, -2000, 30000, -500000), "pico")
    calibration.save(cal, path)
    calibration.save(cal, path)  # over an existing file
    assert sorted(os.listdir(tmp_path)) == ["calib.json"]  # no temp file left
    assert calibration.load(RANGES, path) == cal


@pytest.mark.parametrize("cal, words", [
    (calibration.Calibration(1060000, 0, (1000000,) * 4, (0,) * 4), ["voltage gain", "1060000"]),
    (calibration.Calibration(1000000, 250000, (1000000,) * 4, (0,) * 4), ["voltage offset"]),
    (calibration.Calibration(1000000, 0, (1000000, 1000000, 940000, 1000000), (0,) * 4),
     ["range 2", "940000"]),
    (calibration.Calibration(1000000, 0, (1000000,) * 4, (700, 0, 0, 0)),
     ["range 0", "700 nA", "600"]),
    (calibration.Calibration(1000000, 0, (1000000,) * 3, (0,) * 3), ["3 current ranges", "4"]),
])
def test_implausible_calibrations_say_what_is_wrong(tmp_path, cal, words):
    path = str(tmp_path / "calib.json")
    calibration.save(cal, path)
    with pytest.raises(calibration.CalibrationError) as e:
        calibration.load(RANGES, path)
    for w in words:
        assert w in str(e.value)


def test_missing_file_refuses_to_run(tmp_path):
    with pytest.raises(calibration.CalibrationError, match="calibrate"):
        calibration.load(RANGES, str(tmp_path / "calib.json"))


@pytest.mark.parametrize("text, words", [
    ("{not json", "not JSON"),
    ('{"version": 1, "v": [1000000]}', "malformed"),
    ('{"version": 2, "v": [1000000, 0], "i": []}', "version"),
])
def test_broken_files_are_refused(tmp_path, text, words):
    path = tmp_path / "calib.json"
    path.write_text(text)
    with pytest.raises(calibration.CalibrationError, match=words):
        calibration.load(RANGES, str(path))


def test_file_format_is_plain_json(tmp_path):
    path = tmp_path / "calib.json"
    calibration.save(calibration.identity(4, "esp32"), str(path))
    d = json.loads(path.read_text())
    assert d == {"version": 1, "board": "esp32", "v": [1000000, 0], "i": [[1000000, 0]] * 4}


@settings(max_examples=300, deadline=None)
@given(x=st.integers(-99999999, 99999999), gain=st.integers(900000, 1100000))
def test_apply_ppm_matches_the_exact_product_and_inverts(x, gain):
    y = frontend.apply_ppm(x, gain - 1000000)
    assert abs(y - x * gain / 1e6) <= 1
    back = frontend.apply_ppm(y, frontend.inverse_dev_ppm(gain))
    assert abs(back - x) <= 2 + abs(x) * 1e-6
