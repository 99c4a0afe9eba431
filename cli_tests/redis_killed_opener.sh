#!/usr/bin/env bash
# A process killed with a POSIX queue open gives the queue back, as on the kernel (where its
# descriptors close at exit): once the name is unlinked, the queue goes, with its queues_max
# slot and its RLIMIT_MSGQUEUE charge — nobody has to remove anything.
# For a holder on host A and one on host B. The holder on B runs in a pid namespace of its own
# as well (the two test hosts share the machine's): so a client on A cannot look B's process up
# and tells that it is gone from the server's connections, as it would across machines; within
# a host, from the process table.
# 1. a receiver opens the queue and blocks; the name is unlinked from A; the receiver is killed
#    -9. With queues_max 1 (MQSHIM_LIMITS), the next mq_open(O_CREAT) on A succeeds (the kernel:
#    the killed process's queue is gone; before: ENOSPC for ever), the old queue's keys are gone
#    from the server and the uid's charge is back to nothing once the new queue is removed;
# 2. the same killed holder beside a live one on the other host: when the live one closes its
#    descriptor (mq_close) the queue goes at once, with no other call made.
# 3. a live holder of an unlinked queue on B is not taken for gone (below).
source "$ROOT/cli_tests/redis_common.bash"
require_redis_backend

# Whether queue incarnation ID still has keys on the server / the uid's charge.
keys_of() { redis_cli --scan --pattern "{$PREFIX}:pq:$1*" | head -n 3; }
charge() { redis_cli hget "{$PREFIX}:pq:charge" "$(id -u)"; }
# spawn_holder H NAME QUEUE: a receiver blocked on QUEUE on host H (on B in a pid namespace of
# its own): HOLDER (its pid here), HOLDER_PARENT (what to reap).
spawn_holder() {
  local i
  if [[ $1 == A ]]; then
    spawn_cmd A "$2" "$WORK/redis_client" posix recv1 "$3"
    HOLDER=$SPAWNED HOLDER_PARENT=$SPAWNED
    return
  fi
  spawn_cmd B "$2" unshare --pid --fork --kill-child "$WORK/redis_client" posix recv1 "$3"
  HOLDER_PARENT=$SPAWNED HOLDER=
  for ((i = 0; i < 500; i++)); do
    HOLDER=$(pgrep -P "$HOLDER_PARENT" | head -n 1)
    [[ -n $HOLDER ]] && return
    sleep 0.02
  done
  fail "no process under unshare $HOLDER_PARENT"
}
kill_holder() { kill -KILL "$HOLDER"; reap "$HOLDER"; reap "$HOLDER_PARENT"; }

# A session (commands on stdin) on host H that opens queue Q: SESSION, SESSION_FD.
session_start() {   # session_start H NAME QUEUE
  mkfifo "$WORK/$2.in"
  exec {SESSION_FD}<>"$WORK/$2.in"
  spawn_cmd "$1" "$2" "$WORK/redis_client" posix session "$3"
  SESSION=$SPAWNED
  wait_line "$2" '^open$' 1
}

