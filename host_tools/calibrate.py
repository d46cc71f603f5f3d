"""`cycler calibrate --port P`: the host-driven calibration against a reference meter.

For every current range the board sources -80 % and +80 % of full scale into the
meter (`calibrate source`), the host reads the board's raw reading (`calibrate read`,
averaged) and the meter's, and sends the pair (`calibrate point`); then `calibrate
save` fits gain and offset per range, checks them for plausibility on the board and
stores them atomically (firmware/board/calibration.py). A reference meter is an object
with current_nA(); `--meter manual` asks a person to type what the meter shows.
Calibrate into a meter (or a precision resistor), never into a cell.
"""
import sys
import time

FRACTION = 0.8      # the two points: -80 % and +80 % of full scale
READS = 5           # raw readings averaged per point


def add_arguments(p):
    p.add_argument("--port", help="serial port of the board (default: the only one)")
    p.add_argument("--meter", default="manual", choices=["manual"],
                   help="how the reference current is read (manual: typed in uA)")
    p.add_argument("--ranges", default=None,
                   help="comma-separated range indexes (default: all the board reports)")
    p.add_argument("--settle-s", type=float, default=1.0,
                   help="wait after each setpoint before reading (default 1 s)")


class ManualMeter:
    """A person reads the meter and types the value in microamps."""

    def current_nA(self):
        while True:
            s = input("  meter reading in uA: ").strip()
            try:
                return int(round(float(s) * 1000))
            except ValueError:
                print("  a number, please (e.g. -160.02)")


def calibrate(command, meter, ranges_nA, settle=lambda: time.sleep(1.0), log=print):
    """Run the routine. command(text) -> reply text (raises on an error reply);
    meter.current_nA(); ranges_nA: the board's ranges (full scale, ascending).
    Returns the board's reply to `calibrate save`."""
    try:
        for r, fs in enumerate(ranges_nA):
            if fs is None:
                continue
            for sign in (-1, 1):
                i_set = int(sign * FRACTION * fs)
                command("calibrate source %d %d" % (r, i_set))
                settle()
                raws = []
                for _ in range(READS):
                    kv = _pairs(command("calibrate read"))
                    raws.append(int(kv["i_raw"]))
                    settle()
                raw = int(round(sum(raws) / len(raws)))
                ref = meter.current_nA()
                log("range %d (%d nA): set %d nA, raw %d nA, meter %d nA" % (
                    r, fs, i_set, raw, ref))
                command("calibrate point %d %d %d" % (r, raw, ref))
    finally:
        command("calibrate off")
    return command("calibrate save")


def _pairs(text):
    return dict(w.split("=", 1) for w in text.split() if "=" in w)


def run(args):
    from host_tools import link, ports
    try:
        port = ports.resolve(args.port)
    except ports.PortError as e:
        print("cycler calibrate: %s" % e, file=sys.stderr)
        return 2
    board = link.Board(link.open_port(port))

    def command(text):
        return board.command(text, timeout=10.0).text

    only = [int(x) for x in args.ranges.split(",")] if args.ranges else None
    fs = [int(x) for x in _pairs(command("calibrate show"))["fs_nA"].split(",")]
    fs = [f if only is None or k in only else None for k, f in enumerate(fs)]
    print(calibrate(command, ManualMeter(), fs, settle=lambda: time.sleep(args.settle_s)))
    return 0
