# The `calibrate` commands' back end (calibration.Session) and the refusal to run
# without a plausible calibration (Channel.block). Plain functions: both interpreters.
import os

import calibration
import channel
import console

RANGES = (20000, 200000, 2000000, 20000000)


def _path(name):
    try:
        import tempfile
        return os.path.join(tempfile.mkdtemp(), name)
    except ImportError:
        return name


class FE:
    def __init__(self):
        self.calib = None

    def set_calibration(self, c):
        self.calib = c


def test_two_points_fit_check_save_and_apply():
    fe = FE()
    path = _path("calib.json")
    s = calibration.Session(fe, RANGES, path=path, board="test")
    # range 1 reads 0.5 % high with a 100 nA offset: ref = (raw - 100) / 1.005
    for raw in (-160000, 160000):
        s.point(1, raw, int(round((raw - 100) / 1.005)))
    s.point(calibration.VOLTAGE, 1000000, 1002000)
    s.point(calibration.VOLTAGE, 4000000, 4008000)
    out = s.save()
    assert out.startswith("saved")
    c = calibration.load(RANGES, path)
    assert abs(c.i_gain_ppm[1] - 995025) < 5, c.i_gain_ppm
    assert abs(c.i_offset_nA[1] - (-100)) <= 2
    assert c.i_gain_ppm[0] == 1000000          # untouched ranges keep theirs
    assert abs(c.v_gain_ppm - 1002000) < 5
    assert fe.calib == c                      # applied to the front-end at once


def test_implausible_or_incomplete_is_refused_and_nothing_saved():
    path = _path("calib.json")
    s = calibration.Session(FE(), RANGES, path=path)
    s.point(2, -1000000, -1200000)
    s.point(2, 1000000, 1200000)              # 20 % gain error: a broken shunt
    try:
        s.save()
    except ValueError as e:
        assert "gain" in str(e)
    else:
        raise AssertionError("saved an implausible calibration")
    try:
        calibration.load(RANGES, path)
    except calibration.CalibrationError as e:
        assert "no calibration file" in str(e)
    s2 = calibration.Session(FE(), RANGES, path=path)
    s2.point(0, 100, 100)
    try:
        s2.save()
    except ValueError as e:
        assert "two" in str(e)
    else:
        raise AssertionError("fitted one point")
    try:
        s2.point(7, 1, 1)
    except ValueError as e:
        assert "range 7" in str(e)
    else:
        raise AssertionError("accepted range 7")


def test_blocked_channel_refuses_to_run_but_calibrate_works():
    ch = channel.Channel(20000000, 500)
    ch.block("refused: no calibration file 'calib.json' on the board")
    out = []
    sess = calibration.Session(FE(), RANGES, path=_path("calib.json"))
    con = console.Console(ch, out.append, calib=sess)
    con.feed_bytes(b"load\ncell 83900 437\nlimits 2500000 4150000 1000000 3600\nrest 1\nend\n")
    con.feed_bytes(b"start\ncalibrate point 1 -160000 -159300\nstatus\n")
    assert out[0].startswith("error load") and "no calibration" in out[0], out
    assert out[1].startswith("error start") and "no calibration" in out[1], out
    assert out[2].startswith("ok calibrate"), out
    assert "refused=yes" in out[3]
    assert not ch.out_on
