"""The channel's behaviour in ngspice: each scenario of docs/hardware.md as a function that
builds the deck from the description, runs it and returns the figures.

The firmware's own sequences drive the simulation: `Firmware` builds the real
`frontend.FrontEnd` on recording stand-ins for the DAC and the pins, and each recorded
call becomes a timed edge of the SPICE sources (an I2C DAC write lands I2C_WRITE_S after
it starts; a GPIO edge GPIO_S; `sleep_us` advances the clock).
"""
import math

from . import channel, spice

I2C_WRITE_S = 70e-6     # MCP4725 fast write: 3 bytes + address at 400 kHz, ~27 bits / 400 kHz
GPIO_S = 2e-6           # one Pin.value() call in MicroPython
EDGE_S = 10e-9
V_REF = 3.0
DAC_BITS = 12
# The firmware's wait between the new DAC code and the pins of a lower-resistance range
# (boards/pico.py RANGE_SETTLE_US, handed to frontend.FrontEnd).
from boards import pico as _pico  # noqa: E402
RANGE_SETTLE_US = _pico.RANGE_SETTLE_US
# The switches autoranging makes (firmware/autorange.py): up above 90 % of full scale,
# down below 8 % (here 7.5 %); (old range, new range, current A).
SWITCHES = tuple((k, k + 1, 0.9 * i * 1e-9) for k, i in enumerate((20000, 200000, 2000000))) + \
    tuple((k + 1, k, 0.075 * i * 1e-9) for k, i in enumerate((200000, 2000000, 20000000)))


def sense_gain_ratio(design):
    """The in-amp gain as the firmware's (num, den): 1 + 49.4 k / RG exactly."""
    rg = design.role("rg").params["ohm"]
    num = int(round(design.role("inamp").tpl.model["rg_ohm"])) + int(round(rg))
    den = int(round(rg))
    g = math.gcd(num, den)
    return num // g, den // g


class Firmware:
    """frontend.FrontEnd on recording stand-ins; `events` are (t_s, what, value)."""

    def __init__(self, design, settle_us=None):
        import host_tools  # noqa: F401  (puts the board-side modules on sys.path)
        import frontend
        self.t = 0.0
        self.events = []
        rec = self

        class Dac:
            def write(self, code):
                rec.t += I2C_WRITE_S
                rec.events.append((rec.t, "dac", code))

        class Pin:
            def __init__(self, name):
                self.name = name

            def value(self, v):
                rec.t += GPIO_S
                rec.events.append((rec.t, self.name, v))

        class Adc:
            def read_uv(self):
                return 0

        kw = {}
        if settle_us is not None:
            kw = {"sleep_us": self.sleep_us, "settle_us": settle_us}
        self.fe = frontend.FrontEnd(
            Dac(), Adc(), Adc(), [Pin("RANGE0"), Pin("RANGE1")], Pin("EN_MCU"),
            channel.RANGES_NA, tuple(int(r) for r in channel.SHUNTS_OHM),
            sense_gain_ratio(design), DAC_BITS, int(V_REF * 1e6),
            int(round(V_REF * 1e6 * design.v_mid_ratio())), 0,
            (2, 1), 4096000, 2048000, None, 1, **kw)

    def sleep_us(self, us):
        self.t += us * 1e-6

    def start(self, t_s):
        """What was recorded so far is the initial state; the next calls start at t_s."""
        state = self.initial()
        self.events = [(0.0, k, v) for k, v in state.items()]
        self.t = t_s

    def initial(self):
        state = {}
        for _, k, v in self.events:
            state[k] = v
        return state

    def sources(self, t_end):
        """({net: PWL text}, dac PWL text) from the events."""
        series = {}
        for t, k, v in sorted(self.events, key=lambda e: e[0]):
            series.setdefault(k, []).append((t, v))
        out = {}
        for k, pts in series.items():
            scale = 1 if k == "dac" else 3.3
            pw = [(0.0, pts[0][1] * scale)]
            last = pts[0][1] * scale
            for t, v in pts[1:]:
                pw.append((t, last))
                last = v * scale
                pw.append((t + EDGE_S, last))
            pw.append((t_end, last))
            out[k] = spice.pwl(_monotonic(pw))
        return {k: v for k, v in out.items() if k != "dac"}, out["dac"]


def _monotonic(pw):
    out = []
    for t, v in pw:
        if out and t <= out[-1][0]:
            t = out[-1][0] + 1e-12
        out.append((t, v))
    return out


def _gpio(range_index, enable, relay=1):
    return {"RANGE0": 3.3 * (range_index & 1), "RANGE1": 3.3 * (range_index >> 1),
            "EN_MCU": 3.3 * enable, "RELAY_EN": 3.3 * relay}


