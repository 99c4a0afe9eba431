#!/usr/bin/env bash
# `mqshim run` and `mqshim trace` on a statically linked program: a seccomp supervisor in
# mqshim serves its queue calls (the preload cannot reach it), so `mqshim trace` shows every
# call with the program's own pid, and the program's results, exit status and death by a signal
# are its own, under the kernel backend and under the emulation (the default) — in the
# emulation's namespace.
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
# Its mq_close is close(2), seen by the supervisor as the queue descriptor's close.
grep -Eq "^[^ ]+ $pid/$pid mq_close\\($fd\\) = 0 <" "$WORK/t.txt" || { cat "$WORK/t.txt"; fail "no mq_close record"; }
[[ $(grep -c . "$WORK/t.txt") == 4 ]] || { cat "$WORK/t.txt"; fail "expected 4 records"; }
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

# Under the emulation (the default backend) its System V calls are the emulation's, in the
# namespace of --dir, for the program and the child it forks (its receives block in the
# supervisor until the parent's messages are there); nothing reaches the kernel.
cc -static "$PROGRAMS/report_sysv_types.c" -o "$WORK/sysv_static" || fail "cannot build sysv_static"
KEY=$(printf '0x5e%06x' $(( $(cksum <<<"$RUNID" | cut -d' ' -f1) % 16777216 )))
expect_status 0 "$MQSHIM" run --dir "$WORK/ns" --trace-to "$WORK/e.jsonl" --trace-format jsonl -- "$WORK/sysv_static" "$KEY"
expect_output '^RECEIVED 2 6 two-a$'
expect_output '^RECEIVED 1 4 one$'
expect_output '^RECEIVED 5 5 five$'
expect_output '^CALL msgrcv ENOMSG$'
child=$(sed -n "s/^CHILD //p" "$WORK/out")
[[ -n $child ]] || fail "no child pid"
[[ $(grep -c '"call":"msgrcv".*"backend":"emulate"\|"backend":"emulate".*"call":"msgrcv"' "$WORK/e.jsonl") == 6 ]] || { cat "$WORK/e.jsonl"; fail "expected 6 emulated msgrcv records"; }
grep -q "\"pid\":$child,.*\"call\":\"msgrcv\"" "$WORK/e.jsonl" || { cat "$WORK/e.jsonl"; fail "the child's receives do not carry its pid"; }
! grep -q '"backend":"kernel"' "$WORK/e.jsonl" || fail "a call went to the kernel"
[[ -d $WORK/ns/sysv ]] || fail "the emulation's namespace was not used"
! ipcs -q | grep -qi "${KEY}" || fail "the queue is in the kernel"

