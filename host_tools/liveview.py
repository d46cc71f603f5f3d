"""The live view of `cycler run` and `cycler log`: one table row per board, refreshed
while the sessions run in threads; Ctrl-C chooses stop or detach; the closing report.
It only reads the sessions' state and sets their `request`.
"""
import os
import sys

import host_tools  # noqa: F401
import engine as fw_engine

from host_tools.logstate import GAPS_FILE


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
