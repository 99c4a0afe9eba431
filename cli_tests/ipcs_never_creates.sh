#!/usr/bin/env bash
# A listing never creates anything: `ipcs`, `ipcrm` and `stat` on a namespace that does not
# exist (a mistyped --dir or MQSHIM_DIR) say so, naming it, exit 1 and leave no directory.
source "$ROOT/cli_tests/run_common.bash"
TYPO=$WORK/typo/ns
for args in "ipcs" "ipcs -q" "ipcs --posix --json" "ipcs -u" "ipcs -p" "ipcrm -a" "ipcrm /q" "ipcrm -q 1" "stat /q"; do
  # shellcheck disable=SC2086
  expect_status 1 "$MQSHIM" --dir "$TYPO" $args
  expect_output "no namespace at '$TYPO': it does not exist"
  [[ ! -e $WORK/typo ]] || fail "'mqshim $args' created $WORK/typo"
  MQSHIM_DIR=$TYPO expect_status 1 "$MQSHIM" $args
  [[ ! -e $WORK/typo ]] || fail "'MQSHIM_DIR=… mqshim $args' created $WORK/typo"
done

# An existing directory that is no namespace is not made one either.
mkdir "$WORK/plain"
expect_status 1 "$MQSHIM" --dir "$WORK/plain" ipcs
expect_output "'$WORK/plain'"
[[ -z $(ls -A "$WORK/plain") ]] || fail "ipcs created $(ls -A "$WORK/plain") in a plain directory"

# A namespace whose programs never used System V queues gets no registry from a listing.
build ipcs_queues
"$MQSHIM" run --dir "$WORK/ns" -- "$WORK/ipcs_queues" notify /absent none >/dev/null 2>&1
[[ -d $WORK/ns ]] || fail "the program made no namespace"
before=$(find "$WORK/ns" | sort)
expect_status 0 "$MQSHIM" --dir "$WORK/ns" ipcs
expect_status 0 "$MQSHIM" --dir "$WORK/ns" ipcs -q --json
after=$(find "$WORK/ns" | sort)
[[ $before == "$after" ]] || { diff <(echo "$before") <(echo "$after"); fail "ipcs changed the namespace"; }

# A relative --dir names the namespace `run --dir` made there (both make it absolute).
(cd "$WORK" && expect_status 0 "$MQSHIM" --dir ns ipcs) || exit 1
expect_output "emulated, $WORK/ns\)"
exit 0
