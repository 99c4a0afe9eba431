#!/usr/bin/env bash
# `mqshim run` finds the library itself — beside the command (a build tree), in ../lib of an
# installed prefix, or where --lib says — keeps an LD_PRELOAD the user had (after its own), and
# the program's queue calls then really go to the emulation in the --dir namespace.
source "$ROOT/cli_tests/run_common.bash"
build run_queue
build run_kernel_probe
cc -shared -fPIC "$PROGRAMS/run_marker.c" -o "$WORK/marker.so" || fail "cannot build the marker library"
LIB=$(realpath "$MQSHIM_LIB_PATH")
trap cleanup_kernel_queue EXIT

# The build tree: the library next to target/release/mqshim.
expect_status 0 "$MQSHIM" run -- sh -c 'echo "preload=$LD_PRELOAD"'
expect_output "^preload=$LIB\$"

# An installed layout: PREFIX/bin/mqshim and PREFIX/lib/libmqshim.so.
mkdir -p "$WORK/prefix/bin" "$WORK/prefix/lib"
cp "$MQSHIM" "$WORK/prefix/bin/mqshim"
cp "$MQSHIM_LIB_PATH" "$WORK/prefix/lib/libmqshim.so"
expect_status 0 "$WORK/prefix/bin/mqshim" run -- sh -c 'echo "preload=$LD_PRELOAD"'
expect_output "^preload=$WORK/prefix/lib/libmqshim.so\$"

# ... and the program under it uses the emulation, in the namespace --dir names (not the kernel).
expect_status 0 "$WORK/prefix/bin/mqshim" run --dir "$WORK/ns" -- "$WORK/run_queue" "$QNAME" keep
expect_output '^mq_send: ok$'
MQSHIM_DIR=$WORK/ns expect_status 0 "$MQSHIM" ipcs
expect_output "^$QNAME "
expect_status 0 "$WORK/run_kernel_probe" "$QNAME"
expect_output '^kernel: absent'
expect_status 0 "$MQSHIM" --dir "$WORK/ns" ipcrm "$QNAME"

# No library anywhere: refused, saying where it looked.
rm "$WORK/prefix/lib/libmqshim.so"
expect_status 126 "$WORK/prefix/bin/mqshim" run -- true
expect_output "cannot find libmqshim.so"

# --lib: an explicit library, wherever it is.
mkdir -p "$WORK/elsewhere"
cp "$MQSHIM_LIB_PATH" "$WORK/elsewhere/libmine.so"
expect_status 0 "$WORK/prefix/bin/mqshim" run --lib "$WORK/elsewhere/libmine.so" -- sh -c 'echo "preload=$LD_PRELOAD"'
expect_output "^preload=$WORK/elsewhere/libmine.so\$"

# An LD_PRELOAD the user had stays, after mqshim's; both libraries are loaded in the program.
LD_PRELOAD=$WORK/marker.so expect_status 0 "$MQSHIM" run --dir "$WORK/ns" -- sh -c 'echo "preload=$LD_PRELOAD"; exec "$0" "$@"' "$WORK/run_queue" "$QNAME"
expect_output "^preload=$LIB:$WORK/marker.so\$"
expect_output '^MARKER run_queue$'
expect_output '^mq_send: ok$'
# run_queue unlinked its queue in the namespace: nothing reached the kernel.
expect_status 0 "$WORK/run_kernel_probe" "$QNAME"
expect_output '^kernel: absent'
echo "ok"
