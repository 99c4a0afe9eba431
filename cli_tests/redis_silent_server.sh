#!/usr/bin/env bash
# A server that stops answering on a connection already open — stopped (SIGSTOP), hung, or
# behind a network that drops its packets while its kernel still acknowledges ours: TCP notices
# nothing, its kernel acknowledges the data and the keepalives — ends each call in flight by a
# bound, with EIO (the outcome unknown, as when a connection is lost mid-call), instead of
# holding it for ever (issue 16). Three sessions on host B have their connections open when the
# server is stopped:
# 1. msgrcv IPC_NOWAIT, sent after the stop to a queue holding one message (m1): EIO after the
#    10 s of silence a reply may take (connection::SILENCE_MS);
# 2. mq_timedreceive with a deadline 300 ms ahead, sent after the stop: EIO by the deadline plus
#    the 1 s grace (connection::DEADLINE_GRACE_MS) — about 1.3 s;
# 3. mq_receive (no deadline), blocked on an empty queue before the stop: EIO within 10 s of
#    the stop (the silence counts from its last request, a BLPOP slice at most 0.5 s earlier).
# Then SIGCONT: each session's next call connects again and works, and no message is received
# twice. m1 is received once afterwards or never: the server runs the abandoned IPC_NOWAIT
# script when it resumes, and the message it takes is lost (the at-most-once case of a lost
# connection, README "Across machines"); the test says which happened.
# Before the fix every one of the three calls hung until the server was continued.
source "$ROOT/cli_tests/redis_common.bash"
require_redis_backend
[[ $SELFTEST == kernel ]] && { echo "a server that stops answering: nothing to compare on the kernel"; exit 77; }
FIXTURE_CLEANUP+=('[[ -n $REDIS_PID ]] && kill -CONT "$REDIS_PID"')
new_queue sysv silent-v
QV=$Q
new_queue posix silent-p
QP=$Q

# Several sessions at once: open_session NAME API QUEUE; tell NAME COMMAND (no wait);
# line_of NAME N [SECS]: the session's Nth output line (its "open" is line 1).
declare -A SESSION_FDS SESSION_PIDS
open_session() {
  local fd
  mkfifo "$WORK/$1.in"
  exec {fd}<>"$WORK/$1.in"
  SESSION_FDS[$1]=$fd
  spawn_b "$1" "$2" session "$3"
  SESSION_PIDS[$1]=$SPAWNED
  [[ $(line_of "$1" 1) == open ]] || fail "session $1: $(cat "$WORK/$1.out" "$WORK/$1.err")"
}
tell() { echo "$2" >&"${SESSION_FDS[$1]}"; }
line_of() { wait_line "$1" '.' "$2" "${3:-10}"; sed -n "$2p" "$WORK/$1.out"; }
# ms_of ANSWER: the milliseconds an answer "... after MS ms" says.
ms_of() { sed -nE 's/.* after ([0-9]+) ms$/\1/p' <<<"$1"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

open_session nowait sysv "$QV"
open_session timed posix "$QP"
open_session blocked posix "$QP"
tell nowait "send m1"
[[ $(line_of nowait 2) == sent ]] || fail "send m1: $(cat "$WORK/nowait.out")"
tell blocked "recv-in -2"
wait_registered posix "$QP" 1 "${SESSION_PIDS[blocked]}"

kill -STOP "$REDIS_PID"
stopped=$(now_ms)
tell nowait "recv-in -3"
tell timed "recv-in 300"
got=$(line_of timed 2 5)
ms=$(ms_of "$got")
[[ $got == "err EIO after "* ]] && ((ms >= 1300 && ms < 2000)) ||
  problem "mq_timedreceive 300 ms ahead: '$got' (want EIO after 1300-1999 ms: the deadline plus 1 s)"
got=$(line_of blocked 2 15)
ms=$(($(now_ms) - stopped))
[[ $got == "err EIO after "* ]] && ((ms >= 9000 && ms < 11500)) ||
  problem "mq_receive blocked when the server stopped: '$got' $ms ms after the stop (want EIO after 9000-11499 ms)"
got=$(line_of nowait 3 15)
ms=$(ms_of "$got")
[[ $got == "err EIO after "* ]] && ((ms >= 10000 && ms < 11500)) ||
  problem "msgrcv IPC_NOWAIT: '$got' (want EIO after 10000-11499 ms)"
((PROBLEMS == 0)) && echo "a stopped server: the timed receive, the blocked receive and the non-blocking receive failed with EIO by their bounds"

kill -CONT "$REDIS_PID"
[[ $(redis_cli ping) == PONG ]] || fail "the server does not answer after SIGCONT"
# The next calls connect again and work; each message is received once.
tell nowait "recv-in -3"
m1_after=$(line_of nowait 4)
case $m1_after in
  "got m1 after "*) echo "m1: received after the server resumed (the abandoned receive did not take it)" ;;
  "err ENOMSG after "*) echo "m1: lost — the server ran the abandoned IPC_NOWAIT receive when it resumed (at most once)" ;;
  *) fail "msgrcv IPC_NOWAIT after SIGCONT: '$m1_after'" ;;
esac
tell nowait "send m4"
[[ $(line_of nowait 5) == sent ]] || fail "send m4 after SIGCONT: $(cat "$WORK/nowait.out")"
tell nowait "recv-in -3"
[[ $(line_of nowait 6) == "got m4 after "* ]] || fail "msgrcv after SIGCONT: $(sed -n 6p "$WORK/nowait.out")"
tell blocked "recv-in -2"
tell timed "send m2"
[[ $(line_of timed 3) == sent ]] || fail "mq_send m2 after SIGCONT: $(cat "$WORK/timed.out")"
[[ $(line_of blocked 3) == "got m2 after "* ]] || fail "mq_receive after SIGCONT: $(sed -n 3p "$WORK/blocked.out")"
tell timed "send m3"
[[ $(line_of timed 4) == sent ]] || fail "mq_send m3 after SIGCONT: $(cat "$WORK/timed.out")"
tell timed "recv-in 300"
[[ $(line_of timed 5) == "got m3 after "* ]] || fail "mq_timedreceive after SIGCONT: $(sed -n 5p "$WORK/timed.out")"
tell timed count
[[ $(line_of timed 6) == "count 0" ]] || fail "POSIX queue after the receives: $(sed -n 6p "$WORK/timed.out")"
tell nowait count
[[ $(line_of nowait 7) == "count 0" ]] || fail "System V queue after the receives: $(sed -n 7p "$WORK/nowait.out")"
dups=$(got_ids nowait timed blocked | uniq -d)
[[ -z $dups ]] || fail "received twice: $dups"
echo "after SIGCONT: every session connected again; received once each: $(got_ids nowait timed blocked | tr '\n' ' ')"

for s in nowait timed blocked; do
  tell "$s" quit
  reap "${SESSION_PIDS[$s]}"
done
[[ $(client_a posix remove "$QP") == removed ]] || fail "cannot remove $QP"
[[ $(client_a sysv remove "$QV") == removed ]] || fail "cannot remove $QV"
finish
