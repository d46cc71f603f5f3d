"""The host end of the wire protocol (host_tools/link.py) and the logger's gap filling
(host_tools/log.py), against a stand-in board made of the firmware's own Ring."""
import collections
import csv
import json
import time

import host_tools  # noqa: F401
import wire_read
from ring import Ring
from host_tools import link, log


def test_framer_lines_crlf_and_split_chunks():
    f = link.LineFramer()
    out = f.feed(b"ok status: state=idle\r\nT 1 2")
    out += f.feed(b" 3\nrest\n")
    assert out == ["ok status: state=idle", "T 1 2 3", "rest"]


def test_framer_drops_overlong_garbage_and_recovers():
    f = link.LineFramer(max_len=64)
    good = wire_read.encode("F", [7, 100, 3, 4300000, 1000, 2])
    junk = bytes(b for b in range(256) if b != 10) * 3   # binary, no newline
    out = f.feed(junk[:300]) + f.feed(junk[300:] + b"\n" + good.encode() + b"\n")
    assert f.dropped == 1
    assert out[-1] == good
    assert link.decode(out[-1]).seq == 7


def test_framer_binary_short_line_cannot_pass_as_record():
    f = link.LineFramer()
    good = wire_read.encode("F", [3, 100, 3, 4300000, 1000, 2]).encode()
    bad = good.replace(b"4300000", b"43\xff0000")
    (line,) = f.feed(bad + b"\n")
    b = link.Board(_FakePort())
    b._dispatch(line)
    assert b.corrupt == 1 and not b.pending


def test_echo_matches_the_console():
    assert link.echo_of("  replay   12 ") == "replay 12"
    assert link.echo_of("a:b") == "a?b"
    assert len(link.echo_of("x" * 60)) == 40


class _FakePort:
    """Duck-typed serial port: a stand-in board that sends the records of a firmware
    Ring and answers status/replay/stop like firmware/core/console.py."""

    def __init__(self, ring=None, corrupt_seq=None):
        self.ring = ring
        self.corrupt_seq = corrupt_seq
        self.out = collections.deque()
        self.inbuf = b""
        self.commands = []
        self.state = "running"
        self.timeout = 0.01

    @property
    def in_waiting(self):
        return sum(len(x) for x in self.out)

    def read(self, n):
        if not self.out:
            self._drain()
        data = b"".join(self.out)
        self.out.clear()
        return data

    def _drain(self):
        r = self.ring
        if r is None:
            return
        for _ in range(5):
            m = r.peek()
            if m is None:
                return
            line = bytes(m)
            if r.cursor == self.corrupt_seq:
                line = line.replace(b" ", b"  ", 1)   # a doubled character: bad CRC
                self.corrupt_seq = None
            self.out.append(line)
            r.advance()

    def write(self, data):
        self.inbuf += data
        while b"\n" in self.inbuf:
            line, self.inbuf = self.inbuf.split(b"\n", 1)
            self._command(line.decode())
        return len(data)

    def _command(self, line):
        self.commands.append(line)
        w = line.split()
        r = self.ring
        if w[0] == "status":
            self.out.append(("ok status: state=%s seq_next=%d seq_first=%d\n"
                             % (self.state, r.next_seq, r.first_seq())).encode())
        elif w[0] == "replay":
            lost = r.rewind(int(w[1]))
            self.out.append(("ok %s: from=%d to=%d lost=%d\n" % (
                line, int(w[1]) + lost, r.next_seq - 1, lost)).encode())
        else:
            self.out.append(("ok %s\n" % line).encode())

    def flush(self):
        pass

    def close(self):
        pass


def _ring_run(n_t, ring_n=64):
    """A ring holding a B record, n_t T records of a charge, then T in state done."""
    r = Ring(ring_n)
    r.push("B", [0, 1, "power_on", 1])
    for k in range(n_t):
        r.push("T", [k * 1000, 2, 1, 1, 1, 3000000 + k, 1000, k, 0, k * 1000, 3])
    r.push("T", [n_t * 1000, 4, 1, 1, 1, 3000000 + n_t, 0, n_t, 0, 0, 3])
    return r


def _bdf_seqs(d):
    with open(d / "timeseries.bdf.csv", newline="") as f:
        return [int(row["Record / 1"]) for row in csv.DictReader(f)]


def _session(tmp_path, port):
    out = tmp_path / "out"
    out.mkdir()
    (out / "protocol.txt").write_text(
        "cell 83900 437\nwindow 2600000 4100000\nlimits 2500000 4150000 419500 720000\n"
        "cc 41950 4100000 0\n")
    s = log.Session("fake://", str(out), say=lambda s: None)
    s.board = link.Board(port)
    return s, out


