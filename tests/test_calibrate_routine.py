"""The host-driven calibration routine (host_tools/calibrate.py) against the board's
loop (firmware/board/runtime.py with the sim board's front-end, in-process): the front-end
model is given large gain and offset errors; a reference meter reads the current the
source really drives. After the routine the board's readings are right to 0.1 % of
full scale in every range; before it they are off by more than 1 %."""
import os

import pytest
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import host_tools  # noqa: E402  (the board-side folders on sys.path)
for p in (ROOT, host_tools.BOARDS_DIR, os.path.join(ROOT, "tests", "core")):
    sys.path.insert(0, p)
from host_tools.calibrate import calibrate  # noqa: E402
import calibration  # noqa: E402
import channel  # noqa: E402
import runtime  # noqa: E402
import sim as simboard  # noqa: E402
import wire  # noqa: E402
from standin import Cfg, Port, loop  # noqa: E402


class BiasLoad:
    """What the routine calibrates into: a bias source at cell voltage (3.7 V) behind a
    10 ohm resistor, so +-80 % of the 20 mA range stays far inside the safety's window.
    (A coin cell of 0.08 mAh would be driven to a rail by 16 mA: the safety trips.)"""

    def __init__(self, v_V=3.7, r_ohm=10.0):
        self.v0, self.r = v_V, r_ohm
        self.v_V = v_V

    def step(self, dt_s, i_A):
        self.v_V = self.v0 + i_A * self.r


def _board(tmp_path):
    clock = simboard.make_clock(Cfg)
    fe = simboard.make_frontend(Cfg, clock)
    m = fe.model
    m.cell = BiasLoad()
    n = len(m.ranges_nA)
    # a badly built board: 2 % gain errors, 1.5 % of full scale offsets (plausible
    # enough to calibrate, far too large to run on)
    m.gain_err = [0.02, -0.015, 0.01, -0.02][:n]
    m.offset_nA = [0.015 * fs * (-1) ** k for k, fs in enumerate(m.ranges_nA)]
    ch = channel.Channel(simboard.I_MAX_NA, simboard.I_FLOOR_NA)
    sess = calibration.Session(fe, simboard.RANGES_NA, path=str(tmp_path / "calib.json"),
                               channel=ch)
    port = Port()
    rt = runtime.Runtime(fe, clock, ch, port, calib=sess, tick_ms=100, fs_dir=str(tmp_path))
    rt.start()
    return rt, port


def _command(rt, port):
    def command(text):
        port.send(text + "\n")
        for _ in range(50):
            loop(rt, 1)
            for k, line in enumerate(port.out):
                r = wire.parse_reply(line)
                if r is not None and r[1].startswith(text.split()[0]):
                    del port.out[:k + 1]
                    if not r[0]:
                        raise RuntimeError(line)
                    return r[2]
        raise RuntimeError("no reply to %r" % text)
    return command


class Meter:
    """The reference: the current the source really drives, read to 0.01 %."""

    def __init__(self, rt):
        self.rt = rt

    def current_nA(self):
        return int(round(self.rt.fe.model.true_i_nA))


def _worst_error_pct(rt, command):
    worst = 0.0
    for r, fs in enumerate(simboard.RANGES_NA):
        command("calibrate source %d %d" % (r, fs // 2))
        kv = dict(w.split("=") for w in command("calibrate read").split())
        true = rt.fe.model.true_i_nA
        worst = max(worst, abs(int(kv["i_nA"]) - true) / fs * 100)
    command("calibrate off")
    return worst


def test_routine_brings_every_range_within_0_1_percent(tmp_path):
    rt, port = _board(tmp_path)
    command = _command(rt, port)
    before = _worst_error_pct(rt, command)
    assert before > 1.0, before
    reply = calibrate(command, Meter(rt), list(simboard.RANGES_NA), settle=lambda: None,
                      log=lambda s: None)
    assert reply.startswith("saved")
    after = _worst_error_pct(rt, command)
    assert after < 0.1, after
    # stored on the board and plausible: a reboot loads it
    c = calibration.load(simboard.RANGES_NA, str(tmp_path / "calib.json"))
    assert c.i_gain_ppm != (1000000,) * len(simboard.RANGES_NA)
    assert not rt.fe.model.on   # `calibrate off` left the output off


def test_calibration_current_runs_under_the_safety(tmp_path):
    """`calibrate source` into the bare 0.08 mAh cell instead of a bias load: the
    channel's safety trips (the voltage leaves the window) and the output goes off,
    as in a run; without the safety layer the model cell is driven to its rail."""
    rt, port = _board(tmp_path)
    rt.fe.model.cell = simboard_cell = __import__("cellmodel").make_cell("fig4")
    simboard_cell.set_soc(simboard.SOC0)
    command = _command(rt, port)
    command("calibrate source 3 16000000")
    for _ in range(20):
        rt.tick()
        rt.clock.sleep_ms(rt.tick_ms)
    assert rt.ch.fault_name() == "overvoltage"
    assert not rt.fe.model.on and not rt.ch.sourcing
    with pytest.raises(RuntimeError, match="fault is latched"):
        command("calibrate source 0 1000")
