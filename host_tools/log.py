"""`cycler log --port P --out DIR`: attach to a running board and write its records into
DIR (the files of `cycler simulate`), exactly once each, across disconnects and crashes.

How: records are written strictly in sequence order; a gap (a corrupt line, a
reconnect) is filled with `replay <first missing>`. After each flush the files' sizes
and the next expected seq go to DIR/log_state.json (atomically); a restarted logger
cuts the files back to those sizes and asks the board to replay from there. It never
sends anything that changes the run, except `stop` when the user asks for it.
"""
import os
import sys

import host_tools  # noqa: F401

# The parts, re-exported: the folder's state, the logger, the session, the live view.
from host_tools.logstate import (STATE_FILE, GAPS_FILE, PROTOCOL_TXT,  # noqa: F401
                                 PROTOCOL_TOML, FILES, load_state, save_state,
                                 load_protocol)
from host_tools.logger import Logger  # noqa: F401
from host_tools.session import Session  # noqa: F401
from host_tools.liveview import view, watch, report  # noqa: F401


# --- `cycler log` ---------------------------------------------------------------------
def add_arguments(p):
    p.add_argument("--port", default=None,
                   help="serial port or pty path (default: the only board attached or running)")
    p.add_argument("--out", required=True,
                   help="output folder of the run (holds protocol.txt, written by cycler run)")
    p.add_argument("--give-up-s", type=float, default=None,
                   help="stop trying to reopen a vanished port after this long (default: never)")
    p.add_argument("--on-interrupt", choices=("ask", "stop", "detach"), default="ask",
                   help="what Ctrl-C does (ask: a question on a terminal; detach without one)")
    p.add_argument("--quiet", action="store_true", help="no live view")


def run(args):
    out = args.out
    if not os.path.exists(os.path.join(out, PROTOCOL_TXT)):
        print("cycler log: %s has no %s: it is not the folder of a run. Start runs with "
              "`cycler run PROTOCOL --out %s` (it writes the protocol there), or copy the "
              "protocol's compact form (`cycler validate FILE > %s/%s`)."
              % (out, PROTOCOL_TXT, out, out, PROTOCOL_TXT), file=sys.stderr)
        return 2
    from host_tools import ports
    try:
        port = ports.resolve(args.port)
    except ports.PortError as e:
        print("cycler log: %s" % e, file=sys.stderr)
        return 2
    s = Session(port, out, give_up_s=args.give_up_s)
    watch([s], args.on_interrupt, live=not args.quiet and sys.stdout.isatty())
    report([s])
    if s.outcome == "error":
        print("cycler log: %s" % s.error, file=sys.stderr)
        return 1
    return 0 if s.outcome in ("done", "stopped", "detached") else 1