def test_corrupt_line_is_skipped_then_replayed(tmp_path):
    port = _FakePort(_ring_run(30), corrupt_seq=10)
    s, out = _session(tmp_path, port)
    assert s.run() == "done"
    assert s.board is not None
    assert any(c == "replay 10" for c in port.commands)
    seqs = _bdf_seqs(out)
    assert seqs == list(range(1, 32))           # every T once, in order (B is seq 0)
    st = json.loads((out / "log_state.json").read_text())
    assert st["next_seq"] == 32 and st["gaps"] == 0


def test_lost_records_are_reported_in_gaps_txt(tmp_path):
    ring = _ring_run(100, ring_n=40)             # the oldest 61 records are gone
    ring.cursor = ring.first_seq()
    port = _FakePort(ring)
    s, out = _session(tmp_path, port)
    s.logger.state["next_seq"] = 5               # we had 0..4: 5..first-1 are lost
    s.logger.state["boot"] = 1
    assert s.run() == "done"
    text = (out / "gaps.txt").read_text()
    assert "records 5..%d are lost" % (ring.first_seq() - 1) in text
    assert _bdf_seqs(out) == list(range(ring.first_seq(), ring.next_seq))


def test_restarted_logger_truncates_uncommitted_rows(tmp_path):
    port = _FakePort(_ring_run(20))
    s, out = _session(tmp_path, port)
    assert s.run() == "done"
    good = (out / "timeseries.bdf.csv").read_bytes()
    # rows written after the last committed state (a crash between flush and state)
    with open(out / "timeseries.bdf.csv", "ab") as f:
        f.write(b"99,1,0,1,1,cc_charge,0,0,0,999\n12,3")
    lg = log.Logger(str(out), s.parsed, say=lambda s: None)
    lg.close()
    assert (out / "timeseries.bdf.csv").read_bytes() == good


class _RebootingPort:
    """A board that is down for its first `lost` lines (they vanish, as a rebooting
    board's input does), then says `ok boot` and answers each `status` with its state
    and how many it has answered, `delay_reads` reads late (a slow board)."""

    def __init__(self, lost=0, delay_reads=0):
        self.lost, self.delay_reads = lost, delay_reads
        self.timeout = 0.01
        self.inbuf = b""
        self.later = []            # [reads to wait, bytes]
        self.out = b""
        self.state = "idle"
        self.answered = 0
        self.commands = []

    @property
    def in_waiting(self):
        return len(self.out)

    def read(self, n):
        keep = []
        for item in self.later:
            item[0] -= 1
            if item[0] <= 0:
                self.out += item[1]
            else:
                keep.append(item)
        self.later = keep
        data, self.out = self.out, b""
        if not data:
            time.sleep(self.timeout)   # as a port's read waits for its first byte
        return data

    def write(self, data):
        self.inbuf += data
        while b"\n" in self.inbuf:
            line, self.inbuf = self.inbuf.split(b"\n", 1)
            self.commands.append(line.decode())
            if self.lost > 0:
                self.lost -= 1
                if self.lost == 0:
                    self.later.append([1, b"ok boot: cause=power_on boot=2\n"])
                continue
            if line == b"status":
                self.answered += 1
                reply = "ok status: state=%s n=%d\n" % (self.state, self.answered)
            else:
                if line == b"start":
                    self.state = "running"
                reply = "ok %s\n" % line.decode()
            # replies leave in the order the lines came, a few reads apart
            wait = max([self.delay_reads] + [w + 3 for w, _ in self.later])
            self.later.append([wait, reply.encode()])
        return len(data)

    def flush(self):
        pass


def test_hello_asks_again_when_the_board_was_down():
    """The first two questions vanish (the board rebooting); the board's `ok boot`
    makes hello ask again, and it gets its answer. A plain status() would wait."""
    port = _RebootingPort(lost=2)
    b = link.Board(port)
    s = b.hello(timeout=10, resend_s=0.2)
    assert s["state"] == "idle"
    assert port.commands.count("status") >= 3
    # control: the same board, asked once, never answers
    port2 = _RebootingPort(lost=1)
    b2 = link.Board(port2)
    try:
        b2.status(timeout=0.5)
        raise AssertionError("a question sent while the board was down was answered")
    except link.BoardTimeout:
        pass


def test_hello_leaves_no_late_duplicate_to_answer_a_later_status():
    """A slow board answers both of hello's questions; the late second answer must not
    be taken for the answer to the next status (n counts the answers)."""
    port = _RebootingPort(delay_reads=30)
    b = link.Board(port)
    s = b.hello(timeout=10, resend_s=0.05)
    sent = port.commands.count("status")
    assert s["n"] == "1" and sent >= 2
    assert b.status(timeout=5)["n"] == str(sent + 1)      # its own answer
    # control: asked twice without hello's closing `version`, the next status gets
    # the late answer to the second question
    port2 = _RebootingPort(delay_reads=30)
    b2 = link.Board(port2)
    b2.send("status")
    b2.send("status")
    assert b2.wait_reply("status", 5).pairs()["n"] == "1"
    assert b2.status(timeout=5)["n"] == "2"
