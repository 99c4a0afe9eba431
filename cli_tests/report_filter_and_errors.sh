#!/usr/bin/env bash
# mqshim report's -e filters on real traces (calls by name, glob, list and negation; queues by
# /name, key= and id=; both kinds together), reading from stdin, writing the Chrome trace to
# stdout, collector records (unfinished, resumed, lost), and refusals: a malformed line is an
# error naming its line, an unknown call or qualifier in -e an error naming it.
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is needed to check the Chrome trace"; exit 77; }
HERE=$ROOT/cli_tests
cc -Wall -I"$ROOT/c_tests" "$HERE/programs/report_posix_pair.c" -o "$WORK/posix_pair" -lrt
cc -Wall -I"$ROOT/c_tests" "$HERE/programs/report_sysv_types.c" -o "$WORK/sysv_types"
queue=/filter-$RUNID
key=$(printf '0x%08x' $(( (0x4f000000 + ($$ << 12) + RANDOM) & 0x7fffffff )))
run() { LD_PRELOAD=$MQSHIM_LIB_PATH MQSHIM_BACKEND=emulate MQSHIM_DIR=$WORK/ns "$@"; }
trap 'run "$WORK/posix_pair" --unlink "$queue" || true; run "$WORK/sysv_types" --remove "$key" || true' EXIT
trace=$WORK/both.jsonl
run env MQSHIM_TRACE="$trace" MQSHIM_TRACE_FORMAT=jsonl timeout 30 "$WORK/posix_pair" "$queue" >/dev/null
run env MQSHIM_TRACE="$trace" MQSHIM_TRACE_FORMAT=jsonl timeout 30 "$WORK/sysv_types" "$key" >"$WORK/sysv.out"
id=$(grep '"call":"msgget"' "$trace" | sed 's/.*"ret":\([0-9]*\).*/\1/')

# The calls (name: count) of the summary of the trace filtered by the -e expressions given.
calls() {
  "$MQSHIM" report "$trace" "$@" | awk '/^------/ {n++; next} n == 1 {print $NF ~ /:/ ? $(NF-1) ":" $6 : $NF ":" $6}' | sort | tr '\n' ' '
}
expect() { # WANT -e ARGS...
  local want=$1; shift
  local got; got=$(calls "$@")
  [[ $got == "$want" ]] || { echo "report $*: calls $got, want $want"; exit 1; }
  echo "report $*: $got"
}
expect "mq_send:7 " -e mq_send
expect "mq_send:7 " -e 'mq_*send'
expect "msgrcv:6 msgsnd:5 " -e msgsnd,msgrcv
expect "msgrcv:6 msgsnd:5 " -e trace=msgsnd -e trace=msgrcv
expect "msgctl:2 msgget:1 msgrcv:6 msgsnd:5 " -e 'trace=!mq_*'
expect "mq_close:3 mq_getattr:1 mq_open:2 mq_receive:7 mq_send:7 mq_timedreceive:1 mq_unlink:1 " -e "$queue"
expect "mq_receive:7 mq_send:7 mq_timedreceive:1 " -e "$queue" -e 'mq_*,!mq_open,!mq_close,!mq_unlink,!mq_getattr'
# A system call's name stands for the functions behind it (as in fault rules and strace's view):
# excluding mq_timedreceive excludes mq_receive too; mq_timedsend keeps mq_send.
expect "mq_send:7 " -e "$queue" -e 'mq_*,!mq_open,!mq_close,!mq_unlink,!mq_getattr,!mq_timedreceive'
expect "mq_send:7 " -e 'mq_timedsend'
expect "mq_send:7 " -e mq_send -e "$queue"
expect "" -e mq_send -e "key=$key"
expect "msgctl:2 msgget:1 msgrcv:6 msgsnd:5 " -e "key=$key"
expect "msgctl:2 msgget:1 msgrcv:6 msgsnd:5 " -e "key=$((key))"
expect "msgrcv:6 " -e "id=$id" -e msgrcv
expect "" -e "/no-such-queue"

# stdin, and the Chrome trace on stdout.
cmp <("$MQSHIM" report "$trace") <("$MQSHIM" report - <"$trace") || { echo "report - differs from report FILE"; exit 1; }
"$MQSHIM" report - --chrome - <"$trace" >"$WORK/stdout.json"
python3 "$HERE/report_chrome_check.py" "$WORK/stdout.json" >"$WORK/flows"
[[ $(wc -l <"$WORK/flows") == 11 ]] || { echo "want 11 flows (6 POSIX, 5 System V)"; cat "$WORK/flows"; exit 1; }
# Filtered to the sends only, no receive is left to end a flow.
"$MQSHIM" report "$trace" -e 'mq_*send,msgsnd' --chrome "$WORK/sends.json"
python3 "$HERE/report_chrome_check.py" "$WORK/sends.json" >"$WORK/flows"
[[ ! -s $WORK/flows ]] || { echo "flows without receives:"; cat "$WORK/flows"; exit 1; }

