# Calibration: gain and offset per current range and for the voltage, as integers
# (gain in ppm, offsets in nA / uV), stored on the board in calib.json.
# `load()` refuses a missing or implausible calibration: the board must not run on guesses.
# The fit is pure (host or board): two points (raw reading, reference value) per range.
import json
import os

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

FILENAME = "calib.json"
VERSION = const(1)
GAIN_TOL_PPM = const(50000)     # +-5 %: a shunt, divider or amplifier off by more is broken
I_OFFSET_TOL_PCT = const(3)     # offsets within 3 % of the range's full scale
V_OFFSET_TOL_UV = const(100000)  # 3 % of a 3.3 V ADC span is 100 mV


class CalibrationError(Exception):
    pass


class Calibration:
    """v_gain_ppm, v_offset_uV; i_gain_ppm[r], i_offset_nA[r] per current range r.

    calibrated = raw * gain_ppm / 1e6 + offset (raw: the nominal, uncalibrated reading).
    """

    def __init__(self, v_gain_ppm, v_offset_uV, i_gain_ppm, i_offset_nA, board="",
                 dac_gain_ppm=None, dac_offset_nA=None):
        self.v_gain_ppm = int(v_gain_ppm)
        self.v_offset_uV = int(v_offset_uV)
        self.i_gain_ppm = tuple(int(g) for g in i_gain_ppm)
        self.i_offset_nA = tuple(int(o) for o in i_offset_nA)
        self.board = board
        # The setpoint path, per range: true current = the DAC code's nominal current x
        # gain + offset. None: the setpoint inverts the measurement's calibration.
        self.dac_gain_ppm = None if dac_gain_ppm is None else tuple(int(g) for g in dac_gain_ppm)
        self.dac_offset_nA = None if dac_offset_nA is None else tuple(int(o) for o in dac_offset_nA)

    def to_dict(self):
        d = {"version": VERSION, "board": self.board,
             "v": [self.v_gain_ppm, self.v_offset_uV],
             "i": [[g, o] for g, o in zip(self.i_gain_ppm, self.i_offset_nA)]}
        if self.dac_gain_ppm is not None:
            d["dac"] = [[g, o] for g, o in zip(self.dac_gain_ppm, self.dac_offset_nA)]
        return d

    def __eq__(self, other):
        return isinstance(other, Calibration) and self.to_dict() == other.to_dict()


def identity(n_ranges, board=""):
    """The nominal scale factors (gain 1, offset 0): for bring-up and the calibrate command."""
    return Calibration(1000000, 0, (1000000,) * n_ranges, (0,) * n_ranges, board)


def from_dict(d):
    try:
        if d["version"] != VERSION:
            raise CalibrationError("calibration file version %r, this firmware reads %d"
                                   % (d["version"], VERSION))
        v = d["v"]
        pairs = d["i"]
        dac = d.get("dac")
        return Calibration(v[0], v[1], [p[0] for p in pairs], [p[1] for p in pairs],
                           d.get("board", ""),
                           None if dac is None else [p[0] for p in dac],
                           None if dac is None else [p[1] for p in dac])
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise CalibrationError("calibration file malformed (%r); expected e.g. "
                               '{"version": 1, "board": "pico", "v": [1000000, 0], '
                               '"i": [[1000000, 0], [1000000, 0]]}' % (e,))


def problems(cal, ranges_nA):
    """A list of what is implausible in `cal` for a board with these ranges; [] if fine."""
    out = []
    if len(cal.i_gain_ppm) != len(ranges_nA):
        out.append("calibration has %d current ranges, the board %d"
                   % (len(cal.i_gain_ppm), len(ranges_nA)))
        return out
    if abs(cal.v_gain_ppm - 1000000) > GAIN_TOL_PPM:
        out.append("voltage gain %d ppm is outside 1e6 +- %d (5 %%)" % (cal.v_gain_ppm, GAIN_TOL_PPM))
    if abs(cal.v_offset_uV) > V_OFFSET_TOL_UV:
        out.append("voltage offset %d uV is beyond +-%d uV" % (cal.v_offset_uV, V_OFFSET_TOL_UV))
    for r in range(len(ranges_nA)):
        g = cal.i_gain_ppm[r]
        o = cal.i_offset_nA[r]
        lim = ranges_nA[r] * I_OFFSET_TOL_PCT // 100
        if abs(g - 1000000) > GAIN_TOL_PPM:
            out.append("range %d (%d nA): current gain %d ppm is outside 1e6 +- %d (5 %%)"
                       % (r, ranges_nA[r], g, GAIN_TOL_PPM))
        if abs(o) > lim:
            out.append("range %d (%d nA): current offset %d nA is beyond +-%d nA (%d %% of full scale)"
                       % (r, ranges_nA[r], o, lim, I_OFFSET_TOL_PCT))
    if cal.dac_gain_ppm is not None:
        if len(cal.dac_gain_ppm) != len(ranges_nA) or len(cal.dac_offset_nA) != len(ranges_nA):
            out.append("calibration has %d DAC ranges, the board %d"
                       % (len(cal.dac_gain_ppm), len(ranges_nA)))
            return out
        for r in range(len(ranges_nA)):
            g = cal.dac_gain_ppm[r]
            o = cal.dac_offset_nA[r]
            lim = ranges_nA[r] * I_OFFSET_TOL_PCT // 100
            if abs(g - 1000000) > GAIN_TOL_PPM or abs(o) > lim:
                out.append("range %d (%d nA): setpoint gain %d ppm / offset %d nA outside "
                           "1e6 +- %d / +-%d nA" % (r, ranges_nA[r], g, o, GAIN_TOL_PPM, lim))
    return out


