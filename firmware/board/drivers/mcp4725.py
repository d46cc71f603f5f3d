# MCP4725: 12-bit I2C DAC with EEPROM (Microchip DS22039). Sets the channel's current
# setpoint. The hot path (`write`) is one 2-byte "fast mode" transaction from a
# preallocated buffer; it never allocates. Never builds its own bus: `i2c` is handed in.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

ADDR = const(0x60)  # A2 A1 = 00 (factory), A0 pin low; 0x61 with A0 high
CODE_MAX = const(4095)

# Power-down bits PD1 PD0 (datasheet table 5-2): what the output pin does when off.
PD_NORMAL = const(0)   # output on
PD_1K = const(1)       # output off, 1 kOhm to GND
PD_100K = const(2)     # output off, 100 kOhm to GND
PD_500K = const(3)     # output off, 500 kOhm to GND

# Command bits C2 C1 C0 of the 3-byte writes (datasheet figure 6-2).
_CMD_WRITE_DAC_EEPROM = const(0x60)  # 011: DAC register and EEPROM
_EEPROM_POLLS = const(100)           # x 1 ms; the datasheet's EEPROM write is 25 ms typ, 50 ms max


def _sleep_ms(ms):
    import time
    try:
        time.sleep_ms(ms)  # type: ignore[attr-defined]
    except AttributeError:  # CPython
        time.sleep(ms / 1000)


class MCP4725:
    def __init__(self, i2c, addr=ADDR):
        self.i2c = i2c
        self.addr = addr
        self.code = 0
        self.pd = PD_NORMAL
        self._fast = bytearray(2)
        self._long = bytearray(3)
        self._rd = bytearray(5)

    def write(self, code):
        """Fast-mode write of a 12-bit code (output on). Allocation-free.

        Byte 1: C2 C1 PD1 PD0 D11 D10 D9 D8 with C2 C1 = 00 (fast mode),
        byte 2: D7..D0 (datasheet figure 6-1).
        """
        if code < 0:
            code = 0
        elif code > CODE_MAX:
            code = CODE_MAX
        self.code = code
        self.pd = PD_NORMAL
        b = self._fast
        b[0] = code >> 8
        b[1] = code & 0xFF
        self.i2c.writeto(self.addr, b)

    def power_down(self, mode=PD_500K):
        """Output off through a resistor to GND (mode PD_1K/PD_100K/PD_500K); the code is kept."""
        if not PD_1K <= mode <= PD_500K:
            raise ValueError("power-down mode must be PD_1K (1), PD_100K (2) or PD_500K (3)")
        self.pd = mode
        b = self._fast
        b[0] = (mode << 4) | (self.code >> 8)
        b[1] = self.code & 0xFF
        self.i2c.writeto(self.addr, b)

    def write_eeprom(self, code, pd=PD_NORMAL):
        """Write the DAC register and the EEPROM: the code and mode the chip powers up with.

        Slow (tens of ms) and wears the EEPROM: for set-up only (e.g. mid-scale = zero current
        at power-up), never in the control loop. Waits for the chip's RDY bit.
        """
        if not 0 <= code <= CODE_MAX or not PD_NORMAL <= pd <= PD_500K:
            raise ValueError("code must be 0..4095 and pd 0..3, got %r, %r" % (code, pd))
        b = self._long
        b[0] = _CMD_WRITE_DAC_EEPROM | (pd << 1)
        b[1] = code >> 4
        b[2] = (code & 0x0F) << 4
        self.i2c.writeto(self.addr, b)
        self.code = code
        self.pd = pd
        for _ in range(_EEPROM_POLLS):
            self.i2c.readfrom_into(self.addr, self._rd)
            if self._rd[0] & 0x80:  # RDY/BSY = 1: EEPROM write done
                return
            _sleep_ms(1)
        raise OSError("MCP4725 at 0x%02x: EEPROM write did not finish (RDY stayed 0)" % self.addr)

    def read(self):
        """(dac_code, pd, eeprom_code, eeprom_pd, ready, por): the chip's 5-byte read-back.

        Byte 0: RDY/BSY POR x x x PD1 PD0 x; bytes 1-2: D11..D4, D3..D0 x x x x;
        bytes 3-4: x PD1 PD0 x D11..D8, D7..D0 (datasheet figure 6-3). Allocates (a tuple):
        for set-up and tests only.
        """
        r = self._rd
        self.i2c.readfrom_into(self.addr, r)
        return ((r[1] << 4) | (r[2] >> 4), (r[0] >> 1) & 3,
                ((r[3] & 0x0F) << 8) | r[4], (r[3] >> 5) & 3,
                (r[0] >> 7) & 1, (r[0] >> 6) & 1)
