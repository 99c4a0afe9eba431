#!/usr/bin/env bash
# `mqshim ipcs`, `ipcrm`, `stat` and `peek` against the Redis backend: queues made by programs
# under `mqshim run --backend redis` are listed (--json parsed with python3, from the global
# options and from MQSHIM_BACKEND/MQSHIM_REDIS alike, the option winning), peeked in receive
# order without taking anything, shown by stat with a live notification registration (and
# without it once its owner is killed), refused to another user (EACCES, via setpriv), missing
# (ENOENT), removed by ipcrm (names, -Q, -q, -a), and a listing creates nothing on the server. A
# server that is down is a clear error naming it (password hidden), exit 1, within seconds.
source "$ROOT/cli_tests/ipcs_common.bash"
source "$ROOT/scripts/redis-fixture.bash"
fixture_init "$WORK/fixture"
redis_available || fail "redis-server is not installed (apt-get install -y redis-server)"
redis_start || fail "cannot start redis-server"
URL=$(redis_url "mqcli-$RUNID")
URL_RE=$(sed 's/[.?]/\\&/g' <<<"$URL")
NAME=/rcli-$RUNID NAME2=/rcli2-$RUNID
KEY2=$((KEY + 1))
OWNER=
FIXTURE_CLEANUP+=('[[ -n $OWNER ]] && kill -9 "$OWNER"')
REDIS=("$MQSHIM" --backend redis --redis "$URL")
NOBODY=(setpriv --reuid 65534 --regid 65534 --clear-groups)

# The programs' queues, on the server (the emulation's namespace is never made).
out=$("$MQSHIM" run --backend redis --redis "$URL" -- "$WORK/ipcs_queues" make "$NAME" "$KEY") || fail "cannot make the queues: $out"
read -r _ MSQID _ MAKER_PID <<<"$out"
[[ $MSQID =~ ^[0-9]+$ && $MAKER_PID =~ ^[0-9]+$ ]] || fail "ipcs_queues printed '$out'"
[[ ! -e $NS ]] || fail "the emulation's namespace was made"

# ipcs --json: everything the server has, the same from the options and from the environment.
posix="[(q['name'],q['perms'],q['maxmsg'],q['msgsize'],q['messages'],q['qsize'],q['notify_pid'],q['scheduled']) for q in j['posix']]==[('$NAME','0640',5,64,2,11,0,0)]"
sysv="[(q['key'],q['id'],q['perms'],q['messages'],q['used_bytes'],q['lspid'],q['lrpid'],q['qbytes']>0,q['stime']>0) for q in j['sysv']]==[($KEY,$MSQID,'0600',3,12,$MAKER_PID,0,True,True)]"
where="j['backend']=='redis' and j['namespace']=='$URL'"
json_check "$where and $posix and $sysv" "${REDIS[@]}" ipcs --json
json_check "$where and $posix and $sysv" env MQSHIM_BACKEND=redis MQSHIM_REDIS="$URL" "$MQSHIM" ipcs --json
json_check "$where and $posix and $sysv" env MQSHIM_BACKEND=emulate MQSHIM_REDIS=redis://127.0.0.1:1/0 "$MQSHIM" --redis "$URL" ipcs --json
json_check "$where and $sysv and 'posix' not in j" "${REDIS[@]}" ipcs -q --json
json_check "$where and j['posix']=={'queues':1,'messages':2,'bytes':11} and j['sysv']=={'queues':1,'messages':3,'bytes':12}" "${REDIS[@]}" ipcs -u --json
# The option wins over the environment: --backend emulate looks at the (missing) namespace.
expect_status 1 env MQSHIM_BACKEND=redis MQSHIM_REDIS="$URL" MQSHIM_DIR="$NS" "$MQSHIM" --backend emulate ipcs
expect_output "no namespace at '$NS'"
# The tables of the emulation's listing, naming the server.
expect_status 0 "${REDIS[@]}" ipcs
expect_output "^------ POSIX Message Queues \(redis, $URL_RE\)"
expect_output "^$NAME +root +640 +5 +64 +2 +0 +11 +0 +0 +0$"
expect_output "^------ Message Queues \(System V on redis, $URL_RE\)"
expect_output "^0x$(printf %08x "$KEY") +$MSQID +root +600 +12 +3 +0$"
expect_status 0 "${REDIS[@]}" ipcs -p
expect_output "^$MSQID +root +$MAKER_PID +0$"
expect_status 0 env MQSHIM_LIMITS=msg_max=33 "${REDIS[@]}" ipcs -l
expect_output "^------ POSIX Messages Limits \(redis\) --------$"
expect_output "^max messages per queue = 33$"
expect_status 0 "${REDIS[@]}" ipcs -i "$MSQID"
expect_output "^cbytes=12	qbytes=[0-9]+	qnum=3	lspid=$MAKER_PID	lrpid=0$"

# A listing creates nothing: a namespace nobody used stays without keys.
before=$(redis_cli dbsize)
json_check "j['posix']==[] and j['sysv']==[]" "$MQSHIM" --redis "$(redis_url "empty-$RUNID")" ipcs --json
expect_status 0 "$MQSHIM" --redis "$(redis_url "empty-$RUNID")" ipcs -u
[[ $(redis_cli dbsize) == "$before" && -z $(redis_cli --scan --pattern "{empty-$RUNID}*") ]] || fail "a listing made keys on the server"

