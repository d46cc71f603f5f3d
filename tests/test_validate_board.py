"""`cycler validate --board` and `cycler simulate --board` refuse, at the TOML file's
line, what that board's own `load` would refuse (the board's validator with the figures
its Channel gets, boards/sim.channel_figures): no traceback, an example it takes."""
import argparse

import pytest

import host_tools  # noqa: F401
from host_tools import protocol_file, simulate


def _first_step_line():
    lines = open(protocol_file.resolve("quick")).read().splitlines()
    return 1 + next(k for k, t in enumerate(lines) if "Charge at C/2 until 4.1 V" in t)


def _args(mod, argv):
    p = argparse.ArgumentParser()
    mod.add_arguments(p)
    return p.parse_args(argv)


def test_validate_with_a_board_refuses_at_the_file_line(capsys):
    # pico-internal holds the cell voltage to +-15.25 mV (V_ERR_UV + 10 V_NOISE_UV)
    assert protocol_file.run(_args(protocol_file, ["quick", "--board", "pico-internal"])) == 2
    err = capsys.readouterr().err
    # the file's line of the first step, the board's limit named, an example it takes
    assert "quick.toml:%d:" % _first_step_line() in err and "V_ERR_UV" in err, err
    assert 'for example: "Charge at C/2 until 4.08 V"' in err, err
    # that example's voltages are ones the board takes (what it may still refuse is
    # something else: its termination floor, I_FLOOR_NA)
    path = protocol_file.resolve("quick")
    text = open(path).read().replace("4.1 V", "4.08 V").replace("2.6 V", "2.62 V")
    try:
        protocol_file.parse(text, path, board="pico-internal")
    except protocol_file.ProtocolError as e:
        assert "V_ERR_UV" not in str(e), str(e)
    # control: the same file on the recommended build (and with no board) loads
    assert protocol_file.run(_args(protocol_file, ["quick", "--board", "pico-ads1115"])) == 0
    assert protocol_file.run(_args(protocol_file, ["quick"])) == 0


def test_simulate_refuses_what_its_board_refuses_without_a_traceback(capsys):
    args = _args(simulate, ["quick", "--board", "esp32-internal", "--quiet"])
    assert simulate.run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("cycler simulate: ") and "Traceback" not in err, err
    assert "quick.toml:%d:" % _first_step_line() in err and "V_ERR_UV" in err, err


def test_a_hold_above_the_dac_s_hold_current_is_refused_naming_the_limit():
    text = ('name = "t"\n[cell]\nname = "max"\ncapacity_mAh = 1.091\n[[block]]\n'
            'label = "1C"\nrepeat = 1\nsteps = ["Charge at 1C until 4.05 V", '
            '"Hold at 4.05 V until C/46"]\n')
    with pytest.raises(protocol_file.ProtocolError) as e:
        protocol_file.parse(text, "t.toml", board="esp32-ads1115")   # the 8-bit DAC
    assert "HOLD_I_MAX_NA" in str(e.value) and "t.toml:" in str(e.value)
    protocol_file.parse(text, "t.toml", board="pico-ads1115")   # control: 12-bit DAC


def test_run_refuses_before_starting_a_virtual_board(capsys, tmp_path):
    from host_tools import run
    args = _args(run, ["quick", "--board", "esp32-internal", "--out", str(tmp_path)])
    assert run.run(args) == 2
    err = capsys.readouterr().err
    assert "quick.toml:%d:" % _first_step_line() in err and "V_ERR_UV" in err, err
    assert not any(tmp_path.iterdir())   # nothing started, nothing written
    # a real board has its own profile: --board with --port is refused
    args = _args(run, ["quick", "--board", "esp32-internal", "--port", "/dev/null",
                       "--out", str(tmp_path)])
    assert run.run(args) == 2 and "--board" in capsys.readouterr().err


def test_a_board_that_ends_no_hold_on_its_current_says_so_and_takes_a_timed_hold():
    """esp32-internal's floor (I_FLOOR_NA) is above the most it holds at
    (HOLD_I_MAX_NA): "raise the end current" would be no advice; the error says it ends
    no hold on its current, and the example it gives (a hold on its time) loads."""
    steps = ['"Charge at C/2 until 4.0 V"', '"Hold at 4.0 V until C/46"']
    text = ('name = "t"\n[cell]\nname = "fig4"\ncapacity_mAh = 0.0839\n[[block]]\n'
            'label = "a"\nrepeat = 1\nsteps = [%s]\n')
    with pytest.raises(protocol_file.ProtocolError) as e:
        protocol_file.parse(text % ", ".join(steps), "t.toml", board="esp32-internal")
    msg = str(e.value)
    assert "ends no hold on its current" in msg and "HOLD_I_MAX_NA" in msg, msg
    assert "Raise the end current" not in msg, msg
    example = msg.split("for example: ")[1].split(" (on its time only)")[0]
    assert example == '"Hold at 4.0 V for 2 hours"', msg
    protocol_file.parse(text % ", ".join([steps[0], example]), "t.toml",
                        board="esp32-internal")
    # control: a board whose floor is below its hold limit gets the plain advice
    with pytest.raises(protocol_file.ProtocolError) as e:
        protocol_file.parse((text % ", ".join(steps)).replace("C/46", "100 nA"),
                            "t.toml", board="pico-ads1115")
    assert "Raise the end current" in str(e.value), str(e.value)
