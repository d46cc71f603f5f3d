"""`cycler calibrate --port P`: the host-driven calibration against a reference meter.

For every current range the board sources -80 % and +80 % of full scale into the
meter (`calibrate source`), the host reads the board's raw reading (`calibrate read`,
averaged) and the meter's, and sends the pair (`calibrate point`); then `calibrate
save` fits gain and offset per range, checks them for plausibility on the board and
stores them atomically (firmware/board/calibration.py). A reference meter is an object
with current_nA(): `--meter visa:RESOURCE` reads a SCPI bench meter through PyVISA
(MEAS:CURR:DC?), `--meter manual` asks a person to type what the meter shows.

Wire the channel to a bias source at cell voltage (a bench supply at 3.7 V behind a
resistor, or a dummy cell) with the meter in series: the board's safety keeps watching
the voltage, so a short (0 V, below the window) or a real coin cell (driven to a rail
by 16 mA) trips it and the routine stops there (docs/host-tools.md).
"""
import sys
import time

FRACTION = 0.8      # the two points: -80 % and +80 % of full scale
READS = 5           # raw readings averaged per point
# Below this the channel sees no bias source: a short, an open lead, a flat cell. The
# cycling window's floor (FACTS: cycling window, 2.6 V); a bias at cell voltage is above.
V_BIAS_MIN_UV = 2_600_000


def add_arguments(p):
    p.add_argument("--port", help="serial port of the board (default: the only one)")
    p.add_argument("--meter", default="manual", metavar="manual|visa:RESOURCE",
                   help="the reference: manual (readings typed in uA), or a SCPI meter "
                        "by its VISA resource, e.g. visa:TCPIP::192.168.1.5::INSTR or "
                        "visa:USB0::0x2A8D::0x1301::MY123::INSTR")
    p.add_argument("--visa-library", default="@py",
                   help="PyVISA backend (default @py, pyvisa-py; FILE.yaml@sim for pyvisa-sim)")
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


class ScpiMeter:
    """A bench meter on SCPI through PyVISA: configured for DC current once, then each
    reading is MEAS:CURR:DC? (amperes) averaged over `reads`."""

    def __init__(self, resource, library="@py", reads=3, timeout_ms=5000):
        import pyvisa
        self.rm = pyvisa.ResourceManager(library)
        self.inst = self.rm.open_resource(resource, read_termination="\n",
                                          write_termination="\n", timeout=timeout_ms)
        import warnings
        with warnings.catch_warnings():   # pyvisa warns of a reply without its end
            warnings.simplefilter("ignore")
            self.idn = self.inst.query("*IDN?").strip()
        if not self.idn:
            raise MeterError("%s does not answer *IDN? (is it a SCPI meter, and on?)"
                             % resource)
        self.inst.write("CONF:CURR:DC")
        self.reads = reads

    def current_nA(self):
        vals = []
        for _ in range(self.reads):
            text = self.inst.query("MEAS:CURR:DC?").strip()
            try:
                vals.append(float(text))
            except ValueError:
                raise MeterError("the meter answered %r to MEAS:CURR:DC? (expected amperes, "
                                 "e.g. +1.600000E-04)" % text) from None
        return int(round(sum(vals) / len(vals) * 1e9))

    def close(self):
        self.inst.close()
        self.rm.close()


class MeterError(RuntimeError):
    pass


def open_meter(spec, library="@py"):
    """`manual` or `visa:RESOURCE` -> a meter; MeterError saying what is wrong."""
    if spec == "manual":
        return ManualMeter()
    if spec.startswith("visa:"):
        try:
            return ScpiMeter(spec[5:], library)
        except MeterError:
            raise
        except ImportError:
            raise MeterError("PyVISA is not installed: bash scripts/setup.sh (it installs "
                             "pyvisa and pyvisa-py)") from None
        except Exception as e:   # pyvisa's VisaIOError, ValueError for a bad resource
            raise MeterError("cannot open the meter %s: %s (list resources with "
                             "`python -m pyvisa info` / pyvisa-shell)" % (spec[5:], e)) from None
    raise MeterError("unknown meter %r; expected manual or visa:RESOURCE, e.g. "
                     "visa:TCPIP::192.168.1.5::INSTR" % spec)


def calibrate(command, meter, ranges_nA, settle=lambda: time.sleep(1.0), log=print):
    """Run the routine. command(text) -> reply text (raises on an error reply);
    meter.current_nA(); ranges_nA: the board's ranges (full scale, ascending).
    Returns the board's reply to `calibrate save`. Refuses (MeterError) before
    sourcing anything when the channel sees no bias source."""
    v_uV = int(_pairs(command("calibrate read")).get("v_uV", 0))
    if v_uV < V_BIAS_MIN_UV:
        raise MeterError("the channel reads %.3f V: no bias source (a short or an open "
                         "lead?); connect a supply at cell voltage (e.g. 3.7 V behind 10 "
                         "ohm) in series with the meter" % (v_uV / 1e6))
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
    try:
        meter = open_meter(args.meter, args.visa_library)
    except MeterError as e:
        print("cycler calibrate: %s" % e, file=sys.stderr)
        return 2
    try:
        board = link.Board(link.open_port(port))
    except Exception as e:   # serial.SerialException: no such port, busy
        print("cycler calibrate: cannot open %s: %s" % (port, e), file=sys.stderr)
        return 2

    def command(text):
        return board.command(text, timeout=10.0).text

    try:
        board.hello()   # first words: the board may still be booting (a deploy's reset)
        only = [int(x) for x in args.ranges.split(",")] if args.ranges else None
        fs = [int(x) for x in _pairs(command("calibrate show"))["fs_nA"].split(",")]
        fs = [f if only is None or k in only else None for k, f in enumerate(fs)]
        print(calibrate(command, meter, fs, settle=lambda: time.sleep(args.settle_s)))
    except (link.BoardError, MeterError) as e:
        print("cycler calibrate: %s" % e, file=sys.stderr)
        return 1
    finally:
        board.close()
    return 0