# peek: receive order (prio 2 before prio 1), twice the same, nothing taken.
expect_status 0 "${REDIS[@]}" peek "$NAME"
expect_output "^$NAME: 2 message\(s\), 0 scheduled"
grep -E '^ +[0-9]' "$WORK/out" | sed -E 's/ +[0-9]+\.[0-9]{3}s +/  /' >"$WORK/rows"
printf '    1          2        6  "world!"\n    2          1        5  "hello"\n' >"$WORK/want"
diff -u "$WORK/want" "$WORK/rows" || fail "peek $NAME: not the receive order"
json_check "j['api']=='posix' and [(m['prio'],m['size'],m['preview'],m['queued_ns']>0) for m in j['messages']]==[(2,6,'world!',True),(1,5,'hello',True)] and j['scheduled']==[]" \
  "${REDIS[@]}" peek --json "$NAME"
json_check "[(m['prio'],m['preview'],m['truncated']) for m in j['messages']]==[(2,'wo',True),(1,'he',True)]" "${REDIS[@]}" peek -s 2 --json "$NAME"
json_check "j['api']=='sysv' and [(m['type'],m['size'],m['preview']) for m in j['messages']]==[(1,4,'abc\\\\x00')]*3" "${REDIS[@]}" peek -q "$MSQID" --json
json_check "[q['messages'] for q in j['posix']]==[2] and [q['messages'] for q in j['sysv']]==[3]" "${REDIS[@]}" ipcs --json

# stat with a live registration (SIGEV_SIGNAL, SIGUSR1), which peeks leave in place; its owner
# killed, none.
start_registrant "$MQSHIM" run --backend redis --redis "$URL" -- "$WORK/ipcs_queues" notify "$NAME" signal
expect_status 0 "${REDIS[@]}" stat "$NAME"
expect_output "^QSIZE:11 +NOTIFY:0 +SIGNO:10 +NOTIFY_PID:$OWNER *$"
expect_status 0 "${REDIS[@]}" peek "$NAME"
expect_status 0 "${REDIS[@]}" stat "$NAME"
expect_output "NOTIFY_PID:$OWNER"
json_check "[(q['notify'],q['signo'],q['notify_pid']) for q in j['posix']]==[(0,10,$OWNER)]" "${REDIS[@]}" ipcs --json
kill -9 "$OWNER"
wait "$OWNER" 2>/dev/null
OWNER=
expect_status 0 "${REDIS[@]}" stat "$NAME"
expect_output "^QSIZE:11 +NOTIFY:0 +SIGNO:0 +NOTIFY_PID:0 *$"

# Another user: no read permission (0640 and 0600, root's): EACCES; the listing hides counts.
cd / || fail "cd /"
expect_status 1 "${NOBODY[@]}" "${REDIS[@]}" stat "$NAME"
expect_output "EACCES"
expect_status 1 "${NOBODY[@]}" "${REDIS[@]}" peek "$NAME"
expect_output "EACCES"
expect_status 1 "${NOBODY[@]}" "${REDIS[@]}" peek -q "$MSQID"
expect_output "EACCES"
json_check "[(q['name'],q['messages'],q['qsize']) for q in j['posix']]==[('$NAME',None,None)]" "${NOBODY[@]}" "${REDIS[@]}" ipcs --json
expect_status 1 "${NOBODY[@]}" "${REDIS[@]}" ipcrm "$NAME"
expect_output "EACCES"
expect_status 1 "${NOBODY[@]}" "${REDIS[@]}" ipcrm -q "$MSQID"
expect_output "EPERM"
cd "$WORK" || fail "cd $WORK"

# Missing queues.
expect_status 1 "${REDIS[@]}" stat "/missing-$RUNID"
expect_output "ENOENT"
expect_status 1 "${REDIS[@]}" peek "/missing-$RUNID"
expect_output "ENOENT"
expect_status 1 "${REDIS[@]}" peek -q 999999
expect_output "EINVAL"
expect_status 1 "${REDIS[@]}" ipcrm "/missing-$RUNID"
expect_output "ENOENT"

# ipcrm: by name and key, then all.
out=$("$MQSHIM" run --backend redis --redis "$URL" -- "$WORK/ipcs_queues" make "$NAME2" "$KEY2") || fail "cannot make the second queues: $out"
read -r _ MSQID2 _ <<<"$out"
expect_status 0 "${REDIS[@]}" ipcrm -v "$NAME2" -Q "$KEY2"
expect_output "removing POSIX message queue \`$NAME2'"
expect_output "removing message queue id \`$MSQID2'"
json_check "[q['name'] for q in j['posix']]==['$NAME'] and [q['id'] for q in j['sysv']]==[$MSQID]" "${REDIS[@]}" ipcs --json
expect_status 0 "${REDIS[@]}" ipcrm -a
json_check "j['posix']==[] and j['sysv']==[]" "${REDIS[@]}" ipcs --json
expect_status 1 "${REDIS[@]}" ipcrm -q "$MSQID"
expect_output "EINVAL"

# The server down: a clear error naming it (without the password), exit 1, within seconds.
PORT=$REDIS_PORT
redis_stop
start=$(date +%s%N)
expect_status 1 "$MQSHIM" --redis "redis://:sekret@127.0.0.1:$PORT/0?prefix=x" ipcs
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
expect_output "^mqshim: cannot use the Redis server redis://:\*\*\*@127\.0\.0\.1:$PORT/0\?prefix=x: "
grep -q sekret "$WORK/out" && fail "the password was shown: $(cat "$WORK/out")"
((elapsed_ms < 5000)) || fail "the error took $elapsed_ms ms"
for cmd in "stat $NAME" "peek $NAME" "ipcrm -a"; do
  # shellcheck disable=SC2086
  expect_status 1 env MQSHIM_BACKEND=redis MQSHIM_REDIS="$URL" "$MQSHIM" $cmd
  expect_output "cannot use the Redis server"
done
echo "ok"
