# A call that blocks is visible while it blocks: `<unfinished ...>` as soon as the collector
# sees it running, then `<... resumed>` with its result when it returns; a process killed while
# blocked leaves only the first. Text and JSON alike, on both backends.
source "$ROOT/cli_tests/trace_common.bash"
for backend in emulate kernel; do
  # The scenario sends only once the trace file shows the receiver unfinished (a handshake
  # through the trace itself: it fails after 10 s if the record never comes).
  rm -f "$WORK/b.txt"
  "$MQSHIM" --dir "$NS" trace --backend $backend -o "$WORK/b.txt" -- "$WORK/trace_scenario" blocked "$QNAME" "$WORK/b.txt" >"$WORK/out" \
    || { cat "$WORK/b.txt"; fail "$backend: blocked scenario failed"; }
  grep -q "child received" "$WORK/out" || fail "$backend: the child did not receive"
  grep -Eq '^[^ ]+ ([0-9]+)/[0-9]+ mq_receive\([0-9]+, <unfinished \.\.\.>$' "$WORK/b.txt" || { cat "$WORK/b.txt"; fail "$backend: no unfinished line"; }
  grep -Eq '^[^ ]+ [0-9]+/[0-9]+ <\.\.\. mq_receive resumed> "hello", 64, \[1\]\) = 5 <[0-9.]+>$' "$WORK/b.txt" || { cat "$WORK/b.txt"; fail "$backend: no resumed line"; }
  # Lines of both processes come out in time order (ISO timestamps sort as text).
  cut -d' ' -f1 "$WORK/b.txt" | sort -c || { cat "$WORK/b.txt"; fail "$backend: lines out of time order"; }
  # The resumed line comes after the send that woke it.
  send_line=$(grep -n 'mq_send(' "$WORK/b.txt" | cut -d: -f1)
  resumed_line=$(grep -n 'resumed>' "$WORK/b.txt" | cut -d: -f1)
  ((send_line < resumed_line)) || { cat "$WORK/b.txt"; fail "$backend: resumed before the send that woke it"; }

  rm -f "$WORK/b.json"
  "$MQSHIM" --dir "$NS" trace --backend $backend --json -o "$WORK/b.json" -- "$WORK/trace_scenario" blocked "$QNAME" "$WORK/b.json" >/dev/null \
    || fail "$backend: blocked scenario (json) failed"
  python3 - "$WORK/b.json" <<'PY' || { cat "$WORK/b.json"; fail "$backend: JSON unfinished/resumed records wrong"; }
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
unf = [r for r in recs if r.get("unfinished")]
res = [r for r in recs if r.get("resumed")]
assert len(unf) == 1 and unf[0]["call"] == "mq_receive" and "ret" not in unf[0], unf
assert len(res) == 1 and res[0]["call"] == "mq_receive" and res[0]["ret"] == 5, res
assert (res[0]["pid"], res[0]["tid"]) == (unf[0]["pid"], unf[0]["tid"]) and res[0]["ts_ns"] == unf[0]["ts_ns"]
assert res[0]["args"]["msg_ptr"] == "hello" and res[0]["dur_ns"] > 0
PY

  # Killed while blocked: the entry only, and mqshim trace still ends.
  "$MQSHIM" --dir "$NS" trace --backend $backend -o "$WORK/k.txt" -- "$WORK/trace_scenario" killed-blocked "$QNAME" >"$WORK/out" \
    || fail "$backend: killed-blocked scenario failed"
  grep -q "child killed" "$WORK/out" || fail "$backend: the child was not killed"
  grep -Eq ' mq_receive\([0-9]+, <unfinished \.\.\.>$' "$WORK/k.txt" || { cat "$WORK/k.txt"; fail "$backend: no unfinished line for the killed child"; }
  ! grep -q 'resumed' "$WORK/k.txt" || { cat "$WORK/k.txt"; fail "$backend: a killed call resumed"; }
done
exit 0
