#!/usr/bin/env bash
# kill -9 of receivers loses no message that was not returned (both APIs, across hosts).
# 1. A receiver blocked on host B (registered in Redis, asleep) is killed; a message sent from A
#    afterwards is received on A within REDIS_DEAD_WAITER_MS (the kernel: at once; here it may
#    be handed to the dead waiter and held until the hand-over goes stale, see DEAD_MS), and
#    the same with a live receiver already blocked on A beside the dead one.
# 2. A receiver killed mid-call: the server is paused for writes (CLIENT PAUSE WRITE) so B's
#    receive script has been sent and not answered — the process is inside its call — when it is
#    killed; after the pause every message is still in the queue.
# 3. Under load: a sender on A streams messages, a receiver loop on B is killed -9 five times at
#    arbitrary points and started again; every message is then received exactly once except at
#    most one per kill (the one a killed call may have taken without returning it — as on the
#    kernel, where a receive that completed hands its message to the process whatever happens to
#    it next); the figures are printed.
# 4. A sender blocked on a full queue on B is killed: its message never appears.
source "$ROOT/cli_tests/redis_common.bash"
require_redis_backend
# A message sent while a killed receiver is still registered may be handed to it (the kernel's
# pipelined send: a send gives its message straight to the longest-waiting receiver) and is
# then held until the hand-over goes stale: not collected within 1 s (lib.lua HANDED_MS, both
# APIs), plus a receiver's 0.5 s slice, plus margin for a loaded machine.
DEAD_MS=${REDIS_DEAD_WAITER_MS:-2500}