for host in A B; do
  other=B; [[ $host == B ]] && other=A
  # 1. a killed holder alone
  new_queue posix killed-$host 4 64
  [[ $SELFTEST == kernel ]] || id=$(redis_cli hget "{$PREFIX}:pq:names" "$Q")
  spawn_holder "$host" "holder-$host" "$Q"
  wait_line "holder-$host" '^ready$'
  wait_registered posix "$Q" 1 "$HOLDER"
  client_a posix remove "$Q" | grep -qx removed || fail "cannot unlink $Q"
  kill_holder
  if [[ $SELFTEST == kernel ]]; then
    client_a posix create "/next-$host-$RUNID" | grep -qx created || fail "cannot create a queue after the kill"
  else
    got=$(SHIM_ENV+=(MQSHIM_LIMITS=queues_max=1); client_a posix create "/next-$host-$RUNID")
    [[ $got == created ]] ||
      fail "a holder on $host killed -9 with the unlinked $Q open: the next mq_open(O_CREAT) at queues_max 1 gave '$got' (the kernel: the killed process's queue is gone)"
    [[ -z $(keys_of "$id") ]] || fail "the unlinked queue of a holder on $host killed -9 still has keys: $(keys_of "$id" | tr '\n' ' ')"
  fi
  client_a posix remove "/next-$host-$RUNID" | grep -qx removed || fail "cannot remove /next-$host-$RUNID"
  if [[ $SELFTEST != kernel ]]; then
    client_a posix create "/probe-$host-$RUNID" | grep -qx created || fail "cannot create a probe queue"
    client_a posix remove "/probe-$host-$RUNID" | grep -qx removed || fail "cannot remove the probe queue"
    [[ $(charge) == 0 ]] || fail "RLIMIT_MSGQUEUE charge left after every queue went: $(charge) bytes"
    [[ $(redis_cli scard "{$PREFIX}:pq:live") == 0 ]] || fail "queues counted against queues_max after every queue went: $(redis_cli smembers "{$PREFIX}:pq:live" | tr '\n' ' ')"
  fi
  echo "posix: a holder on $host killed -9 with an unlinked queue open: the queue, its queues_max slot and its charge are gone at the next mq_open"

  # 2. a killed holder beside a live one on the other host, which then closes
  new_queue posix beside-$host 4 64
  [[ $SELFTEST == kernel ]] || id=$(redis_cli hget "{$PREFIX}:pq:names" "$Q")
  spawn_holder "$host" "holder2-$host" "$Q"
  wait_line "holder2-$host" '^ready$'
  wait_registered posix "$Q" 1 "$HOLDER"
  session_start "$other" "live-$other" "$Q"
  client_a posix remove "$Q" | grep -qx removed || fail "cannot unlink $Q"
  kill_holder
  echo close >&"$SESSION_FD"
  wait_line "live-$other" '^closed$'
  if [[ $SELFTEST != kernel ]]; then
    [[ -z $(keys_of "$id") ]] ||
      fail "the live holder on $other closed the unlinked $Q after the holder on $host was killed: its keys are still there: $(keys_of "$id" | tr '\n' ' ')"
    [[ $(charge) == 0 ]] || fail "RLIMIT_MSGQUEUE charge left after the last live holder closed: $(charge) bytes"
  fi
  echo quit >&"$SESSION_FD"
  reap "$SESSION"
  exec {SESSION_FD}>&-
  echo "posix: a holder on $host killed -9 beside a live one on $other: the unlinked queue went when the live one closed"
done

# 3. A live holder is never taken for gone: a session on B (its own pid namespace: judged by its
#    connections) holds an unlinked queue while A is refused a new one at queues_max 1 (which
#    looks at the orphans' openers); its descriptor still works, and its close frees the queue.
new_queue posix live-holder 4 64
[[ $SELFTEST == kernel ]] || id=$(redis_cli hget "{$PREFIX}:pq:names" "$Q")
mkfifo "$WORK/live-ns.in"
exec {SESSION_FD}<>"$WORK/live-ns.in"
spawn_cmd B live-ns unshare --pid --fork --kill-child "$WORK/redis_client" posix session "$Q"
SESSION=$SPAWNED
wait_line live-ns '^open$' 1
client_a posix remove "$Q" | grep -qx removed || fail "cannot unlink $Q"
if [[ $SELFTEST != kernel ]]; then
  got=$(SHIM_ENV+=(MQSHIM_LIMITS=queues_max=1); client_a posix create "/next-live-$RUNID")
  [[ $got == "err ENOSPC create" ]] || fail "at queues_max 1 with an unlinked queue held by a live process on B, mq_open(O_CREAT) on A gave '$got', expected ENOSPC"
fi
echo "send still-here" >&"$SESSION_FD"; wait_line live-ns '^sent$'
echo count >&"$SESSION_FD"; wait_line live-ns '^count 1$'
echo close >&"$SESSION_FD"; wait_line live-ns '^closed$'
[[ $SELFTEST == kernel || -z $(keys_of "$id") ]] || fail "the unlinked $Q still has keys after its live holder closed it: $(keys_of "$id" | tr '\n' ' ')"
echo quit >&"$SESSION_FD"
reap "$SESSION"
exec {SESSION_FD}>&-
echo "posix: a live holder on B of an unlinked queue kept it through a sweep (ENOSPC at queues_max for A); its close freed it"
finish
