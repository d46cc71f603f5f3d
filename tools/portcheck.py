#!/usr/bin/env python3
"""Type-check the board-side code against a MicroPython port's stubs with pyright.

A call the port lacks (machine.ADC.read_uv on the RP2040, say) is an error. For each port
the stubs package is installed into build/stubs/<port> (once), a pyrightconfig.json is
generated into build/portcheck/<port>/, and pyright checks boards/<board>.py, firmware/core/,
firmware/board/ and firmware/board/drivers/ with the stubs standing in for the standard library.

    python tools/portcheck.py                   # every port; exit 1 on any error
    python tools/portcheck.py rp2 --extra x.py  # also check x.py as rp2 code
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# port -> (stubs package pinned to the MicroPython we run, board files)
PORTS = {
    "rp2": ("micropython-rp2-stubs==1.29.0.post1", ["boards/pico.py"]),
    "esp32": ("micropython-esp32-stubs==1.29.0.post1", ["boards/esp32.py"]),
}
# What fails the check: a module, attribute, name or call signature the port lacks. Other
# type complaints (Optional narrowing, container element types) are not about the port.
PORT_RULES = ("reportAttributeAccessIssue", "reportMissingImports", "reportUndefinedVariable",
              "reportCallIssue")
# Not board code of any port, or checked elsewhere: the models run on the host and the
# sim board (the unix port), so the MCU stubs do not describe them.
EXCLUDE = ()   # the models live in simulation/, outside a real board's image


def stubs_dir(port):
    return os.path.join(ROOT, "build", "stubs", port)


def ensure_stubs(port):
    d = stubs_dir(port)
    if os.path.exists(os.path.join(d, "machine.pyi")):
        return d
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", d, PORTS[port][0]]
    subprocess.run(cmd, check=True)
    return d


def pyright_cmd():
    exe = os.path.join(os.path.dirname(sys.executable), "pyright")
    if os.path.exists(exe):
        return [exe]
    found = shutil.which("pyright")
    if found:
        return [found]
    return [sys.executable, "-m", "pyright"]


def files_for(port, extra=()):
    out = list(PORTS[port][1])
    for sub in ("firmware/core", "firmware/board", "firmware/board/drivers"):
        d = os.path.join(ROOT, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            rel = sub + "/" + name
            if name.endswith(".py") and rel not in EXCLUDE:
                out.append(rel)
    return [os.path.join(ROOT, f) for f in out] + [os.path.abspath(e) for e in extra]


def write_config(port):
    stubs = stubs_dir(port)
    cfg_dir = os.path.join(ROOT, "build", "portcheck", port)
    os.makedirs(cfg_dir, exist_ok=True)
    # An empty virtual environment: no CPython site-packages may satisfy an import.
    venv = os.path.join(cfg_dir, "novenv")
    os.makedirs(os.path.join(venv, "lib", "python3.8", "site-packages"), exist_ok=True)
    # The deployed layout: `cycler deploy` installs boards/<board>.py as board.py, and an
    # optional board_config.py; main.py imports them by those names.
    deploy = os.path.join(cfg_dir, "deploy")
    os.makedirs(deploy, exist_ok=True)
    board = os.path.splitext(os.path.basename(PORTS[port][1][0]))[0]
    with open(os.path.join(deploy, "board.py"), "w") as f:
        f.write("from boards.%s import *  # noqa: F401,F403\n" % board)
    with open(os.path.join(deploy, "board_config.py"), "w") as f:
        f.write("")
    cfg = {
        "venvPath": cfg_dir,
        "venv": "novenv",
        "typeshedPath": stubs,          # its stdlib/ replaces CPython's standard library
        "stubPath": stubs,              # machine, micropython, rp2/esp32, ...
        "extraPaths": [os.path.join(ROOT, "firmware", "core"),
                       os.path.join(ROOT, "firmware", "board"), ROOT, deploy],
        "pythonVersion": "3.8",         # what the stubs describe
        "pythonPlatform": "Linux",
        "typeCheckingMode": "basic",
        "reportMissingModuleSource": "none",
        "reportAttributeAccessIssue": "error",
        "reportCallIssue": "error",
        "reportMissingImports": "error",
        # Board code is duck typed and assigns types by construction: not errors.
        "reportOptionalMemberAccess": "none",
        "reportArgumentType": "none",
        "reportIndexIssue": "none",
        "reportRedeclaration": "none",
        "reportOperatorIssue": "none",
        "reportPossiblyUnboundVariable": "none",
    }
    path = os.path.join(cfg_dir, "pyrightconfig.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    return path


def _container_item(d):
    """list[int] item assignment of an int-or-None: a typing matter, not a port's API."""
    m = d.get("message", "")
    return "__setitem__" in m or "__getitem__" in m


def check(port, extra=(), verbose=True):
    """(ok, errors) for one port: errors is a list of pyright diagnostics (dicts)."""
    ensure_stubs(port)
    files = files_for(port, extra)
    cfg = write_config(port)
    # Files on the command line, not in "include": pyright drops absolute include paths.
    p = subprocess.run(pyright_cmd() + ["--outputjson", "-p", cfg] + files, capture_output=True,
                       text=True, cwd=ROOT)
    try:
        report = json.loads(p.stdout)
    except ValueError:
        raise RuntimeError("pyright did not run: %s%s" % (p.stdout[-2000:], p.stderr[-2000:]))
    analyzed = report.get("summary", {}).get("filesAnalyzed", 0)
    if analyzed < len(files):
        # "0 errors" over fewer files than asked is no check at all.
        raise RuntimeError("pyright analyzed %d of %d files" % (analyzed, len(files)))
    errors = [d for d in report.get("generalDiagnostics", [])
              if d.get("severity") == "error" and d.get("rule") in PORT_RULES
              and not _container_item(d)]
    if verbose:
        for d in errors:
            r = d["range"]["start"]
            print("%s: %s:%d:%d: %s [%s]" % (port, os.path.relpath(d["file"], ROOT), r["line"] + 1,
                                             r["character"] + 1, d["message"].splitlines()[0],
                                             d.get("rule", "")))
        print("%s: %d file(s), %d error(s)" % (port, len(files), len(errors)))
    return not errors, errors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ports", nargs="*", metavar="PORT", help="rp2, esp32 (default: all)")
    ap.add_argument("--extra", action="append", default=[], help="another file to check")
    a = ap.parse_args(argv)
    ok = True
    for port in a.ports:
        if port not in PORTS:
            ap.error("unknown port %r: choose from %s" % (port, ", ".join(sorted(PORTS))))
    for port in a.ports or sorted(PORTS):
        ok = check(port, a.extra)[0] and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
