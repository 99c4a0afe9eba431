# mqshim trace records every call exactly once, on both backends, in text and JSON lines, to one
# file or one per process (-ff), with strace's timestamp styles and payload preview length.
source "$ROOT/cli_tests/trace_common.bash"
for backend in emulate kernel; do
  "$MQSHIM" --dir "$NS" trace --backend $backend --json -o "$WORK/t.json" -- "$WORK/trace_scenario" calls 25 "$QNAME" >"$WORK/made" \
    || fail "$backend: mqshim trace exited $?"
  sort "$WORK/made" >"$WORK/made.sorted"
  json_counts "$WORK/t.json" >"$WORK/seen"
  diff -u "$WORK/made.sorted" "$WORK/seen" || fail "$backend: the trace's call counts differ from the calls made"
  grep -q "\"backend\":\"$backend\"" "$WORK/t.json" || fail "$backend: records do not name the backend"
  python3 - "$WORK/t.json" <<'PY' || fail "$backend: a record lacks ts_ns/ppid or they disagree with ts"
import json, sys, datetime
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert isinstance(r["ts_ns"], int) and r["ppid"] > 0, r
    whole = datetime.datetime.strptime(r["ts"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    assert int(whole.timestamp()) == r["ts_ns"] // 10**9 and int(r["ts"][20:29]) == r["ts_ns"] % 10**9, r
PY
done

# Text: strace-like lines; -tt shows the time of day with microseconds, -ttt epoch seconds,
# --timestamps none nothing; -s 3 cuts previews to 3 bytes; --no-durations drops <...>.
"$MQSHIM" --dir "$NS" trace -tt -s 3 -o "$WORK/t.txt" -- "$WORK/trace_scenario" calls 2 "$QNAME" >/dev/null || fail "text trace failed"
grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} [0-9]+/[0-9]+ mq_send\([0-9]+, "mes"\.\.\., 7, 0\) = 0 <[0-9]+\.[0-9]{9}>$' "$WORK/t.txt" \
  || { cat "$WORK/t.txt"; fail "-tt -s 3 text line not as expected"; }
"$MQSHIM" --dir "$NS" trace -ttt --no-durations -o "$WORK/t.txt" -- "$WORK/trace_scenario" calls 1 "$QNAME" >/dev/null || fail "-ttt failed"
grep -Eq '^[0-9]{10}\.[0-9]{6} [0-9]+/[0-9]+ mq_open\("'"$QNAME"'", O_RDWR\|O_CREAT, 0600, \{.*\}\) = [0-9]+$' "$WORK/t.txt" \
  || { cat "$WORK/t.txt"; fail "-ttt --no-durations line not as expected"; }
"$MQSHIM" --dir "$NS" trace --timestamps none -o "$WORK/t.txt" -- "$WORK/trace_scenario" calls 1 "$QNAME" >/dev/null || fail "--timestamps none failed"
grep -Eq '^[0-9]+/[0-9]+ msgget\(IPC_PRIVATE, IPC_CREAT\|0600\) = [0-9]+ <' "$WORK/t.txt" || { cat "$WORK/t.txt"; fail "--timestamps none line not as expected"; }

# -ff: one file per process, named FILE.PID, each holding only that process's records.
rm -f "$WORK"/per.*
"$MQSHIM" --dir "$NS" trace -ff -o "$WORK/per" -- sh -c "'$WORK/trace_scenario' exit 0; '$WORK/trace_scenario' exit 0" || fail "-ff run failed"
files=("$WORK"/per.*)
((${#files[@]} == 2)) || fail "-ff made ${#files[@]} files, expected 2 (one per process): ${files[*]}"
for f in "${files[@]}"; do
  pid=${f##*.}
  [[ $(wc -l <"$f") == 1 ]] || fail "$f holds $(wc -l <"$f") records, expected 1"
  grep -q "^[^ ]* $pid/$pid mq_unlink" "$f" || fail "$f holds another process's record"
done
# mqshim run --trace: the collector with its defaults (text on stderr), the program's stdout
# and exit status untouched.
"$MQSHIM" --dir "$NS" run --trace -- "$WORK/trace_scenario" calls 2 "$QNAME" >"$WORK/made" 2>"$WORK/err.txt" || fail "run --trace failed"
[[ $(grep -c ' mq_send(' "$WORK/err.txt") == 2 && $(grep -c ' msgrcv(' "$WORK/err.txt") == 2 ]] || { cat "$WORK/err.txt"; fail "run --trace did not trace every call"; }
grep -q '^mq_send 2$' "$WORK/made" || fail "run --trace lost the program's stdout"
exit 0
