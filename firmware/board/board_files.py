# The console's `files` command: the board's folder, a page of names or a chunk of one
# file at a time. The runtime loads it for a request and drops it after (runtime.py
# _RARE): its code takes no heap while the board runs.
import os


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
