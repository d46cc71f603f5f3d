#!/usr/bin/env bash
# The main job: set up, start a virtual board (the real micropython runtime behind a
# pseudo-terminal, the firmware deployed with mpremote), run the quick protocol on it
# and log it: out/quick/ gets timeseries.bdf.csv, cycles.csv, steps.csv and figures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
# A 1 s control tick and no speed cap: the virtual board runs as fast as its loop can
# (about a thousand times real time); a real board ticks at 10 Hz.
exec .venv/bin/cycler run protocols/quick.toml --out out/quick --tick-ms 1000 --speed 100000 "$@"
