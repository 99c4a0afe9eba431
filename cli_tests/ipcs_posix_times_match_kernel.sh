#!/usr/bin/env bash
# `mqshim ipcs --posix --json` times change exactly where the kernel's mqueue inode times
# (stat /dev/mqueue/NAME) change: the same steps, each its own process, a second and a bit
# apart (this kernel keeps those times to the second), on the kernel — in a private IPC
# namespace with its own mqueue mount —, under the emulation and on the Redis backend (a
# redis-server of the test's own; skipped, and said, where none is installed); after each step, which of
# atime, mtime and ctime moved must be the same on both. create sets all three; send and
# receive all three; getattr none; an mq_notify registration atime and ctime; mq_notify(NULL)
# by a process that is not the owner none; mq_setattr atime and ctime.
source "$ROOT/cli_tests/ipcs_common.bash"
source "$ROOT/scripts/redis-fixture.bash"
build posix_times_step
STEPS="create send recv getattr notify notify-null setattr"
Q=/times-$RUNID
fixture_init "$WORK/fixture"
FIXTURE_CLEANUP+=('"$MQSHIM" --dir "$NS" ipcrm -a')

# The kernel: needs root's unshare and an mqueue mount (skipped where either is refused).
unshare --ipc --mount --propagation private true 2>/dev/null || { echo "unshare --ipc --mount is refused here: not compared"; exit 77; }
unshare --ipc --mount --propagation private bash -c '
  mount -t mqueue none /dev/mqueue || exit 77
  for step in $2; do
    sleep 1.1
    "$0" "$step" "$1" || exit 1
    python3 -c "import os,sys; s=os.stat(sys.argv[1]); print(sys.argv[2], s.st_atime_ns//10**9, s.st_mtime_ns//10**9, s.st_ctime_ns//10**9)" "/dev/mqueue/${1#/}" "$step"
  done' "$WORK/posix_times_step" "$Q" "$STEPS" >"$WORK/kernel.raw"
status=$?
((status == 77)) && { echo "cannot mount an mqueue filesystem here: not compared"; exit 77; }
((status == 0)) || fail "the kernel's steps failed: $(cat "$WORK/kernel.raw")"

# The emulation, and the Redis backend: the same steps, the times from ipcs --json (seconds,
# as the kernel's). QUEUES: mqshim's options that select the queues.
shim_steps() {
  local step
  for step in $STEPS; do
    sleep 1.1
    "$MQSHIM" run "${QUEUES[@]}" -- "$WORK/posix_times_step" "$step" "$Q" || fail "step $step failed (${QUEUES[*]})"
    "$MQSHIM" "${QUEUES[@]}" ipcs --posix --json >"$WORK/json" || fail "ipcs --json failed (${QUEUES[*]})"
    python3 -c 'import json,sys; q=json.load(open(sys.argv[1]))["posix"][0]; print(sys.argv[2], q["atime"], q["mtime"], q["ctime"])' "$WORK/json" "$step"
  done
}
QUEUES=(--dir "$NS")
shim_steps >"$WORK/emulate.raw"
REDIS=0
if redis_available && redis_start; then
  REDIS=1
  QUEUES=(--backend redis --redis "$(redis_url "mqt-$RUNID")")
  FIXTURE_CLEANUP+=('"$MQSHIM" "${QUEUES[@]}" ipcrm "$Q"')
  shim_steps >"$WORK/redis.raw"
else
  echo "no redis-server here: the Redis backend not compared"
fi

# Which times moved at each step (create: all set).
moved() {
  python3 -c '
import sys
prev = None
for line in open(sys.argv[1]):
    step, *t = line.split()
    t = list(map(int, t))
    print(step, "".join(n if prev is None or t[i] > prev[i] else "-" for i, n in enumerate("amc")))
    prev = t' "$1"
}
moved "$WORK/kernel.raw" >"$WORK/kernel.moved"
moved "$WORK/emulate.raw" >"$WORK/emulate.moved"
((REDIS)) && moved "$WORK/redis.raw" >"$WORK/redis.moved"
cat >"$WORK/want" <<'MOVED'
create amc
send amc
recv amc
getattr ---
notify a-c
notify-null ---
setattr a-c
MOVED
diff -u "$WORK/kernel.moved" "$WORK/emulate.moved" || fail "the emulation's times moved otherwise than the kernel's (kernel: $(tr '\n' ' ' <"$WORK/kernel.raw"); emulation: $(tr '\n' ' ' <"$WORK/emulate.raw"))"
diff -u "$WORK/want" "$WORK/kernel.moved" || fail "the kernel's times moved otherwise than this test expects"
if ((REDIS)); then
  diff -u "$WORK/kernel.moved" "$WORK/redis.moved" || fail "the Redis backend's times moved otherwise than the kernel's (kernel: $(tr '\n' ' ' <"$WORK/kernel.raw"); redis: $(tr '\n' ' ' <"$WORK/redis.raw"))"
fi
exit 0
