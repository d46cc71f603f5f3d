#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every test: pytest on CPython, the core tests
# under the micropython runtime, the virtual-board end-to-end tests, the port checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
