"""Fuzzing the board's console (CPython, hypothesis): random bytes and random command
lines never raise, every output line is a reply, and the channel's state-changing
methods are called only for lines that are exactly such a command."""
import os
import sys

from hypothesis import given, settings, strategies as st

import host_tools  # noqa: E402,F401  (the board-side folders on sys.path)

import console  # noqa: E402
import ring  # noqa: E402
import wire_read  # noqa: E402

# console command -> channel method (the state-changing ones)
_ACTIONS = {"start": "start", "pause": "pause", "resume": "resume", "stop": "stop",
            "abort": "abort", "clear": "clear_fault"}


class PermissiveChannel:
    """Accepts everything, so any call that happens is one the console chose to make."""

    def __init__(self):
        self.calls = []

    def load_lines(self, lines):
        self.calls.append(("load_lines", tuple(lines)))

    def start(self, now_ms):
        self.calls.append(("start", now_ms))

    def pause(self, now_ms):
        self.calls.append(("pause", now_ms))

    def resume(self, now_ms):
        self.calls.append(("resume", now_ms))

    def stop(self, now_ms):
        self.calls.append(("stop", now_ms))

    def abort(self, now_ms):
        self.calls.append(("abort", now_ms))

    def clear_fault(self, now_ms):
        self.calls.append(("clear_fault", now_ms))

    def state_name(self):
        return "idle"

    def status_text(self):
        return "step=0"


class Calib:
    def __init__(self):
        self.calls = []

    def show(self):
        return "none"

    def point(self, r, raw, ref):
        self.calls.append((r, raw, ref))

    def save(self):
        self.calls.append("save")


def _make():
    out = []
    ch = PermissiveChannel()
    r = ring.Ring(8)
    for i in range(20):
        r.push("F", (i, 0, 0, 0, 0))
    c = console.Console(ch, out=out.append, ring=r, calib=Calib())
    return c, ch, out


def _reference_lines(data):
    """The lines a correct assembler delivers, as (text, good) with good False for a
    line that was too long or held a non-printable byte."""
    lines, cur, bad, after_cr = [], [], False, False
    for b in data:
        if b in (10, 13):
            if not (b == 10 and after_cr):
                if bad or cur:
                    lines.append(("".join(cur), not bad))
                cur, bad = [], False
            after_cr = b == 13
            continue
        after_cr = False
        if bad:
            continue
        if b == 9:
            b = 32
        if 32 <= b < 127:
            if len(cur) >= console.MAX_LINE:
                bad = True
            else:
                cur.append(chr(b))
        elif b in (8, 127):
            if cur:
                cur.pop()
        else:
            bad = True
    return lines


def _is_reply(line):
    return wire_read.parse_reply(line) is not None


# Bytes that are mostly command-like, with control bytes and high bytes mixed in.
_VOCAB = [b"start", b"stop", b"pause", b"resume", b"abort", b"clear", b"load", b"end",
          b"status", b"rate", b"replay", b"calibrate", b"point", b"show", b"save", b"help",
          b"cc 1 2 3", b"repeat 2", b"rest 5", b" ", b"\t", b"\n", b"\r", b"\r\n", b"\x08",
          b"\x7f", b"\x00", b"\xff", b"\x1b[A", b"0", b"12", b"-3", b"#", b"x" * 130]
_chunks = st.lists(st.one_of(st.sampled_from(_VOCAB), st.binary(max_size=8)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_chunks)
def test_random_byte_streams_never_raise_and_only_valid_lines_act(chunks):
    data = b"".join(chunks)
    c, ch, out = _make()
    c.feed_bytes(data, 7)
    assert all(_is_reply(x) for x in out), out
    assert not any("internal error" in x for x in out), out
    good = [t for t, ok in _reference_lines(data) if ok]
    words = [[w.lower() for w in t.split()] for t in good]
    uncommented = [t.split("#")[0].split() for t in good]
    for call in ch.calls:
        name = call[0]
        if name == "load_lines":
            # a load was announced, and every line loaded arrived as a good line
            assert any(ws and ws[0] == "load" for ws in words)
            for line in call[1]:
                assert line.split() in uncommented
        else:
            cmd = [k for k, v in _ACTIONS.items() if v == name][0]
            assert [cmd] in words, (call, good)
    # never more calls of a kind than lines that ask for it
    for cmd, meth in _ACTIONS.items():
        assert sum(1 for x in ch.calls if x[0] == meth) <= words.count([cmd])


_word = st.one_of(
    st.sampled_from(["start", "Stop", "PAUSE", "resume", "abort", "clear", "status",
                     "rate", "replay", "calibrate", "point", "show", "save", "help",
                     "version", "end", "cc", "frob"]),
    st.integers(min_value=-2 ** 40, max_value=2 ** 40).map(str),
    st.text(alphabet=[chr(i) for i in range(33, 127)], min_size=1, max_size=12),
)
_line = st.tuples(st.lists(_word, min_size=1, max_size=6),
                  st.sampled_from([" ", "  ", "\t", " \t "])).map(lambda t: t[1].join(t[0]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_line.filter(lambda s: s.split()[0].lower() != "load"), max_size=12),
       st.sampled_from(["\n", "\r", "\r\n"]))
def test_random_command_lines_get_one_reply_each_and_act_only_when_valid(lines, eol):
    c, ch, out = _make()
    expected_calls = []
    for line in lines:
        before = len(out)
        c.feed_bytes((line + eol).encode(), 3)
        assert len(out) == before + 1, (line, out[before:])
        ok, echo, text = wire_read.parse_reply(out[-1])
        if len(line) <= console.MAX_LINE:
            sent = " ".join(line.split()).replace(":", "?")
            assert echo == sent or (echo.endswith("...") and sent.startswith(echo[:-3]))
        ws = [w.lower() for w in line.split()]
        if len(line) <= console.MAX_LINE and len(ws) == 1 and ws[0] in _ACTIONS:
            expected_calls.append((_ACTIONS[ws[0]], 3))
            assert ok
        if not ok:
            assert "internal error" not in text and "e.g." in text, text
    assert ch.calls == expected_calls
    assert not c.loading()
