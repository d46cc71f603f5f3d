# The board's command console: bytes in, one reply line per command out.
# A bad line (unknown, malformed, too long, binary) gets an error line and never
# reaches the channel. Fed one byte at a time; no allocation per byte.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

import wire

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


# The commands, in the order of `help`. Their usage texts, `help` and the rarely used
# commands (calibrate, replay, files) and the texts of bad and unknown lines live in
# console_more.py, `load` and its protocol lines in console_load.py: loaded on first use,
# dropped by the runtime after the tick (board heap: console_more.py says how much).
_ORDER = ("status", "load", "start", "pause", "resume", "stop", "abort", "clear",
          "calibrate", "rate", "replay", "stats", "files", "help", "version")
# the commands console_more.py runs (load: console_load.py); their usage texts are in
# console_more.USAGE, a command not here takes no arguments (its usage is its name)
_MORE = ("load", "calibrate", "rate", "replay", "files", "help", "version")
# the commands that are one call of the channel (returning None: a plain `ok`)
_CHANNEL = {"start": "start", "pause": "pause", "resume": "resume", "stop": "stop",
            "abort": "abort", "clear": "clear_fault"}


def _more():
    """console_more, the rarely used part of the console (imported here, dropped from
    sys.modules by the board's runtime after the tick that needed it)."""
    import console_more
    return console_more


def _expect(name):
    if name in _MORE:
        return _more().expect(name)
    return "expected %s; e.g. %s" % (name, name)


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
            what = _more().bad_line(self.asm, r == TOO_LONG, MAX_LINE)
            if self._load is not None:
                import console_load
                console_load.cancel(self, "protocol line %d: %s" % (len(self._load) + 1,
                                                                   what))
            else:
                self.out(wire.error_line(_echo(self.asm.text().split()) or "?", what))

    def feed_bytes(self, data, now_ms=0):
        for b in data:
            self.feed(b, now_ms)

    def loading(self):
        """True between `load` and the end of the protocol lines."""
        return self._load is not None

    # -- lines ---------------------------------------------------------------
    def line(self, text, now_ms=0):
        """Handle one complete line (already free of control bytes)."""
        words = text.split()
        if not words:
            return
        if self._load is not None:
            import console_load
            console_load.load_line(self, text, now_ms, _ORDER, MAX_LOAD_LINES)
            return
        echo = _echo(words)
        name = words[0].lower()
        if name not in _ORDER:
            self.out(wire.error_line(echo, _more().unknown(words[0], _ORDER)))
            return
        try:
            if name in _CHANNEL:   # start .. clear: the channel's method of that name
                _no_args(name, words[1:])
                info = getattr(self.channel, _CHANNEL[name])(now_ms)
            elif name == "load":
                import console_load
                info = console_load.start(self, words[1:], echo, _int_arg, MAX_LOAD_LINES)
            elif name in _MORE:
                info = _more().run(self, name, words[1:], _int_arg, _ORDER,
                                   (RATE_MIN_MS, RATE_MAX_MS))
            else:
                info = getattr(self, "_c_" + name)(words[1:], now_ms, echo)
        except ValueError as e:
            self.out(wire.error_line(echo, str(e)))
            return
        except Exception as e:  # a bug below must not end the loop that drives the cell
            self.out(wire.error_line(echo, "internal error %s: %s" % (type(e).__name__, e)))
            return
        if info is not False:   # False: no reply yet (`load` answers once its lines are in)
            self.out(wire.ok_line(echo, info))

    # -- commands: each returns the ok line's info (or None), raises ValueError -
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

    def _c_stats(self, args, now_ms, echo):
        _no_args("stats", args)
        fn = self.stats
        if fn is None:
            raise ValueError("no loop here; e.g. 'stats' on a board")
        return fn()
