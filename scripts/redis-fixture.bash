# scripts/redis-fixture.bash — sourced (never run) by the tests and benchmarks of the Redis
# backend (cli_tests/redis_*.sh, c_tests/run.sh's shim-redis configuration, bench/run.sh's redis
# rows). It gives them:
#
#   two hosts    hosts_setup: as root, two network namespaces ("host A", "host B") joined by a
#                veth pair, names unique to this shell (mqs<pid>x<n>a/b); on_a / on_b COMMAND run
#                a command on one of them (ip netns exec). Where network namespaces cannot be made
#                (not root, no `ip`, no veth), both "hosts" are this machine and the server
#                listens on loopback: hosts_setup says so on stderr and sets TWO_HOSTS=0 — a test
#                prints that in its result, never passes it off as the two-host run.
#   a server     redis_start: redis-server in the foreground under our control (a child of this
#                shell), on a free port, persistence off (--save '' --appendonly no),
#                protected mode off, bound to host A's address (and 127.0.0.1 of host A); waits
#                (bounded) until it answers PING. redis_stop [save] stops it (SHUTDOWN SAVE
#                keeps the data in its own directory for redis_start to load again: a restart
#                that keeps the queues), redis_kill kills it (-9).
#   clean-up     fixture_cleanup, run from the EXIT trap that fixture_init installs (and on INT,
#                TERM, HUP): the server stopped and reaped, every process still in the two
#                namespaces killed (only ours live there), the namespaces and the veth removed.
#                A test that needs its own clean-up adds a command to FIXTURE_CLEANUP (run
#                first, in order).
#
# After redis_start: REDIS_PORT, REDIS_PID, REDIS_ADDR (the server's address as clients on either
# host reach it), redis_url [PREFIX] (the MQSHIM_REDIS value; PREFIX defaults to one unique to
# this run), redis_cli ARGS... (redis-cli on host A against the server).
# MQS_REDIS_SERVER / MQS_REDIS_CLI name other programs (e.g. valkey-server, valkey-cli) to run
# the same tests against another engine of the family.
# Nothing here sleeps to synchronise: every wait polls a condition with a bound.

REDIS_SERVER=${MQS_REDIS_SERVER:-redis-server}
REDIS_CLI=${MQS_REDIS_CLI:-redis-cli}
FIXTURE_CLEANUP=()
FIXTURE_TMP=
FIXTURE_SEQ=${FIXTURE_SEQ:-0}
TWO_HOSTS=0
NS_A= NS_B= VETH_A= VETH_B=
ADDR_A=127.0.0.1 ADDR_B=127.0.0.1
REDIS_PID= REDIS_PORT= REDIS_ADDR= REDIS_DIR=

# redis_available: redis-server and redis-cli are installed (say why not on stderr otherwise).
redis_available() {
  local c
  for c in "$REDIS_SERVER" "$REDIS_CLI"; do
    command -v "$c" >/dev/null 2>&1 || { echo "redis fixture: $c is not installed (apt-get install -y redis-server)" >&2; return 1; }
  done
}

