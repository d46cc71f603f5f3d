#!/usr/bin/env bash
# Sets up with the test extras (scripts/setup.sh test) and runs every test: pytest on
# CPython, the core tests under the micropython runtime, the virtual-board end-to-end
# tests, the port checks. Arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
