# A simple cell stand-in for the core tests (the real cell model is simulation/cellmodel.py):
# OCV linear in state of charge between 2.6 V and 4.2 V, an ohmic resistance and one RC
# element. Floats are fine here: it runs outside the heap-locked tick.
import math


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