def check(cal, ranges_nA):
    p = problems(cal, ranges_nA)
    if p:
        raise CalibrationError("implausible calibration: " + "; ".join(p)
                               + ". Recalibrate with the `calibrate` command.")


def save(cal, path=FILENAME):
    """Write atomically: a temp file, then os.rename over the old one."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(cal.to_dict()))
    try:
        os.rename(tmp, path)
    except OSError:  # a FAT volume will not rename onto an existing file
        os.remove(path)
        os.rename(tmp, path)


def load(ranges_nA, path=FILENAME):
    """The stored calibration, checked; CalibrationError if missing or implausible."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise CalibrationError("no calibration file %r on the board: the channel will not run "
                               "uncalibrated. Calibrate with the `calibrate` command." % path)
    try:
        d = json.loads(text)
    except ValueError:
        raise CalibrationError("calibration file %r is not JSON (a torn write?); recalibrate" % path)
    cal = from_dict(d)
    check(cal, ranges_nA)
    return cal


def fit_two_point(raw_a, ref_a, raw_b, ref_b):
    """(gain_ppm, offset) with ref = raw * gain_ppm / 1e6 + offset through both points.

    raw: the front-end's uncalibrated reading (v_raw or i_raw); ref: what a reference meter
    read at the same time, in the same unit. Rounded to integers.
    """
    if raw_a == raw_b:
        raise CalibrationError("the two calibration points have the same raw reading %d: "
                               "take them far apart (e.g. -80 %% and +80 %% of full scale)" % raw_a)
    d = raw_b - raw_a
    num = (ref_b - ref_a) * 1000000
    gain = (2 * num + d) // (2 * d) if d > 0 else (2 * -num - d) // (-2 * d)
    # offset = ref - raw * gain / 1e6, taken at the mean of the two points.
    mean_ref2 = ref_a + ref_b
    mean_raw2 = raw_a + raw_b
    off2 = mean_ref2 * 1000000 - mean_raw2 * gain
    offset = (off2 + 1000000) // 2000000
    return gain, offset


def fit(v_points, i_points, board=""):
    """A Calibration from v_points = (raw_a, ref_a, raw_b, ref_b) and one such 4-tuple per
    current range in i_points."""
    vg, vo = fit_two_point(*v_points)
    gains, offs = [], []
    for p in i_points:
        g, o = fit_two_point(*p)
        gains.append(g)
        offs.append(o)
    return Calibration(vg, vo, gains, offs, board)


# The highest voltage a calibration current may push the load to (a reference meter
# reads near 0 V, a dummy cell or a bias source at cell voltage up to 4.1 V, FACTS:
# cycling window): beyond it the safety trips as in a run.
SOURCE_V_MAX_UV = const(4500000)
VOLTAGE = const(15)  # `calibrate point 15 <raw_uV> <ref_uV>`: the voltage input


