# The wire protocol's records and replies as text lines (docs/protocol.md).
# Pure: runs under MicroPython and CPython, reads no clock, touches no port.
# Encoding into a caller's buffer allocates nothing (ints within +-2**30).
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

from array import array

PROTOCOL_VERSION = const(1)

# Fields of each record kind, in line order (seq is always first). The codes (state,
# step kind, reason, fault code) are the engine's; see firmware/core/engine.py.
FIELDS = {
    "T": ("seq", "t_ms", "state", "step", "kind", "cycle", "v_uV", "i_nA",
          "q_chg_nAh", "q_dis_nAh", "step_ms", "range"),
    "S": ("seq", "t_ms", "step", "kind", "cycle", "reason", "duration_ms",
          "q_chg_nAh", "q_dis_nAh", "e_chg_nWh", "e_dis_nWh", "v_uV", "i_nA"),
    "C": ("seq", "t_ms", "cycle", "chg_cc_nAh", "chg_cv_nAh", "dis_cc_nAh",
          "dis_cv_nAh", "e_chg_nWh", "e_dis_nWh", "duration_s"),
    "F": ("seq", "t_ms", "code", "v_uV", "i_nA", "step"),
    # B: boot/info. `cause` is a word (power_on, watchdog, soft, ...); the ints after
    # it are the checkpoint as the runtime saved it (none when there is none).
    "B": ("seq", "t_ms", "version", "cause"),
}
KINDS = "TSCFB"
B_MAX_CHECKPOINT = const(8)  # at most this many checkpoint ints after `cause`

# Longest record line, newline included: 'S' + 13 fields of up to 11 characters plus
# a space each + '*XXXX\n' = 1 + 156 + 6. A ring slot of this size holds any record.
MAX_RECORD = const(168)

_STAR = const(42)  # '*'
_SPACE = const(32)
_MINUS = const(45)
_ZERO = const(48)
_NL = const(10)
_HEX = b"0123456789ABCDEF"

# CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor):
# check value 0x29B1 for b"123456789". One table lookup per byte, integers only.
_CRC_TABLE = array("H", bytes(512))


def _make_table():
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
            c &= 0xFFFF
        _CRC_TABLE[i] = c


_make_table()


def crc16(data, start=0, end=-1):
    """CRC-16/CCITT-FALSE of data[start:end] (bytes, bytearray or memoryview)."""
    if end < 0:
        end = len(data)
    crc = 0xFFFF
    t = _CRC_TABLE
    i = start
    while i < end:
        crc = ((crc << 8) & 0xFF00) ^ t[((crc >> 8) ^ data[i]) & 0xFF]
        i += 1
    return crc


def _put_int(buf, p, limit, v):
    # ' ' then the decimal digits of v, written in place (no str made).
    if p + 2 > limit:
        raise ValueError("record longer than its buffer")
    buf[p] = _SPACE
    p += 1
    if v < 0:
        buf[p] = _MINUS
        p += 1
        v = -v
    a = p
    while True:
        if p >= limit:
            raise ValueError("record longer than its buffer")
        buf[p] = _ZERO + v % 10
        p += 1
        v //= 10
        if v == 0:
            break
    b = p - 1
    while a < b:  # the digits went in lowest first: reverse them
        c = buf[a]
        buf[a] = buf[b]
        buf[b] = c
        a += 1
        b -= 1
    return p


def _put_word(buf, p, limit, w):
    if not _is_word(w):
        raise ValueError("a text field must be a word of [a-z0-9_] starting with a letter, e.g. power_on")
    if p + 1 + len(w) > limit:
        raise ValueError("record longer than its buffer")
    buf[p] = _SPACE
    p += 1
    for ch in w:
        buf[p] = ord(ch)
        p += 1
    return p


def _is_word(w):
    if not 0 < len(w) <= 24 or not "a" <= w[0] <= "z":
        return False
    for ch in w:
        if not ("a" <= ch <= "z" or "0" <= ch <= "9" or ch == "_"):
            return False
    return True


def _check_count(kind, n):
    if kind not in FIELDS or len(kind) != 1:
        raise ValueError("unknown record kind %r; expected one of %s" % (kind, KINDS))
    want = len(FIELDS[kind]) - 1  # seq is given apart
    if kind == "B":
        if not want <= n <= want + B_MAX_CHECKPOINT:
            raise ValueError("a B record has t_ms version cause and up to %d checkpoint ints"
                             % B_MAX_CHECKPOINT)
    elif n != want:
        raise ValueError("a %s record has %d fields after seq, got %d" % (kind, want, n))


