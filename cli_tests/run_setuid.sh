#!/usr/bin/env bash
# `mqshim run` refuses a set-user-ID or set-group-ID program that would change our identity: the
# kernel then starts it in secure-execution mode, where the dynamic loader ignores LD_PRELOAD
# paths with a slash. --allow-unpreloaded shows why: the program runs, and its queue is the
# kernel's. A set-user-ID program that keeps our identity (owned by us) is run normally.
source "$ROOT/cli_tests/run_common.bash"
[[ $(id -u) == 0 ]] || { echo "needs root, to make a program set-user-ID to another user"; exit 77; }
OTHER=$(id -u nobody 2>/dev/null) || { echo "no user 'nobody' to own the set-user-ID program"; exit 77; }
OTHER_GROUP=$(getent group nogroup | cut -d: -f3)
[[ -n $OTHER_GROUP ]] || OTHER_GROUP=$OTHER
build run_queue
build run_kernel_probe
trap cleanup_kernel_queue EXIT
# The program must be reachable by its new identity: a directory of its own, searchable by all.
mkdir -m 755 "$WORK/bin"
[[ $(findmnt -no OPTIONS -T "$WORK/bin" 2>/dev/null) != *nosuid* ]] || { echo "$WORK is on a nosuid mount"; exit 77; }
cp "$WORK/run_queue" "$WORK/bin/suid"
chown "$OTHER" "$WORK/bin/suid"
chmod 4755 "$WORK/bin/suid"

expect_status 126 "$MQSHIM" run --dir "$WORK/ns" -- "$WORK/bin/suid" "$QNAME" keep
expect_output "suid is set-user-ID \\(it runs as uid $OTHER, you are uid 0\\): .*secure-execution mode.*LD_PRELOAD"
[[ ! -e $WORK/ns ]] || fail "the refused program ran"

expect_status 0 "$MQSHIM" run --allow-unpreloaded --dir "$WORK/ns" -- "$WORK/bin/suid" "$QNAME" keep
expect_output 'warning: .*set-user-ID.*running it anyway'
expect_output '^mq_send: ok$'
expect_status 0 "$WORK/run_kernel_probe" "$QNAME"
expect_output '^kernel: present$'

# Set-group-ID to another group: the same.
cp "$WORK/run_queue" "$WORK/bin/sgid"
chgrp "$OTHER_GROUP" "$WORK/bin/sgid"
chmod 2755 "$WORK/bin/sgid"
expect_status 126 "$MQSHIM" run -- "$WORK/bin/sgid" "$QNAME"
expect_output "sgid is set-group-ID \\(it runs as gid $OTHER_GROUP, your group is gid 0\\)"

# Set-user-ID to ourselves changes nothing: run, with the library.
cp "$WORK/run_queue" "$WORK/bin/suid-self"
chmod 4755 "$WORK/bin/suid-self"
expect_status 0 "$MQSHIM" run --dir "$WORK/ns2" -- "$WORK/bin/suid-self" "$QNAME"
expect_output '^mq_send: ok$'
[[ -d $WORK/ns2 ]] || fail "the program owned by us did not use the emulation"
echo "ok"
