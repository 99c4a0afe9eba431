#!/usr/bin/env bash
# mqshim report on real traces: a POSIX program (two processes, six messages of different
# priorities, some calls failing) and a System V one (five messages taken by type: exact, lowest
# <= |t|, any), each traced by the library (MQSHIM_TRACE, jsonl) on the kernel and on the
# emulation. The summary's calls, errors and errnos must equal the calls each program says it
# made, its queue row the messages and bytes sent and received; the Chrome trace must pass the
# Trace Event Format check (report_chrome_check.py) and hold one flow per message received, from
# the parent's send to the child's receive of that same message.
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is needed to check the tables and the Chrome trace"; exit 77; }
HERE=$ROOT/cli_tests
cc -Wall -I"$ROOT/c_tests" "$HERE/programs/report_posix_pair.c" -o "$WORK/posix_pair" -lrt
cc -Wall -I"$ROOT/c_tests" "$HERE/programs/report_sysv_types.c" -o "$WORK/sysv_types"

queue=/report-$RUNID
key=$(printf '0x%08x' $(( (0x5e000000 + ($$ << 12) + RANDOM) & 0x7fffffff )))
preload() { LD_PRELOAD=$MQSHIM_LIB_PATH MQSHIM_BACKEND=$1 MQSHIM_DIR=$WORK/ns "${@:2}"; }
cleanup() {
  for backend in kernel emulate; do
    preload $backend "$WORK/posix_pair" --unlink "$queue" || true
    preload $backend "$WORK/sysv_types" --remove "$key" || true
  done
}
trap cleanup EXIT

check() { # NAME BACKEND QUEUE-ROW PROGRAM ARG
  local name=$1 backend=$2 row=$3 program=$4 arg=$5
  local out=$WORK/$name-$backend
  rm -f "$out.jsonl"
  preload "$backend" env MQSHIM_TRACE="$out.jsonl" MQSHIM_TRACE_FORMAT=jsonl timeout 30 "$program" "$arg" >"$out.txt"
  "$MQSHIM" report "$out.jsonl" --summary >"$out.summary"
  python3 "$HERE/report_summary_check.py" "$out.txt" "$out.summary" "$row"
  "$MQSHIM" report "$out.jsonl" --chrome "$out.json"
  python3 "$HERE/report_chrome_check.py" "$out.json" >"$out.flows"
  # Each flow: the parent's send to the child's receive, of one message (class and text).
  local parent child
  parent=$(awk '$1 == "PARENT" {print $2}' "$out.txt")
  child=$(awk '$1 == "CHILD" {print $2}' "$out.txt")
  awk '{ gsub(/"/, "", $5); gsub(/"/, "", $10); sub(/\\\\x00$/, "", $5); sub(/\\\\x00$/, "", $10)
         if ($4 != $9 || $5 != $10) { print "mismatched ends: " $0 > "/dev/stderr"; exit 1 }
         if ($3 !~ /send|snd/ || $8 !~ /receive|rcv/) { print "not a send to a receive: " $0 > "/dev/stderr"; exit 1 }
         print $2, $7, $4, $5 }' "$out.flows" | sort >"$out.flows.got"
  awk -v p="$parent" -v c="$child" '$1 == "RECEIVED" {print p, c, $2, $4}' "$out.txt" | sort >"$out.flows.want"
  if ! diff -u "$out.flows.want" "$out.flows.got"; then
    echo "$name on $backend: the flows are not one per received message, parent to child (above: - wanted, + got)"
    exit 1
  fi
  echo "$name on $backend: $(wc -l <"$out.flows.got") flows, each from the parent's send to the child's receive of that message"
}

for backend in kernel emulate; do
  check posix "$backend" "$queue" "$WORK/posix_pair" "$queue"
  check sysv "$backend" "key=$key" "$WORK/sysv_types" "$key"
done
# The queue rows name the System V queue by key and id: the row name must start with the key.
grep -q "^key=$key id=" "$WORK/sysv-kernel.summary" || { echo "no row key=$key id=… in"; cat "$WORK/sysv-kernel.summary"; exit 1; }

# A real viewer, when one can run here: perfetto's trace processor (PyPI `perfetto`) needs its
# trace_processor_shell binary, which it downloads; with one on PATH, load the trace with it.
if shell=$(command -v trace_processor_shell) && python3 -c 'import perfetto' 2>/dev/null; then
  python3 - "$shell" "$WORK/posix-emulate.json" "$(wc -l <"$WORK/posix-emulate.flows.got")" <<'PY'
import sys
from perfetto.trace_processor import TraceProcessor, TraceProcessorConfig
tp = TraceProcessor(trace=sys.argv[2], config=TraceProcessorConfig(bin_path=sys.argv[1]))
flows = next(iter(tp.query("select count(*) as n from flow"))).n
assert flows == int(sys.argv[3]), f"perfetto sees {flows} flows, want {sys.argv[3]}"
print(f"perfetto trace processor: {flows} flows")
PY
else
  echo "note: no perfetto trace processor here (its binary is a download); checked by report_chrome_check.py only"
fi
