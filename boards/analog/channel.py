"""One channel of the analog front-end, described as parts and named nets.

This is the one description: the KiCad netlist and ERC (boards.analog.kicad), the BOM
(boards.analog.bom), the SPICE netlist (boards.analog.spice), the schematic drawing and
the figures in docs/hardware.md are all generated from `build()`.

The circuit (docs/hardware.md draws it; references as assigned in build order: U4 the
error amplifier and V_MID buffer, U5 the cell-voltage buffer, U6 the in-amp, U7 the range
mux, U8 the enable switch, U9 the comparators, K1 the relay, D3 the fault diodes):

  DAC (MCP4725, VDD = REF 3.000 V) -> V_SET -> differential integrator U4 A:
      V_OUT = (V_SET - V_SENSE) / (s R_I C_F)
  V_OUT -> mux U7 force section (DA) -> shunt Rk -> LOAD
  LOAD -> enable switch U8 (ADG1419): IN high: S1 = FORCE -> relay K1 pole 1 -> cell F+
                                      IN low:  S2 = V_CELL_BUF (the cell-voltage buffer's
                                      output: a dummy load at the cell's own voltage, so the
                                      loop stays closed while the output is off)
  in-amp U6: +IN = SENSE_P (shunt top through the mux sense section DB), -IN = LOAD,
             REF = V_MID  ->  V_SENSE = V_MID + G I R_k  -> U4 A (-IN) through R_I, C_F
  cell S+ -> relay K1 pole 2 -> CELL_SENSE_INT -> buffer U5 A -> V_CELL_BUF
          -> 100 k / 100 k to cell S- -> V_CELL_DIV (ADC, over-voltage comparator)
  REF (REF3430) -> 14 k / 10 k -> U4 B buffer -> V_MID = REF x 10/24 = 1.250 V (zero
      current, the in-amp's REF)
  U9 (TLV1704): OV (V_CELL_DIV > TH_OV), OC+ (V_SENSE > TH_OCP), OC- (V_SENSE < TH_OCN)
     pull FAULT_N low; the fourth comparator latches FAULT_N low (until FAULT_CLR);
     FAULT_N pulls the relay driver's gate and the enable switch's IN low through D3.

The cell's negative force lead goes to GND at the holder connector; its sense lead is the
divider's and the ADC's reference (AIN3).

`build(**options)` takes the hazardous alternatives as options, for the control cases of the
tests: `shared_ref=False` powers the DAC from 3V3 (today's design), `dummy_load=False`
leaves the enable switch's S2 open (the error amplifier winds up while off), `relay=False`
wires the cell straight to the output (no disconnect), `cutoff=False` leaves the comparator
out of the fault line.
"""
from . import parts as P

RANGES_NA = (20000, 200000, 2000000, 20000000)
SHUNTS_OHM = (10000.0, 1000.0, 100.0, 10.0)
RG_OHM = 12400.0              # INA826: G = 1 + 49.4 k / 12.4 k = 4.984
R_INT_OHM = 10000.0           # the error integrator: R_I, C_F
C_INT_F = 10e-9
V_MID_R = (14000.0, 10000.0)  # REF -> V_MID_DIV -> GND: 3.000 V x 10 / 24 = 1.250 V
OV_R = (6980.0, 23200.0)      # REF -> TH_OV -> GND
OC_R = (6980.0, 21000.0, 2000.0)  # REF -> TH_OCP -> TH_OCN -> GND: V_MID +- 1.05 FS
CELL_DIV_R = (100000.0, 100000.0)  # V_CELL_BUF -> V_CELL_DIV -> CELL_SN

CELL_WINDOW_V = (2.0, 4.5)    # compliance: the voltammetry sweeps' window (FACTS: Other
                              # electrical tests in the paper; cycling is 2.6 .. 4.1 V)
LEAD_OHM_MAX = 0.1            # each force lead of the holder wiring (budget)

# The MCU header: pin -> net. Boards map these to GPIOs (boards/pico.py, esp32.py).
J1_PINS = {1: "V3V3", 2: "GND", 3: "VBUS", 4: "GND", 5: "SDA", 6: "SCL", 7: "RANGE0",
           8: "RANGE1", 9: "EN_MCU", 10: "RELAY_EN", 11: "FAULT_N", 12: "FAULT_CLR",
           13: "V_SENSE", 14: "V_MID", 15: "V_CELL_DIV", 16: "REF"}


