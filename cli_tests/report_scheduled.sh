#!/usr/bin/env bash
# mqshim report on scheduled messages (emulation): mqshim_mq_send_at / mqshim_msgsnd_at count as
# sends and as scheduled, a cancel as cancelled, and the Chrome trace draws a flow from each
# scheduled send to the receive that took the message when it fell due — none from the cancelled
# one. Needs a library that traces the scheduled-message calls (records with ts_ns and the
# mqshim_* calls, issue 14): with an older one it says so and skips.
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is needed to check the tables and the Chrome trace"; exit 77; }
HERE=$ROOT/cli_tests
cc -Wall "$HERE/programs/report_scheduled.c" -o "$WORK/scheduled" -lrt -ldl
queue=/sched-$RUNID
run() { LD_PRELOAD=$MQSHIM_LIB_PATH MQSHIM_BACKEND=emulate MQSHIM_DIR=$WORK/ns "$@"; }
trap 'run "$WORK/scheduled" --unlink "$queue" || true' EXIT
trace=$WORK/scheduled.jsonl
run env MQSHIM_TRACE="$trace" MQSHIM_TRACE_FORMAT=jsonl timeout 30 "$WORK/scheduled" "$queue" >"$WORK/out"
if ! grep -q '"ts_ns"' "$trace"; then
  echo "this library does not trace the scheduled-message calls yet (no ts_ns in its records)"
  exit 77
fi
grep -q '"call":"mqshim_mq_send_at"' "$trace" || { echo "records with ts_ns but no mqshim_mq_send_at record"; exit 1; }

"$MQSHIM" report "$trace" >"$WORK/summary"
python3 "$HERE/report_summary_check.py" "$WORK/out" "$WORK/summary" total
# queue, sent, bytes, received, bytes, scheduled, cancelled, max depth
grep -Eq "^$queue +3 +13 +2 +8 +2 +1 +1$" "$WORK/summary" || { echo "want $queue: 3 sent (2 scheduled, 1 cancelled), 2 received, depth 1"; cat "$WORK/summary"; exit 1; }
grep -Eq '^IPC_PRIVATE id=[0-9]+ +2 +20 +1 +10 +2 +1 +1$' "$WORK/summary" || { echo "want IPC_PRIVATE: 2 sent (scheduled, 1 cancelled), 1 received, depth 1"; cat "$WORK/summary"; exit 1; }

"$MQSHIM" report "$trace" --chrome "$WORK/scheduled.json"
python3 "$HERE/report_chrome_check.py" "$WORK/scheduled.json" | sort >"$WORK/flows"
parent=$(awk '$1 == "PARENT" {print $2}' "$WORK/out")
child=$(awk '$1 == "CHILD" {print $2}' "$WORK/out")
sort >"$WORK/want" <<FLOWS
FLOW $parent mq_send 1 "now" -> $child mq_receive 1 "now"
FLOW $parent mqshim_mq_send_at 1 "later" -> $child mq_receive 1 "later"
FLOW $parent mqshim_msgsnd_at 4 "sysv-later" -> $parent msgrcv 4 "sysv-later"
FLOWS
diff -u "$WORK/want" "$WORK/flows" || { echo "flows differ (above: - wanted, + got)"; exit 1; }
echo "scheduled sends counted and drawn to their receives; the cancelled ones to none"
