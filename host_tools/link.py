"""The host end of the wire protocol (docs/protocol.md): open a port by URL, cut bytes
into lines, match replies to commands, decode records with the firmware's own wire.py.

It never writes output files and never decides what a run means (host_tools/log.py
does); a corrupt record is counted and dropped here, and recovered by the logger's
`replay`. Works on /dev/ttyACM0, a virtual board's pty, and pyserial's loop://.
"""
import collections
import time

import host_tools  # noqa: F401  (firmware/ on sys.path)
import wire
import wire_read

DEFAULT_BAUD = 115200
POLL_S = 0.05          # how long one read waits for bytes
MAX_LINE = 512         # longer than any record (wire.MAX_RECORD) or reply: garbage
# Board.hello: how long a board may take to (re)boot and answer (a Pico's MicroPython
# boots and imports the firmware in ~2 s; a loaded 2-core CI machine was seen to take
# longer than the 5 s of a plain command), and how long it may stay silent before the
# question is asked again
BOOT_WAIT_S = 30.0
RESEND_S = 2.0


class BoardError(RuntimeError):
    """The board refused a command (an `error ...` reply) or did not answer."""


class BoardTimeout(BoardError):
    pass


def open_port(url_or_path, timeout=POLL_S, baudrate=DEFAULT_BAUD):
    """A pyserial port for a device path, a pty path or a URL (loop://, socket://...).
    Reads wait at most `timeout` s; the baud rate is ignored by USB CDC and ptys."""
    import serial
    return serial.serial_for_url(url_or_path, baudrate=baudrate, timeout=timeout,
                                 write_timeout=5.0)


class LineFramer:
    """Bytes -> text lines; pure (no port, no thread), like pyserial's LineReader.

    A line ends at \\n; a \\r before it is dropped (the sim board ends lines with \\n,
    a real board's cooked stdout with \\r\\n). A line longer than max_len is garbage
    (noise, a binary dump): it is dropped whole, up to its \\n, and counted. Bytes
    that are not ASCII are decoded as U+FFFD so such a line cannot pass a CRC check.
    """

    def __init__(self, max_len=MAX_LINE):
        self.max_len = max_len
        self._buf = bytearray()
        self._skipping = False
        self.dropped = 0          # over-long lines dropped

    def feed(self, data):
        """Returns the complete lines (str, without line end) found so far."""
        out = []
        start = 0
        n = len(data)
        while start < n:
            i = data.find(b"\n", start)
            end = n if i < 0 else i
            if not self._skipping:
                self._buf += data[start:end]
                if len(self._buf) > self.max_len:
                    self._skipping = True
                    self._buf.clear()
                    self.dropped += 1
            if i < 0:
                break
            if self._skipping:
                self._skipping = False
            else:
                line = bytes(self._buf)
                if line.endswith(b"\r"):
                    line = line[:-1]
                out.append(line.decode("ascii", "replace"))
            self._buf.clear()
            start = i + 1
        return out


class Record:
    """A decoded record: kind (letter), seq, fields (dict by wire.FIELDS names, seq
    included), extra (a B record's checkpoint ints), line (as received)."""
    __slots__ = ("kind", "seq", "fields", "extra", "line")

    def __init__(self, kind, values, line):
        names = wire.FIELDS[kind]
        self.kind = kind
        self.seq = values[0]
        self.fields = dict(zip(names, values))
        self.extra = tuple(values[len(names):])
        self.line = line

    def __getitem__(self, name):
        return self.fields[name]

    def __repr__(self):
        return "Record(%r)" % self.line


def decode(line):
    """A Record from a record line; ValueError if it is not a valid record."""
    kind, values = wire_read.decode(line)
    return Record(kind, values, line)


def echo_of(command):
    """The echo the board puts in its reply to `command`: the firmware's own rule."""
    return wire.echo(command)


class Reply:
    __slots__ = ("ok", "echo", "text", "line")

    def __init__(self, ok, echo, text, line):
        self.ok, self.echo, self.text, self.line = ok, echo, text, line

    def pairs(self):
        """key=value words of the reply's text as a dict of str."""
        out = {}
        for w in self.text.split():
            if "=" in w:
                k, v = w.split("=", 1)
                out[k] = v
        return out

    def __repr__(self):
        return "Reply(%r)" % self.line


