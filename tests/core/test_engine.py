# The engine in closed loop with a simple cell stand-in. Plain functions: they run
# under pytest on CPython and under the micropython executable.
import channel
import engine
import protocol
import safety
from paper import cccv, FIG4_NAH
from standin import StandInCell, run

I_MAX = 20000000
# Closed-loop cycles of many thousand ticks: under MicroPython only in the slow lane
# (tests/core/mprun.py); the other tests here run the same code paths there.
LONG = ("test_cv_holds_do_not_overshoot", "test_cccv_cycle_ends_each_step_for_the_right_reason",
        "test_accounting_adds_up")


def _channel(lines, cell=None):
    ch = channel.Channel(I_MAX, 500)
    ch.load_lines(lines)
    cell = cell or StandInCell()
    ch.tick(0, int(cell.v() * 1e6), 0)  # the runtime measures before anything starts
    ch.start(0)
    return ch, cell


class Recorder:
    """Collects step and cycle records as the runtime would (polling the counters)."""

    def __init__(self):
        self.steps = []
        self.cycles = []
        self.v_max_cv = {}
        self.v_min_cv = {}
        self._s = 0
        self._c = 0

    def __call__(self, ch, cell, now):
        e = ch.engine
        if e.step_seq != self._s:
            self._s = e.step_seq
            self.steps.append(list(e.step_rec))
        if e.cycle_seq != self._c:
            self._c = e.cycle_seq
            self.cycles.append(list(e.cycle_rec))
        if e.state == engine.RUNNING and e.step.kind == protocol.CV:
            v = cell.v()
            k = e.step_number
            self.v_max_cv[k] = max(self.v_max_cv.get(k, 0.0), v)
            self.v_min_cv[k] = min(self.v_min_cv.get(k, 9.0), v)


def test_cccv_cycle_ends_each_step_for_the_right_reason():
    ch, cell = _channel(cccv(rate_den=2, repeat=2))
    rec = Recorder()
    run(ch, cell, dt_ms=200, v_noise_uV=1000, i_noise_nA=20, on_tick=rec)
    assert ch.state_name() == "done"
    reasons = [s[engine.SR_REASON] for s in rec.steps]
    assert reasons == [engine.END_VOLTAGE, engine.END_CURRENT] * 4, reasons
    kinds = [s[engine.SR_KIND] for s in rec.steps]
    assert kinds == [protocol.CC, protocol.CV] * 4
    assert [c[engine.CR_CYCLE] for c in rec.cycles] == [1, 2]
    # holds end at C/46 and C/24 (FACTS: termination currents), seen through noise
    for s in rec.steps:
        if s[engine.SR_KIND] == protocol.CV:
            lim = FIG4_NAH // 46 if s[engine.SR_Q_CHG] else FIG4_NAH // 24
            assert abs(s[engine.SR_I_END]) <= lim + 200, s


def test_cv_holds_do_not_overshoot():
    # FACTS: the rate test spans C/50 to 3C; slow rates run with longer ticks
    for num, den, dt_ms in ((1, 50, 2000), (1, 10, 500), (1, 1, 100), (3, 1, 100)):
        ch, cell = _channel(cccv(rate_num=num, rate_den=den))
        rec = Recorder()
        run(ch, cell, dt_ms=dt_ms, v_noise_uV=1000, i_noise_nA=10, on_tick=rec)
        assert ch.state_name() == "done"
        assert max(rec.v_max_cv.values()) < 4.102, (num, den, rec.v_max_cv)
        assert min(rec.v_min_cv.values()) > 2.598, (num, den, rec.v_min_cv)


def test_accounting_adds_up():
    ch, cell = _channel(cccv(rate_den=5, repeat=2))
    rec = Recorder()
    run(ch, cell, dt_ms=500, v_noise_uV=500, on_tick=rec)
    for c in rec.cycles:
        steps = [s for s in rec.steps if s[engine.SR_CYCLE] == c[engine.CR_CYCLE]]
        chg = sum(s[engine.SR_Q_CHG] for s in steps)
        dis = sum(s[engine.SR_Q_DIS] for s in steps)
        assert chg == c[engine.CR_CHG_CC] + c[engine.CR_CHG_CV]
        assert dis == c[engine.CR_DIS_CC] + c[engine.CR_DIS_CV]
        # the stand-in is lossless: coulombic efficiency near 100 %
        assert 0.97 < dis / chg < 1.03, (chg, dis)
        assert c[engine.CR_CHG_CV] > 0 and c[engine.CR_DIS_CV] > 0
    # the measured charge matches what the cell received: 0.05 -> full and back
    assert rec.cycles[0][engine.CR_CHG_CC] > 0.5 * FIG4_NAH


