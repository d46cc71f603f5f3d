# Small files on the board's flash, written atomically (a temp file, then rename), so
# a power cut while writing leaves the old file or the new one, never a torn one.
# Each file holds one line of text ending with a CRC-16 of the text; a file whose CRC
# does not match reads as missing. Not for the control tick: it allocates and blocks.
import os
import wire


def write_text(path, text):
    tmp = path + ".tmp"
    line = "%s *%04X\n" % (text, wire.crc16(text.encode()))
    with open(tmp, "w") as f:
        f.write(line)
    try:
        os.sync()  # not on every port: the rename is what makes it atomic
    except AttributeError:
        pass
    os.rename(tmp, path)


def read_text(path):
    """The text written by write_text, or None if absent, torn or corrupt."""
    try:
        with open(path) as f:
            line = f.read()
    except OSError:
        return None
    line = line.rstrip("\r\n")
    star = line.rfind(" *")
    if star < 0:
        return None
    text = line[:star]
    try:
        crc = int(line[star + 2:], 16)
    except ValueError:
        return None
    if crc != wire.crc16(text.encode()):
        return None
    return text


def write_ints(path, values):
    write_text(path, " ".join(str(v) for v in values))


def read_ints(path):
    t = read_text(path)
    if t is None:
        return None
    try:
        return [int(x) for x in t.split()]
    except ValueError:
        return None


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def write_lines(path, lines):
    """Several lines (a protocol) as one record: '\\n' joined, CRC over all."""
    tmp = path + ".tmp"
    body = "\n".join(lines)
    with open(tmp, "w") as f:
        f.write(body)
        f.write("\n*%04X\n" % wire.crc16(body.encode()))
    os.rename(tmp, path)


def read_lines(path):
    try:
        with open(path) as f:
            data = f.read()
    except OSError:
        return None
    k = data.rfind("\n*")
    if k < 0:
        return None
    body = data[:k]
    try:
        crc = int(data[k + 2:].strip(), 16)
    except ValueError:
        return None
    if crc != wire.crc16(body.encode()):
        return None
    return body.split("\n") if body else []
