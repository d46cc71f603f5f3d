"""A run's records -> the output files, the same for `cycler simulate` and `cycler log`.

Input: the board's records (firmware/core/wire.py) as dicts of ints: T (telemetry),
S (step end), C (cycle end). Output, in DIR:
  timeseries.bdf.csv  the Battery Data Format time series (columns in BDF_COLUMNS;
                      all BDF-canonical but Step Type, Step Time and Record; rows of a
                      rest, when the output is open, carry 0 A: what flows, not the
                      front-end's noise, so readers that split half cycles on the sign
                      of the current see none there)
  run.json            the protocol's name and the run's start as Unix time
  cycles.csv          one row per cycle (columns in CYCLE_COLUMNS, exactly)
  steps.csv           one row per step (what ended it, capacities, energy)
Files are appended and flushed in batches (every `batch` rows and at each cycle end),
so a killed process loses at most the last batch, and a restarted logger appends after
what is already there. With fsync (the default: `cycler log`, a board's run cannot be
repeated) each flush also reaches the disk, so a host crash or power cut loses at most
the last batch too; `cycler simulate` does not fsync (it cost about half its wall time):
its rows are in the operating system once flushed, which a killed run does not undo,
and a run lost with the host is repeated exactly (the simulation is deterministic).
"""
import csv
import json
import os
import time

import host_tools  # noqa: F401  (firmware on sys.path)
import engine as fw_engine
import wire
import protocol as fw_protocol


# --- the engine's step and cycle records as the S and C records name them ---------

def step_dict(step_rec):
    """engine.step_rec as a dict keyed by the S record's field names (wire.FIELDS)."""
    return dict(zip(wire.FIELDS["S"][2:], (step_rec[k] for k in fw_engine.SR_WIRE)))


def cycle_dict(cycle_rec):
    """engine.cycle_rec as a dict keyed by the C record's field names (wire.FIELDS)."""
    return dict(zip(wire.FIELDS["C"][2:], cycle_rec))


# --- reporting (host only: floats; the board counts in integer nAh) -----------------

def mAh(q_nAh):
    return q_nAh * 1e-6


def mAh_per_g(q_nAh, mass_ug):
    """Specific capacity in mAh/g of active material, or None if the mass is unknown."""
    if not mass_ug:
        return None
    return (q_nAh * 1e-6) / (mass_ug * 1e-6)


def coulombic_efficiency_pct(discharge_nAh, charge_nAh):
    """Discharge over the preceding charge (FACTS: computed against the previous full
    charge), in percent; None when there was no charge."""
    if charge_nAh <= 0:
        return None
    return 100.0 * discharge_nAh / charge_nAh


BDF_COLUMNS = ["Test Time / s", "Unix Time / s", "Voltage / V", "Current / A",
               "Cycle Count / 1", "Step Count / 1", "Step Index / 1", "Step Type",
               "Step Time / s", "Charging Capacity / Ah", "Discharging Capacity / Ah",
               "Charging Energy / Wh", "Discharging Energy / Wh", "Record / 1"]
# Not in the BDF vocabulary (readers ignore them): ours, for plot and import.
BDF_EXTRA_COLUMNS = ("Step Type", "Step Time / s", "Record / 1")
RUN_JSON = "run.json"
CYCLE_COLUMNS = ["cycle", "charge_rate", "discharge_rate", "charge_cc_mAh_g",
                 "charge_cv_mAh_g", "discharge_cc_mAh_g", "discharge_cv_mAh_g",
                 "charge_mAh", "discharge_mAh", "coulombic_efficiency_pct",
                 "coulombic_efficiency_cc_pct", "charge_end", "discharge_end"]
STEP_COLUMNS = ["step", "index", "cycle", "type", "source", "end", "duration_s",
                "charge_mAh", "discharge_mAh", "charge_mWh", "discharge_mWh",
                "end_voltage_V", "end_current_A", "seq"]


def step_type(kind, sign):
    """A BDF 'Step Type' word for an engine step kind and direction."""
    base = fw_protocol.KIND_NAMES[kind] if 0 <= kind < len(fw_protocol.KIND_NAMES) else "?"
    if kind in (fw_protocol.CC, fw_protocol.CV, fw_protocol.CR):
        return "%s_%s" % (base, "charge" if sign > 0 else "discharge")
    return base


class StepMap:
    """Step numbers of a run (1, 2, ...) -> the protocol's step index, by walking its
    blocks: every step runs, in order, so the number alone says which one it is."""

    def __init__(self, lines):
        self.p = fw_protocol.parse(lines)
        self.order = []
        for b in self.p.blocks:
            for _ in range(b.repeat):
                self.order.extend(range(b.first, b.end))

    def index(self, number):
        if 1 <= number <= len(self.order):
            return self.order[number - 1]
        return None

    def step(self, number):
        k = self.index(number)
        return None if k is None else self.p.steps[k]


