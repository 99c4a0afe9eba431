#!/usr/bin/env bash
# `mqshim ipcrm -a` removes every queue of both APIs in the namespace; each failure is reported
# with the kernel's errno name and text, and the command exits 1.
source "$ROOT/cli_tests/ipcs_common.bash"
make_queues "/ipcs-rm-a-$RUNID"
KEY=$((KEY + 1)) make_queues "/ipcs-rm-b-$RUNID"
json_check 'len(j["posix"])==2 and len(j["sysv"])==2' "$MQSHIM" --dir "$NS" ipcs --json

# Failures name the errno as the kernel spells it.
expect_status 1 "$MQSHIM" --dir "$NS" ipcrm -q 99999999
expect_output '^mqshim: cannot remove id 99999999: EINVAL \(Invalid argument\)$'
expect_status 1 "$MQSHIM" --dir "$NS" ipcrm "/ipcs-absent-$RUNID"
expect_output "^mqshim: cannot remove /ipcs-absent-$RUNID: ENOENT \(No such file or directory\)$"
expect_status 1 "$MQSHIM" --dir "$NS" ipcrm -Q 0x7fffff01
expect_output '^mqshim: cannot remove key 0x7fffff01: EINVAL \(Invalid argument\)$'
expect_status 1 "$MQSHIM" --dir "$NS" ipcrm
expect_output 'or all with -a'

# --all=WHAT empties one API (util-linux's --all=msg; shm and sem name nothing emulated), and
# -v says what is removed in util-linux's words.
expect_status 0 "$MQSHIM" --dir "$NS" ipcrm --all=shm
expect_status 0 "$MQSHIM" --dir "$NS" ipcrm --all=sem
json_check 'len(j["posix"])==2 and len(j["sysv"])==2' "$MQSHIM" --dir "$NS" ipcs --json
expect_status 2 "$MQSHIM" --dir "$NS" ipcrm --all=disk
expect_status 0 "$MQSHIM" --dir "$NS" ipcrm -v --all=msg
expect_output "^removing message queue id \`[0-9]+'$"
json_check 'len(j["posix"])==2 and j["sysv"]==[]' "$MQSHIM" --dir "$NS" ipcs --json
KEY=$((KEY + 2)) make_queues "/ipcs-rm-c-$RUNID"
expect_status 0 "$MQSHIM" --dir "$NS" ipcrm -v --queue-key "$((KEY + 2))"
expect_output "^removing message queue id \`[0-9]+'$"
expect_status 0 "$MQSHIM" --dir "$NS" ipcrm -v --all=posix
expect_output "^removing POSIX message queue \`/ipcs-rm-c-$RUNID'$"
json_check 'j["posix"]==[] and j["sysv"]==[]' "$MQSHIM" --dir "$NS" ipcs --json
make_queues "/ipcs-rm-a-$RUNID"
expect_status 0 "$MQSHIM" --dir "$NS" ipcrm -a
json_check 'j["posix"]==[] and j["sysv"]==[]' "$MQSHIM" --dir "$NS" ipcs --json
# Nothing left: -a on an empty namespace succeeds and removes nothing more.
expect_status 0 "$MQSHIM" --dir "$NS" ipcrm -a
exit 0
