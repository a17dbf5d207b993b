#!/usr/bin/env bash
# Proves that no test's verdict depends on the machine's speed: `make test`
# three times in a row beside a CPU hog as heavy as the tests (one busy
# process per core, for the whole run), then once with GOMAXPROCS=1 and
# no hog. Stops at the first failure; prints each run's wall time.
set -euo pipefail
cd "$(dirname "$0")/.."

hog=()
stop_hog() { for p in "${hog[@]}"; do kill "$p" 2>/dev/null || true; done; hog=(); }
trap stop_hog EXIT

run() {
  local label=$1; shift
  local start=$SECONDS
  echo "== test-under-load: $label"
  "$@"
  echo "== test-under-load: $label passed in $((SECONDS - start)) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
}

cores=$(nproc)
for _ in $(seq "$cores"); do
  ( while :; do :; done ) &
  hog+=($!)
done
echo "== test-under-load: a CPU hog of $cores busy processes is running"
for i in 1 2 3; do
  run "make test, run $i of 3, beside the hog" make test
done
stop_hog
run "make test with GOMAXPROCS=1" env GOMAXPROCS=1 make test
