"""`cycler ports`: which boards are attached (USB serial ports known by VID:PID) and
which virtual boards are running, so `cycler run/log/flash` can name or pick one.

It only looks: it never opens a port, so it cannot disturb a board that is logging.
"""
import json
import os
import sys
import tempfile

from serial.tools import list_ports

# USB VID:PID -> (board name as in boards/, what the device is). The USB-UART bridges
# (CP210x, CH340) sit on most ESP32 dev boards; they say nothing about the chip behind
# them, so the board is a guess there and `cycler flash` checks the chip itself.
KNOWN_USB = {
    (0x2E8A, 0x0005): ("pico", "RP2040 MicroPython"),
    (0x10C4, 0xEA60): ("esp32", "CP210x USB-UART (ESP32 dev board)"),
    (0x1A86, 0x7523): ("esp32", "CH340 USB-UART (ESP32 dev board)"),
    (0x303A, 0x4001): ("esp32", "ESP32-S2/S3 native USB (MicroPython)"),
    (0x303A, 0x1001): ("esp32", "ESP32-S3/C3 USB-Serial/JTAG"),
}


def vid_pid(vid, pid):
    return "%04x:%04x" % (vid, pid) if vid is not None and pid is not None else "-"


def find_ports(include_unknown=False, include_virtual=True):
    """Attached boards then running virtual boards, as dicts:
    port (the path to open), board ("pico", "esp32", "sim", or None), kind (what it is),
    vid_pid ("2e8a:0005" or "-"), description, serial, virtual (bool).
    USB serial ports not in KNOWN_USB are left out unless include_unknown; ports with
    no USB ids (ttyS0, Bluetooth) always are."""
    found = []
    for info in sorted(list_ports.comports(), key=lambda p: p.device):
        vid, pid = getattr(info, "vid", None), getattr(info, "pid", None)
        if vid is None or pid is None:
            continue
        board, kind = KNOWN_USB.get((vid, pid), (None, "unknown USB serial device"))
        if board is None and not include_unknown:
            continue
        desc = getattr(info, "product", None) or getattr(info, "description", None) or ""
        if desc == "n/a":
            desc = ""
        maker = getattr(info, "manufacturer", None)
        if maker and maker not in desc:
            desc = ("%s %s" % (maker, desc)).strip()
        found.append({"port": info.device, "board": board, "kind": kind,
                      "vid_pid": vid_pid(vid, pid), "description": desc,
                      "serial": getattr(info, "serial_number", None), "virtual": False})
    if include_virtual:
        found += virtual_ports()
    return found


# -- the registry of running virtual boards (`cycler sim-board` writes it) -----------
def registry_dir():
    """Where running virtual boards register themselves (one JSON file each)."""
    return os.environ.get("CYCLER_SIMBOARD_REGISTRY") or os.path.join(
        tempfile.gettempdir(), "cycler-simboards")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_running():
    """Running virtual boards (dicts with port, link, dir, cell, speed, pid), oldest first.
    Entries left behind by a process that died are removed."""
    out = []
    reg = registry_dir()
    try:
        names = sorted(os.listdir(reg))
    except FileNotFoundError:
        return out
    for name in names:
        if not name.endswith(".json"):
            continue
        path = os.path.join(reg, name)
        try:
            with open(path) as f:
                info = json.load(f)
        except (OSError, ValueError):
            continue
        if not _pid_alive(info.get("pid", -1)) or not os.path.exists(info.get("port", "")):
            try:
                os.unlink(path)
            except OSError:
                pass
            continue
        out.append(info)
    out.sort(key=lambda i: i.get("started", 0))
    return out



def virtual_ports():
    """Running virtual boards (the registry above) in find_ports' form."""
    out = []
    for info in list_running():
        bits = []
        for key in ("cell", "speed"):
            if info.get(key) is not None:
                bits.append("%s=%s" % (key, info[key]))
        if info.get("link"):
            bits.append("link %s" % info["link"])
        if info.get("dir"):
            bits.append("folder %s" % info["dir"])
        out.append({"port": info["port"], "board": "sim", "kind": "virtual board",
                    "vid_pid": "-", "description": ", ".join(bits),
                    "serial": None, "virtual": True, "pid": info.get("pid")})
    return out


class PortError(LookupError):
    """No port given and not exactly one board to pick: the message says what to do."""


def resolve(port=None, board=None, ports=None):
    """The port every command uses: `port` if given (--port), else the only attached or
    virtual board (of that board name, if given). Raises PortError saying what was
    found otherwise. The one place "which port by default" is decided."""
    if port:
        return port
    return only_port(board, ports)


def only_port(board=None, ports=None):
    """The path of the only attached board (of that board name, if given), for commands
    run without --port. Raises PortError saying what was found otherwise."""
    ports = find_ports() if ports is None else ports
    if board is not None:
        ports = [p for p in ports if p["board"] == board]
    what = "%s board" % board if board else "board"
    if len(ports) == 1:
        return ports[0]["port"]
    if not ports:
        raise PortError(
            "no --port given and no %s found: plug one in (`cycler ports` lists what is attached) or start "
            "a virtual one with `cycler sim-board`" % what)
    raise PortError("no --port given and %d %ss found; pass --port with one of: %s"
                      % (len(ports), what, ", ".join(p["port"] for p in ports)))


def format_lines(ports):
    """Plain lines "PATH  KIND  VID:PID  description", columns aligned."""
    rows = [(p["port"], p["kind"], p["vid_pid"], p["description"]) for p in ports]
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [("%-*s  %-*s  %-*s  %s" % (widths[0], r[0], widths[1], r[1], widths[2], r[2], r[3]))
            .rstrip() for r in rows]


# -- the `cycler ports` command ------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--all", action="store_true",
                        help="also list USB serial devices that are not known boards")
    parser.add_argument("--plain", action="store_true",
                        help="plain lines (PATH  KIND  VID:PID  description) even on a terminal")


def run(args):
    ports = find_ports(include_unknown=args.all)
    if not ports:
        print("no boards found (USB: %s; virtual: none running). Plug one in, or start "
              "one with `cycler sim-board`." % ", ".join(
                  "%s %s" % (vid_pid(*k), v[1]) for k, v in KNOWN_USB.items()),
              file=sys.stderr)
        return 1
    if args.plain or not sys.stdout.isatty():
        for line in format_lines(ports):
            print(line)
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich import box
    con = Console()
    # In 80 columns: no side borders, the description wraps; the path never does.
    table = Table(box=box.HEAVY_HEAD if con.width >= 100 else box.SIMPLE_HEAD,
                  pad_edge=con.width >= 100)
    for col in ("PATH", "KIND", "VID:PID", "DESCRIPTION", "BOARD"):
        table.add_column(col, no_wrap=col != "DESCRIPTION", overflow="fold")
    for p in ports:
        table.add_row(*(escape(x) for x in (p["port"], p["kind"], p["vid_pid"],
                                            p["description"], p["board"] or "?")))
    con.print(table)
    return 0