class Board:
    """A board over an open port. poll() reads what has arrived: records go to
    on_record (or the `pending` queue), replies to `replies`, anything else (a
    traceback, a REPL prompt) to on_other. command() waits for its own reply while
    records keep flowing, so a long `load` loses no telemetry."""

    def __init__(self, port, on_record=None, on_other=None, max_line=MAX_LINE):
        self.port = port
        self.framer = LineFramer(max_line)
        self.on_record = on_record
        self.on_other = on_other
        self.pending = collections.deque()   # records, when no on_record
        self.replies = collections.deque()   # Reply objects not yet taken
        self.corrupt = 0                     # record lines that failed to decode
        self.last_corrupt = None

    # -- bytes in ------------------------------------------------------------------
    def poll(self):
        """Read what the port has (waiting up to its timeout for the first byte) and
        dispatch it. Returns the number of lines handled. Raises the port's errors
        (serial.SerialException, OSError) when it goes away."""
        p = self.port
        data = p.read(max(1, p.in_waiting))
        if not data:
            return 0
        lines = self.framer.feed(data)
        for line in lines:
            self._dispatch(line)
        return len(lines)

    def _dispatch(self, line):
        if wire_read.is_record(line):
            try:
                rec = decode(line)
            except ValueError:
                self.corrupt += 1
                self.last_corrupt = line
                return
            if self.on_record is not None:
                self.on_record(rec)
            else:
                self.pending.append(rec)
            return
        r = wire_read.parse_reply(line)
        if r is not None:
            self.replies.append(Reply(r[0], r[1], r[2], line))
        elif line.strip() and self.on_other is not None:
            self.on_other(line)

    # -- commands --------------------------------------------------------------------
    def send(self, text):
        """Send one command line; do not wait (see take_reply)."""
        self.port.write(text.encode("ascii") + b"\n")
        self.port.flush()

    def _drop(self, echo):
        """Drop the replies with this echo that nobody took; how many there were."""
        n = 0
        while self.take_reply(echo) is not None:
            n += 1
        return n

    def take_reply(self, echo):
        """The oldest reply with this echo, removed from `replies`, or None."""
        for r in self.replies:
            if r.echo == echo:
                self.replies.remove(r)
                return r
        return None

    def wait_reply(self, echo, timeout):
        deadline = time.monotonic() + timeout
        while True:
            r = self.take_reply(echo)
            if r is not None:
                return r
            if time.monotonic() > deadline:
                raise BoardTimeout("no reply to %r within %.0f s (is the firmware running? "
                                   "try `cycler console`)" % (echo, timeout))
            self.poll()

    def command(self, text, timeout=5.0, check=True):
        """Send `text`, return its Reply. check: raise BoardError on an error reply."""
        echo = echo_of(text)
        # replies to an earlier identical command that nobody took would be mistaken
        # for ours
        self._drop(echo)
        self.send(text)
        r = self.wait_reply(echo, timeout)
        if check and not r.ok:
            raise BoardError("the board refused %r: %s" % (text, r.text))
        return r

    def status(self, timeout=5.0):
        """The `status` reply as a dict of str (state, step, cycle, seq_next, ...)."""
        return self.command("status", timeout).pairs()

    def hello(self, timeout=BOOT_WAIT_S, resend_s=RESEND_S):
        """`status` for the first words after opening the port, when the board may be
        restarting (after a deploy's reset, a port that came back): a board loses what
        it is sent while it is down, so the question is asked again when the board says
        it booted (`ok boot`) or stays silent resend_s; then `version`, answered after
        every earlier `status`, so that no late duplicate is taken for the answer to a
        later one. Returns the status pairs of the first reply."""
        deadline = time.monotonic() + timeout
        self._drop("status")
        self._drop("boot")
        sends = 0
        ask_at = 0.0   # when to ask (again)
        while True:
            if time.monotonic() >= ask_at:
                self.send("status")
                sends += 1
                ask_at = time.monotonic() + resend_s
            if self.poll():
                ask_at = time.monotonic() + resend_s   # it talks: it is up, wait
            reply = self.take_reply("status")
            if reply is not None:
                break
            if self._drop("boot"):
                ask_at = 0.0        # it restarted after we asked: ask again
            elif time.monotonic() > deadline:
                raise BoardTimeout(
                    "no reply to 'status' within %.0f s, asked %d times (is the "
                    "firmware running? try `cycler console`)" % (timeout, sends))
        if sends > 1:
            self.command("version", max(1.0, deadline - time.monotonic()))
            self._drop("status")
        return reply.pairs()

    def load(self, lines, timeout=10.0):
        """Send a protocol in compact form with `load <n>`; returns the Reply."""
        lines = [ln for ln in lines if ln.strip()]
        head = "load %d" % len(lines)
        self._drop(head)
        self.port.write(("\n".join([head] + lines) + "\n").encode("ascii"))
        self.port.flush()
        r = self.wait_reply(head, timeout)
        if not r.ok:
            raise BoardError("the board refused the protocol: %s" % r.text)
        return r

    def records(self, timeout=None):
        """Yield records as they arrive (only when on_record is None); stops after
        `timeout` s without any."""
        last = time.monotonic()
        while True:
            while self.pending:
                last = time.monotonic()
                yield self.pending.popleft()
            if timeout is not None and time.monotonic() - last > timeout:
                return
            self.poll()

    def close(self):
        try:
            self.port.close()
        except Exception:
            pass
