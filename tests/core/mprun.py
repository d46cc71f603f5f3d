# Runs the test_* functions of one core test module and prints one line per test.
# Works under the micropython executable and CPython alike:
#   micropython tests/core/mprun.py test_engine [short|long|all]
# A module may name its long closed-loop runs in LONG = ("test_...", ...): `short` runs
# the others, `long` only those (tests/test_micropython_core.py marks that part slow;
# pytest runs every test on CPython in any case). Default: all.
import sys

try:
    import time
    _ms = time.ticks_ms
    _diff = time.ticks_diff
except AttributeError:  # CPython
    import time
    _ms = lambda: int(time.time() * 1000)
    _diff = lambda a, b: a - b


def main(name, part="all"):
    mod = __import__(name)
    failed = 0
    long = getattr(mod, "LONG", ())
    names = sorted(n for n in dir(mod) if n.startswith("test_")
                   if part == "all" or (n in long) == (part == "long"))
    for n in names:
        t0 = _ms()
        try:
            getattr(mod, n)()
        except Exception as e:  # report and carry on with the next test
            failed += 1
            print("FAIL %s.%s: %s: %s" % (name, n, type(e).__name__, e))
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
            else:
                import traceback
                traceback.print_exc()
        else:
            print("PASS %s.%s (%d ms)" % (name, n, _diff(_ms(), t0)))
    print("%d passed, %d failed" % (len(names) - failed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main(*sys.argv[1:3]) else 0)
