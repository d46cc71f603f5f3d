# Wire records and replies. Plain functions and asserts: runs under pytest and under
# the micropython unix port (tests/core/conftest.py or MICROPYPATH puts firmware/ on the path).
import wire

try:
    import micropython
except ImportError:
    micropython = None


def _crc_bitwise(data):
    # An independent CRC-16/CCITT-FALSE, one bit at a time, to check the table.
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _raises(fn, *args):
    try:
        fn(*args)
    except ValueError:
        return True
    return False


# One good record of each kind, seq first.
GOOD = (
    ("T", (0, 0, 1, 1, 2, 1, 2600000, 1824, 0, 0, 0, 0)),
    ("T", (7, 3600000, 2, 5, 2, 3, 4100000, -83900, 12345, 67890, 360000, 4)),
    ("S", (12, 3601000, 3, 1, 1, 2, 3600000, 83900, 0, 310000, 0, 4100000, 1800)),
    ("C", (40, 36000000, 1, 70000, 9000, 75000, 1000, 300000, 270000, 36000)),
    ("F", (41, 36000100, 3, 4300000, 20000000, 7)),
    ("B", (0, 0, 1, "power_on")),
    ("B", (1, 5, 1, "watchdog", 3, 2, 81234, 80012, 12345678)),
    ("T", (1073741823, 1073741823, 0, 0, 0, 0, -1073741823, -1073741824, 0, 0, 0, 0)),
)


def test_crc_check_value():
    assert wire.crc16(b"123456789") == 0x29B1  # the catalogue's check value
    assert wire.crc16(b"") == 0xFFFF


def test_crc_matches_bitwise_reference():
    data = bytes(range(256)) + b"T 1 2 3*"
    for n in (1, 2, 17, 100, len(data)):
        assert wire.crc16(data, 0, n) == _crc_bitwise(data[:n])
    assert wire.crc16(data, 5, 40) == _crc_bitwise(data[5:40])


def test_round_trip_every_kind():
    for kind, fields in GOOD:
        line = wire.encode(kind, fields)
        assert line[0] == kind and line[-5] == "*"
        assert wire.decode(line) == (kind, fields)
        assert wire.decode(line + "\r\n") == (kind, fields)
        assert wire.decode(line.encode()) == (kind, fields)
        assert wire.is_record(line)


def test_line_layout_is_spaces_and_hex_checksum():
    line = wire.encode("F", (41, 36000100, 3, 4300000, -2, 7))
    body, crc = line.split("*")
    assert body == "F 41 36000100 3 4300000 -2 7"
    assert crc == "%04X" % _crc_bitwise(body.encode())


def test_lowercase_checksum_is_accepted():
    line = wire.encode("F", (1, 2, 3, 4, 5, 6))
    assert wire.decode(line[:-4] + line[-4:].lower()) == ("F", (1, 2, 3, 4, 5, 6))


def test_every_single_character_change_is_caught():
    line = wire.encode("T", GOOD[1][1])
    for i in range(len(line)):
        for c in "0179-* T*aZ":
            if c.upper() == line[i]:  # the checksum's hex may be either case
                continue
            bad = line[:i] + c + line[i + 1:]
            assert _raises(wire.decode, bad), bad


def test_dropped_or_doubled_character_is_caught():
    line = wire.encode("S", GOOD[2][1])
    for i in range(len(line)):
        assert _raises(wire.decode, line[:i] + line[i + 1:])
        assert _raises(wire.decode, line[:i] + line[i] + line[i:])


def _with_crc(body):
    return body + "*%04X" % _crc_bitwise(body.encode())


def test_bad_lines_are_refused_even_with_a_right_checksum():
    bad = (
        "",
        "T",
        "*FFFF",
        "T 1 2 3",  # no checksum
        "T 1 2*12345",  # 5 hex digits
        "T 1 2*12G4",
        _with_crc("X 1 2 3"),  # unknown kind
        _with_crc("TT 1 2 3"),
        _with_crc("T 1 2 3"),  # too few fields
        _with_crc("F 1 2 3 4 5 6 7"),  # too many
        _with_crc("F 1 2 3 4 5 x"),
        _with_crc("F 1 2 3 4 5 +6"),
        _with_crc("F 1 2 3 4 5 1_0"),
        _with_crc("F 1 2 3 4 5 -"),
        _with_crc("F 1 2  3 4 5"),  # double space
        _with_crc("F 1 2 3 4 5 6 "),  # trailing space
        _with_crc("B 1 2 1"),  # no cause
        _with_crc("B 1 2 1 Power"),  # cause not a lowercase word
        _with_crc("B 1 2 1 7"),
        _with_crc("B 1 2 1 x 1 2 3 4 5 6 7 8 9"),  # checkpoint too long
        _with_crc("F 1 2 3 4 5 6") + "junk",
        b"F 1 2 3 4 5 6\xff*0000",
    )
    for line in bad:
        assert _raises(wire.decode, line), line


