#!/usr/bin/env bash
# A statically linked program started by a program under `mqshim run` (a shell, a test harness)
# is served too: the library runs it through `mqshim run --arg0 ARGV0 -- PATH ARGS` when the
# environment it gets names the launcher (MQSHIM_LAUNCHER, which `mqshim run` sets), for each of
# execve, execv, execvp, execvpe, execl, execlp, execle (seven arguments: some on the stack),
# posix_spawn, posix_spawnp and system() (its shell's execve).
# Its queue is then the namespace's, never the kernel's; its calls are traced with its pid; its
# argv[0], arguments, output and exit status are its own. Without a launcher named (the library
# preloaded by hand) such a program still reaches the kernel, as before.
source "$ROOT/cli_tests/run_common.bash"
build run_kernel_probe
build spawn_static
trap cleanup_kernel_queue EXIT
cat >"$WORK/static_queue.c" <<'EOF'
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
int main(int argc, char **argv) {
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(argc > 1 ? argv[1] : "/none", O_RDWR | O_CREAT, 0600, &a);
    int sent = q < 0 ? -1 : mq_send(q, "from static", 11, 1);
    printf("static: argv0=%s sent=%d\n", argv[0], sent);
    printf("static: argc=%d last=%s\n", argc, argv[argc - 1]);
    fflush(stdout);
    return q < 0 ? 5 : 7;
}
EOF
if ! cc -static "$WORK/static_queue.c" -o "$WORK/static_queue" -lrt 2>"$WORK/cc.log"; then
  echo "skipped: cc -static does not link here (no static libc)"
  exit 77
fi
mkdir -p "$WORK/bin"
cp "$WORK/static_queue" "$WORK/bin/static_queue_in_path"

for how in execve execv execvp execvpe execl execlp execle posix_spawn posix_spawnp system; do
  program=$WORK/static_queue
  [[ $how == execvp || $how == execvpe || $how == execlp || $how == posix_spawnp ]] && program=static_queue_in_path
  more=(a b c d e f)
  [[ $how == system ]] && more=()
  rm -f "$WORK/t.jsonl"
  # The exec'ing process becomes `mqshim run`, which ends as the program did (exit 7).
  want=7
  [[ $how == posix_spawn* || $how == system ]] && want=0
  expect_status $want env PATH="$WORK/bin:$PATH" "$MQSHIM" run --dir "$WORK/ns" --trace-to "$WORK/t.jsonl" --trace-format jsonl -- "$WORK/spawn_static" $how "$program" "$QNAME" "${more[@]}"
  expect_output "^static: argv0=$([[ $how == system ]] && echo '[^ ]*/static_queue' || echo named-child) sent=0$"
  [[ $how == system ]] || expect_output '^static: argc=8 last=f$'
  [[ $want == 0 ]] && expect_output '^spawned: 7$'
  grep -q '"call":"mq_send".*"backend":"emulate"' "$WORK/t.jsonl" || { cat "$WORK/t.jsonl"; fail "$how: no emulated mq_send record"; }
  expect_status 0 "$WORK/run_kernel_probe" "$QNAME"
  expect_output '^kernel: absent'
  expect_status 0 "$MQSHIM" peek --dir "$WORK/ns" "$QNAME"
  expect_output 'from static'
  expect_status 0 "$MQSHIM" ipcrm --dir "$WORK/ns" "$QNAME"
done

# `mqshim trace` of a shell that runs it: the nested supervisor's records reach the collector.
expect_status 0 "$MQSHIM" --dir "$WORK/ns" trace --json -o "$WORK/c.jsonl" -- sh -c "'$WORK/static_queue' '$QNAME'; exit 0"
grep -q '"call":"mq_send"' "$WORK/c.jsonl" || { cat "$WORK/c.jsonl"; fail "mqshim trace: no mq_send record"; }
expect_status 0 "$MQSHIM" ipcrm --dir "$WORK/ns" "$QNAME"

# The library preloaded by hand names no launcher: the static program reaches the kernel, as
# the preload cannot see it (and `mqshim run` is what to use).
for how in execve execle; do
  expect_status 7 env LD_PRELOAD="$MQSHIM_LIB_PATH" MQSHIM_DIR="$WORK/ns" "$WORK/spawn_static" $how "$WORK/static_queue" "$QNAME" a b c d e f
  expect_output '^static: argc=8 last=f$'
  expect_status 0 "$WORK/run_kernel_probe" "$QNAME"
  expect_output '^kernel: present$'
done
# A dynamically linked program started by the list variants is started as asked.
expect_status 0 env LD_PRELOAD="$MQSHIM_LIB_PATH" "$WORK/spawn_static" execlp echo one two three four five six seven
expect_output '^one two three four five six seven$'
expect_status 0 "$MQSHIM" run -- "$WORK/spawn_static" execl /bin/echo one two three four five six seven
expect_output '^one two three four five six seven$'
echo "ok"
