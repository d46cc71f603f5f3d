# Front-end faults injected into the sim board's model while the board's loop runs a
# protocol (firmware/board/runtime.py with the board's detection thresholds, as main.py sets
# them): each is caught with its own fault code, the output goes off within the bound
# of docs/reliability.md, and the loop lives on. A clean run with the same detection
# never trips. Plain functions: they run under CPython and MicroPython.
import gc
import channel
import runtime
import safety
import engine
import sim as simboard
from autorange import AutoRange
from standin import Port, Cfg, fresh_dir, loop

# fig4 cell (83.9 uAh, FACTS: fig4): 3C charge (2 mA range), a hold to C/10, a rest,
# 1C discharge (200 uA range) and its hold: every range switch of a normal run.
PROTO = ["cell 83900 437", "window 2600000 4100000",
         "limits 2500000 4150000 300000 400000",
         "cc 251700 4100000 0", "cv 4100000 8390 0 0", "rest 60",
         "cc -83900 2600000 0", "cv 2600000 8390 0 0"]
# what each fault must be reported as, and within how many ticks of the injection the
# output must be off (safety.QUALIFY_COUNT for the limits, the board's STUCK_TICKS)
EXPECT = {
    "v_open_low": (safety.UNDERVOLTAGE, safety.QUALIFY_COUNT),
    "v_open_high": (safety.OVERVOLTAGE, safety.QUALIFY_COUNT),
    "i_open": (safety.CURRENT_MISMATCH, safety.QUALIFY_COUNT),
    "cell_open": (safety.OPEN_CIRCUIT, safety.QUALIFY_COUNT),
    "short": (safety.UNDERVOLTAGE, safety.QUALIFY_COUNT),
    "v_stuck": (safety.STUCK_READING, simboard.STUCK_TICKS),
}
# Closed-loop runs of many thousand ticks: under MicroPython only in the slow lane
# (tests/core/mprun.py); the other tests here run the same code paths there.
LONG = ("test_a_clean_run_with_detection_never_trips",
        "test_a_cell_disconnected_while_discharging_is_an_open_circuit")


def boot(d, port, tick_ms=1000):
    gc.collect()   # the unix port's heap is fragmented by the tests before
    clock = simboard.make_clock(Cfg)
    fe = simboard.make_frontend(Cfg, clock)
    ch = channel.Channel(simboard.I_MAX_NA, simboard.I_FLOOR_NA,
                         mismatch_pct=simboard.MISMATCH_PCT,
                         mismatch_fs_pct=simboard.MISMATCH_FS_PCT,
                         stuck_n=simboard.STUCK_TICKS)
    rt = runtime.Runtime(fe, clock, ch, port, tick_ms=tick_ms, telemetry_ms=60000,
                         fs_dir=d, ring_n=64,
                         ranger=AutoRange(simboard.RANGES_NA, index=fe.range_index))
    rt.start()
    return rt


def started(proto=PROTO):
    port = Port()
    rt = boot(fresh_dir(), port)
    port.send("load\n" + "\n".join(proto) + "\nend\nstart\n")
    loop(rt, 2)
    assert rt.ch.state_name() == "running", port.replies()
    return rt, port


def ticks_to_off(rt, limit=200):
    n = 0
    while rt.fe.model.on:
        loop(rt, 1)
        n += 1
        assert n < limit, "the output stayed on: %s" % rt.ch.status_text()
    return n


def fault_records(port):
    return [r for r in port.records() if r[0] == "F"]


def test_a_clean_run_with_detection_never_trips():
    rt, port = started()
    n = 0
    ranges = set()
    while rt.ch.state_name() == "running" and n < 20000:
        loop(rt, 1)
        ranges.add(rt.fe.range_index)
        n += 1
    assert rt.ch.state_name() == "done", rt.ch.status_text()
    assert rt.ch.safety.code == safety.OK and fault_records(port) == []
    assert len(ranges) >= 2, ranges          # the run did switch ranges
    steps = [r for r in port.records() if r[0] == "S"]
    assert len(steps) == 5
    assert rt.fe_errors == 0


