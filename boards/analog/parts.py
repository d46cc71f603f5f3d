"""The parts of the analog channel: pins, footprint, manufacturer part number, and the SPICE
model each one stands for in simulation.

Every model figure cites the datasheet line it comes from. Where a datasheet gives a typical
and a worst-case value, the model takes the worst case (a stand-in is at least as bad as the
part). Pin numbers follow the datasheets' pin-configuration tables for the named package;
check them again against the datasheet revision you order before layout.

A template is data: `Tpl(name, prefix, pins, footprint, mfr, mpn, description, kind,
model)`. `pins` is a list of (number, name, type) with SKiDL's pin types as strings.
`kind` names the SPICE emitter in `spice_lines()`; `model` holds its parameters.
"""
import math

PASSIVE, INPUT, OUTPUT, BIDIR = "PASSIVE", "INPUT", "OUTPUT", "BIDIR"
PWRIN, PWROUT, OPENCOLL, NOCONNECT = "PWRIN", "PWROUT", "OPENCOLL", "NOCONNECT"


class Tpl:
    def __init__(self, name, prefix, pins, footprint, mfr, mpn, description, kind, model=None):
        self.name = name
        self.prefix = prefix
        self.pins = pins
        self.footprint = footprint
        self.mfr = mfr
        self.mpn = mpn
        self.description = description
        self.kind = kind
        self.model = dict(model or {})

    def pin_names(self):
        return [p[1] for p in self.pins]


# ---- Passives ------------------------------------------------------------------------

def _r_code(ohm):
    """Yageo's value code: 10 -> 10R, 4700 -> 4K7, 12400 -> 12K4, 1e6 -> 1M."""
    for div, letter in ((1e6, "M"), (1e3, "K"), (1, "R")):
        if ohm >= div:
            v = ohm / div
            s = ("%.3f" % v).rstrip("0").rstrip(".")
            return s.replace(".", letter) if "." in s else s + letter
    raise ValueError("resistor value %r" % ohm)


def fmt_ohm(ohm):
    return _r_code(ohm).replace("R", "") + ("" if ohm >= 1000 else " Ohm")


def resistor(ohm, precision=False):
    """A 0603 thin-film 0.1 % 25 ppm/K (Yageo RT) or thick-film 1 % (Yageo RC) resistor."""
    code = _r_code(ohm)
    if precision:
        mpn, desc = "RT0603BRD07%sL" % code, "0.1 % 25 ppm/K thin film 0603"
    else:
        mpn, desc = "RC0603FR-07%sL" % code, "1 % thick film 0603"
    t = Tpl("R", "R", [(1, "1", PASSIVE), (2, "2", PASSIVE)],
            "Resistor_SMD:R_0603_1608Metric", "Yageo", mpn, desc, "R", {"ohm": ohm})
    return t


_CAPS = {
    100e-12: ("GRM1885C1H101JA01D", "Capacitor_SMD:C_0603_1608Metric", "100 pF 50 V C0G 0603"),
    # farad: (mpn, footprint, description)
    10e-12: ("GRM1885C1H100JA01D", "Capacitor_SMD:C_0603_1608Metric", "10 pF 50 V C0G 0603"),
    10e-9: ("GRM1885C1H103JA01D", "Capacitor_SMD:C_0603_1608Metric", "10 nF 50 V C0G 0603"),
    100e-9: ("GRM188R71H104KA93D", "Capacitor_SMD:C_0603_1608Metric", "100 nF 50 V X7R 0603"),
    1e-6: ("GRM188R71E105KA12D", "Capacitor_SMD:C_0603_1608Metric", "1 uF 25 V X7R 0603"),
    10e-6: ("GRM31CR71E106KA12L", "Capacitor_SMD:C_1206_3216Metric", "10 uF 25 V X7R 1206"),
}


def capacitor(farad):
    mpn, fp, desc = _CAPS[farad]
    return Tpl("C", "C", [(1, "1", PASSIVE), (2, "2", PASSIVE)], fp, "Murata", mpn, desc,
               "C", {"farad": farad})