def fig4_cell(v, r0=300.0):
    """The cell model's fig4 cell (firmware/cellmodel.py: R0 300 Ohm, R1 600 Ohm, tau 20 s)
    at open-circuit voltage v; its charge capacity does not move over a ms transient.
    r0 < 300 Ohm stands for a larger cell (the worst case for the loop and for range
    switching): R1 = 2 R0 as in fig4, the same tau."""
    r1 = 2 * r0
    return spice.Cell(v, r0=r0, r1=r1, c1=20.0 / r1)


# ---- DC ---------------------------------------------------------------------------------

def dc_transfer(design, range_index, v_cell, codes, **kw):
    """Cell current (A) at each DAC code, output on, cell a DC source at v_cell."""
    cell = spice.Cell(v_cell)
    codes = list(codes)
    if len(codes) == 2 and codes[1] > codes[0]:
        # One run: a DC sweep of the code node from the first code to the second.
        deck = spice.netlist(design, [".dc vcode %d %d %d" % (codes[0], codes[1],
                                                              codes[1] - codes[0])],
                             _gpio(range_index, 1), codes[0], cell, probes=["i(vicell)"],
                             nodeset=expected_nodes(design, codes[0], range_index, cell), **kw)
        i = spice.run(deck)["i(vicell)"]
        return [i[0], i[-1]]
    out = []
    for c in codes:
        deck = spice.netlist(design, [".op"], _gpio(range_index, 1), c, cell,
                             probes=["i(vicell)"],
                             nodeset=expected_nodes(design, c, range_index, cell), **kw)
        out.append(spice.run(deck)["i(vicell)"][0])
    return out


def dac_code(design, i_A, range_index):
    """The firmware's code for a current (nominal scale): FrontEnd's own arithmetic."""
    fw = Firmware(design)
    fw.fe.select_range(range_index)
    fw.fe.set_current_nA(int(round(i_A * 1e9)))
    return fw.fe.code


def dc_table(design, fraction=0.8):
    """Per range, at 2.6 and 4.1 V, both signs: (range, v, setpoint A, SPICE A, error %FS)."""
    rows = []
    for k, fs_nA in enumerate(channel.RANGES_NA):
        fs = fs_nA * 1e-9
        sets = (-fraction * fs, fraction * fs)
        codes = [dac_code(design, i_set, k) for i_set in sets]
        for v in (2.6, 4.1):
            for i_set, i in zip(sets, dc_transfer(design, k, v, codes)):
                rows.append((k, v, i_set, i, (i - i_set) / fs * 100))
    return rows


def lsb_table(design):
    """Per range: DAC LSB in current (from SPICE: code+1 minus code at mid-scale), and the
    measured-current LSB of the ADS1115 (+-2.048 V: 62.5 uV) and the RP2040 ADC (3.0 V /
    4096 = 732 uV), both in A."""
    g = design.sense_gain()
    mid = dac_code(design, 0, 0)
    out = []
    for k, r in enumerate(channel.SHUNTS_OHM):
        a, b = dc_transfer(design, k, 3.7, [mid + 200, mid + 300])
        out.append((k, (b - a) / 100, 62.5e-6 / (g * r), V_REF / 4096 / (g * r)))
    return out


def zero_shift(design, rail="v3v3", scale=1.01, range_index=0):
    """How far zero current moves (fraction of full scale) when the 3V3 rail (rail="v3v3")
    or the reference (rail="ref") changes by `scale`: the mid-scale code is held."""
    dac_vdd = design.role("dac").conn["VDD"]
    v_dac_ref = V_REF if dac_vdd == "REF" else 3.3
    code = int(round(V_REF * design.v_mid_ratio() / v_dac_ref * 4096))
    fs = channel.RANGES_NA[range_index] * 1e-9
    kw0 = {}
    kw1 = {"v3v3": 3.3 * scale} if rail == "v3v3" else {"ref_scale": scale}
    i0 = dc_transfer(design, range_index, 3.7, [code], **kw0)[0]
    i1 = dc_transfer(design, range_index, 3.7, [code], **kw1)[0]
    return (i1 - i0) / fs


# ---- Transients --------------------------------------------------------------------------

