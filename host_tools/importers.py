"""`cycler import FILE --out DIR`: another instrument's file -> this project's output
files (timeseries.bdf.csv, steps.csv, cycles.csv; host_tools/records.py), so that
`cycler plot`, `cycler compare` and `cycler fit` read a Neware, BioLogic or Arbin run
the way they read one of ours.

Readers (each returns a Series: plain numpy columns in SI units, + = charging):
  Neware .nda/.ndax   NewareNDA (PyPI `newarenda`): its Status names the step type
  BioLogic .mpr       galvani: the flags' mode (1 CC, 2 CV, 3 rest); the current is
                      dq/dt when the file has no I column
  Arbin .res          access-parser (pure Python; the .res is an MS Access database):
                      no step types in the file, they come from the data
  BDF CSV             any Battery Data Format CSV, by preferred labels
                      ("Current / A") or machine names ("current_ampere")
Then `annotate` finds what the file does not say: rest/CC/CV per row and the sign,
our steps (a new one wherever the instrument's step, the mode or the direction
changes) and the cycles (the instrument's, else a new cycle at each half cycle in
the first half cycle's direction). `write_dir` writes the three files and import.json.

Errors are ImportFileError with one line that says what is wrong and what would work.
"""
import json
import math
import os
import sys
import zipfile


class _LazyNumpy:
    """numpy on first use: `cycler` imports every command's module to build its help,
    and the commands that never touch numpy should not pay for it."""

    def __getattr__(self, name):
        import numpy
        globals()["np"] = numpy
        return getattr(numpy, name)


np = _LazyNumpy()

FORMATS = "Neware .nda/.ndax, BioLogic .mpr, Arbin .res, or a BDF .csv"
REST_FRACTION = 0.005    # |I| below this share of the file's largest |I| is rest (no step types)
CV_DROP = 0.9            # a CV part starts where |I| falls below this share of the CC current ...
CV_FLAT_V = 0.01         # ... and the voltage after it stays within this many volts
INSTALL_HINT = "pip install -e '.[import]' (or bash scripts/setup.sh)"


class ImportFileError(Exception):
    """A file this command cannot read, with the reason in one line."""


def add_arguments(p):
    p.add_argument("file", help="instrument file: " + FORMATS)
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--mass-mg", type=float, default=None,
                   help="active mass in mg: capacities in mAh/g")
    p.add_argument("--capacity-mAh", type=float, default=None,
                   help="nominal capacity in mAh: rates as C-rates (else in mA); with "
                   "--specific-mAh-g it also gives the mass")
    p.add_argument("--specific-mAh-g", type=float, default=None,
                   help="the active material's specific capacity, mAh/g: mass = "
                   "capacity / this (when no --mass-mg)")
    p.add_argument("--name", default=None, help="run name for titles (default: the file's)")
    p.add_argument("--force", action="store_true",
                   help="write into DIR even when it already holds a run's files")


def run(args):
    try:
        s = read(args.file)
        mass = args.mass_mg
        if mass is None and args.capacity_mAh and args.specific_mAh_g:
            mass = args.capacity_mAh / args.specific_mAh_g * 1000.0
        summary = write_dir(s, args.out, mass_mg=mass, capacity_mAh=args.capacity_mAh,
                            name=args.name, force=args.force)
    except ImportFileError as e:
        print("cycler import: %s" % " ".join(str(e).split()), file=sys.stderr)
        return 2
    print("%s: %s, %d rows, %d steps, %d cycles -> %s" % (
        os.path.basename(args.file), s.meta["format"], len(s.t_s), summary["steps"],
        summary["cycles"], args.out))
    for c in summary["cycle_rows"]:
        print("  cycle %d: charge %.4g mAh, discharge %.4g mAh%s" % (
            c["cycle"], c["charge_mAh"], c["discharge_mAh"],
            "" if c["coulombic_efficiency_pct"] is None else
            ", CE %.2f %%" % c["coulombic_efficiency_pct"]))
    return 0


# --- the common shape ----------------------------------------------------------------

