#!/usr/bin/env bash
# `mqshim diff`: no divergence on every C test that can run both ways, a divergence (exit 1,
# naming the call) when a fault is injected on one side only, a divergence in standard output,
# the user's MQSHIM_FAULTS kept for both runs, standard input replayed to both, exit 2 on usage
# and launch errors.
set -u -o pipefail
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# --- the C tests ------------------------------------------------------------------------------
# Left out, and why (each is still run by c_tests/run.sh):
#   - a first-line marker "skip-config shim-emulate" or "skip-config shim-kernel": the test
#     itself says it cannot behave the same in that configuration;
#   - "linked-only": built with -lmqshim, not preloadable;
#   - attack_*: they attack the emulation's own files (nothing to compare on the kernel);
#   - fault_*, full_tmpfs_*: they break what only the emulation uses (its tmpfs, its segments)
#     or kill processes at random moments;
#   - *stress*, *kill9*: random interleavings and kills by design, so traces differ run to run;
#   - *_racing_*: processes race for one outcome (which of them wins differs run to run; the
#     transcript's verdict does not);
#   - *_holder_stopped: stop a process at a random moment and count the calls a bounded loop
#     makes meanwhile (timing);
#   - tests that make scheduled-message calls (mqshim_mq_send_at & co.): the kernel backend
#     answers them EOPNOTSUPP by design, the emulation serves them.
# Run with an option because they poll (a number of calls that depends on timing):
#   - sysv_blocked_senders_recheck_in_order: polls msgctl(IPC_STAT) -> --ignore-call msgctl;
#   - posix_notify_busy_check_holds_no_send: sends and receives while another process checks
#     -> --ignore-call mq_send --ignore-call mq_receive (its mq_notify calls compared).
excluded_by_name() {
  case $1 in
    attack_* | fault_* | full_tmpfs_* | *stress* | *kill9* | *_racing_* | *_holder_stopped) return 0 ;;
  esac
  return 1
}
declare -A OPTIONS=([sysv_blocked_senders_recheck_in_order]="--ignore-call msgctl"
  [posix_notify_busy_check_holds_no_send]="--ignore-call mq_send --ignore-call mq_receive")

mkdir -p "$WORK/bin"
tests=() excluded=0
for src in "$ROOT"/c_tests/*.c; do
  name=$(basename "$src" .c)
  marker=$(head -n 1 "$src")
  if [[ $marker == *"skip-config shim-emulate"* || $marker == *"skip-config shim-kernel"* || $marker == *linked-only* ]] \
     || excluded_by_name "$name" || grep -q 'mq_send_at\|msgsnd_at' "$src"; then
    excluded=$((excluded + 1))
    continue
  fi
  tests+=("$name")
done
printf '%s\n' "${tests[@]}" | xargs -P 2 -I{} sh -c \
  'cc -O1 -pthread -I"$1/c_tests" "$1/c_tests/$2.c" -o "$3/bin/$2" -lrt >"$3/bin/$2.log" 2>&1 || echo "cannot build $2"' \
  sh "$ROOT" {} "$WORK" | grep . && fail "building the C tests"
((${#tests[@]} >= 90)) || fail "only ${#tests[@]} C tests selected (expected about 100)"
echo "C tests: ${#tests[@]} selected, $excluded left out (see the comment above)"

start=$SECONDS
passed=0
for name in "${tests[@]}"; do
  # A test's "mqt: env VAR=VALUE" markers (c_tests/README.md) hold for both runs, as for every
  # configuration of c_tests/run.sh (e.g. MQSHIM_SYSCALLS=trap for the raw-syscall tests).
  # (Read as run.sh reads markers: the word after each "env" on the first line.)
  mapfile -t test_env < <(head -n 1 "$ROOT/c_tests/$name.c" | sed -n 's@^/\* *mqt: *@@p' | sed 's@\*/.*@@' \
    | awk '{ for (i = 1; i < NF; i++) if ($i == "env") print $(i + 1) }')
  # shellcheck disable=SC2086 # OPTIONS values are lists of words
  out=$(env "${test_env[@]}" MQT_RUNID="$RUNID-$name" "$MQSHIM" diff --timeout 30 ${OPTIONS[$name]:-} -- "$WORK/bin/$name" </dev/null 2>&1)
  status=$?
  if [[ $status == 0 && $out == *"no divergence"* ]]; then
    passed=$((passed + 1))
  else
    fail "diff $name: exit $status"
    echo "$out" | cut -c1-400 | head -n 20 | sed 's/^/    /'
  fi
