#!/usr/bin/env bash
# cli_tests/run.sh [FILTER] — the `mqshim` command's tests: each cli_tests/*.sh is a bash script
# that exits 0 (passed), 77 (skipped, and it printed why) or anything else (failed).
#
# Each test gets, in its environment: MQSHIM (the command: $MQSHIM_BIN, default
# target/release/mqshim, so a test can be run against another build), MQSHIM_LIB_PATH (the library),
# ROOT (the repository), SEED_PROGRAMS (../shared/seed-programs: the notes' C programs), WORK (a
# fresh directory, removed afterwards; MQSHIM_DIR defaults to a namespace inside it) and RUNID (unique per run, for queue names and keys). A test
# builds the C programs it runs into $WORK (`cc -I"$ROOT/c_tests" ...`) and removes every queue,
# process and file it creates.
set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
FILTER=${1:-}
TIMEOUT=${CLI_TEST_TIMEOUT:-120}
export ROOT MQSHIM=${MQSHIM_BIN:-$ROOT/target/release/mqshim} MQSHIM_LIB_PATH=$ROOT/target/release/libmqshim.so
export SEED_PROGRAMS=$(realpath -m "$ROOT/../shared/seed-programs")
unset LD_PRELOAD
for v in $(compgen -e); do
  case $v in MQSHIM_*) [[ $v == MQSHIM_LIB_PATH ]] || unset "$v" ;; esac
done
[[ -x $MQSHIM && -f $MQSHIM_LIB_PATH ]] || { echo "cli_tests: build first (make build)"; exit 2; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mqshim-cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
passed=0 failed=0 skipped=0
for t in "$HERE"/*.sh; do
  name=$(basename "$t" .sh)
  [[ $name == run ]] && continue
  [[ -n $FILTER && $name != *"$FILTER"* ]] && continue
  export WORK=$TMP/$name RUNID="$$-$RANDOM-$name"
  # A program a test runs without --dir uses a namespace of the test's own, removed with $WORK,
  # never the machine's default /dev/shm/mqshim.
  export MQSHIM_DIR=$WORK/default-namespace
  mkdir -p "$WORK"
  timeout -k 5 "$TIMEOUT" bash "$t" >"$TMP/$name.log" 2>&1
  status=$?
  case $status in
    0) passed=$((passed + 1)); echo "PASS $name" ;;
    77) skipped=$((skipped + 1)); echo "SKIP $name: $(tail -n 1 "$TMP/$name.log")" ;;
    *) failed=$((failed + 1)); echo "FAIL $name (exit $status)"; sed 's/^/    /' "$TMP/$name.log" | tail -n 40 ;;
  esac
done
echo "cli_tests: $passed passed, $failed failed$( ((skipped)) && echo ", $skipped skipped")"
((failed == 0))
