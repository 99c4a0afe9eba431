#!/usr/bin/env bash
# The exit status under `mqshim run` is the program's — death by a signal included, as a shell
# reports it (128+N) — because mqshim run becomes the program (exec): same pid, so a signal sent
# to `mqshim run` is a signal sent to the program.
source "$ROOT/cli_tests/run_common.bash"

expect_status 0 "$MQSHIM" run -- sh -c 'exit 0'
expect_status 3 "$MQSHIM" run -- sh -c 'exit 3'
expect_status 143 "$MQSHIM" run -- sh -c 'kill -TERM $$'
expect_status 137 "$MQSHIM" run -- sh -c 'kill -KILL $$'
expect_status 129 "$MQSHIM" run -- sh -c 'kill -HUP $$'
# Arguments reach the program as given, options after the program's name included.
expect_status 0 "$MQSHIM" run -- sh -c 'printf "<%s>" "$@"; echo' zero --dir "two words" ''
expect_output '^<--dir><two words><>$'
expect_status 0 "$MQSHIM" run printf '%s\n' 'no -- needed'
expect_output '^no -- needed$'

# A signal sent to `mqshim run` reaches the program: it is the program.
mkfifo "$WORK/fifo"
exec 3<>"$WORK/fifo"
"$MQSHIM" run -- sh -c 'echo "$$"; exec sleep 60' >&3 &
launcher=$!
read -r -t 20 -u 3 program_pid || { kill -KILL "$launcher"; fail "the program did not start"; }
[[ $program_pid == "$launcher" ]] || { kill -KILL "$launcher" "$program_pid"; fail "the program runs as pid $program_pid, not as mqshim run's pid $launcher (no exec)"; }
kill -TERM "$launcher"
wait "$launcher"
status=$?
[[ $status == 143 ]] || fail "killed with SIGTERM, mqshim run exited $status, expected 143"
exec 3>&-
echo "ok"