def _inject_during_cc(kind, charging=True):
    rt, port = started()
    # into the charge's CC step (index 0), or the discharge's (index 3), settled
    want = 0 if charging else 3
    n = 0
    while not (rt.ch.engine.index == want and rt.ch.engine.step_ms > 20000):
        loop(rt, 1)
        n += 1
        assert n < 20000 and rt.ch.state_name() == "running", rt.ch.status_text()
    rt.fe.inject(kind)
    k = ticks_to_off(rt)
    return rt, port, k


def test_each_front_end_fault_is_caught_with_its_code_in_bounded_ticks():
    for kind in ("v_open_low", "v_open_high", "i_open", "cell_open", "short", "v_stuck"):
        code, bound = EXPECT[kind]
        rt, port, k = _inject_during_cc(kind)
        assert k <= bound, (kind, k, bound)
        assert rt.ch.safety.code == code, (kind, rt.ch.fault_name())
        assert rt.ch.state_name() == "fault" and not rt.ch.out_on
        f = fault_records(port)
        loop(rt, 3)
        f = fault_records(port)
        assert len(f) == 1 and f[0][1][2] == code, (kind, f)
        # latched: the output stays off, the loop goes on, status answers
        port.send("status\n")
        loop(rt, 5)
        assert not rt.fe.model.on
        assert any(r.startswith("ok status") and "fault=" in r for r in port.replies())


def test_a_cell_disconnected_while_discharging_is_an_open_circuit():
    rt, port, k = _inject_during_cc("cell_open", charging=False)
    assert k <= safety.QUALIFY_COUNT
    assert rt.ch.safety.code == safety.OPEN_CIRCUIT
    assert rt.ch.safety.v_uV < 100000       # the source ran to its 0 V rail


def _range_fault(kind):
    port = Port()
    rt = boot(fresh_dir(), port)
    rt.fe.inject(kind)                       # the next switch fails
    r0 = rt.fe.range_index
    port.send("load\n" + "\n".join(PROTO) + "\nend\nstart\n")
    n = 0
    while rt.ch.state_name() != "fault":
        loop(rt, 1)
        n += 1
        assert n < 50, rt.ch.status_text()
    # the switch was wanted (3 ticks below the down threshold), failed, and the output
    # went off in the same tick: the output never ran on a range it was not meant for
    assert rt.fe.range_index == r0
    assert not rt.fe.model.on and rt.ch.safety.code == safety.EXTERNAL
    loop(rt, 20)                             # the loop lives on
    port.send("status\n")
    loop(rt, 2)
    assert any(r.startswith("ok status") and "fault=external" in r for r in port.replies())
    assert [r[1][2] for r in fault_records(port)] == [safety.EXTERNAL]
    return rt, port


def test_a_range_switch_that_raises_is_a_latched_external_fault():
    rt, port = _range_fault("range_raise")
    assert rt.fe_errors >= 1


def test_a_range_switch_that_silently_stays_is_caught():
    _range_fault("range_stay")


def test_a_front_end_that_keeps_raising_never_ends_the_loop():
    rt, port = started()
    loop(rt, 5)

    def broken():
        raise OSError(5, "bus error")
    rt.fe.measure = broken
    t0 = rt.ticks
    loop(rt, 50)
    assert rt.ticks == t0 + 50
    assert rt.ch.state_name() == "fault" and rt.ch.safety.code == safety.EXTERNAL
    assert not rt.fe.model.on
    port.send("status\n")
    loop(rt, 2)
    assert any(r.startswith("ok status") for r in port.replies())


def test_clear_then_start_again_after_the_fault_is_gone():
    rt, port, k = _inject_during_cc("i_open")
    rt.fe.clear_faults()
    port.send("clear\nstart\n")
    loop(rt, 40)
    assert rt.ch.state_name() == "running" and rt.fe.model.on, port.replies()
    assert rt.ch.engine.state == engine.RUNNING