def fmt_farad(f):
    for div, unit in ((1e-6, "uF"), (1e-9, "nF"), (1e-12, "pF")):
        if f >= div * 0.999:
            return ("%g" % (f / div)) + " " + unit
    return "%g F" % f


# ---- Active parts ----------------------------------------------------------------------

# OPA2197 (TI SBOS737): 4.5..36 V, rail-to-rail in and out. Electrical characteristics,
# VS = +-18 V: GBW 10 MHz, slew 20 V/us, offset +-100 uV max (D package), input bias
# +-20 pA max, open-loop gain 120 dB min (here 1e6), output short-circuit current +-65 mA;
# swing from the rails at 10 mA load: 500 mV (modelled: 0.5 V, plus Rout 10 Ohm).
OPA2197 = Tpl(
    "OPA2197", "U",
    [(1, "OUTA", OUTPUT), (2, "-INA", INPUT), (3, "+INA", INPUT), (4, "V-", PWRIN),
     (5, "+INB", INPUT), (6, "-INB", INPUT), (7, "OUTB", OUTPUT), (8, "V+", PWRIN)],
    "Package_SO:SOIC-8_3.9x4.9mm_P1.27mm", "Texas Instruments", "OPA2197IDR",
    "dual 36 V rail-to-rail op-amp, 10 MHz, 20 V/us", "opamp2",
    {"gbw": 10e6, "sr": 20e6, "vos": 100e-6, "ib": 20e-12, "a0": 1e6, "swing": 0.5,
     "rout": 10.0, "ilim": 65e-3})

# INA826 (TI SBOS562): 3..36 V single supply; G = 1 + 49.4 kOhm / RG; bandwidth at G = 10:
# 200 kHz (modelled at G = 5 with the G = 10 figure: slower, the worse case for the loop);
# slew 1 V/us; offset (RTI) 150 uV max; input bias 35 nA max; output swing 100 mV from the
# rails (modelled 150 mV).
INA826 = Tpl(
    "INA826", "U",
    [(1, "-IN", INPUT), (2, "RG1", PASSIVE), (3, "RG2", PASSIVE), (4, "+IN", INPUT),
     (5, "-VS", PWRIN), (6, "REF", INPUT), (7, "VOUT", OUTPUT), (8, "+VS", PWRIN)],
    "Package_SO:SOIC-8_3.9x4.9mm_P1.27mm", "Texas Instruments", "INA826AIDR",
    "instrumentation amplifier, 36 V, rail-to-rail out", "inamp",
    {"bw": 200e3, "sr": 1e6, "vos": 150e-6, "ib": 35e-9, "swing": 0.15, "rg_ohm": 49400.0})

# ADG1409 (Analog Devices): dual 4:1 mux, 12 V single supply table: on-resistance 9.5 Ohm
# typ / 12 Ohm max at 25 C (modelled 12 Ohm), t_TRANSITION 170 ns max, t_OFF(EN) 140 ns,
# break-before-make delay t_BBM 10 ns min (modelled: on after 180 ns, off after 120 ns).
ADG1409 = Tpl(
    "ADG1409", "U",
    [(1, "A0", INPUT), (2, "EN", INPUT), (3, "VSS", PWRIN), (4, "S1A", PASSIVE),
     (5, "S2A", PASSIVE), (6, "S3A", PASSIVE), (7, "S4A", PASSIVE), (8, "DA", PASSIVE),
     (9, "DB", PASSIVE), (10, "S4B", PASSIVE), (11, "S3B", PASSIVE), (12, "S2B", PASSIVE),
     (13, "S1B", PASSIVE), (14, "VDD", PWRIN), (15, "GND", PWRIN), (16, "A1", INPUT)],
    "Package_SO:TSSOP-16_4.4x5mm_P0.65mm", "Analog Devices", "ADG1409YRUZ",
    "dual 4:1 analog multiplexer, break-before-make", "mux4x2",
    {"ron": 12.0, "t_on": 180e-9, "t_off": 120e-9, "v_logic": 1.4})

