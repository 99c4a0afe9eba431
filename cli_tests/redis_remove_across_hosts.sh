#!/usr/bin/env bash
# Removal across hosts. System V: IPC_RMID on host A wakes a receiver blocked on host B (empty
# queue) and, on a full queue, a sender blocked on B, both with EIDRM; afterwards B's stale id
# gives EINVAL and its key ENOENT, as on the kernel. POSIX: mq_unlink on A removes the name for
# everyone — B's open descriptor still receives, sends and counts on the unlinked queue, B cannot
# open the name again (ENOENT), and a queue A creates again under the name is a separate, empty
# one while B's descriptor still sees the old one.
source "$ROOT/cli_tests/redis_common.bash"
require_redis_backend

# -- System V
K=$((0x54000000 + RANDOM))
client_a sysv create "$K" | grep -qx created || fail "cannot create key $K"
spawn_b rb sysv recv1 "$K"
R=$SPAWNED
wait_line rb '^ready$'
wait_registered sysv "$K" 1 "$R"
client_a sysv remove "$K" | grep -qx removed || fail "IPC_RMID on A failed"
reap "$R"
grep -q '^err EIDRM ' "$WORK/rb.out" || fail "the receiver blocked on B: $(cat "$WORK/rb.out" "$WORK/rb.err"), expected EIDRM"
echo "sysv: IPC_RMID on A woke the receiver blocked on B with EIDRM after $(awk '{print $3}' "$WORK/rb.out" | tail -n 1) ms"

client_a sysv create "$K" 1 64 | grep -qx created || fail "cannot create key $K again"
client_a sysv send1 "$K" "$(printf 'f%.0s' {1..64})" | grep -q '^sent' || fail "cannot fill $K"
spawn_b sb sysv send1 "$K" more
S=$SPAWNED
wait_line sb '^ready$'
wait_registered sysv "$K" 1 "$S"
session_start sess-sysv sysv "$K"
[[ $(head -n 1 "$WORK/sess-sysv.out") == open ]] || fail "session on B: $(cat "$WORK/sess-sysv.out")"
client_a sysv remove "$K" | grep -qx removed || fail "IPC_RMID on A failed"
reap "$S"
grep -q '^err EIDRM ' "$WORK/sb.out" || fail "the sender blocked on B: $(cat "$WORK/sb.out" "$WORK/sb.err"), expected EIDRM"
expect_answer "send late" "err EINVAL"
expect_answer "recv" "err EINVAL"
expect_answer "reopen" "err ENOENT"
session_end
echo "sysv: IPC_RMID on A woke the sender blocked on B with EIDRM; B's stale id: EINVAL; its key: ENOENT"

# -- POSIX
Q=/remove-$RUNID
client_a posix create "$Q" | grep -qx created || fail "cannot create $Q"
client_a posix send "$Q" 0 2 | grep . && fail "cannot send to $Q"
session_start sess-posix posix "$Q"
[[ $(head -n 1 "$WORK/sess-posix.out") == open ]] || fail "session on B: $(cat "$WORK/sess-posix.out")"
client_a posix remove "$Q" | grep -qx removed || fail "mq_unlink on A failed"
expect_answer "recv" "got m0"
expect_answer "send after-unlink" "sent"
expect_answer "count" "count 2"
expect_answer "reopen" "err ENOENT"
[[ $(client_a posix count "$Q") == "err ENOENT open" ]] || fail "A can still open $Q after mq_unlink"
client_a posix create "$Q" | grep -qx created || fail "cannot create $Q again after mq_unlink"
[[ $(client_a posix count "$Q") == 0 ]] || fail "the queue created again under $Q is not empty"
expect_answer "count" "count 2"
expect_answer "recv" "got m1"
expect_answer "recv" "got after-unlink"
expect_answer "recv" "err EAGAIN"
session_end
[[ $(client_a posix count "$Q") == 0 ]] || fail "B's receives on the unlinked queue took from the new one"
client_a posix remove "$Q" | grep -qx removed || fail "cannot remove the new $Q"
echo "posix: after mq_unlink on A, B's descriptor still receives and sends on the old queue; the name is gone for both; a new queue under it is separate"
finish
