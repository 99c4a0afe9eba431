# Sourced by the ipcs_*.sh tests of `mqshim ipcs`/`ipcrm`/`stat` (not a test itself). Builds
# programs/ipcs_queues.c, gives fail/expect helpers and an emulated namespace in $WORK/ns.
source "$ROOT/cli_tests/run_common.bash"
NS=$WORK/ns
KEY=$((0x5100000 + RANDOM))
build ipcs_queues

# make_queues /NAME: POSIX /NAME with 2 messages (11 bytes) and System V $KEY with 3 (12 bytes);
# sets MSQID and MAKER_PID.
make_queues() {
  local out
  out=$("$MQSHIM" run --dir "$NS" -- "$WORK/ipcs_queues" make "$1" "$KEY") || fail "cannot make the queues: $out"
  read -r _ MSQID _ MAKER_PID <<<"$out"
  [[ $MSQID =~ ^[0-9]+$ && $MAKER_PID =~ ^[0-9]+$ ]] || fail "ipcs_queues printed '$out'"
}

# json_check PYTHON-EXPR COMMAND...: COMMAND's standard output parsed as JSON (as `j`) must make
# the expression true.
json_check() {
  local expr=$1
  shift
  "$@" >"$WORK/json" 2>"$WORK/json.err" || { cat "$WORK/json.err"; fail "'$*' failed"; }
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$WORK/json" "$expr" \
    || { sed 's/^/    | /' "$WORK/json"; fail "'$*': not ($expr)"; }
}

# start_registrant COMMAND...: runs COMMAND (a program that registers for mq_notify, prints
# "registered PID" and stays) in the background, output in $WORK/notify.out; sets OWNER to its
# pid once it has registered (bounded wait), else fails.
start_registrant() {
  "$@" >"$WORK/notify.out" 2>&1 &
  OWNER=$!
  for _ in $(seq 200); do
    grep -q registered "$WORK/notify.out" && break
    kill -0 "$OWNER" 2>/dev/null || break
    sleep 0.05
  done
  grep -q "registered $OWNER" "$WORK/notify.out" || fail "the registrant did not register: $(cat "$WORK/notify.out")"
}
