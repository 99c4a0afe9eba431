#!/usr/bin/env bash
# `mqshim run` and `mqshim trace` on a statically linked program under the kernel backend: a
# seccomp supervisor in mqshim serves its queue calls (the preload cannot reach it), so
# `mqshim trace` shows every call with the program's own pid, and the program's results, exit
# status and death by a signal are its own. (Under the emulation it is still refused: 126.)
source "$ROOT/cli_tests/run_common.bash"
build run_kernel_probe
trap cleanup_kernel_queue EXIT
if ! cc -static "$PROGRAMS/run_queue.c" -o "$WORK/run_queue_static" -lrt 2>"$WORK/cc.log"; then
  echo "skipped: cc -static does not link here (no static libc)"
  exit 77
fi

# mqshim trace: the calls, as the library functions the program called, with its pid.
expect_status 0 "$MQSHIM" trace --backend kernel -o "$WORK/t.txt" -- "$WORK/run_queue_static" "$QNAME"
expect_output '^mq_open: ok$'
expect_output '^mq_send: ok$'
pid_open=$(sed -nE 's@^[^ ]+ ([0-9]+)/[0-9]+ mq_open\("'"$QNAME"'", O_RDWR\|O_CREAT, 0600, \{mq_flags=0, mq_maxmsg=4, mq_msgsize=64, mq_curmsgs=0\}\) = ([0-9]+) <.*@\1 \2@p' "$WORK/t.txt")
[[ -n $pid_open ]] || { cat "$WORK/t.txt"; fail "no mq_open record"; }
read -r pid fd <<<"$pid_open"
[[ $pid != $$ ]] || fail "the record carries the test's pid"
grep -Eq "^[^ ]+ $pid/$pid mq_send\\($fd, \"hello\", 5, 1\\) = 0 <" "$WORK/t.txt" || { cat "$WORK/t.txt"; fail "no mq_send record"; }
grep -Eq "^[^ ]+ $pid/$pid mq_unlink\\(\"$QNAME\"\\) = 0 <" "$WORK/t.txt" || { cat "$WORK/t.txt"; fail "no mq_unlink record"; }
[[ $(grep -c . "$WORK/t.txt") == 3 ]] || { cat "$WORK/t.txt"; fail "expected 3 records (mq_close is close(2), unseen)"; }
expect_status 0 "$WORK/run_kernel_probe" "$QNAME"
expect_output '^kernel: absent'

# mqshim run --trace: the same, on stderr; "keep" leaves the queue in the kernel, where the
# supervisor made it.
expect_status 0 "$MQSHIM" run --backend kernel --trace -- "$WORK/run_queue_static" "$QNAME" keep
expect_output "mq_send\\([0-9]+, \"hello\", 5, 1\\) = 0"
expect_status 0 "$WORK/run_kernel_probe" "$QNAME"
expect_output '^kernel: present$'
"$WORK/run_kernel_probe" "$QNAME" >/dev/null

# The program's exit status and death by a signal are mqshim's.
printf '#include <signal.h>\n#include <stdlib.h>\nint main(int c, char **v) { if (c > 1) raise(SIGTERM); return 3; }\n' >"$WORK/ends.c"
cc -static "$WORK/ends.c" -o "$WORK/ends" || fail "cannot build ends"
expect_status 3 "$MQSHIM" run --backend kernel -- "$WORK/ends"
expect_status 143 "$MQSHIM" run --backend kernel -- "$WORK/ends" die

# Under the emulation the supervisor does not serve it (yet): refused, as before.
expect_status 126 "$MQSHIM" run --dir "$WORK/ns" -- "$WORK/run_queue_static" "$QNAME"
expect_output 'only with --backend kernel'

# `mqshim diff` compares the kernel with the emulation, which cannot serve it (yet): a launch
# error (2) naming why, never a run whose "emulate" side went to the kernel unseen.
expect_status 2 "$MQSHIM" diff -- "$WORK/run_queue_static" "$QNAME"
expect_output 'statically linked.*only with --backend kernel'
echo "ok"