class Series:
    """One file's data as numpy columns. Optional columns are None when the file has
    no such thing (then annotate() derives it)."""

    def __init__(self, t_s, v_V, i_A, meta, unix_s=None, dq_chg_Ah=None, dq_dis_Ah=None,
                 de_chg_Wh=None, de_dis_Wh=None, step_no=None, step_index=None,
                 cycle=None, mode=None, record=None):
        n = len(t_s)
        if n == 0:
            raise ImportFileError("%s has no data rows" % meta.get("file", "the file"))
        self.t_s = np.asarray(t_s, dtype=float)
        self.v_V = np.asarray(v_V, dtype=float)
        self.i_A = np.asarray(i_A, dtype=float)
        self.unix_s = None if unix_s is None else np.asarray(unix_s, dtype=float)
        self.dq_chg_Ah = None if dq_chg_Ah is None else np.asarray(dq_chg_Ah, dtype=float)
        self.dq_dis_Ah = None if dq_dis_Ah is None else np.asarray(dq_dis_Ah, dtype=float)
        self.de_chg_Wh = None if de_chg_Wh is None else np.asarray(de_chg_Wh, dtype=float)
        self.de_dis_Wh = None if de_dis_Wh is None else np.asarray(de_dis_Wh, dtype=float)
        self.step_no = None if step_no is None else np.asarray(step_no, dtype=np.int64)
        self.step_index = None if step_index is None else np.asarray(step_index, dtype=np.int64)
        self.cycle = None if cycle is None else np.asarray(cycle, dtype=np.int64)
        self.mode = None if mode is None else np.asarray(mode, dtype=object)
        self.record = np.arange(1, n + 1) if record is None else np.asarray(record)
        self.meta = meta
        for name in ("v_V", "i_A"):
            if len(getattr(self, name)) != n:
                raise ImportFileError("%s: columns of different lengths" % meta.get("file"))


def increments(cum):
    """Per-row increments (>= 0) of an instrument's cumulative counter that resets to 0
    at step or cycle starts: a drop is a reset, after which the value itself counts."""
    c = np.nan_to_num(np.asarray(cum, dtype=float))
    d = np.diff(c, prepend=c[:1])
    reset = d < 0
    d[reset] = c[reset]
    return np.maximum(d, 0.0)


def _trapz_steps(t, y):
    """Per-row integral of y over the interval ending at each row (first row 0)."""
    out = np.zeros(len(t))
    if len(t) > 1:
        out[1:] = 0.5 * (y[1:] + y[:-1]) * np.diff(t)
    return out


# --- detection -----------------------------------------------------------------------

def detect(path):
    """'neware_ndax', 'neware_nda', 'biologic_mpr', 'arbin_res' or 'csv', from the
    file's first bytes (the extension only breaks ties)."""
    if not os.path.exists(path):
        raise ImportFileError("%s: no such file" % path)
    if os.path.isdir(path):
        raise ImportFileError("%s is a folder; give one instrument file (%s)" % (path, FORMATS))
    with open(path, "rb") as f:
        head = f.read(64)
    ext = os.path.splitext(path)[1].lower()
    if not head:
        raise ImportFileError("%s is empty" % path)
    if head.startswith(b"PK\x03\x04"):
        if ext == ".ndax":
            return "neware_ndax"
        raise ImportFileError("%s is a zip archive but not a Neware .ndax; this reads %s"
                              % (path, FORMATS))
    if head.startswith(b"NEWARE"):
        return "neware_nda"
    if head.startswith(b"BIO-LOGIC MODULAR FILE"):
        return "biologic_mpr"
    if head[4:19] in (b"Standard Jet DB", b"Standard ACE DB"):
        return "arbin_res"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and ("," in text or "\t" in text or ";" in text):
        return "csv"
    raise ImportFileError("%s is not a file this command reads (%s): its first bytes %r "
                          "match none of them" % (path, FORMATS, head[:16]))


def read(path):
    kind = detect(path)
    reader = {"neware_ndax": read_neware, "neware_nda": read_neware,
              "biologic_mpr": read_biologic, "arbin_res": read_arbin,
              "csv": read_bdf_csv}[kind]
    return reader(path)


def _need(module, what):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportFileError("reading %s needs the Python package %s; install it with %s"
                              % (what, module, INSTALL_HINT))


# --- Neware --------------------------------------------------------------------------

_NEWARE_MODES = {"Rest": "rest", "CC_Chg": "cc", "CC_DChg": "cc", "CV_Chg": "cv",
                 "CV_DChg": "cv"}


