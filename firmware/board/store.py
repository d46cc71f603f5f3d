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


class Files:
    """What the console's `files` command shows of the board's folder `root`: a page of
    names and sizes, a chunk of one file as hex (a reply line stays short and plain).
    Read-only; names are plain file names in root (no '/', so nothing outside it)."""
    PAGE = 8          # names per `files ls` reply
    CHUNK = 96        # bytes per `files cat` reply (192 hex digits)

    def __init__(self, root=""):
        self.root = root

    def _path(self, name):
        return (self.root + "/" + name) if self.root else name

    def ls(self, start):
        names = sorted(os.listdir(self.root or "."))
        out = []
        for n in names[start:start + self.PAGE]:
            try:
                st = os.stat(self._path(n))
                out.append("%s%s=%d" % (n, "/" if st[0] & 0x4000 else "", st[6]))
            except OSError:
                out.append(n + "=?")
        nxt = start + self.PAGE if start + self.PAGE < len(names) else -1
        return "n=%d next=%d %s" % (len(names), nxt, " ".join(out))

    def cat(self, name, offset):
        if "/" in name or name in (".", ".."):
            raise ValueError("%r is not a file name of the board's folder; e.g. files cat "
                             "checkpoint.txt" % name)
        try:
            with open(self._path(name), "rb") as f:
                f.seek(offset)
                data = f.read(self.CHUNK)
                size = f.seek(0, 2)
        except OSError:
            raise ValueError("no file %r; expected one that files ls lists" % name)
        nxt = offset + len(data) if offset + len(data) < size else -1
        return "size=%d next=%d hex=%s" % (size, nxt, "".join("%02x" % b for b in data))


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
