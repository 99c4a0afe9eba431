#!/usr/bin/env bash
# The server stopped and restarted under load (both APIs): a sender loop on host A and a
# receiver loop on host B run against one queue; the server is shut down (SHUTDOWN SAVE, so the
# queue survives in its dump) and started again on the same port. Meanwhile every call fails
# with a clear errno — ECONNREFUSED when no connection can be made, EIO when the connection was
# lost mid-call (outcome unknown) — and promptly (no call, blocked or not, takes longer than
# REDIS_RESTART_CALL_MS, default 5000); after the restart the next calls reconnect and both
# loops go on. Every message is accounted for: none twice; every send that succeeded was
# received, but for at most one per receive that failed with EIO (its message may have been
# taken when the reply was lost); a send that failed with EIO may or may not have arrived.
source "$ROOT/cli_tests/redis_common.bash"
require_redis_backend
CALL_MS=${REDIS_RESTART_CALL_MS:-5000}

for api in posix sysv; do
  new_queue "$api" restart 10 64
  rm -f "$WORK/stop-$api"
  spawn_a "send-$api" "$api" send-loop "$Q" "$WORK/stop-$api"; SND=$SPAWNED
  spawn_b "recv-$api" "$api" recv-loop "$Q"; RCV=$SPAWNED
  wait_line "recv-$api" '^got ' 100 20
  redis_stop save
  wait_line "send-$api" '^err ' 1 $((CALL_MS / 1000 + 2))
  wait_line "recv-$api" '^err ' 1 $((CALL_MS / 1000 + 2))
  t0=$EPOCHREALTIME
  down=$(client_b "$api" count "$Q")
  [[ $down == "err ECONNREFUSED open" ]] || fail "$api: a call while the server is down answered '$down', expected ECONNREFUSED"
  down_ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
  redis_start || fail "cannot start redis-server again"
  sent_before=$(grep -c '^ok ' "$WORK/send-$api.out")
  got_before=$(grep -c '^got ' "$WORK/recv-$api.out")
  wait_line "send-$api" '^ok ' $((sent_before + 100)) 20
  wait_line "recv-$api" '^got ' $((got_before + 100)) 20
  touch "$WORK/stop-$api"
  reap "$SND" 20
  client_a "$api" stop "$Q" 1 | grep . && fail "$api: cannot send STOP"
  reap "$RCV" 20
  grep -qx done "$WORK/recv-$api.out" || fail "$api: the receiver loop did not end"

  # Errors: only the two documented ones, none slow.
  bad=$( { awk '$1 == "err" { print $3 }' "$WORK/send-$api.out"; awk '$1 == "err" { print $2 }' "$WORK/recv-$api.out"; } |
         grep -vx -e ECONNREFUSED -e EIO | sort | uniq -c)
  [[ -z $bad ]] || fail "$api: errnos other than ECONNREFUSED and EIO: $bad"
  maxms=$( { awk '$1 == "err" { print $4 } $1 == "maxms" { print $2 }' "$WORK/send-$api.out"; awk '$1 == "err" { print $3 }' "$WORK/recv-$api.out"; } | sort -g | tail -n 1)
  awk -v m="$maxms" -v b="$CALL_MS" 'BEGIN { exit !(m <= b) }' || fail "$api: a call took $maxms ms while the server was away (bound $CALL_MS)"
  # Accounting. A message handed to a receive that then lost its connection comes back when
  # that hand-over is found abandoned: drain (bounded, REDIS_DEAD_WAITER_MS) until every
  # successful send is accounted for; such messages are counted as late (they arrive after the
  # STOP, i.e. out of the kernel's order).
  awk '$1 == "ok" { print "m" $2 }' "$WORK/send-$api.out" | sort >"$WORK/ok-$api"
  awk '$1 == "err" && $3 == "EIO" { print "m" $2 }' "$WORK/send-$api.out" | sort >"$WORK/unknown-$api"
  : >"$WORK/late-$api.out"
  t0=$SECONDS
  while :; do
    client_a "$api" drain "$Q" >>"$WORK/late-$api.out"
    got_ids "recv-$api" "late-$api" | sort -u | comm -23 "$WORK/ok-$api" - | grep -q . || break
    ((SECONDS - t0 <= ${REDIS_DEAD_WAITER_MS:-6000} / 1000)) || break
    sleep 0.25
  done
  late=$(grep -c '^got' "$WORK/late-$api.out")
  got_ids "recv-$api" "late-$api" >"$WORK/got-$api"
  recv_eio=$(awk '$1 == "err" && $2 == "EIO"' "$WORK/recv-$api.out" | wc -l)
  dups=$(uniq -d "$WORK/got-$api" | wc -l)
  missing=$(comm -23 "$WORK/ok-$api" <(sort -u "$WORK/got-$api") | wc -l)
  strays=$(comm -13 <(sort -u "$WORK/ok-$api" "$WORK/unknown-$api") <(sort -u "$WORK/got-$api") | wc -l)
  left=$(client_a "$api" count "$Q")
  echo "$api: server shut down and restarted under load: sends ok $(wc -l <"$WORK/ok-$api"), sends EIO $(wc -l <"$WORK/unknown-$api"), sends ECONNREFUSED $(awk '$1 == "err" && $3 == "ECONNREFUSED"' "$WORK/send-$api.out" | wc -l); received $(wc -l <"$WORK/got-$api") ($late late: after the STOP), receives EIO $recv_eio, receives ECONNREFUSED $(awk '$1 == "err" && $2 == "ECONNREFUSED"' "$WORK/recv-$api.out" | wc -l); duplicates $dups, sent-but-not-received $missing, left $left; longest call ${maxms} ms; a call while down answered ECONNREFUSED in ${down_ms} ms"
  ((dups == 0)) || fail "$api: duplicates"
  ((strays == 0)) || fail "$api: $strays received message(s) that were never sent"
  ((missing <= recv_eio)) || fail "$api: $missing sent message(s) never received (receives that failed with EIO: $recv_eio)"
  # What is left can only be messages whose send failed with EIO (outcome unknown: it did
  # arrive) and that nobody received.
  unknown_unreceived=$(comm -23 "$WORK/unknown-$api" <(sort -u "$WORK/got-$api") | wc -l)
  ((left <= unknown_unreceived)) || fail "$api: $left message(s) left in the queue (sends with EIO not received: $unknown_unreceived)"
  client_a "$api" remove "$Q" | grep -qx removed || fail "$api: cannot remove $Q"
done
finish
