# The console's rarely used part: the usage texts and `help`, and the commands
# calibrate, replay and files. console.py imports it on first use; on a board the
# runtime drops it from sys.modules after that tick, so its bytecode and texts take
# heap only while a command needs them (docs/reliability.md, "Memory"). It imports
# nothing of console.py: what it needs comes with the call.
import wire
from units import SMALL_INT_MAX

# name: (usage, example, what it does), for `help <command>` and the error lines. The
# order of `help` is console._ORDER; a command missing here takes no arguments.
USAGE = {
    "status": ("status", "status", "state, step, cycle and counters as key=value"),
    "load": ("load [n]", "load 3",
             "then the protocol in compact form, one item a line, ended by an `end` "
             "that closes no repeat (or exactly n lines after `load n`)"),
    "start": ("start", "start", "run the loaded protocol"),
    "pause": ("pause", "pause", "output off, keep the place in the protocol"),
    "resume": ("resume", "resume", "continue after pause or a reset"),
    "stop": ("stop", "stop", "end the run at once, output off"),
    "abort": ("abort", "abort", "drop the run and its checkpoint, output off"),
    "clear": ("clear", "clear", "clear a fault"),
    "calibrate": ("calibrate show | point <range> <raw> <ref> | save | source <range> <nA>"
                  " | read | off", "calibrate point 2 10342 1000000",
                  "show, add a reference point to, or save the calibration; source a "
                  "current into a reference meter (not a cell), read the raw inputs"),
    "rate": ("rate [<ms>]", "rate 1000",
             "telemetry period in ms, %d..%d, or 0 for none"),   # the console's limits
    "replay": ("replay <seq>", "replay 120", "send the kept records from seq on again"),
    "stats": ("stats", "stats", "loop counters: ticks, overruns, tick cost, heap"),
    "help": ("help [<command>]", "help load", "this list, or one command's usage"),
    "version": ("version", "version", "protocol and firmware versions"),
    "files": ("files ls [<from>] | files cat <name> [<offset>]", "files cat checkpoint.txt",
              "the board's files, a page at a time, while a run goes on"),
}
_CAL_SUBS = ("show", "point", "save", "source", "read", "off")
# The first words of compact protocol lines (docs/architecture.md), for a hint when
# one arrives outside a load.
_PROTOCOL_WORDS = ("cell", "window", "limits", "diag", "cc", "cv", "rest", "cr",
                   "sweep", "repeat", "end")


def expect(name):
    u = USAGE[name]
    return "expected %s; e.g. %s" % (u[0], u[1])


def run(c, name, args, int_arg, order, rate_range):
    """Command `name` (calibrate, rate, replay, files, help or version) of
    console.Console `c`: the ok line's info, or ValueError. int_arg is console._int_arg,
    order console._ORDER, rate_range the limits of `rate` (ms)."""
    if name == "rate":
        if len(args) > 1:
            raise ValueError("rate takes one number; " + expect("rate"))
        if args:
            v = int_arg("rate", "period", args[0], 0, rate_range[1])
            if 0 < v < rate_range[0]:
                raise ValueError("period %d ms is below %d ms; %s"
                                 % (v, rate_range[0], expect("rate")))
            c.rate_ms = v
        return "rate_ms=%d" % c.rate_ms
    if name == "version":
        if args:
            raise ValueError("version takes no arguments; " + expect("version"))
        return "protocol=%d firmware=%s" % (wire.PROTOCOL_VERSION, c.firmware)
    if name == "calibrate":
        return _calibrate(c, args, int_arg)
    if name == "replay":
        return _replay(c, args, int_arg)
    if name == "files":
        return _files(c, args, int_arg)
    if not args:
        return ("protocol %d; commands: %s; help <command> for one"
                % (wire.PROTOCOL_VERSION, " ".join(order)))
    if len(args) > 1 or args[0].lower() not in USAGE:
        raise ValueError("no command %r; %s" % (" ".join(args), expect("help")))
    u = USAGE[args[0].lower()]
    what = u[2] % rate_range if args[0].lower() == "rate" else u[2]
    return "%s -- %s; e.g. %s" % (u[0], what, u[1])


