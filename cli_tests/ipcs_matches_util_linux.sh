#!/usr/bin/env bash
# The same program's System V queue, made on the kernel and under the emulation: util-linux
# `ipcs -q` (and -p, -c) of the kernel's queue and `mqshim ipcs -q` of the emulated one agree on
# every column but the id (and the pids, which are the two runs' own).
source "$ROOT/cli_tests/ipcs_common.bash"
command -v ipcs >/dev/null && command -v ipcrm >/dev/null || { echo "util-linux ipcs/ipcrm not installed"; exit 77; }
NAME=/ipcs-ul-$RUNID
trap 'ipcrm -Q "$KEY" 2>/dev/null; "$WORK/run_kernel_probe" "$NAME" >/dev/null 2>&1' EXIT
build run_kernel_probe
out=$("$WORK/ipcs_queues" make "$NAME" "$KEY") || fail "cannot make the kernel's queues: $out"
read -r _ KID _ KPID <<<"$out"
make_queues "$NAME"
hexkey=$(printf '0x%08x' "$KEY")

# Default columns: key msqid owner perms used-bytes messages.
kernel=$(ipcs -q | awk -v k="$hexkey" '$1 == k {print $1, $3, $4, $5, $6}')
emulated=$("$MQSHIM" --dir "$NS" ipcs -q | awk -v k="$hexkey" '$1 == k {print $1, $3, $4, $5, $6}')
[[ -n $kernel && $kernel == "$emulated" ]] || fail "ipcs -q: kernel '$kernel', mqshim '$emulated'"

# -c: msqid perms cuid cgid uid gid (util-linux prints names, mqshim numbers).
kernel=$(ipcs -q -c | awk -v i="$KID" '$1 == i {print $2, $3, $4, $5, $6}')
emulated=$("$MQSHIM" --dir "$NS" ipcs -q -c | awk -v i="$MSQID" '$1 == i {print $2, $3, $4, $5, $6}')
[[ $kernel == "600 $(id -un) $(id -gn) $(id -un) $(id -gn)" ]] || fail "ipcs -q -c of the kernel's queue: '$kernel'"
[[ $emulated == "600 $(id -u) $(id -g) $(id -u) $(id -g)" ]] || fail "mqshim ipcs -q -c: '$emulated' (the kernel's: '$kernel')"

# -p: lspid is each run's sender, lrpid none.
kernel=$(ipcs -q -p | awk -v i="$KID" '$1 == i {print $3, $4}')
emulated=$("$MQSHIM" --dir "$NS" ipcs -q -p | awk -v i="$MSQID" '$1 == i {print $3, $4}')
[[ $kernel == "$KPID 0" && $emulated == "$MAKER_PID 0" ]] || fail "ipcs -q -p: kernel '$kernel' (sender $KPID), mqshim '$emulated' (sender $MAKER_PID)"
exit 0
