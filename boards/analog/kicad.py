"""The channel as a SKiDL circuit: KiCad netlist and SKiDL's electrical rules check.

SKiDL's own part definitions (tool SKIDL) carry the pins, so no KiCad symbol library is
needed; footprints are KiCad's standard library names. Each part carries the fields MFR,
MPN and DESCRIPTION, which land in the netlist.
"""
import os
import logging

_PIN_TYPES = {}


def _skidl():
    import sys
    import tempfile
    if "skidl" not in sys.modules:
        # SKiDL opens log files in the working directory at import: not in the repo.
        here = os.getcwd()
        os.chdir(tempfile.gettempdir())
        try:
            import skidl
        except ImportError:
            raise ImportError("SKiDL is missing: `bash scripts/setup.sh` installs it (the test "
                              "extras of pyproject.toml)")
        finally:
            os.chdir(here)
    import skidl
    # SKiDL warns at import about KiCad library paths it will not need here.
    for name in ("skidl", "ERC_Logger"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return skidl


def to_circuit(design):
    """(skidl.Circuit, {ref: skidl Part}) for a Design."""
    sk = _skidl()
    circ = sk.Circuit()
    types = sk.Pin.types
    templates = {}
    nets = {}
    power = {"GND", "VA", "V3V3", "VBUS", "VIN", "REF"}
    for name in sorted(design.nets()):
        n = sk.Net(name, circuit=circ)
        if name in power:
            n.drive = sk.POWER
        nets[name] = n
    parts = {}
    for p in design.parts:
        t = p.tpl
        key = (t.name, t.mpn)
        if key not in templates:
            pins = [sk.Pin(num=num, name=name, func=getattr(types, typ))
                    for num, name, typ in t.pins]
            templates[key] = sk.Part(tool=sk.SKIDL, name=t.name, ref_prefix=t.prefix,
                                     pins=pins, dest=sk.TEMPLATE, footprint=t.footprint)
        sp = templates[key](ref=p.ref, value=p.value, footprint=t.footprint, circuit=circ,
                            tag=p.ref)
        sp.fields["MFR"] = t.mfr
        sp.fields["MPN"] = t.mpn
        sp.fields["DESCRIPTION"] = t.description
        for pin, net in p.conn.items():
            if net == "NC":
                sp[pin] += circ.NC
            else:
                sp[pin] += nets[net]
        parts[p.ref] = sp
    return circ, parts


def erc(design, workdir):
    """Run SKiDL's ERC in workdir; (errors, warnings) counted by SKiDL's ERC logger."""
    sk = _skidl()
    from skidl.logger import erc_logger
    circ, _ = to_circuit(design)
    here = os.getcwd()
    os.chdir(workdir)
    try:
        e0, w0 = erc_logger.error.count, erc_logger.warning.count
        circ.ERC()
        return erc_logger.error.count - e0, erc_logger.warning.count - w0
    finally:
        os.chdir(here)
        del sk


def netlist(design, path):
    """Write the KiCad (version 8 format) netlist to path; returns its text.

    SKiDL writes helper files (a part library, logs) where it runs: a temporary folder."""
    import tempfile
    sk = _skidl()
    circ, _ = to_circuit(design)
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        try:
            text = circ.generate_netlist(tool=sk.KICAD8, file_=os.path.join(d, "channel.net"))
        finally:
            os.chdir(here)
    import re
    text = re.sub(r'\(source "[^"]*"\)', '(source "boards/analog/channel.py")', text)
    text = re.sub(r'\(date "[^"]*"\)', '(date "")', text)  # reproducible files
    # Where SKiDL instantiated the part (this file's line): the description is channel.py.
    text = re.sub(r'\(name "SKiDL Line"\) "[^"]*"', '(name "SKiDL Line") "channel.py"', text)
    with open(path, "w") as f:
        f.write(text)
    return text
