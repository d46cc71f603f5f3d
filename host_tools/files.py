"""`cycler files ls` and `cycler files cat NAME`: the board's files (its checkpoint, its
protocol, its calibration) read through the firmware's `files` console command, page
by page, while a run goes on. Unlike mpremote it does not interrupt main.py: the cell
keeps cycling. Read-only; it never writes to the board.
"""
import sys

import host_tools  # noqa: F401


def add_arguments(p):
    p.add_argument("action", choices=("ls", "cat"), help="ls: names and sizes; cat: a file")
    p.add_argument("name", nargs="?", help="the file for cat (as `ls` lists it)")
    p.add_argument("--port", default=None,
                   help="serial port or pty path (default: the only board attached or running)")


def _pairs(text):
    out = {}
    for w in text.split():
        if "=" in w:
            k, v = w.rsplit("=", 1)
            out[k] = v
    return out


def listing(board):
    """[(name, size or None)] of the board's folder (a name ending in / is a folder)."""
    out, start = [], 0
    while start >= 0:
        words = board.command("files ls %d" % start).text.split()
        head = _pairs(" ".join(words[:2]))
        for w in words[2:]:
            name, _, size = w.rpartition("=")
            out.append((name, int(size) if size.isdigit() else None))
        start = int(head.get("next", -1))
    return out


def read(board, name):
    """The bytes of one file of the board's folder."""
    data, off = bytearray(), 0
    while off >= 0:
        kv = _pairs(board.command("files cat %s %d" % (name, off)).text)
        data += bytes.fromhex(kv.get("hex", ""))
        off = int(kv["next"])
    return bytes(data)


def run(args):
    from host_tools import link, ports
    if args.action == "cat" and not args.name:
        print("cycler files: cat needs a file name; e.g. cycler files cat checkpoint.txt "
              "(cycler files ls lists them)", file=sys.stderr)
        return 2
    try:
        port = ports.resolve(args.port)
        board = link.Board(link.open_port(port))
    except ports.PortError as e:
        print("cycler files: %s" % e, file=sys.stderr)
        return 2
    except Exception as e:   # serial.SerialException: no such port, busy
        print("cycler files: cannot open %s: %s" % (args.port, e), file=sys.stderr)
        return 2
    try:
        board.hello()   # first words: the board may still be booting (a deploy's reset)
        if args.action == "ls":
            rows = listing(board)
            w = max([len(str(s)) for _, s in rows] + [1])
            for name, size in rows:
                print("%*s  %s" % (w, "" if size is None or name.endswith("/") else size, name))
        else:
            sys.stdout.buffer.write(read(board, args.name))
            sys.stdout.flush()
    except link.BoardError as e:
        print("cycler files: %s" % e, file=sys.stderr)
        return 1
    finally:
        board.close()
    return 0
