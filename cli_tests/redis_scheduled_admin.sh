#!/usr/bin/env bash
# Scheduled messages on the Redis backend as `mqshim ipcs` and `peek` show them, as the
# emulation's (cli_tests/peek.sh): programs under `mqshim run --backend redis` schedule POSIX and
# System V messages an hour or two ahead (peek_queues fill); ipcs --json counts them pending
# (`scheduled`), not among the messages; peek lists them after the queue, earliest due first,
# with their due times; a message due meanwhile that nobody moved in yet is listed in its
# receive place (marked `*`) and still counted as scheduled by ipcs, until a program's next call
# moves it in (a receive gets it in priority order). ipcrm -a leaves none of their keys.
source "$ROOT/cli_tests/ipcs_common.bash"
source "$ROOT/scripts/redis-fixture.bash"
build peek_queues
fixture_init "$WORK/fixture"
redis_available || fail "redis-server is not installed (apt-get install -y redis-server)"
redis_start || fail "cannot start redis-server"
URL=$(redis_url "mqsched-$RUNID")
MIXED=/rsched-mixed-$RUNID RING=/rsched-ring-$RUNID
REDIS=("$MQSHIM" --backend redis --redis "$URL")
RUN=("$MQSHIM" run --backend redis --redis "$URL" --)

out=$("${RUN[@]}" "$WORK/peek_queues" fill "$MIXED" "$RING" "$KEY") || fail "cannot make the queues: $out"
read -r _ MSQID <<<"$out"
[[ $MSQID =~ ^[0-9]+$ ]] || fail "peek_queues printed '$out'"

# ipcs: the pending ones per queue, apart from the messages.
json_check "[(q['name'],q['messages'],q['scheduled']) for q in j['posix']]==sorted([('$MIXED',5,2),('$RING',3,0)]) and [(q['id'],q['messages'],q['scheduled']) for q in j['sysv']]==[($MSQID,4,1)]" \
  "${REDIS[@]}" ipcs --json

# peek: the queue in receive order, then the scheduled ones with their due times.
expect_status 0 "${REDIS[@]}" peek "$MIXED"
expect_output "^$MIXED: 5 message\(s\), 2 scheduled"
sed -n '/^scheduled:/,$p' "$WORK/out" | grep -E '^[0-9]{4}-' >"$WORK/sched"
grep -Eq '^[0-9-]+ [0-9:.]+ +3[0-9]{3}\.[0-9]+s +7 +10  "in an hour"$' <(sed -n 1p "$WORK/sched") || fail "first scheduled row: $(cat "$WORK/out")"
grep -Eq '^[0-9-]+ [0-9:.]+ +7[0-9]{3}\.[0-9]+s +2 +12  "in two hours"$' <(sed -n 2p "$WORK/sched") || fail "second scheduled row: $(cat "$WORK/out")"
json_check "j['api']=='posix' and [(m['prio'],m['preview']) for m in j['messages']]==[(5,'high-a'),(5,'high-b\\\\n\\\\x01\\\\\"'),(3,'mid'),(1,'low-first'),(0,'a long message, longer than the ')] and [(m['prio'],m['preview']) for m in j['scheduled']]==[(7,'in an hour'),(2,'in two hours')] and all(m['due_ns']>__import__('time').time_ns()+3000e9 for m in j['scheduled'])" \
  "${REDIS[@]}" peek --json "$MIXED"
json_check "j['api']=='sysv' and [(m['type'],m['preview']) for m in j['messages']]==[(5,'t5-0'),(2,'t2-1'),(9,'t9-2'),(2,'t2-3')] and [(m['type'],m['preview']) for m in j['scheduled']]==[(4,'later')] and j['scheduled'][0]['due_ns']>__import__('time').time_ns()" \
  "${REDIS[@]}" peek --json -q "$MSQID"

# Due meanwhile, not yet moved in: peek places it (marked *), ipcs still counts it scheduled;
# the next receive moves it in, in priority order.
out=$("${RUN[@]}" "$WORK/peek_queues" timed "/rsched-timed-$RUNID" "$((KEY + 1))") || fail "timed: $out"
due=$(awk '$1=="due"{print $2}' <<<"$out")
while (($(date +%s%N) < due + 50000000)); do sleep 0.05; done
expect_status 0 "${REDIS[@]}" peek "/rsched-timed-$RUNID"
expect_output "^/rsched-timed-$RUNID: 3 message\(s\), 1 scheduled"
expect_output '^ +1 +5 +8 +[0-9]+\.[0-9]{3}s\*  "due-soon"$'
json_check "[(q['messages'],q['scheduled']) for q in j['posix'] if q['name']=='/rsched-timed-$RUNID']==[(2,2)]" "${REDIS[@]}" ipcs --json
expect_status 0 "${RUN[@]}" "$WORK/peek_queues" recv "/rsched-timed-$RUNID"
expect_output '^prio 5 len 8 due-soon$'
json_check "[(q['messages'],q['scheduled']) for q in j['posix'] if q['name']=='/rsched-timed-$RUNID']==[(2,1)]" "${REDIS[@]}" ipcs --json

# Removal discards the pending ones with their queues.
expect_status 0 "${REDIS[@]}" ipcrm -a
left=$(redis_cli --scan --pattern "{mqsched-$RUNID}:*sched*" | wc -l)
[[ $left == 0 ]] || fail "$left scheduled keys left after ipcrm -a"
echo "ok"
