"""How close to its end current a hold ends, per front-end profile (issue 12): the
termination floor (boards/sim.py termination_floor_nA, the board files' I_FLOOR_NA),
the board's refusal of a hold ending below it, and holds ending at it within 5 % over
seeds, with controls below it (docs/hardware.md "Measured per profile")."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fe_matrix as m  # noqa: E402
import host_tools  # noqa: E402,F401
import feprofiles  # noqa: E402
import protocol  # noqa: E402
from boards import sim, pico, esp32  # noqa: E402
from channel import Channel  # noqa: E402

TERM = 0.05                       # within 5 % of the end current
C46_FIG4 = m.CAPACITY_NAH["fig4"] // 46   # FACTS: termination currents (1.82 uA)
C76_FIG4 = m.CAPACITY_NAH["fig4"] // 76   # the paper's smallest end current (1.10 uA)


def _floor(board):
    return sim.channel_figures(board)["i_floor_nA"]


def _v_hold(board):
    """The hold as near 4.1 V as the profile takes it (its V_ERR_UV margin)."""
    f = sim.channel_figures(board)
    margin = f["v_err_uV"] + protocol.HOLD_NOISE_SIGMA * f["v_noise_uV"] - feprofiles.V_TOL_UV
    return m.V_HI - margin if margin > 0 else None


def test_the_floors_are_the_measured_ones_and_the_board_files_carry_them():
    for b, p in feprofiles.PROFILES.items():
        if p["i_end_min_nA"] is None:     # ends no hold within 5 %: takes none
            assert _floor(b) > sim.channel_figures(b)["hold_i_max_nA"], b
        else:
            assert _floor(b) == max(p["i_end_min_nA"], sim.I_FLOOR_MIN_NA), b
    # the recommended build ends the paper's smallest end current (FACTS: termination
    # currents, C/76 of fig4) and the 8-bit DAC with the ADS1115 its C/46; the RP2040's
    # own ADC cannot end C/46 (its voltage noise moves its hold's current by more), the
    # ESP32's own ADC ends no hold within 5 %
    assert _floor("pico-ads1115") <= C76_FIG4
    assert _floor("esp32-ads1115") <= C46_FIG4
    assert _floor("pico-internal") > C46_FIG4
    assert feprofiles.PROFILES["esp32-internal"]["i_end_min_nA"] is None
    # the board files carry their default build's floor (test_fe_matrix checks the rest)
    assert pico.I_FLOOR_NA == _floor("pico-internal")
    assert esp32.I_FLOOR_NA == _floor("esp32-internal")


@pytest.mark.parametrize("board", sorted(feprofiles.PROFILES))
def test_a_hold_ending_below_the_floor_is_refused_naming_it(board):
    from host_tools.simulate import Sim
    fl = _floor(board)
    vh = _v_hold(board) or m.V_HI
    # (a floor above the board's HOLD_I_MAX_NA, esp32-internal's: it ends no hold on
    # its current, and says so naming both)
    with pytest.raises(ValueError, match=r"below the %d nA .*I_FLOOR_NA|ends no hold on "
                       r"its current.*I_FLOOR_NA, %d nA.*HOLD_I_MAX_NA" % (fl, fl)):
        Sim(m.lines("fig4", "1C", 1, v_hi=vh, i_end=fl - 10), board=board)
    Sim(m.lines("fig4", "1C", 1, v_hi=vh, i_end=fl), board=board)   # control: taken
    # a hold that ends on its time only (t_min = t_max: `cycler`'s "Hold at 4.1 V for 1
    # hour", its end current the host's least floor) never ends on its current: taken
    ls = m.lines("fig4", "1C", 1, v_hi=vh, i_end=sim.I_FLOOR_MIN_NA)
    ls[-1] = "cv %d %d 3600 3600" % (vh, sim.I_FLOOR_MIN_NA)
    Sim(ls, board=board)


def test_the_real_boards_refuse_what_their_default_build_cannot_end():
    # the channel main.py builds from the board file (firmware_setup.build)
    for b in (pico, esp32):
        ch = Channel(b.I_MAX_NA, b.I_FLOOR_NA, v_err_uV=b.V_ERR_UV,
                     v_noise_uV=b.V_NOISE_UV, hold_i_max_nA=b.HOLD_I_MAX_NA)
        with pytest.raises(ValueError, match="I_FLOOR_NA"):
            ch.load_lines(m.lines("fig4", "C/10", 1, v_hi=4000000))
        # control: the same board with the recommended build's floor takes it
        ch = Channel(b.I_MAX_NA, _floor("pico-ads1115"), v_err_uV=b.V_ERR_UV,
                     v_noise_uV=b.V_NOISE_UV, hold_i_max_nA=b.HOLD_I_MAX_NA)
        ch.load_lines(m.lines("fig4", "C/10", 1, v_hi=4000000))


# The accepted holds: each profile's hold ending at its floor (the smallest it takes),
# over seeds: the TRUE current where it ended within 5 %. On `cycler simulate`'s 1 s
# tick (the fast lane; not pico-ads1115: its 500 nA floor is the board's 100 ms tick's,
# on 1 s ticks 500 nA ended 6.9 % off on a seed, 700 nA within 5 %: docs/hardware.md;
# pico-internal on the 100 ms tick, see below),
# and on the board's 100 ms tick (slow: 10x the ticks; the benchmark runs 6 seeds).


@pytest.mark.parametrize("board, tick_ms", (("esp32-ads1115", 1000), ("pico-internal", 100)))
def test_every_profile_ends_its_accepted_holds_within_5_percent(board, tick_ms):
    # pico-internal on the board's 100 ms tick, the tick its floor was measured on: on
    # 1 s ticks its RP2040 ADC's noise makes the end a lottery of the noise draws (the
    # cell model before its charge-only resistance: seeds 1-10 ended 0.1, -0.4, -2.2,
    # -4.1, -4.9, -2.2, -6.1, -9.8, -2.7, -11.8 % off; any change of the cell's
    # trajectory, 0.1 ohm, reshuffles which seeds pass: docs/cellmodel.md)
    fl = _floor(board)
    for seed in (1, 2, 3):
        err = m.hold_end_error(board, fl, seed, tick_ms=tick_ms, v_hold=_v_hold(board),
                               floor_aside=False)
        assert err is not None and abs(err) <= TERM, (board, seed, err)


@pytest.mark.slow
@pytest.mark.parametrize("board, seeds", (("pico-ads1115", (1, 2)), ("esp32-ads1115", (1,)),
                                          ("pico-internal", (1,))))
def test_every_profile_ends_its_accepted_holds_within_5_percent_on_the_board_tick(board,
                                                                                   seeds):
    fl = _floor(board)
    for seed in seeds:
        err = m.hold_end_error(board, fl, seed, v_hold=_v_hold(board), floor_aside=False)
        assert err is not None and abs(err) <= TERM, (board, seed, err)


def test_esp32_internal_takes_no_hold():
    # it ended no hold within 5 % (feprofiles: from C/46 of fig4 to 55 uA, 6 seeds): its
    # floor is above the most a hold may draw on it, so every hold is refused, naming
    # I_FLOOR_NA; control: a CC step alone is taken
    from host_tools.simulate import Sim
    f = sim.channel_figures("esp32-internal")
    assert f["i_floor_nA"] > f["hold_i_max_nA"]
    vh = _v_hold("esp32-internal")
    for i_end in (C46_FIG4, f["hold_i_max_nA"]):
        with pytest.raises(ValueError, match="I_FLOOR_NA"):
            Sim(m.lines("fig4", "C/10", 1, v_hi=vh, i_end=i_end), board="esp32-internal")
    Sim(m.lines("fig4", "C/10", 1, v_hi=vh)[:-1], board="esp32-internal")


def test_control_below_the_floor_a_hold_ends_off_its_current():
    # the esp32-internal at C/46 of fig4: refused (I_FLOOR_NA); with the floor set
    # aside it ends with the true current far off C/46 (the last session's matrix: 2 of
    # 6 seeds within 10 %)
    vh = _v_hold("esp32-internal")
    with pytest.raises(ValueError, match="I_FLOOR_NA"):
        m.hold_end_error("esp32-internal", C46_FIG4, 1, tick_ms=1000, v_hold=vh,
                         floor_aside=False)
    errs = [m.hold_end_error("esp32-internal", C46_FIG4, s, tick_ms=1000, v_hold=vh)
            for s in (1, 2, 3)]
    assert max(abs(e) for e in errs) > 2 * TERM, errs
    # below the measured floors of the profiles the fast test runs: refused, and with
    # the floor set aside a seed ends more than 5 % off (the 8-bit DAC at 1 uA: one
    # code is 26 % of it; the RP2040's ADC at C/46 of fig4: its noise through the loop)
    for board, i_end in (("esp32-ads1115", 1000), ("pico-internal", C46_FIG4)):
        vh = _v_hold(board)
        with pytest.raises(ValueError, match="I_FLOOR_NA"):
            m.hold_end_error(board, i_end, 1, tick_ms=1000, v_hold=vh, floor_aside=False)
        errs = [m.hold_end_error(board, i_end, s, tick_ms=1000, v_hold=vh) for s in (1, 2)]
        assert max(abs(e) for e in errs) > TERM, (board, errs)