done
echo "C tests: $passed of ${#tests[@]} without divergence in $((SECONDS - start)) s"

# --- a fault injected on one side -------------------------------------------------------------
# The test then waits for what the failed call did not do, until its watchdog (MQT_TIMEOUT s)
# ends it with exit 99: a short watchdog keeps these cases quick.
export MQT_TIMEOUT=2
basic=$WORK/bin/posix_send_receive_basic
out=$(MQT_RUNID="$RUNID-fault" "$MQSHIM" diff --emulate-env 'MQSHIM_FAULTS=mq_send:EAGAIN@2' -- "$basic" </dev/null 2>&1)
status=$?
[[ $status == 1 ]] || fail "a fault on the emulation side: exit $status, expected 1"
grep -q '^DIVERGENCE: thread p1, call #3 (mq_send)' <<<"$out" || fail "a fault on the emulation side: the divergence is not the 2nd mq_send (call #3)"
grep -q '^  emulate normalised: .*"errno":"EAGAIN"' <<<"$out" || fail "a fault on the emulation side: the emulate record does not show EAGAIN"
grep -q '^  kernel  normalised: .*"call":"mq_send".*"errno":null' <<<"$out" || fail "a fault on the emulation side: the kernel record is not a successful mq_send"
grep -q '^DIVERGENCE: exit status' <<<"$out" || fail "a fault on the emulation side: the exit status difference is not reported"
[[ $status == 1 ]] || echo "$out" | sed 's/^/    /'

out=$(MQT_RUNID="$RUNID-kfault" "$MQSHIM" diff --kernel-env 'MQSHIM_FAULTS=mq_getattr:EBADF@1' -- "$basic" </dev/null 2>&1)
status=$?
[[ $status == 1 ]] || fail "a fault on the kernel side: exit $status, expected 1"
grep -q '^DIVERGENCE: thread p1, call #4 (mq_getattr)' <<<"$out" || fail "a fault on the kernel side: the divergence is not the 1st mq_getattr"

# The user's MQSHIM_FAULTS applies to both runs: the same failure on both sides is no divergence.
out=$(MQT_RUNID="$RUNID-both" MQSHIM_FAULTS='mq_send:EAGAIN@2' "$MQSHIM" diff -- "$basic" </dev/null 2>&1)
status=$?
[[ $status == 0 && $out == *"no divergence"* ]] || fail "the same fault on both sides (MQSHIM_FAULTS): exit $status, expected 0"
grep -q 'exit 99' <<<"$out" || fail "the same fault on both sides: the program did not see it (no 'exit 99' in the summary)"

# --ignore-errno: leaving out the failed calls still leaves the exit status and output to differ.
out=$(MQT_RUNID="$RUNID-ign" "$MQSHIM" diff --ignore-errno EAGAIN --emulate-env 'MQSHIM_FAULTS=mq_send:EAGAIN@2' -- "$basic" </dev/null 2>&1)
grep -q 'normalised: .*"errno":"EAGAIN"' <<<"$out" && fail "--ignore-errno EAGAIN: the injected EAGAIN was still compared"
grep -q '^DIVERGENCE: standard output differs' <<<"$out" || fail "--ignore-errno EAGAIN: the output difference is not reported"

unset MQT_TIMEOUT

