#!/usr/bin/env bash
# mqshim report on the notes' programs (seed-programs/001 send.c, recv.c, rmmq.c): six send
# processes and six recv processes, each opening /mqtest itself, traced into one file under the
# emulation (a private namespace, so /mqtest is ours). The summary counts 6 mq_send and 6
# mq_receive and the queue row 6 messages each way; the Chrome trace has six flows, each from a
# send process to a recv process, matched by priority and payload, in the notes' order.
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is needed to check the Chrome trace"; exit 77; }
[[ -f $SEED_PROGRAMS/001/send.c ]] || { echo "no seed programs at $SEED_PROGRAMS"; exit 77; }
for p in send recv rmmq; do
  cc "$SEED_PROGRAMS/001/$p.c" -o "$WORK/$p" -lrt
done
trace=$WORK/seed.jsonl
run() { LD_PRELOAD=$MQSHIM_LIB_PATH MQSHIM_BACKEND=emulate MQSHIM_DIR=$WORK/ns MQSHIM_TRACE=$trace MQSHIM_TRACE_FORMAT=jsonl timeout 30 "$@"; }
trap 'run "$WORK/rmmq" 2>/dev/null || true' EXIT
sends=(zorro:1 shrek:2 jerry:3 zzzzz:1 ssssss:2 jjjjj:3)
for s in "${sends[@]}"; do run "$WORK/send" "${s%:*}" "${s#*:}"; done
for _ in "${sends[@]}"; do run "$WORK/recv" >/dev/null; done
run "$WORK/rmmq"
trap - EXIT

"$MQSHIM" report "$trace" >"$WORK/summary"
cat "$WORK/summary"
row() { awk -v c="$1" '$0 ~ "^ *[0-9.]+ " && $0 ~ (" " c "( |$)") {print $6}' "$WORK/summary"; }
[[ $(row mq_send) == 6 && $(row mq_receive) == 6 && $(row mq_open) == 12 ]] || { echo "want 6 mq_send, 6 mq_receive, 12 mq_open"; exit 1; }
read -r sent sent_bytes received received_bytes < <(awk '$1 == "/mqtest" {print $2, $3, $4, $5}' "$WORK/summary")
[[ "$sent $sent_bytes $received $received_bytes" == "6 31 6 31" ]] || { echo "queue row: $sent $sent_bytes $received $received_bytes, want 6 31 6 31"; exit 1; }

"$MQSHIM" report "$trace" --chrome "$WORK/seed.json"
python3 "$ROOT/cli_tests/report_chrome_check.py" "$WORK/seed.json" >"$WORK/flows"
cat "$WORK/flows"
# Send processes wrote the first six mq_open records, recv processes the next six.
mapfile -t senders < <(grep '"call":"mq_send"' "$trace" | sed 's/.*"pid":\([0-9]*\).*/\1/')
mapfile -t receivers < <(grep '"call":"mq_receive"' "$trace" | sed 's/.*"pid":\([0-9]*\).*/\1/')
got=$(awk '{print $5 "<-" $10}' "$WORK/flows" | tr -d '"' | tr '\n' ' ')
[[ $got == "jerry<-jerry jjjjj<-jjjjj shrek<-shrek ssssss<-ssssss zorro<-zorro zzzzz<-zzzzz " ]] || { echo "flows by payload: $got"; exit 1; }
# The i-th receiver took jerry, jjjjj, shrek, ssssss, zorro, zzzzz (priority, then FIFO).
order=(jerry jjjjj shrek ssssss zorro zzzzz)
for i in "${!order[@]}"; do
  line=$(grep "\"${order[$i]}\" -> " "$WORK/flows")
  read -r _ spid _ _ _ _ rpid _ <<<"$line"
  want_sender=$(printf '%s\n' "${sends[@]}" | grep -n "^${order[$i]}:" | cut -d: -f1)
  [[ $spid == "${senders[$((want_sender - 1))]}" && $rpid == "${receivers[$i]}" ]] || { echo "${order[$i]}: flow $spid -> $rpid, want ${senders[$((want_sender - 1))]} -> ${receivers[$i]}"; exit 1; }
done
echo "six flows, each from the process that sent the message to the one that received it"
