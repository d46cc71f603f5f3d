"""`cycler console [--port P]`: type wire-protocol commands to a board (docs/protocol.md),
with line history (readline), a status line from the last telemetry record, and
telemetry shown or hidden. Local commands start with ':' (:tel on|off, :help, :quit).

It sends exactly what is typed; it never logs to files (that is `cycler log`).
"""
import sys
import threading
import time

import host_tools  # noqa: F401

LOCAL_HELP = (":tel on|off  show or hide telemetry (T) records\n"
              ":status      the last telemetry as a line\n"
              ":quit        leave (the board keeps running)")


def add_arguments(p):
    p.add_argument("--port", default=None,
                   help="serial port or pty path (default: the one running virtual board)")
    p.add_argument("--tel", choices=("on", "off"), default="off",
                   help="show telemetry records at start (default off)")


def status_line(f):
    """One line from a T record's fields."""
    import engine
    st = engine.STATE_NAMES[f["state"]] if 0 <= f["state"] < len(engine.STATE_NAMES) else "?"
    from host_tools.liveview import current_text, duration_text
    return ("[%s] t=%s step=%d cycle=%d V=%.4f I=%s chg=%.5f dis=%.5f mAh"
            % (st, duration_text(f["t_ms"] / 1000.0), f["step"], f["cycle"], f["v_uV"] / 1e6,
               current_text(f["i_nA"]).replace(" ", ""), f["q_chg_nAh"] / 1e6,
               f["q_dis_nAh"] / 1e6))


class Terminal:
    """The reader thread prints what the board sends; the main thread reads lines."""

    def __init__(self, port, out=None, show_tel=False):
        from host_tools import link
        self.out = out or sys.stdout
        self.show_tel = show_tel
        self.last_t = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.board = link.Board(port, on_record=self._record, on_other=self._print)
        self.thread = threading.Thread(target=self._reader, name="console-reader",
                                       daemon=True)

    def _print(self, text):
        with self.lock:
            self.out.write("\r" + text + "\n")
            self.out.flush()

    def _record(self, rec):
        if rec.kind == "T":
            self.last_t = rec.fields
            if not self.show_tel:
                return
        self._print(rec.line)

    def _reader(self):
        b = self.board
        while not self.stop.is_set():
            try:
                b.poll()
            except Exception as e:  # the port went away
                self._print("(port error: %s)" % e)
                self.stop.set()
                return
            while b.replies:
                self._print(b.replies.popleft().line)

    def start(self):
        self.thread.start()

    def local(self, line):
        """A ':' command; returns False for :quit."""
        w = line[1:].split()
        if not w:
            return True
        if w[0] in ("quit", "q", "exit"):
            return False
        if w[0] == "tel" and len(w) == 2 and w[1] in ("on", "off"):
            self.show_tel = w[1] == "on"
            self._print("(telemetry %s)" % w[1])
        elif w[0] == "status":
            self._print(status_line(self.last_t) if self.last_t else "(no telemetry yet)")
        else:
            self._print(LOCAL_HELP)
        return True

    def send(self, line):
        self.board.send(line)

    def close(self):
        self.stop.set()
        self.thread.join(1.0)
        self.board.close()


def run(args):
    from host_tools import link
    from host_tools import ports
    try:
        port = ports.resolve(args.port)
    except ports.PortError as e:
        print("cycler console: %s" % e, file=sys.stderr)
        return 2
    try:
        term = Terminal(link.open_port(port), show_tel=args.tel == "on")
    except Exception as e:
        print("cycler console: cannot open %s: %s" % (port, e), file=sys.stderr)
        return 1
    try:
        import readline  # noqa: F401  (history and editing for input())
    except ImportError:
        pass
    print("connected to %s; board commands as in docs/protocol.md (try `help`), "
          "local: :tel on|off, :status, :quit" % port)
    term.start()
    try:
        while not term.stop.is_set():
            prompt = (status_line(term.last_t) + "\n> ") if term.last_t else "> "
            try:
                line = input(prompt)
            except EOFError:
                break
            if line.startswith(":"):
                if not term.local(line):
                    break
                continue
            if line.strip():
                term.send(line)
                time.sleep(0.05)   # let the reply print before the next prompt
    except KeyboardInterrupt:
        print()
    finally:
        term.close()
    return 0
