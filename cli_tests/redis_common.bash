# Sourced by the redis_*.sh tests of the Redis backend (not a test itself). Sets up two hosts
# (network namespaces joined by a veth; loopback where that is impossible, and the test says so),
# a redis-server on host A (scripts/redis-fixture.bash: stopped, and the namespaces removed, on
# exit), builds programs/redis_client.c, and gives:
#   URL                      MQSHIM_REDIS for this test (a key prefix of its own: PREFIX)
#   client_a / client_b ARGS run `redis_client ARGS` under the shim on host A / B, to completion
#   spawn_a / spawn_b NAME ARGS   the same in the background: stdout $WORK/NAME.out, stderr
#                            $WORK/NAME.err, stdin $WORK/NAME.in if it exists (a FIFO for
#                            sessions); sets SPAWNED (the pid); killed (-9) and reaped on exit
#   reap PID [SECS]          bounded wait for PID to end (fails the test after SECS, default 10)
#   wait_line NAME REGEX [COUNT] [SECS]   until $WORK/NAME.out has COUNT lines matching
#   wait_registered API QUEUE [N]   until N callers wait on QUEUE in Redis (the key schema of
#                            /work design: {P}:pq:names → id, {P}:pq:<id>:waiters; {P}:sv:keys,
#                            {P}:sv:<id>:waiters) and each of them sleeps
#   host_note                "two hosts (netns + veth)" or "ONE HOST (loopback: ...)" for results
#   session_start NAME API QUEUE   a `redis_client session` on host B, fed through a FIFO;
#   ask COMMAND / expect_answer COMMAND WANT / session_end   its one answer line per command
# Nothing sleeps to synchronise: every wait polls a condition with a bound.
source "$ROOT/cli_tests/run_common.bash"
source "$ROOT/scripts/redis-fixture.bash"

fixture_init "$WORK/fixture"
SPAWNED_PIDS=()
FIXTURE_CLEANUP+=('for p in "${SPAWNED_PIDS[@]}"; do kill -KILL "$p"; wait "$p"; done')
if ! redis_available; then
  # CI installs it (.ci/run); without it the test cannot say anything: a failure, not a pass.
  fail "redis-server is not installed (apt-get install -y redis-server)"
fi
hosts_setup 2>"$WORK/hosts.note"
if ((TWO_HOSTS)); then HOST_NOTE="two hosts (network namespaces $NS_A, $NS_B joined by a veth)"
else HOST_NOTE="ONE HOST: $(cat "$WORK/hosts.note")"; echo "$HOST_NOTE"; fi
redis_start || fail "cannot start redis-server"
PREFIX=mqt-$RUNID
URL=$(redis_url "$PREFIX")
build redis_client -Wall -Wextra -Werror
SHIM_ENV=(env LD_PRELOAD="$MQSHIM_LIB_PATH" MQSHIM_BACKEND=redis MQSHIM_REDIS="$URL")
# MQT_REDIS_SELFTEST=kernel: the same tests on the kernel's queues, without the shim (the two
# "hosts" share the machine's IPC namespace), to check a test itself; Redis is then not asked
# who waits, only whether the waiting processes sleep.
SELFTEST=${MQT_REDIS_SELFTEST:-}
[[ $SELFTEST == kernel ]] && SHIM_ENV=(env)

host_note() { echo "$HOST_NOTE"; }

# problem WHY: a failed check after which the test can still go on (a bound exceeded): printed
# now, and finish makes the test fail at its end, so one problem does not hide the next.
PROBLEMS=0
problem() { echo "PROBLEM: $*"; PROBLEMS=$((PROBLEMS + 1)); }
finish() {
  echo "on $(host_note)"
  ((PROBLEMS == 0)) || fail "$PROBLEMS problem(s) above"
  exit 0
}

# in_host A|B: the command prefix that runs a command on that host (ip execs it: $! is the program)
in_host() {
  IN_HOST=()
  if ((TWO_HOSTS)); then
    if [[ $1 == A ]]; then IN_HOST=(ip netns exec "$NS_A"); else IN_HOST=(ip netns exec "$NS_B"); fi
  fi
}
client_on() { local h=$1; shift; in_host "$h"; "${IN_HOST[@]}" "${SHIM_ENV[@]}" "$WORK/redis_client" "$@"; }
client_a() { client_on A "$@"; }
client_b() { client_on B "$@"; }
# spawn_cmd A|B NAME PROGRAM ARGS...: any program under the shim, in $WORK, stdout line-buffered.
spawn_cmd() {
  local h=$1 name=$2 input=/dev/null
  shift 2
  in_host "$h"
  [[ -e $WORK/$name.in ]] && input=$WORK/$name.in
  (cd "$WORK" && exec "${IN_HOST[@]}" "${SHIM_ENV[@]}" stdbuf -oL "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" <"$input") &
  SPAWNED=$!
  SPAWNED_PIDS+=("$SPAWNED")
}
spawn_a() { local n=$1; shift; spawn_cmd A "$n" "$WORK/redis_client" "$@"; }
spawn_b() { local n=$1; shift; spawn_cmd B "$n" "$WORK/redis_client" "$@"; }

