# The console: line assembly, commands, replies, and that bad input never reaches
# the channel. Plain functions and asserts: runs under pytest and micropython.
import console
import ring
import wire

try:
    import micropython
except ImportError:
    micropython = None


class StandInChannel:
    """The channel contract with a small state machine; `output` is what a cell sees."""

    def __init__(self):
        self.state = "idle"
        self.lines = None
        self.output = "off"
        self.calls = []  # state-changing calls, in order

    def _go(self, name, now_ms, allowed, new, output):
        if self.state not in allowed:
            raise ValueError("%s is not allowed when %s" % (name, self.state))
        self.calls.append((name, now_ms))
        self.state = new
        self.output = output

    def load_lines(self, lines):
        if self.state in ("running", "paused"):
            raise ValueError("load is not allowed when " + self.state)
        for line in lines:
            if line.split()[0] not in ("cell", "window", "limits", "cc", "cv", "rest",
                                       "repeat", "end", "diag", "cr", "sweep"):
                raise ValueError("unknown protocol line %r" % line)
        self.calls.append(("load_lines", list(lines)))
        self.lines = list(lines)
        self.state = "loaded"

    def start(self, now_ms):
        self._go("start", now_ms, ("loaded", "done"), "running", "on")

    def pause(self, now_ms):
        self._go("pause", now_ms, ("running",), "paused", "off")

    def resume(self, now_ms):
        self._go("resume", now_ms, ("paused",), "running", "on")

    def stop(self, now_ms):
        self._go("stop", now_ms, ("running", "paused"), "done", "off")

    def abort(self, now_ms):
        self._go("abort", now_ms, ("running", "paused", "loaded", "done", "fault"), "idle",
                 "off")

    def clear_fault(self, now_ms):
        self._go("clear", now_ms, ("fault",), "idle", "off")

    def state_name(self):
        return self.state

    def status_text(self):
        return "state=%s step=0 cycle=0" % self.state


class StandInCalib:
    def __init__(self):
        self.points = []
        self.saved = 0

    def show(self):
        return "points=%d" % len(self.points)

    def point(self, rng, raw, ref):
        self.points.append((rng, raw, ref))
        return "range=%d points=%d" % (rng, len(self.points))

    def save(self):
        self.saved += 1


def _console(**kw):
    out = []
    ch = StandInChannel()
    c = console.Console(ch, out=out.append, **kw)
    return c, ch, out


def _send(c, text, now_ms=0):
    c.feed_bytes(text.encode() if isinstance(text, str) else text, now_ms)


PROTOCOL = ("cell 83900 437", "window 2600000 4100000",
            "limits 2500000 4300000 20000000 90000", "repeat 2",
            "cc 83900 4100000 0", "cv 4100000 1824 0 0", "end", "rest 600")


def _load(c):
    _send(c, "load\n" + "\n".join(PROTOCOL) + "\nend\n")


# -- line assembler ----------------------------------------------------------

def test_line_endings_lf_cr_crlf_each_end_one_line():
    for sep in ("\n", "\r", "\r\n"):
        c, ch, out = _console()
        _send(c, "version" + sep + "version" + sep + sep)
        assert len(out) == 2, (sep, out)
        assert out[0].startswith("ok version: protocol=1")


def test_backspace_and_delete_edit_the_line():
    c, ch, out = _console()
    _send(c, b"stx\x08atus\n")
    _send(c, b"\x08\x08version\x7f\x7f\x7f\x7f\x7f\x7f\x7fversion\n")
    assert [wire.parse_reply(x)[:2] for x in out] == [(True, "status"), (True, "version")]


def test_tabs_and_extra_spaces_are_separators():
    c, ch, out = _console()
    _send(c, "  rate\t 500  \n")
    assert out == ["ok rate 500: rate_ms=500"] and c.rate_ms == 500


def test_over_long_line_gives_one_error_then_resyncs():
    c, ch, out = _console()
    _load(c)
    out[:] = []
    _send(c, "start" + " " * (console.MAX_LINE - 5) + "x" * 300 + "\nstart\n")
    assert len(out) == 2
    ok, echo, text = wire.parse_reply(out[0])
    assert not ok and "longer than %d" % console.MAX_LINE in text
    assert out[1] == "ok start"
    assert ch.calls[-1] == ("start", 0) and len(ch.calls) == 2  # load, then one start


