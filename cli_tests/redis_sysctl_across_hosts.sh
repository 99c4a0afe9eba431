#!/usr/bin/env bash
# The queue sysctls are the namespace's (the server prefix's), across hosts: root on host B sets
# queues_max (a shell's builtin echo), msgmni (sysctl -w) and msg_next_id (tee) through /proc
# under the shim; the server holds them, host A reads them back from its own /proc files, and
# A's very next mq_open / msgget obeys them (ENOSPC past the limit, the id asked for), with no
# wait in between. A process that sets the limit itself (MQSHIM_LIMITS) keeps its own.
# Every writer and reader runs in a private IPC namespace (unshare --ipc), so that a write the
# shim failed to intercept would reach that namespace's files, never the machine's.
source "$ROOT/cli_tests/redis_common.bash"
require_redis_backend

# on_host A|B COMMAND...: COMMAND under the shim on that host, in an IPC namespace of its own.
on_host() { local h=$1; shift; in_host "$h"; "${IN_HOST[@]}" unshare --ipc "${SHIM_ENV[@]}" "$@"; }
server_value() { redis_cli hget "{$PREFIX}:sysctl" "$1"; }
expect() {          # expect WHAT GOT WANT
  [[ $2 == "$3" ]] || fail "$1: '$2', expected '$3'"
}

# -- POSIX: queues_max, two above the queues the namespace counts already (the probe's: a
# process that exits without mq_close leaves its opener count on the server, README "Across
# machines", so its unlinked queue still counts)
LIVE=$(redis_cli scard "{$PREFIX}:pq:live")
on_host B sh -c "echo $((LIVE + 2)) > /proc/sys/fs/mqueue/queues_max" || fail "echo on B failed"
expect "queues_max on the server" "$(server_value queues_max)" $((LIVE + 2))
expect "queues_max read on A" "$(on_host A cat /proc/sys/fs/mqueue/queues_max)" $((LIVE + 2))
Q=/sysctl-$RUNID
expect "A's first mq_open" "$(client_a posix create "$Q-1")" created
expect "A's second mq_open" "$(client_a posix create "$Q-2")" created
expect "A's third mq_open (queues_max reached)" "$(client_a posix create "$Q-3")" "err ENOSPC create"
in_host A
expect "A's third mq_open with MQSHIM_LIMITS=queues_max=$((LIVE + 3))" \
  "$("${IN_HOST[@]}" "${SHIM_ENV[@]}" MQSHIM_LIMITS=queues_max=$((LIVE + 3)) "$WORK/redis_client" posix create "$Q-3")" created
for n in 1 2 3; do client_a posix remove "$Q-$n" | grep -qx removed || fail "cannot remove $Q-$n"; done
echo "posix: queues_max=$((LIVE + 2)) written on B (echo) is on the server, read back on A, and A's mq_open past it is ENOSPC (with MQSHIM_LIMITS=queues_max=$((LIVE + 3)), created)"

# -- System V: msgmni, msg_next_id
on_host B sysctl -q -w kernel.msgmni=1 || fail "sysctl -w on B failed"
expect "msgmni on the server" "$(server_value msgmni)" 1
K=$((0x53000000 + (RANDOM << 8)))
expect "A's first msgget" "$(client_a sysv create "$K")" created
expect "A's second msgget (msgmni 1)" "$(client_a sysv create "$((K + 1))")" "err ENOSPC create"
client_a sysv remove "$K" | grep -qx removed || fail "cannot remove key $K"
on_host B sh -c 'echo 98307 | tee /proc/sys/kernel/msg_next_id >/dev/null' || fail "tee on B failed"
expect "msg_next_id read on A" "$(on_host A cat /proc/sys/kernel/msg_next_id)" 98307
expect "A's msgget after msg_next_id" "$(client_a sysv create "$K")" created
expect "the id A's msgget took" "$(redis_cli hget "{$PREFIX}:sv:keys" "$K")" 98307
expect "msg_next_id read on B after it was taken" "$(on_host B cat /proc/sys/kernel/msg_next_id)" -1
client_a sysv remove "$K" | grep -qx removed || fail "cannot remove key $K"
echo "sysv: msgmni=1 written on B (sysctl -w): A's second msgget is ENOSPC; msg_next_id=98307 (tee on B): A's next msgget takes that id, and B then reads -1"
finish
