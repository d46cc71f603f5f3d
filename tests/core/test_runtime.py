# The board's loop on the sim board's front-end (cell model, virtual clock), with a
# stand-in port: boot, console, records, a port that stops taking data, checkpoints
# and a reset mid-run. Plain functions: they run under CPython and MicroPython.

import channel
import runtime
import store
import sim as simboard
from standin import Port, Cfg, fresh_dir, loop

PROTO = ["cell 83900 437", "window 2600000 4100000",
         "limits 2500000 4150000 3300000 400000",
         "cc 251700 3300000 0", "rest 30", "cc 251700 3400000 0", "rest 30",
         "cc -251700 2900000 0"]


def _boot(d, port):
    clock = simboard.make_clock(Cfg)
    fe = simboard.make_frontend(Cfg, clock)
    ch = channel.Channel(simboard.I_MAX_NA, simboard.I_FLOOR_NA)
    rt = runtime.Runtime(fe, clock, ch, port, tick_ms=1000, telemetry_ms=10000, fs_dir=d,
                         ring_n=256)
    rt.start()
    return rt


def _load_and_start(rt, port):
    port.send("load\n" + "\n".join(PROTO) + "\nend\nstart\n")
    loop(rt, 3)


def test_boots_safe_and_reports():
    d = fresh_dir()
    port = Port()
    rt = _boot(d, port)
    loop(rt, 2)
    assert not rt.ch.out_on
    assert rt.fe.model.on is False
    recs = port.records()
    assert recs[0][0] == "B" and recs[0][1][3] == "power_on"
    assert any("no checkpoint" in r for r in port.replies())


def test_run_records_in_order_and_a_blocked_port_never_stalls_the_tick():
    d = fresh_dir()
    port = Port()
    rt = _boot(d, port)
    _load_and_start(rt, port)
    assert rt.ch.state_name() == "running", port.replies()
    port.open = False              # the host stops reading
    t0 = rt.ticks
    loop(rt, 400)
    assert rt.ticks == t0 + 400    # the loop went on
    held = rt.ring.pending()
    assert held > 0
    port.open = True
    loop(rt, 30)
    seqs = [r[1][0] for r in port.records()]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # none lost, in order
    kinds = [r[0] for r in port.records()]
    assert "S" in kinds and "T" in kinds


def test_a_loads_code_is_dropped_after_it_whatever_its_outcome():
    # protocol.py, its parser and its checks are imported for a load and dropped after
    # it (the channel's forget, the runtime's rare modules): accepted, refused by the
    # parser (whose message loads the checks' examples) or refused by a check; resident
    # is protocol_defs.py only (docs/reliability.md, Memory)
    import sys
    d = fresh_dir()
    port = Port()
    rt = _boot(d, port)
    load = ("protocol", "protocol_parse", "protocol_check")
    cases = ((PROTO, "ok load: %d lines" % len(PROTO)),
             (PROTO[:3] + ["bogus 1"], "unknown item 'bogus'"),
             (PROTO[:3] + ["cc 999999999 4100000 0"], "above i_max"))
    for lines, want in cases:
        port.send("load\n" + "\n".join(lines) + "\nend\n")
        loop(rt, 2)
        assert want in port.replies()[-1], port.replies()[-1]
        assert [m for m in load if m in sys.modules] == [], want
    assert "protocol_defs" in sys.modules and rt.ch.protocol is not None


def test_garbage_changes_nothing():
    d = fresh_dir()
    port = Port()
    rt = _boot(d, port)
    _load_and_start(rt, port)
    step = rt.ch.engine.step
    i0 = step.i_nA   # a CC step's command trims the output's error: within 1/8 of it
    port.send("\x00\xff\x1b[A garbage\nstart now\nload 0\nrate -5\n" + "x" * 500 + "\n")
    loop(rt, 3)
    errors = [r for r in port.replies() if r.startswith("error")]
    assert len(errors) >= 4, port.replies()
    assert rt.ch.state_name() == "running" and rt.ch.engine.step is step
    assert abs(rt.ch.out_i_nA - i0) <= abs(i0) // 8


def test_reset_mid_run_restores_paused_then_resumes_on_command():
    d = fresh_dir()
    port = Port()
    rt = _boot(d, port)
    _load_and_start(rt, port)
    # run past the first step boundaries: a checkpoint is written
    while rt.ch.engine.step_number < 3:
        loop(rt, 10)
    cp = store.read_ints(d + "/" + runtime.CHECKPOINT_FILE)
    assert cp is not None
    step_at_cp = cp[4]
    # the board resets (watchdog, power): a new runtime on the same flash
    port2 = Port()
    rt2 = _boot(d, port2)
    loop(rt2, 5)
    assert rt2.ch.state_name() == "paused"
    assert not rt2.ch.out_on                      # never resumes by itself
    assert rt2.ch.engine.step_number == step_at_cp
    b = [r for r in port2.records() if r[0] == "B"][0]
    assert b[1][3] == "power_on" and b[1][5] == step_at_cp
    assert any("resume or abort" in r for r in port2.replies())
    port2.send("resume\n")
    loop(rt2, 5)
    # running again; the output on unless the checkpoint was taken within a rest
    rest = rt2.ch.engine.step.kind == 3
    assert rt2.ch.state_name() == "running" and rt2.ch.out_on != rest
    # and abort drops the run and its checkpoint
    port2.send("abort\n")
    loop(rt2, 2)
    assert rt2.ch.state_name() == "done" and not rt2.ch.out_on
    assert store.read_ints(d + "/" + runtime.CHECKPOINT_FILE) is None


def test_torn_checkpoint_reads_as_none():
    d = fresh_dir()
    p = d + "/cp.txt"
    store.write_ints(p, [1, 2, 3])
    assert store.read_ints(p) == [1, 2, 3]
    with open(p, "w") as f:
        f.write("1 2 3 *00")            # power lost mid-write of a non-atomic writer
    assert store.read_ints(p) is None
    with open(p + ".tmp", "w") as f:     # a temp file left by a cut during write_text
        f.write("9 9")
    store.write_ints(p, [4, 5])
    assert store.read_ints(p) == [4, 5]