def read_neware(path):
    """Neware .nda/.ndax through NewareNDA. Its Time and capacities restart at each
    step; the Timestamp column gives the test time."""
    if path.lower().endswith(".ndax"):
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
        except zipfile.BadZipFile as e:
            raise ImportFileError("%s: truncated or damaged .ndax (%s); copy it again from "
                                  "the instrument's PC" % (path, e))
        if bad:
            raise ImportFileError("%s: damaged .ndax (member %s fails its CRC)" % (path, bad))
    nda = _need("NewareNDA", "Neware files")
    import logging
    logging.getLogger("NewareNDA").setLevel(logging.ERROR)
    try:
        df = nda.read(path)
    except Exception as e:  # the reader's own errors are not one type
        raise ImportFileError("%s: NewareNDA cannot read it (%s: %s); a truncated file "
                              "does this" % (path, type(e).__name__, e))
    need = ("Cycle", "Step", "Step_Index", "Status", "Voltage", "Current(mA)",
            "Charge_Capacity(mAh)", "Discharge_Capacity(mAh)", "Timestamp")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ImportFileError("%s: unknown Neware column layout, no %s (has %s)"
                              % (path, ", ".join(missing), ", ".join(map(str, df.columns))))
    unix = df["Timestamp"].astype("int64").to_numpy() / 1e6  # datetime64[us]
    if str(df["Timestamp"].dtype).startswith("datetime64[ns"):
        unix = df["Timestamp"].astype("int64").to_numpy() / 1e9
    status = df["Status"].astype(str).to_numpy()
    mode = np.array([_NEWARE_MODES.get(s, "") for s in status], dtype=object)
    ec = df["Charge_Energy(mWh)"].to_numpy() if "Charge_Energy(mWh)" in df.columns else None
    ed = df["Discharge_Energy(mWh)"].to_numpy() if "Discharge_Energy(mWh)" in df.columns else None
    meta = {"format": "Neware %s" % os.path.splitext(path)[1].lower().lstrip("."),
            "file": os.path.basename(path), "reader": "NewareNDA",
            "statuses": sorted(set(status))}
    return Series(unix - unix[0], df["Voltage"].to_numpy(), df["Current(mA)"].to_numpy() / 1e3,
                  meta, unix_s=unix,
                  dq_chg_Ah=increments(df["Charge_Capacity(mAh)"].to_numpy()) / 1e3,
                  dq_dis_Ah=increments(df["Discharge_Capacity(mAh)"].to_numpy()) / 1e3,
                  de_chg_Wh=None if ec is None else increments(ec) / 1e3,
                  de_dis_Wh=None if ed is None else increments(ed) / 1e3,
                  step_no=df["Step"].to_numpy(), step_index=df["Step_Index"].to_numpy(),
                  cycle=df["Cycle"].to_numpy(), mode=mode,
                  record=df["Index"].to_numpy() if "Index" in df.columns else None)


# --- BioLogic ------------------------------------------------------------------------

_BIOLOGIC_MODES = {1: "cc", 2: "cv", 3: "rest"}


