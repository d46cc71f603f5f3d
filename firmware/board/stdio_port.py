# The console port over the board's stdin/stdout (USB CDC on a Pico or an ESP32-S2/S3,
# the UART on an ESP32 DevKit, the pseudo-terminal of the virtual board).
# Reads never block (select.poll); writes happen only when the port says it can take
# them, so a host that stops reading stalls the records in the ring, not the tick.
import sys
import select


class StdioPort:
    """read_byte() -> int or None, writable() -> bool, write(buf, off, n) -> n written.
    None of them allocates (ipoll, readinto a preallocated byte, stream writes with an
    offset), so the board loop's tick allocates nothing."""

    def __init__(self):
        self._in = select.poll()
        self._in.register(sys.stdin, select.POLLIN)
        self._out = select.poll()
        self._out.register(sys.stdout, select.POLLOUT)
        self._rd = sys.stdin.buffer
        self._wr = sys.stdout.buffer
        self._b1 = bytearray(1)

    def read_byte(self):
        for _ in self._in.ipoll(0):
            if self._rd.readinto(self._b1):
                return self._b1[0]
            return None
        return None

    def writable(self):
        for _ in self._out.ipoll(0):
            return True
        return False

    def write(self, buf, off=0, n=-1):
        if n < 0:
            n = len(buf) - off
        return self._wr.write(buf, off, n)
