"""Hostile input to a running board (in-process: firmware/board/runtime.py on the sim board's
front-end, fault detection on): thousands of generated command lines and raw byte
streams during a constant-current step. Every line is answered with an error, answered
by a read-only command, or ignored (swallowed by a `load` that is then refused); the
loop never raises; the output never changes; `status` still answers.
And protocol files with every kind of mistake: each refusal names its line."""
import json
import os
import random
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests", "core"), os.path.join(ROOT, "boards")]
import host_tools  # noqa: E402,F401
from host_tools import protocol_file as pf  # noqa: E402
import protocol as fw_protocol  # noqa: E402
from standin import Port, fresh_dir, loop  # noqa: E402
from test_faults import boot, PROTO  # noqa: E402

# a 20 h C/20 charge (fig4): the output current is constant for the whole test
RUN = ["cell 83900 437", "window 2600000 4100000", "limits 2500000 4150000 300000 400000",
       "cc 4195 4100000 0", "cv 4100000 1824 0 0"]
COMMANDS = ["status", "load", "start", "pause", "resume", "stop", "abort", "clear",
            "calibrate", "rate", "replay", "help", "version", "stats"]
STATE_CHANGING = {"pause", "resume", "stop", "abort", "clear", "start"}
READ_ONLY_OK = {"status", "help", "version", "rate", "replay", "stats", "calibrate"}
PROTO_WORDS = ["cell", "window", "limits", "diag", "cc", "cv", "rest", "cr", "sweep",
               "repeat", "end"]


def hostile_lines(rng, n):
    """Generated lines that are not, as typed, a command that may change the output."""
    out = []
    junk = [chr(c) for c in range(32, 127)] + ["\t", "\x00", "\x08", "\x7f", "\x1b",
                                               "\xff", "\xe9", "\x01", "\x03"]
    while len(out) < n:
        kind = rng.randrange(7)
        if kind == 0:   # printable noise
            s = "".join(rng.choice(junk[:95]) for _ in range(rng.randrange(1, 60)))
        elif kind == 1:  # a command with wrong arguments
            s = rng.choice(COMMANDS) + " " + " ".join(
                rng.choice(["-1", "0", "x", "99999999999999999999", "1e3", "+5", "0x10",
                            "--", "*", ":", "1 2 3", "\t"]) for _ in range(rng.randrange(1, 4)))
        elif kind == 2:  # a protocol line outside load
            s = rng.choice(PROTO_WORDS) + " " + " ".join(
                str(rng.randrange(-10 ** 9, 10 ** 9)) for _ in range(rng.randrange(0, 6)))
        elif kind == 3:  # too long
            s = "status " + "a" * rng.randrange(120, 400)
        elif kind == 4:  # binary bytes and escapes
            s = "".join(rng.choice(junk) for _ in range(rng.randrange(1, 40)))
        elif kind == 5:  # a load that swallows lines, then a bad protocol or a refusal
            k = rng.randrange(1, 4)
            body = ["cc %d 4100000 0" % rng.randrange(-10 ** 8, 10 ** 8) for _ in range(k)]
            s = "load %d\n" % k + "\n".join(body)
        else:            # case, spacing and erasing tricks around real command names
            c = rng.choice(sorted(STATE_CHANGING))
            s = rng.choice([c.upper() + " now", " " + c + "  x", c + "\x08\x08\x08x",
                            c[:-1], c + c, c + "\x00", c + " ;abort"])
        words = s.replace("\x08", "").split()
        if len(words) == 1 and words[0].lower() in STATE_CHANGING | {"load"}:
            continue   # that one is a real command (an erase made it one): not hostile
        out.append(s)
    return out


def _run_and_check(rt, port, feed, n_ticks):
    ch = rt.ch
    step = ch.engine.step
    i0 = step.i_nA     # the CC step's current (the command trims the output's error
    assert ch.state_name() == "running" and i0 > 0   # around it: at most 1/8 of it)
    before = len(port.out)
    feed()
    for _ in range(n_ticks):
        loop(rt, 1)
        assert ch.state_name() == "running", ch.status_text()
        assert ch.engine.step is step and ch.out_on and rt.fe.model.on
        assert abs(ch.out_i_nA - i0) <= i0 // 8
        assert rt.fe.model.set_nA == ch.out_i_nA
    replies = [l.strip() for l in port.out[before:] if l.startswith(("ok ", "error "))]
    for r in replies:
        if r.startswith("ok "):
            word = r[3:].split(":")[0].split()[0].lower()
            assert word in READ_ONLY_OK, r
    port.send("status\n")
    loop(rt, 2)
    assert port.replies()[-1].startswith("ok status"), port.replies()[-3:]
    return replies


def _started():
    port = Port()
    rt = boot(fresh_dir(), port)
    port.send("load\n" + "\n".join(RUN) + "\nend\nstart\n")
    loop(rt, 3)
    return rt, port