def test_rest_and_time_limit_and_cr():
    lines = ["cell 83900 437", "window 2600000 4100000",
             "limits 2500000 4150000 3300000 400000",
             "rest 60", "cc 83900 4100000 120", "cr 217000 3000000 0"]
    cell = StandInCell(soc=0.5)
    ch, cell = _channel(lines, cell)
    rec = Recorder()
    run(ch, cell, dt_ms=1000, on_tick=rec)
    assert [s[engine.SR_REASON] for s in rec.steps] == [
        engine.END_TIME, engine.END_TIME, engine.END_VOLTAGE]
    assert rec.steps[0][engine.SR_MS] == 60000
    assert rec.steps[1][engine.SR_MS] == 120000
    # FACTS: calorimetry through 217 kOhm: I = V/R, about 14-19 uA between 4.1 and 3.0 V
    assert 2.99 <= rec.steps[2][engine.SR_V_END] / 1e6 <= 3.0
    q = rec.steps[2][engine.SR_Q_DIS]
    t_h = rec.steps[2][engine.SR_MS] / 3.6e6
    assert 3.0 / 217000 * 1e9 < q / t_h < 4.1 / 217000 * 1e9


def test_sweep_goes_there_and_back_n_times():
    lines = ["cell 83900 437", "window 2600000 4100000",
             "limits 1900000 4600000 3300000 400000", "diag",
             "sweep 3000000 3500000 10000 2"]
    cell = StandInCell(soc=0.3)
    ch, cell = _channel(lines, cell)
    seen = []
    run(ch, cell, dt_ms=100, on_tick=lambda c, x, n: seen.append(c.engine._sw_v_uV))
    assert ch.state_name() == "done"
    assert max(seen) == 3500000 and min(seen) >= 3000000
    # 2 sweeps of 2 x 0.5 V at 10 mV/s: 200 s
    assert 199 <= len(seen) / 10 <= 201
    turns = sum(1 for k in range(1, len(seen) - 1) if seen[k] == 3500000 and seen[k - 1] < seen[k])
    assert turns == 2


def _sweep(rate_uV_s, before=(), preset=None):
    """A sweep 3.0 -> 3.5 V and back on the stand-in from rest (steps `before` first):
    (the sweep's first three commands, the R its loop measured, the worst |voltage -
    the ramp| after its first 2 s). preset(engine) runs before the start."""
    lines = ["cell 83900 437", "window 2600000 4100000",
             "limits 1900000 4600000 3300000 400000", "diag"] + list(before) + [
             "sweep 3000000 3500000 %d 1" % rate_uV_s]
    cell = StandInCell(soc=0.3)
    ch = channel.Channel(I_MAX, 500)
    ch.load_lines(lines)
    ch.tick(0, int(cell.v() * 1e6), 0)
    e = ch.engine
    if preset:
        preset(e)
    ch.start(0)
    first = []
    worst = [0]

    def seen(c, x, n):
        if e.step is not None and e.step.kind == protocol.SWEEP:
            if len(first) < 3:
                first.append(c.out_i_nA)
            if e.step_ms > 2000:
                d = int(x.v() * 1e6) - e._sw_v_uV
                worst[0] = max(worst[0], d if d > 0 else -d)
    run(ch, cell, dt_ms=100, on_tick=seen)
    assert ch.state_name() == "done"
    return first, e.reg.r_seen, worst[0]


def test_a_fast_sweep_from_rest_measures_r_with_a_pulse_and_follows():
    # 10 mV/s from rest, no CC step before: a C/10 pulse the way the sweep goes (8390 nA
    # on fig4's 83 900 nAh), read as a CC step's R probe (the stand-in: 400 ohm + its RC
    # over two ticks), then the ramp within 5 mV (1.9 measured)
    first, r, worst = _sweep(10000)
    assert first[0] == 83900 // 10
    assert 400 <= r < 2000
    assert worst < 5000
    # the control: a loop that skips the pulse (it believes it has measured) runs on
    # the default 10 kOhm and lags the ramp by more than 20 mV (32.1 measured)

    def measured(e):
        e.reg.r_seen = 10000
    first, r, worst = _sweep(10000, preset=measured)
    assert first[0] != 83900 // 10 and worst > 20000


