# Register-level stand-ins of the chips and a model of the analog board, for the driver,
# front-end and board tests. The code under test cannot tell them from the real parts:
# the fakes decode the bytes on the wire as the datasheets say (MCP4725 DS22039, ADS1115
# SBAS444) and keep registers. Runs under CPython and the MicroPython unix port; the
# transaction paths allocate nothing, so the hot-path tests can run under heap_lock.

EIO = 5  # what machine.I2C raises on a NACK (OSError: [Errno 5] EIO on rp2)


class I2CBus:
    """A machine.I2C stand-in: each transaction is start, bytes, stop on a device."""

    def __init__(self, *devices):
        self.devices = {}
        self.transactions = 0
        for d in devices:
            self.attach(d)

    def attach(self, dev):
        self.devices[dev.addr] = dev
        return dev

    def scan(self):
        return sorted(self.devices)

    def _dev(self, addr):
        d = self.devices.get(addr)
        if d is None:
            raise OSError(EIO)
        self.transactions += 1
        return d

    def writeto(self, addr, buf, stop=True):
        d = self._dev(addr)
        d.start(False)
        for b in buf:
            d.rx(b)
        d.stop()
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        d = self._dev(addr)
        d.start(True)
        for k in range(len(buf)):
            buf[k] = d.tx()
        d.stop()

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        d = self._dev(addr)
        d.start(False)
        d.rx(memaddr)
        for b in buf:
            d.rx(b)
        d.stop()

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        d = self._dev(addr)
        d.start(False)
        d.rx(memaddr)
        d.start(True)  # repeated start
        for k in range(len(buf)):
            buf[k] = d.tx()
        d.stop()


class MCP4725:
    """12-bit DAC with EEPROM. Fast mode: [0 0 PD1 PD0 D11..D8] [D7..D0], pairs may repeat;
    write DAC (C2C1C0 = 010) / DAC + EEPROM (011): [C2 C1 C0 x x PD1 PD0 x] [D11..D4]
    [D3..D0 x x x x]; read: status, DAC (2 bytes), EEPROM (2 bytes)."""

    def __init__(self, addr=0x60, vdd_uV=3300000, eeprom_code=0, eeprom_pd=0, eeprom_busy_reads=3):
        self.addr = addr
        self.vdd_uV = vdd_uV
        self.eeprom_code = eeprom_code
        self.eeprom_pd = eeprom_pd
        self.eeprom_busy_reads = eeprom_busy_reads
        self.eeprom_writes = 0
        self.ignored = 0
        self._busy = 0
        self._n = 0
        self._b0 = 0
        self._b1 = 0
        self._reading = False
        self.power_cycle()

    def power_cycle(self):
        """Power-on reset: the DAC register loads the EEPROM."""
        self.code = self.eeprom_code
        self.pd = self.eeprom_pd
        self.por = 1
        self._busy = 0

    def vout_uV(self):
        if self.pd:
            return 0  # pulled to GND through 1 k / 100 k / 500 k
        return self.vdd_uV * self.code // 4096

    def start(self, read):
        self._reading = read
        self._n = 0

    def stop(self):
        pass

    def rx(self, b):
        n = self._n
        self._n = n + 1
        if n == 0:
            self._b0 = b
        if self._b0 >> 6 == 0:  # fast mode: byte pairs
            if n % 2 == 0:
                self._b0 = b
            else:
                self._apply((self._b0 >> 4) & 3, ((self._b0 & 0x0F) << 8) | b, False)
            return
        cmd = self._b0 >> 5
        if cmd not in (2, 3):  # 100..111: reserved
            if n == 0:
                self.ignored += 1
            return
        if n == 1:
            self._b1 = b
        elif n == 2:
            self._apply((self._b0 >> 1) & 3, (self._b1 << 4) | (b >> 4), cmd == 3)

    def _apply(self, pd, code, eeprom):
        if self._busy:  # an EEPROM write in progress: new writes are ignored
            self.ignored += 1
            return
        self.code = code
        self.pd = pd
        if eeprom:
            self.eeprom_code = code
            self.eeprom_pd = pd
            self.eeprom_writes += 1
            self._busy = self.eeprom_busy_reads

    def tx(self):
        k = self._n % 5
        self._n += 1
        if k == 0:
            rdy = 0 if self._busy else 1
            if self._busy:
                self._busy -= 1
            return (rdy << 7) | (self.por << 6) | (self.pd << 1)
        if k == 1:
            return self.code >> 4
        if k == 2:
            return (self.code & 0x0F) << 4
        if k == 3:
            return (self.eeprom_pd << 5) | (self.eeprom_code >> 8)
        return self.eeprom_code & 0xFF


# ADS1115 mux: (positive input, negative input), -1 = GND.
_MUX = ((0, 1), (0, 3), (1, 3), (2, 3), (0, -1), (1, -1), (2, -1), (3, -1))
# One LSB in uV/16 per PGA setting (6.144 V / 32768 = 187.5 uV = 3000/16, ...).
_LSB16 = (3000, 2000, 1000, 500, 250, 125, 125, 125)


