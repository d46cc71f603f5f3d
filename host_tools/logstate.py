"""What `cycler log` keeps in a run's folder: the names of its files, log_state.json
(written atomically: the files' committed sizes and the next expected seq) and the
run's protocol. Pure file handling; never talks to a board.
"""
import json
import os

STATE_FILE = "log_state.json"
GAPS_FILE = "gaps.txt"
PROTOCOL_TXT = "protocol.txt"
PROTOCOL_TOML = "protocol.toml"
FILES = ("timeseries.bdf.csv", "steps.csv", "cycles.csv")


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
