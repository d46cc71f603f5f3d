# The hold's command aimed over the coming tick (regulator.reaim, engine/channel reaim,
# loop.reaim): `cycler simulate` picks a tick's length after the tick, the board's tick
# is fixed. Plain functions: these run under MicroPython too.
import channel
import engine
import regulator
from test_heap import LINES, ON_MICROPYTHON, _check_ints, _run

try:
    import micropython
except ImportError:
    micropython = None


def _learned():
    """A regulator that has seen a run-on: 3 ticks of 1 s at 20 uA, the voltage rising
    2 mV a tick (100 ohm per second: 2000 uV/s over 20 uA)."""
    r = regulator.Regulator()
    r.r_ohm = 1000
    r.r_seen = 1000
    v = 4090000
    for _ in range(3):
        r.track(v, 20000, 1000)
        v += 2000
    return r, v


def test_reaim_over_the_elapsed_tick_is_the_update_itself():
    # the board's path: update() looks ahead over the tick that has passed; reaim with
    # that same length changes nothing, and a second reaim does not see the run-on twice
    a, v = _learned()
    b, _ = _learned()
    i_a = a.update(4100000, v, -5000000, 5000000, 1000, 20000)
    i_b = b.update(4100000, v, -5000000, 5000000, 1000, 20000, 1000)
    assert i_a == i_b
    k = a.k_ohm_s
    assert a.reaim(1000) == i_a and a.reaim(1000) == i_a
    assert a.k_ohm_s == k > 0


def test_a_longer_look_ahead_aims_lower_on_charge():
    # the run-on over 10 s at 20 uA is ten times the one over 1 s: the charge current
    # is cut further, and a look-ahead of the elapsed tick gives the first command back
    r, v = _learned()
    i1 = r.update(v + 4000, v, -5000000, 5000000, 1000, 20000)
    i10 = r.reaim(10000)
    # the control: with no run-on learned the look-ahead's length changes nothing, and
    # the command is the plain integrator's, above both
    q = regulator.Regulator()
    q.r_ohm = 1000
    q.start(20000)
    j1 = q.update(v + 4000, v, -5000000, 5000000, 1000, 20000)
    assert q.reaim(10000) == j1 == 20000 + 4000 * 1000 // 1000
    assert r.k_ohm_s >= 50000
    assert i10 < i1 < j1
    assert r.reaim(1000) == i1


def test_reaim_of_a_limited_command_stays_in_its_limits():
    r, v = _learned()
    assert r.update(4100000, v - 400000, -5000000, 21000, 1000, 20000) == 21000
    assert r.reaim(60000) <= 21000 and r.reaim(100) == 21000


def test_only_a_hold_is_reaimed():
    ch = channel.Channel(20000000, 500)
    ch.load_lines(["cell 83900 437", "window 2600000 4100000",
                   "limits 2500000 4150000 20000000 400000",
                   "cc 251700 4100000 0", "cv 4100000 1823 0 0"])
    ch.tick(0, 3500000, 0)
    ch.start(0)
    ch.tick(1000, 3600000, 251700)
    assert ch.engine.step.kind != engine.CV and not ch.reaim(5000)
    now = 2000
    while ch.engine.step.kind != engine.CV:
        ch.tick(now, 4100000, 251700)
        now += 1000
    ch.tick(now, 4100500, ch.out_i_nA)
    assert ch.reaim(5000)
    ch.stop(now)
    assert not ch.reaim(5000) and ch.out_i_nA == 0


def test_a_reaim_allocates_nothing_and_keeps_small_ints():
    # each tick's command aimed again over twice the tick (a simulate tick picked after
    # it); under MicroPython with the heap locked
    def reaimed(ch, now, v, i):
        ch.tick(now, v, i)
        if ON_MICROPYTHON:
            micropython.heap_lock()
            try:
                ch.reaim(2000)
            finally:
                micropython.heap_unlock()
        else:
            ch.reaim(2000)
            _check_ints(ch)

    assert _run(reaimed) > 1000
