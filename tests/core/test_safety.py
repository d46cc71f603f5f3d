import safety
from safety import Safety, QUALIFY_COUNT


def _safety():
    s = Safety()
    s.configure(2500000, 4150000, 1000000, 3600000, mismatch_nA=200000)
    return s


def test_one_noisy_sample_does_not_trip():
    s = _safety()
    for k in range(100):
        v = 4200000 if k % QUALIFY_COUNT == 0 else 4000000
        assert s.check(v, 0, 0, False, 0) == safety.OK


def test_qualified_excursion_trips_within_the_count_and_latches():
    s = _safety()
    n = 0
    while s.check(4160000, 1000, 5, True, 1000) == safety.OK:
        n += 1
        assert n < 100
    assert n + 1 == QUALIFY_COUNT
    assert s.code == safety.OVERVOLTAGE and s.v_uV == 4160000
    # the latch holds when the voltage comes back
    assert s.check(4000000, 0, 6, True, 0) == safety.OVERVOLTAGE
    s.clear()
    assert s.check(4000000, 0, 6, True, 0) == safety.OK


def test_each_limit():
    cases = [((2400000, 0, 0, False, 0), safety.UNDERVOLTAGE),
             ((3000000, 1200000, 0, True, 1200000), safety.OVERCURRENT),
             ((3000000, -1200000, 0, True, -1200000), safety.OVERCURRENT),
             ((3000000, 0, 0, True, 500000), safety.CURRENT_MISMATCH)]
    for args, code in cases:
        s = _safety()
        for _ in range(QUALIFY_COUNT):
            s.check(*args)
        assert s.code == code, (args, s.code)
    s = _safety()
    assert s.check(3000000, 0, 3600001, True, 0) == safety.STEP_TIME
