#!/usr/bin/env bash
# scripts/attack-stress.sh [ROUNDS] — the attack and fault tests (c_tests/attack_*, fault_*,
# issue 13), run ROUNDS times (default MQT_ATTACK_ROUNDS or 10) with fresh seeds: several of them
# are probabilistic (a process stopped at pseudo-random moments, seeded corruption, kill -9 at
# random instants), so one passing run proves less than many. `make stress` runs it; `make test`
# runs each once. Stops at the first failing round, whose output stays on screen.
set -u -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-${MQT_ATTACK_ROUNDS:-10}}
for ((r = 1; r <= ROUNDS; r++)); do
  for filter in attack_ fault_ full_tmpfs; do
    out=$("$ROOT/c_tests/run.sh" "$filter" 2>&1)
    status=$?
    summary=$(tail -1 <<<"$out")
    echo "attack-stress: round $r/$ROUNDS, $filter: $summary"
    if [[ $status != 0 ]]; then
      echo "$out"
      exit 1
    fi
  done
done
echo "attack-stress: $ROUNDS rounds passed"