# ADG1419 (Analog Devices): SPDT, 12 V single supply: on-resistance 2.1 Ohm typ / 3.1 max
# (modelled 3.1), t_ON 155 ns max, t_OFF 130 ns max, t_BBM 10 ns min; IN low: S2 to D.
ADG1419 = Tpl(
    "ADG1419", "U",
    [(1, "S1", PASSIVE), (2, "VSS", PWRIN), (3, "GND", PWRIN), (4, "IN", INPUT),
     (5, "VDD", PWRIN), (6, "S2", PASSIVE), (7, "D", PASSIVE), (8, "NC", NOCONNECT)],
    "Package_SO:MSOP-8_3x3mm_P0.65mm", "Analog Devices", "ADG1419BRMZ",
    "SPDT analog switch, break-before-make", "spdt",
    {"ron": 3.1, "t_on": 155e-9, "t_off": 130e-9, "v_logic": 1.4})

# Omron G6K-2F-Y DC5: DPDT signal relay. Coil 5 V, rated current 28.1 mA (178 Ohm);
# must-operate 75 % of rated voltage max, must-release 10 % min; operate time 3 ms max,
# release time 3 ms max (without a coil diode: with the 1N4148W across the coil the release
# is modelled at twice that, 6 ms); contact resistance 100 mOhm max; insulation resistance
# 1000 MOhm min (the open contact: modelled as exactly 1000 MOhm).
G6K = Tpl(
    "G6K-2F-Y", "K",
    [(1, "COIL+", PASSIVE), (2, "COM1", PASSIVE), (3, "NC1", PASSIVE), (4, "NO1", PASSIVE),
     (5, "NO2", PASSIVE), (6, "NC2", PASSIVE), (7, "COM2", PASSIVE), (8, "COIL-", PASSIVE)],
    "Relay_SMD:Relay_DPDT_Omron_G6K-2F-Y", "Omron", "G6K-2F-Y DC5",
    "DPDT signal relay, 5 V coil, normally open contacts used", "relay2",
    {"coil_ohm": 178.0, "v_rated": 5.0, "operate": 0.75, "release": 0.10,
     "t_operate": 3e-3, "t_release": 6e-3, "r_contact": 0.1, "r_insulation": 1e9})

# TLV1704 (TI SBOS589): quad open-collector comparator, 2.2..36 V, inputs to the negative
# rail; propagation delay 460 ns typ (modelled 1 us); offset 2.5 mV max (modelled 2.5 mV
# against the trip).
TLV1704 = Tpl(
    "TLV1704", "U",
    [(1, "OUT2", OPENCOLL), (2, "OUT1", OPENCOLL), (3, "V+", PWRIN), (4, "IN1-", INPUT),
     (5, "IN1+", INPUT), (6, "IN2-", INPUT), (7, "IN2+", INPUT), (8, "IN3-", INPUT),
     (9, "IN3+", INPUT), (10, "IN4-", INPUT), (11, "IN4+", INPUT), (12, "GND", PWRIN),
     (13, "OUT4", OPENCOLL), (14, "OUT3", OPENCOLL)],
    "Package_SO:TSSOP-14_4.4x5mm_P0.65mm", "Texas Instruments", "TLV1704AIPWR",
    "quad comparator, open collector, 36 V", "cmp4",
    {"td": 1e-6, "vos": 2.5e-3, "ron": 50.0})

# REF3430 (TI SBOS707): 3.000 V, 0.05 % initial, 6 ppm/K max; input up to 12 V; +-10 mA.
REF3430 = Tpl(
    "REF3430", "U",
    [(1, "GND_F", PWRIN), (2, "GND_S", PWRIN), (3, "EN", INPUT), (4, "IN", PWRIN),
     (5, "OUT_S", INPUT), (6, "OUT_F", PWROUT)],
    "Package_TO_SOT_SMD:SOT-23-6", "Texas Instruments", "REF3430IDBVR",
    "3.000 V voltage reference, 6 ppm/K", "vref", {"v": 3.0, "dropout": 0.1, "rout": 0.05})

