#!/usr/bin/env bash
# mqshim report on the collector's JSON (mqshim trace --json): two processes block in mq_receive,
# one is woken by a message, the other killed while it blocks. The summary counts both receives,
# one of them unfinished, and time blocked for the resumed one; the Chrome trace draws the killed
# receiver's call as an unfinished slice to the end of the trace and a flow from the parent's
# send to the receive that took the message — on the emulation and on the kernel.
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is needed to check the Chrome trace"; exit 77; }
HERE=$ROOT/cli_tests
cc -Wall "$HERE/programs/report_blocked.c" -o "$WORK/blocked" -lrt
queue=/blocked-$RUNID
trap 'for b in emulate kernel; do LD_PRELOAD=$MQSHIM_LIB_PATH MQSHIM_BACKEND=$b MQSHIM_DIR=$WORK/ns "$WORK/blocked" --unlink "$queue" || true; done' EXIT
for backend in emulate kernel; do
  out=$WORK/$backend
  "$MQSHIM" trace --backend "$backend" --dir "$WORK/ns" --json -o "$out.jsonl" -- "$WORK/blocked" "$queue" >"$out.txt"
  parent=$(awk '$1 == "PARENT" {print $2}' "$out.txt")
  receiver=$(awk '$1 == "RECEIVER" {print $2}' "$out.txt")
  victim=$(awk '$1 == "VICTIM" {print $2}' "$out.txt")
  [[ -n $parent && -n $receiver && -n $victim ]] || { echo "$backend: the program did not finish:"; cat "$out.txt"; exit 1; }
  grep -q "\"pid\":$victim,.*\"unfinished\":true" "$out.jsonl" || { echo "$backend: no unfinished record of the killed receiver"; cat "$out.jsonl"; exit 1; }

  "$MQSHIM" report "$out.jsonl" >"$out.summary"
  # % time, seconds, usecs/call, max usecs, blocked s, calls, errors (blank), unfinished, call
  read -r _ _ _ _ blocked calls unfinished name < <(awk '$NF == "mq_receive"' "$out.summary")
  [[ $name == mq_receive && $calls == 2 && $unfinished == 1 ]] || { echo "$backend: want mq_receive 2 calls, 1 unfinished:"; cat "$out.summary"; exit 1; }
  if grep -q "\"pid\":$receiver,.*\"resumed\":true" "$out.jsonl"; then
    [[ $blocked != 0.000000 ]] || { echo "$backend: a resumed receive, and no time blocked"; cat "$out.summary"; exit 1; }
  fi

  "$MQSHIM" report "$out.jsonl" --chrome "$out.json"
  python3 "$HERE/report_chrome_check.py" "$out.json" >"$out.flows"
  [[ $(cat "$out.flows") == "FLOW $parent mq_send 0 \"wake\" -> $receiver mq_receive None \"wake\"" ]] || { echo "$backend: flows:"; cat "$out.flows"; exit 1; }
  python3 - "$out.json" "$victim" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))["traceEvents"]
victim = int(sys.argv[2])
mine = [e for e in events if e["ph"] == "X" and e["pid"] == victim and e["name"] == "mq_receive"]
assert len(mine) == 1 and mine[0]["args"].get("unfinished") is True, mine
end = max(e["ts"] + e.get("dur", 0) for e in events if "ts" in e)
assert abs(mine[0]["ts"] + mine[0]["dur"] - end) < 1e-6, (mine, end)
PY
  echo "$backend: receiver $receiver woken by $parent's send (flow drawn), victim $victim unfinished to the end"
done