def expected_nodes(design, code, range_index, cell, enabled=True):
    """The running state the loop equation predicts at a DAC code: node voltages that guide
    the operating-point solver (nodesets are guesses; the solution is SPICE's)."""
    g = design.sense_gain()
    r = channel.SHUNTS_OHM[range_index]
    v_set = V_REF * code / 4096
    v_mid = V_REF * design.v_mid_ratio()
    i = (v_set - v_mid) / (g * r)
    rc = (cell.r0 or 0) + (cell.r1 or 0)
    v_term = cell.v + (i * (rc + 2 * spice.LEAD_OHM) if enabled else 0)
    load = v_term + (i * 3.2 if enabled else 0)
    sense_p = load + i * r
    ns = {"V_SET": v_set, "SET_INT": v_set, "INTEG": v_set, "V_SENSE": v_set, "LOAD": load,
          "SENSE_P": sense_p, "V_OUT": sense_p + i * 12, "SHUNT_T%d" % range_index: sense_p,
          "V_CELL_BUF": v_term, "CELL_SENSE_INT": v_term, "V_MID": v_mid}
    if not enabled and not design.options["dummy_load"]:
        # Today's SPST enable: while off the loop is open and the integrator has wound up
        # on its offsets (here net negative: in-amp +150 uV x G) to the low rail.
        low = design.role("error_amp").tpl.model["swing"]
        ns.update({"V_OUT": low, "SENSE_P": low, "LOAD": low, "SHUNT_T%d" % range_index: low,
                   "V_SENSE": v_mid})
    # The macromodels' internal nodes (boards/analog/parts.py subcircuits).
    ea, cb, ia = (design.role(r).ref.lower() for r in ("error_amp", "cell_buffer", "inamp"))
    ns.update({"x%sa.x" % ea: ns["V_OUT"], "x%sb.x" % ea: v_mid, "x%sa.x" % cb: v_term,
               "x%s.x" % ia: v_set - v_mid})
    return ns


def _first(pwl_or_value):
    if isinstance(pwl_or_value, str):
        return float(pwl_or_value[4:].split()[1])
    return float(pwl_or_value)


def _gpio_first(gpio, net):
    return _first(gpio.get(net, 0.0)) > 1.6


def _tran(design, t_end, step, gpio, dac, cell, probes, **kw):
    k = _gpio_first(gpio, "RANGE0") + 2 * _gpio_first(gpio, "RANGE1")
    ns = expected_nodes(design, _first(dac), k, cell, _gpio_first(gpio, "EN_MCU"))
    deck = spice.netlist(design, [".tran %g %g 0 %g" % (step, t_end, step)], gpio, dac,
                         cell, probes=probes, nodeset=ns, **kw)
    return spice.run(deck)


def step_response(design, range_index, r0=300.0, fraction=0.5):
    """Setpoint step 0 -> fraction x full scale with the output on, into the cell model at
    3.7 V; the step is capped so that I R0 stays under 0.4 V (the terminal voltage stays in
    the window; R1 carries the current at the operating point). (overshoot or ring-back as
    a fraction of the step, 10-90 % rise time s, final A)."""
    fs = channel.RANGES_NA[range_index] * 1e-9
    fraction = min(fraction, 0.4 / (3 * r0) / fs)
    c0 = dac_code(design, 0, range_index)
    c1 = dac_code(design, fraction * fs, range_index)
    t0, t_end = 50e-6, 3e-3
    dac = spice.pwl([(0, c0), (t0, c0), (t0 + EDGE_S, c1), (t_end, c1)])
    r = _tran(design, t_end, 1e-6, _gpio(range_index, 1), dac, fig4_cell(3.7, r0),
              ["i(vicell)"])
    t, i = r["time"], r["i(vicell)"]
    final = sum(i[-20:]) / 20
    step = final - i[0]
    peak = max(i) if step > 0 else min(i)
    t10 = next(tt for tt, ii in zip(t, i) if (ii - i[0]) / step >= 0.1)
    t90 = next(tt for tt, ii in zip(t, i) if (ii - i[0]) / step >= 0.9)
    # Overshoot above the final value, or ringing back: the largest fall from the highest
    # value reached so far, once past 10 % (a slew-limited ringing loop can stay under the
    # final value). A well-damped loop rises monotonically: 0.
    ring, top = 0.0, None
    for tt, ii in zip(t, i):
        if tt >= t10:
            x = (ii - i[0]) / step
            top = x if top is None else max(top, x)
            ring = max(ring, top - x)
    over = max((peak - final) / step, ring)
    return over, t90 - t10, final