def _f(x, nd=6):
    return "" if x is None else ("%.*f" % (nd, x)).rstrip("0").rstrip(".") if isinstance(x, float) else str(x)


_BDF_LINE = ",".join(["%s"] * len(BDF_COLUMNS)) + "\r\n"


class RunWriter:
    """Writes the output files of one cell's run as records arrive."""

    def __init__(self, out_dir, parsed, batch=200, fsync=True, fresh=False, clock=time.time):
        """parsed: host_tools.protocol_file.ParsedProtocol (cell, rate labels, lines).
        fresh: start the files anew (simulate); else append to them (a resumed log).
        clock: wall time (s since 1970) when the first record arrives, which anchors
        Unix Time (kept in run.json, so a resumed log keeps the same anchor)."""
        os.makedirs(out_dir, exist_ok=True)
        if fresh:
            for name in ("timeseries.bdf.csv", "steps.csv", "cycles.csv", RUN_JSON):
                if os.path.exists(os.path.join(out_dir, name)):
                    os.remove(os.path.join(out_dir, name))
        self.dir = out_dir
        self.parsed = parsed
        self.map = StepMap(parsed.lines)
        self.mass_ug = parsed.cell.get("mass_ug") or 0
        self.batch = batch
        self.fsync = fsync
        self._pending = 0
        self._bdf, self._bdf_w = self._open("timeseries.bdf.csv", BDF_COLUMNS)
        self._steps, self._steps_w = self._open("steps.csv", STEP_COLUMNS)
        self._cyc, self._cyc_w = self._open("cycles.csv", CYCLE_COLUMNS)
        self.cycles = []            # rows written (dicts), for the terminal table
        self._ends = {}             # cycle -> {"charge": reason, "discharge": reason}
        self._rates = {}            # cycle -> {"charge": label, "discharge": label}
        self.last_t_s = 0.0
        self.clock = clock
        self.start_unix = None
        self._e = [None, 0, 0.0, 0.0, 0.0, 0.0]   # cycle, t_ms, v, i, e_chg_Wh, e_dis_Wh
        # step number, kind -> type, index + 1, and whether the type needs no quoting
        self._tel_step = [None, None, "", 0, False]
        if not fresh:
            self._reload()
            try:
                with open(os.path.join(out_dir, RUN_JSON)) as f:
                    self.start_unix = json.load(f).get("start_unix")
            except (OSError, ValueError):
                pass

    def _anchor(self, t_ms):
        if self.start_unix is None:
            self.start_unix = self.clock() - t_ms / 1000.0
            tmp = os.path.join(self.dir, RUN_JSON + ".tmp")
            with open(tmp, "w") as f:
                json.dump({"protocol": getattr(self.parsed, "name", ""),
                           "start_unix": self.start_unix}, f, indent=1)
            os.replace(tmp, os.path.join(self.dir, RUN_JSON))
        return self.start_unix + t_ms / 1000.0

    def _reload(self):
        """A resumed log: what cycle_end needs from the steps and cycles already written
        (each cycle's step ends and rate labels) and the rows for the final table."""
        for name, cols in (("steps.csv", STEP_COLUMNS), ("cycles.csv", CYCLE_COLUMNS)):
            path = os.path.join(self.dir, name)
            if not os.path.exists(path):
                continue
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            for r in rows:
                try:
                    c = int(r.get("cycle") or 0)
                except ValueError:
                    continue
                if name == "cycles.csv":
                    self.cycles.append({k: _num(r.get(k, "")) if k.endswith(("_g", "_pct", "_mAh"))
                                        else r.get(k, "") for k in CYCLE_COLUMNS} | {"cycle": c})
                    continue
                t = r.get("type", "")
                side = ("charge" if t.endswith("_charge") else
                        "discharge" if t.endswith("_discharge") else None)
                if side is None:
                    continue
                self._ends.setdefault(c, {})[side] = r.get("end", "")
                try:
                    st = self.map.p.steps[int(r["index"])]
                except (KeyError, ValueError, IndexError):
                    continue
                host_step = self._host_step(st)
                if host_step is not None and host_step.get("rate_label") and \
                        st.kind == fw_protocol.CC:
                    self._rates.setdefault(c, {})[side] = host_step["rate_label"]

    def file_sizes(self):
        """Bytes written to each file so far (call after flush()): what a resumed
        logger truncates back to (host_tools/log.py)."""
        return {"timeseries.bdf.csv": self._bdf.tell(), "steps.csv": self._steps.tell(),
                "cycles.csv": self._cyc.tell()}

    def _open(self, name, cols):
        path = os.path.join(self.dir, name)
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        f = open(path, "a", newline="")
        w = csv.writer(f)
        if new:
            w.writerow(cols)
        return f, w

    # --- records ---------------------------------------------------------------

    def telemetry(self, t_ms, v_uV, i_nA, cycle, step_number, kind, step_ms,
                  q_chg_nAh, q_dis_nAh, seq=""):
        # one row per call, the hottest path of a long simulation: the step's type and
        # index are looked up once per step, the floats formatted as _f does them
        c = self._tel_step
        if c[0] != step_number or c[1] != kind:
            s = self.map.step(step_number)
            sign = s.sign if s is not None else 0
            idx = self.map.index(step_number)
            typ = step_type(kind, sign) if step_number else "rest"
            c[:] = [step_number, kind, typ, 0 if idx is None else idx + 1,
                    not any(ch in typ for ch in ',"\r\n')]
        typ = c[2]
        self.last_t_s = t_ms / 1000.0
        if typ == "rest":
            i_nA = 0        # the output is open: nothing flows (the reading is noise)
        v, i = v_uV / 1e6, i_nA / 1e9
        e = self._e
        if e[0] != cycle:           # the cycle's energy counts from its first row
            e[:] = [cycle, t_ms, v, i, 0.0, 0.0]
        else:
            p = 0.5 * (v * i + e[2] * e[3]) * (t_ms - e[1]) / 3.6e6   # Wh
            if p > 0:
                e[4] += p
            else:
                e[5] -= p
            e[1] = t_ms
            e[2] = v
            e[3] = i
        unix = self.start_unix + t_ms / 1000.0 if self.start_unix is not None else \
            self._anchor(t_ms)
        # (_f(x, n) of each float, written out: nine calls a row saved, and a long
        # simulation writes a row every tick or two; tests/test_simulate.py checks the
        # row against _f)
        row = (("%.3f" % (t_ms / 1000.0)).rstrip("0").rstrip("."),
               ("%.3f" % unix).rstrip("0").rstrip("."),
               ("%.6f" % v).rstrip("0").rstrip("."),
               ("%.12f" % i).rstrip("0").rstrip("."), cycle, step_number, c[3], typ,
               ("%.3f" % (step_ms / 1000.0)).rstrip("0").rstrip("."),
               ("%.12f" % (q_chg_nAh / 1e9)).rstrip("0").rstrip("."),
               ("%.12f" % (q_dis_nAh / 1e9)).rstrip("0").rstrip("."),
               ("%.12f" % e[4]).rstrip("0").rstrip("."),
               ("%.12f" % e[5]).rstrip("0").rstrip("."), seq)
        if c[4] and cycle is not None and step_number is not None and seq is not None:
            # the line csv.writer writes (no field needs quoting), in one call
            self._bdf.write(_BDF_LINE % row)
        else:
            self._bdf_w.writerow(row)
        self._pending += 1
        if self._pending >= self.batch:
            self.flush()

    def step_end(self, rec):
        """rec: dict with the S record's fields (firmware/core/wire.py FIELDS['S'])."""
        s = self.map.step(rec["step"])
        k = rec["kind"]
        sign = s.sign if s is not None else 0
        reason = fw_engine.END_NAMES[rec["reason"]] if 0 <= rec["reason"] < len(
            fw_engine.END_NAMES) else str(rec["reason"])
        source = ""
        idx = self.map.index(rec["step"])
        host_step = self._host_step(s)
        if host_step is not None:
            source = host_step.get("source", "")
        self._steps_w.writerow([
            rec["step"], "" if idx is None else idx, rec["cycle"], step_type(k, sign), source,
            reason, _f(rec["duration_ms"] / 1000.0, 3), _f(rec["q_chg_nAh"] / 1e6),
            _f(rec["q_dis_nAh"] / 1e6), _f(rec["e_chg_nWh"] / 1e6), _f(rec["e_dis_nWh"] / 1e6),
            _f(rec["v_uV"] / 1e6), _f(rec["i_nA"] / 1e9, 12), rec.get("seq", "")])
        if sign:
            side = "charge" if sign > 0 else "discharge"
            self._ends.setdefault(rec["cycle"], {})[side] = reason
            if host_step is not None and host_step.get("rate_label") and k == fw_protocol.CC:
                self._rates.setdefault(rec["cycle"], {})[side] = host_step["rate_label"]
        elif k == fw_protocol.SWEEP and host_step is not None and host_step.get("rate_label"):
            # a sweep charges and discharges: its rate ("0.1 mV/s") names both sides of
            # the cycle, so a table of sweeps does not read as CC cycles without a rate
            r = self._rates.setdefault(rec["cycle"], {})
            r.setdefault("charge", host_step["rate_label"])
            r.setdefault("discharge", host_step["rate_label"])
        self._tick()

    def _host_step(self, fw_step):
        """The protocol file's step (source text, rate label) of a firmware step."""
        if fw_step is None:
            return None
        for st in self.parsed.steps:
            if st.get("compact_index") == fw_step.line - 1:
                return st
        return None

    def cycle_end(self, rec):
        """rec: dict with the C record's fields."""
        c = rec["cycle"]
        m = self.mass_ug
        chg = rec["chg_cc_nAh"] + rec["chg_cv_nAh"]
        dis = rec["dis_cc_nAh"] + rec["dis_cv_nAh"]
        ce = coulombic_efficiency_pct(dis, chg)
        ce_cc = coulombic_efficiency_pct(rec["dis_cc_nAh"], rec["chg_cc_nAh"])
        ends = self._ends.get(c, {})
        rates = self._rates.get(c, {})
        row = {
            "cycle": c,
            "charge_rate": rates.get("charge", ""),
            "discharge_rate": rates.get("discharge", ""),
            "charge_cc_mAh_g": mAh_per_g(rec["chg_cc_nAh"], m),
            "charge_cv_mAh_g": mAh_per_g(rec["chg_cv_nAh"], m),
            "discharge_cc_mAh_g": mAh_per_g(rec["dis_cc_nAh"], m),
            "discharge_cv_mAh_g": mAh_per_g(rec["dis_cv_nAh"], m),
            "charge_mAh": mAh(chg),
            "discharge_mAh": mAh(dis),
            "coulombic_efficiency_pct": ce,
            "coulombic_efficiency_cc_pct": ce_cc,
            "charge_end": ends.get("charge", ""),
            "discharge_end": ends.get("discharge", ""),
        }
        self.cycles.append(row)
        self._cyc_w.writerow([_f(row[k], 4) if isinstance(row[k], float) else
                              ("" if row[k] is None else row[k]) for k in CYCLE_COLUMNS])
        self.flush()

    # --- durability ------------------------------------------------------------

    def _tick(self):
        self._pending += 1
        if self._pending >= self.batch:
            self.flush()

    def flush(self):
        for f in (self._bdf, self._steps, self._cyc):
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        self._pending = 0

    def close(self):
        self.flush()
        for f in (self._bdf, self._steps, self._cyc):
            f.close()


