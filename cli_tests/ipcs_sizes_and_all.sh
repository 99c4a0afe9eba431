#!/usr/bin/env bash
# `mqshim ipcs` takes util-linux's -a (both APIs, the default), -b (sizes in bytes, the default)
# and --human, and writes human-readable sizes as util-linux does: the limit lines, the summary's
# used space and the queues' size column equal the kernel's `ipcs --human` with the same limits
# and the same queue (in a private IPC namespace).
source "$ROOT/cli_tests/run_common.bash"
NS=$WORK/ns
trap 'rm -rf "$NS"' EXIT
limits=msgmax=1536,msgmnb=2000000,msgmni=64
# send_1536 KEY: creates System V queue KEY and sends one 1536-byte message (python3's ctypes,
# so under LD_PRELOAD it reaches the emulation).
send_1536() {
  python3 - "$1" <<'PY'
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
q = libc.msgget(int(sys.argv[1]), 0o1666)
buf = ctypes.create_string_buffer(8 + 1536)
ctypes.memmove(buf, ctypes.byref(ctypes.c_long(1)), 8)
if q < 0 or libc.msgsnd(q, buf, 1536, 0) != 0:
    sys.exit("msgget/msgsnd: errno %d" % ctypes.get_errno())
PY
}
emulated() { MQSHIM_BACKEND=emulate MQSHIM_DIR=$NS MQSHIM_LIMITS=$limits LD_PRELOAD=$MQSHIM_LIB_PATH "$@"; }
emulated send_1536 4660 || fail "cannot send under the emulation"

# -a and -b change nothing; -a with -q is refused as a contradiction.
[[ $("$MQSHIM" --dir "$NS" ipcs -a) == "$("$MQSHIM" --dir "$NS" ipcs)" ]] || fail "ipcs -a differs from ipcs"
[[ $("$MQSHIM" --dir "$NS" ipcs -b) == "$("$MQSHIM" --dir "$NS" ipcs)" ]] || fail "ipcs -b differs from ipcs"
"$MQSHIM" --dir "$NS" ipcs -a -q >/dev/null 2>&1 && fail "ipcs -a -q accepted"
"$MQSHIM" --dir "$NS" ipcs -b --human >/dev/null 2>&1 && fail "ipcs -b --human accepted"

# section NAME: the lines of the section whose title starts with NAME, on stdin.
section() { awk -v t="------ $1" 'index($0, t) == 1 {on = 1; next} /^------/ {on = 0} on && NF'; }
ours_limits=$(MQSHIM_LIMITS=$limits "$MQSHIM" --dir "$NS" ipcs -l --human | section "Messages Limits")
want_limits=$'max queues system wide = 64\nmax size of message = 1.5K\ndefault max size of queue = 1.9M'
[[ $ours_limits == "$want_limits" ]] || fail "ipcs -l --human shows:"$'\n'"$ours_limits"
ours_used=$("$MQSHIM" --dir "$NS" ipcs -q -u --human | grep '^used space')
[[ $ours_used == "used space = 1.5K" ]] || fail "ipcs -u --human shows '$ours_used'"
ours_size=$("$MQSHIM" --dir "$NS" ipcs -q --human | awk '$1 == "0x00001234" {print $5}')
[[ $ours_size == 1.5K ]] || fail "ipcs -q --human shows size '$ours_size'"
[[ $("$MQSHIM" --dir "$NS" ipcs -q --human | awk '$1 == "key" {print $5}') == size ]] || fail "ipcs -q --human does not name the column size"

if [[ $(id -u) == 0 ]] && command -v ipcs >/dev/null && unshare --ipc true 2>/dev/null; then
  export -f send_1536
  kernel=$(unshare --ipc bash -c 'echo 1536 >/proc/sys/kernel/msgmax && echo 2000000 >/proc/sys/kernel/msgmnb && echo 64 >/proc/sys/kernel/msgmni &&
    send_1536 4660 && ipcs -q -l --human && ipcs -q -u --human && ipcs -q --human')
  [[ $(section "Messages Limits" <<<"$kernel") == "$ours_limits" ]] || fail "the kernel's ipcs -l --human shows"$'\n'"$kernel"
  [[ $(grep '^used space' <<<"$kernel") == "$ours_used" ]] || fail "the kernel's ipcs -u --human shows"$'\n'"$kernel"
  [[ $(awk '$1 == "0x00001234" {print $5}' <<<"$kernel") == "$ours_size" ]] || fail "the kernel's ipcs -q --human shows"$'\n'"$kernel"
else
  echo "note: not root, no util-linux ipcs or no unshare --ipc: the comparison with the kernel is skipped"
fi
exit 0
