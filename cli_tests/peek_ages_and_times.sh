#!/usr/bin/env bash
# Message ages in `mqshim peek`, due scheduled messages in their receive position, and POSIX
# queue times in `mqshim ipcs -t`.
# - peek: each message's age counts from its send ("old" sent a second before "new": their
#   ages differ by that second, and each queued_ns is its send's time, to a clock tick); a
#   scheduled message whose due time passed while nobody touched the queue is listed where a
#   receiver will get it (POSIX: by priority, first; System V: after the queue), marked `*`,
#   age from its due time, and is still pending in the queue's own count (peek promotes
#   nothing); the one due in an hour is listed as scheduled. Receivers then get exactly that
#   order. Both APIs, text and --json.
# - ipcs -t: a POSIX queue's access/modify/change times as the kernel keeps them for
#   /dev/mqueue/NAME: all three set by a send or a receive, atime and ctime alone by mq_notify;
#   --json atime/mtime/ctime (seconds) and *_ns.
source "$ROOT/cli_tests/ipcs_common.bash"
build peek_queues
Q=/peek-times-$RUNID
OWNER=
trap '[[ -n $OWNER ]] && kill -9 "$OWNER" 2>/dev/null; "$MQSHIM" --dir "$NS" ipcrm -a >/dev/null 2>&1' EXIT

out=$("$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" timed "$Q" "$KEY") || fail "cannot make the queues: $out"
MSQID=$(awk '$1=="msqid"{print $2}' <<<"$out")
OLD=$(awk '$1=="old"{print $2}' <<<"$out")
NEW=$(awk '$1=="new"{print $2}' <<<"$out")
DUE=$(awk '$1=="due"{print $2}' <<<"$out")
[[ $MSQID =~ ^[0-9]+$ && $OLD =~ ^[0-9]+$ && $NEW =~ ^[0-9]+$ && $DUE =~ ^[0-9]+$ ]] || fail "peek_queues printed '$out'"
# Past the due time, touching nothing.
sleep 0.4

# POSIX, --json: the due message first (priority 5), then old and new; the pending one scheduled.
# A send's time is the coarse clock's: up to a tick (at most 10 ms) behind the program's reading.
near() { echo "abs(($1)-($2)) < 150e6"; }  # a tick, and what a loaded machine adds between reading the clock and sending
json_check "[(m['prio'],m['preview'],'due_ns' in m) for m in j['messages']]==[(5,'due-soon',True),(1,'old',False),(1,'new',False)] \
  and [(m['prio'],m['preview']) for m in j['scheduled']]==[(9,'pending')] \
  and j['messages'][0]['queued_ns']==$DUE and j['messages'][0]['due_ns']==$DUE \
  and $(near "j['messages'][1]['queued_ns']" "$OLD") and $(near "j['messages'][2]['queued_ns']" "$NEW") \
  and $(near "j['messages'][1]['age_ns']-j['messages'][2]['age_ns']" "$NEW-$OLD") \
  and all(m['age_ns']==j['now_ns']-m['queued_ns'] for m in j['messages']) \
  and 'age_ns' not in j['scheduled'][0] and j['scheduled'][0]['due_ns']>j['now_ns']+3000e9" \
  "$MQSHIM" --dir "$NS" peek --json "$Q"
# Text: an age column, the due one marked, the legend (the ages themselves are checked exactly
# in --json above; the text's seconds depend on how fast this machine runs the commands).
expect_status 0 "$MQSHIM" --dir "$NS" peek "$Q"
expect_output "^$Q: 3 message\(s\), 1 scheduled"
expect_output '^order +prio +size +age  data$'
expect_output '^ +1 +5 +8 +[0-9]+\.[0-9]{3}s\*  "due-soon"$'
expect_output '^ +2 +1 +3 +[0-9]+\.[0-9]{3}s   "old"$'
expect_output '^ +3 +1 +3 +[0-9]+\.[0-9]{3}s   "new"$'
expect_output '^\* scheduled, already due'
# Peek promoted nothing: the queue still counts both scheduled messages as pending.
json_check "[(q['name'],q['messages'],q['scheduled']) for q in j['posix']]==[('$Q',2,2)]" "$MQSHIM" --dir "$NS" ipcs --posix --json

# System V: arrival order, the due one after the queue.
json_check "[(m['type'],m['preview'],'due_ns' in m) for m in j['messages']]==[(1,'old',False),(1,'new',False),(5,'due-soon',True)] \
  and [m['preview'] for m in j['scheduled']]==['pending'] \
  and $(near "j['messages'][0]['queued_ns']" "$OLD") and $(near "j['messages'][1]['queued_ns']" "$NEW") and j['messages'][2]['queued_ns']==$DUE" \
  "$MQSHIM" --dir "$NS" peek --json -q "$MSQID"
expect_status 0 "$MQSHIM" --dir "$NS" peek -q "$MSQID"
expect_output '^ +3 +5 +8 +[0-9]+\.[0-9]{3}s\*  "due-soon"$'

# POSIX times (ipcs -t) before any receive: all three at the last send, "new" (the scheduled
# message's due time is later: a message found due counts as sent then, but nothing has found
# it due yet).
json_check "(lambda q: $(near "q['mtime_ns']" "$NEW") and q['atime_ns']==q['mtime_ns']==q['ctime_ns'] and q['mtime']==q['mtime_ns']//10**9 and q['atime']==q['mtime'] and q['ctime']==q['mtime'])(j['posix'][0])" \
  "$MQSHIM" --dir "$NS" ipcs --posix --json
expect_status 0 "$MQSHIM" --dir "$NS" ipcs --posix -t
expect_output '^------ POSIX Message Queues Access/Modify/Change Times'
expect_output "^$Q +[a-z0-9_-]+ +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}$"

# Receivers get what peek listed, in its order; the receive sets all three times.
BEFORE=$(date +%s%N)
expect_status 0 "$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" recv "$Q"
expect_output '^prio 5 len 8 due-soon$'
expect_status 0 "$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" recv "$Q"
expect_output '^prio 1 len 3 old$'
expect_status 0 "$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" msgrcv "$MSQID"
expect_output '^type 1 len 3 old$'
expect_status 0 "$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" msgrcv "$MSQID"
expect_output '^type 1 len 3 new$'
expect_status 0 "$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" msgrcv "$MSQID"
expect_output '^type 5 len 8 due-soon$'
json_check "(lambda q: q['mtime_ns'] >= $BEFORE-30e6 and q['atime_ns']==q['mtime_ns']==q['ctime_ns'])(j['posix'][0])" \
  "$MQSHIM" --dir "$NS" ipcs --posix --json
MTIME=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["posix"][0]["mtime_ns"])' "$WORK/json")

# mq_notify sets atime and ctime only (the kernel's do_mq_notify).
sleep 0.1
start_registrant "$MQSHIM" run --dir "$NS" -- "$WORK/peek_queues" notify "$Q"
json_check "(lambda q: q['mtime_ns']==$MTIME and q['atime_ns']==q['ctime_ns'] and q['atime_ns'] >= $MTIME+50e6)(j['posix'][0])" \
  "$MQSHIM" --dir "$NS" ipcs --posix --json
exit 0
