# Tables of good and bad compact-form protocols. Plain functions: these run under
# pytest on CPython and under the micropython executable.
import protocol
from paper import cccv

I_MAX = 20000000
FLOOR = 500


def _load(lines):
    return protocol.load(lines, I_MAX, FLOOR)


def _refused(lines, *words):
    try:
        _load(lines)
    except ValueError as e:
        msg = str(e)
        for w in words:
            assert w in msg, (w, msg)
        return msg
    raise AssertionError("accepted: %r" % (lines,))


def test_paper_protocol_loads():
    p = _load(cccv(repeat=5))
    assert p.capacity_nAh == 83900
    assert len(p.steps) == 4
    assert (p.blocks[0].first, p.blocks[0].end, p.blocks[0].repeat) == (0, 4, 5)
    # CV holds take their direction from the CC step before them
    assert [s.sign for s in p.steps] == [1, 1, -1, -1]
    assert p.steps[0].handover and p.steps[2].handover
    assert p.steps[1].i_end_nA == 83900 // 46


def test_steps_outside_blocks_run_once():
    p = _load(["cell 83900 0", "limits 2500000 4150000 1000000 3600", "rest 10",
               "repeat 2", "cc 1000 4100000 0", "end", "rest 5"])
    assert [(b.first, b.end, b.repeat) for b in p.blocks] == [(0, 1, 1), (1, 2, 2), (2, 3, 1)]


BAD = [
    # (lines, words the message must hold)
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "cv 4200000 1800 0 0"],
     ("line 3", "cv 4200000", "outside the window")),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "cc 8390 2000000 0"],
     ("line 3", "outside the window")),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "cc 2000000 4100000 0"],
     ("above i_max",)),
    (["cell 83900 437", "limits 2500000 4150000 30000000 3600", "rest 1"],
     ("exceeds what this channel",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "cv 4100000 100 0 0"],
     ("below the 500 nA this board ends a hold on", "I_FLOOR_NA")),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "repeat 2", "end", "rest 1"],
     ("holds no step",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "repeat 0", "rest 1", "end"],
     ("repeat count",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "repeat 9", "rest 1", "end"],
     ("loop without cycling",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "repeat 2", "rest 1"],
     ("never closed",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "end"],
     ("without an open",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600"], ("no steps",)),
    (["limits 2500000 4150000 1000000 3600", "rest 1"], ("no 'cell' line",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "fly 1"],
     ("unknown item", "expected one of")),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "cc 1 2"],
     ("takes 3 integer", "for example")),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "cc 1.5 4100000 0"],
     ("must be integers",)),
    (["cell 83900 437", "limits 2595000 4150000 1000000 3600", "rest 1"],
     ("outside the window",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600",
      "sweep 2000000 4500000 100 5"], ("marked 'diag'",)),
    (["cell 83900 437", "limits 1900000 4600000 1000000 3600", "window 2600000 4100000",
      "diag", "sweep 2000000 4700000 100 5"], ("beyond the hard trips",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "cr 0 3000000 0"],
     ("load must be",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "cr 100 3000000 0"],
     ("above i_max",)),
    (["cell 0 437", "limits 2500000 4150000 1000000 3600", "rest 1"], ("capacity",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 0", "rest 1"], ("step time",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "cc 0 4100000 0"],
     ("current != 0",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600", "rest 0"],
     ("duration",)),
    (["cell 83900 437", "limits 2500000 4150000 1000000 3600",
      "cc 99999999999 4100000 0"], ("+-2**30",)),
]


def test_bad_protocols_are_refused_with_a_reason():
    for lines, words in BAD:
        _refused(lines, *words)


def test_diagnostic_sweep_loads():
    p = _load(["cell 83900 437", "window 2600000 4100000",
               "limits 1900000 4600000 1000000 36000", "diag",
               "sweep 2000000 4500000 100 5"])
    assert p.diag and p.steps[0].kind == protocol.SWEEP