for api in posix sysv; do
  # 1. blocked receiver killed
  new_queue "$api" kill9-blocked 10 64
  spawn_b "dead-$api" "$api" recv1 "$Q"
  D=$SPAWNED
  wait_line "dead-$api" '^ready$'
  wait_registered "$api" "$Q" 1 "$D"
  kill -KILL "$D"; reap "$D"
  client_a "$api" send1 "$Q" after-kill | grep -q '^sent' || fail "$api: send after the kill failed"
  # The kernel: the message is there at once. Here a receiver on A must get it within 2 s (10 s
  # timeout, so a longer hold is measured rather than hung on; System V has no timed receive,
  # reap bounds it).
  spawn_a "after-$api" "$api" recv1 "$Q" 10000; A1=$SPAWNED
  reap "$A1" 15
  read -r verdict body ms < <(tail -n 1 "$WORK/after-$api.out")
  [[ $verdict == got && $body == after-kill ]] ||
    fail "$api: after killing a blocked receiver on B, a receiver on A got '$(tail -n 1 "$WORK/after-$api.out")', expected after-kill"
  awk -v ms="$ms" -v b="$DEAD_MS" 'BEGIN { exit !(ms <= b) }' ||
    problem "$api: the message sent after a blocked receiver was killed reached a receiver on A only after $ms ms (bound $DEAD_MS)"
  echo "$api: the first message sent after a blocked receiver on B was killed reached a receiver on A after $ms ms (the kernel: at once)"
  client_a "$api" remove "$Q" | grep -qx removed || fail "$api: cannot remove $Q"
  new_queue "$api" kill9-beside 10 64
  spawn_b "dead2-$api" "$api" recv1 "$Q"; D=$SPAWNED
  wait_line "dead2-$api" '^ready$'
  spawn_a "live-$api" "$api" recv1 "$Q"; L=$SPAWNED
  wait_line "live-$api" '^ready$'
  wait_registered "$api" "$Q" 2 "$D" "$L"
  kill -KILL "$D"; reap "$D"
  client_a "$api" send1 "$Q" for-the-living | grep -q '^sent' || fail "$api: send failed"
  reap "$L" 15
  read -r verdict body ms < <(tail -n 1 "$WORK/live-$api.out")
  [[ $verdict == got && $body == for-the-living ]] || fail "$api: the live receiver on A: $(cat "$WORK/live-$api.out")"
  awk -v ms="$ms" -v b="$DEAD_MS" 'BEGIN { exit !(ms <= b + 1000) }' ||
    problem "$api: the live receiver blocked on A beside a killed one got the message only after waiting $ms ms in all (bound $DEAD_MS after the send)"
  echo "$api: a blocked receiver on B killed -9: nothing lost; a live receiver blocked on A beside it got the next message (it waited $ms ms in all)"

  # 2. receiver killed mid-call (there is no server to pause in the kernel self-test)
  if [[ $SELFTEST != kernel ]]; then
  client_a "$api" send "$Q" 0 3 | grep . && fail "$api: cannot send"
  # The receiver opens the queue (a write script too) before the pause, and starts its receive
  # when told, during it.
  mkfifo "$WORK/mid-$api.in"
  exec {GO}<>"$WORK/mid-$api.in"
  spawn_b "mid-$api" "$api" recv1-go "$Q"; M=$SPAWNED
  wait_line "mid-$api" '^ready$'
  redis_cli client pause 10000 write >/dev/null || fail "CLIENT PAUSE failed"
  echo go >&"$GO"
  for ((i = 0; i < 250; i++)); do
    redis_cli client list | grep -E ' flags=[^ ]*b[^ ]* .* cmd=(eval|evalsha|eval_ro|evalsha_ro|fcall) ' >/dev/null && break
    sleep 0.02
  done
  ((i < 250)) || { redis_cli client unpause >/dev/null; fail "$api: B's receive never reached the server (no paused script call in CLIENT LIST)"; }
  kill -KILL "$M"; reap "$M"
  exec {GO}>&-
  redis_cli client unpause >/dev/null
  [[ $(client_a "$api" count "$Q") == 3 ]] || fail "$api: a receiver killed mid-call took a message: $(client_a "$api" count "$Q") left of 3"
  [[ $(client_a "$api" drain "$Q" | tr '\n' ' ') == "got m0 got m1 got m2 " ]] || fail "$api: the queue is not m0 m1 m2 after the mid-call kill"
  echo "$api: a receiver on B killed -9 inside its call (request sent, no reply): all 3 messages still there"
  fi

  # 3. kills under load
  N=600
  # Paced (1 ms apart: ~0.6 s in all) so that the kills fall among the messages, not after them.
  spawn_a "load-send-$api" "$api" send "$Q" 0 "$N" 1 1000; SND=$SPAWNED
  kills=0 names=()
  for k in 1 2 3 4 5; do
    spawn_b "load-recv-$api-$k" "$api" recv-loop "$Q"; RCV=$SPAWNED
    names+=("load-recv-$api-$k")
    wait_line "load-recv-$api-$k" '^got ' $((5 + RANDOM % 40)) 30
    kill -KILL "$RCV"; reap "$RCV"; kills=$((kills + 1))
  done
  spawn_b "load-recv-$api-last" "$api" recv-loop "$Q"; RCV=$SPAWNED
  names+=("load-recv-$api-last")
  reap "$SND" 60
  client_a "$api" stop "$Q" 1 | grep . && fail "$api: cannot send STOP"
  reap "$RCV" 30
  grep -qx done "$WORK/load-recv-$api-last.out" || fail "$api: the last receiver did not end"
  # Messages handed to a killed receiver come back when its registration is found stale: drain
  # (bounded: DEAD_MS) until every message is accounted for.
  seq 0 $((N - 1)) | sed 's/^/m/' | sort >"$WORK/load-$api.want"
  : >"$WORK/late-$api.out"
  t0=$SECONDS
  while :; do
    client_a "$api" drain "$Q" >>"$WORK/late-$api.out"
    got_ids "${names[@]}" "late-$api" | sort -u | comm -23 "$WORK/load-$api.want" - | grep -q . || break
    ((SECONDS - t0 <= DEAD_MS / 1000)) || break
    sleep 0.25
  done
  late=$(grep -c '^got' "$WORK/late-$api.out")
  names+=("late-$api")
  got_ids "${names[@]}" >"$WORK/load-$api.got"
  dups=$(uniq -d "$WORK/load-$api.got" | wc -l)
  missing=$(comm -23 "$WORK/load-$api.want" <(sort -u "$WORK/load-$api.got") | wc -l)
  left=$(client_a "$api" count "$Q")
  echo "$api: $N sent from A, receiver on B killed -9 $kills times under load: received $(wc -l <"$WORK/load-$api.got") ($late of them only after the receivers had ended: held for a killed receiver, released when its registration went stale), duplicates $dups, not returned to anyone $missing (at most $kills allowed), left $left"
  ((dups == 0)) || fail "$api: duplicates after kill -9"
  ((missing <= kills)) || fail "$api: $missing messages lost to $kills kills"
  [[ $left == 0 ]] || fail "$api: $left message(s) left"
  client_a "$api" remove "$Q" | grep -qx removed || fail "$api: cannot remove $Q"

  # 4. a blocked sender killed: its message was never sent (the kernel drops the sleeping
  #    sender from the queue's wait list when it dies), so no receive may ever return it.
  new_queue "$api" kill9-sender 1 64
  client_a "$api" send1 "$Q" "$(printf 'f%.0s' {1..64})" | grep -q '^sent' || fail "$api: cannot fill $Q"
  spawn_b "ghost-$api" "$api" send1 "$Q" ghost; G=$SPAWNED
  wait_line "ghost-$api" '^ready$'
  wait_registered "$api" "$Q" 1 "$G"
  kill -KILL "$G"; reap "$G"
  out=$( { client_a "$api" drain "$Q"; client_a "$api" drain "$Q"; } | sed 's/^got f*$/got FILL/')
  [[ $out == "got FILL" ]] ||
    problem "$api: after a sender blocked on a full queue was killed, the queue gave: $(echo "$out" | tr '\n' ' ')(expected only the fill message: the killed sender's 'ghost' was never sent)"
  [[ $out == "got FILL" ]] && echo "$api: a sender blocked on B killed -9: its message never appears"
  client_a "$api" remove "$Q" | grep -qx removed || fail "$api: cannot remove $Q"
done
finish
