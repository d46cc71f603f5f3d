# The board's command console: bytes in, one reply line per command out.
# A bad line (unknown, malformed, too long, binary) gets an error line and never
# reaches the channel. Fed one byte at a time; no allocation per byte.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

import wire
from units import SMALL_INT_MAX

MAX_LINE = const(120)  # longest command or protocol line, in characters
MAX_LOAD_LINES = const(256)
RATE_MIN_MS = const(100)  # the control tick's default period: faster only repeats samples
RATE_MAX_MS = const(3600000)

# LineAssembler.feed() results
NOTHING = const(0)
LINE = const(1)
TOO_LONG = const(2)
BINARY = const(3)


class LineAssembler:
    """Bytes to lines. A line ends at \\n, \\r or \\r\\n (one line, not two); backspace
    and DEL erase; tab counts as a space; any other byte outside 0x20..0x7e spoils
    the line, as does a line longer than max_len: the rest of it is skipped and
    feed() returns TOO_LONG or BINARY once, at its end. Empty lines return NOTHING."""

    def __init__(self, max_len=MAX_LINE):
        self.buf = bytearray(max_len)
        self.max_len = max_len
        self.n = 0
        self.bad = NOTHING  # TOO_LONG or BINARY while skipping the rest of a line
        self.bad_byte = 0
        self._after_cr = False
        self._done = False

    def feed(self, b):
        if self._done:  # the previous line has been read by now
            self._done = False
            self.n = 0
            self.bad = NOTHING
        if b == 10 or b == 13:
            if b == 10 and self._after_cr:
                self._after_cr = False
                return NOTHING
            self._after_cr = b == 13
            if self.bad != NOTHING:
                self._done = True
                return self.bad
            if self.n == 0:
                return NOTHING
            self._done = True
            return LINE
        self._after_cr = False
        if self.bad != NOTHING:
            return NOTHING
        if b == 9:
            b = 32
        if 32 <= b < 127:
            if self.n >= self.max_len:
                self.bad = TOO_LONG
            else:
                self.buf[self.n] = b
                self.n += 1
        elif b == 8 or b == 127:
            if self.n > 0:
                self.n -= 1
        else:
            self.bad = BINARY
            self.bad_byte = b
        return NOTHING

    def text(self):
        """The line (or, after TOO_LONG/BINARY, its printable start) as a str."""
        return bytes(self.buf[:self.n]).decode()


# name: (usage, example, what it does). The order is the order of `help`.
_ORDER = ("status", "load", "start", "pause", "resume", "stop", "abort", "clear",
          "calibrate", "rate", "replay", "stats", "files", "help", "version")
_USAGE = {
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
             "telemetry period in ms, %d..%d, or 0 for none" % (RATE_MIN_MS, RATE_MAX_MS)),
    "replay": ("replay <seq>", "replay 120", "send the kept records from seq on again"),
    "stats": ("stats", "stats", "loop counters: ticks, overruns, tick cost, heap"),
    "help": ("help [<command>]", "help load", "this list, or one command's usage"),
    "version": ("version", "version", "protocol and firmware versions"),
    "files": ("files ls [<from>] | files cat <name> [<offset>]", "files cat checkpoint.txt",
              "the board's files, a page at a time, while a run goes on"),
}
# The first words of compact protocol lines (docs/architecture.md), for a hint when
# one arrives outside a load.
_PROTOCOL_WORDS = ("cell", "window", "limits", "diag", "cc", "cv", "rest", "cr",
                   "sweep", "repeat", "end")
_NO_REPLY = object()
_CAL_SUBS = ("show", "point", "save", "source", "read", "off")


def _expect(name):
    u = _USAGE[name]
    return "expected %s; e.g. %s" % (u[0], u[1])


def _echo(words):
    return wire.echo(" ".join(words))  # the one rule, in wire.py (the host uses it too)


