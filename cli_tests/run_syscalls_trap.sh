#!/usr/bin/env bash
# `mqshim run --syscalls=trap` makes a program's own queue system calls reach the emulation: a
# descriptor from mq_open(3) works with syscall(SYS_mq_timedsend) & co. Without the option they
# reach the kernel, which does not know the emulated descriptor (EBADF). A bad value: status 2.
source "$ROOT/cli_tests/run_common.bash"
build raw_send_receive

expect_status 0 "$MQSHIM" --dir "$WORK/ns" run --syscalls=trap -- "$WORK/raw_send_receive" "$QNAME"
expect_output '^raw send: 0$'
expect_output '^raw receive: 3$'
expect_status 1 "$MQSHIM" --dir "$WORK/ns" run -- "$WORK/raw_send_receive" "$QNAME"
expect_output '^raw send: Bad file descriptor$'
expect_status 2 "$MQSHIM" run --syscalls=always -- true
expect_output '^mqshim: --syscalls: unknown mode'
echo "ok"
