# Nothing on the wire stops a run (issue 10): a host that floods commands and never
# reads costs dropped replies (counted in status), never the heap; an unexpected
# exception at any stage of the tick switches the output off and latches a fault with
# its name while the loop goes on answering; Ctrl-C is off while a run is active.
# Plain functions: they run under CPython and MicroPython (tests/test_micropython_core.py).
import runtime
import safety
import sim as simboard_cfg  # noqa: F401  (boards/sim.py: V_CELL_MAX_UV)
from test_runtime import _boot
from standin import Port, Cfg, fresh_dir as _fresh_dir, loop as _loop


def _boot_main(d, port):
    """Built as main.py builds it: autoranging, the board file's fault detection."""
    import channel
    from autorange import AutoRange
    clock = simboard_cfg.make_clock(Cfg)
    fe = simboard_cfg.make_frontend(Cfg, clock)
    b = simboard_cfg
    ch = channel.Channel(b.I_MAX_NA, b.I_FLOOR_NA, mismatch_pct=b.MISMATCH_PCT,
                         mismatch_fs_pct=b.MISMATCH_FS_PCT, stuck_n=b.STUCK_TICKS,
                         v_max_uV=b.V_CELL_MAX_UV)
    rt = runtime.Runtime(fe, clock, ch, port, tick_ms=1000, telemetry_ms=10000, fs_dir=d,
                         ring_n=256, ranger=AutoRange(b.RANGES_NA, index=fe.range_index))
    rt.start()
    return rt

# a C/10 charge: hours long, so the run is still in its first step after any test here
LONG_RUN = ["cell 83900 437", "window 2600000 4100000", "limits 2500000 4150000 3300000 400000",
        "cc 8390 4100000 0", "cv 4100000 1824 0 0"]


def _load_and_start(rt, port):
    port.send("load\n" + "\n".join(LONG_RUN) + "\nend\nstart\n")
    _loop(rt, 3)
    assert rt.ch.state_name() == "running", port.replies()


class DeafPort(Port):
    """A host that writes and does not read: the port never takes a byte."""

    def __init__(self):
        Port.__init__(self)
        self.open = False


def _status(rt, port):
    port.open = True
    port.out = []
    port.send("status\n")
    _loop(rt, 3)
    st = [r for r in port.replies() if r.startswith("ok status")]
    assert st, port.out[-5:]
    return dict(w.split("=", 1) for w in st[-1].split() if "=" in w)


def _flood(rt, port, data):
    port.send(data)
    n = 0
    while port.pos < len(port.inq):
        _loop(rt, 1)
        n += 1
        # held replies stay within the bound the whole time
        assert len(rt._replies) <= runtime.REPLY_MAX, len(rt._replies)
    return n


