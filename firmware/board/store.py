# Small files on the board's flash, written atomically (a temp file, then rename), so
# a power cut while writing leaves the old file or the new one, never a torn one.
# A file holds its text, then a line "*XXXX" with the CRC-16 of the text; a file whose
# CRC does not match reads as missing. Not for the control tick: it allocates and blocks.
import os
import wire


def write_text(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.write("\n*%04X\n" % wire.crc16(text.encode()))
    try:
        os.sync()  # not on every port: the rename is what makes it atomic
    except AttributeError:
        pass
    os.rename(tmp, path)


def read_text(path):
    """The text written by write_text, or None if absent, torn or corrupt."""
    try:
        with open(path) as f:
            data = f.read()
    except OSError:
        return None
    k = data.rfind("\n*")
    if k < 0:
        return None
    text = data[:k]
    try:
        crc = int(data[k + 2:].strip(), 16)
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


def write_lines(path, lines):
    """Several lines (a protocol) as one record."""
    write_text(path, "\n".join(lines))


def read_lines(path):
    t = read_text(path)
    if t is None:
        return None
    return t.split("\n") if t else []


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
