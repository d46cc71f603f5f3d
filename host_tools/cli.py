"""The `cycler` command: a table of subcommands, each a module with
`add_arguments(parser)` and `run(args) -> int` (the shape of mpremote's _COMMANDS)."""
import argparse
import importlib
import os
import sys

# What `cycler --help` says (for users; the developer's notes are the docstring above).
_DESCRIPTION = """Run CC-CV cycling protocols on coin cells with a MicroPython board, or on a
virtual board (the same firmware against a cell model) when none is attached."""
_EPILOG = """examples:
  cycler run protocols/quick.toml --out out/quick  # no hardware needed
  cycler ports                                     # which boards are attached
  cycler flash --port /dev/ttyACM0                 # MicroPython onto a board
  cycler deploy --port /dev/ttyACM0                # the firmware onto it
  cycler run protocols/fig4_rate_test.toml --port /dev/ttyACM0 --out runs/cell7
  cycler log --out runs/cell7                      # attach again to a run
  cycler files ls                                  # board files, even mid-run
  cycler validate my.toml --explain                # check a protocol file
  cycler calibrate --meter visa:TCPIP::192.168.1.5::INSTR

`cycler COMMAND --help` for a command's options; docs/host-tools.md for more."""

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
    "files": ("host_tools.files", "list or read the board's files without stopping its run"),
}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=16)


def _parser():
    p = argparse.ArgumentParser(prog="cycler", description=_DESCRIPTION, epilog=_EPILOG,
                                formatter_class=_Formatter)
    p.add_argument("--version", action="version", version=version())
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


def version():
    """'cycler 0.1.0 (wire protocol 1, MicroPython 1.29 .mpy)'."""
    from importlib import metadata
    import host_tools  # noqa: F401  (wire on sys.path)
    import wire
    try:
        v = metadata.version("coin-cycler")
    except metadata.PackageNotFoundError:
        v = "unknown"
    return "cycler %s (wire protocol %d, firmware for MicroPython 1.29)" % (
        v, wire.PROTOCOL_VERSION)


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
    try:
        status = mod.run(args) or 0
        sys.stdout.flush()
        return status
    except KeyboardInterrupt:
        # Ctrl-C outside a live view (while deploying, connecting): what was started
        # has been stopped by the command's own `finally`; no traceback for a person.
        print("\ncycler %s: interrupted" % args.command, file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `cycler validate f --explain | head`: the reader left; so do we, quietly
        # (stdout goes to /dev/null so the interpreter's final flush cannot fail again).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