def range_switch(design, old, new, i_A, r0=3.0, settle_us=None, legacy=False):
    """The firmware switches old -> new while i_A flows; (peak |I|, |I| before, after).

    legacy=True replays today's sequence (pins first, then the DAC), whatever frontend.py
    does now."""
    fw = Firmware(design, settle_us=settle_us)
    fw.fe.select_range(old)
    fw.fe.set_current_nA(int(round(i_A * 1e9)))
    t_sw = 0.3e-3
    fw.start(t_sw)
    if legacy:
        for k, p in enumerate(fw.fe._range_pins):
            p.value((new >> k) & 1)
        fw.fe.range_index = new
        fw.fe._write_setpoint()
    else:
        fw.fe.select_range(new)
    t_end = t_sw + 3e-3
    gpio, dac = fw.sources(t_end)
    gpio.setdefault("RELAY_EN", 3.3)
    r = _tran(design, t_end, 0.5e-6, gpio, dac, fig4_cell(3.3, r0), ["i(vicell)"])
    t, i = r["time"], r["i(vicell)"]
    before = [x for tt, x in zip(t, i) if tt < t_sw]
    after = [x for tt, x in zip(t, i) if tt > t_end - 0.3e-3]
    during = [abs(x) for tt, x in zip(t, i) if tt >= t_sw]
    return max(during), abs(sum(before[-10:]) / 10), abs(sum(after) / len(after))


def enable_from_off(design, range_index, fraction=0.8, r0=3.0, off_s=2e-3):
    """Output off (DAC parked at zero current) for off_s, then the firmware's
    set_current_nA(fraction x full scale); (peak |I| / |setpoint|, final / setpoint)."""
    fs = channel.RANGES_NA[range_index] * 1e-9
    fw = Firmware(design)
    fw.fe.select_range(range_index)
    fw.fe.off()
    fw.start(off_s)
    i_set = fraction * fs
    fw.fe.set_current_nA(int(round(i_set * 1e9)))
    t_end = off_s + 2e-3
    gpio, dac = fw.sources(t_end)
    gpio.setdefault("RELAY_EN", 3.3)
    r = _tran(design, t_end, 0.5e-6, gpio, dac, fig4_cell(3.3, r0), ["i(vicell)"])
    i = r["i(vicell)"]
    final = sum(i[-20:]) / 20
    return max(abs(x) for x in i) / i_set, final / i_set


def cutoff_ov(design, v_start=4.58, fraction=0.8, c_cell=20e-6):
    """Charging at fraction x 20 mA into a small cell stand-in that passes the OV trip; the
    MCU does nothing. (trip time s: cell sense passes the trip -> |I| < 1 % FS;
    relay-open time s; highest cell voltage V)."""
    k = 3
    fs = channel.RANGES_NA[k] * 1e-9
    c0 = dac_code(design, 0, k)
    c = dac_code(design, fraction * fs, k)
    t_end = 12e-3
    dac = spice.pwl([(0, c0), (20e-6, c0), (20e-6 + EDGE_S, c), (t_end, c)])
    cell = spice.Cell(v_start, c_big=c_cell)
    probes = ["i(vicell)", "v(cell_sp)", "v(cell_sn)"]
    if design.options["relay"]:
        probes.append("v(k1_ck)")
    r = _tran(design, t_end, 1e-6, _gpio(k, 1), dac, cell, probes)
    t, i = r["time"], r["i(vicell)"]
    v = [a - b for a, b in zip(r["v(cell_sp)"], r["v(cell_sn)"])]
    trip = design.ov_trip_V()
    t_cross = next((tt for tt, vv in zip(t, v) if vv >= trip), None)
    t_cut = next((tt for tt, ii in zip(t, i) if t_cross is not None and tt > t_cross
                  and abs(ii) < 0.01 * fs), None)
    t_open = None
    if "v(k1_ck)" in r and t_cross is not None:
        t_open = next((tt for tt, kk in zip(t, r["v(k1_ck)"]) if tt > t_cross and kk < 0.1),
                      None)
    return {"t_cross": t_cross, "cut_s": None if t_cut is None else t_cut - t_cross,
            "relay_open_s": None if t_open is None else t_open - t_cross, "v_max": max(v),
            "trip_V": trip}


def cutoff_oc(design, range_index=3):
    """A bad setpoint (DAC code 4095, 150 % of full scale) with the MCU doing nothing:
    (peak |I| / FS, |I| at the end / FS)."""
    fs = channel.RANGES_NA[range_index] * 1e-9
    c0 = dac_code(design, 0.5 * fs, range_index)
    t0, t_end = 50e-6, 1e-3
    dac = spice.pwl([(0, c0), (t0, c0), (t0 + EDGE_S, 4095), (t_end, 4095)])
    r = _tran(design, t_end, 0.5e-6, _gpio(range_index, 1), dac, spice.Cell(3.7),
              ["i(vicell)"])
    i = r["i(vicell)"]
    return max(abs(x) for x in i) / fs, abs(i[-1]) / fs


def unpowered_leakage(design, v_cell=4.5):
    """Current into (+) or out of (-) the cell with every rail at 0 V (A)."""
    deck = spice.netlist(design, [".op"], _gpio(0, 0, 0), 0, spice.Cell(v_cell),
                         powered=False, probes=["i(vicell)"])
    return spice.run(deck)["i(vicell)"][0]