class Session:
    """The console's `calibrate` commands (firmware/core/console.py): collect two reference
    points per input, fit, check plausibility, save atomically, apply to the front-end.

    point(r, raw, ref): r is a current range index (raw and ref in nA), or VOLTAGE (15,
    raw and ref in uV); raw is the front-end's uncalibrated reading (fe.i_raw / fe.v_raw
    as `status` shows them), ref what the reference meter read at the same time.
    Inputs without two new points keep their present gain and offset.
    """

    def __init__(self, fe, ranges_nA, current=None, path=FILENAME, board="", channel=None,
                 v_max_uV=SOURCE_V_MAX_UV):
        self.fe = fe
        self.channel = channel      # `source` goes through its safety layer
        self.v_max_uV = v_max_uV
        self.ranges_nA = tuple(ranges_nA)
        self.current = current if current is not None else identity(len(ranges_nA), board)
        self.path = path
        self.board = board
        self.points = {}
        self.dac_points = {}

    def source(self, r, i_nA):
        """Drive i_nA in range r into a reference meter (calibration only, no cell)."""
        if not 0 <= r < len(self.ranges_nA):
            raise ValueError("range %d: expected 0..%d" % (r, len(self.ranges_nA) - 1))
        fs = self.ranges_nA[r]
        if not -fs <= i_nA <= fs:
            raise ValueError("%d nA is beyond range %d's full scale %d nA; e.g. %d (80 %%)"
                             % (i_nA, r, fs, fs * 4 // 5))
        if self.channel is None:
            raise ValueError("this board sources no calibration current (no channel)")
        self.fe.select_range(r)
        # the channel's safety watches it: overcurrent, a voltage beyond v_max_uV, a
        # broken current path; the loop applies the command (firmware/core/loop.py)
        self.channel.source(i_nA, fs, self.v_max_uV)
        self.fe.set_current_nA(i_nA)   # at once; every tick after it, the loop applies it
        return "range=%d i_set_nA=%d" % (r, i_nA)

    def read(self):
        """The latest raw (uncalibrated) and calibrated readings of the loop."""
        fe = self.fe
        return "range=%d v_raw=%d i_raw=%d v_uV=%d i_nA=%d" % (
            fe.range_index, fe.v_raw, fe.i_raw, fe.v_uV, fe.i_nA)

    def off(self):
        if self.channel is not None:
            self.channel.source_off()
        self.fe.off()
        return "output off"

    def show(self):
        c = self.current
        s = "v=%d,%d" % (c.v_gain_ppm, c.v_offset_uV)
        for r in range(len(self.ranges_nA)):
            s += " r%d=%d,%d" % (r, c.i_gain_ppm[r], c.i_offset_nA[r])
        return s + " points=%d fs_nA=%s" % (sum(len(p) for p in self.points.values()),
                                            ",".join(str(f) for f in self.ranges_nA))

    def point(self, r, raw, ref):
        if r != VOLTAGE and not 0 <= r < len(self.ranges_nA):
            raise ValueError("range %d: expected 0..%d for a current range or %d for the "
                             "voltage; e.g. calibrate point 2 10342 1000000"
                             % (r, len(self.ranges_nA) - 1, VOLTAGE))
        pts = self.points.setdefault(r, [])
        if len(pts) >= 2:
            pts.pop(0)   # the newest two points count
        pts.append((raw, ref))
        fe = self.fe
        if r != VOLTAGE and fe is not None and getattr(fe, "on", False) \
                and getattr(fe, "range_index", -1) == r and hasattr(fe, "command_raw_nA"):
            # The same reference reading against what the DAC code means nominally: the
            # setpoint path's own point.
            dp = self.dac_points.setdefault(r, [])
            if len(dp) >= 2:
                dp.pop(0)
            dp.append((fe.command_raw_nA(), ref))
        return "%s has %d point(s)" % ("voltage" if r == VOLTAGE else "range %d" % r, len(pts))

    def save(self):
        c = self.current
        vg, vo = c.v_gain_ppm, c.v_offset_uV
        gains, offs = list(c.i_gain_ppm), list(c.i_offset_nA)
        try:
            for r, pts in self.points.items():
                if len(pts) < 2:
                    raise ValueError("%s has one point; a fit needs two, far apart (e.g. -80 %% "
                                     "and +80 %% of full scale)"
                                     % ("voltage" if r == VOLTAGE else "range %d" % r))
                g, o = fit_two_point(pts[0][0], pts[0][1], pts[1][0], pts[1][1])
                if r == VOLTAGE:
                    vg, vo = g, o
                else:
                    gains[r], offs[r] = g, o
            n = len(self.ranges_nA)
            dg = list(c.dac_gain_ppm) if c.dac_gain_ppm is not None else None
            do = list(c.dac_offset_nA) if c.dac_offset_nA is not None else None
            for r, pts in self.dac_points.items():
                if len(pts) == 2 and pts[0][0] != pts[1][0]:
                    if dg is None:
                        # Ranges without their own points keep what the setpoint used so
                        # far: the measurement's gain and offset, inverted in FrontEnd.
                        dg, do = list(gains), list(offs)
                    dg[r], do[r] = fit_two_point(pts[0][0], pts[0][1], pts[1][0], pts[1][1])
            if dg is not None and len(dg) != n:
                dg = do = None
            cal = Calibration(vg, vo, gains, offs, self.board, dg, do)
            check(cal, self.ranges_nA)
        except CalibrationError as e:
            raise ValueError(str(e))
        save(cal, self.path)
        extra = ""
        if self.fe is not None and hasattr(self.fe, "set_calibration"):
            self.fe.set_calibration(cal)
            store = getattr(self.fe, "store_power_up_code", None)
            code = store() if store is not None else None
            if code is not None:
                extra = " power_up_code=%d" % code
        self.current = cal
        self.points = {}
        self.dac_points = {}
        return "saved " + self.show() + extra
