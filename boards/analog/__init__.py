"""One analog channel of the cycler as code (issue 11).

channel.py  the description: parts (parts.py: MPN, footprint, SPICE model) and named nets
kicad.py    SKiDL circuit: KiCad netlist and ERC
bom.py      the bill of materials
spice.py    ngspice deck emitter and runner; sim.py the scenarios (DC, loop, switching,
            cut-off, leakage) driven by the firmware's own FrontEnd
schematic.py the drawing in docs/hardware.md
report.py   writes the generated files (bom.csv, channel.net, the figures in
            docs/hardware.md): `python -m boards.analog.report`

Host-side only (CPython): never deployed to a board.
"""