# L78M09 (ST): 9 V 500 mA regulator, dropout 2 V.
L78M09 = Tpl(
    "L78M09", "U", [(1, "IN", PWRIN), (2, "GND", PWRIN), (3, "OUT", PWROUT)],
    "Package_TO_SOT_SMD:TO-252-2", "STMicroelectronics", "L78M09ABDT-TR",
    "9 V linear regulator (the analog rail VA)", "ldo", {"v": 9.0, "dropout": 2.0})

# MCP4725 (Microchip DS22039): VOUT = VDD * code / 4096 (VDD is the reference); output
# slew 0.55 V/us, settling 6 us (modelled as a 2 us first-order lag).
MCP4725 = Tpl(
    "MCP4725", "U",
    [(1, "VOUT", OUTPUT), (2, "VSS", PWRIN), (3, "VDD", PWRIN), (4, "SDA", BIDIR),
     (5, "SCL", INPUT), (6, "A0", INPUT)],
    "Package_TO_SOT_SMD:SOT-23-6", "Microchip", "MCP4725A0T-E/CH",
    "12-bit I2C DAC, VDD is its reference, EEPROM power-up code", "dac",
    {"bits": 12, "tau": 2e-6})

# ADS1115 (TI SBAS444): 16-bit I2C ADC; not simulated (inputs at pA-nA).
ADS1115 = Tpl(
    "ADS1115", "U",
    [(1, "ADDR", INPUT), (2, "ALERT", OUTPUT), (3, "GND", PWRIN), (4, "AIN0", INPUT),
     (5, "AIN1", INPUT), (6, "AIN2", INPUT), (7, "AIN3", INPUT), (8, "VDD", PWRIN),
     (9, "SDA", BIDIR), (10, "SCL", INPUT)],
    "Package_SO:VSSOP-10_3x3mm_P0.5mm", "Texas Instruments", "ADS1115IDGSR",
    "16-bit I2C ADC, 4 inputs, PGA", "none")

# TMP117 (TI SBOS886): +-0.1 C digital temperature sensor, I2C; ADD0 to V+ -> 0x49.
TMP117 = Tpl(
    "TMP117", "U",
    [(1, "SCL", INPUT), (2, "GND", PWRIN), (3, "ALERT", OUTPUT), (4, "ADD0", INPUT),
     (5, "V+", PWRIN), (6, "SDA", BIDIR)],
    "Package_SON:WSON-6-1EP_2x2mm_P0.65mm_EP1x1.6mm", "Texas Instruments", "TMP117AIDRVR",
    "cell temperature, +-0.1 C, I2C 0x49", "none")

AO3400A = Tpl(
    "AO3400A", "Q", [(1, "G", INPUT), (2, "S", PASSIVE), (3, "D", PASSIVE)],
    "Package_TO_SOT_SMD:SOT-23", "Alpha & Omega", "AO3400A",
    "N-MOSFET, logic level (VGS(th) 0.65..1.45 V): relay coil driver", "nmos",
    {"vto": 1.45, "kp": 2.0})

# 1N4148W (coil flyback) and BAT54C (two Schottky diodes, common cathode: the fault line
# pulls the relay and enable gates low).
D1N4148W = Tpl(
    "1N4148W", "D", [(1, "K", PASSIVE), (2, "A", PASSIVE)],
    "Diode_SMD:D_SOD-123", "Diodes Inc.", "1N4148W-7-F", "switching diode (coil flyback)",
    "diode", {"is": 2.5e-9, "n": 1.75})
BAT54C = Tpl(
    "BAT54C", "D", [(1, "A1", PASSIVE), (2, "A2", PASSIVE), (3, "K", PASSIVE)],
    "Package_TO_SOT_SMD:SOT-23", "Nexperia", "BAT54C,215",
    "dual Schottky, common cathode", "diode2cc", {"is": 2e-7, "n": 1.05})