# Records of the collector: a receive that blocked and resumed, one whose process died blocked,
# a report of lost records.
cat >"$WORK/collector.jsonl" <<'JSON'
{"ts":"2026-11-22T09:36:45.000001000Z","ts_ns":1795340205000001000,"pid":50,"tid":50,"call":"mq_open","backend":"emulate","args":{"name":"/c","oflag":"O_RDWR"},"ret":3,"errno":null,"dur_ns":1000}
{"ts":"2026-11-22T09:36:45.000003000Z","ts_ns":1795340205000003000,"pid":51,"tid":51,"ppid":50,"call":"mq_receive","backend":"emulate","args":{"mqdes":3},"unfinished":true}
{"ts":"2026-11-22T09:36:45.000004000Z","ts_ns":1795340205000004000,"pid":52,"tid":52,"ppid":50,"call":"mq_receive","backend":"emulate","args":{"mqdes":3},"unfinished":true}
{"ts":"2026-11-22T09:36:45.000010000Z","ts_ns":1795340205000010000,"pid":50,"tid":50,"call":"mq_send","backend":"emulate","args":{"mqdes":3,"msg_ptr":"wake","msg_len":4,"msg_prio":0},"ret":0,"errno":null,"dur_ns":2000}
{"ts":"2026-11-22T09:36:45.000003000Z","ts_ns":1795340205000003000,"pid":51,"tid":51,"call":"mq_receive","backend":"emulate","args":{"mqdes":3,"msg_ptr":"wake","msg_len":64,"msg_prio":0},"ret":4,"errno":null,"dur_ns":9000,"resumed":true}
{"ts":"2026-11-22T09:36:45.000020000Z","ts_ns":1795340205000020000,"pid":50,"lost":5}
JSON
"$MQSHIM" report "$WORK/collector.jsonl" >"$WORK/collector.summary"
cat "$WORK/collector.summary"
grep -Eq '^ *[0-9.]+ +0\.000009 +9 +9 +0\.000009 +2 +1 +mq_receive$' "$WORK/collector.summary" || { echo "want mq_receive: 2 calls, 9 µs blocked, 1 unfinished"; exit 1; }
grep -q '^lost: 5 records' "$WORK/collector.summary" || { echo "no lost line"; exit 1; }
grep -Eq '^/c +1 +4 +1 +4 ' "$WORK/collector.summary" || { echo "want /c: 1 message of 4 bytes each way"; exit 1; }
"$MQSHIM" report "$WORK/collector.jsonl" --chrome "$WORK/collector.json"
python3 "$HERE/report_chrome_check.py" "$WORK/collector.json" >"$WORK/flows"
grep -q '^FLOW 50 mq_send 0 "wake" -> 51 mq_receive 0 "wake"$' "$WORK/flows" || { echo "want the flow 50 -> 51:"; cat "$WORK/flows"; exit 1; }
python3 - "$WORK/collector.json" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))["traceEvents"]
dead = [e for e in events if e["ph"] == "X" and e["pid"] == 52]
assert len(dead) == 1 and dead[0]["args"].get("unfinished") is True, dead
# It runs to the end of the trace: the last record (the lost report, 19 µs after the first).
assert abs(dead[0]["ts"] + dead[0]["dur"] - 19.0) < 1e-9, dead
assert any(e["ph"] == "i" and e["args"] == {"lost": 5} for e in events)
print("unfinished receive drawn to the end of the trace; lost records marked")
PY

# Refusals.
printf '%s\n' "$(head -n 2 "$trace")" '{"ts":"2026-11-22T09:36:45Z","pid":1,"call":' >"$WORK/broken.jsonl"
if "$MQSHIM" report "$WORK/broken.jsonl" >/dev/null 2>"$WORK/err"; then echo "a malformed line was accepted"; exit 1; fi
grep -q "broken.jsonl: line 3: malformed JSON" "$WORK/err" || { echo "error does not name line 3:"; cat "$WORK/err"; exit 1; }
if "$MQSHIM" report "$trace" -e mq_sned 2>"$WORK/err"; then echo "-e mq_sned was accepted"; exit 1; fi
grep -q "mq_sned" "$WORK/err" || { cat "$WORK/err"; exit 1; }
if "$MQSHIM" report "$trace" -e raw=all 2>"$WORK/err"; then echo "-e raw=all was accepted"; exit 1; fi
grep -q "unknown qualifier 'raw='" "$WORK/err" || { cat "$WORK/err"; exit 1; }
echo "refusals name the line and the expression"
