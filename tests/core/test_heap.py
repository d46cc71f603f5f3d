# The core tick (safety, engine, regulator, accounting, command) allocates nothing and
# keeps every integer a small int of a 32-bit port (|x| < 2**30).
# Under MicroPython each tick runs with micropython.heap_lock() held: an allocation
# raises MemoryError. Under CPython the same run checks the integer range instead.
import sys
import channel
import engine
from standin import StandInCell

try:
    import micropython
    heap_lock = micropython.heap_lock
    heap_unlock = micropython.heap_unlock
    ON_MICROPYTHON = sys.implementation.name == "micropython"
except (ImportError, AttributeError):
    ON_MICROPYTHON = False

LIMIT = 1 << 30

# Every step kind, ends by voltage, current, time and completion, two cycles, a
# constant-resistance step, a diagnostic sweep: the tick's every branch.
LINES = ["cell 83900 437", "window 2600000 4100000",
         "limits 1900000 4600000 20000000 400000", "diag",
         "rest 2",
         "repeat 2",
         "cc 251700 4100000 0", "cv 4100000 1823 0 0",
         "cc -251700 2600000 0", "cv 2600000 3495 0 0",
         "end",
         "cc 20000000 4100000 1",
         "cr 217000 2600000 20",
         "sweep 3000000 3100000 50000 1"]


def _objects(ch):
    e = ch.engine
    return (e, e.acc, e.acc._chg, e.acc._dis, e.reg, ch.safety)


def _check_ints(ch):
    for o in _objects(ch):
        for k, v in o.__dict__.items():
            if type(v) is int:
                assert -LIMIT < v < LIMIT, (type(o).__name__, k, v)
            elif type(v) is list:
                for x in v:
                    if type(x) is int:
                        assert -LIMIT < x < LIMIT, (type(o).__name__, k, x)


def _run(per_tick):
    ch = channel.Channel(20000000, 500)
    ch.load_lines(LINES)
    cell = StandInCell(capacity_nAh=83900, soc=0.05)
    ch.tick(0, int(cell.v() * 1e6), 0)
    ch.start(0)
    now = 0
    ticks = 0
    kinds = set()
    while ch.engine.state == engine.RUNNING and ticks < 2000000:
        # measurement outside the lock (the cell model uses floats)
        v_uV = int(cell.v() * 1e6)
        i_nA = int(cell.i_A * 1e9)
        dt = 1000 if ch.engine.step.kind != 5 else 100
        per_tick(ch, now, v_uV, i_nA)
        kinds.add(ch.engine.step.kind)
        cell.step(dt / 1000, (ch.out_i_nA if ch.out_on else 0) * 1e-9)
        now = (now + dt) & 0x3FFFFFFF
        ticks += 1
    assert ch.state_name() == "done", ch.status_text()
    assert kinds == {1, 2, 3, 4, 5}, kinds
    assert ch.engine.cycle_seq >= 2
    return ticks


def test_tick_allocates_nothing():
    if not ON_MICROPYTHON:
        return  # proven under the micropython runtime (tests/test_micropython_core.py)

    def locked(ch, now, v, i):
        heap_lock()
        try:
            ch.tick(now, v, i)
        finally:
            heap_unlock()

    assert _run(locked) > 1000


def test_tick_keeps_small_ints():
    def checked(ch, now, v, i):
        ch.tick(now, v, i)
        _check_ints(ch)

    _run(checked)


def test_a_trip_allocates_nothing():
    if not ON_MICROPYTHON:
        return
    ch = channel.Channel(20000000, 500)
    ch.load_lines(LINES)
    ch.tick(0, 3000000, 0)
    ch.start(0)
    heap_lock()
    try:
        for k in range(5):
            ch.tick(100 * k, 4700000, 0)
    finally:
        heap_unlock()
    assert ch.state_name() == "fault"


def test_heap_lock_does_catch_an_allocation():
    # the control for the tests above: a float product must fail under the lock
    if not ON_MICROPYTHON:
        return
    x = 3
    heap_lock()
    try:
        y = x * 1.5
    except MemoryError:
        y = None
    finally:
        heap_unlock()
    assert y is None
