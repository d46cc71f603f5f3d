"""`cycler calibrate` as a person runs it: the board found on its own (one, several or
none attached), a SCPI bench meter through PyVISA (pyvisa-sim with tests/dmm_sim.yaml
stands in for it), the channel wired to a bias source at cell voltage. The board is
the firmware's runtime with the sim board's front-end behind a real pty."""
import os
import pty
import select
import threading

import pytest

from test_calibrate_routine import BiasLoad, _board, _worst_error_pct, _command
from host_tools import calibrate as cal, cli

pyvisa = pytest.importorskip("pyvisa")
pytest.importorskip("pyvisa_sim")

YAML = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dmm_sim.yaml")
LIB = YAML + "@sim"
RESOURCE = "TCPIP::192.168.1.5::INSTR"
# Keysight 34461A, DC current, 1 year: 0.05 % of reading + 0.005 % of range (10 mA
# range and below, datasheet 5991-1983EN table "DC characteristics"); the stand-in
# meter is off by the reading term, all of it, the same way.
METER_GAIN_ERR = 0.0005


_RM = []   # pyvisa keeps a library only while a ResourceManager refers to it


def _sim_device():
    if not _RM:
        _RM.append(pyvisa.ResourceManager(LIB))
    return _RM[0].visalib.devices["TCPIP0::192.168.1.5::inst0::INSTR"]


class PtyBoard:
    """The in-process board behind a pty: bytes in, ticks, replies out; after each tick
    the meter in series reads the current the source really drives."""

    def __init__(self, tmp_path, load=None):
        self.rt, self.port = _board(tmp_path)
        if load is not None:
            self.rt.fe.model.cell = load
        self.master, slave = pty.openpty()
        self.path = os.ttyname(slave)
        self._slave = slave
        import tty
        tty.setraw(slave)
        self.meter = _sim_device()._properties["current"]
        self.run = False
        self.t = None

    def start(self):
        self.run = True
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def stop(self):
        self.run = False
        if self.t is not None:
            self.t.join(2)
        self.port.out.clear()

    def _loop(self):
        rt, port = self.rt, self.port
        while self.run:
            r, _, _ = select.select([self.master], [], [], 0.002)
            if r:
                port.inq += os.read(self.master, 4096)
            rt.tick()
            rt.clock.sleep_ms(rt.tick_ms)
            true_A = rt.fe.model.true_i_nA * 1e-9 if rt.fe.model.on else 0.0
            self.meter.set_value(repr(true_A * (1 + METER_GAIN_ERR)))
            while port.out:
                os.write(self.master, port.out.pop(0).encode())

    def close(self):
        self.stop()
        os.close(self.master)
        os.close(self._slave)


def _register(registry, path, name):
    import json
    registry.mkdir(exist_ok=True)
    (registry / (name + ".json")).write_text(json.dumps(
        {"port": path, "pid": os.getpid(), "started": 0, "cell": "bias"}))


def test_one_board_found_alone_and_a_scpi_meter_calibrate_it(tmp_path, registry, capsys):
    b = PtyBoard(tmp_path, BiasLoad())
    try:
        _register(registry, b.path, "a")
        before = _worst_error_pct(b.rt, _command(b.rt, b.port))
        b.start()
        rc = cli.main(["calibrate", "--meter", "visa:" + RESOURCE, "--visa-library", LIB,
                       "--settle-s", "0"])
        out, err = capsys.readouterr()
        b.stop()
        assert rc == 0, out + err
        assert "saved" in out
        after = _worst_error_pct(b.rt, _command(b.rt, b.port))
    finally:
        b.close()
    assert before > 1.0
    # the meter's own 0.05 % is all that is left, well inside 0.1 % of full scale
    assert after < 0.1, after


def test_a_short_is_refused_before_any_current_flows(tmp_path, registry, capsys):
    b = PtyBoard(tmp_path, BiasLoad(v_V=0.0, r_ohm=0.01))
    try:
        _register(registry, b.path, "a")
        b.start()
        rc = cli.main(["calibrate", "--meter", "visa:" + RESOURCE, "--visa-library", LIB,
                       "--settle-s", "0"])
        err = capsys.readouterr().err
    finally:
        b.close()
    assert rc == 1
    assert "no bias source" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2
    assert not b.rt.fe.model.on


def test_no_board_or_several_boards_say_what_to_do(tmp_path, registry, capsys):
    rc = cli.main(["calibrate", "--meter", "visa:" + RESOURCE, "--visa-library", LIB])
    err = capsys.readouterr().err
    assert rc == 2 and "no --port given and no board found" in err
    fds = [pty.openpty() for _ in range(2)]
    names = [os.ttyname(s) for m, s in fds]
    try:
        for k, name in enumerate(names):
            _register(registry, name, "b%d" % k)
        rc = cli.main(["calibrate", "--meter", "visa:" + RESOURCE, "--visa-library", LIB])
        err = capsys.readouterr().err
    finally:
        for m, s in fds:
            os.close(m)
            os.close(s)
    assert rc == 2 and "2 boards found; pass --port with one of" in err
    assert names[0] in err and names[1] in err


@pytest.mark.parametrize("spec, words", [
    ("visa:TCPIP::10.9.9.9::INSTR", "does not answer"),
    ("visa:NOT-A-RESOURCE", "cannot open the meter"),
    ("fluke", "expected manual or visa:RESOURCE"),
])
def test_meter_errors_teach(spec, words):
    with pytest.raises(cal.MeterError, match=words):
        cal.open_meter(spec, LIB)


def test_scpi_meter_reads_amperes_as_nA():
    m = cal.open_meter("visa:" + RESOURCE, LIB)
    assert "DMM" in m.idn
    _sim_device()._properties["current"].set_value("1.6e-05")
    assert m.current_nA() == 16000
    _sim_device()._properties["current"].set_value("-0.016")
    assert m.current_nA() == -16000000
