# Records are never lost silently: a process killed by SIGKILL keeps every record it made; a full
# buffer drops records and says exactly how many (delivered + lost = calls made); the exit
# status or death signal is the program's.
source "$ROOT/cli_tests/trace_common.bash"
"$MQSHIM" --dir "$NS" trace --json -o "$WORK/c.json" -- "$WORK/trace_scenario" crash 200 "$QNAME"
status=$?
((status == 137)) || fail "a program killed by SIGKILL: mqshim trace exited $status, expected 137"
sends=$(json_counts "$WORK/c.json" | awk '$1 == "mq_send" { print $2 }')
[[ $sends == 200 ]] || fail "the killed program made 200 sends; the trace has ${sends:-none}"

"$MQSHIM" trace -o "$WORK/e.txt" -- "$WORK/trace_scenario" exit 7
status=$?
((status == 7)) || fail "exit 7: mqshim trace exited $status"
grep -q 'mq_unlink("/trace-scenario-missing") = -1 ENOENT' "$WORK/e.txt" || fail "exit scenario not traced"
"$MQSHIM" trace -o "$WORK/e.txt" -- sh -c 'kill -TERM $$'
status=$?
((status == 143)) || fail "death by SIGTERM: mqshim trace exited $status, expected 143"

# A 4 KiB buffer cannot hold 2000 calls' records made faster than a drain: some are dropped
# and counted in "lost" records; none vanish.
"$MQSHIM" --dir "$NS" trace --buffer-size 4k --json -o "$WORK/l.json" -- "$WORK/trace_scenario" calls 2000 "$QNAME" >"$WORK/made" \
  || fail "small-buffer run failed"
python3 - "$WORK/l.json" "$WORK/made" <<'PY' || fail "delivered + lost != calls made"
import json, sys
made = sum(int(l.split()[1]) for l in open(sys.argv[2]))
recs = [json.loads(l) for l in open(sys.argv[1])]
delivered = sum(1 for r in recs if "call" in r and not r.get("unfinished"))
lost = sum(r["lost"] for r in recs if "lost" in r)
print(f"made {made}, delivered {delivered}, lost {lost}")
assert lost > 0, "expected the 4k buffer to overflow"
assert delivered + lost == made
PY
"$MQSHIM" --dir "$NS" trace --buffer-size 4k -o "$WORK/l.txt" -- "$WORK/trace_scenario" calls 2000 "$QNAME" >/dev/null || fail "small-buffer text run failed"
grep -Eq '^[^ ]+ [0-9]+ \+\+\+ lost [0-9]+ records \(trace buffer full\) \+\+\+$' "$WORK/l.txt" || fail "no lost line in text"
# A bad buffer size is refused before the program runs (exit 2, naming the value).
"$MQSHIM" trace --buffer-size 12q -- touch "$WORK/ran" 2>"$WORK/err"
status=$?
((status == 2)) && grep -q "12q" "$WORK/err" && [[ ! -e $WORK/ran ]] || { cat "$WORK/err"; fail "--buffer-size 12q: exit $status"; }
exit 0
