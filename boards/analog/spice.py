"""The channel as an ngspice netlist, and a runner.

`netlist(design, ...)` emits every part of the description through its template's SPICE
emitter (boards.analog.parts.spice_lines). What the description leaves to the outside
world is the harness here: the 12 V adapter, the MCU (3V3, VBUS, GPIOs as piecewise-linear
sources through 100 Ohm, the DAC code as a node `dac_code`), and the cell on its four leads
(0.05 Ohm each): a DC source, or the cell model's R0 + R1||C1 + a large capacitor.

Current into the cell (charging) is i(vicell); `run()` returns the vectors asked for.
"""
import os
import shutil
import subprocess
import tempfile

from . import parts as P

NGSPICE = "ngspice"
LEAD_OHM = 0.05


def have_ngspice():
    return shutil.which(NGSPICE) is not None


def _node(net):
    return "0" if net == "GND" else net.lower()


def pwl(points):
    """PWL(...) text from [(t_s, value), ...]."""
    return "PWL(" + " ".join("%g %g" % (t, v) for t, v in points) + ")"


class Cell:
    """The cell on the holder: a source `v` in series with R0 + R1||C1 (the cell model's
    elements), and a capacitor `c_big` for the charge (None: so large that it does not move
    over a millisecond transient, i.e. part of the source). Every element starts at zero
    current, so the operating point needs no initial conditions."""

    def __init__(self, v, r0=None, r1=None, c1=None, c_big=None):
        self.v, self.r0, self.r1, self.c1, self.c_big = v, r0, r1, c1, c_big

    def lines(self, fp, sp):
        # i(vicell): everything into the cell's + terminal, force and sense leads together.
        out = ["rlf %s cp %g" % (_node(fp), LEAD_OHM),
               "rls %s cp %g" % (_node(sp), LEAD_OHM),
               "vicell cp cpi 0",
               "rlsn cell_sn cn %g" % LEAD_OHM,
               "rlfn cn 0 %g" % LEAD_OHM]
        top = "cpi"
        if self.r0 is not None:
            out += ["rcell0 cpi cell_n1 %g" % self.r0,
                    "rcell1 cell_n1 cell_n2 %g" % self.r1,
                    "ccell1 cell_n1 cell_n2 %g" % self.c1]
            top = "cell_n2"
        if self.c_big is not None:
            out.append("ccellb %s cell_n3 %g" % (top, self.c_big))
            out.append("rcellb %s cell_n3 1e3" % top)  # sets its voltage at the OP
            top = "cell_n3"
        out.append("vcell %s cn DC %g" % (top, self.v))
        return out


