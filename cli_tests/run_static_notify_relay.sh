#!/usr/bin/env bash
# A static program under `mqshim run` (the emulation) registered for a notification signal gets
# it when a process of another user, which may not signal it, sends — as on the kernel, where
# the kernel sends it. The sender here is an ordinary preloaded program run as nobody; the
# supervisor's relay thread sends the signal the sender left in the queue (before, it was lost:
# "signal: none" after 10 s). The kernel run gives the reference line.
source "$ROOT/cli_tests/run_common.bash"
if [[ $(id -u) != 0 ]] || ! command -v setpriv >/dev/null; then
  echo "skipped: needs root and setpriv (the sender is another user)"
  exit 77
fi
if ! cc -static "$PROGRAMS/notify_wait.c" -o "$WORK/notify_wait" -lrt 2>"$WORK/cc.log"; then
  echo "skipped: cc -static does not link here (no static libc)"
  exit 77
fi
build notify_send
# Programs and namespace where nobody can reach them (not under $WORK).
PUB=$(mktemp -d /tmp/mqshim-relay-test.XXXXXX)
NS=/dev/shm/mqshim-relay-$RUNID
cleanup() {
  "$MQSHIM" --dir "$NS" ipcrm -a >/dev/null 2>&1
  rm -rf "$PUB" "$NS"
}
trap cleanup EXIT
chmod 755 "$PUB"
cp "$WORK/notify_wait" "$WORK/notify_send" "$PUB/"
as_nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }

# run_case LABEL WAITER-COMMAND... :: SENDER-COMMAND...: starts the waiter, sends once it is
# registered, prints the waiter's output.
run_case() {
  local ready=$PUB/ready.$1
  shift
  local waiter=() sender=()
  while [[ $1 != :: ]]; do waiter+=("$1"); shift; done
  shift
  sender=("$@")
  rm -f "$ready"
  "${waiter[@]}" "$ready" >"$WORK/waiter.out" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do [[ -e $ready ]] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  [[ -e $ready ]] || { wait "$pid"; cat "$WORK/waiter.out"; fail "the waiter did not register"; }
  as_nobody "${sender[@]}" >"$WORK/sender.out" 2>&1 || { cat "$WORK/sender.out"; kill "$pid"; wait "$pid"; fail "the sender failed"; }
  wait "$pid" || { cat "$WORK/waiter.out"; fail "the waiter failed"; }
  cat "$WORK/waiter.out"
}

kernel=$(run_case kernel "$PUB/notify_wait" "$QNAME" :: "$PUB/notify_send" "$QNAME")
[[ $kernel == "signal: SI_MESGQ value=42 uid=65534" ]] || fail "the kernel's reference: '$kernel'"
emulated=$(run_case emulated "$MQSHIM" run --dir "$NS" -- "$PUB/notify_wait" "$QNAME" :: "$MQSHIM" run --dir "$NS" -- "$PUB/notify_send" "$QNAME")
[[ $emulated == "$kernel" ]] || fail "static under the emulation: '$emulated', the kernel: '$kernel'"
echo "ok"
