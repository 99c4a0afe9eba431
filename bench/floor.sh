#!/usr/bin/env bash
# bench/floor.sh — what the file operations a queue-per-file namespace is made of cost here,
# beside the kernel's own create+remove of a queue, in one run (bench/floor.c).
#
#   bench/floor.sh [OPS]     (default 20000 per row; about 5 s)
#
# The files go in a new directory on the filesystem of MQSHIM_DIR's parent (default /dev/shm,
# the emulation's default, else $TMPDIR or /tmp); the kernel rows run in a fresh IPC namespace
# when this user may make one (root), else in the caller's. Rows: ns per operation, median of
# 7 batches; then the floors of mqshim's designs against the kernel's times.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OPS=${1:-20000}
OUT=$ROOT/target/bench
mkdir -p "$OUT"
cc -O2 -Wall -Wextra -o "$OUT/floor" "$ROOT/bench/floor.c" -lrt || exit 1
base=/dev/shm
if [[ -n ${MQSHIM_DIR:-} ]]; then base=$(dirname "$MQSHIM_DIR"); fi
[[ -d $base && -w $base ]] || base=${TMPDIR:-/tmp}
dir=$base/mqshim-floor.$$
trap 'rm -rf "$dir"' EXIT
if unshare --ipc true 2>/dev/null; then
    unshare --ipc "$OUT/floor" "$dir" "$OPS"
else
    echo "(no fresh IPC namespace for this user: the kernel rows run in the caller's)"
    "$OUT/floor" "$dir" "$OPS"
fi