class ADS1115:
    """16-bit ADC. The pointer byte selects a register; a write carries MSB then LSB; a read
    returns the selected register big-endian. Config: OS MUX[2:0] PGA[2:0] MODE DR[2:0]
    COMP_MODE COMP_POL COMP_LAT COMP_QUE[1:0], reset 0x8583. Writing OS = 1 in single-shot
    mode starts a conversion; OS reads 0 until it is done (here: `latency` config reads),
    and the conversion register keeps its old value until then.

    `source(ain)` gives the voltage at input ain (0..3) in uV.
    """

    def __init__(self, addr=0x48, source=None, latency=2):
        self.addr = addr
        self.source = source
        self.vin = [0, 0, 0, 0]
        self.latency = latency
        self.regs = [0, 0x8583, 0x8000, 0x7FFF]
        self.pointer = 0
        self.conversions = 0
        self._busy = 0
        self._n = 0
        self._hi = 0

    def v(self, ain):
        if ain < 0:
            return 0
        if self.source is not None:
            return self.source(ain)
        return self.vin[ain]

    def convert_now(self):
        cfg = self.regs[1]
        p, n = _MUX[(cfg >> 12) & 7]
        d16 = (self.v(p) - self.v(n)) * 16
        lsb = _LSB16[(cfg >> 9) & 7]
        code = (d16 + lsb // 2) // lsb if d16 >= 0 else -((-d16 + lsb // 2) // lsb)
        if code > 32767:
            code = 32767
        elif code < -32768:
            code = -32768
        self.regs[0] = code & 0xFFFF
        self.conversions += 1

    def start(self, read):
        self._n = 0

    def stop(self):
        pass

    def rx(self, b):
        n = self._n
        self._n = n + 1
        if n == 0:
            self.pointer = b & 3
        elif n == 1:
            self._hi = b
        elif n == 2:
            self._write((self._hi << 8) | b)

    def _write(self, value):
        r = self.pointer
        if r == 0:
            return  # the conversion register is read-only
        if r != 1:
            self.regs[r] = value
            return
        single = value & 0x0100
        self.regs[1] = (value & 0x7FFF) | (0x8000 if not self._busy else 0)
        if single and value & 0x8000 and not self._busy:
            self._busy = self.latency
            self.regs[1] &= 0x7FFF
            if self._busy == 0:
                self._finish()

    def _finish(self):
        self.convert_now()
        self.regs[1] |= 0x8000

    def tx(self):
        r = self.pointer
        k = self._n & 1
        self._n += 1
        if r == 0 and not (self.regs[1] & 0x0100) and k == 0:
            self.convert_now()  # continuous mode: always a fresh result
        v = self.regs[r]
        if r == 1 and k == 1 and self._busy:
            self._busy -= 1
            if self._busy == 0:
                self._finish()
        return (v >> 8) if k == 0 else (v & 0xFF)


class Pin:
    OUT = 1
    IN = 0
    PULL_DOWN = 2
    PULL_UP = 1

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.v = 0 if value is None else value
        self.writes = 0

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = 1 if v else 0
        self.writes += 1

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class Bench:
    """The analog board of boards/pico.py as a model, with the part errors a real one has.

    The current loop forces V_sense = V_dac while enabled; the sense amplifier output is
    V_mid + G_true * I * R_true + sense_offset, so the true current is
    I = (V_dac - V_mid - sense_offset) / (G_true * R_true). Disabled: I = 0.
    The cell is an OCV behind a resistance: V_cell = ocv + I * r_cell.
    """

    def __init__(self, board, shunt_err_ppm=None, gain_err_ppm=0, sense_offset_uV=0,
                 v_div_err_ppm=0, v_mid_uV=None, ocv_uV=3700000, r_cell_ohm=20, noise_uV=0):
        self.board = board
        n = len(board.SHUNTS_OHM)
        self.shunt_err_ppm = shunt_err_ppm or (0,) * n
        self.gain_err_ppm = gain_err_ppm
        self.sense_offset_uV = sense_offset_uV
        self.v_div_err_ppm = v_div_err_ppm
        self.v_mid_uV = board.V_MID_UV if v_mid_uV is None else v_mid_uV
        self.ocv_uV = ocv_uV
        self.r_cell_ohm = r_cell_ohm
        self.noise_uV = noise_uV
        self._seed = 12345
        self.pins = {}
        self.dac = None        # anything with vout_uV()
        self.adc_nodes = {}    # pin id -> "v" | "i" | "mid"
        self.ads_nodes = ("i", "mid", "v", "gnd")  # ADS1115 AIN0..AIN3

    def pin(self, id):
        p = self.pins.get(id)
        if p is None:
            p = self.pins[id] = Pin(id)
        return p

    def enabled(self):
        return self.pin(self.board.ENABLE_PIN).v == 1

    def range_index(self):
        k = 0
        b = 0
        for p in self.board.RANGE_PINS:
            k |= self.pin(p).v << b
            b += 1
        return k

    def current_nA(self):
        if not self.enabled() or self.dac is None:
            return 0
        r = self.range_index()
        gn, gd = self.board.SENSE_GAIN
        # I[nA] = dV[uV] * 1000 / (G R): with G and R carrying their ppm errors.
        dv = self.dac.vout_uV() - self.v_mid_uV - self.sense_offset_uV
        den = gn * self.board.SHUNTS_OHM[r] * (1000000 + self.shunt_err_ppm[r]) \
            * (1000000 + self.gain_err_ppm) // 1000000
        return dv * 1000 * gd * 1000000 // den

    def cell_uV(self):
        return self.ocv_uV + self.current_nA() * self.r_cell_ohm // 1000

    def node_uV(self, name):
        if name == "mid":
            v = self.v_mid_uV
        elif name == "i":
            v = self.dac.vout_uV() if (self.enabled() and self.dac is not None) \
                else self.v_mid_uV + self.sense_offset_uV
        elif name == "v":
            n, d = self.board.V_DIV
            v = self.cell_uV() * d * (1000000 + self.v_div_err_ppm) // (n * 1000000)
        else:
            v = 0
        if self.noise_uV:
            # A 31-bit LCG: deterministic, integer-only noise in +-noise_uV.
            self._seed = (self._seed * 1103515245 + 12345) & 0x7FFFFFFF
            v += (self._seed >> 8) % (2 * self.noise_uV + 1) - self.noise_uV
        return v

    def ain(self, k):
        return self.node_uV(self.ads_nodes[k])


class Machine:
    """A `machine` module stand-in wired to a Bench, for a board file's make_frontend().

    port "rp2": ADC has read_u16 only (12-bit, scaled to 16 bits as MicroPython does),
    PWM, no DAC. port "esp32": ADC has read_uv and atten, DAC is 8-bit.
    """

    def __init__(self, bench, port, i2c_devices=(), adc_vref_uV=3000000):
        self.bench = bench
        self.port = port
        self.i2c_bus = I2CBus(*i2c_devices)
        self.adcs = []
        self.pwms = []
        machine = self

        class _Pin(Pin):
            def __init__(self, id, mode=-1, pull=-1, value=None):
                p = bench.pin(id)
                self.__dict__ = p.__dict__  # every Pin(id) is the same pin on the bench
                if value is not None:
                    p.v = 1 if value else 0
                p.mode = mode

        class _I2C:
            def __new__(cls, id, scl=None, sda=None, freq=400000):
                machine.i2c_args = (id, scl.id if scl else None, sda.id if sda else None, freq)
                return machine.i2c_bus

        class _PWM:
            def __init__(self, pin, freq=0, duty_u16=0):
                self.pin = pin
                self.f = freq
                self.duty = duty_u16
                self.vdd_uV = 3300000
                machine.pwms.append(self)
                bench.dac = self

            def freq(self, f=None):
                if f is None:
                    return self.f
                self.f = f

            def duty_u16(self, d=None):
                if d is None:
                    return self.duty
                self.duty = d

            def vout_uV(self):
                return self.vdd_uV * self.duty // 65536

        if port == "rp2":
            class _ADC:
                ATTN_11DB = 3

                def __init__(self, pin):
                    self.id = pin.id if isinstance(pin, Pin) else pin
                    machine.adcs.append(self)

                def read_u16(self):
                    v = bench.node_uV(bench.adc_nodes[self.id])
                    r = v * 4096 // adc_vref_uV
                    r = 0 if r < 0 else (4095 if r > 4095 else r)
                    return (r << 4) | (r >> 8)

            self.DAC = None
        else:
            class _ADC:
                ATTN_0DB = 0
                ATTN_11DB = 3

                def __init__(self, pin, atten=None):
                    self.id = pin.id if isinstance(pin, Pin) else pin
                    self.attn = atten
                    machine.adcs.append(self)

                def atten(self, a):
                    self.attn = a

                def read_uv(self):
                    if self.attn != 3:
                        raise AssertionError("ESP32 ADC read without 11 dB attenuation")
                    v = bench.node_uV(bench.adc_nodes[self.id])
                    return 0 if v < 0 else (3100000 if v > 3100000 else v)

                def read_u16(self):
                    return self.read_uv() * 65535 // 3100000

            class _DAC:
                def __init__(self, pin):
                    self.pin = pin
                    self.code = 0
                    self.vdd_uV = 3300000
                    bench.dac = self

                def write(self, v):
                    if not 0 <= v <= 255:
                        raise ValueError("DAC value out of range")
                    self.code = v

                def vout_uV(self):
                    return self.vdd_uV * self.code // 256

            self.DAC = _DAC
        class _WDT:
            def __init__(self, id=0, timeout=5000):
                self.timeout = timeout
                self.feeds = 0
                machine.wdt = self

            def feed(self):
                self.feeds += 1

        self.PWRON_RESET = 1
        self.WDT_RESET = 3
        self.cause = 1
        self.wdt = None
        self.WDT = _WDT
        self.Pin = _Pin
        self.I2C = _I2C
        self.PWM = _PWM
        self.ADC = _ADC

    def reset_cause(self):
        return self.cause
