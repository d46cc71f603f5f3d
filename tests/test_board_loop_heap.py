"""The board loop's tick (firmware/board/runtime.py: measure, range, channel, apply,
records, console input, send) allocates nothing on a real board's stack: the pico
front-end on register-level chip stand-ins (tests/chips.py: MCP4725, ADS1115, pins),
run in the real MicroPython under micropython.heap_lock(), with telemetry every tick,
through a CC step and a CV hold. A MemoryError anywhere in the tick fails it (in the
front-end part it would latch an EXTERNAL fault, which is checked too)."""
import os
import subprocess

import pytest

import host_tools

ROOT = host_tools.ROOT
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")

SCRIPT = r"""
import sys, micropython, os
import chips, frontend, autorange, calibration, channel, runtime
from drivers import ads1115, mcp4725
import boards.pico as pico

bench = chips.Bench(pico, noise_uV=300, ocv_uV=3700000, r_cell_ohm=20)
dchip = chips.MCP4725(vdd_uV=3300000)
achip = chips.ADS1115(source=bench.ain, latency=2)
bench.dac = dchip
bus = chips.I2CBus(dchip, achip)
dac = mcp4725.MCP4725(bus)
adc = ads1115.ADS1115(bus)
v_ch = adc.channel(ads1115.MUX_2_G, ads1115.PGA_4096)
i_ch = adc.channel(ads1115.MUX_0_1, ads1115.PGA_2048)
pins = [bench.pin(p) for p in pico.RANGE_PINS]
fe = frontend.FrontEnd(dac, v_ch, i_ch, pins, bench.pin(pico.ENABLE_PIN), pico.RANGES_NA,
                       pico.SHUNTS_OHM, pico.SENSE_GAIN, 12, 3300000, pico.V_MID_UV, 0,
                       pico.V_DIV, 4096000, 2048000, calibration.identity(4), 4)


class Clock:
    def __init__(self):
        self.t = 0

    def ticks_ms(self):
        return self.t

    def sleep_ms(self, ms):
        self.t += ms


class NullPort:
    # a host that reads everything: the loop sends every record it makes
    def __init__(self):
        self.bytes = 0

    def read_byte(self):
        return None

    def writable(self):
        return True

    def write(self, buf, off=0, n=-1):
        self.bytes += n
        return n


FS = sys.argv[1]
clock = Clock()
ch = channel.Channel(pico.I_MAX_NA, pico.I_FLOOR_NA)
port = NullPort()
rt = runtime.Runtime(fe, clock, ch, port, ranger=autorange.AutoRange(pico.RANGES_NA),
                     fs_dir=FS)
rt.start()
ch.load_lines(["cell 1000000 0", "window 2600000 4100000",
               "limits 2500000 4150000 2000000 36000", "cc 1000000 4100000 30",
               "cv 3740000 %d 0 0" % pico.I_FLOOR_NA])
ch.start(clock.t)
rt.console.rate_ms = 100            # a T record every tick


def ticks(n, locked):
    for _ in range(n):
        if locked:
            micropython.heap_lock()
        try:
            rt.tick()
        finally:
            if locked:
                micropython.heap_unlock()
        clock.t += 100


ticks(5, False)                      # the protocol is saved once (flash: allocates)
ticks(250, True)                     # CC: 25 s
n_cc = rt.ticks
while ch.engine.step_number < 2:     # the step change: records, checkpoint (flash)
    ticks(1, False)
ticks(5, False)
ticks(300, True)                     # the CV hold
print("state", ch.state_name(), "step", ch.engine.step_number, "fe_errors", rt.fe_errors,
      "fault", ch.fault_name(), "sent", port.bytes, "i_nA", ch.engine.i_nA,
      "records", rt.ring.next_seq)
print("LOOP-HEAP-OK")
"""


@pytest.mark.skipif(not os.path.exists(MICROPYTHON), reason="no micropython in .venv")
def test_board_loop_tick_allocates_nothing_under_heap_lock(tmp_path):
    env = dict(os.environ, MICROPYPATH=host_tools.micropypath(os.path.join(ROOT, "tests")))
    p = subprocess.run([MICROPYTHON, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                       text=True, env=env, timeout=120, cwd=str(tmp_path))
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "LOOP-HEAP-OK" in out, out
    w = out.split()
    assert w[w.index("state") + 1] == "running" and w[w.index("step") + 1] == "2", out
    assert w[w.index("fe_errors") + 1] == "0" and w[w.index("fault") + 1] == "none", out
    assert int(w[w.index("sent") + 1]) > 500 * 40, out     # telemetry really went out
    assert int(w[w.index("i_nA") + 1]) > 0, out            # the hold really drives current


@pytest.mark.skipif(not os.path.exists(MICROPYTHON), reason="no micropython in .venv")
def test_control_an_allocating_port_is_caught(tmp_path):
    """The same loop with a port whose write makes a bytes copy (what the loop did
    before: a memoryview per record): heap_lock catches it, and the loop latches it as
    an internal fault with the output off (issue 10) instead of ending."""
    script = SCRIPT.replace("        self.bytes += n\n",
                            "        self.bytes += len(bytes(buf[off:off + n]))\n")
    script = script.replace("while ch.engine.step_number < 2:",
                            "while ch.engine.step_number < 2 and ch.state_name() == 'running':")
    env = dict(os.environ, MICROPYPATH=host_tools.micropypath(os.path.join(ROOT, "tests")))
    p = subprocess.run([MICROPYTHON, "-c", script, str(tmp_path)], capture_output=True,
                       text=True, env=env, timeout=120, cwd=str(tmp_path))
    out = p.stdout + p.stderr
    assert "state fault" in out and "fault internal" in out, out