SS14 = Tpl(
    "SS14", "D", [(1, "K", PASSIVE), (2, "A", PASSIVE)],
    "Diode_SMD:D_SMA", "Vishay", "SS14-E3/61T", "Schottky 1 A (reverse-polarity guard)",
    "diode", {"is": 1e-6, "n": 1.1})

# Connectors.
HDR_2x8 = Tpl(
    "MCU header", "J", [(i, str(i), PASSIVE) for i in range(1, 17)],
    "Connector_PinHeader_2.54mm:PinHeader_2x08_P2.54mm_Vertical", "Wurth Elektronik",
    "61301621121", "2x8 pin header to the Pico / ESP32 DevKit", "mcu")
BARREL = Tpl(
    "12 V in", "J", [(1, "+", PASSIVE), (2, "-", PASSIVE), (3, "SW", NOCONNECT)],
    "Connector_BarrelJack:BarrelJack_CUI_PJ-102AH_Horizontal", "CUI Devices", "PJ-102AH",
    "DC barrel jack, 2.1 mm, 12 V adapter", "vin", {"v": 12.0})
TERM_4 = Tpl(
    "cell holder", "J", [(1, "F+", PASSIVE), (2, "S+", PASSIVE), (3, "S-", PASSIVE),
                         (4, "F-", PASSIVE)],
    "TerminalBlock_Phoenix:TerminalBlock_Phoenix_MKDS-1,5-4-5.08_1x04_P5.08mm_Horizontal",
    "Phoenix Contact", "1935187", "4-wire coin-cell holder leads: force+, sense+, sense-, force-",
    "cell")
HDR_1x4 = Tpl(
    "temperature", "J", [(i, str(i), PASSIVE) for i in range(1, 5)],
    "Connector_PinHeader_2.54mm:PinHeader_1x04_P2.54mm_Vertical", "Wurth Elektronik",
    "61300411121", "to the TMP117 on the cell holder: 3V3, GND, SDA, SCL", "none")


# ---- SPICE -----------------------------------------------------------------------------

MODELS = """\
.model desd d is=1e-14 n=1.5 rs=100 cjo=2p
.model dclamp d is=1e-12 n=0.05
.model swa sw vt=0.5 vh=0.1 ron={ron_a} roff=1e10
.model d1n4148 d is=2.5e-9 n=1.75 rs=0.6
.model dbat54 d is=2e-7 n=1.05 rs=1
.model dss14 d is=1e-6 n=1.1 rs=0.05
"""


def _delay(name, a, b, td):
    """Node b = node a delayed by td (a matched lossless line)."""
    return ["B%s_s %s_s 0 V=v(%s)" % (name, name, a),
            "R%s_s %s_s %s_i 50" % (name, name, name),
            "T%s %s_i 0 %s_t 0 Z0=50 TD=%g" % (name, name, name, td),
            "R%s_t %s_t 0 50" % (name, name),
            "B%s_o %s 0 V=2*v(%s_t)" % (name, b, name)]


def _smooth_gt(a, b, w="0.01"):
    return "(0.5+0.5*tanh((%s-(%s))/%s))" % (a, b, w)


