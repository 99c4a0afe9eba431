#!/usr/bin/env bash
# Every subcommand that prints ends quietly when its reader has gone (`mqshim ipcs | head -1`):
# no panic message and no exit 101 — the default SIGPIPE death of a C tool (141 in a shell), or 0.
# The pipe's read end is closed before the command starts, so the first write fails every time.
source "$ROOT/cli_tests/ipcs_common.bash"
NAME=/ipcs-pipe-$RUNID
make_queues "$NAME"
for args in "ipcs" "ipcs -q" "ipcs --json" "ipcs -p" "ipcs -t" "ipcs -c" "ipcs -u" "ipcs -l" "ipcs -i $MSQID" "stat $NAME" "limits" "info" "--help" "ipcs --help"; do
  python3 - "$MQSHIM" --dir "$NS" $args <<'PY' || fail "mqshim $args on a closed pipe"
import os, signal, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE)
os.close(w)
err = p.stderr.decode(errors="replace")
quiet = p.returncode in (0, -signal.SIGPIPE) and err == ""
if not quiet:
    print(f"exit {p.returncode}, stderr: {err!r}")
sys.exit(0 if quiet else 1)
PY
done

# As a user meets it, in a shell pipeline.
"$MQSHIM" --dir "$NS" ipcs 2>"$WORK/err" | head -0
status=${PIPESTATUS[0]}
[[ $status == 0 || $status == 141 ]] || fail "mqshim ipcs | head -0 exited $status"
[[ ! -s $WORK/err ]] || fail "mqshim ipcs | head -0 said: $(cat "$WORK/err")"
exit 0
