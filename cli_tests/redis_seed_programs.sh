#!/usr/bin/env bash
# The notes' programs (../shared/seed-programs, compiled unchanged with the notes' command) share
# one queue through Redis from two hosts: the sender on host A, the receiver on host B, and they
# behave as on one machine's kernel — the POSIX run's six messages in priority order, FIFO within
# a priority, then rmmq from B removes the queue for A too; the System V run (msg_create and
# msg_send on A, msg_receive on B, whose IPC_RMID removes it for A); notify_sig on B is signalled
# when A's send makes the queue non-empty; the 003 System V server on A and the polling client
# on B see the same msg_cbytes/msg_qnum. Last, `mqshim run --backend redis --redis URL` runs one
# of them (the command's way of selecting the backend).
source "$ROOT/cli_tests/redis_common.bash"
[[ -d $SEED_PROGRAMS ]] || { echo "the seed programs ($SEED_PROGRAMS) are absent"; exit 77; }
require_redis_backend
for src in "$SEED_PROGRAMS"/001/*.c "$SEED_PROGRAMS"/003/*.c; do
  prog=$(basename "$src" .c)
  cp "$src" "$WORK/$prog.c"
  (cd "$WORK" && gcc "$prog.c" -o "$prog" -lrt -lpthread) >"$WORK/$prog.build" 2>&1 || fail "cannot build $prog"
done
# run_on A|B PROGRAM ARGS...: one seed program to completion (cwd $WORK), output to $WORK/out.
run_on() { local h=$1; shift; in_host "$h"; (cd "$WORK" && "${IN_HOST[@]}" "${SHIM_ENV[@]}" timeout -k 2 20 "./$@") >"$WORK/out" 2>&1; }

# -- POSIX: six sends on A, six receives on B in priority order, rmmq on B.
for sp in "zorro 1" "shrek 2" "jerry 3" "zzzzz 1" "ssssss 2" "jjjjj 3"; do
  run_on A send $sp || fail "send $sp on A: $(cat "$WORK/out")"
done
got=""
for _ in 1 2 3 4 5 6; do
  run_on B recv || fail "recv on B: $(cat "$WORK/out")"
  got+="$(cat "$WORK/out")"$'\n'
done
want=$'msq: jerry, prio: 3\nmsq: jjjjj, prio: 3\nmsq: shrek, prio: 2\nmsq: ssssss, prio: 2\nmsq: zorro, prio: 1\nmsq: zzzzz, prio: 1\n'
[[ $got == "$want" ]] || { diff <(echo "$want") <(echo "$got"); fail "POSIX: B did not receive A's messages in the kernel's order"; }
run_on B rmmq || fail "rmmq on B: $(cat "$WORK/out")"
run_on A rmmq && fail "rmmq on A after B removed the queue succeeded"
grep -q 'No such file or directory' "$WORK/out" || fail "rmmq on A: $(cat "$WORK/out") (expected ENOENT)"
echo "POSIX notes run: 6 sent on A, 6 received on B in order, removed from B: ok"

# -- System V: create and send on A, receive (and IPC_RMID) on B.
run_on A msg_create || fail "msg_create on A: $(cat "$WORK/out")"
grep -qx 'msg_qnum: 0' "$WORK/out" && grep -qx 'msg_qbytes: 16384' "$WORK/out" || fail "msg_create: $(cat "$WORK/out")"
run_on A msg_send || fail "msg_send on A: $(cat "$WORK/out")"
run_on B msg_receive || fail "msg_receive on B: $(cat "$WORK/out")"
[[ $(cat "$WORK/out") == $'mtype: 1\nmtype: hello world!' ]] || fail "msg_receive on B printed: $(cat "$WORK/out")"
run_on A msg_send && fail "msg_send on A after B's IPC_RMID succeeded"
grep -q 'msgget(): No such file or directory' "$WORK/out" || fail "msg_send after IPC_RMID: $(cat "$WORK/out")"
echo "System V notes run: created and sent on A, received and removed on B: ok"

# -- notify_sig on B, woken by sends from A (SIGUSR1 on empty -> non-empty, re-registered).
run_on A send init 0 || fail "send init: $(cat "$WORK/out")"
run_on B recv || fail "recv init: $(cat "$WORK/out")"
spawn_cmd B notify ./notify_sig /mqtest
NOTIFY=$SPAWNED
wait_line notify '^x$' 1
wait_notify_registered /mqtest "$NOTIFY"
run_on A send hello 1 || fail "send hello: $(cat "$WORK/out")"
wait_line notify '^msq: hello, prio: 1$' 1
# The handler printed before registering again: a send before that would (on the kernel too)
# notify nobody.
wait_notify_registered /mqtest "$NOTIFY"
run_on A send zorro 3 || fail "send zorro: $(cat "$WORK/out")"
wait_line notify '^msq: zorro, prio: 3$' 1
kill -TERM "$NOTIFY"; reap "$NOTIFY"
run_on B rmmq || fail "rmmq: $(cat "$WORK/out")"
echo "notify_sig on B: signalled for both sends from A: ok"

# -- 003 System V: the server on A sends four words (key 0xffffffff: ./mq_test does not exist),
#    the client on B polls with IPC_NOWAIT and prints msg_cbytes/msg_qnum after each receive.
mkfifo "$WORK/server.in"
exec {SERVER_IN}<>"$WORK/server.in"
spawn_cmd A server ./sys_msq_server
SERVER=$SPAWNED
printf 'aaaa\ndddd\nfffff\nggggg\n' >&"$SERVER_IN"
wait_line server '^enter the MSG:$' 5
spawn_cmd B client ./sys_msq_client
CLIENT=$SPAWNED
wait_line client '^read-write:' 4
kill -TERM "$CLIENT" "$SERVER"; reap "$CLIENT"; reap "$SERVER"
exec {SERVER_IN}>&-
want='read-write:666, cbytes = 17, qnum = 3, qbytes= 16384
read-write:666, cbytes = 12, qnum = 2, qbytes= 16384
read-write:666, cbytes = 6, qnum = 1, qbytes= 16384
read-write:666, cbytes = 0, qnum = 0, qbytes= 16384'
[[ $(grep '^read-write' "$WORK/client.out") == "$want" ]] || { cat "$WORK/client.out"; fail "003 System V client on B: not the kernel's figures"; }
grep '^read-write' "$WORK/server.out" | sed -n 4p | grep -qx 'read-write:666, cbytes = 22, qnum = 4, qbytes= 16384' ||
  { cat "$WORK/server.out"; fail "003 System V server on A: not the kernel's figures after four sends"; }
client_a sysv remove 0xffffffff | grep -qx removed || fail "cannot remove key 0xffffffff"
echo "003 System V server on A, client on B: ok"

# -- The command: mqshim run --backend redis --redis URL (host A), received with the preload on B.
[[ $SELFTEST == kernel ]] && { echo "all on $(host_note) (kernel self-test: mqshim run --backend redis not tried)"; exit 0; }
in_host A
(cd "$WORK" && "${IN_HOST[@]}" timeout -k 2 20 "$MQSHIM" run --backend redis --redis "$URL" -- ./send viarun 4) >"$WORK/out" 2>&1 ||
  fail "mqshim run --backend redis: $(cat "$WORK/out")"
run_on B recv || fail "recv after mqshim run: $(cat "$WORK/out")"
[[ $(cat "$WORK/out") == 'msq: viarun, prio: 4' ]] || fail "B got '$(cat "$WORK/out")' after mqshim run --backend redis on A"
run_on B rmmq || fail "rmmq: $(cat "$WORK/out")"
echo "mqshim run --backend redis --redis URL: ok"
echo "all on $(host_note)"