def encode_into(buf, off, kind, seq, fields, n=-1, limit=-1):
    """Write record `kind` (a letter) numbered `seq` with fields[0:n] (everything after
    seq) into buf[off:limit] as the bytes sent on the wire, newline included.
    Returns the offset just past the newline. Allocates nothing for small ints.
    Raises ValueError when the record does not fit or has the wrong field count."""
    if n < 0:
        n = len(fields)
    if limit < 0:
        limit = len(buf)
    _check_count(kind, n)
    p = off
    if p >= limit:
        raise ValueError("record longer than its buffer")
    buf[p] = ord(kind)
    p = _put_int(buf, p + 1, limit, seq)
    i = 0
    while i < n:
        v = fields[i]
        if isinstance(v, str):
            if kind != "B" or i != 2:
                raise ValueError("only a B record's cause is text")
            p = _put_word(buf, p, limit, v)
        else:
            p = _put_int(buf, p, limit, v)
        i += 1
    if kind == "B" and not isinstance(fields[2], str):
        raise ValueError("a B record's cause is a word, e.g. power_on")
    crc = crc16(buf, off, p)
    if p + 6 > limit:
        raise ValueError("record longer than its buffer")
    buf[p] = _STAR
    buf[p + 1] = _HEX[(crc >> 12) & 15]
    buf[p + 2] = _HEX[(crc >> 8) & 15]
    buf[p + 3] = _HEX[(crc >> 4) & 15]
    buf[p + 4] = _HEX[crc & 15]
    buf[p + 5] = _NL
    return p + 6


def encode(kind, fields):
    """The line (str, no newline) of record `kind` with `fields`, seq first: the inverse
    of decode(). Allocates; for the board's hot path use encode_into()."""
    buf = bytearray(MAX_RECORD)
    end = encode_into(buf, 0, kind, fields[0], fields[1:])
    return bytes(buf[:end - 1]).decode()


def _parse_int(s):
    # Strict: optional '-', then ASCII digits (int() would take '+1', ' 1', '1_0').
    i = 1 if s[:1] == "-" else 0
    if i >= len(s):
        raise ValueError("%r is not an integer" % s)
    for ch in s[i:]:
        if not "0" <= ch <= "9":
            raise ValueError("%r is not an integer" % s)
    return int(s)


def decode(line):
    """(kind, fields) of a record line (str or bytes, newline optional), fields a tuple
    with seq first. Raises ValueError on a bad checksum, kind, field or field count."""
    if not isinstance(line, str):
        try:
            line = bytes(line).decode()
        except Exception:
            raise ValueError("record is not ASCII text")
    while line and line[-1] in "\r\n":
        line = line[:-1]
    star = line.rfind("*")
    if star < 0 or len(line) - star != 5:
        raise ValueError("record does not end with *XXXX (its checksum)")
    body = line[:star]
    raw = body.encode()
    for b in raw:
        if not 32 <= b < 127:
            raise ValueError("record is not printable ASCII")
    want = 0
    for ch in line[star + 1:]:
        d = "0123456789ABCDEF".find(ch.upper())
        if d < 0:
            raise ValueError("checksum %r is not 4 hex digits" % line[star + 1:])
        want = (want << 4) | d
    got = crc16(raw)
    if got != want:
        raise ValueError("bad checksum: line says %04X, content gives %04X" % (want, got))
    parts = body.split(" ")
    kind = parts[0]
    if kind not in FIELDS or len(kind) != 1:
        raise ValueError("unknown record kind %r" % kind)
    fields = []
    for i in range(1, len(parts)):
        if kind == "B" and i == 4:
            if not _is_word(parts[i]):
                raise ValueError("a B record's cause must be a word, got %r" % parts[i])
            fields.append(parts[i])
        else:
            fields.append(_parse_int(parts[i]))
    if not fields:
        raise ValueError("record has no seq")
    _check_count(kind, len(fields) - 1)
    return kind, tuple(fields)


def is_record(line):
    """True if `line` looks like a record (a kind letter then a space), not a reply."""
    return len(line) > 2 and line[0] in KINDS and line[1] == " "


# Replies: `ok <command>[: <info>]` and `error <command>: <what is wrong; what is
# expected; example>`. Human-readable, no checksum; one per command line.

ECHO_MAX = const(40)


def echo(command):
    """What a reply repeats of its command (the one rule, used by the board's console
    and the host's link): the words as sent, one space apart, shortened to ECHO_MAX; a
    ':' (no command has one) becomes '?' so that the first ': ' of a reply ends it."""
    e = " ".join(command.split()).replace(":", "?")
    if len(e) > ECHO_MAX:
        e = e[:ECHO_MAX - 3] + "..."
    return e


def ok_line(echo, info=None):
    if info:
        return "ok %s: %s" % (echo, info)
    return "ok " + echo


def error_line(echo, message):
    return "error %s: %s" % (echo, message)


def parse_reply(line):
    """(ok, echo, text) of a reply line, ok a bool, or None if `line` is no reply.
    The echo ends at the first ': ' (commands the host sends contain none)."""
    while line and line[-1] in "\r\n":
        line = line[:-1]
    if line.startswith("ok "):
        ok, rest = True, line[3:]
    elif line.startswith("error "):
        ok, rest = False, line[6:]
    else:
        return None
    c = rest.find(": ")
    if c < 0:
        return ok, rest, ""
    return ok, rest[:c], rest[c + 2:]