def write_rows(path, columns, rows):
    """A whole CSV at once (cycler import): rows are dicts keyed by `columns`; floats
    as _f writes them, None as an empty cell."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in columns])


def _cell(x):
    if x is None:
        return ""
    if isinstance(x, float):
        return _f(x, 12) if abs(x) < 1e3 else _f(x, 3)
    if hasattr(x, "item"):         # numpy scalars
        return _cell(x.item())
    return str(x)


def _num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


_CYCLE_COLUMNS = (  # (row key, header on a wide terminal, header in 80 columns)
    ("cycle", "cycle", "cyc"), ("charge_rate", "chg rate", "chg\nrate"),
    ("discharge_rate", "dis rate", "dis\nrate"), ("charge_cc_mAh_g", "chg CC", "chg\nCC"),
    ("charge_cv_mAh_g", "chg CV", "chg\nCV"), ("discharge_cc_mAh_g", "dis CC", "dis\nCC"),
    ("discharge_cv_mAh_g", "dis CV", "dis\nCV"), ("coulombic_efficiency_pct", "CE %", "CE\n%"),
    ("coulombic_efficiency_cc_pct", "CE CC %", "CE\nCC %"),
    ("charge_end", "chg end", "chg\nend"), ("discharge_end", "dis end", "dis\nend"))
WIDE_COLUMNS = 100   # from this terminal width on, the table has one-line headers and borders


def cycle_table(rows, title="cycles", width=80):
    """A rich Table of the per-cycle rows (for the end of simulate/run/log): no wider
    than 80 columns on a narrow terminal (two-line headers, no borders), boxed on a
    wide one."""
    from rich import box
    from rich.table import Table

    wide = width >= WIDE_COLUMNS
    if wide:
        t = Table(title=title)
    else:
        t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1),
                  collapse_padding=True)
    for _key, head, short in _CYCLE_COLUMNS:
        t.add_column(head if wide else short, justify="right", no_wrap=True)
    for r in rows:
        t.add_row(*[("%.1f" % r[c]) if isinstance(r[c], float) else
                    ("" if r[c] is None else str(r[c]))
                    for c, _h, _s in _CYCLE_COLUMNS])
    return t
