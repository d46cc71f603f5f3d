"""The live view's numbers: currents in the unit that suits them, durations that fit,
and an ETA that follows how fast the run really goes."""
import pytest

from host_tools import liveview, protocol_file


@pytest.mark.parametrize("i_nA, text", [
    (0, "0 nA"), (850, "850 nA"), (-999, "-999 nA"), (1000, "1.000 uA"),
    (4900, "4.900 uA"), (49000, "49.00 uA"), (-490000, "-490.0 uA"),
    (1234000, "1.234 mA"), (12345000, "12.35 mA"), (20000000, "20.00 mA"),
])
def test_currents_in_the_unit_that_suits_them(i_nA, text):
    assert liveview.current_text(i_nA) == text


@pytest.mark.parametrize("s, text", [(59, "59s"), (725, "12m05s"), (11220, "3h07m"),
                                     (187200, "2d04h")])
def test_durations_fit_six_columns(s, text):
    assert liveview.duration_text(s) == text and len(text) <= 6


def _t(t_s, cycle):
    return {"t_ms": int(t_s * 1000), "cycle": cycle}


def test_eta_follows_the_measured_pace():
    p = protocol_file.load(protocol_file.resolve("quick"))
    pred = liveview._predicted_cycles_s(p)
    assert len(pred) == p.cycle_count == 3
    assert pred[0] == pred[1] == 2 * 7200 + 2 * 600        # C/2 both ways + two rests
    rests = sum(1 for k in p.blocks[1]["steps"] if p.steps[k]["kind"] == "rest")
    assert pred[2] == 2 * 3600 + rests * 600                # 1C both ways
    prog = liveview.Progress(p)
    assert prog.eta_s() is None                           # no basis yet
    # board time runs 100x the wall clock; cycle 1 takes 1.5x the estimate
    cyc1 = 1.5 * pred[0]
    prog.see(_t(0, 1), wall=0.0)
    prog.see(_t(cyc1, 2), wall=cyc1 / 100)
    eta = prog.eta_s()
    want = 1.5 * (pred[1] + pred[2]) / 100
    assert eta == pytest.approx(want, rel=1e-6)
    # half-way through cycle 2 at the same pace: half of it is left, plus cycle 3
    t = cyc1 + 1.5 * pred[1] / 2
    prog.see(_t(t, 2), wall=t / 100)
    assert prog.eta_s() == pytest.approx(1.5 * (pred[1] / 2 + pred[2]) / 100, rel=1e-6)


def test_no_eta_without_the_protocols_rates(tmp_path):
    parsed = type("P", (), {"lines": ["cell 0 0"], "steps": [], "cycle_count": None})()
    prog = liveview.Progress(parsed)
    prog.see(_t(0, 1), wall=0.0)
    prog.see(_t(100, 1), wall=10.0)
    assert prog.eta_s() is None