def test_a_line_of_exactly_max_length_is_taken():
    c, ch, out = _console()
    _send(c, "help" + " " * (console.MAX_LINE - 4) + "\n")
    assert out[0].startswith("ok help: protocol 1;")


def test_binary_garbage_is_refused_without_touching_the_channel():
    c, ch, out = _console()
    _load(c)
    calls = list(ch.calls)
    out[:] = []
    _send(c, b"sta\x00rt\nstart\xff\n\x1b[Astart\n\x03\x04\n")
    assert len(out) == 4
    for line in out:
        ok, echo, text = wire.parse_reply(line)
        assert not ok and "not printable" in text
    assert "0x00" in out[0] and "0xff" in out[1] and "0x1b" in out[2]
    assert ch.calls == calls and ch.output == "off"
    _send(c, "start\n")
    assert out[-1] == "ok start" and ch.output == "on"


def test_assembler_allocates_nothing_per_byte():
    if micropython is None:
        return  # heap_lock is a MicroPython facility
    a = console.LineAssembler()
    data = b"calibrate point 2 10342 1000000\x08\x7f\x00 junk"
    a.feed(10)
    micropython.heap_lock()
    try:
        i = 0
        n = len(data)
        while i < n:
            a.feed(data[i])
            i += 1
        r = a.feed(10)
    finally:
        micropython.heap_unlock()
    assert r == console.BINARY and a.text() == "calibrate point 2 10342 10000"


def test_feed_takes_single_bytes_objects():
    c, ch, out = _console()
    for ch_ in b"version\n":
        c.feed(bytes((ch_,)), 0)
    assert out[0].startswith("ok version")


# -- commands ----------------------------------------------------------------

def test_a_run_through_the_commands():
    c, ch, out = _console()
    _load(c)
    assert out == ["ok load: %d lines" % len(PROTOCOL)]
    assert ch.lines == list(PROTOCOL)
    for cmd, state, output in (("start", "running", "on"), ("pause", "paused", "off"),
                               ("resume", "running", "on"), ("stop", "done", "off"),
                               ("abort", "idle", "off")):
        _send(c, cmd + "\n", 1234)
        assert out[-1] == "ok " + cmd
        assert ch.state == state and ch.output == output
    assert ch.calls[1:] == [("start", 1234), ("pause", 1234), ("resume", 1234),
                            ("stop", 1234), ("abort", 1234)]


def test_refusals_of_the_channel_become_error_lines():
    c, ch, out = _console()
    _send(c, "start\nclear\npause\n")
    assert len(out) == 3
    assert out[0] == "error start: start is not allowed when idle"
    assert all(not wire.parse_reply(x)[0] for x in out)
    assert ch.calls == [] and ch.output == "off"


def test_status_reports_version_state_rate_and_channel_text():
    c, ch, out = _console(ring=ring.Ring(4))
    _send(c, "status\n")
    ok, echo, text = wire.parse_reply(out[0])
    assert ok and echo == "status"
    assert text == "state=idle step=0 cycle=0 proto=1 rate_ms=1000 seq_next=0 seq_first=0"


def test_commands_are_case_insensitive_and_echoed_as_sent():
    c, ch, out = _console()
    _send(c, "VERSION\nHelp Rate\n")
    assert wire.parse_reply(out[0])[:2] == (True, "VERSION")
    assert wire.parse_reply(out[1])[:2] == (True, "Help Rate")
    assert "rate [<ms>]" in out[1]


def test_help_lists_every_command_and_explains_each():
    c, ch, out = _console()
    _send(c, "help\n")
    for name in ("status", "load", "start", "pause", "resume", "stop", "abort", "clear",
                 "calibrate", "rate", "replay", "help", "version"):
        assert " " + name in out[0]
        _send(c, "help %s\n" % name)
        ok, echo, text = wire.parse_reply(out[-1])
        assert ok and "e.g." in text


# Lines that must each give one error line and leave the channel alone.
BAD_LINES = (
    "frobnicate",
    "start now",
    "stop 1",
    "abort please",
    "clear all",
    "pause 0",
    "resume x",
    "status 1",
    "version 2",
    "rate",  # ok: shows the rate (not bad; checked below)
    "rate fast",
    "rate -5",
    "rate 50",
    "rate 3600001",
    "rate 1 2",
    "rate 99999999999999999",
    "rate +100",
    "replay",
    "replay x",
    "replay -1",
    "replay 1 2",
    "replay 99",
    "load 0",
    "load x",
    "load 1 2",
    "load 100000",
    "calibrate",
    "calibrate foo",
    "calibrate point",
    "calibrate point 1 2",
    "calibrate point 16 1 2",
    "calibrate point a b c",
    "calibrate show now",
    "calibrate save 1",
    "help nothing",
    "cc 1000 4100000 0",
    "end",
    "*",
)