def test_thousands_of_generated_lines_change_nothing():
    rng = random.Random(20240601)
    rt, port = _started()
    lines = hostile_lines(rng, 5000)
    data = "\n".join(lines) + "\n"
    replies = _run_and_check(rt, port, lambda: port.send(data), len(data) // 256 + 20)
    n_single = sum(1 for s in lines if "\n" not in s)
    # a reply per line, except the lines a load swallowed, which share one
    assert len(replies) >= n_single * 0.9, (len(replies), n_single)
    assert sum(r.startswith("error") for r in replies) >= n_single * 0.8


class RarelyReadPort(Port):
    """A host that reads one tick in ten: replies queue on the board (finding 11:
    an always-writable port never exercised the queue)."""

    def __init__(self):
        Port.__init__(self)
        self.n = 0

    def writable(self):
        self.n += 1
        return self.n % 40 == 0 or self.n < 0    # ~4 calls per tick: one tick in ten

    def send(self, text):
        if text == "status\n":
            self.n = -10 ** 6        # the host asks, and reads from now on
        Port.send(self, text)


def test_generated_lines_from_a_host_that_rarely_reads_change_nothing():
    import runtime
    rng = random.Random(20240602)
    port = RarelyReadPort()
    rt = boot(fresh_dir(), port)
    port.n = -10 ** 6               # readable while the run starts
    port.send("load\n" + "\n".join(RUN) + "\nend\nstart\n")
    loop(rt, 3)
    port.n = 1
    lines = hostile_lines(rng, 3000)
    data = "\n".join(lines) + "\n"
    held = []
    orig = rt._send

    def send():
        held.append(len(rt._replies))
        orig()
    rt._send = send
    _run_and_check(rt, port, lambda: port.send(data), len(data) // 256 + 20)
    assert max(held) <= runtime.REPLY_MAX, max(held)
    assert rt.replies_dropped > 100, rt.replies_dropped
    # control: the same port and lines with the bound lifted hold far more
    rt2 = boot(fresh_dir(), RarelyReadPort())
    rt2.reply_max = 10 ** 9
    rt2.port.send(data)
    loop(rt2, 40)
    assert len(rt2._replies) > 5 * runtime.REPLY_MAX, len(rt2._replies)


def test_raw_byte_streams_change_nothing():
    rng = random.Random(7)
    rt, port = _started()
    total = 0
    for _ in range(20):
        n = rng.randrange(1000, 10000)
        blob = bytes(rng.randrange(256) for _ in range(n))
        port.inq = port.inq[port.pos:] + blob
        port.pos = 0
        total += n
    port.send("\n")
    _run_and_check(rt, port, lambda: None, total // 256 + 20)
    assert port.pos == len(port.inq), "the loop left %d bytes unread" % (len(port.inq) - port.pos)


# ---- protocol files with mistakes: every refusal names its line -------------------------

SHIPPED = sorted(f for f in os.listdir(host_tools.PROTOCOLS_DIR) if f.endswith(".toml"))


def _mutations(text, rng):
    """(description, mutated text) pairs: each breaks one line of a good file."""
    lines = text.split("\n")
    idx = [k for k, l in enumerate(lines) if l.strip() and not l.strip().startswith("#")]
    step_idx = [k for k in idx if re.match(r'\s*"', lines[k])]
    out = []
    for k in rng.sample(step_idx, min(6, len(step_idx))):
        l = lines[k]
        for desc, new in [
                ("unknown verb", l.replace('"', '"Frobnicate ', 1)),
                ("bad number", re.sub(r"\d+(\.\d+)?", "x", l, count=1)),
                ("voltage out of range", re.sub(r"\d+(\.\d+)? ?V\b", "9.9 V", l, count=1)),
                ("negative rate", l.replace("C/", "C/-", 1) if "C/" in l else None),
                ("unknown unit", re.sub(r"\b(V|mA|uA|h|minutes|seconds|s)\b", "furlongs", l,
                                        count=1)),
                ("unclosed string", l.rstrip(",").rstrip('"') + ","),
                ("empty step", re.sub(r'"[^"]*"', '""', l, count=1))]:
            if new is not None and new != l:
                out.append((desc, k + 1, "\n".join(lines[:k] + [new] + lines[k + 1:])))
    for k in rng.sample(idx, min(4, len(idx))):
        l = lines[k]
        if "=" in l and not l.strip().startswith("["):
            key, _, val = l.partition("=")
            for desc, new in [("unknown key", key.rstrip() + "_typo =" + val),
                              ("wrong type", key + '= "ten"' if '"' not in val else key + "= 10"),
                              ("missing value", key + "=")]:
                out.append((desc, k + 1, "\n".join(lines[:k] + [new] + lines[k + 1:])))
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_mutated_shipped_protocols_are_refused_naming_a_line(name):
    path = os.path.join(host_tools.PROTOCOLS_DIR, name)
    with open(path) as f:
        text = f.read()
    pf.parse(text, name)   # the original is good
    rng = random.Random(name)
    refused = 0
    accepted = []
    for desc, line, bad in _mutations(text, rng):
        try:
            pf.parse(bad, name)
        except pf.ProtocolError as e:
            refused += 1
            assert e.line, (desc, line, str(e))
            # the message names the file and the line, and the line is the broken one
            # or (a string left open, a key without a value) the next ones TOML read
            assert ("%s:%d" % (name, e.line)) in str(e), str(e)
            assert line <= e.line <= line + 3 or desc in ("wrong type",), (desc, line, str(e))
            continue
        # a mutation may still be a valid file (a renamed optional key may be ignored):
        # then it must be safe to run: the board's own validator takes it, every trip
        # within the absolute limits, every step between the trips
        p = pf.parse(bad, name)
        q = fw_protocol.load(p.lines, pf.CHANNEL_I_MAX_NA, pf.I_FLOOR_NA, pf.BOARD_V_MAX_UV)
        lo, hi = ((fw_protocol.ABS_DIAG_TRIP_LO_UV, fw_protocol.ABS_DIAG_TRIP_HI_UV) if q.diag
                  else (fw_protocol.ABS_TRIP_LO_UV, fw_protocol.ABS_TRIP_HI_UV))
        assert lo <= q.trip_lo_uV and q.trip_hi_uV <= hi, (desc, line)
        assert q.i_max_nA <= pf.CHANNEL_I_MAX_NA, (desc, line)
        accepted.append(desc)
    assert refused >= 5, refused
    MUTANTS_ACCEPTED.extend(accepted)


MUTANTS_ACCEPTED = []
