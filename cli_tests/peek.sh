#!/usr/bin/env bash
# `mqshim peek` shows what a queue holds in the order receivers would take it — priority (type),
# size, a C-escaped preview — and its pending scheduled messages with their due times, without
# taking anything: peeking twice gives the same output, the next receive gets the first message
# listed, a mq_notify registration stays (and does not fire). POSIX queues both in the general
# structure (mixed priorities, scheduled messages) and in the express ring (falling priorities
# only); System V queues by id; --json parsed with python3; a missing queue is an error naming it.
source "$ROOT/cli_tests/ipcs_common.bash"
build peek_queues
MIXED=/peek-mixed-$RUNID RING=/peek-ring-$RUNID FULL=/peek-full-$RUNID
OWNER= SENDER=
trap '[[ -n $OWNER ]] && kill -9 "$OWNER" 2>/dev/null; [[ -n $SENDER ]] && kill -9 "$SENDER" 2>/dev/null; "$MQSHIM" --dir "$NS" ipcrm -a >/dev/null 2>&1' EXIT

out=$("$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" fill "$MIXED" "$RING" "$KEY") || fail "cannot make the queues: $out"
read -r _ MSQID <<<"$out"
[[ $MSQID =~ ^[0-9]+$ ]] || fail "peek_queues printed '$out'"

# A registration that must survive the peeks (SIGEV_NONE: the owner stays alive meanwhile).
start_registrant "$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" notify "$MIXED"

# The general structure: highest priority first, FIFO within one; the long one cut at 32 bytes.
expect_status 0 "$MQSHIM" --dir "$NS" peek "$MIXED"
cp "$WORK/out" "$WORK/first"
expect_output "^$MIXED: 5 message\(s\), 2 scheduled"
# (The ages, which peek_ages_and_times.sh checks, left out.)
sed -n '/^ *order/,/^scheduled:/p' "$WORK/out" | grep -E '^ +[0-9]' | sed -E 's/ +[0-9]+\.[0-9]{3}s[ *]  /  /' >"$WORK/rows"
cat >"$WORK/want" <<'ROWS'
    1          5        6  "high-a"
    2          5        9  "high-b\n\x01\""
    3          3        3  "mid"
    4          1        9  "low-first"
    5          0       51  "a long message, longer than the "...
ROWS
diff -u "$WORK/want" "$WORK/rows" || fail "peek $MIXED: not the receive order above"
# Scheduled messages, earliest due first, with their due times (an hour and two hours ahead).
sed -n '/^scheduled:/,$p' "$WORK/out" | grep -E '^[0-9]{4}-' >"$WORK/sched"
[[ $(wc -l <"$WORK/sched") == 2 ]] || fail "not two scheduled rows: $(cat "$WORK/sched")"
grep -Eq '^[0-9-]+ [0-9:.]+ +3[0-9]{3}\.[0-9]+s +7 +10  "in an hour"$' <(sed -n 1p "$WORK/sched") || fail "first scheduled row: $(sed -n 1p "$WORK/sched")"
grep -Eq '^[0-9-]+ [0-9:.]+ +7[0-9]{3}\.[0-9]+s +2 +12  "in two hours"$' <(sed -n 2p "$WORK/sched") || fail "second scheduled row: $(sed -n 2p "$WORK/sched")"

# Twice the same (but for the seconds left), and the notification registration is still there.
expect_status 0 "$MQSHIM" --dir "$NS" peek "$MIXED"
diff <(sed -E 's/ +[0-9]+\.[0-9]+s\*? / /g' "$WORK/first") <(sed -E 's/ +[0-9]+\.[0-9]+s\*? / /g' "$WORK/out") || fail "a second peek differs"
expect_status 0 "$MQSHIM" --dir "$NS" stat "$MIXED"
expect_output "NOTIFY:1 +SIGNO:0 +NOTIFY_PID:$OWNER *$"

# -s, and --json with the documented fields.
expect_status 0 "$MQSHIM" --dir "$NS" peek -s 4 "$MIXED"
expect_output '^ +1 +5 +6 +[0-9]+\.[0-9]{3}s   "high"\.\.\.$'
json_check "j['api']=='posix' and j['queue']=='$MIXED' and [(m['prio'],m['size'],m['preview'],m['truncated']) for m in j['messages']]==[(5,6,'high-a',False),(5,9,'high-b\\\\n\\\\x01\\\\\"',False),(3,3,'mid',False),(1,9,'low-first',False),(0,51,'a long message, longer than the ',True)] and [(m['prio'],m['preview']) for m in j['scheduled']]==[(7,'in an hour'),(2,'in two hours')] and all(m['due_ns']>__import__('time').time_ns()+3000e9 for m in j['scheduled'])" \
  "$MQSHIM" --dir "$NS" peek --json "$MIXED"

# Nothing was dequeued: the next receive takes the first message listed.
expect_status 0 "$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" recv "$MIXED"
expect_output '^prio 5 len 6 high-a$'
expect_status 0 "$MQSHIM" --dir "$NS" peek "$MIXED"
expect_output "^$MIXED: 4 message\(s\), 2 scheduled"
expect_output '^ +1 +5 +9 +[0-9]+\.[0-9]{3}s   "high-b'

# The express ring (falling priorities only), read in place.
expect_status 0 "$MQSHIM" --dir "$NS" peek "$RING"
expect_output "^$RING: 3 message\(s\), 0 scheduled"
grep -E '^ +[0-9]' "$WORK/out" | awk '{print $2, $5}' | paste -sd' ' | grep -qx '3 "r1" 3 "r2" 1 "r3"' || { cat "$WORK/out"; fail "peek $RING: not r1 r2 r3"; }
expect_status 0 "$MQSHIM" --dir "$NS" peek "$RING"
expect_output '^ +1 +3 +2 +[0-9]+\.[0-9]{3}s   "r1"$'
expect_status 0 "$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" recv "$RING"
expect_output '^prio 3 len 2 r1$'

