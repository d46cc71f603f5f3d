# TMP117: +-0.1 C digital temperature sensor on I2C (TI SBOS886), on the cell holder
# (boards/analog: 0x49, ADD0 to V+). The temperature register (0x00) is a signed 16-bit
# count of 7.8125 m degC (1/128 degC); after power-up it converts continuously (one
# result every 1 s by default). `read_mC()` uses a preallocated buffer: allocation-free.
# Never builds its own bus: `i2c` is handed in.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

ADDR = const(0x49)           # ADD0 to V+ (0x48, the ADS1115's, with ADD0 to GND)
REG_TEMP = const(0x00)
REG_DEVICE_ID = const(0x0F)  # reads 0x0117 (bits 11..0)
DEVICE_ID = const(0x117)


class TMP117:
    def __init__(self, i2c, addr=ADDR):
        self.i2c = i2c
        self.addr = addr
        self._b = bytearray(2)

    def _read(self, reg):
        b = self._b
        self.i2c.readfrom_mem_into(self.addr, reg, b)
        return (b[0] << 8) | b[1]

    def check(self):
        """Raise OSError unless the chip at addr answers with the TMP117's device id."""
        did = self._read(REG_DEVICE_ID) & 0x0FFF
        if did != DEVICE_ID:
            raise OSError("no TMP117 at 0x%02x: device id 0x%03x, expected 0x117" % (self.addr, did))

    def read_mC(self):
        """The last temperature in milli-degrees C (an integer; 1/128 C resolution)."""
        v = self._read(REG_TEMP)
        if v & 0x8000:
            v -= 0x10000
        # x 1000 / 128 = x 125 / 16, rounded half away from zero.
        if v >= 0:
            return (v * 125 + 8) >> 4
        return -((-v * 125 + 8) >> 4)