def _calibrate(c, args, int_arg):
    if not args:
        raise ValueError("calibrate needs show, point, save, source, read or off; "
                         + expect("calibrate"))
    sub = args[0].lower()
    if sub not in _CAL_SUBS:
        raise ValueError("unknown calibrate subcommand %r; %s"
                         % (args[0], expect("calibrate")))
    r = raw = ref = 0
    if sub == "point":
        if len(args) != 4:
            raise ValueError("calibrate point takes <range> <raw> <ref>; "
                             + expect("calibrate"))
        r = int_arg("calibrate", "range", args[1], 0, 15)
        raw = int_arg("calibrate", "raw", args[2], -SMALL_INT_MAX, SMALL_INT_MAX)
        ref = int_arg("calibrate", "ref", args[3], -SMALL_INT_MAX, SMALL_INT_MAX)
    elif sub == "source":
        if len(args) != 3:
            raise ValueError("calibrate source takes <range> <nA>; e.g. "
                             "calibrate source 1 160000")
        r = int_arg("calibrate", "range", args[1], 0, 15)
        raw = int_arg("calibrate", "current", args[2], -SMALL_INT_MAX, SMALL_INT_MAX)
    elif len(args) != 1:
        raise ValueError("calibrate %s takes no arguments; %s" % (sub, expect("calibrate")))
    calib = c.calib
    if calib is None:
        raise ValueError("this board has no calibration store; expected a board "
                         "file that makes one")
    if sub == "show":
        return calib.show()
    if sub == "read":
        return calib.read()
    if sub == "off":
        return calib.off()
    state = c.channel.state_name()
    if state in ("running", "paused"):
        raise ValueError("not while the channel is %s; expected stop or abort "
                         "first; e.g. stop" % state)
    if sub == "point":
        return calib.point(r, raw, ref)
    if sub == "source":
        return calib.source(r, raw)
    return calib.save()


def _replay(c, args, int_arg):
    if len(args) != 1:
        raise ValueError("replay takes one sequence number; " + expect("replay"))
    seq = int_arg("replay", "seq", args[0], 0, SMALL_INT_MAX)
    ring = c.ring
    if ring is None:
        raise ValueError("this board keeps no records")
    if seq > ring.next_seq:
        raise ValueError("seq %d is newer than the newest record %d (did the board "
                         "restart?); expected replay <seq> with seq <= %d; e.g. replay %d"
                         % (seq, ring.next_seq - 1, ring.next_seq, ring.first_seq()))
    lost = ring.rewind(seq)
    # The records follow this line, sent by the runtime as it drains the ring.
    return "from=%d to=%d lost=%d" % (seq + lost, ring.next_seq - 1, lost)


def _files(c, args, int_arg):
    fs = c.files
    if fs is None:
        raise ValueError("this board has no files to show")
    sub = args[0].lower() if args else ""
    if sub == "ls" and len(args) <= 2:
        return fs.ls(int_arg("files", "from", args[1], 0, 9999) if len(args) == 2 else 0)
    if sub == "cat" and len(args) in (2, 3):
        off = int_arg("files", "offset", args[2], 0, SMALL_INT_MAX) if len(args) == 3 else 0
        return fs.cat(args[1], off)
    raise ValueError(expect("files"))


def unknown(word, order):
    """The error of a line whose first word is no command (order: console._ORDER)."""
    if word.lower() in _PROTOCOL_WORDS:
        return ("%r is a protocol line, not a command; send protocol lines after "
                "load and close them with end; e.g. load" % word)
    return ("unknown command %r; expected one of %s; e.g. help"
            % (word, " ".join(order)))


def bad_line(asm, too_long, max_line):
    """What is wrong with a line too long (too_long) or with a byte outside printable
    ASCII (asm: the console's LineAssembler)."""
    if too_long:
        what = "line longer than %d characters, ignored" % max_line
    else:
        what = "byte 0x%02x is not printable text, line ignored" % asm.bad_byte
    return what + ("; expected printable ASCII lines of up to %d characters; e.g. status"
                   % max_line)
