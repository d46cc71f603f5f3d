#!/usr/bin/env bash
# The README's fresh-clone figures: clone this repository into a temporary folder, time
# `bash scripts/main.sh` (setup + the quick demo + figures) and then
# `bash scripts/setup.sh test` (the test extras added), and measure .venv after each.
# Uses whatever pip cache the machine has (the README states "warm").
#   bash benchmarks/fresh_clone.sh [/tmp/somewhere]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dst=${1:-$(mktemp -d /tmp/coin-cycler-fresh-XXXX)}
rm -rf "$dst"
git clone -q "$src" "$dst"
cd "$dst"
t0=$(date +%s.%N)
bash scripts/main.sh > main.out 2> main.err
t1=$(date +%s.%N)
main_du=$(du -sh .venv | cut -f1)
bash scripts/setup.sh test > test.out 2> test.err
t2=$(date +%s.%N)
test_du=$(du -sh .venv | cut -f1)
printf 'main.sh          %6.1f s  .venv %s  (stderr: %d lines)\n' \
    "$(echo "$t1 - $t0" | bc)" "$main_du" "$(wc -l < main.err)"
printf 'setup.sh test  + %6.1f s  .venv %s  (stderr: %d lines)\n' \
    "$(echo "$t2 - $t1" | bc)" "$test_du" "$(wc -l < test.err)"
