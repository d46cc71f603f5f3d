"""The `cycler` command: a table of subcommands, each a module with
`add_arguments(parser)` and `run(args) -> int` (the shape of mpremote's _COMMANDS)."""
import argparse
import importlib
import sys

# name -> (module, one-line help). Modules are imported only when their command runs,
# so `cycler ports` does not pay for matplotlib or pybamm.
_COMMANDS = {
    "simulate": ("host_tools.simulate", "run a protocol on the cell model with the firmware's engine"),
    "sim-board": ("host_tools.simboard", "start a virtual board (real micropython behind a pty)"),
    "ports": ("host_tools.ports", "list attached boards and running virtual boards"),
    "flash": ("host_tools.flash", "install the MicroPython runtime on a board"),
    "deploy": ("host_tools.deploy", "compile and copy the firmware to a board"),
    "run": ("host_tools.run", "validate, upload and start a protocol, then log it"),
    "log": ("host_tools.log", "attach to a running board and log its telemetry"),
    "console": ("host_tools.console", "interactive terminal for the wire protocol"),
    "plot": ("host_tools.plot", "write the paper-style figures of an output folder"),
    "validate": ("host_tools.protocol_file", "check a protocol file and print its compact form"),
    "calibrate": ("host_tools.calibrate", "calibrate a board's current ranges against a reference meter"),
    "import": ("host_tools.importers", "convert a Neware, BioLogic, Arbin or BDF file into an output folder"),
    "compare": ("host_tools.compare", "runs side by side: per-cycle capacities and V-Q curves, differences tabled"),
    "fit": ("host_tools.fit", "fit the cell model to a measured run and write a named cell (TOML)"),
}


def _parser():
    p = argparse.ArgumentParser(prog="cycler", description=__doc__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (modname, help_) in _COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(_module=modname)
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            sp.set_defaults(_missing=True)
            continue
        mod.add_arguments(sp)
    return p


def main(argv=None):
    p = _parser()
    args = p.parse_args(argv)
    if not getattr(args, "command", None):
        p.print_help()
        return 2
    if getattr(args, "_missing", False):
        print("cycler %s: this command is not built yet" % args.command, file=sys.stderr)
        return 2
    mod = importlib.import_module(args._module)
    return mod.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