reap() {
  local pid=$1 secs=${2:-10} i
  for ((i = 0; i < secs * 50; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return; }
    [[ $(sed -n 's/.*) \(.\).*/\1/p' "/proc/$pid/stat" 2>/dev/null) == Z ]] && { wait "$pid" 2>/dev/null; return; }
    sleep 0.02
  done
  fail "pid $pid still runs after ${secs} s"
}

wait_line() {
  local name=$1 re=$2 want=${3:-1} secs=${4:-10} i n
  for ((i = 0; i < secs * 50; i++)); do
    n=$(grep -cE -- "$re" "$WORK/$name.out" 2>/dev/null)
    ((${n:-0} >= want)) && return 0
    sleep 0.02
  done
  echo "--- $name.out:"; cat "$WORK/$name.out" 2>/dev/null; echo "--- $name.err:"; cat "$WORK/$name.err" 2>/dev/null
  fail "$name: no $want line(s) /$re/ within ${secs} s"
}

# waiters API QUEUE: how many callers are registered as waiting on QUEUE (Redis key schema).
waiters() {
  local id
  if [[ $1 == posix ]]; then
    id=$(redis_cli hget "{$PREFIX}:pq:names" "$2")
    [[ -n $id ]] && redis_cli zcard "{$PREFIX}:pq:$id:waiters"
  else
    id=$(redis_cli hget "{$PREFIX}:sv:keys" "$(($2))")
    [[ -n $id ]] && redis_cli zcard "{$PREFIX}:sv:$id:waiters"
  fi
}

# wait_registered API QUEUE [N] [PIDS...]: N waiters registered in Redis, each PID asleep.
wait_registered() {
  local api=$1 q=$2 want=${3:-1} i n p ok
  shift 3 2>/dev/null || shift $#
  for ((i = 0; i < 500; i++)); do
    if [[ $SELFTEST == kernel ]]; then n=$want; else n=$(waiters "$api" "$q"); fi
    if ((${n:-0} >= want)); then
      ok=1
      for p in "$@"; do [[ $(sed -n 's/.*) \(.\).*/\1/p' "/proc/$p/stat" 2>/dev/null) == S ]] || ok=0; done
      ((ok)) && return 0
    fi
    sleep 0.02
  done
  echo "keys under {$PREFIX}:"; redis_cli --scan --pattern "{$PREFIX}:*" | head -n 20
  fail "$api $q: $want waiter(s) not registered in Redis within 10 s (found ${n:-none})"
}

# wait_notified_registered NAME PID: until the POSIX queue NAME has an mq_notify registration in
# Redis (its meta's n_ptoken; in the kernel self-test: until PID sleeps on three polls in a row).
wait_notify_registered() {
  local i id streak=0
  for ((i = 0; i < 500; i++)); do
    if [[ $SELFTEST == kernel ]]; then
      if [[ $(sed -n 's/.*) \(.\).*/\1/p' "/proc/$2/stat" 2>/dev/null) == S ]]; then streak=$((streak + 1)); else streak=0; fi
      ((streak >= 3)) && return 0
    else
      id=$(redis_cli hget "{$PREFIX}:pq:names" "$1")
      [[ -n $id && -n $(redis_cli hget "{$PREFIX}:pq:$id" n_ptoken) ]] && return 0
    fi
    sleep 0.02
  done
  fail "$1: no mq_notify registration in Redis within 10 s"
}

# require_redis_backend: the library serves MQSHIM_BACKEND=redis (fails the test clearly when it
# does not: a library without the backend ignores the variable and emulates locally).
require_redis_backend() {
  local probe=/mqt-probe-$RUNID keys
  [[ $SELFTEST == kernel ]] && return 0
  client_a posix create "$probe" >"$WORK/probe.out" 2>"$WORK/probe.err"
  if grep -q 'MQSHIM_BACKEND' "$WORK/probe.err"; then
    fail "the library does not serve MQSHIM_BACKEND=redis: $(head -n 1 "$WORK/probe.err")"
  fi
  keys=$(redis_cli --scan --pattern "{$PREFIX}:*" | head -n 1)
  client_a posix remove "$probe" >>"$WORK/probe.out" 2>>"$WORK/probe.err"
  grep -qx removed "$WORK/probe.out" || fail "probe: $(cat "$WORK/probe.out" "$WORK/probe.err")"
  [[ -n $keys ]] || fail "a queue created under MQSHIM_BACKEND=redis made no key under {$PREFIX} in Redis: the calls did not reach the server"
}

# new_queue API TAG [MAXMSG MSGSIZE]: creates a fresh queue (its own waiters: no stale
# registration of an earlier step can be counted) and sets Q to its name (POSIX) or key (SysV).
new_queue() {
  if [[ $1 == posix ]]; then Q=/$2-$RUNID; else Q=$((0x50000000 + (RANDOM << 8) + (RANDOM & 255))); fi
  client_a "$1" create "$Q" "${@:3}" | grep -qx created || fail "$1: cannot create queue $Q ($2)"
}

# got_ids NAME...: every "got mN" line of the named outputs, sorted: one line per message.
got_ids() { local n; for n in "$@"; do sed -n 's/^got \(m[0-9]*\).*/\1/p' "$WORK/$n.out"; done | sort; }

# A session on host B: commands through a FIFO, one answer line each.
session_start() {   # session_start NAME API QUEUE
  mkfifo "$WORK/$1.in"
  exec {SESSION_FD}<>"$WORK/$1.in"
  spawn_b "$1" "$2" session "$3"
  SESSION=$SPAWNED SESSION_NAME=$1
  wait_line "$1" '.' 1
}
ask() {             # ask COMMAND: prints the session's answer
  local n
  n=$(wc -l <"$WORK/$SESSION_NAME.out")
  echo "$1" >&"$SESSION_FD"
  wait_line "$SESSION_NAME" '.' $((n + 1))
  sed -n "$((n + 1))p" "$WORK/$SESSION_NAME.out"
}
expect_answer() {   # expect_answer COMMAND WANT
  local got
  got=$(ask "$1")
  [[ $got == "$2" ]] || fail "session on B: '$1' answered '$got', expected '$2'"
}
session_end() {
  echo quit >&"$SESSION_FD"
  reap "$SESSION"
  exec {SESSION_FD}>&-
}
