#!/usr/bin/env bash
# Message ages in `mqshim peek` and POSIX queue times in `mqshim ipcs -t` on the Redis backend,
# as the emulation shows them (cli_tests/peek_ages_and_times.sh): the server keeps when each
# message entered its queue and a POSIX queue's times, on its own clock.
# - peek: "old" sent from host A, a second later "new" from host B; each one's queued_ns lies
#   within its sender's run (the server's clock is this machine's here), their ages differ by
#   that second, age_ns = now_ns - queued_ns; the text shows ages (no `?`). Both APIs.
# - ipcs -t / --json: all three POSIX times at the last send (within its run), then at the
#   receive; a receive of System V changes no POSIX time (which operations set which time is
#   compared with the kernel's in ipcs_posix_times_match_kernel.sh).
source "$ROOT/cli_tests/redis_common.bash"
source "$ROOT/cli_tests/ipcs_common.bash"
require_redis_backend
[[ $SELFTEST == kernel ]] && { echo "mqshim peek and ipcs look at the server: nothing to compare on the kernel"; exit 77; }
Q=/rages-$RUNID
REDIS=(on_a "$MQSHIM" --backend redis --redis "$URL")
FIXTURE_CLEANUP+=('"${REDIS[@]}" ipcrm "$Q" -Q "$KEY"')
[[ $(client_a posix create "$Q") == created ]] || fail "cannot create $Q"
[[ $(client_a sysv create "$KEY") == created ]] || fail "cannot create the System V queue $KEY"
MSQID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["sysv"][0]["id"])' < <("${REDIS[@]}" ipcs -q --json))

# send HOST: "m0" (old, host A) or "m1" (new, host B) to both queues; the run's bounds in
# SENT_FROM/SENT_TO (ns).
send() {
  local host=$1 from=$2
  SENT_FROM=$(date +%s%N)
  "client_$host" posix send "$Q" "$from" $((from + 1)) 1 || fail "send to $Q failed"
  "client_$host" sysv send "$KEY" "$from" $((from + 1)) || fail "msgsnd failed"
  SENT_TO=$(date +%s%N)
}
send a 0
OLD_FROM=$SENT_FROM OLD_TO=$SENT_TO
sleep 1
send b 1
NEW_FROM=$SENT_FROM NEW_TO=$SENT_TO
# Within the run, give or take the peek's round trip (its answer's age is counted from the
# server's clock when it answered).
within() { echo "$2 - 50e6 <= $1 <= $3 + 50e6"; }

for api in posix sysv; do
  if [[ $api == posix ]]; then what=("$Q"); key=prio; else what=(-q "$MSQID"); key=type; fi
  json_check "[(m['$key'],m['preview']) for m in j['messages']]==[(1,'m0'),(1,'m1')] \
    and $(within "j['messages'][0]['queued_ns']" "$OLD_FROM" "$OLD_TO") \
    and $(within "j['messages'][1]['queued_ns']" "$NEW_FROM" "$NEW_TO") \
    and all(m['age_ns']==j['now_ns']-m['queued_ns'] for m in j['messages']) \
    and j['messages'][0]['age_ns'] - j['messages'][1]['age_ns'] >= 1e9 - 100e6" \
    "${REDIS[@]}" peek --json "${what[@]}"
  expect_status 0 "${REDIS[@]}" peek "${what[@]}"
  expect_output '^ +1 +1 +2 +[0-9]+\.[0-9]{3}s   "m0"$'
  expect_output '^ +2 +1 +2 +[0-9]+\.[0-9]{3}s   "m1"$'
done

# POSIX times: all three at the last send.
json_check "(lambda q: $(within "q['mtime_ns']" "$NEW_FROM" "$NEW_TO") and q['atime_ns']==q['mtime_ns']==q['ctime_ns'] and q['mtime']==q['mtime_ns']//10**9 and q['atime']==q['mtime']==q['ctime'])(j['posix'][0])" \
  "${REDIS[@]}" ipcs --posix --json
expect_status 0 "${REDIS[@]}" ipcs --posix -t
expect_output '^------ POSIX Message Queues Access/Modify/Change Times'
expect_output "^$Q +[a-z0-9_-]+ +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}$"
# A receive sets all three; a System V receive none of them.
sleep 0.1
FROM=$(date +%s%N)
[[ $(client_b posix drain "$Q" 2>&1) != *err* ]] || fail "cannot receive from $Q"
TO=$(date +%s%N)
json_check "(lambda q: $(within "q['mtime_ns']" "$FROM" "$TO") and q['atime_ns']==q['mtime_ns']==q['ctime_ns'] and q['messages']==0)(j['posix'][0])" \
  "${REDIS[@]}" ipcs --posix --json
MTIME=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["posix"][0]["mtime_ns"])' "$WORK/json")
client_a sysv drain "$KEY" >/dev/null
json_check "j['posix'][0]['mtime_ns']==$MTIME and j['sysv'][0]['messages']==0" "${REDIS[@]}" ipcs --json
finish
