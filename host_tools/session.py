"""One board logged into one folder: open the port (retrying with back-off), attach
(status, then replay what the files miss), move records into the Logger, reconnect
when the port goes away. It sends nothing that changes the run except `stop` when asked.
"""
import os
import sys
import threading
import time

import host_tools  # noqa: F401

from host_tools.logger import Logger
from host_tools.logstate import load_protocol

REPLAY_RETRY_S = 3.0     # a replay request without an answer is sent again after this
IDLE_STATUS_S = 2.0      # no record for this long: ask `status` (end of run? lost tail?)
BACKOFF_MAX_S = 5.0


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
        s = b.hello()   # after (re)opening: the board may be booting
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
                        lg.state["finished"] = lg.end_name(state)
                        lg.commit()
                        return lg.state["finished"]
                    elif state in ("idle", "loaded") and stop_sent:
                        lg.state["finished"] = "stopped"
                        lg.commit()
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