# --- standard output, standard input, the seed programs ---------------------------------------
if [[ -d $SEED_PROGRAMS/001 ]]; then
  mkdir -p "$WORK/seeds"
  for p in send recv rmmq msg_create msg_send msg_receive; do
    gcc "$SEED_PROGRAMS/001/$p.c" -o "$WORK/seeds/$p" -lrt -lpthread >/dev/null 2>&1 || fail "cannot build seed $p"
  done
  gcc "$SEED_PROGRAMS/003/posix_mq_server.c" -o "$WORK/seeds/posix_mq_server" -lrt >/dev/null 2>&1 || fail "cannot build seed posix_mq_server"
  cc -O1 "$ROOT/c_tests/tools/mqt_seedtool.c" -o "$WORK/seeds/seedtool" -lrt || fail "cannot build mqt_seedtool"
  cd "$WORK/seeds" || exit 1
  # The notes' POSIX run (priority order) and System V run, each step a process of one script.
  out=$("$MQSHIM" diff -- sh -c './send zorro 1 && ./send shrek 2 && ./send jerry 3 && ./send zzzzz 1 && ./recv && ./recv && ./recv && ./recv && ./rmmq' </dev/null 2>&1)
  [[ $? == 0 && $out == *"no divergence"* && $out == *"21 calls traced in 9 processes"* ]] || { fail "seeds 001 POSIX"; echo "$out" | sed 's/^/    /'; }
  out=$("$MQSHIM" diff -- sh -c './msg_create && ./msg_send && ./msg_receive' </dev/null 2>&1)
  [[ $? == 0 && $out == *"no divergence"* && $out == *"7 calls traced in 3 processes"* ]] || { fail "seeds 001 System V"; echo "$out" | sed 's/^/    /'; }
  # The 003 interactive sender, fed on stdin: after EOF it sends empty messages until the queue
  # is full and blocks for ever, so both runs time out; the records up to there are compared.
  printf 'hello 3\nworld 7\n' >"$WORK/server.in"
  out=$("$MQSHIM" diff --timeout 2 --keep "$WORK/kept" -- sh -c './seedtool create /mq_test && exec ./posix_mq_server' <"$WORK/server.in" 2>&1)
  [[ $? == 0 && $out == *"no divergence"* && $out == *"both runs timed out"* ]] || { fail "seed 003 posix_mq_server"; echo "$out" | sed 's/^/    /'; }
  for side in kernel emulate; do
    grep -q '"call":"mq_send".*"msg_ptr":"hello\\\\x00".*"msg_prio":3' "$WORK/kept/$side.jsonl" \
      || fail "stdin was not replayed to the $side run (no mq_send of \"hello\" at priority 3 in its trace)"
    grep -q '"msg_ptr":"world\\\\x00"' "$WORK/kept/$side.jsonl" || fail "the $side run did not get all of stdin"
  done
  # Standard output that differs while every call agrees: still a divergence.
  out=$("$MQSHIM" diff --emulate-env WHO=emulation -- sh -c './send hi 1 && ./recv && ./rmmq && echo "${WHO:-kernel}"' </dev/null 2>&1)
  status=$?
  [[ $status == 1 ]] || fail "a difference in stdout only: exit $status, expected 1"
  grep -q '^DIVERGENCE: standard output differs at line 2' <<<"$out" || fail "a difference in stdout only: not reported at line 2"
  grep -q '^DIVERGENCE: thread' <<<"$out" && fail "a difference in stdout only: a call was reported as diverging"
  cd "$WORK" || exit 1
else
  echo "note: $SEED_PROGRAMS is absent: the seed-program cases are not run"
  failures=$((failures + 1))
fi

