#!/usr/bin/env bash
# A server host that does not answer at all (no refusal) holds a timed call only until the
# call's deadline: a session on host B opens a queue, the server is killed (its connection
# closes: the next call connects again) and a black hole takes its address and port — a
# listening socket whose accept queue is full, so the kernel drops every new SYN: the connect
# neither completes nor is refused (checked first with a probe). Then on B:
# - mq_timedreceive, deadline 400 ms ahead: ETIMEDOUT (the kernel's errno for an expired
#   deadline) after 400 ms, not after the 3 s connect timeout;
# - a deadline already passed: ETIMEDOUT after the 100 ms a connect always gets;
# - mq_receive (no deadline): ECONNREFUSED after the 3 s connect timeout.
# And a server that accepts connections but never answers (a listener that never accepts: the
# kernel completes the TCP handshake) holds `mqshim ipcs` only for the connect timeout: exit 1,
# "handshake failed", after 3 s (it waited for the handshake's reply forever before).
source "$ROOT/cli_tests/redis_common.bash"
require_redis_backend
[[ $SELFTEST == kernel ]] && { echo "a server that does not answer: nothing to compare on the kernel"; exit 77; }
Q=/rdl-$RUNID
[[ $(client_a posix create "$Q") == created ]] || fail "cannot create $Q"
session_start sess posix "$Q"
[[ $(head -n 1 "$WORK/sess.out") == open ]] || fail "session on B: $(cat "$WORK/sess.out")"
expect_answer "count" "count 0"

redis_kill
cat >"$WORK/blackhole.py" <<'PY'
import socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, port))
srv.listen(0)
# Fill the accept queue (backlog 0 holds one): never accepted.
held = socket.create_connection((addr, port), timeout=2)
# A probe: its SYN must go unanswered.
probe = socket.socket()
probe.settimeout(0.3)
try:
    probe.connect((addr, port))
    print("answered", flush=True)
except socket.timeout:
    print("black hole", flush=True)
except OSError as e:
    print("refused", e, flush=True)
time.sleep(60)
PY
in_host A
"${IN_HOST[@]}" python3 "$WORK/blackhole.py" "$REDIS_ADDR" "$REDIS_PORT" >"$WORK/hole.out" 2>&1 &
HOLE=$!
SPAWNED_PIDS+=("$HOLE")
wait_line hole '.' 1
[[ $(cat "$WORK/hole.out") == "black hole" ]] || fail "no black hole at $REDIS_ADDR:$REDIS_PORT: $(cat "$WORK/hole.out")"

# ms_of ANSWER: the milliseconds an answer "... after MS ms" says.
ms_of() { sed -nE 's/.* after ([0-9]+) ms$/\1/p' <<<"$1"; }
got=$(ask "recv-in 400")
ms=$(ms_of "$got")
[[ $got == "err ETIMEDOUT after "* ]] && ((ms >= 400 && ms < 1000)) || fail "deadline 400 ms ahead: '$got' (want ETIMEDOUT after 400-999 ms)"
got=$(ask "recv-in -1")
ms=$(ms_of "$got")
[[ $got == "err ETIMEDOUT after "* ]] && ((ms >= 100 && ms < 700)) || fail "deadline passed: '$got' (want ETIMEDOUT after 100-699 ms)"
got=$(ask "recv-in -2")
ms=$(ms_of "$got")
[[ $got == "err ECONNREFUSED after "* ]] && ((ms >= 3000 && ms < 4500)) || fail "no deadline: '$got' (want ECONNREFUSED after 3000-4499 ms)"
session_end
echo "timed receives against a black hole: ended at their deadlines"

SILENT_PORT=$(redis_free_port)
cat >"$WORK/silent.py" <<'PY'
import socket, sys, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(16)
print("listening", flush=True)
time.sleep(60)
PY
"${IN_HOST[@]}" python3 "$WORK/silent.py" "$REDIS_ADDR" "$SILENT_PORT" >"$WORK/silent.out" 2>&1 &
SPAWNED_PIDS+=("$!")
wait_line silent listening 1
start=$(date +%s%N)
on_a timeout 10 "$MQSHIM" --redis "redis://$REDIS_ADDR:$SILENT_PORT/0" ipcs >"$WORK/silent.cli" 2>&1
status=$?
ms=$((($(date +%s%N) - start) / 1000000))
((status == 1 && ms >= 3000 && ms < 4500)) && grep -q "handshake failed" "$WORK/silent.cli" ||
  fail "ipcs against a server that never answers: exit $status after $ms ms: $(cat "$WORK/silent.cli")"
echo "a server that never answers: ipcs failed after $ms ms"
finish
