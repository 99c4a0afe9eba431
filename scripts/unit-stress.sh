#!/usr/bin/env bash
# scripts/unit-stress.sh [RUNS] — the core library's unit tests, run RUNS times (default
# MQT_UNIT_RUNS or 30), each time as one test process per core at once, beside one CPU hog per
# core. Many of them race threads against each other (lock hand-overs, the ring folded under a
# stream, seqlock readers against a writer), and a starved thread is what shows a bounded wait
# taken for a hang or a test that waits forever for a thread that died: one quiet run proves
# little, and one process beside the hogs starves too little (80 such runs passed on code that
# failed 5 times in 169 of these). Each process is bounded (MQT_UNIT_TIMEOUT seconds, default
# 180): one that does not end is reported with the tests still running, as a failure.
# `make stress` runs it; `make test` runs the tests once. Stops at the first failing run, whose
# output stays on screen.
set -u -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-${MQT_UNIT_RUNS:-30}}
TIMEOUT=${MQT_UNIT_TIMEOUT:-180}
cd "$ROOT"

# The test binary, built as `make test` builds it (its path from cargo's own report).
binary=$(cargo test --release -p mqshim-core --lib --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
if [[ -z $binary || ! -x $binary ]]; then
  echo "unit-stress: could not build the unit tests (cargo test --release -p mqshim-core --lib --no-run)"
  exit 1
fi
work=$(mktemp -d)
hogs=()
clean_up() {
  local p
  for p in "${hogs[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${hogs[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap clean_up EXIT
# A copy runs: a build during the stress rewrites cargo's file in place.
cp "$binary" "$work/unit-tests"
binary=$work/unit-tests
for ((i = 0; i < $(nproc); i++)); do
  (while :; do :; done) &
  hogs+=($!)
done

outs=()
for ((i = 0; i < $(nproc); i++)); do outs+=("$work/out.$i"); done
for ((r = 1; r <= RUNS; r++)); do
  pids=()
  for out in "${outs[@]}"; do
    # libtest names a test that has run for over 60 s; the kill ends a hung process.
    timeout -s KILL "$TIMEOUT" "$binary" -q >"$out" 2>&1 &
    pids+=($!)
  done
  failed=0
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    status=$?
    out=${outs[$i]}
    if [[ $status == 137 ]]; then
      echo "unit-stress: run $r/$RUNS, process $((i + 1)) did not end within $TIMEOUT s; still running then:"
      grep "has been running for over" "$out" || tail -20 "$out"
      failed=1
    elif [[ $status != 0 ]]; then
      echo "unit-stress: run $r/$RUNS, process $((i + 1)) failed:"
      cat "$out"
      failed=1
    fi
  done
  ((failed)) && exit 1
  echo "unit-stress: run $r/$RUNS: $(grep -h '^test result' "${outs[@]}" | sed 's/^test result: //; s/;.*//' | paste -sd '|' - | sed 's/|/ | /g')"
done
echo "unit-stress: $RUNS runs passed, $(nproc) test processes at once beside $(nproc) CPU hogs"
