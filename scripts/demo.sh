#!/usr/bin/env bash
# `make demo`: the notes' two scenarios, run unchanged under mqshim with tracing to stderr, so a
# newcomer sees every call decoded.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seeds="$root/../shared/seed-programs/001"
lib="$root/target/release/libmqshim.so"
if [ ! -d "$seeds" ]; then
  echo "demo: the notes' programs are not here ($seeds is absent); clone beside ../shared to run the demo" >&2
  exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/mqshim-demo.XXXXXX")
ns=$(mktemp -d /dev/shm/mqshim-demo.XXXXXX 2>/dev/null || mktemp -d "${TMPDIR:-/tmp}/mqshim-demo-ns.XXXXXX")
trap 'rm -rf "$work" "$ns"' EXIT
for p in send recv rmmq msg_create msg_send msg_receive; do
  gcc "$seeds/$p.c" -o "$work/$p" -lrt -lpthread 2>/dev/null
done

export LD_PRELOAD="$lib" MQSHIM_TRACE=stderr MQSHIM_DIR="$ns"
backend=$(MQSHIM_TRACE= "$root/target/release/mqshim" info | sed -n 's/^backend: //p')
echo "== mqshim $(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1), backend: $backend (MQSHIM_BACKEND selects it)"
echo
echo "== POSIX: six sends at three priorities, six receives, unlink (notes 001: send.c, recv.c, rmmq.c)"
for m in "zorro 1" "shrek 2" "jerry 3" "zzzzz 1" "ssssss 2" "jjjjj 3"; do
  echo "\$ ./send $m"; "$work/send" $m
done
for _ in 1 2 3 4 5 6; do echo "\$ ./recv"; "$work/recv"; done
echo "\$ ./rmmq"; "$work/rmmq"
echo
echo "== System V: create, send, receive, remove (notes 001: msg_create.c, msg_send.c, msg_receive.c)"
echo "\$ ./msg_create"; "$work/msg_create" || true
echo "\$ ./msg_send"; "$work/msg_send"
echo "\$ ./msg_receive"; "$work/msg_receive"
echo
echo "== What the emulation holds now (mqshim ipcs; empty: the notes' programs cleaned up)"
LD_PRELOAD= MQSHIM_TRACE= "$root/target/release/mqshim" ipcs
unset LD_PRELOAD MQSHIM_TRACE

mqshim="$root/target/release/mqshim"
echo
echo "== mqshim trace -C: recv blocks until send comes (<unfinished ...>, then <... resumed>), then the summary"
echo "\$ mqshim trace -C -- sh -c './send first 1; ./recv; ./recv & sleep 0.3; ./send second 2; wait; ./rmmq'"
"$mqshim" --dir "$ns" trace -C -tt -- sh -c "'$work/send' first 1; '$work/recv'; '$work/recv' & sleep 0.3; '$work/send' second 2; wait; '$work/rmmq'"
echo
echo "== mqshim report --chrome: the same run as a Perfetto trace, an arrow from each send to its receive"
"$mqshim" --dir "$ns" trace --json -o "$work/trace.jsonl" -- sh -c "'$work/send' first 1; '$work/recv'; '$work/recv' & sleep 0.3; '$work/send' second 2; wait; '$work/rmmq'" >/dev/null
mkdir -p "$root/target"
"$mqshim" report "$work/trace.jsonl" --chrome "$root/target/demo-trace.json"
echo "\$ mqshim report trace.jsonl --chrome target/demo-trace.json   # open it in https://ui.perfetto.dev"
echo "$(grep -o '"ph":"s"' "$root/target/demo-trace.json" | wc -l) flow arrows (send -> receive), $(grep -o '"ph":"X"' "$root/target/demo-trace.json" | wc -l) call slices in target/demo-trace.json"
