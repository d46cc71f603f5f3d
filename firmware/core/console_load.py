# The console's `load`: the protocol lines after it, collected in the console's _load
# list up to `end` (or n lines) and handed to the channel. console.py imports it at
# `load`; on a board the runtime drops it (sys.modules) once the load is over, so its code
# takes heap only while a protocol comes in. Its errors' usage text is console_more's.
import wire


def _expect_load():
    import console_more
    return console_more.expect("load")


def start(c, args, echo, int_arg, max_load):
    """`load [n]`: open a load on console.Console `c` (no reply until it ends)."""
    n = -1
    if len(args) > 1:
        raise ValueError("load takes at most one number; " + _expect_load())
    if args:
        n = int_arg("load", "line count", args[0], 1, max_load)
    c._load = []
    c._load_n = n
    c._load_depth = 0
    c._load_echo = echo
    return False


def load_line(c, text, now_ms, order, max_load):
    h = text.find("#")  # a comment to the end of the line
    if h >= 0:
        text = text[:h]
    words = text.split()
    if not words:
        return
    first = words[0].lower()
    if first in order:
        # A command in the middle of a load: the host gave up (or a person
        # forgot `end`). Drop the load and obey the command.
        cancel(c, "cancelled by %r before the protocol was complete" % words[0])
        c.line(text, now_ms)
        return
    lines = c._load
    if lines is None:
        return
    if c._load_n < 0:
        if first == "end":
            if c._load_depth == 0:
                _finish(c)
                return
            c._load_depth -= 1
        elif first == "repeat":
            c._load_depth += 1
    lines.append(" ".join(words))
    if len(lines) == c._load_n:
        _finish(c)
    elif len(lines) > max_load:
        cancel(c, "more than %d protocol lines" % max_load)


def cancel(c, why):
    c._load = None
    c.out(wire.error_line(c._load_echo, why + "; nothing loaded; " + _expect_load()))


def _finish(c):
    lines = c._load
    c._load = None
    if not lines:
        c.out(wire.error_line(c._load_echo, "no protocol lines; " + _expect_load()))
        return
    try:
        c.channel.load_lines(lines)
    except ValueError as e:
        c.out(wire.error_line(c._load_echo, str(e)))
        return
    except MemoryError:
        n = len(lines)
        lines = None
        c.out(wire.error_line(c._load_echo, "the protocol (%d lines) does not fit in this "
                              "board's free memory; nothing loaded. Load a shorter one "
                              "(split its blocks into protocols run one after another) "
                              "or use a board with more RAM" % n))
        return
    except Exception as e:
        c.out(wire.error_line(c._load_echo, "internal error %s: %s" % (type(e).__name__, e)))
        return
    c.out(wire.ok_line(c._load_echo, "%d lines" % len(lines)))