def read_biologic(path):
    """BioLogic .mpr through galvani. Current from I/mA, or dq/dt (dq/mA.h is each
    row's charge since the previous row) when the file has no current column."""
    galvani = _need("galvani", "BioLogic files")
    from galvani import BioLogic
    try:
        m = BioLogic.MPRfile(path)
    except Exception as e:
        raise ImportFileError("%s: galvani cannot read it (%s: %s); a truncated or damaged "
                              ".mpr does this" % (path, type(e).__name__, e))
    del galvani
    d = m.data
    names = set(d.dtype.names)
    for c in ("time/s", "Ewe/V"):
        if c not in names:
            raise ImportFileError("%s: unknown BioLogic column layout, no %r (has %s); this "
                                  "reads galvanostatic techniques (GCPL, GCPL-CV)"
                                  % (path, c, ", ".join(d.dtype.names)))
    t = np.asarray(d["time/s"], dtype=float)
    dq = None
    if "dq/mA.h" in names:
        dq = np.asarray(d["dq/mA.h"], dtype=float) / 1e3   # Ah
    if "I/mA" in names:
        i = np.asarray(d["I/mA"], dtype=float) / 1e3
        source = "I/mA"
    elif "<I>/mA" in names:
        i = np.asarray(d["<I>/mA"], dtype=float) / 1e3
        source = "<I>/mA"
    elif dq is not None:
        dt = np.diff(t, prepend=t[:1])
        with np.errstate(divide="ignore", invalid="ignore"):
            i = np.where(dt > 0, dq * 3600.0 / np.where(dt > 0, dt, 1.0), 0.0)
        source = "dq/dt"
    else:
        raise ImportFileError("%s: no current in the file (neither I/mA nor dq/mA.h; has %s)"
                              % (path, ", ".join(d.dtype.names)))
    if dq is None:
        dq = _trapz_steps(t, i) / 3600.0
    mode = None
    if "flags" in names:
        mode = np.array([_BIOLOGIC_MODES.get(int(f) & 3, "") for f in d["flags"]], dtype=object)
        # a row flagged rest while current flows is the hand-over row between two
        # sequences: it belongs to the part before it
        floor = REST_FRACTION * float(np.max(np.abs(i))) if len(i) else 0.0
        for k in range(1, len(mode)):
            if mode[k] == "rest" and abs(i[k]) > floor and mode[k - 1] != "rest":
                mode[k] = mode[k - 1]
    cycle = None
    if "cycle number" in names:
        cycle = np.asarray(d["cycle number"], dtype=np.int64) + 1
    elif "half cycle" in names:
        cycle = np.asarray(d["half cycle"], dtype=np.int64) // 2 + 1
    ns = np.asarray(d["Ns"], dtype=np.int64) if "Ns" in names else None
    unix = None
    ts = getattr(m, "timestamp", None)
    if ts is not None:
        import datetime
        if ts.tzinfo is None:   # EC-Lab writes local time without a zone: taken as UTC
            ts = ts.replace(tzinfo=datetime.timezone.utc)
        unix = ts.timestamp() + t
    meta = {"format": "BioLogic .mpr", "file": os.path.basename(path), "reader": "galvani",
            "current_from": source}
    return Series(t - t[0], d["Ewe/V"], i, meta, unix_s=unix,
                  dq_chg_Ah=np.maximum(dq, 0.0), dq_dis_Ah=np.maximum(-dq, 0.0),
                  step_index=ns, cycle=cycle, mode=mode)


# --- Arbin ---------------------------------------------------------------------------

JET_PAGE = 4096   # Jet4/ACE page size: an Access file is a whole number of pages
OLE_EPOCH_DAYS = 25569.0   # 1970-01-01 as an OLE automation date (Arbin's DateTime)


def read_arbin(path):
    """Arbin .res (MS Access) through access-parser: Channel_Normal_Table."""
    size = os.path.getsize(path)
    if size % JET_PAGE:
        raise ImportFileError("%s: truncated Arbin .res (%d bytes is not a whole number of "
                              "%d-byte database pages)" % (path, size, JET_PAGE))
    ap = _need("access_parser", "Arbin .res files")
    try:
        db = ap.AccessParser(path)
        tables = list(db.catalog.keys())
        if "Channel_Normal_Table" not in tables:
            raise ImportFileError("%s: an Access database but not an Arbin .res (no "
                                  "Channel_Normal_Table; tables: %s)" % (path, ", ".join(tables)))
        t = db.parse_table("Channel_Normal_Table")
        g = db.parse_table("Global_Table") if "Global_Table" in tables else {}
    except ImportFileError:
        raise
    except Exception as e:
        raise ImportFileError("%s: access-parser cannot read it (%s: %s)"
                              % (path, type(e).__name__, e))
    need = ("Data_Point", "Test_Time", "Step_Index", "Cycle_Index", "Current", "Voltage",
            "Charge_Capacity", "Discharge_Capacity")
    missing = [c for c in need if c not in t]
    if missing:
        raise ImportFileError("%s: unknown Arbin column layout, no %s" % (path, ", ".join(missing)))
    order = np.argsort(np.asarray(t["Data_Point"]), kind="stable")

    def col(name):
        return np.asarray(t[name], dtype=float)[order]

    if len(order) == 0:
        raise ImportFileError("%s: Channel_Normal_Table has no rows" % path)
    unix = None
    if "DateTime" in t:
        unix = (col("DateTime") - OLE_EPOCH_DAYS) * 86400.0
        # DateTime is stored to the second at best: anchor it once, count Test_Time
        unix = unix[0] + col("Test_Time") - col("Test_Time")[0]
    # the step number: a new one wherever (cycle, step index) changes
    si, cy = col("Step_Index").astype(np.int64), col("Cycle_Index").astype(np.int64)
    change = np.r_[True, (np.diff(si) != 0) | (np.diff(cy) != 0)]
    meta = {"format": "Arbin .res", "file": os.path.basename(path), "reader": "access-parser"}
    if g:
        for k in ("Test_Name", "Schedule_File_Name"):
            if k in g and len(g[k]):
                meta[k.lower()] = str(g[k][0])
        if meta.get("test_name"):
            meta["name"] = meta["test_name"]
    ec = col("Charge_Energy") if "Charge_Energy" in t else None
    ed = col("Discharge_Energy") if "Discharge_Energy" in t else None
    tt = col("Test_Time")
    return Series(tt - tt[0], col("Voltage"), col("Current"), meta, unix_s=unix,
                  dq_chg_Ah=increments(col("Charge_Capacity")),
                  dq_dis_Ah=increments(col("Discharge_Capacity")),
                  de_chg_Wh=None if ec is None else increments(ec),
                  de_dis_Wh=None if ed is None else increments(ed),
                  step_no=np.cumsum(change), step_index=si, cycle=cy,
                  record=col("Data_Point").astype(np.int64))