# Its POSIX queue too: made in the namespace, where mqshim's own commands see what it sent,
# never in the kernel.
expect_status 0 "$MQSHIM" run --dir "$WORK/ns" -- "$WORK/run_queue_static" "$QNAME" keep
expect_output '^mq_send: ok$'
expect_status 0 "$WORK/run_kernel_probe" "$QNAME"
expect_output '^kernel: absent'
expect_status 0 "$MQSHIM" peek --dir "$WORK/ns" "$QNAME"
expect_output 'hello'
expect_status 0 "$MQSHIM" ipcrm --dir "$WORK/ns" "$QNAME"
# Its mq_close (close(2) of the queue descriptor, or of a dup of it) is traced under the
# emulation too, and a close of anything else (a pipe, also a FIFO) is not.
cat >"$WORK/closes.c" <<'EOF'
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(argv[1], O_RDWR | O_CREAT, 0600, &a);
    int p[2];
    if (q < 0 || pipe(p) != 0)
        return 1;
    close(p[0]);
    close(p[1]);
    int d = dup(q);
    int closed = mq_close(q);
    printf("mq_close: %d, close of a dup: %d\n", closed, close(d));
    return mq_unlink(argv[1]) != 0;
}
EOF
cc -static "$WORK/closes.c" -o "$WORK/closes_static" -lrt || fail "cannot build closes_static"
expect_status 0 "$MQSHIM" run --dir "$WORK/ns" --trace-to "$WORK/c.jsonl" --trace-format jsonl -- "$WORK/closes_static" "$QNAME"
expect_output '^mq_close: 0, close of a dup: 0$'
[[ $(grep -c '"call":"mq_close"' "$WORK/c.jsonl") == 2 ]] || { cat "$WORK/c.jsonl"; fail "expected 2 mq_close records (the queue descriptor and its dup)"; }
[[ $(grep -c . "$WORK/c.jsonl") == 4 ]] || { cat "$WORK/c.jsonl"; fail "expected 4 records: mq_open, 2 mq_close, mq_unlink"; }
# An unlinked queue it had open goes at its last close (which the supervisor sees, and which the
# kernel then makes), not at the next creator's sweep: the program waits (up to 5 s) for its
# directory in posix-dead/ to go.
cat >"$WORK/unlinked.c" <<'EOF'
#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static int dead_queues(const char *ns) {
    char path[4096];
    snprintf(path, sizeof path, "%s/posix-dead", ns);
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}
int main(int argc, char **argv) {
    const char *ns = getenv("MQSHIM_DIR");
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(argv[1], O_RDWR | O_CREAT | O_EXCL, 0600, &a);
    if (!ns || q < 0 || mq_unlink(argv[1]) != 0)
        return 1;
    printf("unlinked while open: %d dead\n", dead_queues(ns));
    mq_close(q);
    struct timespec tick = {0, 5000000};
    int n = 0;
    while (dead_queues(ns) && n++ < 1000)
        nanosleep(&tick, NULL);
    printf("after its last close: %d dead\n", dead_queues(ns));
    return 0;
}
EOF
cc -static "$WORK/unlinked.c" -o "$WORK/unlinked_static" -lrt || fail "cannot build unlinked_static"
expect_status 0 "$MQSHIM" run --dir "$WORK/ns" -- "$WORK/unlinked_static" "$QNAME"
expect_output '^unlinked while open: 1 dead$'
expect_output '^after its last close: 0 dead$'
# Its mq_notify registers it (by pid) under the emulation too.
cat >"$WORK/notify.c" <<'EOF'
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(argv[1], O_RDWR | O_CREAT, 0600, &a);
    struct sigevent e = {.sigev_notify = SIGEV_NONE};
    int r = mq_notify(q, &e);
    printf("mq_notify: %s\n", r ? strerror(errno) : "ok");
    mq_unlink(argv[1]);
    return argc < 2;
}
EOF
cc -static "$WORK/notify.c" -o "$WORK/notify_static" -lrt || fail "cannot build notify_static"
expect_status 0 "$MQSHIM" run --dir "$WORK/ns" -- "$WORK/notify_static" "$QNAME"
expect_output '^mq_notify: ok$'

# The program dies with its supervisor (unserved it could make no queue call): `mqshim run`
# killed, the static program it serves goes too, within a bounded wait.
cat >"$WORK/sleeper.c" <<'EOF'
#include <stdio.h>
#include <unistd.h>
int main(void) {
    printf("%d\n", (int)getpid());
    fflush(stdout);
    pause();
    return 0;
}
EOF
cc -static "$WORK/sleeper.c" -o "$WORK/sleeper_static" || fail "cannot build sleeper_static"
"$MQSHIM" run --backend kernel -- "$WORK/sleeper_static" >"$WORK/sleeper.out" 2>&1 &
launcher=$!
for _ in $(seq 500); do [[ -s $WORK/sleeper.out ]] && break; sleep 0.01; done
served=$(head -1 "$WORK/sleeper.out")
[[ $served =~ ^[0-9]+$ ]] || { kill -9 $launcher; fail "the sleeper did not report its pid: $(cat "$WORK/sleeper.out")"; }
kill -9 $launcher
wait $launcher 2>/dev/null
for _ in $(seq 500); do [[ -d /proc/$served ]] || break; sleep 0.01; done
if [[ -d /proc/$served ]]; then
  kill -9 "$served"
  fail "the static program outlived its supervisor"
fi

# `mqshim diff` runs programs through the preload: a launch error (2) naming why, never a run
# whose "emulate" side went to the kernel unseen.
expect_status 2 "$MQSHIM" diff -- "$WORK/run_queue_static" "$QNAME"
expect_output 'statically linked: diff runs programs through the preload'
echo "ok"