# fixture_init [DIR]: the fixture's scratch directory (default: a fresh one under TMPDIR) and the
# traps that clean up. Call once, before anything else.
fixture_init() {
  if [[ -n ${1:-} ]]; then FIXTURE_TMP=$1; mkdir -p "$FIXTURE_TMP"
  else FIXTURE_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mqs-redis.XXXXXX"); FIXTURE_CLEANUP+=("rm -rf $FIXTURE_TMP"); fi
  trap fixture_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

fixture_cleanup() {
  local c
  trap - EXIT
  for c in "${FIXTURE_CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1; done
  FIXTURE_CLEANUP=()
  redis_kill
  hosts_teardown
}

# on_a / on_b COMMAND...: run COMMAND on host A / host B.
on_a() { if ((TWO_HOSTS)); then ip netns exec "$NS_A" "$@"; else "$@"; fi; }
on_b() { if ((TWO_HOSTS)); then ip netns exec "$NS_B" "$@"; else "$@"; fi; }

# hosts_setup: two hosts if possible (TWO_HOSTS=1), else loopback (TWO_HOSTS=0, said on stderr).
# MQS_FORCE_LOOPBACK=1 takes the loopback path on purpose (to test it).
hosts_setup() {
  local why= n
  FIXTURE_SEQ=$((FIXTURE_SEQ + 1))
  n=$$x$FIXTURE_SEQ
  if [[ ${MQS_FORCE_LOOPBACK:-0} == 1 ]]; then why="MQS_FORCE_LOOPBACK=1"
  elif ((EUID != 0)); then why="not root"
  elif ! command -v ip >/dev/null 2>&1; then why="no ip command (iproute2)"
  fi
  if [[ -z $why ]]; then
    NS_A=mqs${n}a NS_B=mqs${n}b VETH_A=mqs${n}a VETH_B=mqs${n}b
    # 10.(200-249).X.1 and .2: any pair does, they exist only inside the two namespaces.
    local net=10.$((200 + RANDOM % 50)).$((RANDOM % 256))
    ADDR_A=$net.1 ADDR_B=$net.2
    if ! { ip netns add "$NS_A" && ip netns add "$NS_B" \
           && ip link add "$VETH_A" type veth peer name "$VETH_B" \
           && ip link set "$VETH_A" netns "$NS_A" && ip link set "$VETH_B" netns "$NS_B" \
           && ip -n "$NS_A" addr add "$ADDR_A/30" dev "$VETH_A" \
           && ip -n "$NS_B" addr add "$ADDR_B/30" dev "$VETH_B" \
           && ip -n "$NS_A" link set lo up && ip -n "$NS_B" link set lo up \
           && ip -n "$NS_A" link set "$VETH_A" up && ip -n "$NS_B" link set "$VETH_B" up; } 2>"$FIXTURE_TMP/netns.err"; then
      why="network namespaces unavailable: $(head -n 1 "$FIXTURE_TMP/netns.err")"
      TWO_HOSTS=1
      hosts_teardown
    else
      TWO_HOSTS=1
      # Bounded wait until B reaches A (the veth's carrier comes up asynchronously).
      local i
      for ((i = 0; i < 100; i++)); do
        [[ $(ip netns exec "$NS_B" timeout 1 bash -c "exec 3<>/dev/tcp/$ADDR_A/9" 2>&1) == *refused* ]] && break
        sleep 0.05
      done
    fi
  fi
  if ((!TWO_HOSTS)); then
    NS_A= NS_B= VETH_A= VETH_B= ADDR_A=127.0.0.1 ADDR_B=127.0.0.1
    echo "NOTE: two hosts unavailable ($why): host A and host B are both this machine, on loopback" >&2
  fi
  return 0
}

hosts_teardown() {
  local ns p
  ((TWO_HOSTS)) || return 0
  for ns in "$NS_A" "$NS_B"; do
    [[ -n $ns ]] || continue
    # Whatever still runs in our namespaces is ours (started by this test).
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  # Deleting a namespace destroys the veth end in it and so the pair; this is for a setup that
  # failed before the ends were moved.
  [[ -n $VETH_A ]] && ip link del "$VETH_A" 2>/dev/null
  TWO_HOSTS=0 NS_A= NS_B= VETH_A= VETH_B=
  return 0
}

# redis_start: the server on host A (see the top). Returns non-zero (and says why) when it
# cannot be started within 10 s. A second call restarts the one before on the same port with
# the same directory (loading what `redis_stop save` saved).
redis_start() {
  local try port log i
  redis_available || return 1
  [[ -n $FIXTURE_TMP ]] || { echo "redis fixture: call fixture_init first" >&2; return 1; }
  REDIS_ADDR=$ADDR_A
  [[ -n $REDIS_DIR ]] || { REDIS_DIR=$FIXTURE_TMP/redis.$FIXTURE_SEQ.$RANDOM; mkdir -p "$REDIS_DIR"; }
  for ((try = 0; try < 20; try++)); do
    if [[ -n $REDIS_PORT && $try == 0 ]]; then port=$REDIS_PORT
    elif ((TWO_HOSTS)); then port=$((20000 + RANDOM % 30000))       # a fresh namespace: all free
    else port=$(redis_free_port); fi
    log=$REDIS_DIR/redis.log
    : >"$log"
    local bind="127.0.0.1"
    [[ $REDIS_ADDR != 127.0.0.1 ]] && bind="$REDIS_ADDR 127.0.0.1"
    local -a in_a=()
    ((TWO_HOSTS)) && in_a=(ip netns exec "$NS_A")   # ip execs the command: $! is the server
    "${in_a[@]}" "$REDIS_SERVER" --port "$port" --bind "$bind" --save '' --appendonly no \
      --protected-mode no --daemonize no --dir "$REDIS_DIR" --dbfilename dump.rdb \
      --logfile "$log" --loglevel warning </dev/null >/dev/null 2>&1 &
    REDIS_PID=$! REDIS_PORT=$port
    for ((i = 0; i < 200; i++)); do
      if ! kill -0 "$REDIS_PID" 2>/dev/null; then break; fi
      [[ $(redis_cli ping 2>/dev/null) == PONG ]] && return 0
      sleep 0.05
    done
    if kill -0 "$REDIS_PID" 2>/dev/null; then
      echo "redis fixture: redis-server did not answer PING within 10 s" >&2
      redis_kill; return 1
    fi
    wait "$REDIS_PID" 2>/dev/null
    REDIS_PID=
    grep -qi 'address already in use' "$log" && continue   # lost a race for the port: another
    echo "redis fixture: redis-server exited: $(tail -n 3 "$log")" >&2
    return 1
  done
  echo "redis fixture: no free port after 20 tries" >&2
  return 1
}

# redis_free_port: a TCP port nobody listens on here (the server binding it is the real test).
redis_free_port() {
  local p i
  for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 30000))
    ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
  done
  echo "$p"
}

redis_url() { echo "redis://$REDIS_ADDR:$REDIS_PORT/0?prefix=${1:-mqs-$$-$FIXTURE_SEQ}"; }
redis_cli() { on_a "$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# redis_stop [save]: SHUTDOWN (SAVE: the data is written to the server's directory, and the next
# redis_start loads it; NOSAVE otherwise), bounded wait for the process to end, then -9.
redis_stop() {
  [[ -n $REDIS_PID ]] || return 0
  local mode=NOSAVE i
  [[ ${1:-} == save ]] && mode=SAVE
  redis_cli shutdown "$mode" >/dev/null 2>&1
  for ((i = 0; i < 200; i++)); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.05; done
  redis_kill
}

# redis_kill: the server killed (-9) and reaped, if it runs.
redis_kill() {
  [[ -n $REDIS_PID ]] || return 0
  kill -KILL "$REDIS_PID" 2>/dev/null
  wait "$REDIS_PID" 2>/dev/null
  REDIS_PID=
  return 0
}