# --- BDF CSV -------------------------------------------------------------------------

# BDF quantity -> (preferred label, machine name). The spec's own table (batterydf's
# bdf.normalize.spec); only the columns read here.
BDF_NAMES = {
    "time": ("Test Time / s", "test_time_second"),
    "unix": ("Unix Time / s", "unix_time_second"),
    "voltage": ("Voltage / V", "voltage_volt"),
    "current": ("Current / A", "current_ampere"),
    "cycle": ("Cycle Count / 1", "cycle_count"),
    "step_count": ("Step Count / 1", "step_count"),
    "step_index": ("Step Index / 1", "step_index"),
    "q_chg": ("Charging Capacity / Ah", "charging_capacity_ah"),
    "q_dis": ("Discharging Capacity / Ah", "discharging_capacity_ah"),
    "e_chg": ("Charging Energy / Wh", "charging_energy_wh"),
    "e_dis": ("Discharging Energy / Wh", "discharging_energy_wh"),
    "step_type": ("Step Type", "step_type"),
}


def read_bdf_csv(path):
    """A Battery Data Format CSV (ours or anyone's). Needs time, voltage and current
    by BDF label or machine name; uses whatever else of BDF_NAMES it has. A last row
    cut short (a file still being written) is dropped."""
    import csv
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        first = f.readline()
        f.seek(0)
        # the delimiter the header uses most: ',' (BDF), or ';' or a tab
        delim = max((",", ";", "\t"), key=first.count)
        r = csv.reader(f, delimiter=delim)
        try:
            head = [h.strip() for h in next(r)]
        except StopIteration:
            raise ImportFileError("%s is empty" % path)
        rows = [cells for cells in r if cells]
    where = {}
    for key, names in BDF_NAMES.items():
        for n in names:
            if n in head:
                where[key] = head.index(n)
                break
    missing = [BDF_NAMES[k][0] for k in ("time", "voltage", "current") if k not in where]
    if missing:
        raise ImportFileError("%s: unknown column layout: no %s (BDF labels or machine "
                              "names); its header is %s" % (path, ", ".join(missing),
                                                             ", ".join(head[:12])))
    if rows and len(rows[-1]) < len(head):
        rows = rows[:-1]     # cut short mid-line
    if any(len(x) < len(head) for x in rows):
        bad = next(k for k, x in enumerate(rows) if len(x) < len(head))
        raise ImportFileError("%s: row %d has %d cells, the header %d: a damaged file"
                              % (path, bad + 2, len(rows[bad]), len(head)))
    if not rows:
        raise ImportFileError("%s has a header but no data rows" % path)

    def col(key, cast=float):
        if key not in where:
            return None
        k = where[key]
        out = []
        for x in rows:
            try:
                out.append(cast(x[k]))
            except ValueError:
                out.append(math.nan if cast is float else x[k])
        return np.asarray(out, dtype=float) if cast is float else np.asarray(out, dtype=object)

    t = col("time")
    if np.isnan(t).any():
        raise ImportFileError("%s: the time column has cells that are not numbers" % path)
    i = np.nan_to_num(col("current"))
    qc, qd, ec, ed = col("q_chg"), col("q_dis"), col("e_chg"), col("e_dis")
    mode = None
    st = col("step_type", str)
    if st is not None:
        # ours: cc_charge, cv_discharge, rest, ...; others: free words
        mode = np.array([("rest" if "rest" in s.lower() else "cv" if s.lower().startswith("cv")
                          else "cc" if s.lower().startswith("cc") else "") for s in st],
                        dtype=object)
    sc = col("step_count")
    si = col("step_index")
    cy = col("cycle")
    meta = {"format": "BDF CSV", "file": os.path.basename(path), "reader": "csv"}
    return Series(t - t[0], col("voltage"), i, meta, unix_s=col("unix"),
                  dq_chg_Ah=None if qc is None else increments(qc),
                  dq_dis_Ah=None if qd is None else increments(qd),
                  de_chg_Wh=None if ec is None else increments(ec),
                  de_dis_Wh=None if ed is None else increments(ed),
                  step_no=None if sc is None else np.nan_to_num(sc).astype(np.int64),
                  step_index=None if si is None else np.nan_to_num(si).astype(np.int64),
                  cycle=None if cy is None else np.nan_to_num(cy).astype(np.int64),
                  mode=mode)