def test_bad_lines_give_one_teaching_error_and_change_nothing():
    for line in BAD_LINES:
        c, ch, out = _console(ring=ring.Ring(4), calib=StandInCalib())
        _load(c)
        _send(c, "start\n")
        calls = list(ch.calls)
        state = ch.state
        out[:] = []
        _send(c, line + "\n")
        assert len(out) == 1, (line, out)
        assert ch.calls == calls and ch.state == state and ch.output == "on", line
        assert c.rate_ms == 1000 and not c.loading(), line
        ok, echo, text = wire.parse_reply(out[0])
        if line == "rate":
            assert ok and text == "rate_ms=1000"
            continue
        assert not ok and echo == line, (line, out)
        assert "e.g." in text, (line, text)  # says what would be right


def test_error_lines_echo_long_commands_shortened():
    c, ch, out = _console()
    _send(c, "x" * 100 + "\n")
    ok, echo, text = wire.parse_reply(out[0])
    assert not ok and echo.endswith("...") and len(echo) <= 40
    _send(c, "a: b\n")  # no ': ' in an echo, so the reply splits right
    assert wire.parse_reply(out[-1])[:2] == (False, "a? b")


def test_protocol_line_outside_load_hints_at_load():
    c, ch, out = _console()
    _send(c, "cc 83900 4100000 0\n")
    assert "after load" in out[0]


# -- load ----------------------------------------------------------------------

def test_load_with_count_takes_exactly_n_lines_and_ignores_comments():
    c, ch, out = _console()
    _send(c, "load 3\n# a comment\n\ncell  83900 437   # the fig4 cell\nrest 60\nend\n")
    assert out == ["ok load 3: 3 lines"]
    assert ch.lines == ["cell 83900 437", "rest 60", "end"]


def test_load_until_end_counts_repeat_blocks():
    c, ch, out = _console()
    _send(c, "load\nrepeat 2\nrepeat 3\nrest 1\nend\nend\nrest 2\n")
    assert out == [] and c.loading()
    _send(c, "end\n")
    assert out == ["ok load: 6 lines"] and not c.loading()
    assert ch.lines[-2:] == ["end", "rest 2"]


def test_load_refused_by_the_channel_is_an_error_and_loads_nothing():
    c, ch, out = _console()
    _send(c, "load\ncell 1 2\nbogus 3\nend\n")
    assert out == ["error load: unknown protocol line 'bogus 3'"]
    assert ch.lines is None and ch.state == "idle"


def test_empty_load_is_an_error():
    c, ch, out = _console()
    _send(c, "load\nend\n")
    ok, echo, text = wire.parse_reply(out[0])
    assert not ok and echo == "load" and ch.calls == []


def test_a_command_inside_a_load_cancels_it_and_runs():
    c, ch, out = _console()
    _send(c, "load\ncell 83900 437\nstatus\n")
    assert len(out) == 2
    ok, echo, text = wire.parse_reply(out[0])
    assert not ok and echo == "load" and "cancelled by 'status'" in text
    assert out[1].startswith("ok status:")
    assert ch.calls == [] and not c.loading()


def test_a_bad_line_inside_a_load_cancels_it():
    for bad in (b"rest \x00 1\n", b"rest " + b"9" * 200 + b"\n"):
        c, ch, out = _console()
        _send(c, b"load\ncell 83900 437\n" + bad + b"rest 5\nend\n")
        ok, echo, text = wire.parse_reply(out[0])
        assert not ok and echo == "load" and "protocol line 2" in text
        assert ch.calls == []  # the rest of the protocol is refused line by line
        assert all(not wire.parse_reply(x)[0] for x in out)


def test_load_stops_at_the_line_limit():
    c, ch, out = _console()
    _send(c, "load\n" + "rest 1\n" * console.MAX_LOAD_LINES + "end\n")
    assert out == ["ok load: %d lines" % console.MAX_LOAD_LINES]
    c, ch, out = _console()
    _send(c, "load\n" + "rest 1\n" * (console.MAX_LOAD_LINES + 1))
    assert len(out) == 1 and not wire.parse_reply(out[0])[0]
    assert ch.calls == [] and not c.loading()


