#!/usr/bin/env bash
# Unchanged util-linux `ipcs -l` and `lsipc` under the emulation show the limits the emulation
# enforces (they read /proc/sys/kernel/msg*), and the message section of `ipcs -l` equals the
# kernel's when the kernel has the same limits (set in a private IPC namespace). The POSIX
# limit files (/proc/sys/fs/mqueue/*) read the emulation's values too.
source "$ROOT/cli_tests/run_common.bash"
command -v ipcs >/dev/null || { echo "util-linux ipcs not installed"; exit 77; }
NS=$WORK/ns
trap 'rm -rf "$NS"' EXIT

# emulated COMMAND...: COMMAND preloaded with the library, on the emulation in $NS.
emulated() { MQSHIM_BACKEND=emulate MQSHIM_DIR=$NS LD_PRELOAD=$MQSHIM_LIB_PATH "$@"; }
# messages_section: the "Messages Limits" section of `ipcs -l` on stdin.
messages_section() { awk '/^------ Messages Limits/ {on = 1; next} /^------/ {on = 0} on && NF'; }

# Configured limits: ipcs -l shows them, as the kernel's ipcs -l does with the same limits.
limits=msgmax=4096,msgmnb=8192,msgmni=64
shown=$(MQSHIM_LIMITS=$limits emulated ipcs -l | messages_section)
expect_lines=$'max queues system wide = 64\nmax size of message (bytes) = 4096\ndefault max size of queue (bytes) = 8192'
[[ $shown == "$expect_lines" ]] || fail "ipcs -l under the emulation with $limits shows:"$'\n'"$shown"
if [[ $(id -u) == 0 ]] && command -v unshare >/dev/null && unshare --ipc true 2>/dev/null; then
  kernel=$(unshare --ipc sh -c 'echo 4096 >/proc/sys/kernel/msgmax && echo 8192 >/proc/sys/kernel/msgmnb && echo 64 >/proc/sys/kernel/msgmni && ipcs -l' | messages_section)
  [[ -n $kernel && $kernel == "$shown" ]] || fail "ipcs -l: the kernel with $limits shows"$'\n'"$kernel"$'\nthe emulation\n'"$shown"
else
  echo "note: not root or no unshare --ipc: the comparison with the kernel's ipcs -l is skipped"
fi

# The default limits: what the emulation enforces (`mqshim limits`), normally the host's.
defaults=$(emulated ipcs -l | messages_section)
enforced() { "$MQSHIM" limits | awk -v k="$1" '$1 == k {print $2}'; }
read -r mni max mnb < <(echo "$(enforced msgmni) $(enforced msgmax) $(enforced msgmnb)")
[[ $mni =~ ^[0-9]+$ && $max =~ ^[0-9]+$ && $mnb =~ ^[0-9]+$ ]] || fail "mqshim limits does not give msgmni/msgmax/msgmnb: '$mni' '$max' '$mnb'"
[[ $defaults == "max queues system wide = $mni"$'\n'"max size of message (bytes) = $max"$'\n'"default max size of queue (bytes) = $mnb" ]] \
  || fail "ipcs -l under the emulation by default shows (enforced: msgmni $mni msgmax $max msgmnb $mnb):"$'\n'"$defaults"

# lsipc --json (limits in bytes), parsed as JSON.
if command -v lsipc >/dev/null; then
  MQSHIM_LIMITS=$limits emulated lsipc --json --bytes >"$WORK/lsipc.json" || fail "lsipc --json failed under the emulation"
  python3 - "$WORK/lsipc.json" <<'PY' || fail "lsipc --json under the emulation: $(cat "$WORK/lsipc.json")"
import json, sys
rows = {r["resource"]: r for r in json.load(open(sys.argv[1]))["ipclimits"]}
want = {"MSGMNI": "64", "MSGMAX": "4096", "MSGMNB": "8192"}
got = {k: str(rows[k]["limit"]) for k in want}
if got != want:
    print("lsipc limits", got, "want", want)
    sys.exit(1)
PY
else
  echo "note: lsipc not installed: its case is skipped"
fi

# The POSIX limit files, read with open(2) (cat) and with fopen(3).
printf '%s\n' '#include <stdio.h>' 'int main(int c, char **v) { FILE *f = fopen(v[1], "re"); int n; if (!f || fscanf(f, "%d", &n) != 1) return 1; printf("%d\n", n); return 0; }' >"$WORK/fopen_int.c"
cc "$WORK/fopen_int.c" -o "$WORK/fopen_int" || fail "cannot build fopen_int"
posix=msg_max=7,msgsize_max=1000,msg_default=3,msgsize_default=500,queues_max=9
for kv in ${posix//,/ }; do
  key=${kv%=*} value=${kv#*=}
  got=$(MQSHIM_LIMITS=$posix emulated cat "/proc/sys/fs/mqueue/$key")
  [[ $got == "$value" ]] || fail "/proc/sys/fs/mqueue/$key under the emulation with $posix reads '$got' with open"
  got=$(MQSHIM_LIMITS=$posix emulated "$WORK/fopen_int" "/proc/sys/fs/mqueue/$key")
  [[ $got == "$value" ]] || fail "/proc/sys/fs/mqueue/$key under the emulation with $posix reads '$got' with fopen"
done
# The kernel backend: the kernel's own files, untouched.
[[ $(MQSHIM_BACKEND=kernel MQSHIM_LIMITS=$posix LD_PRELOAD=$MQSHIM_LIB_PATH cat /proc/sys/fs/mqueue/msg_max) == "$(cat /proc/sys/fs/mqueue/msg_max)" ]] \
  || fail "the kernel backend changed what /proc/sys/fs/mqueue/msg_max reads"
[[ $(MQSHIM_BACKEND=kernel MQSHIM_LIMITS=$limits LD_PRELOAD=$MQSHIM_LIB_PATH ipcs -l) == "$(ipcs -l)" ]] \
  || fail "the kernel backend changed what ipcs -l shows"
exit 0
