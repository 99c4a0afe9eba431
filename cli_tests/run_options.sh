#!/usr/bin/env bash
# Each `mqshim run` option reaches the library as its MQSHIM_* variable, with the effect the
# variable has: --backend (emulation in --dir, or the kernel's queues), --faults, --limits,
# --config, --trace-to/--trace-format/--trace-bytes. A bad value is refused (status 2, the option
# named) before the program runs.
source "$ROOT/cli_tests/run_common.bash"
build run_queue
build run_kernel_probe
trap cleanup_kernel_queue EXIT

# --backend emulate (and the default): the queue is in the --dir namespace, not in the kernel.
expect_status 0 "$MQSHIM" run --backend emulate --dir "$WORK/ns" -- "$WORK/run_queue" "$QNAME" keep
MQSHIM_DIR=$WORK/ns expect_status 0 "$MQSHIM" ipcs
expect_output "^$QNAME "
expect_status 0 "$WORK/run_kernel_probe" "$QNAME"
expect_output '^kernel: absent'
expect_status 0 "$MQSHIM" --dir "$WORK/ns" ipcrm "$QNAME"

# --backend kernel: the kernel has the queue while the program holds it open (a plain program,
# without the library, opens it), and the namespace has nothing.
mkfifo "$WORK/to_program" "$WORK/from_program"
exec 3<>"$WORK/to_program" 4<>"$WORK/from_program"
"$MQSHIM" run --backend kernel --dir "$WORK/ns-kernel" -- "$WORK/run_queue" "$QNAME" hold <&3 >&4 &
program=$!
while read -r -t 20 -u 4 line && [[ $line != holding ]]; do :; done
[[ ${line:-} == holding ]] || { kill -KILL "$program"; fail "the program did not reach its queue"; }
"$WORK/run_kernel_probe" "$QNAME" >"$WORK/out"
echo >&3
wait "$program" || fail "the program under --backend kernel failed"
expect_output '^kernel: present$'
[[ ! -e $WORK/ns-kernel ]] || fail "--backend kernel still used the emulation's namespace"
exec 3>&- 4>&-

# --faults: the program's mq_open fails with the injected errno.
expect_status 4 "$MQSHIM" run --dir "$WORK/ns" --faults 'mq_open:EMFILE' -- "$WORK/run_queue" "$QNAME"
expect_output '^mq_open: Too many open files$'

# --limits and --config: msg_max=2 makes the program's maxmsg 4 invalid.
expect_status 4 "$MQSHIM" run --dir "$WORK/ns" --limits msg_max=2 -- "$WORK/run_queue" "$QNAME"
expect_output '^mq_open: Invalid argument$'
printf '# test limits\nmsg_max = 2\n' >"$WORK/limits.conf"
(cd "$WORK" && expect_status 4 "$MQSHIM" run --dir "$WORK/ns" --config limits.conf -- "$WORK/run_queue" "$QNAME") || exit 1
expect_status 0 "$MQSHIM" run --dir "$WORK/ns" --limits msg_max=4 -- "$WORK/run_queue" "$QNAME"

# --trace-to FILE --trace-format jsonl --trace-bytes N: JSON records, previews cut at N bytes.
expect_status 0 "$MQSHIM" run --dir "$WORK/ns" --trace-to "$WORK/t.jsonl" --trace-format jsonl --trace-bytes 2 -- "$WORK/run_queue" "$QNAME"
python3 - "$WORK/t.jsonl" "$QNAME" <<'PY' || fail "the JSON-lines trace is not what the program did"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
calls = [r["call"] for r in records]
assert calls == ["mq_open", "mq_send", "mq_close", "mq_unlink"], calls
assert records[0]["args"]["name"] == sys.argv[2] and records[0]["backend"] == "emulate", records[0]
assert records[1]["args"]["msg_ptr"] == "he...", records[1]
PY
# --trace-to with %p (the writer's pid), relative to the current directory; text by default.
(cd "$WORK" && expect_status 0 "$MQSHIM" run --dir "$WORK/ns" --trace-to 'trace.%p' -- "$WORK/run_queue" "$QNAME") || exit 1
traces=("$WORK"/trace.[0-9]*)
[[ ${#traces[@]} == 1 && -f ${traces[0]} ]] || fail "no trace.PID file: ${traces[*]}"
grep -q "mq_open(\"$QNAME\", O_RDWR|O_CREAT, 0600, " "${traces[0]}" || { cat "${traces[0]}"; fail "the text trace lacks the mq_open"; }
# --trace-to stderr.
expect_status 0 "$MQSHIM" run --dir "$WORK/ns" --trace-to stderr -- "$WORK/run_queue" "$QNAME"
expect_output "mq_send\\(3, \"hello\", 5, 1\\) = 0"

# Bad values: status 2, the option named, and the program not run.
bad() {
  local option=$1
  shift
  expect_status 2 "$MQSHIM" run "$@" -- touch "$WORK/ran"
  expect_output "^mqshim: $option: "
  [[ ! -e $WORK/ran ]] || fail "the program ran despite a bad $option"
}
bad --backend --backend fast
bad --limits --limits msg_max=lots
bad --limits --limits no_such_limit=3
printf 'msg_max = many\n' >"$WORK/bad.conf"
bad --config --config "$WORK/bad.conf"
bad --config --config "$WORK/no-such.conf"
bad --faults --faults 'mq_send:EIDRM'
bad --faults --faults 'mq_open:errno=EMFILE'
bad --trace-format --trace-format xml
bad --trace-bytes --trace-bytes 5000
bad --trace-bytes --trace-bytes=-1
expect_status 2 "$MQSHIM" run --no-such-option -- true
expect_status 2 "$MQSHIM" run
echo "ok"
