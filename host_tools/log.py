"""`cycler log --port P --out DIR`: attach to a running board and write its records into
DIR (the files of `cycler simulate`), exactly once each, across disconnects and crashes.

How: records are written strictly in sequence order; a gap (a corrupt line, a
reconnect) is filled with `replay <first missing>`. After each flush the files' sizes
and the next expected seq go to DIR/log_state.json (atomically); a restarted logger
cuts the files back to those sizes and asks the board to replay from there. It never
sends anything that changes the run, except `stop` when the user asks for it.
"""
import json
import os
import sys
import threading
import time

import host_tools  # noqa: F401
import engine as fw_engine

STATE_FILE = "log_state.json"
GAPS_FILE = "gaps.txt"
PROTOCOL_TXT = "protocol.txt"
PROTOCOL_TOML = "protocol.toml"
REPLAY_RETRY_S = 3.0     # a replay request without an answer is sent again after this
IDLE_STATUS_S = 2.0      # no record for this long: ask `status` (end of run? lost tail?)
BACKOFF_MAX_S = 5.0
FILES = ("timeseries.bdf.csv", "steps.csv", "cycles.csv")


# --- state kept in DIR -------------------------------------------------------------
def load_state(out_dir):
    try:
        with open(os.path.join(out_dir, STATE_FILE)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def save_state(out_dir, state):
    path = os.path.join(out_dir, STATE_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _Parsed:
    """What RunWriter needs when only DIR/protocol.txt is there (no TOML)."""

    def __init__(self, lines):
        self.lines = lines
        self.steps = []
        self.name = "protocol"
        mass = 0
        for ln in lines:
            w = ln.split()
            if w and w[0] == "cell" and len(w) >= 3:
                mass = int(w[2])
        self.cell = {"mass_ug": mass, "name": None}


def load_protocol(out_dir):
    """The run's protocol from DIR: the TOML (source texts, rate labels) if it is there
    and matches protocol.txt, else protocol.txt alone. FileNotFoundError if neither."""
    txt = os.path.join(out_dir, PROTOCOL_TXT)
    with open(txt) as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    toml = os.path.join(out_dir, PROTOCOL_TOML)
    if os.path.exists(toml):
        from host_tools import protocol_file
        try:
            p = protocol_file.load(toml)
            if p.lines == lines:
                return p
        except (protocol_file.ProtocolError, OSError):
            pass
    return _Parsed(lines)


# --- the logger ---------------------------------------------------------------------
class Logger:
    """Records in, files out, each seq exactly once. Not thread-safe; one per board."""

    def __init__(self, out_dir, parsed, batch=200, say=None):
        from host_tools.records import RunWriter
        self.dir = out_dir
        os.makedirs(out_dir, exist_ok=True)
        self.say = say or (lambda s: print(s, file=sys.stderr))
        st = load_state(out_dir)
        sizes = st.get("sizes") or {}
        for name in FILES:   # rows written after the last committed state go again
            path = os.path.join(out_dir, name)
            if name in sizes and os.path.exists(path) and os.path.getsize(path) > sizes[name]:
                with open(path, "r+b") as f:
                    f.truncate(sizes[name])
        self.state = st
        st.setdefault("next_seq", None)
        st.setdefault("boot", None)
        st.setdefault("last", None)
        st.setdefault("c_seqs", [])
        st.setdefault("faults", [])
        st.setdefault("gaps", 0)
        st.setdefault("finished", None)
        self.parsed = parsed
        self.writer = RunWriter(out_dir, parsed, batch=10 ** 9)
        self.batch = batch
        self._unsaved = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.replay_from = None      # a gap was seen: replay from this seq
        self.verify: "tuple | None" = None   # (seq, kind, t_ms) to compare on re-attach
        self.last_t = None           # the last T record (for the views)
        self.last_step = None        # the last S record
        self.written = 0
        self.commit()

    @property
    def expected(self):
        return self.state["next_seq"]

    @property
    def finished(self):
        return self.state["finished"]

    def gap(self, text):
        """Loudly: records are lost, or numbering restarted. Also into DIR/gaps.txt."""
        self.state["gaps"] += 1
        line = "%s %s" % (time.strftime("%Y-%m-%dT%H:%M:%S"), text)
        with open(os.path.join(self.dir, GAPS_FILE), "a") as f:
            f.write(line + "\n")
        self.say("cycler log: WARNING: " + text)

    # -- records -------------------------------------------------------------------
    def accept(self, rec):
        """One decoded record (link.Record) in arrival order."""
        st = self.state
        if self.verify is not None:
            vseq, vkind, vt = self.verify
            if rec.seq != vseq:
                return              # in flight before our replay; it comes again
            self.verify = None
            if rec.kind == vkind and rec["t_ms"] == vt:
                self.duplicates += 1
                return              # the same boot: go on after it
            self.gap("the board restarted while the logger was away: record %d differs "
                     "from the one written; looking for its boot record" % vseq)
            self.resync = True
            return
        if rec.kind == "B":
            boot = rec.extra[0] if rec.extra else None
            if st["boot"] is None or boot != st["boot"]:
                if st["next_seq"] is not None and rec.seq != st["next_seq"] and st["boot"] is not None:
                    self.gap("the board restarted (boot %s, cause %s): numbering goes on "
                             "from seq %d (was %d)" % (boot, rec["cause"], rec.seq,
                                                        st["next_seq"]))
                st["boot"] = boot
                st["next_seq"] = rec.seq
        if st["next_seq"] is None:
            st["next_seq"] = rec.seq
        e = st["next_seq"]
        if rec.seq < e:
            self.duplicates += 1
            return
        if rec.seq > e:
            self.out_of_order += 1
            if self.replay_from is None:
                self.replay_from = e
            return
        self._write(rec)
        st["next_seq"] = e + 1
        st["last"] = [rec.seq, rec.kind, rec["t_ms"]]
        self.written += 1
        self._unsaved += 1
        if self._unsaved >= self.batch or rec.kind in "CF" or self.finished:
            self.commit()

    resync = False

    def _write(self, rec):
        f = rec.fields
        k = rec.kind
        w = self.writer
        if k == "T":
            w.telemetry(f["t_ms"], f["v_uV"], f["i_nA"], f["cycle"], f["step"], f["kind"],
                        f["step_ms"], f["q_chg_nAh"], f["q_dis_nAh"], rec.seq)
            self.last_t = f
            if f["state"] in (fw_engine.DONE, fw_engine.FAULT):
                self.state["finished"] = fw_engine.STATE_NAMES[f["state"]]
        elif k == "S":
            w.step_end(dict(f))
            self.last_step = f
        elif k == "C":
            w.cycle_end(dict(f))
            self.state["c_seqs"].append(rec.seq)
        elif k == "F":
            self.state["faults"].append(list(rec.fields.values()))
            self.say("cycler log: FAULT record: %s" % rec.line)
            self.state["finished"] = "fault"
        # B: nothing to write; it set the boot in accept()

    def replay_reply(self, reply, seq_first=None):
        """The board's answer to our `replay N`."""
        if not reply.ok:
            return False
        p = reply.pairs()
        try:
            frm = int(p["from"])
            lost = int(p["lost"])
        except (KeyError, ValueError):
            return False
        e = self.state["next_seq"]
        if lost and e is not None and frm > e:
            self.gap("records %d..%d are lost: the board no longer keeps them "
                     "(replay said lost=%d)" % (e, frm - 1, lost))
            self.state["next_seq"] = frm
            self.commit()
        return True

    def commit(self):
        """Flush + fsync the files, then record their sizes and the next seq."""
        w = self.writer
        w.flush()
        self.state["sizes"] = w.file_sizes()
        save_state(self.dir, self.state)
        self._unsaved = 0

    def close(self):
        self.commit()
        self.writer.close()


# --- a board session: port, attach, reconnect ---------------------------------------
class Session:
    """One board logged into one folder. run() returns 'done', 'fault', 'detached',
    'stopped' or 'gave_up'. Another thread may set .request to 'stop' or 'detach'."""

    def __init__(self, port, out_dir, parsed=None, name=None, give_up_s=None, say=None,
                 batch=200):
        self.url = port
        self.dir = out_dir
        self.name = name or os.path.basename(os.path.normpath(out_dir))
        self.parsed = parsed if parsed is not None else load_protocol(out_dir)
        self.say = say or (lambda s: print(s, file=sys.stderr))
        self.logger = Logger(out_dir, self.parsed, batch=batch, say=self.say)
        self.give_up_s = give_up_s
        self.request = None
        self.board = None
        self.outcome = None
        self.reconnects = 0
        self.error = None
        self.finished = threading.Event()

    # -- port ------------------------------------------------------------------------
    def connect(self, first_timeout=None):
        """Open the port, retrying with back-off (the port may come and go)."""
        from host_tools import link
        delay = 0.1
        t0 = time.monotonic()
        limit = first_timeout if first_timeout is not None else self.give_up_s
        while True:
            try:
                self.board = link.Board(link.open_port(self.url))
                return True
            except Exception as e:   # serial.SerialException, OSError: not there yet
                if limit is not None and time.monotonic() - t0 > limit:
                    self.error = "cannot open %s: %s" % (self.url, e)
                    return False
                if self.request == "detach":
                    return False
                time.sleep(delay)
                delay = min(BACKOFF_MAX_S, delay * 2)

    def attach(self):
        """After (re)opening: find where we are and ask the board for what we miss."""
        b = self.board
        assert b is not None
        lg = self.logger
        s = b.status()
        seq_next = int(s.get("seq_next", 0))
        seq_first = int(s.get("seq_first", 0))
        e = lg.expected
        last = lg.state.get("last")
        if e is None:
            self._replay(seq_first)
            return
        if e > seq_next:
            lg.gap("the board restarted while the logger was away (its next seq is %d, "
                   "ours %d); logging from its oldest kept record %d" % (seq_next, e, seq_first))
            lg.state["next_seq"] = seq_first
            lg.state["boot"] = None
            self._replay(seq_first)
            return
        if last and last[0] == e - 1 and last[0] >= seq_first:
            lg.verify = tuple(last)
            r = b.command("replay %d" % last[0], check=False)
            if not r.ok:
                lg.verify = None
                self._replay(e)
            return
        self._replay(e)

    def _replay(self, seq):
        b = self.board
        assert b is not None
        r = b.command("replay %d" % seq, check=False)
        self._replay_sent = None
        if r.ok:
            self.logger.replay_reply(r)
        else:
            self.say("cycler log: replay %d refused: %s" % (seq, r.text))

    # -- the loop --------------------------------------------------------------------
    def run(self):
        try:
            self.outcome = self._run()
        except Exception as e:  # report, never leave a thread dying silently
            self.error = "%s: %s" % (type(e).__name__, e)
            self.outcome = "error"
        finally:
            try:
                self.logger.close()
            except Exception:
                pass
            if self.board is not None:
                self.board.close()
            self.finished.set()
        return self.outcome

    def _run(self):
        lg = self.logger
        if lg.finished:
            return lg.finished
        if self.board is None and not self.connect():
            return "detached" if self.request == "detach" else "gave_up"
        self._replay_sent = None
        attached = False
        last_rec = time.monotonic()
        stop_sent = False
        while True:
            if self.request == "detach":
                return "detached"
            try:
                if not attached:
                    self.attach()
                    attached = True
                    last_rec = time.monotonic()
                b = self.board
                assert b is not None
                if self.request == "stop" and not stop_sent:
                    r = b.command("stop", check=False)
                    stop_sent = True
                    if not r.ok:
                        self.say("cycler log: stop refused: %s" % r.text)
                n = b.poll()
                while b.pending:
                    lg.accept(b.pending.popleft())
                    last_rec = time.monotonic()
                if lg.resync:
                    lg.resync = False
                    s = b.status()
                    lg.state["boot"] = None
                    lg.state["next_seq"] = int(s.get("seq_first", 0))
                    self._replay(lg.state["next_seq"])
                # the answer to a gap-filling replay
                if self._replay_sent is not None:
                    r = b.take_reply(self._replay_sent[0])
                    if r is not None:
                        lg.replay_reply(r)
                        self._replay_sent = None
                    elif time.monotonic() - self._replay_sent[1] > REPLAY_RETRY_S:
                        self._replay_sent = None
                if lg.replay_from is not None and self._replay_sent is None:
                    seq = lg.expected
                    lg.replay_from = None
                    b.send("replay %d" % seq)
                    self._replay_sent = ("replay %d" % seq, time.monotonic())
                if lg.finished:
                    return lg.finished
                if n == 0 and time.monotonic() - last_rec > IDLE_STATUS_S:
                    last_rec = time.monotonic()
                    s = b.status()
                    state = s.get("state")
                    seq_next = int(s.get("seq_next", 0))
                    if lg.expected is not None and lg.expected < seq_next:
                        lg.replay_from = lg.expected   # the tail was lost or corrupt
                    elif state in ("done", "fault"):
                        lg.state["finished"] = state
                        lg.commit()
                        return state
                    elif state in ("idle", "loaded") and stop_sent:
                        return "stopped"
            except Exception as e:
                if not _is_port_error(e):
                    raise
                # the port went away (unplugged, board reset, pty closed): reopen
                self.reconnects += 1
                self.say("cycler log: %s: lost the port (%s); reconnecting" % (self.name, e))
                lg.commit()
                if self.board is not None:
                    self.board.close()
                self.board = None
                attached = False
                if not self.connect():
                    return "detached" if self.request == "detach" else "gave_up"


def _is_port_error(e):
    import serial
    from host_tools import link
    return isinstance(e, (serial.SerialException, OSError, link.BoardTimeout))


# --- live view shared with `cycler run` ---------------------------------------------
def view(sessions):
    """A rich Table: one row per board (step and its text, cycle, V, I, capacity, time)."""
    from rich.table import Table
    t = Table(title="cycler", expand=False)
    for col in ("cell", "step", "cycle", "V", "mA", "chg mAh", "dis mAh", "test time",
                "records", "status"):
        t.add_column(col, justify="left" if col in ("cell", "step", "status") else "right")
    for s in sessions:
        lg = s.logger
        f = lg.last_t
        if f is None:
            t.add_row(s.name, "", "", "", "", "", "", "", str(lg.written),
                      s.outcome or "waiting")
            continue
        t.add_row(s.name, step_text(s.parsed, lg.writer, f["step"]), str(f["cycle"]),
                  "%.4f" % (f["v_uV"] / 1e6), "%.4f" % (f["i_nA"] / 1e6),
                  "%.5f" % (f["q_chg_nAh"] / 1e6), "%.5f" % (f["q_dis_nAh"] / 1e6),
                  _hms(f["t_ms"] / 1000.0), str(lg.written),
                  s.outcome or (fw_engine.STATE_NAMES[f["state"]]
                                if 0 <= f["state"] < len(fw_engine.STATE_NAMES) else "?"))
    return t


def step_text(parsed, writer, number):
    if not number:
        return "-"
    st = writer.map.step(number)
    host = writer._host_step(st) if st is not None else None
    text = host.get("source", "") if host else ""
    return ("%d: %s" % (number, text))[:48]


def _hms(s):
    s = int(s)
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


def watch(sessions, on_interrupt, live=True):
    """Run the sessions in threads; a Live view while they run; Ctrl-C asks (or
    `on_interrupt` decides) whether to stop the cells or detach. Returns outcomes."""
    import threading
    threads = [threading.Thread(target=s.run, name="log-" + s.name, daemon=True)
               for s in sessions]
    for t in threads:
        t.start()
    lv = None
    if live:
        from rich.live import Live
        lv = Live(view(sessions), refresh_per_second=4, transient=False)
        lv.start()
    # Waits on each session's `finished` Event, not Thread.join: a KeyboardInterrupt
    # inside join() can leave is_alive() False while the thread still runs.
    try:
        while not all(s.finished.is_set() for s in sessions):
            try:
                for s in sessions:
                    s.finished.wait(0.25)
                if lv is not None:
                    lv.update(view(sessions))
            except KeyboardInterrupt:
                if lv is not None:
                    lv.stop()
                choice = _ask(on_interrupt)
                for s in sessions:
                    s.request = choice
                if lv is not None:
                    lv.start()
    finally:
        if lv is not None:
            lv.update(view(sessions))
            lv.stop()
    return [s.outcome for s in sessions]


def _ask(default):
    if default in ("stop", "detach") or not sys.stdin.isatty():
        return default if default in ("stop", "detach") else "detach"
    while True:
        try:
            a = input("\nstop the cell safely (s) or detach and leave it running (d)? ")
        except (EOFError, KeyboardInterrupt):
            return "detach"
        a = a.strip().lower()
        if a in ("s", "stop"):
            return "stop"
        if a in ("d", "detach"):
            return "detach"


def report(sessions, say=print):
    """After watch(): per-cell outcome, gaps, re-attach hints."""
    for s in sessions:
        lg = s.logger
        msg = "%s: %s; %d records written to %s" % (s.name, s.outcome, lg.written, s.dir)
        if lg.state["gaps"]:
            msg += "; %d gap(s), see %s" % (lg.state["gaps"], os.path.join(s.dir, GAPS_FILE))
        if s.board is None and s.error:
            msg += "; " + s.error
        say(msg)
        if s.outcome in ("detached", "gave_up", "error"):
            say("  the board keeps running; re-attach with: cycler log --port %s --out %s"
                % (s.url, s.dir))


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