def test_a_flood_from_a_host_that_does_not_read_drops_replies_and_the_run_goes_on():
    d = _fresh_dir()
    port = Port()
    rt = _boot(d, port)
    _load_and_start(rt, port)
    step = rt.ch.engine.step
    i0 = step.i_nA      # the CC step's current (the command trims the output's error
    port.open = False   # around it: at most 1/8 of it)
    # 16 times the 4 kB that used to exhaust the heap: valid read-only commands,
    # unknown words, an overlong line, control bytes including 0x03
    chunk = "status\n" * 200 + "x\n" * 300 + "y" * 300 + "\n" + "\x03\x1a\x1c\x04\n"
    data = chunk * (64000 // len(chunk) + 1)
    _flood(rt, port, data)
    assert rt.replies_dropped > 1000, rt.replies_dropped
    assert rt.ch.state_name() == "running" and rt.ch.engine.step is step
    assert abs(rt.ch.out_i_nA - i0) <= i0 // 8
    st = _status(rt, port)
    assert st["state"] == "running", st
    # counted up to the status line itself (which pushed out one more)
    assert 1000 < int(st["dropped_replies"]) <= rt.replies_dropped, st
    assert "crash" not in st, st


def test_control_without_the_bound_the_queue_grows_with_the_flood():
    # the measure above can see an unbounded queue: with the bound lifted it grows
    d = _fresh_dir()
    port = DeafPort()
    rt = _boot(d, port)
    rt.reply_max = 10 ** 9
    port.send("status\n" * 300)
    _loop(rt, 12)
    assert len(rt._replies) > 250, len(rt._replies)
    assert rt.replies_dropped == 0


class Boom(Exception):
    pass


def _inject(rt, stage):
    """Make one stage of the tick raise once."""
    shots = [1]

    def wrap(fn):
        def f(*a):
            if shots[0]:
                shots[0] = 0
                raise Boom("injected")
            return fn(*a)
        return f
    if stage == "control":
        rt.fe.measure = wrap(rt.fe.measure)   # raises in control_tick: EXTERNAL
    elif stage == "records":
        rt._records = wrap(rt._records)
    elif stage == "input":
        rt._input = wrap(rt._input)
    elif stage == "send":
        rt._send = wrap(rt._send)
    elif stage == "checkpoint":
        rt._checkpoint = wrap(rt._checkpoint)
    elif stage == "watchdog":
        rt._sleep_to_next = wrap(rt._sleep_to_next)
    elif stage == "memory":     # the heap runs out while a record is built
        def nomem(*a):
            raise MemoryError("memory allocation failed")
        rt._records = nomem
        return "records", "MemoryError"
    return stage, "Boom"


def test_an_exception_at_every_stage_switches_off_and_latches_a_named_fault():
    for stage in runtime.STAGES + ("memory",):
        d = _fresh_dir()
        port = Port()
        rt = _boot(d, port)
        _load_and_start(rt, port)
        assert rt.ch.out_on and rt.fe.model.on
        name, exc = _inject(rt, stage)
        if stage == "watchdog":
            rt.run(2)        # the sleep between ticks is in run()
        else:
            _loop(rt, 2)
        assert not rt.ch.out_on and not rt.fe.model.on, stage
        assert rt.ch.state_name() == "fault", stage
        st = _status(rt, port)          # the loop still answers
        assert st["state"] == "fault", (stage, st)
        if stage == "control":
            assert st["fault"] == "external", st
        else:
            assert st["fault"] == "internal", (stage, st)
            assert st["crash"] == "%s:%s" % (name, exc), (stage, st)
        # the fault is latched: the output stays off; `clear` leaves it
        _loop(rt, 5)
        assert not rt.fe.model.on
        port.send("clear\n")
        _loop(rt, 2)
        # a one-shot error clears; the heap still exhausted latches again at once
        want = "fault" if stage == "memory" else "loaded"
        assert rt.ch.state_name() == want, (stage, port.replies()[-3:])


def test_control_no_injection_no_fault():
    d = _fresh_dir()
    port = Port()
    rt = _boot(d, port)
    _load_and_start(rt, port)
    rt.run(20)
    assert rt.ch.state_name() == "running" and rt.crash is None
    assert rt.ch.safety.code == safety.OK


def test_ctrl_c_is_off_while_a_run_is_active_and_on_otherwise():
    calls = []
    d = _fresh_dir()
    port = Port()
    rt = _boot(d, port)
    rt.kbd_intr = calls.append
    _loop(rt, 2)
    assert calls == [3], calls                 # idle: Ctrl-C reaches the REPL
    _load_and_start(rt, port)
    assert calls[-1] == -1, calls              # running: no byte interrupts
    port.send("pause\n")
    _loop(rt, 2)
    assert rt.ch.state_name() == "paused" and calls[-1] == -1, calls
    port.send("resume\n")
    _loop(rt, 2)
    port.send("abort\n")
    _loop(rt, 2)
    assert rt.ch.state_name() == "done" and calls[-1] == 3, calls
    n = len(calls)
    _loop(rt, 5)
    assert len(calls) == n                      # set on a change only
    # a fault ends the run: Ctrl-C comes back
    port.send("clear\nstart\n")
    _loop(rt, 3)
    assert calls[-1] == -1
    rt.ch.trip(safety.EXTERNAL, 0, 0)
    _loop(rt, 2)
    assert calls[-1] == 3, calls


# The hostile load of issue 10: an overvoltage trip at 1000 V, a window to 4.9 V, 10C.
HOSTILE_LOAD = ["cell 83900 437", "window 2600000 4900000",
                "limits 2500000 1000000000 20000000 1000", "cc 839000 4900000 0",
                "cv 4900000 500 0 0"]


def _send_load(rt, port, lines):
    port.out = []
    port.send("load\n" + "\n".join(lines) + "\nend\n")
    _loop(rt, 3)
    return [r for r in port.replies() if r.startswith("ok load") or r.startswith("error load")]


def test_a_load_beyond_the_absolute_limits_is_refused_whoever_sends_it():
    d = _fresh_dir()
    port = Port()
    rt = _boot(d, port)
    rt.ch.v_max_uV = simboard_cfg.V_CELL_MAX_UV        # as main.py builds it
    r = _send_load(rt, port, HOSTILE_LOAD)
    assert r and r[0].startswith("error load") and "absolute limits" in r[0], r
    assert rt.ch.state_name() == "idle"
    port.send("start\n")
    _loop(rt, 3)
    assert rt.ch.state_name() == "idle" and not rt.fe.model.on
    # each way past them alone: a trip just past the cycling limit, a diag past its own
    for lim in ("limits 2500000 4200001 3300000 400000", "limits 2499999 4150000 3300000 400000"):
        r = _send_load(rt, port, ["cell 83900 437", "window 2600000 4100000", lim,
                                  "cc 8390 4100000 0"])
        assert r and r[0].startswith("error load") and "absolute" in r[0], (lim, r)
    r = _send_load(rt, port, ["cell 83900 437", "diag", "window 2600000 4100000",
                              "limits 1900000 4600001 3300000 400000", "rest 10"])
    assert r and "absolute" in r[0], r


def test_control_the_same_load_within_the_limits_is_accepted():
    d = _fresh_dir()
    port = Port()
    rt = _boot(d, port)
    ok = ["cell 83900 437", "window 2600000 4100000", "limits 2500000 4200000 3300000 400000",
          "cc 8390 4100000 0"]
    r = _send_load(rt, port, ok)
    assert r and r[0].startswith("ok load"), r
    # and a diag protocol may use the paper's cyclic voltammetry range
    r = _send_load(rt, port, ["cell 83900 437", "diag", "window 2600000 4100000",
                              "limits 1900000 4600000 3300000 400000", "rest 10"])
    assert r and r[0].startswith("ok load"), r


def _stuck_after(rt, port, command):
    """Run, break the source's off switch (femodel dac_stuck), then `command`."""
    _load_and_start(rt, port)
    _loop(rt, 20)
    assert rt.fe.model.true_i_nA > 5000
    rt.fe.model.inject("dac_stuck")
    port.send(command + "\n")
    _loop(rt, 1)


def test_current_while_the_output_is_off_latches_a_fault_in_every_state():
    for command in ("abort", "stop"):
        d = _fresh_dir()
        port = Port()
        rt = _boot_main(d, port)
        _stuck_after(rt, port, command)
        assert rt.ch.state_name() == "done", port.replies()[-3:]
        _loop(rt, safety.QUALIFY_COUNT + 2)
        assert rt.ch.state_name() == "fault", command
        assert rt.ch.fault_name() == "idle current"
        assert [r for r in port.records() if r[0] == "F"][-1][1][2] == safety.IDLE_CURRENT
        assert not rt.fe.connected and rt.fe.model.true_i_nA == 0, command   # relay open
    # in FAULT already (a mismatch, say): the fault stays, the cell disconnect opens and
    # the stuck source reaches the cell no more (tests/core/test_disconnect.py has more)
    d = _fresh_dir()
    port = Port()
    rt = _boot_main(d, port)
    _load_and_start(rt, port)
    _loop(rt, 20)
    rt.fe.model.inject("dac_stuck")
    rt.ch.trip(safety.CURRENT_MISMATCH, 0, 0)
    _loop(rt, safety.QUALIFY_COUNT + 2)
    st = _status(rt, port)
    assert st["fault"] == "current_mismatch" and st.get("relay") == "open", st
    assert rt.fe.model.true_i_nA == 0 and "idle_current" not in st, st


def test_control_no_current_after_the_run_no_fault():
    d = _fresh_dir()
    port = Port()
    rt = _boot_main(d, port)
    _load_and_start(rt, port)
    _loop(rt, 20)
    port.send("abort\n")
    _loop(rt, 60)
    assert rt.ch.state_name() == "done" and rt.ch.fault_name() == "none"
    _loop(rt, 60)    # and idle, the board booted: nothing either
    assert rt.ch.fault_name() == "none"
