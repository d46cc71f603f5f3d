# Stand-ins shared by the core tests (and the host tests that drive the board's loop
# in-process). They run under CPython and MicroPython alike.
# StandInCell: a simple cell (the real cell model is simulation/cellmodel.py): OCV linear
# in state of charge between 2.6 V and 4.2 V, an ohmic resistance and one RC element.
# Floats are fine here: it runs outside the heap-locked tick.
# Port: a console port; Cfg: the sim board's board_config at full speed; fresh_dir: a
# board folder; loop: the board's main loop for n ticks on the virtual clock.
import math
import os
import wire


class StandInCell:
    def __init__(self, capacity_nAh=83900, r0_ohm=400.0, r1_ohm=300.0, tau_s=20.0, soc=0.05):
        self.q_As = capacity_nAh * 1e-9 * 3600.0
        self.soc = soc
        self.r0 = r0_ohm
        self.r1 = r1_ohm
        self.tau = tau_s
        self.v1 = 0.0
        self.i_A = 0.0

    def ocv(self):
        s = self.soc
        # steeper at the ends, like a real cell, so CV holds do their work
        return 2.6 + 1.3 * s + 0.15 * math.tan((s - 0.5) * 2.6) / math.tan(1.3)

    def step(self, dt_s, i_A):
        self.i_A = i_A
        self.soc += i_A * dt_s / self.q_As
        a = math.exp(-dt_s / self.tau)
        self.v1 = self.v1 * a + i_A * self.r1 * (1.0 - a)

    def v(self):
        return self.ocv() + self.v1 + self.i_A * self.r0


class Noise:
    """Deterministic pseudo-random noise (an LCG): the same on both interpreters."""

    def __init__(self, seed=1):
        self.x = seed

    def uniform(self):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return self.x / 0x7FFFFFFF - 0.5


def run(channel, cell, dt_ms=100, max_ticks=10 ** 6, v_noise_uV=0, i_noise_nA=0,
        seed=1, until=None, on_tick=None, t0_ms=0):
    """Closed loop: measure, tick the channel, apply its command to the cell.
    Returns the number of ticks run. Stops when the engine leaves RUNNING or PAUSED."""
    import engine
    noise = Noise(seed)
    now = t0_ms
    n = 0
    out_i = 0
    while n < max_ticks:
        v_uV = int(cell.v() * 1e6 + v_noise_uV * 2 * noise.uniform())
        i_nA = int(cell.i_A * 1e9 + i_noise_nA * 2 * noise.uniform())
        channel.tick(now & 0x3FFFFFFF, v_uV, i_nA)
        out_i = channel.out_i_nA if channel.out_on else 0
        if on_tick is not None:
            on_tick(channel, cell, now)
        cell.step(dt_ms / 1000.0, out_i * 1e-9)
        now += dt_ms
        n += 1
        st = channel.engine.state
        if st != engine.RUNNING and st != engine.PAUSED:
            break
        if until is not None and until(channel):
            break
    return n


class Port:
    """A console port stand-in: bytes queued for the board, lines it wrote."""

    def __init__(self):
        self.inq = b""
        self.pos = 0
        self.out = []
        self.open = True

    def send(self, text):
        self.inq = self.inq[self.pos:] + text.encode()
        self.pos = 0

    def read_byte(self):
        if self.pos >= len(self.inq):
            return None
        self.pos += 1
        return self.inq[self.pos - 1]

    def writable(self):
        return self.open

    def write(self, data, off=0, n=-1):
        assert self.open, "wrote to a port that said it could not take data"
        data = data[off:len(data) if n < 0 else off + n]
        self.out.append(bytes(data).decode())
        return len(data)

    def records(self):
        return [wire.decode(l.strip()) for l in self.out if wire.is_record(l.strip())]

    def replies(self):
        return [l.strip() for l in self.out if l.startswith("ok ") or l.startswith("error ")]


def fresh_dir():
    try:
        import tempfile
        return tempfile.mkdtemp()
    except ImportError:  # MicroPython: the runner's cwd is a fresh folder
        d = "rt%d" % len(os.listdir("."))
        os.mkdir(d)
        return d


class Cfg:
    speed = 1000000
    cell = "fig4"


def loop(rt, n):
    for _ in range(n):
        rt.tick()
        rt.clock.sleep_ms(rt.tick_ms)
