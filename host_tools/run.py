"""`cycler run PROTOCOL [--port P ...] [--boards N] --out DIR`: validate a protocol, load
and start it on one or more boards (virtual ones started here when no port is given),
log every record with the live view, and finish with the cycle table and the figures.

It never starts a board's run without a validated protocol, and never leaves a cell
running unsaid: Ctrl-C asks to stop it safely or detach (and says how to re-attach).
"""
import os
import shutil
import sys

import host_tools  # noqa: F401

DEFAULT_SPEED = 500


def add_arguments(p):
    p.add_argument("protocol", help="protocol file (TOML), or the name of a shipped one")
    p.add_argument("--port", action="append", default=[],
                   help="serial port or pty path; repeat for several boards "
                        "(default: start virtual boards here)")
    p.add_argument("--boards", type=int, default=1,
                   help="with no --port: how many virtual boards to start (default 1)")
    p.add_argument("--cell", default=None,
                   help="cell model of the virtual board (default: the protocol's [cell] name)")
    p.add_argument("--board", default=None, metavar="PROFILE",
                   help="front-end profile of the virtual boards started here: "
                   "pico-ads1115 (default, the recommended build), pico-internal, "
                   "esp32-ads1115, esp32-internal")
    p.add_argument("--out", required=True, help="output folder (one subfolder per board "
                   "when there are several)")
    p.add_argument("--speed", type=float, default=DEFAULT_SPEED,
                   help="virtual board: clock speed-up (default %(default)s)")
    p.add_argument("--tick-ms", type=int, default=None,
                   help="virtual board: control tick in ms (default the board's, 100; "
                        "1000 makes a fast demo)")
    p.add_argument("--telemetry-ms", type=int, default=None,
                   help="telemetry period in ms (sent as `rate`; default the board's)")
    p.add_argument("--on-interrupt", choices=("ask", "stop", "detach"), default="ask",
                   help="what Ctrl-C does (ask needs a terminal; without one: stop)")
    p.add_argument("--give-up-s", type=float, default=None,
                   help="stop trying to reopen a vanished port after this long")
    p.add_argument("--no-plot", action="store_true", help="no figures at the end")
    p.add_argument("--quiet", action="store_true", help="no live view")


def prepare_dir(out, src_path, parsed):
    """DIR/protocol.toml and DIR/protocol.txt (what `cycler log` needs), a fresh state."""
    from host_tools import log
    import time as _time
    os.makedirs(out, exist_ok=True)
    # an earlier run's files are kept, moved aside, never deleted
    from host_tools.records import RUN_JSON
    old = [n for n in ("timeseries.bdf.csv", "steps.csv", "cycles.csv", log.STATE_FILE,
                       log.GAPS_FILE, log.PROTOCOL_TOML, log.PROTOCOL_TXT, RUN_JSON)
           if os.path.exists(os.path.join(out, n))]
    if old:
        keep = os.path.join(out, "previous-" + _time.strftime("%Y%m%d-%H%M%S"))
        os.makedirs(keep, exist_ok=True)
        for n in old:
            os.replace(os.path.join(out, n), os.path.join(keep, n))
        print("%s: the earlier run's files are now in %s" % (out, keep), file=sys.stderr)
    shutil.copyfile(src_path, os.path.join(out, log.PROTOCOL_TOML))
    with open(os.path.join(out, log.PROTOCOL_TXT), "w") as f:
        f.write(parsed.text())


def start_run(session, parsed, telemetry_ms=None):
    """Load and start the protocol on the session's board; the logger begins at the
    first record after what the board had before (`status` seq_next)."""
    b = session.board
    st = b.hello()   # the board may be coming back from a reset (deploy)
    if st.get("state") in ("running", "paused"):
        raise RuntimeError("%s is %s a run already: stop or abort it first (cycler console), "
                           "or attach with cycler log" % (session.url, st.get("state")))
    lg = session.logger
    lg.state["next_seq"] = int(st["seq_next"])
    lg.state["boot"] = None
    lg.commit()
    if telemetry_ms is not None:
        b.command("rate %d" % telemetry_ms)
    b.load(parsed.lines)
    b.command("start")


def _deploy_into(board, say):
    from host_tools import deploy
    say("deploying the firmware to the virtual board %s ..." % board.port)
    deploy.deploy(board.port, "sim", log=lambda s: None)