def test_encode_refuses_wrong_records():
    assert _raises(wire.encode, "X", (1, 2))
    assert _raises(wire.encode, "F", (1, 2, 3))
    assert _raises(wire.encode, "T", (1,) * 13)
    assert _raises(wire.encode, "B", (1, 2, 1, "Bad Word"))
    assert _raises(wire.encode, "B", (1, 2, 1, 5))
    assert _raises(wire.encode, "F", (1, 2, "x", 4, 5, 6))


def test_encode_into_respects_its_limit():
    buf = bytearray(64)
    fields = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    end = wire.encode_into(buf, 3, "T", 9, fields)
    assert wire.decode(bytes(buf[3:end])) == ("T", (9,) + fields)
    assert buf[end - 1] == 10  # the newline is part of the wire bytes
    need = end - 3
    for limit in (3, 5, 3 + need - 1):
        assert _raises(wire.encode_into, buf, 3, "T", 9, fields, -1, limit)
    assert wire.encode_into(buf, 3, "T", 9, fields, -1, 3 + need) == end


def test_max_record_holds_the_widest_record():
    widest = (-1073741824,) * 12
    buf = bytearray(wire.MAX_RECORD)
    end = wire.encode_into(buf, 0, "S", 1073741823, widest)
    assert end <= wire.MAX_RECORD
    assert wire.decode(bytes(buf[:end]))[1][1:] == widest


def test_encode_into_takes_n_fields_of_an_array():
    from array import array
    a = array("i", [5, 2, 3, 4, 5, 6, 99, 99])
    buf = bytearray(wire.MAX_RECORD)
    end = wire.encode_into(buf, 0, "F", 1, a, 5)
    assert wire.decode(bytes(buf[:end])) == ("F", (1, 5, 2, 3, 4, 5))


def test_encode_into_allocates_nothing():
    if micropython is None:
        return  # heap_lock is a MicroPython facility
    buf = bytearray(wire.MAX_RECORD)
    fields = GOOD[2][1][1:]
    wire.encode_into(buf, 0, "S", 12, fields)  # warm up
    micropython.heap_lock()
    try:
        end = wire.encode_into(buf, 0, "S", 12, fields)
    finally:
        micropython.heap_unlock()
    assert wire.decode(bytes(buf[:end])) == ("S", GOOD[2][1])


def test_replies():
    assert wire.ok_line("start") == "ok start"
    assert wire.ok_line("rate 500", "rate_ms=500") == "ok rate 500: rate_ms=500"
    e = wire.error_line("rate x", "'x' is not a whole number; expected rate <ms>; e.g. rate 1000")
    assert e.startswith("error rate x: ")
    assert wire.parse_reply("ok start\r\n") == (True, "start", "")
    assert wire.parse_reply("ok rate 500: rate_ms=500") == (True, "rate 500", "rate_ms=500")
    assert wire.parse_reply(e)[:2] == (False, "rate x")
    assert wire.parse_reply(wire.encode("F", (1, 2, 3, 4, 5, 6))) is None
    assert not wire.is_record("ok start")
    assert not wire.is_record("error F: x")
    assert wire.PROTOCOL_VERSION == 1


def test_field_names_match_field_counts():
    for kind, fields in GOOD:
        if kind != "B":
            assert len(wire.FIELDS[kind]) == len(fields)
        assert wire.FIELDS[kind][0] == "seq"


def test_record_layouts_have_one_home():
    # the S and C records carry the engine's records after seq and t_ms
    import engine
    assert len(wire.FIELDS["S"]) == 2 + len(engine.SR_WIRE)
    assert len(wire.FIELDS["C"]) == 2 + engine.CR_LEN
    assert wire.FIELDS["S"][2] == "step" and wire.FIELDS["S"][-1] == "i_nA"
