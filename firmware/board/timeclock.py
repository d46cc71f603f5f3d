# The real clock a board file hands to main.py (hardware.Hardware's clock): a module of
# its own, as it lives as long as the board runs while hardware.py is dropped after boot.
from units import TICKS_MASK


class TimeClock:
    """The real clock: ticks_ms() wraps at 2**30 like units.ticks_diff_ms expects."""

    def __init__(self, time_module):
        self._t = time_module

    def ticks_ms(self):
        return self._t.ticks_ms() & TICKS_MASK

    def sleep_ms(self, ms):
        self._t.sleep_ms(ms)
