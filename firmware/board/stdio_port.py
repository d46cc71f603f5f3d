# The console port over the board's stdin/stdout (USB CDC on a Pico or an ESP32-S2/S3,
# the UART on an ESP32 DevKit, the pseudo-terminal of the virtual board).
# Reads never block (select.poll); writes happen only when the port says it can take
# them, so a host that stops reading stalls the records in the ring, not the tick.
import sys
import select


class StdioPort:
    def __init__(self):
        self._in = select.poll()
        self._in.register(sys.stdin, select.POLLIN)
        self._out = select.poll()
        self._out.register(sys.stdout, select.POLLOUT)
        self._rd = sys.stdin.buffer
        self._wr = sys.stdout.buffer

    def read_byte(self):
        if not self._in.poll(0):
            return None
        b = self._rd.read(1)
        return b[0] if b else None

    def writable(self):
        return bool(self._out.poll(0))

    def write(self, data):
        return self._wr.write(data)
