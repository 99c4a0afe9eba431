# Sourced by the trace_*.sh tests of `mqshim trace` (not a test itself: the runner runs *.sh only).
set -u -o pipefail
QNAME=/mqshim-trace-$RUNID
NS=/dev/shm/mqshim-trace-test-$RUNID

fail() {
  echo "FAIL: $*"
  exit 1
}

cleanup() {
  rm -rf "$NS"
  # A kernel queue left by a failed run (the scenarios unlink what they create).
  [[ -x $WORK/trace_scenario ]] && MQSHIM_BACKEND= "$WORK/trace_scenario" exit 0 >/dev/null 2>&1
  return 0
}
trap cleanup EXIT

cc -Wall -Wextra -Werror "$ROOT/cli_tests/programs/trace_scenario.c" -o "$WORK/trace_scenario" -lrt || fail "cannot build trace_scenario"

# json_counts FILE: "call count" lines of the call records in a JSON-lines trace, sorted.
json_counts() {
  python3 - "$1" <<'PY'
import collections, json, sys
c = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "call" in r and not r.get("unfinished"):
        c[r["call"]] += 1
for k in sorted(c):
    print(k, c[k])
PY
}