def _int_arg(name, what, s, lo, hi):
    i = 1 if s[:1] == "-" else 0
    ok = i < len(s) and len(s) <= 11
    for ch in s[i:]:
        if not "0" <= ch <= "9":
            ok = False
    if not ok:
        raise ValueError("%s %r is not a whole number; %s" % (what, s, _expect(name)))
    v = int(s)
    if not lo <= v <= hi:
        raise ValueError("%s %d is outside %d..%d; %s" % (what, v, lo, hi, _expect(name)))
    return v


def _no_args(name, args):
    if args:
        raise ValueError("%s takes no arguments; %s" % (name, _expect(name)))


class Console:
    """Commands in, replies out through `out(line)` (a str without newline).

    `channel` has load_lines(lines), start/pause/resume/stop/abort/clear_fault(now_ms),
    state_name(), status_text(); `ring` is a ring.Ring or None; `calib` has show(),
    point(range, raw, ref), save() (each returns a str or None) or is None. They
    refuse by raising ValueError(message), which becomes the error line.
    `rate_ms` is the telemetry period the runtime reads (0: none)."""

    def __init__(self, channel, out=print, ring=None, calib=None, firmware="dev",
                 rate_ms=1000, stats=None, files=None, drops=None):
        self.channel = channel
        self.out = out
        self.ring = ring
        self.calib = calib
        self.firmware = firmware
        self.rate_ms = rate_ms
        self.stats = stats  # a callable -> str (the runtime's counters), for `stats`
        self.files = files  # has ls(start) and cat(name, offset) -> str, for `files`
        self.drops = drops  # a callable -> str (what the host lost), for `status`
        self.asm = LineAssembler()
        self._load = None  # the protocol lines collected after `load`, or None
        self._load_n = -1  # -1: up to `end`; else the number of lines announced
        self._load_depth = 0  # open `repeat` blocks
        self._load_echo = ""

    # -- input ---------------------------------------------------------------
    def feed(self, b, now_ms=0):
        """One byte (an int, or bytes of length 1 as sys.stdin.buffer.read(1) gives)."""
        if not isinstance(b, int):
            b = b[0]
        r = self.asm.feed(b)
        if r == NOTHING:
            return
        if r == LINE:
            self.line(self.asm.text(), now_ms)
        else:
            self._bad_line(r)

    def feed_bytes(self, data, now_ms=0):
        for b in data:
            self.feed(b, now_ms)

    def loading(self):
        """True between `load` and the end of the protocol lines."""
        return self._load is not None

    def _bad_line(self, r):
        start = _echo(self.asm.text().split()) or "?"
        if r == TOO_LONG:
            what = "line longer than %d characters, ignored" % MAX_LINE
        else:
            what = "byte 0x%02x is not printable text, line ignored" % self.asm.bad_byte
        what += ("; expected printable ASCII lines of up to %d characters; e.g. status"
                 % MAX_LINE)
        if self._load is not None:
            self._cancel_load("protocol line %d: %s" % (len(self._load) + 1, what))
        else:
            self.out(wire.error_line(start, what))

    # -- lines ---------------------------------------------------------------
    def line(self, text, now_ms=0):
        """Handle one complete line (already free of control bytes)."""
        words = text.split()
        if not words:
            return
        if self._load is not None:
            self._load_line(text, now_ms)
            return
        echo = _echo(words)
        name = words[0].lower()
        if name not in _USAGE:
            self.out(wire.error_line(echo, self._unknown(words[0])))
            return
        try:
            info = getattr(self, "_c_" + name)(words[1:], now_ms, echo)
        except ValueError as e:
            self.out(wire.error_line(echo, str(e)))
            return
        except Exception as e:  # a bug below must not end the loop that drives the cell
            self.out(wire.error_line(echo, "internal error %s: %s" % (type(e).__name__, e)))
            return
        if info is not _NO_REPLY:
            self.out(wire.ok_line(echo, info))

    def _unknown(self, word):
        if word.lower() in _PROTOCOL_WORDS:
            return ("%r is a protocol line, not a command; send protocol lines after "
                    "load and close them with end; e.g. load" % word)
        return ("unknown command %r; expected one of %s; e.g. help"
                % (word, " ".join(_ORDER)))

    # -- load ----------------------------------------------------------------
    def _load_line(self, text, now_ms):
        h = text.find("#")  # a comment to the end of the line
        if h >= 0:
            text = text[:h]
        words = text.split()
        if not words:
            return
        first = words[0].lower()
        if first in _USAGE:
            # A command in the middle of a load: the host gave up (or a person
            # forgot `end`). Drop the load and obey the command.
            self._cancel_load("cancelled by %r before the protocol was complete"
                              % words[0])
            self.line(text, now_ms)
            return
        lines = self._load
        if lines is None:
            return
        if self._load_n < 0:
            if first == "end":
                if self._load_depth == 0:
                    self._finish_load()
                    return
                self._load_depth -= 1
            elif first == "repeat":
                self._load_depth += 1
        lines.append(" ".join(words))
        if len(lines) == self._load_n:
            self._finish_load()
        elif len(lines) > MAX_LOAD_LINES:
            self._cancel_load("more than %d protocol lines" % MAX_LOAD_LINES)

    def _cancel_load(self, why):
        self._load = None
        self.out(wire.error_line(self._load_echo, why + "; nothing loaded; "
                                 + _expect("load")))

    def _finish_load(self):
        lines = self._load
        self._load = None
        if not lines:
            self.out(wire.error_line(self._load_echo, "no protocol lines; " + _expect("load")))
            return
        try:
            self.channel.load_lines(lines)
        except ValueError as e:
            self.out(wire.error_line(self._load_echo, str(e)))
            return
        except Exception as e:
            self.out(wire.error_line(self._load_echo,
                                     "internal error %s: %s" % (type(e).__name__, e)))
            return
        self.out(wire.ok_line(self._load_echo, "%d lines" % len(lines)))

    # -- commands: each returns the ok line's info (or None), raises ValueError -
    def _c_load(self, args, now_ms, echo):
        n = -1
        if len(args) > 1:
            raise ValueError("load takes at most one number; " + _expect("load"))
        if args:
            n = _int_arg("load", "line count", args[0], 1, MAX_LOAD_LINES)
        self._load = []
        self._load_n = n
        self._load_depth = 0
        self._load_echo = echo
        return _NO_REPLY

    def _c_status(self, args, now_ms, echo):
        _no_args("status", args)
        # The channel's own pairs (state=... step=... first) then the console's.
        s = "%s proto=%d rate_ms=%d" % (self.channel.status_text(), wire.PROTOCOL_VERSION,
                                        self.rate_ms)
        if self.ring is not None:
            s += " seq_next=%d seq_first=%d" % (self.ring.next_seq, self.ring.first_seq())
        if self.drops is not None:
            s += " " + self.drops()
        return s

    def _c_start(self, args, now_ms, echo):
        _no_args("start", args)
        self.channel.start(now_ms)

    def _c_pause(self, args, now_ms, echo):
        _no_args("pause", args)
        self.channel.pause(now_ms)

    def _c_resume(self, args, now_ms, echo):
        _no_args("resume", args)
        self.channel.resume(now_ms)

    def _c_stop(self, args, now_ms, echo):
        _no_args("stop", args)
        self.channel.stop(now_ms)

    def _c_abort(self, args, now_ms, echo):
        _no_args("abort", args)
        self.channel.abort(now_ms)

    def _c_clear(self, args, now_ms, echo):
        _no_args("clear", args)
        self.channel.clear_fault(now_ms)

    def _c_calibrate(self, args, now_ms, echo):
        if not args:
            raise ValueError("calibrate needs show, point, save, source, read or off; "
                             + _expect("calibrate"))
        sub = args[0].lower()
        if sub not in _CAL_SUBS:
            raise ValueError("unknown calibrate subcommand %r; %s"
                             % (args[0], _expect("calibrate")))
        r = raw = ref = 0
        if sub == "point":
            if len(args) != 4:
                raise ValueError("calibrate point takes <range> <raw> <ref>; "
                                 + _expect("calibrate"))
            r = _int_arg("calibrate", "range", args[1], 0, 15)
            raw = _int_arg("calibrate", "raw", args[2], -SMALL_INT_MAX, SMALL_INT_MAX)
            ref = _int_arg("calibrate", "ref", args[3], -SMALL_INT_MAX, SMALL_INT_MAX)
        elif sub == "source":
            if len(args) != 3:
                raise ValueError("calibrate source takes <range> <nA>; e.g. "
                                 "calibrate source 1 160000")
            r = _int_arg("calibrate", "range", args[1], 0, 15)
            raw = _int_arg("calibrate", "current", args[2], -SMALL_INT_MAX, SMALL_INT_MAX)
        elif len(args) != 1:
            raise ValueError("calibrate %s takes no arguments; %s" % (sub, _expect("calibrate")))
        if self.calib is None:
            raise ValueError("this board has no calibration store; expected a board "
                             "file that makes one")
        if sub == "show":
            return self.calib.show()
        if sub == "read":
            return self.calib.read()
        if sub == "off":
            return self.calib.off()
        state = self.channel.state_name()
        if state in ("running", "paused"):
            raise ValueError("not while the channel is %s; expected stop or abort "
                             "first; e.g. stop" % state)
        if sub == "point":
            return self.calib.point(r, raw, ref)
        if sub == "source":
            return self.calib.source(r, raw)
        return self.calib.save()

    def _c_rate(self, args, now_ms, echo):
        if len(args) > 1:
            raise ValueError("rate takes one number; " + _expect("rate"))
        if args:
            v = _int_arg("rate", "period", args[0], 0, RATE_MAX_MS)
            if 0 < v < RATE_MIN_MS:
                raise ValueError("period %d ms is below %d ms; %s"
                                 % (v, RATE_MIN_MS, _expect("rate")))
            self.rate_ms = v
        return "rate_ms=%d" % self.rate_ms

    def _c_replay(self, args, now_ms, echo):
        if len(args) != 1:
            raise ValueError("replay takes one sequence number; " + _expect("replay"))
        seq = _int_arg("replay", "seq", args[0], 0, SMALL_INT_MAX)
        ring = self.ring
        if ring is None:
            raise ValueError("this board keeps no records")
        if seq > ring.next_seq:
            raise ValueError("seq %d is newer than the newest record %d (did the board "
                             "restart?); expected replay <seq> with seq <= %d; e.g. replay %d"
                             % (seq, ring.next_seq - 1, ring.next_seq, ring.first_seq()))
        lost = ring.rewind(seq)
        # The records follow this line, sent by the runtime as it drains the ring.
        return "from=%d to=%d lost=%d" % (seq + lost, ring.next_seq - 1, lost)

    def _c_stats(self, args, now_ms, echo):
        _no_args("stats", args)
        fn = self.stats
        if fn is None:
            raise ValueError("this console has no loop to report on")
        return fn()

    def _c_files(self, args, now_ms, echo):
        fs = self.files
        if fs is None:
            raise ValueError("this board has no files to show")
        sub = args[0].lower() if args else ""
        if sub == "ls" and len(args) <= 2:
            return fs.ls(_int_arg("files", "from", args[1], 0, 9999) if len(args) == 2 else 0)
        if sub == "cat" and len(args) in (2, 3):
            off = _int_arg("files", "offset", args[2], 0, SMALL_INT_MAX) if len(args) == 3 else 0
            return fs.cat(args[1], off)
        raise ValueError(_expect("files"))

    def _c_help(self, args, now_ms, echo):
        if not args:
            return ("protocol %d; commands: %s; help <command> for one"
                    % (wire.PROTOCOL_VERSION, " ".join(_ORDER)))
        if len(args) > 1 or args[0].lower() not in _USAGE:
            raise ValueError("no command %r; %s" % (" ".join(args), _expect("help")))
        u = _USAGE[args[0].lower()]
        return "%s -- %s; e.g. %s" % (u[0], u[2], u[1])

    def _c_version(self, args, now_ms, echo):
        _no_args("version", args)
        return "protocol=%d firmware=%s" % (wire.PROTOCOL_VERSION, self.firmware)