# -- calibrate, rate, replay ---------------------------------------------------

def test_calibrate_calls_the_calibration_store():
    cal = StandInCalib()
    c, ch, out = _console(calib=cal)
    _send(c, "calibrate point 2 10342 1000000\ncalibrate show\ncalibrate save\n")
    assert out == ["ok calibrate point 2 10342 1000000: range=2 points=1",
                   "ok calibrate show: points=1", "ok calibrate save"]
    assert cal.points == [(2, 10342, 1000000)] and cal.saved == 1


def test_calibrate_is_refused_while_the_output_is_in_use():
    cal = StandInCalib()
    c, ch, out = _console(calib=cal)
    _load(c)
    _send(c, "start\ncalibrate point 0 1 2\ncalibrate save\ncalibrate show\n")
    assert [wire.parse_reply(x)[0] for x in out[2:]] == [False, False, True]
    assert cal.points == [] and cal.saved == 0


def test_calibrate_without_a_store_is_an_error():
    c, ch, out = _console()
    _send(c, "calibrate show\n")
    assert not wire.parse_reply(out[0])[0]


def test_rate_sets_and_reports_the_period():
    c, ch, out = _console()
    _send(c, "rate 250\nrate\nrate 0\n")
    assert out == ["ok rate 250: rate_ms=250", "ok rate: rate_ms=250", "ok rate 0: rate_ms=0"]
    assert c.rate_ms == 0


def test_replay_rewinds_the_ring_and_reports_loss():
    r = ring.Ring(4)
    c, ch, out = _console(ring=r)
    for i in range(10):
        r.push("F", (i, 1, 2, 3, 4))
    while r.peek() is not None:
        r.advance()
    _send(c, "replay 7\n")
    assert out[-1] == "ok replay 7: from=7 to=9 lost=0"
    assert [wire.decode(bytes(r.peek()))[1][0]] == [7] and r.pending() == 3
    _send(c, "replay 2\n")
    assert out[-1] == "ok replay 2: from=6 to=9 lost=4"
    _send(c, "replay 10\n")
    assert out[-1] == "ok replay 10: from=10 to=9 lost=0" and r.pending() == 0
    _send(c, "replay 11\n")
    ok, echo, text = wire.parse_reply(out[-1])
    assert not ok and "newer than the newest record 9" in text


def test_a_failing_channel_method_does_not_end_the_console():
    class Broken(StandInChannel):
        def status_text(self):
            raise KeyError("oops")
    out = []
    c = console.Console(Broken(), out=out.append)
    _send(c, "status\nversion\n")
    assert out[0].startswith("error status: internal error")
    assert out[1].startswith("ok version")


class _Files:
    """Stand-in for store.Files: remembers what was asked."""

    def __init__(self):
        self.asked = []

    def ls(self, start):
        self.asked.append(("ls", start))
        return "n=1 next=-1 a.txt=3"

    def cat(self, name, offset):
        self.asked.append(("cat", name, offset))
        if name == "none":
            raise ValueError("no file 'none'")
        return "size=3 next=-1 hex=616263"


def test_files_lists_and_reads_pages_and_refuses_bad_forms():
    fs = _Files()
    c, ch, out = _console(files=fs)
    _send(c, "files ls\nfiles ls 8\nfiles cat a.txt\nfiles cat a.txt 96\nfiles cat none\n"
             "files\nfiles cat\nfiles rm a.txt\n")
    assert fs.asked == [("ls", 0), ("ls", 8), ("cat", "a.txt", 0), ("cat", "a.txt", 96),
                        ("cat", "none", 0)]
    assert out[0] == "ok files ls: n=1 next=-1 a.txt=3"
    assert out[2] == "ok files cat a.txt: size=3 next=-1 hex=616263"
    assert [wire.parse_reply(x)[0] for x in out] == [True] * 4 + [False] * 4
    assert "expected files ls" in out[-1]
    assert ch.calls == []   # reading files changes nothing in the run


def test_files_without_a_store_is_an_error():
    c, ch, out = _console()
    _send(c, "files ls\n")
    assert not wire.parse_reply(out[0])[0] and "no files" in out[0]
