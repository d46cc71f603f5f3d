# What a board file's setup() hands to main.py, and the board-side helpers every board
# file uses to build it. Apart from frontend.py so that a board without the generic
# front-end (the virtual board: boards/sim.py) does not load it to make this record.
# Boot only: main.py's setup takes the record apart and drops this module (the real
# clock, which lives on, is timeclock.py).


class Hardware:
    def __init__(self, fe, clock, wdt, cause, tick_ms):
        self.fe = fe
        self.clock = clock
        self.wdt = wdt
        self.reset_cause = cause
        self.tick_ms = tick_ms


_CAUSES = (("PWRON_RESET", "power_on"), ("WDT_RESET", "watchdog"), ("HARD_RESET", "hard"),
           ("SOFT_RESET", "soft"), ("DEEPSLEEP_RESET", "deepsleep"))


def reset_cause_name(machine):
    c = machine.reset_cause()
    for attr, name in _CAUSES:
        if getattr(machine, attr, None) == c:
            return name
    return "unknown(%d)" % c
