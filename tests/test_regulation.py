"""CC to CV without overshoot, seen through a realistic front-end.

The firmware's channel runs in closed loop with the cell model behind the front-end
model (the default profile, pico-ads1115, simulation/feprofiles.py) with its voltage
input configured as a 12-bit ADC (1.22 mV LSB over 5 V) with 1 mV rms noise
per sample and 16x oversampling (as boards/pico.py reads the RP2040's own ADC). The
TRUE cell voltage must never pass a charge hold's setpoint by more than 2 mV, nor fall
below a discharge hold's setpoint by more than 2 mV, at any rate from C/50 to 3C
(FACTS: rate sequence of the fig4 cell).
"""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import host_tools  # noqa: E402,F401
from host_tools.simulate import Sim  # noqa: E402
import engine  # noqa: E402
import protocol  # noqa: E402

# FACTS: the cell table: fig4 0.0839 mAh, max 1.091 mAh
CAPACITY_NAH = {"fig4": 83900, "max": 1091000}
REALISTIC_12BIT = dict(v_bits=12, v_span_uV=5000000, v_noise_uV=1000, oversample=16, fast=False)


def cccv_lines(cap, num, den):
    i = (cap * num + den // 2) // den
    return ["cell %d 0" % cap, "window 2600000 4100000",
            "limits 2500000 4150000 20000000 720000",
            "cc %d 4100000 0" % i, "cv 4100000 %d 0 0" % (cap // 46),
            "cc %d 2600000 0" % -i, "cv 2600000 %d 0 0" % (cap // 24)]


def worst_excursions(cell, num, den, tick_ms, seed=1):
    sim = Sim(cccv_lines(CAPACITY_NAH[cell], num, den), cell, seed=seed,
              fe_kwargs=REALISTIC_12BIT)
    sim.start()
    e = sim.ch.engine
    over = under = 0.0
    holds = 0
    while sim.running():
        sim.tick()
        if e.state == engine.RUNNING and e.step.kind == protocol.CV:
            v = sim.fe.true_v_uV
            if e.step.sign > 0:
                over = max(over, v - e.step.v_uV)
            else:
                under = max(under, e.step.v_uV - v)
            holds += 1
        sim.advance(tick_ms)
    return over, under, holds, sim


# The fig4 cell at the rates of its rate test (FACTS: C/50 .. 3C); the max cell at the
# rates thick cells were cycled at (FACTS: they peak at C/10) and C/5. (At 1C its
# ohmic drop alone is over 1 V: the CC step's first tick would pass 4.1 V, and the
# hard limit, not the hold, is what catches it: tests/core/test_engine.py trips.)
# NOT MET, and cannot be on this profile: the max cell at C/5 (218 uA) holds on the 2 mA
# range, whose MCP4725 code is 1.47 uA: 2.2 mV through the cell's 1.5 kOhm, more than the
# 2 mV bound; the hold dithers by a code (measured 2.6 mV under the discharge hold;
# docs/reliability.md "Per front-end profile"). Non-strict: it reports if it passes.
_NOT_RESOLVABLE = pytest.mark.xfail(strict=False, reason="one DAC code x R = 2.2 mV > 2 mV")


@pytest.mark.slow
@pytest.mark.parametrize("cell,num,den,tick_ms", [
    ("fig4", 1, 50, 1000), ("fig4", 1, 10, 1000), ("fig4", 1, 1, 100),
    ("fig4", 3, 1, 100),
    ("max", 1, 50, 1000), ("max", 1, 10, 1000),
    pytest.param("max", 1, 5, 500, marks=_NOT_RESOLVABLE)])
def test_no_overshoot_at_any_rate(cell, num, den, tick_ms):
    over, under, holds, sim = worst_excursions(cell, num, den, tick_ms)
    assert sim.ch.state_name() == "done", sim.ch.status_text()
    assert holds >= 2 * 3  # both holds ran (each qualifies its end over >= 3 ticks)
    ends = [s for s in sim.ch.engine.step_rec]
    assert ends[engine.SR_REASON] == engine.END_CURRENT
    assert over < 2000, "charge hold overshoot %.0f uV" % over
    assert under < 2000, "discharge hold undershoot %.0f uV" % under


@pytest.mark.slow
def test_a_loop_without_the_noise_band_rings():
    # The control: with the regulator's R estimate forced far too low (gain x8), the
    # same test does see the setpoint crossed by more than 2 mV; so the bound above is
    # a property of the regulator, not of a test that cannot fail.
    import regulator
    orig = regulator.Regulator.observe

    def bad_observe(self, dv_uV, di_nA):
        orig(self, dv_uV, di_nA)
        self.r_ohm = max(1, self.r_ohm // 8)

    regulator.Regulator.observe = bad_observe
    try:
        over, under, holds, sim = worst_excursions("fig4", 3, 1, 100)
    finally:
        regulator.Regulator.observe = orig
    assert max(over, under) > 2000
