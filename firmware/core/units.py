# Integer units of the control tick and the conversions into them; the one home of
# the integer helpers (the small-int bound, tick differences, ratio scaling).
# Everything here is pure integer arithmetic that MicroPython runs without a heap
# allocation for values within +-2**30. It never reads a clock or a pin.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

SMALL_INT_MAX = const(0x3FFFFFFF)  # 2**30 - 1: the largest small int on a 32-bit port
TICKS_PERIOD_MS = const(0x40000000)  # time.ticks_ms() wraps at 2**30 on MicroPython
TICKS_MASK = const(0x3FFFFFFF)  # ticks_ms() & TICKS_MASK: a wrapped tick count
_TICKS_HALF = const(0x20000000)

# FACTS: "Theoretical specific capacity 192 mAh/g (Li1.0 -> Li0.3)".
SPECIFIC_CAPACITY_MAH_G = const(192)


def ticks_diff_ms(new_ms, old_ms):
    """new - old for ticks_ms()-style counters that wrap at 2**30 (signed result)."""
    d = (new_ms - old_ms) & TICKS_MASK
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


def fit_ratio(p, q, max_x):
    """(num, den) close to p/q with |max_x * num| and den below 2**30.

    Lets `muldiv(x, num, den)` scale any |x| <= max_x by p/q with small ints only (no heap
    on a 32-bit port). Best rational approximation by continued fractions; runs at
    construction time (it may use long ints), never in the loop.
    """
    if q <= 0 or p < 0 or max_x <= 0:
        raise ValueError("fit_ratio needs p >= 0, q > 0, max_x > 0")
    num_max = SMALL_INT_MAX // max_x
    if num_max < 1:
        raise ValueError("inputs up to %d leave no room for a multiplier" % max_x)
    # Convergents h/k of p/q; keep the last with h <= num_max and k <= SMALL_INT_MAX.
    h0, h1, k0, k1 = 0, 1, 1, 0
    a, b = p, q
    best = (0, 1)
    while b:
        t = a // b
        h2, k2 = t * h1 + h0, t * k1 + k0
        if h2 > num_max or k2 > SMALL_INT_MAX:
            # The semiconvergent with the largest multiple that still fits.
            m = (num_max - h0) // h1 if h1 else 0
            if k1:
                m = min(m, (SMALL_INT_MAX - k0) // k1)
            if m > 0:
                hs, ks = m * h1 + h0, m * k1 + k0
                if best[1] == 0 or abs(hs * q - p * ks) * best[1] < abs(best[0] * q - p * best[1]) * ks:
                    best = (hs, ks)
            break
        h0, h1, k0, k1 = h1, h2, k1, k2
        best = (h2, k2)
        a, b = b, a - t * b
    if best[1] == 0:
        best = (0, 1)
    return best


def muldiv(x, num, den):
    """x * num / den rounded half away from zero; small ints when fit_ratio made num/den."""
    if x >= 0:
        return (x * num + (den >> 1)) // den
    return -((-x * num + (den >> 1)) // den)