class Part:
    def __init__(self, ref, tpl, conn, value, role, params=None):
        missing = set(tpl.pin_names()) - set(conn)
        extra = set(conn) - set(tpl.pin_names())
        if missing or extra:
            raise ValueError("%s (%s): pins not wired %s, unknown pins %s"
                             % (ref, tpl.name, sorted(missing), sorted(extra)))
        self.ref = ref
        self.tpl = tpl
        self.conn = conn
        self.value = value
        self.role = role
        self.params = dict(params or {})

    def net(self, pin):
        return self.conn[pin]


class Design:
    """Parts with their pins' nets. A net named "NC" is a no-connect (one per pin)."""

    def __init__(self, options):
        self.parts = []
        self.options = options
        self._count = {}

    def add(self, tpl, conn, value, role, params=None):
        n = self._count.get(tpl.prefix, 0) + 1
        self._count[tpl.prefix] = n
        p = Part("%s%d" % (tpl.prefix, n), tpl, conn, value, role, params)
        self.parts.append(p)
        return p

    def role(self, role):
        for p in self.parts:
            if p.role == role:
                return p
        raise KeyError("no part with role %r" % role)

    def nets(self):
        out = {}
        for p in self.parts:
            for pin, net in p.conn.items():
                if net != "NC":
                    out.setdefault(net, []).append((p.ref, pin))
        return out

    # Figures that follow from the values (docs/hardware.md, the board files, the tests).
    def sense_gain(self):
        return 1 + self.role("inamp").tpl.model["rg_ohm"] / self.role("rg").params["ohm"]

    def v_mid_ratio(self):
        a, b = V_MID_R
        return b / (a + b)

    def ov_trip_V(self, v_ref=3.0):
        a, b = OV_R
        c, d = CELL_DIV_R
        return v_ref * b / (a + b) * (c + d) / d

    def compliance(self):
        """Output-stage voltages: (needed at the top, available, needed at the bottom,
        available), V. Needed: the cell window's ends plus or minus the largest drop of the
        force path at full scale (shunt + mux + enable switch + relay contact + two leads)."""
        mux = self.role("mux").tpl.model["ron"]
        sw = self.role("enable").tpl.model["ron"]
        rel = self.role("relay").tpl.model["r_contact"] if self.options["relay"] else 0.0
        drop = max(fs * 1e-9 * (r + mux + sw + rel + 2 * LEAD_OHM_MAX)
                   for fs, r in zip(RANGES_NA, SHUNTS_OHM))
        amp = self.role("error_amp").tpl.model
        va = self.role("ldo").tpl.model["v"]
        return (CELL_WINDOW_V[1] + drop, va - amp["swing"], CELL_WINDOW_V[0] - drop,
                amp["swing"])

    def sense_fs_V(self):
        """V_SENSE - V_MID at full scale: G x 0.2 V (every shunt drops 0.2 V at full scale)."""
        return self.sense_gain() * RANGES_NA[0] * 1e-9 * SHUNTS_OHM[0]

    def oc_trip_fraction(self, v_ref=3.0):
        """The over-current trips (source, sink) as fractions of full scale."""
        a, b, c = OC_R
        tot = a + b + c
        v_mid = v_ref * self.v_mid_ratio()
        fs = self.sense_fs_V()
        return (v_ref * (b + c) / tot - v_mid) / fs, (v_ref * c / tot - v_mid) / fs


