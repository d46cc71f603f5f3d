# pyright against the MicroPython port stubs (tools/portcheck.py): the board-side code
# passes for rp2 and esp32, and a call the port lacks fails the check.
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import portcheck  # noqa: E402


def _pyright_runs():
    try:
        p = subprocess.run(portcheck.pyright_cmd() + ["--version"], capture_output=True,
                           text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "pyright cannot start: %s" % e
    if p.returncode != 0 or "pyright" not in p.stdout:
        return "pyright cannot run (it needs node): %s" % (p.stdout + p.stderr)[-300:]
    return None


_WHY = _pyright_runs()
pytestmark = [pytest.mark.slow,   # one pyright run per port: ~15 s each
              pytest.mark.skipif(_WHY is not None, reason=_WHY or "")]

WRONG_RP2 = """\
import machine
adc = machine.ADC(machine.Pin(26))
uv = adc.read_uv()   # the rp2 port has no ADC.read_uv
"""
WRONG_BOTH = """\
import machine
dac = machine.DAC(machine.Pin(25))   # rp2 has no DAC; esp32 has one
adc = machine.ADC(machine.Pin(36))
adc.atten(machine.ADC.ATTN_11DB)
uv = adc.read_uv()
import numpy                          # no board has numpy
"""


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """port -> errors by file name: one pyright run per port over the board-side code
    and the two wrong snippets."""
    d = tmp_path_factory.mktemp("portcheck")
    (d / "wrong_rp2.py").write_text(WRONG_RP2)
    (d / "wrong_both.py").write_text(WRONG_BOTH)
    out = {}
    for port in sorted(portcheck.PORTS):
        _, errors = portcheck.check(port, [str(d / "wrong_rp2.py"), str(d / "wrong_both.py")],
                                    verbose=False)
        by_file = {}
        for e in errors:
            by_file.setdefault(os.path.basename(e["file"]), []).append(e)
        out[port] = by_file
    return out


def _lines(errors):
    return sorted(e["range"]["start"]["line"] + 1 for e in errors)


@pytest.mark.parametrize("port", sorted(portcheck.PORTS))
def test_board_side_code_passes_the_port_check(reports, port):
    ours = {f: e for f, e in reports[port].items() if not f.startswith("wrong_")}
    assert not ours, "\n".join("%s:%d %s" % (f, x["range"]["start"]["line"] + 1, x["message"])
                                for f, e in ours.items() for x in e)


def test_a_call_the_rp2_port_lacks_fails_it(reports):
    hits = reports["rp2"].get("wrong_rp2.py", [])
    assert _lines(hits) == [3] and "read_uv" in hits[0]["message"]
    # The same snippet is fine on the ESP32, which has ADC.read_uv.
    assert "wrong_rp2.py" not in reports["esp32"]


def test_each_port_flags_what_it_lacks(reports):
    assert _lines(reports["esp32"].get("wrong_both.py", [])) == [6]      # only numpy
    assert _lines(reports["rp2"].get("wrong_both.py", [])) == [2, 5, 6]  # DAC, read_uv, numpy


def test_command_line_exit_status(tmp_path):
    bad = tmp_path / "wrong_rp2.py"
    bad.write_text(WRONG_RP2)
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "portcheck.py"), "rp2",
                        "--extra", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 1 and "read_uv" in p.stdout
