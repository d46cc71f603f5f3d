# The wire protocol read back: records and reply lines as the host reads them, and
# encode() (a record's line, allocating) for tests and stand-ins. The format, its
# checksum and the rules are wire.py's; the board never loads this module.
from wire import MAX_RECORD, FIELDS, KINDS, crc16, encode_into, _is_word, _check_count


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
