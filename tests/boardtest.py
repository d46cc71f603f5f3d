"""Helpers shared by the tests that drive a virtual board or a `cycler` process:
waits bounded by progress (not by wall time, which load stretches), a deployed
virtual board, and the CSV files a run writes."""
import contextlib
import csv
import os
import time

# How long a wait may go without progress before it fails. A busy 2-core machine
# slows a run down; it does not stop it for this long.
STALL_S = 60.0


def wait_progress(done, progress, what, stall_s=STALL_S, poll_s=0.05):
    """Wait until done() is true. Fails only when progress() (any comparable value:
    a file size, a record count) has not changed for stall_s seconds, so the wait
    lasts as long as the work does, however slow the machine is. done() may raise
    (e.g. an AssertionError that the process under test died)."""
    last = progress()
    t_last = time.monotonic()
    while not done():
        time.sleep(poll_s)
        now = progress()
        if now != last:
            last, t_last = now, time.monotonic()
        elif time.monotonic() - t_last > stall_s:
            raise AssertionError("%s: no progress for %.0f s (stuck at %r)"
                                 % (what, stall_s, now))


def tree_bytes(path):
    """Total size of the files below path (0 if it does not exist): grows while a
    logger writes a run's folder."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, name))
            except OSError:
                pass
    return total


def rows(path):
    """The rows of a CSV file as dicts; [] while it does not exist."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@contextlib.contextmanager
def deployed_board(board_dir, timeout=60, **kw):
    """A virtual board on board_dir running the real firmware, deployed with the real
    mpremote (the compiled image is built once per process: deploy.build's cache)."""
    from host_tools import deploy, simboard

    b = simboard.SimBoard(str(board_dir), **kw)
    b.start()
    try:
        deploy.deploy(b.port, "sim", log=lambda s: None, timeout=timeout)
        wait_up(b.port)
        yield b
    finally:
        b.stop()


def connect(port, timeout=30):
    """A link.Board on port once the firmware answers: the port may not be back yet
    after a restart; once open, hello() asks until the board answers (a board still
    booting loses what it is sent) and leaves no late duplicate reply for the next
    question (host_tools/link.py)."""
    import time
    from host_tools import link
    end = time.monotonic() + timeout
    while True:
        try:
            ser = link.open_port(port)
            break
        except OSError:
            assert time.monotonic() < end, "the port %s does not come back" % port
            time.sleep(0.3)
    bd = link.Board(ser)
    try:
        bd.hello()
    except BaseException:
        bd.close()
        raise
    return bd


def wait_up(port):
    """Return once the firmware on port answers: after a reset it is importing for a
    while, and an mpremote call in that window can lose its one Ctrl-C and wait out its
    timeout (4 of 10 execs sent straight after a reset did, on the virtual board)."""
    connect(port).close()
