"""`cycler ports`: USB boards known by VID:PID (pyserial's port list replaced by stand-in
port-info objects) and virtual boards from the registry (an entry written by hand: no
board is started)."""
import json
import os
import time

import pytest
from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from host_tools import cli, ports


def usb_port(device, vid, pid, product=None, manufacturer=None, serial=None):
    """A pyserial ListPortInfo as the Linux backend fills it for a USB device."""
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid = vid, pid
    info.product, info.manufacturer, info.serial_number = product, manufacturer, serial
    info.description = product or "n/a"
    info.hwid = "USB VID:PID=%04X:%04X" % (vid, pid)
    return info


ATTACHED = [
    usb_port("/dev/ttyUSB1", 0x1A86, 0x7523, "USB Serial"),
    usb_port("/dev/ttyACM0", 0x2E8A, 0x0005, "Board in FS mode", "MicroPython", "e6614c311b"),
    usb_port("/dev/ttyUSB0", 0x10C4, 0xEA60, "CP2102 USB to UART Bridge Controller",
             "Silicon Labs"),
    usb_port("/dev/ttyACM1", 0x303A, 0x4001, "ESP32S3 module", "MicroPython"),
    usb_port("/dev/ttyACM2", 0x0403, 0x6001, "FT232R USB UART", "FTDI"),   # not a board
    ListPortInfo("/dev/ttyS0", skip_link_detection=True),                  # no USB ids
]


@pytest.fixture
def attached(monkeypatch):
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: list(ATTACHED))


@pytest.fixture
def nothing_attached(monkeypatch):
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [])


def register_virtual(registry, port_path, pid=None, **extra):
    """A registry entry in host_tools.simboard's format."""
    registry.mkdir(exist_ok=True)
    info = {"pid": os.getpid() if pid is None else pid, "port": str(port_path),
            "link": None, "dir": "/tmp/board", "cell": "fig4", "speed": 100,
            "started": time.time()}
    info.update(extra)
    path = registry / ("%d-x%d.json" % (info["pid"], len(os.listdir(registry))))
    path.write_text(json.dumps(info))
    return path


# table: (vid, pid) -> board, for every id the issue names
@pytest.mark.parametrize("vid,pid,board", [
    (0x2E8A, 0x0005, "pico"), (0x10C4, 0xEA60, "esp32"), (0x1A86, 0x7523, "esp32"),
    (0x303A, 0x4001, "esp32"), (0x2E8A, 0x0003, None), (0x0403, 0x6001, None)])
def test_known_ids(monkeypatch, registry, vid, pid, board):
    monkeypatch.setattr(list_ports, "comports", lambda: [usb_port("/dev/ttyX", vid, pid)])
    found = ports.find_ports(include_unknown=True)
    assert [p["board"] for p in found] == [board]
    assert found[0]["vid_pid"] == "%04x:%04x" % (vid, pid)


def test_usb_boards_listed_by_kind(attached, registry):
    found = ports.find_ports()
    by_port = {p["port"]: p for p in found}
    assert sorted(by_port) == ["/dev/ttyACM0", "/dev/ttyACM1", "/dev/ttyUSB0", "/dev/ttyUSB1"]
    assert by_port["/dev/ttyACM0"]["board"] == "pico"
    assert by_port["/dev/ttyACM0"]["vid_pid"] == "2e8a:0005"
    assert by_port["/dev/ttyACM0"]["serial"] == "e6614c311b"
    assert "MicroPython" in by_port["/dev/ttyACM0"]["description"]
    assert "CP210x" in by_port["/dev/ttyUSB0"]["kind"]
    assert "CH340" in by_port["/dev/ttyUSB1"]["kind"]
    assert all(not p["virtual"] for p in found)
    everything = ports.find_ports(include_unknown=True)
    assert "/dev/ttyACM2" in [p["port"] for p in everything]
    assert "/dev/ttyS0" not in [p["port"] for p in everything]


def test_virtual_board_from_registry(nothing_attached, registry, tmp_path):
    pty = tmp_path / "pts-7"
    pty.write_text("")          # list_running() wants the port path to exist
    register_virtual(registry, pty)
    dead = tmp_path / "pts-8"
    dead.write_text("")
    stale = register_virtual(registry, dead, pid=2 ** 22 + 12345)   # no such process
    found = ports.find_ports()
    assert [(p["port"], p["board"], p["virtual"]) for p in found] == [(str(pty), "sim", True)]
    assert "cell=fig4" in found[0]["description"]
    assert not stale.exists()   # list_running() cleans up after a dead board


def test_only_port(attached, registry, tmp_path):
    assert ports.only_port("pico") == "/dev/ttyACM0"
    with pytest.raises(LookupError, match="3 esp32 boards found"):
        ports.only_port("esp32")
    with pytest.raises(LookupError, match="no sim board found.*sim-board"):
        ports.only_port("sim")
    pty = tmp_path / "pts-3"
    pty.write_text("")
    register_virtual(registry, pty)
    assert ports.only_port("sim") == str(pty)


def test_command_plain_lines(attached, registry, capsys):
    assert cli.main(["ports", "--plain"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    acm0 = [line for line in lines if line.startswith("/dev/ttyACM0")][0]
    assert acm0.split()[:4] == ["/dev/ttyACM0", "RP2040", "MicroPython", "2e8a:0005"]
    # columns line up: the VID:PID column starts at the same place on every line
    cols = {line.index(v) for line, v in zip(
        sorted(lines), ["2e8a:0005", "303a:4001", "10c4:ea60", "1a86:7523"])}
    assert len(cols) == 1


def test_command_nothing_found(nothing_attached, registry, capsys):
    assert cli.main(["ports"]) == 1
    assert "no boards found" in capsys.readouterr().err
