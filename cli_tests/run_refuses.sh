#!/usr/bin/env bash
# `mqshim run` refuses, with the reason and a shell's status, what the preload cannot reach —
# a statically linked program (also behind a #! script) under a backend its supervisor does not
# serve it with (Redis; see run_static_supervised.sh for kernel and emulate), a library that is
# no shared object —
# and programs a shell could not run (127 not found, 126 not executable). --allow-unpreloaded
# runs them anyway, with a warning: the static program's queue then lands in the kernel,
# which is exactly what the refusal protects against.
source "$ROOT/cli_tests/run_common.bash"
build run_kernel_probe
trap cleanup_kernel_queue EXIT

# A static program: cc -static, else a raw _start without libc.
if cc -static "$PROGRAMS/run_queue.c" -o "$WORK/run_queue_static" -lrt 2>"$WORK/cc.log"; then
  STATIC_QUEUE=yes
else
  STATIC_QUEUE=
  printf 'void _start(void){__asm__ volatile("mov $60,%%eax\\nxor %%edi,%%edi\\nsyscall":::"memory");}\n' >"$WORK/raw.c"
  cc -static -nostdlib -O2 "$WORK/raw.c" -o "$WORK/run_queue_static" || fail "cannot build any static program"
fi
file_type=$(LC_ALL=C od -An -c -N4 "$WORK/run_queue_static" | tr -d ' ')
[[ $file_type == '177ELF' ]] || fail "the static program is not ELF"

expect_status 126 "$MQSHIM" run --backend redis --dir "$WORK/ns" -- "$WORK/run_queue_static" "$QNAME"
expect_output 'run_queue_static is statically linked'
expect_output 'LD_PRELOAD has no effect'
[[ ! -e $WORK/ns ]] || fail "the refused program ran (or mqshim touched the namespace)"

# A script whose interpreter is static is refused too; one run by a dynamic shell is not.
printf '#!%s\n' "$WORK/run_queue_static" >"$WORK/static.script"
printf '#!/bin/sh\necho script ran\n' >"$WORK/dynamic.script"
chmod +x "$WORK/static.script" "$WORK/dynamic.script"
expect_status 126 "$MQSHIM" run --backend redis -- "$WORK/static.script"
expect_output 'static.script is a script run by .*run_queue_static, and .*statically linked'
expect_status 0 "$MQSHIM" run -- "$WORK/dynamic.script"
expect_output '^script ran$'
# #!/usr/bin/env NAME: judged by NAME, found in PATH.
mkdir -p "$WORK/bin"
cp "$WORK/run_queue_static" "$WORK/bin/static-$RUNID"
printf '#!/usr/bin/env static-%s\n' "$RUNID" >"$WORK/env.script"
chmod +x "$WORK/env.script"
PATH=$WORK/bin:$PATH expect_status 126 "$MQSHIM" run --backend redis -- "$WORK/env.script"
expect_output "env.script is a script run by .*static-$RUNID \\(through env\\), and .*statically linked"

# A static PIE (dynamic section, but no PT_INTERP) where the toolchain makes one.
if cc -static-pie -x c - -o "$WORK/static-pie" <<<'int main(void) { return 0; }' 2>/dev/null; then
  expect_status 126 "$MQSHIM" run --backend redis -- "$WORK/static-pie"
  expect_output 'static-pie is statically linked \(a static PIE\)'
else
  echo "(no static PIE toolchain here: that case not checked)"
fi

# --allow-unpreloaded: a warning, then the program runs, on the kernel (mqshim is not there).
if [[ -n $STATIC_QUEUE ]]; then
  expect_status 0 "$MQSHIM" run --backend redis --allow-unpreloaded --dir "$WORK/ns" -- "$WORK/run_queue_static" "$QNAME" keep
  expect_output 'warning: .*statically linked.*running it anyway'
  expect_output '^mq_send: ok$'
  expect_status 0 "$WORK/run_kernel_probe" "$QNAME"
  expect_output '^kernel: present$'
else
  expect_status 0 "$MQSHIM" run --backend redis --allow-unpreloaded -- "$WORK/run_queue_static"
  expect_output 'warning: .*statically linked.*running it anyway'
fi

# A library that cannot be preloaded: not ELF, or an executable rather than a shared object.
echo 'not a library' >"$WORK/libfake.so"
expect_status 126 "$MQSHIM" run --lib "$WORK/libfake.so" -- true
expect_output 'libfake.so cannot be preloaded: it is not an ELF file'
expect_status 126 "$MQSHIM" run --lib "$WORK/run_kernel_probe" -- true
expect_output 'run_kernel_probe cannot be preloaded: it is not an ELF shared object'
expect_status 126 "$MQSHIM" run --lib "$WORK/nonexistent.so" -- true
expect_output 'nonexistent.so. not found'

# What a shell says and returns: not found 127, not executable 126, a directory 126, a missing
# #! interpreter 127.
expect_status 127 "$MQSHIM" run -- "no-such-program-$RUNID"
expect_output "no-such-program-$RUNID: command not found"
expect_status 127 "$MQSHIM" run -- "$WORK/no-such-file"
expect_output 'No such file or directory'
printf '#!/bin/sh\n' >"$WORK/not-executable"
expect_status 126 "$MQSHIM" run -- "$WORK/not-executable"
expect_output 'not-executable: Permission denied'
expect_status 126 "$MQSHIM" run -- "$WORK"
expect_output 'Is a directory'
printf '#!%s/no-such-shell\n' "$WORK" >"$WORK/bad-interpreter"
chmod +x "$WORK/bad-interpreter"
expect_status 127 "$MQSHIM" run -- "$WORK/bad-interpreter"
expect_output 'bad interpreter'
echo "ok"
