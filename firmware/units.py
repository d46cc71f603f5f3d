# Integer units of the control tick and the conversions into them.
# Everything here is pure integer arithmetic that MicroPython runs without a heap
# allocation for values within +-2**30. It never reads a clock or a pin.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

SMALL_INT_MAX = const(0x3FFFFFFF)  # 2**30 - 1: the largest small int on a 32-bit port
TICKS_PERIOD_MS = const(0x40000000)  # time.ticks_ms() wraps at 2**30 on MicroPython
_TICKS_MASK = const(0x3FFFFFFF)
_TICKS_HALF = const(0x20000000)

# FACTS: "Theoretical specific capacity 192 mAh/g (Li1.0 -> Li0.3)".
SPECIFIC_CAPACITY_MAH_G = const(192)


def ticks_diff_ms(new_ms, old_ms):
    """new - old for ticks_ms()-style counters that wrap at 2**30 (signed result)."""
    d = (new_ms - old_ms) & _TICKS_MASK
    if d >= _TICKS_HALF:
        d -= TICKS_PERIOD_MS
    return d


def capacity_nAh(capacity_mAh=None, mass_mg=None, specific_mAh_g=SPECIFIC_CAPACITY_MAH_G):
    """A cell's capacity in nAh, from mAh, or from active mass x specific capacity.

    FACTS: capacity = areal capacity x 0.503 cm2; active mass = capacity / 192 mAh/g.
    Runs at load time only (floats allowed).
    """
    if capacity_mAh is not None:
        q = capacity_mAh * 1e6
    elif mass_mg is not None:
        q = mass_mg * 1e-3 * specific_mAh_g * 1e6
    else:
        raise ValueError("give the cell's capacity in mAh, or its active mass in mg "
                         "(e.g. capacity_mAh = 0.0839 or active_mass_mg = 0.437)")
    q = int(round(q))
    if not 0 < q <= SMALL_INT_MAX:
        raise ValueError("cell capacity %r nAh is outside 1 nAh .. 1.07 Ah" % q)
    return q


def rate_to_nA(capacity_nAh, num, den=1):
    """The current of a C-rate num/den (e.g. C/46 is 1/46, 3C is 3/1) in nA, rounded.

    1C is the current that passes the capacity in one hour: I[nA] = Q[nAh] / 1 h.
    """
    if den <= 0 or num <= 0:
        raise ValueError("a C-rate needs a positive fraction, e.g. C/46 or 2C")
    return (capacity_nAh * num + den // 2) // den


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x
