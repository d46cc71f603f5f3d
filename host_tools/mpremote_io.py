"""A thin adapter over the pinned mpremote 1.29.0 command line (STYLE 13: its Python
API says it will change). Every call is `python -m mpremote connect PORT resume ...`
in a subprocess with a timeout; it never soft-resets a board behind the caller's back.

`resume` matters: mpremote's default soft reset sends Ctrl-D, which ends the unix port
(the virtual board) instead of soft-resetting it, and mpremote then waits forever.
"""
import subprocess
import sys

DEFAULT_TIMEOUT_S = 30.0


class MpremoteError(RuntimeError):
    """mpremote failed or timed out; the message says what ran and what it printed."""


def _describe(args, what=None):
    """The command for a message: a script shows as what it does, never as its text."""
    words = []
    for a in args:
        if "\n" in a or len(a) > 60:
            words.append("<%s>" % (what or "a script"))
        else:
            words.append(a if a and " " not in a else repr(a))
    return "mpremote " + " ".join(words)


def mpremote(port, *cmds, timeout=DEFAULT_TIMEOUT_S, what=None):
    """Run `mpremote connect PORT resume CMDS...`; return its stdout (text).
    Chain several commands in one connection with "+" between them."""
    if not port:
        raise MpremoteError("no port given: pass --port (e.g. /dev/ttyACM0 or the path "
                            "`cycler sim-board` printed)")
    args = ["connect", port, "resume"] + [str(c) for c in cmds]
    try:
        r = subprocess.run([sys.executable, "-m", "mpremote"] + args, capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        raise MpremoteError(
            "%s: no answer within %.0f s. Is the board running code that ignores Ctrl-C, "
            "or is another program holding the port? Output so far: %r"
            % (_describe(args, what), timeout, out[-300:])) from None
    if r.returncode != 0:
        msg = (r.stderr.strip() or r.stdout.strip())[-1500:]
        if "failed to access" in msg or "could not open" in msg.lower():
            raise MpremoteError("no board at %s (or another program holds it): check the "
                                "path with `cycler ports`" % port)
        raise MpremoteError("%s failed (exit %d):\n%s" % (_describe(args, what),
                                                            r.returncode, msg))
    return r.stdout


def exec_(port, code, timeout=DEFAULT_TIMEOUT_S, what=None):
    """Run Python source on the board; return what it printed. A board-side exception
    raises MpremoteError with the traceback; `what` names the script in messages."""
    return mpremote(port, "exec", code, timeout=timeout, what=what)


def ls(port, path="", timeout=DEFAULT_TIMEOUT_S):
    """[(name, size, is_dir)] of a board folder ('' = the current one, the board's /).
    Sizes are 0 on the virtual board: the unix port's ilistdir gives none."""
    out = mpremote(port, "fs", "ls", ":" + path, timeout=timeout)
    entries = []
    for line in out.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) != 2 or not parts[0].isdigit():
            continue   # the "ls :path" header
        name = parts[1]
        is_dir = name.endswith("/")
        entries.append((name.rstrip("/"), int(parts[0]), is_dir))
    return entries


def cp_to_board(port, pairs, timeout=DEFAULT_TIMEOUT_S):
    """Copy local files to the board in one connection: pairs of (local, remote)."""
    _chain(port, [["fs", "cp", "-f", local, ":" + remote] for local, remote in pairs],
           timeout)


def rm(port, paths, timeout=DEFAULT_TIMEOUT_S):
    _chain(port, [["fs", "rm", ":" + p] for p in paths], timeout)


def mkdir(port, paths, timeout=DEFAULT_TIMEOUT_S):
    _chain(port, [["fs", "mkdir", ":" + p] for p in paths], timeout)


def _chain(port, commands, timeout):
    """Several mpremote commands in one connection, joined by mpremote's '+'."""
    args = []
    for c in commands:
        if args:
            args.append("+")
        args += c
    if args:
        mpremote(port, *args, timeout=timeout)


def sha256sum(port, path, timeout=DEFAULT_TIMEOUT_S):
    """Hex sha256 of one board file."""
    out = mpremote(port, "fs", "sha256sum", ":" + path, timeout=timeout)
    for line in reversed(out.splitlines()):
        word = line.strip().split(" ")[0]
        if len(word) == 64:
            return word
    raise MpremoteError("sha256sum :%s: unexpected output %r" % (path, out))


def reset(port, virtual, timeout=DEFAULT_TIMEOUT_S):
    """Restart the board so main.py runs afresh. A real board: `mpremote reset`
    (machine.reset()). The virtual board: end the micropython process
    (sys.exit() from the raw REPL); its launcher starts it again, like a reboot."""
    if virtual:
        exec_(port, "import sys\nsys.exit()", timeout=timeout)
    else:
        mpremote(port, "reset", timeout=timeout)