def _start_virtual_boards(args, parsed, say):
    """Start --boards virtual boards with the firmware deployed; (boards, ports) or
    None after saying why."""
    from host_tools.simboard import SimBoard
    cell = args.cell or parsed.cell.get("name") or "fig4"
    speed = int(args.speed) if args.speed == int(args.speed) else args.speed
    boards = []
    for _ in range(max(1, args.boards)):
        b = SimBoard(None, cell=cell, speed=speed, tick_ms=args.tick_ms,
                     profile=args.board)
        boards.append(b)
        b.start()
        try:
            _deploy_into(b, say)
        except Exception as e:
            say("cycler run: could not deploy the firmware to the virtual board: %s" % e)
            for bb in boards:
                bb.stop()
            return None
    return boards, [b.port for b in boards]


def _start_sessions(args, path, parsed, ports, virtual, say):
    """Prepare each board's folder, connect, load and start; the sessions, or None
    after saying why (the sessions already opened are closed)."""
    from host_tools import log, link
    several = len(ports) > 1
    sessions = []
    for k, port in enumerate(ports):
        if several:
            name = ("cell-%d" % (k + 1)) if virtual else os.path.basename(port)
            out = os.path.join(args.out, name)
        else:
            name, out = os.path.basename(os.path.normpath(args.out)), args.out
        prepare_dir(out, path, parsed)
        s = log.Session(port, out, parsed, name=name, give_up_s=args.give_up_s, say=say)
        if not s.connect(first_timeout=10):
            say("cycler run: %s" % s.error)
            _close(sessions)
            return None
        try:
            start_run(s, parsed, args.telemetry_ms)
        except (link.BoardError, RuntimeError) as e:
            say("cycler run: %s: %s" % (port, e))
            _close(sessions + [s])
            return None
        sessions.append(s)
        say("%s: %s started on %s, logging into %s" % (name, parsed.name, port, out))
    return sessions


def _close(sessions):
    for s in sessions:
        if s.board is not None:
            s.board.close()


def _finish(args, parsed, sessions, say):
    """The closing report, each board's cycle table and figures; the exit status."""
    from host_tools import log
    from host_tools.records import cycle_table
    from rich.console import Console
    log.report(sessions, say=print)
    con = Console()
    status = 0
    for s in sessions:
        if s.outcome == "error":
            say("cycler run: %s: %s" % (s.name, s.error))
            status = 1
        if s.outcome == "fault":
            status = 1
        rows = s.logger.writer.cycles
        if rows:
            # the protocol, the board where there are several, the cell it names
            cell = args.cell or parsed.cell.get("name")
            title = parsed.name + (" on %s" % s.name if len(sessions) > 1 else "") + \
                (", cell %s" % cell if cell else "")
            con.print(cycle_table(rows, title + " (mAh/g)", width=con.width))
        if not args.no_plot and s.outcome in ("done", "stopped", "fault"):
            _figures(s, say)
    return status


def _figures(session, say):
    try:
        from host_tools.plot import plot_dir, PlotError
    except ImportError:
        return
    try:
        for p in plot_dir(session.dir):
            print(p)
    except PlotError as e:
        say("cycler run: no figures for %s: %s" % (session.name, e))


def run(args):
    from host_tools import protocol_file, log

    def say(s):
        print(s, file=sys.stderr)

    if args.board:
        if args.port:
            say("cycler run: --board is the front-end profile of the virtual boards "
                "`cycler run` starts; a real board (--port) has its own")
            return 2
        import feprofiles
        try:
            feprofiles.get(args.board)
        except ValueError as e:
            say("cycler run: %s" % e)
            return 2
    path = protocol_file.resolve(args.protocol)
    try:   # with --board: what that board refuses too, at the file's line
        parsed = protocol_file.load(path, board=args.board)
    except (protocol_file.ProtocolError, OSError) as e:
        say("cycler run: %s" % e)
        return 2
    boards, ports = [], list(args.port)
    if not ports:
        bad = protocol_file.unknown_cell(parsed, args.cell)
        if bad:
            say("cycler run: " + bad)
            return 2
        started = _start_virtual_boards(args, parsed, say)
        if started is None:
            return 1
        boards, ports = started
    try:
        sessions = _start_sessions(args, path, parsed, ports, bool(boards), say)
        if sessions is None:
            return 1
        on_int = args.on_interrupt
        if on_int == "ask" and not sys.stdin.isatty():
            on_int = "stop"
        if boards and on_int == "detach":
            say("cycler run: note: the virtual boards end with this command; detach "
                "leaves nothing running")
        log.watch(sessions, on_int, live=not args.quiet and sys.stdout.isatty())
    finally:
        for b in boards:
            b.stop()
    return _finish(args, parsed, sessions, say)
