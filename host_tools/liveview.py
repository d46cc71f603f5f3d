"""The live view of `cycler run` and `cycler log`: one table row per board, refreshed
while the sessions run in threads; Ctrl-C then one key chooses stop or detach while the
view keeps running; the closing report. It only reads the sessions' state and sets
their `request`; it never talks to a board.
"""
import os
import sys
import time

import host_tools  # noqa: F401
import engine as fw_engine

from host_tools.logstate import GAPS_FILE

WIDE_COLUMNS = 100     # from this width on: capacities, records and the step's words
PROMPT = ("Ctrl-C: press s to stop the cell safely, d to detach (it keeps running), "
          "any other key to go on")


def current_text(i_nA):
    """A current in the unit that suits it, 4 significant digits at most:
    850 nA, 4.900 uA, 49.00 uA, 1.234 mA, 12.35 mA."""
    a = abs(i_nA)
    if a < 1000:
        return "%d nA" % i_nA
    for div, unit in ((1000, "uA"), (10 ** 6, "mA")):
        v = i_nA / div
        if abs(v) < 1000 or unit == "mA":
            digits = 3 if abs(v) < 10 else 2 if abs(v) < 100 else 1
            return "%.*f %s" % (digits, v, unit)
    return "%d nA" % i_nA


def duration_text(s):
    """Seconds as 59s, 12m05s, 3h07m, 2d04h (fits 6 characters)."""
    s = int(max(0, s))
    if s < 60:
        return "%ds" % s
    if s < 3600:
        return "%dm%02ds" % (s // 60, s % 60)
    if s < 86400:
        return "%dh%02dm" % (s // 3600, s // 60 % 60)
    return "%dd%02dh" % (s // 86400, s // 3600 % 24)


class Progress:
    """Where one run is: cycle x of N, elapsed, and an ETA in wall-clock time.

    The ETA is the protocol's own estimate of each remaining cycle (1/charge rate +
    1/discharge rate hours, the CC time at that rate) scaled by how long the cycles
    already finished took against that estimate, then divided by how fast board time
    passes against wall time (a virtual board runs faster than real time)."""

    def __init__(self, parsed):
        self.n_cycles = getattr(parsed, "cycle_count", None)
        self.predicted_s = _predicted_cycles_s(parsed)
        self.first = None          # (t_ms, wall s) of the first telemetry seen
        self.last = None
        self.cycle = None
        self.cycle_t_ms = None     # board time the current cycle was first seen
        self.done_s = 0.0          # board seconds of the cycles seen from start to end
        self.done_pred_s = 0.0     # what the estimate said for those

    def see(self, f, wall=None):
        wall = time.monotonic() if wall is None else wall
        t = f["t_ms"]
        if self.first is None:
            self.first = (t, wall)
        self.last = (t, wall)
        c = f["cycle"]
        if c != self.cycle:
            if self.cycle is not None and self.cycle_t_ms is not None and c == self.cycle + 1:
                self.done_s += (t - self.cycle_t_ms) / 1000.0
                self.done_pred_s += self._pred(self.cycle)
            self.cycle, self.cycle_t_ms = c, t

    def _pred(self, cycle):
        k = cycle - 1
        return self.predicted_s[k] if 0 <= k < len(self.predicted_s) else 0.0

    def elapsed_s(self):
        return 0.0 if self.last is None else self.last[0] / 1000.0

    def eta_s(self):
        """Wall seconds to the end, or None when there is no basis yet."""
        if self.last is None or self.first is None or not self.predicted_s:
            return None
        (t0, w0), (t1, w1) = self.first, self.last
        if w1 - w0 < 1.0 or t1 <= t0:
            return None
        speed = (t1 - t0) / 1000.0 / (w1 - w0)     # board seconds per wall second
        scale = self.done_s / self.done_pred_s if self.done_pred_s > 0 else 1.0
        in_cycle = (t1 - (self.cycle_t_ms or t1)) / 1000.0
        board_s = max(0.0, self._pred(self.cycle) * scale - in_cycle)
        for c in range(self.cycle + 1, len(self.predicted_s) + 1):
            board_s += self._pred(c) * scale
        return board_s / speed


def _predicted_cycles_s(parsed):
    """Board seconds each cycle should take: its C-rate steps at full capacity (3600/rate
    s each) and its rests; holds and fixed currents are not counted (the measured scale
    takes care of them). [] without the TOML (only protocol.txt)."""
    steps = getattr(parsed, "steps", None) or []
    out = []
    for b in getattr(parsed, "blocks", None) or []:
        s = 0.0
        for k in b.get("steps", ()):
            st = steps[k] if isinstance(k, int) and k < len(steps) else {}
            if st.get("kind") == "cc" and st.get("rate"):
                s += 3600.0 / float(st["rate"])
            elif st.get("kind") == "rest":
                s += float(st.get("t_s") or 0)
        out.extend([s] * int(b.get("repeat", 1)))
    return out if any(out) else []


_MIN_WIDTH = {"cell": 4, "cycle": 5, "V": 6, "I": 9, "elapsed": 7, "ETA": 6, "state": 8,
              "chg mAh": 7, "dis mAh": 7, "records": 7}


def view(sessions, width=80, asking=False):
    """A rich renderable: one table row per board (cycle x of N, step, V, I, elapsed,
    ETA, state); on a wide terminal also capacities, records and the step's words."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text
    wide = width >= WIDE_COLUMNS
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, padding=(0, 1),
              collapse_padding=True)
    cols = ["cell", "cycle", "step", "V", "I", "elapsed", "ETA", "state"]
    if wide:
        cols[6:6] = ["chg mAh", "dis mAh", "records"]
    fixed = sum(_MIN_WIDTH.get(c, 0) + 2 for c in cols if c not in ("cell", "step"))
    widths = {"cell": 12 if wide else 8, "step": max(8, width - fixed - (12 if wide else 8) - 5)}
    for col in cols:
        # every column but the step's words keeps its width; those are cut to fit
        t.add_column(col, no_wrap=True, overflow="ellipsis",
                     justify="left" if col in ("cell", "step", "state") else "right",
                     min_width=_MIN_WIDTH.get(col), max_width=widths.get(col))
    for s in sessions:
        t.add_row(*_row(s, wide, cols))
    parts = [t]
    if asking:
        parts.append(Text(PROMPT, style="bold"))
    return Group(*parts)


def _row(s, wide, cols):
    lg = s.logger
    f = lg.last_t
    prog = getattr(s, "progress", None)
    if prog is None:
        prog = s.progress = Progress(s.parsed)
    if f is None:
        vals = {"cell": s.name, "state": s.outcome or "waiting", "records": str(lg.written)}
        return [vals.get(c, "") for c in cols]
    prog.see(f)
    n = prog.n_cycles
    eta = prog.eta_s()
    state = s.outcome or (fw_engine.STATE_NAMES[f["state"]]
                          if 0 <= f["state"] < len(fw_engine.STATE_NAMES) else "?")
    if s.request and not s.outcome:
        state = {"stop": "stopping", "detach": "detaching"}.get(s.request, state)
    vals = {
        "cell": s.name,
        "cycle": "%d/%d" % (f["cycle"], n) if n else str(f["cycle"]),
        "step": step_text(s.parsed, lg.writer, f["step"], words=True),
        "V": "%.4f" % (f["v_uV"] / 1e6),
        "I": current_text(f["i_nA"]),
        "chg mAh": "%.5f" % (f["q_chg_nAh"] / 1e6),
        "dis mAh": "%.5f" % (f["q_dis_nAh"] / 1e6),
        "elapsed": duration_text(f["t_ms"] / 1000.0),
        "ETA": "-" if eta is None or s.outcome else duration_text(eta),
        "records": str(lg.written),
        "state": state,
    }
    return [vals[c] for c in cols]


def step_text(parsed, writer, number, words=True):
    if not number:
        return "-"
    st = writer.map.step(number)
    host = writer._host_step(st) if st is not None else None
    text = host.get("source", "") if host and words else ""
    return ("%d: %s" % (number, text)) if text else str(number)


class _Keys:
    """Single keys from a terminal (cbreak: no Enter, no echo, Ctrl-C still a signal);
    nothing without one."""

    def __init__(self):
        self.fd = None
        self.saved = None
        try:
            if sys.stdin.isatty():
                import termios
                import tty
                self.fd = sys.stdin.fileno()
                self.saved = termios.tcgetattr(self.fd)
                tty.setcbreak(self.fd)
        except Exception:   # not a real terminal after all
            self.fd = None

    def flush(self):
        """Forget keys typed before the question: a stray `s` must not stop a cell."""
        if self.fd is not None:
            import termios
            termios.tcflush(self.fd, termios.TCIFLUSH)

    def read(self, timeout):
        """One key (str) or None after `timeout` s."""
        if self.fd is None:
            time.sleep(timeout)
            return None
        import select
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return None
        b = os.read(self.fd, 1)
        return b.decode("ascii", "replace") if b else None

    def close(self):
        if self.fd is not None and self.saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            self.fd = None


def watch(sessions, on_interrupt, live=True):
    """Run the sessions in threads with a live view. Ctrl-C: with on_interrupt 'stop' or
    'detach' that is done at once; with 'ask' one key chooses (s: stop, d: detach,
    another key: go on; a second Ctrl-C: detach) while the view goes on. Returns the
    outcomes."""
    import threading
    for s in sessions:
        threading.Thread(target=s.run, name="log-" + s.name, daemon=True).start()
    keys = _Keys() if on_interrupt == "ask" else None
    con = lv = None
    if live:
        from rich.console import Console
        from rich.live import Live
        con = Console()
        lv = Live(view(sessions, con.width), console=con, refresh_per_second=4,
                  transient=False)
        lv.start()
    asking = False

    def decide(choice):
        for s in sessions:
            s.request = choice

    # Waits on each session's `finished` Event, not Thread.join: a KeyboardInterrupt
    # inside join() can leave is_alive() False while the thread still runs.
    try:
        while not all(s.finished.is_set() for s in sessions):
            try:
                if asking and keys is not None:
                    k = (keys.read(0.25) or "").lower()
                    if k in ("s", "d"):
                        decide("stop" if k == "s" else "detach")
                        asking = False
                    elif k:
                        asking = False
                else:
                    for s in sessions:
                        s.finished.wait(0.25 / len(sessions))
                if lv is not None:
                    lv.update(view(sessions, con.width, asking))
            except KeyboardInterrupt:
                if on_interrupt in ("stop", "detach"):
                    decide(on_interrupt)
                elif keys is None or keys.fd is None or asking:
                    decide("detach")      # no way to ask, or Ctrl-C twice
                    asking = False
                else:
                    asking = True
                    keys.flush()
                    if lv is None:
                        print("\n" + PROMPT, file=sys.stderr)
    finally:
        if keys is not None:
            keys.close()
        if lv is not None:
            lv.update(view(sessions, con.width))
            lv.stop()
    return [s.outcome for s in sessions]


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
