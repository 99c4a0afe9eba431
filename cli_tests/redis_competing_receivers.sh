#!/usr/bin/env bash
# Competing receivers on two hosts each get a message exactly once: two senders (one per host)
# and four receivers (two per host) share one small queue (POSIX 10 x 64, System V msg_qbytes
# 10 x 64 bytes: the senders block on a full queue most of the time), every message is counted
# — the union of what the receivers got is every message sent, none twice, none missing — and
# the queue is empty at the end. Then each receiver ends on a STOP message (priority 0 / after
# the data), one each.
source "$ROOT/cli_tests/redis_common.bash"
require_redis_backend
N=${REDIS_TEST_MESSAGES:-1500}   # per sender
HALF=$N
for api in posix sysv; do
  if [[ $api == posix ]]; then Q=/compete-$RUNID; else Q=$((0x52000000 + RANDOM)); fi
  client_a "$api" create "$Q" 10 64 | grep -qx created || fail "$api: cannot create $Q"
  for r in a1 a2; do spawn_a "$api-$r" "$api" recv-loop "$Q"; done
  for r in b1 b2; do spawn_b "$api-$r" "$api" recv-loop "$Q"; done
  RECEIVERS=("${SPAWNED_PIDS[@]: -4}")
  t0=$SECONDS
  spawn_a "$api-send-a" "$api" send "$Q" 0 "$HALF"; SA=$SPAWNED
  spawn_b "$api-send-b" "$api" send "$Q" "$HALF" $((2 * HALF)); SB=$SPAWNED
  reap "$SA" 60; reap "$SB" 60
  for s in send-a send-b; do [[ -s $WORK/$api-$s.out ]] && fail "$api $s: $(cat "$WORK/$api-$s.out")"; done
  client_a "$api" stop "$Q" 4 | grep . && fail "$api: cannot send the STOPs"
  for p in "${RECEIVERS[@]}"; do reap "$p" 30; done
  secs=$((SECONDS - t0))
  names=("$api-a1" "$api-a2" "$api-b1" "$api-b2")
  for n in "${names[@]}"; do
    grep -qx done "$WORK/$n.out" || fail "$api receiver $n did not end on its STOP: $(tail -n 3 "$WORK/$n.out")"
    grep -q '^err' "$WORK/$n.out" && fail "$api receiver $n had errors: $(grep '^err' "$WORK/$n.out" | head -n 3)"
  done
  got_ids "${names[@]}" >"$WORK/$api.got"
  seq 0 $((2 * HALF - 1)) | sed 's/^/m/' | sort >"$WORK/$api.want"
  dups=$(uniq -d "$WORK/$api.got" | wc -l)
  missing=$(comm -23 "$WORK/$api.want" <(sort -u "$WORK/$api.got") | wc -l)
  extra=$(comm -13 "$WORK/$api.want" <(sort -u "$WORK/$api.got") | wc -l)
  per=$(for n in "${names[@]}"; do printf '%s=%s ' "${n#"$api"-}" "$(grep -c '^got' "$WORK/$n.out")"; done)
  left=$(client_a "$api" count "$Q")
  echo "$api: $((2 * HALF)) sent (half from each host), received $(wc -l <"$WORK/$api.got") ($per), duplicates $dups, missing $missing, unknown $extra, left in the queue $left, ${secs}s"
  ((dups == 0 && missing == 0 && extra == 0)) || fail "$api: a message was lost or duplicated"
  [[ $left == 0 ]] || fail "$api: $left message(s) left in the queue"
  # Every host's receivers took part (a queue served by one host only would hide cross-host loss).
  for h in a b; do
    n=$(cat "$WORK/$api-${h}1.out" "$WORK/$api-${h}2.out" | grep -c '^got')
    ((n > 0)) || echo "note: $api: the receivers on host ${h^^} got nothing"
  done
  client_a "$api" remove "$Q" | grep -qx removed || fail "$api: cannot remove $Q"
done
finish