def spice_lines(part, node, opts):
    """SPICE lines for one part. node(pin_name) gives the node of a pin's net."""
    t = part.tpl
    m = dict(t.model)
    m.update(part.params)
    r = part.ref
    k = t.kind
    if k == "R":
        return ["R%s %s %s %g" % (r, node("1"), node("2"), m["ohm"])]
    if k == "C":
        return ["C%s %s %s %g" % (r, node("1"), node("2"), m["farad"])]
    if k == "opamp2":
        out = []
        for s in "AB":
            out.append("X%s%s %s %s %s %s %s opamp" % (
                r, s, node("+IN" + s), node("-IN" + s), node("V+"), node("V-"), node("OUT" + s)))
        return out
    if k == "inamp":
        g = 1 + m["rg_ohm"] / part.rg_ohm
        # RG sets the gain (in g); its pins get a 1 TOhm path so the matrix is not singular.
        return ["X%s %s %s %s %s %s %s inamp g=%g" % (
            r, node("+IN"), node("-IN"), node("REF"), node("+VS"), node("-VS"), node("VOUT"), g),
                "R%s_rg1 %s 0 1e12" % (r, node("RG1")), "R%s_rg2 %s 0 1e12" % (r, node("RG2"))]
    if k == "mux4x2":
        vl = m["v_logic"]
        out = ["B%s_a0 %s_a0 0 V=%s" % (r, r, _smooth_gt("v(%s)" % node("A0"), vl, "0.05")),
               "B%s_a1 %s_a1 0 V=%s" % (r, r, _smooth_gt("v(%s)" % node("A1"), vl, "0.05")),
               "B%s_en %s_en 0 V=%s*%s" % (r, r, _smooth_gt("v(%s)" % node("EN"), vl, "0.05"),
                                         _smooth_gt("v(%s)" % node("VDD"), 4.5, "0.1"))]
        for ch in range(4):
            b0, b1 = ch & 1, ch >> 1
            a0 = "v(%s_a0)" % r if b0 else "(1-v(%s_a0))" % r
            a1 = "v(%s_a1)" % r if b1 else "(1-v(%s_a1))" % r
            sel = "%s_s%d" % (r, ch)
            out.append("B%s %s 0 V=%s*%s*v(%s_en)" % (sel, sel, a0, a1, r))
            out += _delay(sel + "on", sel, sel + "_on", m["t_on"])
            out += _delay(sel + "of", sel, sel + "_of", m["t_off"])
            out.append("B%sc %sc 0 V=min(v(%s_on),v(%s_of))" % (sel, sel, sel, sel))
            for sec in "AB":
                out.append("S%s%s %s %s %sc 0 swmux%s" % (
                    sel, sec, node("S%d%s" % (ch + 1, sec)), node("D" + sec), sel, r))
        out.append(".model swmux%s sw vt=0.5 vh=0.1 ron=%g roff=1e10" % (r, m["ron"]))
        for p in ("DA", "DB") + tuple("S%d%s" % (c, s) for c in range(1, 5) for s in "AB"):
            out += ["D%s_%sh %s %s desd" % (r, p, node(p), node("VDD")),
                    "D%s_%sl %s %s desd" % (r, p, node("VSS"), node(p))]
        return out
    if k == "spdt":
        vl = m["v_logic"]
        c = "%s_c" % r
        out = ["B%s %s 0 V=%s*%s" % (c, c, _smooth_gt("v(%s)" % node("IN"), vl, "0.05"),
                                     _smooth_gt("v(%s)" % node("VDD"), 4.5, "0.1"))]
        out += _delay(c + "on", c, c + "_on", m["t_on"])
        out += _delay(c + "of", c, c + "_of", m["t_off"])
        out += ["B%s1 %s1 0 V=min(v(%s_on),v(%s_of))" % (c, c, c, c),
                "B%s2 %s2 0 V=min(1-v(%s_on),1-v(%s_of))*%s" % (
                    c, c, c, c, _smooth_gt("v(%s)" % node("VDD"), 4.5, "0.1")),
                "S%s1 %s %s %s1 0 swsp%s" % (r, node("D"), node("S1"), c, r),
                "S%s2 %s %s %s2 0 swsp%s" % (r, node("D"), node("S2"), c, r),
                ".model swsp%s sw vt=0.5 vh=0.1 ron=%g roff=1e10" % (r, m["ron"])]
        for p in ("D", "S1", "S2"):
            out += ["D%s_%sh %s %s desd" % (r, p, node(p), node("VDD")),
                    "D%s_%sl %s %s desd" % (r, p, node("VSS"), node(p))]
        return out
    if k == "relay2":
        c = "%s_c" % r
        rc = m["coil_ohm"]
        out = ["R%s_coil %s %s %g" % (r, node("COIL+"), node("COIL-"), rc),
               "B%s %s 0 V=(v(%s)-v(%s))/%g" % (c, c, node("COIL+"), node("COIL-"), m["v_rated"])]
        out += _delay(c + "op", c, c + "_op", m["t_operate"])
        out += _delay(c + "rl", c, c + "_rl", m["t_release"])
        # Closes t_operate after the coil passes must-operate, opens t_release after it
        # falls below must-release: the later of the two delayed copies decides.
        vt = (m["operate"] + m["release"]) / 2
        vh = (m["operate"] - m["release"]) / 2
        out += ["B%sk %sk 0 V=max(v(%s_op), v(%s_rl))" % (c, c, c, c),
                ".model swk%s sw vt=%g vh=%g ron=%g roff=%g" % (
                    r, vt, vh, m["r_contact"], m["r_insulation"])]
        for i in "12":
            out.append("S%s%s %s %s %sk 0 swk%s" % (r, i, node("COM" + i), node("NO" + i), c, r))
            out.append("R%s_nc%s %s %s %g" % (r, i, node("COM" + i), node("NC" + i),
                                             m["r_insulation"]))
        return out
    if k == "cmp4":
        out = []
        for i in "1234":
            c = "%s_%s" % (r, i)
            # Open collector: pulls OUT low while IN- > IN+ (minus the offset, against the
            # trip), only when powered.
            out.append("B%s %s 0 V=%s*%s" % (
                c, c, _smooth_gt("v(%s)" % node("IN%s-" % i), "v(%s)+%g" % (node("IN%s+" % i), m["vos"]), "0.002"),
                _smooth_gt("v(%s)" % node("V+"), 2.0, "0.1")))
            # The propagation delay as an RC lag (it reaches the switch's threshold, 0.5,
            # after td): smoother for the solver than a transport delay.
            out += ["R%s_r %s %s_d 1k" % (c, c, c),
                    "C%s_r %s_d 0 %g" % (c, c, m["td"] / (1000 * math.log(2)))]
            out.append("S%s %s %s %s_d 0 swc%s" % (c, node("OUT" + i), node("GND"), c, r))
            for p in ("IN%s-" % i, "IN%s+" % i):
                out += ["D%s_%sh %s %s desd" % (r, p.replace("+", "p").replace("-", "n"),
                                                 node(p), node("V+")),
                        "D%s_%sl %s %s desd" % (r, p.replace("+", "p").replace("-", "n"),
                                                 node("GND"), node(p))]
        out.append(".model swc%s sw vt=0.5 vh=0.1 ron=%g roff=1e10" % (r, m["ron"]))
        return out
    if k == "vref":
        scale = opts.get("ref_scale", 1.0)
        return ["B%s %s_o 0 V=min(%g, max(v(%s)-%g, 0))" % (
                    r, r, m["v"] * scale, node("IN"), m["dropout"]),
                "R%s_o %s_o %s %g" % (r, r, node("OUT_F"), m["rout"])]
    if k == "ldo":
        return ["B%s %s_o 0 V=min(%g, max(v(%s)-%g, 0))" % (
                    r, r, m["v"], node("IN"), m["dropout"]),
                "R%s_o %s_o %s 0.1" % (r, r, node("OUT"))]
    if k == "dac":
        tau = m["tau"]
        return ["B%s %s_d 0 V=v(%s)*v(dac_code)/%d" % (r, r, node("VDD"), 1 << m["bits"]),
                "R%s_f %s_d %s_f 1k" % (r, r, r),
                "C%s_f %s_f 0 %g" % (r, r, tau / 1e3),
                "E%s %s_e 0 %s_f 0 1" % (r, r, r),
                "R%s_o %s_e %s 1" % (r, r, node("VOUT"))]
    if k == "nmos":
        return ["M%s %s %s %s %s nm%s" % (r, node("D"), node("G"), node("S"), node("S"), r),
                ".model nm%s nmos level=1 vto=%g kp=%g" % (r, m["vto"], m["kp"]),
                "D%s_b %s %s d1n4148" % (r, node("S"), node("D"))]
    if k == "diode":
        model = {"1N4148W": "d1n4148", "SS14": "dss14"}[t.name]
        return ["D%s %s %s %s" % (r, node("A"), node("K"), model)]
    if k == "diode2cc":
        return ["D%s_1 %s %s dbat54" % (r, node("A1"), node("K")),
                "D%s_2 %s %s dbat54" % (r, node("A2"), node("K"))]
    if k in ("none", "mcu", "vin", "cell"):
        return []  # the harness (boards.analog.spice) stands in for these
    raise ValueError("no SPICE emitter for kind %r (part %s)" % (k, r))