# --- the kernel run's private namespace gets this namespace's settings (the emulation reads them)
cat >"$WORK/defaults.c" <<'EOF'
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <sys/msg.h>
int main(int argc, char **argv)
{
    (void)argc;
    mqd_t q = mq_open(argv[1], O_CREAT | O_RDWR, 0600, NULL);
    struct mq_attr a;
    if (q == (mqd_t)-1 || mq_getattr(q, &a) != 0) { perror("mq_open"); return 1; }
    printf("maxmsg %ld msgsize %ld\n", a.mq_maxmsg, a.mq_msgsize);
    mq_close(q);
    mq_unlink(argv[1]);
    int id = msgget(IPC_PRIVATE, 0600);
    struct msqid_ds ds;
    if (id < 0 || msgctl(id, IPC_STAT, &ds) != 0) { perror("msgget"); return 1; }
    printf("qbytes %lu\n", (unsigned long)ds.msg_qbytes);
    msgctl(id, IPC_RMID, NULL);
    return 0;
}
EOF
cc "$WORK/defaults.c" -o "$WORK/defaults" -lrt || fail "cannot build defaults.c"
if [[ $(id -u) == 0 ]]; then
  # In an IPC namespace of the test's own (the machine's settings are left alone).
  out=$(unshare --ipc sh -c 'echo 7 >/proc/sys/fs/mqueue/msg_default && echo 1000 >/proc/sys/kernel/msgmnb && exec "$@"' \
        sh "$MQSHIM" diff --keep "$WORK/settings" -- "$WORK/defaults" "/mqshim-diff-$RUNID" </dev/null 2>&1)
  status=$?
  [[ $status == 0 && $out == *"no divergence"* ]] || { fail "non-default namespace settings: exit $status, expected 0"; echo "$out" | sed 's/^/    /'; }
  [[ $(cat "$WORK/settings/kernel.stdout" 2>/dev/null) == $'maxmsg 7 msgsize 8192\nqbytes 1000' ]] \
    || fail "the kernel run did not get the namespace's settings: $(cat "$WORK/settings/kernel.stdout" 2>/dev/null)"
else
  echo "note: not root: the namespace-settings case is not run"
fi

# --- without the right to a private IPC namespace (not root): the machine's, and it says so ----
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
  pub=$(mktemp -d /tmp/mqshim-diff-test.XXXXXX)
  chmod 755 "$pub"
  cp "$basic" "$pub/"
  out=$(cd "$pub" && MQT_RUNID="$RUNID-nobody" setpriv --reuid nobody --regid nogroup --clear-groups "$MQSHIM" diff -- "$pub/posix_send_receive_basic" </dev/null 2>&1)
  status=$?
  rm -rf "$pub"
  if [[ $out == *"cannot find"* || $out == *"Permission denied"* ]]; then
    echo "note: nobody cannot reach the command or library here: the unprivileged case is not run"
  else
    [[ $status == 0 && $out == *"no divergence"* ]] || fail "as nobody: exit $status, expected 0"
    grep -q "^kernel  run in this machine's IPC namespace: a private one was refused" <<<"$out" || fail "as nobody: the fallback to the machine's IPC namespace is not stated"
    [[ $status == 0 ]] || echo "$out" | sed 's/^/    /'
  fi
else
  echo "note: not root (or no setpriv): the unprivileged case is not run"
fi

# --- usage and launch errors: exit 2 ----------------------------------------------------------
"$MQSHIM" diff </dev/null >/dev/null 2>&1
[[ $? == 2 ]] || fail "no program: exit $?, expected 2"
"$MQSHIM" diff -- "$WORK/no-such-program" </dev/null >/dev/null 2>&1
[[ $? == 2 ]] || fail "a program that does not exist: expected exit 2"
"$MQSHIM" diff --emulate-env MQSHIM_BACKEND=kernel -- true </dev/null >/dev/null 2>&1
[[ $? == 2 ]] || fail "--emulate-env MQSHIM_BACKEND: expected exit 2 (diff sets it)"
"$MQSHIM" diff --kernel-env NOEQUALS -- true </dev/null >/dev/null 2>&1
[[ $? == 2 ]] || fail "--kernel-env without '=': expected exit 2"

# Nothing left behind: the emulation's namespaces are removed.
leftover=$(find /dev/shm -maxdepth 1 -name 'mqshim-diff.*' -user "$(id -u)" -newer "$WORK" 2>/dev/null)
[[ -z $leftover ]] || fail "left behind: $leftover"

((failures == 0)) || { echo "$failures failures"; exit 1; }
echo "diff: all cases passed"
