"""A command in a pseudo-terminal of a given size, driven as a person would: read what
it draws, press keys (Ctrl-C goes through the terminal's line discipline as SIGINT).
A stand-in for a terminal emulator that keeps only the text, for tests."""
import fcntl
import os
import re
import select
import signal
import struct
import termios
import time

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\x1b[=>]")


def plain(text):
    """The text without escape sequences."""
    return _ANSI.sub("", text)


def lines(text):
    """What ends up on screen lines: escape sequences gone, split at \\n and \\r."""
    return [ln for ln in re.split(r"[\r\n]", plain(text))]


class Terminal:
    def __init__(self, argv, cols=80, rows=40, cwd=None, env=None):
        pid, fd = os.forkpty()
        if pid == 0:   # the child: a session leader on the pty, as under a shell
            try:
                if cwd:
                    os.chdir(cwd)
                e = dict(os.environ if env is None else env)
                e.update(TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
                e.pop("NO_COLOR", None)
                # Ctrl-C as an interactive shell gives it: a suite started in the
                # background of a script runs with SIGINT ignored, which exec passes on
                # (and then the program never sees the Ctrl-C this terminal types)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.execvpe(argv[0], argv, e)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.out = ""
        self.status = None

    def read(self, timeout=0.2):
        """Whatever arrives within `timeout` s, appended to .out."""
        end = time.monotonic() + timeout
        got = ""
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                break
            try:
                data = os.read(self.fd, 65536)
            except OSError:   # EIO: the child closed the terminal
                break
            if not data:
                break
            got += data.decode("utf-8", "replace")
        self.out += got
        return got

    def wait_for(self, pattern, timeout=60):
        """Read until `pattern` (a regex) appears in the plain text read since the call
        started; the match, or AssertionError with the tail of the screen."""
        start = len(self.out)
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < end:
            self.read(0.2)
            m = rx.search(plain(self.out[start:]))
            if m:
                return m
            if self.poll() is not None:
                self.read(0.5)
                m = rx.search(plain(self.out[start:]))
                if m:
                    return m
                break
        raise AssertionError("no %r on the terminal; it shows:\n%s"
                             % (pattern, plain(self.out[-3000:])))

    def press(self, keys):
        os.write(self.fd, keys.encode() if isinstance(keys, str) else keys)

    def poll(self):
        if self.status is None:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
        return self.status

    def wait(self, timeout=60):
        end = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < end:
            self.read(0.2)
        self.read(0.3)
        if self.status is None:
            self.kill()
            raise AssertionError("still running after %s s:\n%s"
                                 % (timeout, plain(self.out[-3000:])))
        return self.status

    def kill(self):
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.status = -9

    def close(self):
        self.kill()
        try:
            os.close(self.fd)
        except OSError:
            pass