def subcircuits(opamp, inamp):
    """The op-amp and in-amp macromodels (.subckt text) from the templates' figures."""
    o = opamp.model
    gm = 1e-3
    c = gm / (2 * math.pi * o["gbw"])
    imax = o["sr"] * c
    ia = inamp.model
    gm2 = 1e-3
    c2 = gm2 / (2 * math.pi * ia["bw"])
    imax2 = ia["sr"] * c2
    return """\
* Op-amp macromodel: input offset and bias, one pole at GBW / A0 with a transconductance
* limited to slew x C (plus 1/1000 of it unlimited, so that Newton's method keeps a slope
* far from balance: 0.1 % more slew per volt of input), output clamped {sw} V inside the
* rails, current-limited output.
.subckt opamp inp inn vcc vee out
Dp1 inp vcc desd
Dp2 vee inp desd
Dn1 inn vcc desd
Dn2 vee inn desd
Do1 out vcc desd
Do2 vee out desd
Bpw pw 0 V=0.5+0.5*tanh((v(vcc)-v(vee)-3)/0.2)
Bib1 inp 0 I={ib}*v(pw)
Bib2 inn 0 I={ib}*v(pw)
Bgm 0 x I={imax}*tanh({gm}*(v(inp)-v(inn)+{vos})/{imax})+{gml}*(v(inp)-v(inn)+{vos})
Rx x 0 {rx}
Cx x 0 {cx}
Bhi hi 0 V=v(vcc)-{sw}
Blo lo 0 V=v(vee)+{sw}
Dch x hi dclamp
Dcl lo x dclamp
Bo o2 0 V=v(x)*v(pw)
Bout o2 out I={ilim}*tanh((v(o2)-v(out))/({rout}*{ilim}))
.ends opamp
* Instrumentation amplifier: out = REF + G (v+ - v- + Vos) through one pole at the
* bandwidth, slew-limited, clamped {sw2} V inside the rails; bias drawn by both inputs.
.subckt inamp inp inn ref vcc vee out params: g=5
Dp1 inp vcc desd
Dp2 vee inp desd
Dn1 inn vcc desd
Dn2 vee inn desd
Bpw pw 0 V=0.5+0.5*tanh((v(vcc)-v(vee)-3)/0.2)
Bib1 inp 0 I={ib2}*v(pw)
Bib2 inn 0 I={ib2}*v(pw)
Bd d 0 V={{g}}*(v(inp)-v(inn)+{vos2})
Bgm 0 x I={imax2}*tanh({gm2}*(v(d)-v(x))/{imax2})+{gml2}*(v(d)-v(x))
Cx x 0 {cx2}
Rx x 0 1e12
Bo o2 0 V=v(pw)*min(max(v(ref)+v(x), v(vee)+{sw2}), v(vcc)-{sw2})
Ro o2 out 1
.ends inamp
""".format(sw=o["swing"], ib=o["ib"], imax=imax, gm=gm, vos=o["vos"], rx=o["a0"] / gm, cx=c,
           ilim=o["ilim"], rout=o["rout"], ib2=ia["ib"], vos2=ia["vos"], imax2=imax2,
           gm2=gm2, cx2=c2, sw2=ia["swing"], gml=gm / 1000, gml2=gm2 / 1000)
