# The record ring: numbering, wrap-around, replay and loss reports, the send cursor.
# Plain functions and asserts: runs under pytest and under the micropython unix port.
import ring
import wire_read

try:
    import micropython
except ImportError:
    micropython = None


def _f(t_ms):
    # The fields of an F record after seq; t_ms tells records apart.
    return (t_ms, 3, 4300000, -5, 7)


def _seqs(lines):
    out = []
    for line in lines:
        kind, fields = wire_read.decode(bytes(line))
        out.append(fields[0])
    return out


def test_push_numbers_records_and_keeps_their_lines():
    r = ring.Ring(4)
    assert r.first_seq() == 0 and r.next_seq == 0 and r.get(0) is None
    assert r.push("F", _f(100)) == 0
    assert r.push("T", (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)) == 1
    assert wire_read.decode(bytes(r.get(0))) == ("F", (0,) + _f(100))
    assert wire_read.decode(bytes(r.get(1)))[0] == "T"
    assert bytes(r.get(1))[-1:] == b"\n"
    assert r.get(2) is None and r.get(-1) is None


def test_wrap_keeps_the_newest_n():
    r = ring.Ring(5)
    for i in range(13):
        r.push("F", _f(i))
    assert r.first_seq() == 8 and r.next_seq == 13
    assert _seqs(r.since(0)) == [8, 9, 10, 11, 12]
    assert _seqs(r.since(10)) == [10, 11, 12]
    assert _seqs(r.since(13)) == []
    assert _seqs(r.since(99)) == []
    for s in range(8, 13):
        assert wire_read.decode(bytes(r.get(s)))[1][1] == s  # t_ms == seq: the right slot
    assert r.get(7) is None


def test_missing_tells_what_was_lost():
    r = ring.Ring(3)
    assert r.missing(0) == 0
    for i in range(10):
        r.push("F", _f(i))
    assert r.first_seq() == 7
    assert r.missing(0) == 7
    assert r.missing(6) == 1
    assert r.missing(7) == 0
    assert r.missing(10) == 0


def test_since_skips_records_overwritten_while_iterating():
    r = ring.Ring(3)
    for i in range(3):
        r.push("F", _f(i))
    got = []
    for line in r.since(0):
        got.append(wire_read.decode(bytes(line))[1][0])
        if len(got) == 1:
            for i in range(4):  # seqs 3..6 arrive; 0..3 fall out
                r.push("F", _f(i))
    assert got == [0, 4, 5, 6]


def test_send_cursor_drains_in_order():
    r = ring.Ring(8)
    for i in range(3):
        r.push("F", _f(i))
    assert r.pending() == 3
    sent = []
    while True:
        line = r.peek()
        if line is None:
            break
        sent.append(bytes(line))
        r.advance()
    assert _seqs(sent) == [0, 1, 2]
    assert r.pending() == 0 and r.dropped == 0
    r.advance()  # nothing to advance past
    assert r.cursor == 3


def test_unsent_records_overwritten_are_counted_and_skipped():
    r = ring.Ring(4)
    for i in range(10):
        r.push("F", _f(i))
    assert r.dropped == 6
    assert r.cursor == r.first_seq() == 6
    assert _seqs([r.peek()]) == [6]


def test_rewind_replays_and_reports_loss():
    r = ring.Ring(4)
    for i in range(10):
        r.push("F", _f(i))
    while r.peek() is not None:
        r.advance()
    assert r.rewind(8) == 0
    assert r.pending() == 2 and _seqs([r.peek()]) == [8]
    assert r.rewind(2) == 4  # 2..5 are gone
    assert r.cursor == 6 and r.pending() == 4
    assert r.rewind(10) == 0 and r.pending() == 0  # nothing newer: fine
    try:
        r.rewind(11)
        raise AssertionError("rewind past the newest record must fail")
    except ValueError:
        pass
    assert r.cursor == 10


def test_a_refused_record_uses_no_seq():
    r = ring.Ring(4, slot_len=32)
    r.push("F", _f(1))
    for kind, fields in (("F", (1, 2)), ("X", _f(1)), ("T", (123456789,) * 11)):
        try:
            r.push(kind, fields)
            raise AssertionError("push must refuse %r" % kind)
        except ValueError:
            pass
    assert r.next_seq == 1
    assert r.push("F", _f(2)) == 1
    assert _seqs(r.since(0)) == [0, 1]


def test_first_seq_can_continue_a_count():
    r = ring.Ring(4, first_seq=1000)
    assert r.push("F", _f(0)) == 1000
    assert r.missing(999) == 1  # records before the first kept one count as lost
    assert _seqs(r.since(0)) == [1000]


def test_push_allocates_nothing():
    if micropython is None:
        return  # heap_lock is a MicroPython facility
    r = ring.Ring(4)
    fields = _f(5)
    r.push("F", fields)
    micropython.heap_lock()
    try:
        n = 0
        while n < 10:
            r.push("F", fields)
            n += 1
    finally:
        micropython.heap_unlock()
    assert r.next_seq == 11 and _seqs(r.since(0)) == [7, 8, 9, 10]
