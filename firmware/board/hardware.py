# What a board file's setup() hands to main.py, and the board-side helpers every board
# file uses to build it. Apart from frontend.py so that a board without the generic
# front-end (the virtual board: boards/sim.py) does not load it to make this record.
from units import TICKS_MASK


class Hardware:
    def __init__(self, fe, clock, wdt, cause, tick_ms):
        self.fe = fe
        self.clock = clock
        self.wdt = wdt
        self.reset_cause = cause
        self.tick_ms = tick_ms


class TimeClock:
    """The real clock: ticks_ms() wraps at 2**30 like units.ticks_diff_ms expects."""

    def __init__(self, time_module):
        self._t = time_module

    def ticks_ms(self):
        return self._t.ticks_ms() & TICKS_MASK

    def sleep_ms(self, ms):
        self._t.sleep_ms(ms)


_CAUSES = (("PWRON_RESET", "power_on"), ("WDT_RESET", "watchdog"), ("HARD_RESET", "hard"),
           ("SOFT_RESET", "soft"), ("DEEPSLEEP_RESET", "deepsleep"))


def reset_cause_name(machine):
    c = machine.reset_cause()
    for attr, name in _CAUSES:
        if getattr(machine, attr, None) == c:
            return name
    return "unknown(%d)" % c
