"""Records in, files out: each record of a board's run written exactly once, in seq
order, with the state committed after each flush (host_tools/logstate.py). A gap (a
corrupt line, a restart) is noted loudly, never filled with made-up rows; it never
talks to the board itself (host_tools/session.py asks for replays).
"""
import os
import sys
import time

import host_tools  # noqa: F401
import engine as fw_engine

from host_tools.logstate import FILES, GAPS_FILE, load_state, save_state


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
                # a boot record after records of this log is a reset, whether or not
                # the logger knew the earlier boot's number (`cycler run` never does)
                if st.get("last") is not None and rec.seq >= (st["next_seq"] or 0):
                    self.gap("the board restarted (boot %s, cause %s) at seq %d; records "
                             "up to seq %d were written before" % (
                                 boot, rec["cause"], rec.seq, st["last"][0]))
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
                self.state["finished"] = self.end_name(fw_engine.STATE_NAMES[f["state"]])
        elif k == "S":
            w.step_end(dict(f))
            self.last_step = f
            if f["reason"] == fw_engine.END_USER:   # only `stop` ends a step so
                self.state["user_stop"] = True
        elif k == "C":
            w.cycle_end(dict(f))
            self.state["c_seqs"].append(rec.seq)
        elif k == "F":
            self.state["faults"].append(list(rec.fields.values()))
            self.say("cycler log: FAULT record: %s" % rec.line)
            self.state["finished"] = "fault"
        # B: nothing to write; it set the boot in accept()

    def end_name(self, state):
        """How the run ended: a run that ended by `stop` is 'stopped', not 'done'."""
        return "stopped" if state == "done" and self.state.get("user_stop") else state

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
