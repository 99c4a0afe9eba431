#!/usr/bin/env bash
# A notification owner that died is shown as none — NOTIFY 0, SIGNO 0, NOTIFY_PID 0 — by
# `mqshim stat`, `ipcs` and `ipcs --json`, as the kernel shows once the owner's exit closed its
# descriptors; while it lives, it is shown. Both a signal registration (served by a relay
# thread) and SIGEV_NONE (none).
source "$ROOT/cli_tests/ipcs_common.bash"
NAME=/ipcs-notify-$RUNID
make_queues "$NAME"
OWNER=
trap '[[ -n $OWNER ]] && kill -9 "$OWNER" 2>/dev/null' EXIT

for kind in signal none; do
  [[ $kind == signal ]] && want_notify=0 want_signo=10 || want_notify=1 want_signo=0
  start_registrant "$MQSHIM" run --dir "$NS" -- "$WORK/ipcs_queues" notify "$NAME" "$kind"

  expect_status 0 "$MQSHIM" --dir "$NS" stat "$NAME"
  expect_output "^QSIZE:11 +NOTIFY:$want_notify +SIGNO:$want_signo +NOTIFY_PID:$OWNER *$"
  json_check "j['posix'][0]['notify_pid']==$OWNER and j['posix'][0]['notify']==$want_notify and j['posix'][0]['signo']==$want_signo" "$MQSHIM" --dir "$NS" ipcs --posix --json

  kill -9 "$OWNER"
  wait "$OWNER" 2>/dev/null
  expect_status 0 "$MQSHIM" --dir "$NS" stat "$NAME"
  expect_output '^QSIZE:11 +NOTIFY:0 +SIGNO:0 +NOTIFY_PID:0 *$'
  expect_status 0 "$MQSHIM" --dir "$NS" ipcs --posix
  expect_output "^$NAME .* 11 +0 +0 +0$"
  json_check "j['posix'][0]['notify_pid']==0 and j['posix'][0]['notify']==0 and j['posix'][0]['signo']==0" "$MQSHIM" --dir "$NS" ipcs --json
  expect_status 0 "$MQSHIM" --dir "$NS" ipcs --posix -p
  expect_output "^$NAME +$(id -un) +0$"
  OWNER=
done
exit 0
