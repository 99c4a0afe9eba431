#!/usr/bin/env bash
# bench/ceiling.sh — what a locked shared-memory queue can reach on this machine, beside the
# kernel and mqshim's emulation, in one run (64-byte messages streamed across two CPUs).
#
#   bench/ceiling.sh [REPS]      (default 5; about 1 s per run, 9 runs per rep)
#
# Rows: the kernel's POSIX queue; mqshim's emulated POSIX and System V queues; lockring
# (bench/lockring.c), the smallest robust-locked ring, in three designs, without and with
# 80 ns of work outside the lock per operation (a library call's own overhead: mqshim's
# exported calls cost about 100 ns each, uncontended). Value: median msg/s over REPS; ratio:
# against the kernel's median.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${1:-5}
LIB=${MQSHIM_LIB:-$ROOT/target/release/libmqshim.so}
OUT=$ROOT/target/bench
mkdir -p "$OUT"
cc -O2 -Wall -Wextra -pthread -o "$OUT/mqbench" "$ROOT/bench/mqbench.c" -lrt || exit 1
cc -O2 -Wall -Wextra -pthread -o "$OUT/lockring" "$ROOT/bench/lockring.c" || exit 1
[ -f "$LIB" ] || { echo "ceiling: $LIB missing (run make build)" >&2; exit 1; }
SHM_ROOT=/dev/shm; [ -d "$SHM_ROOT" ] && [ -w "$SHM_ROOT" ] || SHM_ROOT=${TMPDIR:-/tmp}

value() { grep -o ' value=[0-9.]*' | head -1 | cut -d= -f2; }
emulated() {  # api
    local d; d=$(mktemp -d -p "$SHM_ROOT" ceiling.XXXX)
    env -u MQSHIM_TRACE -u MQSHIM_FAULTS -u MQSHIM_CONFIG MQSHIM_BACKEND=emulate MQSHIM_DIR="$d" \
        MQSHIM_LIMITS=msg_max=65536,rlimit_msgqueue=1g,msgmnb=64m LD_PRELOAD="$LIB" \
        "$OUT/mqbench" stream --api "$1" --size 64 --placement cross --seconds 0.4 | value
    rm -rf "$d"
}
ROWS=("kernel posix" "kernel sysv" "mqshim emulated posix" "mqshim emulated sysv"
      "lockring naive" "lockring one-lock" "lockring two-lock"
      "lockring naive +80ns" "lockring one-lock +80ns" "lockring two-lock +80ns")
declare -A vals
for ((rep = 1; rep <= REPS; rep++)); do
    for row in "${ROWS[@]}"; do
        case $row in
            "kernel "*) v=$(env -u LD_PRELOAD "$OUT/mqbench" stream --api "${row#kernel }" --size 64 --placement cross --seconds 0.4 | value) ;;
            "mqshim emulated "*) v=$(emulated "${row#mqshim emulated }") ;;
            *+80ns) set -- $row; v=$("$OUT/lockring" --design "$2" --work 80 | value) ;;
            *) set -- $row; v=$("$OUT/lockring" --design "$2" | value) ;;
        esac
        vals[$row]+="${v:-0} "
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
kp=$(echo "${vals[kernel posix]}" | median)
ks=$(echo "${vals[kernel sysv]}" | median)
printf '%-26s %12s %8s   %s\n' "64 B stream, cross-CPU" "median msg/s" "x kernel" "all runs"
for row in "${ROWS[@]}"; do
    m=$(echo "${vals[$row]}" | median)
    base=$kp; [[ $row == *sysv ]] && base=$ks
    printf '%-26s %12s %8s   %s\n' "$row" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }')" "${vals[$row]}"
done
