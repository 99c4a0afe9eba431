# mqshim trace -c: a summary whose counts equal the calls made (per call, and messages per queue);
# -C: the trace and the summary; -e: only the matching records, by call (lists, globs) and by
# queue, on both backends; a bad -e expression is refused before the program runs.
source "$ROOT/cli_tests/trace_common.bash"
for backend in emulate kernel; do
  "$MQSHIM" --dir "$NS" trace --backend $backend -c -o "$WORK/sum.txt" -- "$WORK/trace_scenario" calls 17 "$QNAME" >"$WORK/made" \
    || fail "$backend: -c run failed"
  # The summary's rows: "... calls [errors] ... name [errnos]": compare call name -> count.
  awk '$1 ~ /^[0-9.]+$/ && NF >= 7 && $NF != "total" {
         name = ""; for (i = 7; i <= NF; i++) if ($i ~ /^(mq_|msg)/) { name = $i; break }
         if (name != "") print name, $6 }' "$WORK/sum.txt" | sort >"$WORK/seen"
  sort "$WORK/made" >"$WORK/made.sorted"
  diff -u "$WORK/made.sorted" "$WORK/seen" || { cat "$WORK/sum.txt"; fail "$backend: summary counts differ from the calls made"; }
  grep -Eq "^$QNAME +17 +119 +17 +119 " "$WORK/sum.txt" || { cat "$WORK/sum.txt"; fail "$backend: the queue row is not 17 messages (119 bytes) each way"; }
  grep -Eq '^IPC_PRIVATE id=[0-9]+ +17 +68 +17 +68 ' "$WORK/sum.txt" || { cat "$WORK/sum.txt"; fail "$backend: the System V queue row is wrong"; }
  ! grep -q ' mq_send(' "$WORK/sum.txt" || fail "$backend: -c printed trace lines"

  "$MQSHIM" --dir "$NS" trace --backend $backend -C -o "$WORK/both.txt" -- "$WORK/trace_scenario" calls 3 "$QNAME" >/dev/null || fail "$backend: -C failed"
  [[ $(grep -c ' mq_send(' "$WORK/both.txt") == 3 ]] || fail "$backend: -C lacks the trace"
  grep -q '^% time' "$WORK/both.txt" || fail "$backend: -C lacks the summary"

  "$MQSHIM" --dir "$NS" trace --backend $backend --json -e 'mq_*send,msgrcv' -o "$WORK/f.json" -- "$WORK/trace_scenario" calls 4 "$QNAME" >/dev/null || fail "$backend: -e failed"
  [[ "$(json_counts "$WORK/f.json" | tr '\n' ' ')" == "mq_send 4 msgrcv 4 " ]] || { json_counts "$WORK/f.json"; fail "$backend: -e 'mq_*send,msgrcv' selected other calls"; }
  # By queue: only the POSIX queue's descriptor calls and its open/unlink; with a call, both must match.
  "$MQSHIM" --dir "$NS" trace --backend $backend --json -e "$QNAME" -o "$WORK/q.json" -- "$WORK/trace_scenario" calls 2 "$QNAME" >/dev/null || fail "$backend: -e /name failed"
  [[ "$(json_counts "$WORK/q.json" | tr '\n' ' ')" == "mq_close 1 mq_getattr 1 mq_open 1 mq_receive 2 mq_send 2 mq_unlink 2 " ]] \
    || { json_counts "$WORK/q.json"; fail "$backend: -e $QNAME selected other records"; }
  "$MQSHIM" --dir "$NS" trace --backend $backend --json -e "$QNAME" -e mq_close -o "$WORK/q.json" -- "$WORK/trace_scenario" calls 2 "$QNAME" >/dev/null || fail "$backend: two -e failed"
  [[ "$(json_counts "$WORK/q.json" | tr '\n' ' ')" == "mq_close 1 " ]] || { json_counts "$WORK/q.json"; fail "$backend: -e $QNAME -e mq_close"; }
done
"$MQSHIM" trace -e 'mq_frobnicate' -- touch "$WORK/ran" 2>"$WORK/err"
status=$?
((status == 2)) && [[ ! -e $WORK/ran ]] && grep -q frobnicate "$WORK/err" || { cat "$WORK/err"; fail "a bad -e: exit $status"; }
exit 0