def build(shared_ref=True, dummy_load=True, relay=True, cutoff=True, c_int_f=C_INT_F):
    d = Design({"shared_ref": shared_ref, "dummy_load": dummy_load, "relay": relay,
                "cutoff": cutoff, "c_int_f": c_int_f})
    R = P.resistor
    C = P.capacitor

    def res(a, b, ohm, role, precision=False):
        return d.add(R(ohm, precision), {"1": a, "2": b}, P.fmt_ohm(ohm), role, {"ohm": ohm})

    def cap(a, b, farad, role):
        return d.add(C(farad), {"1": a, "2": b}, P.fmt_farad(farad), role, {"farad": farad})

    # ---- Power: 12 V adapter -> reverse guard -> 9 V analog rail VA ----------------------
    d.add(P.BARREL, {"+": "VIN_RAW", "-": "GND", "SW": "NC"}, "12 V", "jack")
    d.add(P.SS14, {"A": "VIN_RAW", "K": "VIN"}, "SS14", "guard")
    d.add(P.L78M09, {"IN": "VIN", "GND": "GND", "OUT": "VA"}, "9 V", "ldo")
    cap("VIN", "GND", 10e-6, "c_vin")
    cap("VA", "GND", 10e-6, "c_va")

    # ---- Reference: one 3.000 V for the DAC, V_MID and the comparator thresholds ---------
    d.add(P.REF3430, {"GND_F": "GND", "GND_S": "GND", "EN": "VA", "IN": "VA", "OUT_S": "REF",
                      "OUT_F": "REF"}, "3.000 V", "ref")
    cap("REF", "GND", 1e-6, "c_ref")
    res("REF", "V_MID_DIV", V_MID_R[0], "r_mid_top", True)
    res("V_MID_DIV", "GND", V_MID_R[1], "r_mid_bot", True)
    cap("V_MID_DIV", "GND", 100e-9, "c_mid")

    # ---- DAC ---------------------------------------------------------------------------
    dac_vdd = "REF" if shared_ref else "V3V3"
    d.add(P.MCP4725, {"VOUT": "V_SET", "VSS": "GND", "VDD": dac_vdd, "SDA": "SDA",
                      "SCL": "SCL", "A0": "GND"}, "MCP4725", "dac")
    cap(dac_vdd, "GND", 100e-9, "c_dac")

    # ---- U1: error integrator (A) and the V_MID buffer (B) -----------------------------
    # A differential integrator: V_OUT = (V_SET - V_SENSE) / (s R_I C_F). The setpoint
    # reaches +IN through the same R_I, C_F to ground, so a setpoint step does not jump
    # straight through to the output (a plain integrator with V_SET on +IN would).
    d.add(P.OPA2197, {"OUTA": "V_OUT", "-INA": "INTEG", "+INA": "SET_INT", "V-": "GND",
                      "+INB": "V_MID_DIV", "-INB": "V_MID", "OUTB": "V_MID", "V+": "VA"},
          "OPA2197", "error_amp")
    cap("VA", "GND", 100e-9, "c_u1")
    res("V_SENSE", "INTEG", R_INT_OHM, "r_int")
    cap("INTEG", "V_OUT", c_int_f, "c_int")
    res("V_SET", "SET_INT", R_INT_OHM, "r_set")
    cap("SET_INT", "GND", c_int_f, "c_set")

    # ---- U2: cell-voltage buffer (A), spare (B) ----------------------------------------
    d.add(P.OPA2197, {"OUTA": "V_CELL_BUF", "-INA": "V_CELL_BUF", "+INA": "CELL_SENSE_INT",
                      "V-": "GND", "+INB": "V_MID", "-INB": "U2B_OUT", "OUTB": "U2B_OUT",
                      "V+": "VA"}, "OPA2197", "cell_buffer")
    cap("VA", "GND", 100e-9, "c_u2")
    res("V_CELL_BUF", "V_CELL_DIV", CELL_DIV_R[0], "r_div_top", True)
    res("V_CELL_DIV", "CELL_SN", CELL_DIV_R[1], "r_div_bot", True)

    # ---- U3: current-sense in-amp ------------------------------------------------------
    d.add(P.INA826, {"-IN": "LOAD", "RG1": "RG_A", "RG2": "RG_B", "+IN": "SENSE_P",
                     "-VS": "GND", "REF": "V_MID", "VOUT": "V_SENSE", "+VS": "VA"},
          "INA826", "inamp")
    res("RG_A", "RG_B", RG_OHM, "rg", True)
    cap("VA", "GND", 100e-9, "c_u3")

    # ---- U4: range mux (A force, B sense) and the shunts -------------------------------
    mux = {"A0": "RANGE0", "A1": "RANGE1", "EN": "V3V3", "VSS": "GND", "VDD": "VA",
           "GND": "GND", "DA": "V_OUT", "DB": "SENSE_P"}
    for k in range(4):
        mux["S%dA" % (k + 1)] = "SHUNT_T%d" % k
        mux["S%dB" % (k + 1)] = "SHUNT_T%d" % k
    d.add(P.ADG1409, mux, "ADG1409", "mux")
    cap("VA", "GND", 100e-9, "c_u4")
    for k, ohm in enumerate(SHUNTS_OHM):
        res("SHUNT_T%d" % k, "LOAD", ohm, "shunt%d" % k, True)
    res("RANGE0", "GND", 100000.0, "r_range0_pd")
    res("RANGE1", "GND", 100000.0, "r_range1_pd")

    # ---- U5: enable switch (IN low = off: LOAD to the dummy V_CELL_BUF) ----------------
    d.add(P.ADG1419, {"S1": "FORCE", "VSS": "GND", "GND": "GND", "IN": "ENABLE_CTL",
                      "VDD": "VA", "S2": "V_CELL_BUF" if dummy_load else "NC",
                      "D": "LOAD", "NC": "NC"}, "ADG1419", "enable")
    cap("VA", "GND", 100e-9, "c_u5")
    res("EN_MCU", "ENABLE_CTL", 10000.0, "r_en")
    res("ENABLE_CTL", "GND", 100000.0, "r_en_pd")

    # ---- K1: cell-disconnect relay (normally open, closed only while driven) ------------
    if relay:
        d.add(P.G6K, {"COIL+": "VBUS", "COM1": "FORCE", "NC1": "NC", "NO1": "CELL_FP",
                      "NO2": "CELL_SP", "NC2": "NC", "COM2": "CELL_SENSE_INT",
                      "COIL-": "COIL_N"}, "G6K-2F-Y DC5", "relay")
        fp, sp = "CELL_FP", "CELL_SP"
    else:
        # Today's design: no disconnect; the coil driver still loads VBUS for comparison.
        res("VBUS", "COIL_N", 178.0, "coil_standin")
        fp, sp = "FORCE", "CELL_SENSE_INT"
    d.add(P.D1N4148W, {"K": "VBUS", "A": "COIL_N"}, "1N4148W", "flyback")
    d.add(P.AO3400A, {"G": "RELAY_G", "S": "GND", "D": "COIL_N"}, "AO3400A", "relay_fet")
    res("RELAY_EN", "RELAY_G", 10000.0, "r_relay")
    res("RELAY_G", "GND", 100000.0, "r_relay_pd")

    # ---- U6: hardware cut-off (over-voltage, over-current both signs) and its latch -----
    res("REF", "TH_OV", OV_R[0], "r_ov_top", True)
    res("TH_OV", "GND", OV_R[1], "r_ov_bot", True)
    res("REF", "TH_OCP", OC_R[0], "r_oc_top", True)
    res("TH_OCP", "TH_OCN", OC_R[1], "r_oc_mid", True)
    res("TH_OCN", "GND", OC_R[2], "r_oc_bot", True)
    fault = "FAULT_N" if cutoff else "CMP_OUT"
    d.add(P.TLV1704, {"OUT1": fault, "IN1-": "V_CELL_DIV", "IN1+": "TH_OV",
                      "OUT2": fault, "IN2-": "V_SENSE", "IN2+": "TH_OCP",
                      "OUT3": fault, "IN3-": "TH_OCN", "IN3+": "V_SENSE",
                      "OUT4": fault, "IN4-": "LATCH_REF", "IN4+": fault,
                      "V+": "VA", "GND": "GND"}, "TLV1704", "comparator")
    cap("VA", "GND", 100e-9, "c_u6")
    res(fault, "V3V3", 10000.0, "r_fault_pu")
    if not cutoff:
        res("CMP_OUT", "GND", 1e6, "r_cmp_standin")
        res("FAULT_N", "V3V3", 10000.0, "r_fault_pu2")
    cap("FAULT_N", "GND", 100e-9, "c_fault")  # powers up latched (safe): firmware clears
    res("V_MID", "LATCH_REF", 100000.0, "r_latch")
    res("FAULT_CLR", "LATCH_REF", 1000.0, "r_clr")
    d.add(P.BAT54C, {"A1": "RELAY_G", "A2": "ENABLE_CTL", "K": "FAULT_N"}, "BAT54C",
          "fault_diodes")

    # ---- ADC, temperature, connectors ---------------------------------------------------
    d.add(P.ADS1115, {"ADDR": "GND", "ALERT": "NC", "GND": "GND", "AIN0": "V_SENSE",
                      "AIN1": "V_MID", "AIN2": "V_CELL_DIV", "AIN3": "CELL_SN",
                      "VDD": "V3V3", "SDA": "SDA", "SCL": "SCL"}, "ADS1115", "adc")
    cap("V3V3", "GND", 100e-9, "c_adc")
    res("SDA", "V3V3", 4700.0, "r_sda")
    res("SCL", "V3V3", 4700.0, "r_scl")
    d.add(P.TMP117, {"SCL": "SCL", "GND": "GND", "ALERT": "NC", "ADD0": "V3V3",
                     "V+": "V3V3", "SDA": "SDA"}, "TMP117", "temp")
    cap("V3V3", "GND", 100e-9, "c_temp")
    d.add(P.HDR_1x4, {"1": "V3V3", "2": "GND", "3": "SDA", "4": "SCL"}, "TMP117 cable",
          "temp_conn")
    d.add(P.HDR_2x8, {str(k): v for k, v in J1_PINS.items()}, "to MCU", "mcu")
    d.add(P.TERM_4, {"F+": fp, "S+": sp, "S-": "CELL_SN", "F-": "GND"}, "cell 4-wire",
          "cell")
    return d