# --- what the file does not say --------------------------------------------------------

def split_cc_cv(i_A, v_V):
    """Index where the CV part of one same-sign step starts (len(i) when none): where
    |I| first falls below CV_DROP of the step's early (CC) current and stays below it,
    with the voltage from there on flat within CV_FLAT_V."""
    a = np.abs(np.asarray(i_A, dtype=float))
    n = len(a)
    if n < 4:
        return n
    i_cc = float(np.median(a[: max(2, n // 4)]))
    if i_cc <= 0:
        return n
    low = a < CV_DROP * i_cc
    # last index where it is not low; the CV part is what follows it
    not_low = np.nonzero(~low)[0]
    k = 0 if len(not_low) == 0 else int(not_low[-1]) + 1
    if k >= n - 1:
        return n
    v = np.asarray(v_V, dtype=float)[k:]
    if np.nanmax(v) - np.nanmin(v) <= CV_FLAT_V:
        return k
    return n


def annotate(s):
    """Fill in, per row: mode ('cc', 'cv', 'rest'), sign (+1 charge, -1 discharge, 0),
    our step number (1, 2, ...), step kind word and cycle. Returns a dict of arrays."""
    n = len(s.t_s)
    i = s.i_A
    imax = float(np.max(np.abs(i))) if n else 0.0
    floor = REST_FRACTION * imax
    # the instrument's steps (its step counter, else its program step index), else
    # runs of rest / charge / discharge rows
    if s.step_no is not None:
        inst = s.step_no
    elif s.step_index is not None:
        inst = np.cumsum(np.r_[True, np.diff(s.step_index) != 0])
    else:
        cls = np.where(np.abs(i) <= floor, 0, np.sign(i)).astype(np.int64)
        inst = np.cumsum(np.r_[True, np.diff(cls) != 0])
    if s.cycle is not None:
        inst = inst * 1000003 + s.cycle   # a cycle change is a step change too
    if s.mode is not None:
        # a CC -> CV hand-over inside one instrument step (BioLogic's Ns) is a new step
        codes = {"": 0, "cc": 1, "cv": 2, "rest": 3}
        mcode = np.array([codes.get(m, 0) for m in s.mode])
        inst = inst * 4 + mcode
    bounds = np.nonzero(np.r_[True, np.diff(inst) != 0])[0].tolist() + [n]
    mode = np.empty(n, dtype=object)
    sign = np.zeros(n, dtype=np.int64)
    for a, b in zip(bounds[:-1], bounds[1:]):
        seg_i = i[a:b]
        net = float(np.sum(seg_i))
        given = s.mode[a] if s.mode is not None else ""
        if given == "rest" or (not given and float(np.max(np.abs(seg_i))) <= floor):
            mode[a:b] = "rest"
            continue
        sg = 1 if net > 0 else -1
        sign[a:b] = sg
        if given in ("cc", "cv"):
            mode[a:b] = given
            continue
        k = split_cc_cv(seg_i, s.v_V[a:b])
        mode[a:k + a] = "cc"
        mode[a + k:b] = "cv"
    # our steps: a new one wherever the instrument's step, the mode or the sign changes
    key = np.array([hash((m, g)) for m, g in zip(mode, sign)], dtype=np.int64)
    step = np.cumsum(np.r_[True, (np.diff(inst) != 0) | (np.diff(key) != 0)])
    # cycles
    if s.cycle is not None:
        cycle = s.cycle.copy()
    else:
        cycle = np.ones(n, dtype=np.int64)
        first = next((int(g) for g in sign if g), 0)
        c, last = 1, 0
        for k in range(n):
            g = int(sign[k])
            if g:
                if g == first and last == -first:
                    c += 1
                last = g
            cycle[k] = c
    kind = np.array(["rest" if m == "rest" else "%s_%s" % (m, "charge" if g > 0 else "discharge")
                     for m, g in zip(mode, sign)], dtype=object)
    return {"mode": mode, "sign": sign, "step": step, "kind": kind, "cycle": cycle}


def rate_label(i_A, capacity_mAh):
    """A CC current as a C-rate label (C/2, 1C, 2.5C) against a nominal capacity, or in
    mA (e.g. '22.5 mA') without one."""
    i_mA = abs(i_A) * 1e3
    if not capacity_mAh:
        return "%.3g mA" % i_mA
    c = i_mA / capacity_mAh
    if c >= 0.95:
        return "%gC" % float("%.2g" % c)
    return "C/%g" % float("%.2g" % (1.0 / c))


def tables(s, ann, mass_mg=None, capacity_mAh=None):
    """The three files' rows (lists of dicts keyed by records' column names)."""
    n = len(s.t_s)
    t = s.t_s
    dqc = s.dq_chg_Ah if s.dq_chg_Ah is not None else np.maximum(_trapz_steps(t, s.i_A), 0) / 3600
    dqd = s.dq_dis_Ah if s.dq_dis_Ah is not None else np.maximum(-_trapz_steps(t, s.i_A), 0) / 3600
    p = _trapz_steps(t, s.v_V * s.i_A) / 3600.0
    dec = s.de_chg_Wh if s.de_chg_Wh is not None else np.maximum(p, 0)
    ded = s.de_dis_Wh if s.de_dis_Wh is not None else np.maximum(-p, 0)
    cyc, step, kind = ann["cycle"], ann["step"], ann["kind"]
    new_cycle = np.r_[True, np.diff(cyc) != 0]
    new_step = np.r_[True, np.diff(step) != 0]
    ts = []
    qc = qd = ec = ed = 0.0
    t0 = 0.0
    for k in range(n):
        if new_cycle[k]:
            qc = qd = ec = ed = 0.0
        qc += dqc[k]
        qd += dqd[k]
        ec += dec[k]
        ed += ded[k]
        if new_step[k]:
            t0 = t[k]
        ts.append({"Test Time / s": t[k],
                   "Unix Time / s": None if s.unix_s is None else s.unix_s[k],
                   "Voltage / V": s.v_V[k], "Current / A": s.i_A[k],
                   "Cycle Count / 1": int(cyc[k]), "Step Count / 1": int(step[k]),
                   "Step Index / 1": int(s.step_index[k]) if s.step_index is not None
                   else int(step[k]),
                   "Step Type": kind[k], "Step Time / s": t[k] - t0,
                   "Charging Capacity / Ah": qc, "Discharging Capacity / Ah": qd,
                   "Charging Energy / Wh": ec, "Discharging Energy / Wh": ed,
                   "Record / 1": s.record[k]})
    # steps
    starts = np.nonzero(new_step)[0].tolist() + [n]
    steps = []
    for a, b in zip(starts[:-1], starts[1:]):
        # row k's increment is what flowed up to row k: instrument counters restart at
        # a step's first row, so it is that step's
        sl = slice(a, b)
        steps.append({"step": int(step[a]),
                      "index": int(s.step_index[a]) if s.step_index is not None else "",
                      "cycle": int(cyc[a]), "type": kind[a],
                      "source": "%s%s" % (s.meta.get("reader", ""),
                                          "" if s.mode is not None and s.mode[a] else " (data)"),
                      "end": "", "duration_s": t[b - 1] - t[a],
                      "charge_mAh": float(dqc[sl].sum() * 1e3),
                      "discharge_mAh": float(dqd[sl].sum() * 1e3),
                      "charge_mWh": float(dec[sl].sum() * 1e3),
                      "discharge_mWh": float(ded[sl].sum() * 1e3),
                      "end_voltage_V": s.v_V[b - 1], "end_current_A": s.i_A[b - 1],
                      "seq": int(s.record[b - 1]),
                      "_i_median_A": float(np.median(s.i_A[a:b]))})
    cycles = []
    m = mass_mg / 1000.0 if mass_mg else None
    by_cycle = {}
    for st in steps:
        by_cycle.setdefault(st["cycle"], []).append(st)
    for c in sorted(by_cycle):
        sts = by_cycle[c]
        q = {"chg_cc": 0.0, "chg_cv": 0.0, "dis_cc": 0.0, "dis_cv": 0.0}
        rates = {}
        order = []
        for st in sts:
            typ = st["type"]
            if typ == "rest":
                continue
            part, side = typ.split("_")
            k2 = ("chg_" if side == "charge" else "dis_") + part
            q[k2] += st["charge_mAh"] if side == "charge" else st["discharge_mAh"]
            if side not in order:
                order.append(side)
            if part == "cc" and side not in rates:
                rates[side] = rate_label(st["_i_median_A"], capacity_mAh)
        chg = q["chg_cc"] + q["chg_cv"]
        dis = q["dis_cc"] + q["dis_cv"]
        if chg <= 0 and dis <= 0:
            continue
        fwd, rev = ((chg, dis), (q["chg_cc"], q["dis_cc"])) if (order[:1] == ["charge"]) \
            else ((dis, chg), (q["dis_cc"], q["chg_cc"]))

        def pct(num, den):
            return 100.0 * num / den if den > 0 and num > 0 else None
        row = {"cycle": c, "charge_rate": rates.get("charge", ""),
               "discharge_rate": rates.get("discharge", ""),
               "charge_cc_mAh_g": q["chg_cc"] / m if m else None,
               "charge_cv_mAh_g": q["chg_cv"] / m if m else None,
               "discharge_cc_mAh_g": q["dis_cc"] / m if m else None,
               "discharge_cv_mAh_g": q["dis_cv"] / m if m else None,
               "charge_mAh": chg, "discharge_mAh": dis,
               "coulombic_efficiency_pct": pct(fwd[1], fwd[0]),
               "coulombic_efficiency_cc_pct": pct(rev[1], rev[0]),
               "charge_end": "", "discharge_end": ""}
        cycles.append(row)
    for st in steps:
        del st["_i_median_A"]
    return ts, steps, cycles


def write_dir(s, out, mass_mg=None, capacity_mAh=None, name=None, force=True):
    """Annotate s and write DIR/timeseries.bdf.csv, steps.csv, cycles.csv, import.json.
    Returns a summary dict (steps, cycles, cycle_rows). force=False refuses a DIR that
    already holds a run's files (they would be overwritten)."""
    from host_tools import records
    if not force:
        there = [n for n in ("timeseries.bdf.csv", "steps.csv", "cycles.csv")
                 if os.path.exists(os.path.join(out, n))]
        if there:
            raise ImportFileError("%s already holds %s (a run's files): give a new folder, "
                                  "or --force to overwrite them" % (out, ", ".join(there)))
    ann = annotate(s)
    ts, steps, cycles = tables(s, ann, mass_mg, capacity_mAh)
    os.makedirs(out, exist_ok=True)
    records.write_rows(os.path.join(out, "timeseries.bdf.csv"), records.BDF_COLUMNS, ts)
    records.write_rows(os.path.join(out, "steps.csv"), records.STEP_COLUMNS, steps)
    records.write_rows(os.path.join(out, "cycles.csv"), records.CYCLE_COLUMNS, cycles)
    meta = dict(s.meta)
    stem = os.path.splitext(meta["file"])[0]
    if stem.lower().endswith(".bdf"):
        stem = stem[:-4]
    meta.update({"name": name or meta.get("name") or stem,
                 "mass_mg": mass_mg, "capacity_mAh": capacity_mAh, "rows": len(s.t_s),
                 "rates_in": "C-rate" if capacity_mAh else "mA"})
    with open(os.path.join(out, "import.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True, default=str)
    return {"steps": len(steps), "cycles": len(cycles), "cycle_rows": cycles}
