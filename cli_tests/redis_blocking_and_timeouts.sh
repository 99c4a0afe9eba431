#!/usr/bin/env bash
# Blocking across hosts, both ways, and timeouts. A receiver blocked on an empty queue on one host
# is woken by a send from the other (B waits, A sends; then A waits, B sends); a sender blocked
# on a full queue on one host is woken when the other host receives (both ways); blocking is
# checked, not assumed: the waiter is registered in Redis and its process sleeps before the other
# host acts. POSIX timed calls across hosts end with ETIMEDOUT never before their absolute
# deadline and at most REDIS_TIMEOUT_LATE_MS (default 200) after it — receive on an empty queue,
# send on a full one, from either host, five times each — a deadline already past fails at once,
# and a timed receive that a send from the other host satisfies returns the message.
source "$ROOT/cli_tests/redis_common.bash"
require_redis_backend
LATE=${REDIS_TIMEOUT_LATE_MS:-200}

other() { [[ $1 == A ]] && echo B || echo A; }
# field N NAME: the Nth word of the last line of $WORK/NAME.out
field() { tail -n 1 "$WORK/$2.out" | awk -v n="$1" '{ print $n }'; }

for api in posix sysv; do
  if [[ $api == posix ]]; then Q=/block-$RUNID; else Q=$((0x53000000 + RANDOM)); fi
  # One message fills it: POSIX maxmsg 1; System V msg_qbytes 64 and a 64-byte message.
  client_a "$api" create "$Q" 1 64 | grep -qx created || fail "$api: cannot create $Q"
  FILL=$(printf 'f%.0s' {1..64})
  for waiter in B A; do
    sender=$(other "$waiter")
    # A blocked receiver on $waiter, woken by a send from $sender.
    spawn_cmd "$waiter" "rb-$api-$waiter" "$WORK/redis_client" "$api" recv1 "$Q"
    R=$SPAWNED
    wait_line "rb-$api-$waiter" '^ready$'
    wait_registered "$api" "$Q" 1 "$R"
    client_on "$sender" "$api" send1 "$Q" "hello-from-$sender" | grep -q '^sent' || fail "$api: send on $sender failed"
    reap "$R"
    grep -q "^got hello-from-$sender " "$WORK/rb-$api-$waiter.out" ||
      fail "$api: the receiver blocked on host $waiter got: $(cat "$WORK/rb-$api-$waiter.out" "$WORK/rb-$api-$waiter.err")"
    echo "$api: receiver blocked on host $waiter woken by a send from host $sender (it waited $(field 3 "rb-$api-$waiter") ms in all, the test's registration check included)"

    # A blocked sender on $waiter (queue full), woken when $sender receives.
    client_on "$sender" "$api" send1 "$Q" "$FILL" | grep -q '^sent' || fail "$api: cannot fill the queue"
    spawn_cmd "$waiter" "sb-$api-$waiter" "$WORK/redis_client" "$api" send1 "$Q" "second"
    S=$SPAWNED
    wait_line "sb-$api-$waiter" '^ready$'
    wait_registered "$api" "$Q" 1 "$S"
    client_on "$sender" "$api" recv1 "$Q" | grep -q "^got $FILL " || fail "$api: the receive on $sender did not get the fill message"
    reap "$S"
    grep -q '^sent ' "$WORK/sb-$api-$waiter.out" ||
      fail "$api: the sender blocked on host $waiter: $(cat "$WORK/sb-$api-$waiter.out" "$WORK/sb-$api-$waiter.err")"
    [[ $(client_on "$sender" "$api" drain "$Q") == "got second" ]] || fail "$api: the blocked sender's message is not in the queue"
    echo "$api: sender blocked on host $waiter (queue full) woken by a receive on host $sender (it waited $(field 2 "sb-$api-$waiter") ms in all)"
  done
  [[ $api == posix ]] || { client_a "$api" remove "$Q" | grep -qx removed || fail "cannot remove $Q"; continue; }

  # Timeouts (POSIX: System V calls have none).
  worst=0
  for host in A B; do
    for i in 1 2 3 4 5; do
      for what in recv send; do
        if [[ $what == recv ]]; then
          out=$(client_on "$host" posix recv1 "$Q" 300 | tail -n 1)
        else
          client_a posix send1 "$Q" full >/dev/null
          out=$(client_on "$host" posix send1 "$Q" x 300 | tail -n 1)
          client_a posix drain "$Q" >/dev/null
        fi
        read -r verdict errname ms <<<"$out"
        [[ $verdict == err && $errname == ETIMEDOUT ]] || fail "timed $what on host $host (300 ms): '$out', expected ETIMEDOUT"
        awk -v ms="$ms" 'BEGIN { exit !(ms >= 300) }' || fail "timed $what on host $host returned ETIMEDOUT after $ms ms: before its 300 ms deadline"
        awk -v ms="$ms" -v late="$LATE" 'BEGIN { exit !(ms <= 300 + late) }' ||
          problem "timed $what on host $host returned after $ms ms: more than $LATE ms after its 300 ms deadline"
        worst=$(awk -v a="$worst" -v b="$ms" 'BEGIN { print (b - 300 > a) ? b - 300 : a }')
      done
    done
  done
  echo "posix: 20 timed calls (receive on empty, send on full; 300 ms; from both hosts): ETIMEDOUT, never early, at most $worst ms late (bound $LATE)"
  out=$(client_b posix recv1 "$Q" -1 | tail -n 1)
  read -r verdict errname ms <<<"$out"
  [[ $verdict == err && $errname == ETIMEDOUT ]] || fail "a receive with a deadline already past on an empty queue: '$out'"
  awk -v ms="$ms" -v late="$LATE" 'BEGIN { exit !(ms <= late) }' || fail "a deadline already past took $ms ms"
  spawn_b rt posix recv1 "$Q" 5000
  R=$SPAWNED
  wait_line rt '^ready$'
  wait_registered posix "$Q" 1 "$R"
  client_a posix send1 "$Q" intime | grep -q '^sent' || fail "send for the timed receive failed"
  reap "$R"
  grep -q '^got intime ' "$WORK/rt.out" || fail "a timed receive on B satisfied from A: $(cat "$WORK/rt.out" "$WORK/rt.err")"
  echo "posix: a deadline already past fails at once ($ms ms); a timed receive on B gets A's message"
  client_a posix remove "$Q" | grep -qx removed || fail "cannot remove $Q"
done
finish
