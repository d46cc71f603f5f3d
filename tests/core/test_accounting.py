from accounting import Accounting, CHG_CC, CHG_CV, DIS_CC, DIS_CV


def test_small_currents_are_not_lost_to_rounding():
    # 1.824 uA (FACTS: C/46 of fig4) for one hour in 100 ms ticks is 1824 nAh
    a = Accounting()
    for _ in range(36000):
        a.add(100, 4100000, 1824, True)
    assert a.cycle_q_nAh[CHG_CV] == 1824
    assert a.step_q_chg_nAh == 1824


def test_large_current_long_ticks():
    # 20 mA for 10 s ticks over one hour: 20000000 nAh... stays exact
    a = Accounting()
    for _ in range(360):
        a.add(10000, 4000000, 20000000, False)
    assert a.cycle_q_nAh[CHG_CC] == 20000000
    # energy: 20 mAh at 4.0 V = 80 mWh = 80000000 nWh
    assert a.cycle_e_chg_nWh == 80000000


def test_discharge_and_parts():
    a = Accounting()
    for _ in range(3600):
        a.add(1000, 3000000, -83900, False)
    for _ in range(3600):
        a.add(1000, 2600000, -3496, True)
    assert a.cycle_q_nAh[DIS_CC] == 83900
    assert a.cycle_q_nAh[DIS_CV] == 3496
    assert a.cycle_q_nAh[CHG_CC] == 0 and a.cycle_q_nAh[CHG_CV] == 0
    assert a.cycle_s == 7200