def netlist(design, analysis, gpio, dac_code, cell, powered=True, ref_scale=1.0,
            v3v3=3.3, probes=(), fault_ok=True, nodeset=None):
    """The ngspice deck text.

    analysis: lines (".op" or ".tran ..."); gpio: {net: PWL text or volts} for RANGE0,
    RANGE1, EN_MCU, RELAY_EN (FAULT_CLR is left high-impedance); dac_code: PWL text or a
    number; probes: vectors for wrdata. fault_ok: start the fault latch released (the
    firmware has cleared it at boot).
    """
    node_of = {}
    opts = {"ref_scale": ref_scale}
    body = []
    for p in design.parts:
        def node(pin, p=p):
            net = p.conn[pin]
            if net == "NC":
                return "nc_%s_%s" % (p.ref.lower(), pin.lower().replace("+", "p").replace("-", "n"))
            return _node(net)
        if p.role == "inamp":
            p.rg_ohm = design.role("rg").params["ohm"]
        body.append("* %s %s %s" % (p.ref, p.tpl.mpn, p.role))
        body += P.spice_lines(p, node, opts)
    for p in design.parts:
        for pin, net in p.conn.items():
            node_of.setdefault(net, True)
    cell_part = design.role("cell")
    fp, sp = cell_part.conn["F+"], cell_part.conn["S+"]
    on = 1.0 if powered else 0.0
    h = ["* harness: adapter, MCU, cell",
         "vvin vin_raw 0 DC %g" % (12.0 * on),
         "vv3v3 v3v3 0 DC %g" % (v3v3 * on),
         "vvbus vbus 0 DC %g" % (5.0 * on),
         "rclr fault_clr 0 1e12"]
    if fault_ok and powered:
        # The scenario starts from the running state (the firmware cleared the fault latch
        # at boot): through the operating point FAULT_CLR is held low and FAULT_N high;
        # both are released (high impedance) at 1 us, the circuit is free from then on.
        h += ["vclrc clr_ctl 0 PWL(0 1 1u 1 1.1u 0)",
              "sclr fault_clr 0 clr_ctl 0 swclr",
              "vfok fault_ok 0 DC 3.3",
              "sfok fault_n fault_ok clr_ctl 0 swfok",
              ".model swfok sw vt=0.5 vh=0.1 ron=1e-3 roff=1e12",
              ".model swclr sw vt=0.5 vh=0.1 ron=100 roff=1e12"]
    for net in ("RANGE0", "RANGE1", "EN_MCU", "RELAY_EN"):
        val = gpio.get(net, 0.0)
        src = val if isinstance(val, str) else "DC %g" % (val * on)
        h += ["vg_%s g_%s 0 %s" % (net.lower(), net.lower(), src),
              "rg_%s g_%s %s 100" % (net.lower(), net.lower(), _node(net))]
    code = dac_code if isinstance(dac_code, str) else "DC %g" % dac_code
    h.append("vcode dac_code 0 %s" % code)
    h += cell.lines(fp, sp)
    models = P.MODELS.replace("{ron_a}", "3")
    sub = P.subcircuits(design.role("error_amp").tpl, design.role("inamp").tpl)
    ctl = [".options reltol=1e-3 abstol=1e-12 vntol=1e-6 itl1=500 itl4=100 method=gear"]
    if fault_ok and powered:
        ns = {"fault_n": 3.3, "enable_ctl": 3.0, "relay_g": 3.0, "latch_ref": 0.0}
        ns.update(nodeset or {})
        # .op: guesses; .tran: the initial state, held through the operating point and
        # free from t = 0 (scenarios act from 20 us on).
        kind = ".ic" if any(a.startswith(".tran") for a in analysis) else ".nodeset"
        ctl.append(kind + " " + " ".join("v(%s)=%g" % (_node(k), v) for k, v in ns.items()))
    deck = ["* coin-cycler channel, generated from boards/analog/channel.py"]
    deck += [models, sub] + body + h + ctl + list(analysis)
    deck += [".control", "set wr_singlescale", "set wr_vecnames", "set filetype=ascii",
             "run", "wrdata {out} " + " ".join(probes), ".endc", ".end"]
    return "\n".join(deck) + "\n"


def run(deck, timeout_s=120):
    """Run a deck in batch mode; {vector name: [floats]}."""
    if not have_ngspice():
        raise FileNotFoundError("ngspice is not installed: bash scripts/setup.sh installs the "
                                "Debian package (apt-get install ngspice)")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.txt")
        path = os.path.join(d, "deck.cir")
        with open(path, "w") as f:
            f.write(deck.replace("{out}", out))
        r = subprocess.run([NGSPICE, "-b", path], capture_output=True, text=True,
                           timeout=timeout_s, cwd=d)
        bad = [ln for ln in (r.stdout + r.stderr).split("\n")
               if "timestep too small" in ln or "simulation(s) aborted" in ln
               or "doAnalyses:" in ln]
        if bad or not os.path.exists(out):
            raise RuntimeError("ngspice failed (rc %d): %s\n%s\n%s" % (
                r.returncode, bad, r.stdout[-2000:], r.stderr[-2000:]))
        with open(out) as f:
            lines = f.read().split("\n")
    names = lines[0].split()
    cols = {n: [] for n in names}
    for ln in lines[1:]:
        vals = ln.split()
        if len(vals) != len(names):
            continue
        for n, v in zip(names, vals):
            cols[n].append(float(v))
    return cols
