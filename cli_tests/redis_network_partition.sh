#!/usr/bin/env bash
# A server that goes silent (the network between the hosts cut, so no reset ever arrives) ends a
# wait: a receiver blocked on host B (POSIX mq_receive, System V msgrcv: both without a timeout)
# fails with EIO within REDIS_PARTITION_MS (default 10000; TCP keepalive and TCP_USER_TIMEOUT are
# ~3-4 s) instead of hanging; a call begun on B during the cut fails within the same bound; when
# the network is back, the next calls reconnect and work, and nothing was lost: the message sent
# from A during the cut is received on B. Needs two hosts: on loopback there is no network to cut
# (skipped, said so).
source "$ROOT/cli_tests/redis_common.bash"
((TWO_HOSTS)) || { echo "no network to cut on one host (network namespaces unavailable)"; exit 77; }
require_redis_backend
BOUND=${REDIS_PARTITION_MS:-10000}
cut() { ip -n "$NS_A" link set "$VETH_A" "$1" || fail "cannot set $VETH_A $1"; }
FIXTURE_CLEANUP+=("ip -n $NS_A link set $VETH_A up")

for api in posix sysv; do
  new_queue "$api" partition 10 64
  spawn_b "blocked-$api" "$api" recv1 "$Q"; R=$SPAWNED
  wait_line "blocked-$api" '^ready$'
  wait_registered "$api" "$Q" 1 "$R"
  cut down
  t0=$EPOCHREALTIME
  reap "$R" $((BOUND / 1000 + 5))
  took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
  out=$(tail -n 1 "$WORK/blocked-$api.out")
  [[ $out == "err EIO "* ]] || problem "$api: the receiver blocked on B when the network was cut answered '$out' (expected EIO)"
  ((took <= BOUND)) || problem "$api: the blocked receiver ended $took ms after the cut (bound $BOUND)"
  echo "$api: network cut under a receiver blocked on B: '$out' after $took ms"
  # A call begun during the cut, and a send from A (A still reaches the server).
  client_a "$api" send1 "$Q" during-cut | grep -q '^sent' || fail "$api: a send on A (the server's host) failed during the cut"
  t0=$EPOCHREALTIME
  in_host B
  out=$(timeout $((BOUND / 1000 + 30)) "${IN_HOST[@]}" "${SHIM_ENV[@]}" "$WORK/redis_client" "$api" count "$Q" 2>/dev/null)
  took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
  [[ $out == err* ]] || problem "$api: a call on B during the cut answered '$out'"
  ((took <= BOUND)) || problem "$api: a call begun on B during the cut took $took ms (bound $BOUND)"
  echo "$api: a call begun on B during the cut: '$out' after $took ms"
  cut up
  # Back: B reconnects and gets what A sent during the cut (bounded wait for the link).
  for ((i = 0; i < 100; i++)); do
    out=$(client_b "$api" drain "$Q" 2>/dev/null)
    [[ $out == "got during-cut" ]] && break
    [[ -n $out && $out != err* ]] && break
    sleep 0.1
  done
  [[ $out == "got during-cut" ]] || problem "$api: after the network came back, B's drain gave '$out' (expected during-cut)"
  echo "$api: network back: B reconnected and received the message A sent during the cut"
  client_a "$api" remove "$Q" | grep -qx removed || fail "$api: cannot remove $Q"
done
finish