# System V: arrival order with types, the scheduled one with its due time; nothing taken.
expect_status 0 "$MQSHIM" --dir "$NS" peek -q "$MSQID"
expect_output "^id $MSQID: 4 message\(s\), 1 scheduled"
grep -E '^ +[0-9]' "$WORK/out" | awk '{print $2, $5}' | paste -sd' ' | grep -qx '5 "t5-0" 2 "t2-1" 9 "t9-2" 2 "t2-3"' || { cat "$WORK/out"; fail "peek -q: not the arrival order"; }
expect_output '^[0-9-]+ [0-9:.]+ +3[0-9]{3}\.[0-9]+s +4 +5  "later"$'
json_check "j['api']=='sysv' and [(m['type'],m['size'],m['preview']) for m in j['messages']]==[(5,4,'t5-0'),(2,4,'t2-1'),(9,4,'t9-2'),(2,4,'t2-3')] and [(m['type'],m['preview']) for m in j['scheduled']]==[(4,'later')] and j['scheduled'][0]['due_ns']>__import__('time').time_ns()" \
  "$MQSHIM" --dir "$NS" peek --json -q "$MSQID"
expect_status 0 "$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" msgrcv "$MSQID"
expect_output '^type 5 len 4 t5-0$'

# A blocked sender is left blocked: its message is not listed (nor let in), and it is sent
# only when a receive makes room.
"$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" blocked-send "$FULL" >"$WORK/sender.out" 2>&1 &
SENDER=$!
for _ in $(seq 200); do
  grep -q '^full' "$WORK/sender.out" && [[ $(awk '{print $3}' "/proc/$SENDER/stat" 2>/dev/null) == S ]] && break
  kill -0 "$SENDER" 2>/dev/null || break
  sleep 0.05
done
[[ $(awk '{print $3}' "/proc/$SENDER/stat" 2>/dev/null) == S ]] || fail "the sender did not block: $(cat "$WORK/sender.out")"
for _ in 1 2; do
  expect_status 0 "$MQSHIM" --dir "$NS" peek "$FULL"
  expect_output "^$FULL: 2 message\\(s\\), 0 scheduled"
  grep -q third "$WORK/out" && fail "peek listed the blocked sender's message"
done
kill -0 "$SENDER" 2>/dev/null && ! grep -q '^sent' "$WORK/sender.out" || fail "the blocked sender was let go by a peek: $(cat "$WORK/sender.out")"
expect_status 0 "$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" recv "$FULL"
expect_output '^prio 1 len 5 first$'
wait "$SENDER" || fail "the sender failed: $(cat "$WORK/sender.out")"
SENDER=
grep -q '^sent' "$WORK/sender.out" || fail "the sender did not finish: $(cat "$WORK/sender.out")"
expect_status 0 "$MQSHIM" --dir "$NS" peek "$FULL"
grep -E '^ +[0-9]' "$WORK/out" | awk '{print $2, $5}' | paste -sd' ' | grep -qx '9 "third" 1 "second"' || { cat "$WORK/out"; fail "peek $FULL after the receive"; }

# Errors name what was wrong.
expect_status 1 "$MQSHIM" --dir "$NS" peek "/peek-missing-$RUNID"
expect_output "peek /peek-missing-$RUNID: .*ENOENT"
expect_status 1 "$MQSHIM" --dir "$NS" peek -q 77777
expect_output 'peek -q 77777: EINVAL'
# Another user gets what a receiver would: nothing without read permission (the queues are 0640
# and 0600, root's), EACCES named. The namespace is one another user can reach (not under $WORK).
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null && [[ -x $(command -v "$MQSHIM") ]]; then
  SHARED=/dev/shm/mqshim-peek-$RUNID
  out=$("$MQSHIM" run --dir "$SHARED" -- "$WORK/peek_queues" fill "$MIXED" "$RING" "$((KEY + 1))") || fail "cannot make the shared queues: $out"
  read -r _ SHARED_ID <<<"$out"
  as_nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$MQSHIM" --dir "$SHARED" peek "$@"; }
  as_nobody "$MIXED" >"$WORK/out" 2>&1
  status=$?
  { ((status == 1)) && grep -q 'EACCES' "$WORK/out"; } || { cat "$WORK/out"; "$MQSHIM" --dir "$SHARED" ipcrm -a; rm -rf "$SHARED"; fail "peek of root's 0640 queue as nobody: exit $status"; }
  as_nobody -q "$SHARED_ID" >"$WORK/out" 2>&1
  status=$?
  { ((status == 1)) && grep -q 'EACCES' "$WORK/out"; } || { cat "$WORK/out"; "$MQSHIM" --dir "$SHARED" ipcrm -a; rm -rf "$SHARED"; fail "peek -q of root's 0600 queue as nobody: exit $status"; }
  "$MQSHIM" --dir "$SHARED" ipcrm -a >/dev/null 2>&1
  rm -rf "$SHARED"
else
  echo "note: not root (or no setpriv): the other-user case is not run"
fi

# A namespace that does not exist is named, and not created.
expect_status 1 "$MQSHIM" --dir "$WORK/no-such-ns" peek "$MIXED"
expect_output "no namespace at '$WORK/no-such-ns'"
[[ ! -e $WORK/no-such-ns ]] || fail "peek created the namespace $WORK/no-such-ns"
exit 0