def test_a_slow_sweep_or_one_with_r_known_opens_without_a_pulse():
    # 0.1 mV/s: the default loop follows it; after a CC step the loop knows R
    first, r, _w = _sweep(100)
    assert first[0] != 83900 // 10 and r == 0
    first, r, worst = _sweep(10000, before=("cc 8390 4100000 10", "rest 60"))
    assert first[0] != 83900 // 10 and r < 2000 and worst < 5000


def test_pause_resume_stop_and_commands_in_wrong_state():
    ch, cell = _channel(cccv(rate_den=2))
    run(ch, cell, max_ticks=50)
    ch.pause(5000)
    assert not ch.out_on and ch.state_name() == "paused"
    ms = ch.engine.step_ms
    run(ch, cell, max_ticks=20, t0_ms=5000)
    assert ch.engine.step_ms == ms  # the clock of the step stands still
    ch.resume(7000)
    assert ch.out_on
    ch.stop(8000)
    assert ch.state_name() == "done" and not ch.out_on
    assert ch.engine.step_rec[engine.SR_REASON] == engine.END_USER
    for cmd in (ch.pause, ch.resume, ch.stop, ch.clear_fault):
        try:
            cmd(9000)
        except ValueError as e:
            assert "state is done" in str(e) or "no fault" in str(e)
        else:
            raise AssertionError(cmd)


def test_trip_switches_output_off_in_the_same_tick_and_latches():
    ch, cell = _channel(cccv(rate_den=2))
    run(ch, cell, max_ticks=20)
    assert ch.out_on
    t = 3000
    for k in range(safety.QUALIFY_COUNT):
        ch.tick(t, 4200000, 40000)
        t += 100
    assert ch.state_name() == "fault" and not ch.out_on and ch.out_i_nA == 0
    assert ch.safety.code == safety.OVERVOLTAGE and ch.safety.v_uV == 4200000
    assert ch.engine.step_rec[engine.SR_REASON] == engine.END_FAULT
    ch.tick(t, 3800000, 0)
    assert ch.state_name() == "fault"  # only an explicit clear leaves it
    try:
        ch.start(t)
    except ValueError as e:
        assert "clear it first" in str(e)
    else:
        raise AssertionError("started with a latched fault")
    ch.clear_fault(t)
    assert ch.state_name() == "loaded"
    assert "fault" not in ch.status_text()


def test_ticks_wrap_like_ticks_ms():
    # time.ticks_ms() wraps at 2**30: a run across the wrap counts time correctly
    lines = ["cell 83900 437", "limits 2500000 4150000 3300000 400000", "rest 10"]
    cell = StandInCell(soc=0.5)
    ch = channel.Channel(I_MAX, 500)
    ch.load_lines(lines)
    t0 = (1 << 30) - 3000
    ch.tick(t0, 3500000, 0)
    ch.start(t0)
    run(ch, cell, dt_ms=100, t0_ms=t0)
    assert ch.state_name() == "done"
    assert ch.engine.step_rec[engine.SR_MS] == 10000


def test_load_is_refused_while_a_fault_is_latched():
    ch, cell = _channel(cccv(rate_den=2))
    ch.trip(safety.EXTERNAL, 3000000, 0)
    try:
        ch.load_lines(cccv(rate_den=5))
    except ValueError as e:
        assert "fault is latched" in str(e), e
    else:
        raise AssertionError("loaded a protocol over a latched fault")
    assert ch.state_name() == "fault"
    ch.clear_fault()
    ch.load_lines(cccv(rate_den=5))   # after `clear` it loads
    assert ch.state_name() == "loaded"


def test_a_long_gap_counts_two_minutes_unless_the_engine_is_told_otherwise():
    # the board's engine integrates a tick of at most MAX_DT_MS (a longer gap is a
    # stall); `cycler simulate` raises max_dt_ms on its own engine for its long CC ticks
    lines = ["cell 83900 437", "window 2600000 4100000",
             "limits 2500000 4150000 3300000 400000", "cc 8390 4100000 0"]
    got = []
    for max_ms in (0, 600000):
        ch, _cell = _channel(lines, StandInCell(soc=0.5))
        if max_ms:
            ch.engine.max_dt_ms = max_ms
        ch.tick(1000, 3700000, 8390)
        ch.tick(601000, 3700000, 8390)
        got.append(ch.engine.step_ms)
    assert got == [1000 + 120000, 601000]
    assert engine.Engine.max_dt_ms == 120000    # the board's, unchanged
