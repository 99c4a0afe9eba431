#!/usr/bin/env bash
# c_tests/seeds.sh [FILTER] — the seed programs (../shared/seed-programs), compiled unchanged
# with the notes' own command, run through scripted scenarios in every configuration of
# run.sh's table; each scenario's normalised transcript must equal the kernel's, and in a
# traced configuration the trace must hold the scenario's expected number of records per call.
# Each scenario x configuration is one case. Called by run.sh; runs on its own too.
#
# The programs use fixed names (/mqtest, /mq_test) and keys (ftok("/etc/passwd", 1234),
# 0xffffffff), so scenarios run one at a time, and stale kernel queues with those names and
# keys are removed before and after (the machine is always left clean).
#
# Ends with the line "seeds: N passed, M failed[, K skipped]".

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
SEEDS_SRC=$(realpath -m "$ROOT/../shared/seed-programs")
PUBLISHED=$ROOT/target/seeds
TOOLS=${MQT_TOOLS:-}
LIB=$(realpath -m "${MQSHIM_LIB:-$ROOT/target/release/libmqshim.so}")
MQSHIM=$(realpath -m "${MQSHIM_BIN:-$ROOT/target/release/mqshim}")
STEP_TIMEOUT=${MQT_CASE_TIMEOUT:-30}
FILTER=${1:-}

# The one configuration table: given by run.sh, else read from it.
if [[ -n ${MQT_CONFIGS:-} ]]; then
  mapfile -t CONFIGS <<<"$MQT_CONFIGS"
else
  eval "$(sed -n '/^CONFIGS=(/,/^)/p' "$HERE/run.sh")"
fi
cfg_name() { local n=${1%%|*}; echo "${n//[[:space:]]/}"; }
cfg_env()  { local e=${1#*|}; echo "$e" | xargs; }
needs_lib() { [[ $1 == *@LIB@* ]]; }
needs_static() { [[ $1 == *@STATIC@* || $1 == *@MUSL@* ]]; }
needs_redis() { [[ $1 == *@REDIS@* ]]; }
is_traced() { [[ $1 == *MQSHIM_TRACE=@TRACE@* && $1 == *MQSHIM_TRACE_FORMAT=jsonl* ]]; }

SEED_TMP=${MQT_TMP:-}
REDIS_PORT=${MQT_REDIS_PORT:-}   # run.sh's server, if it started one
unset LD_PRELOAD
for v in $(compgen -e); do
  case $v in MQSHIM_*|MQT_*) unset "$v" ;; esac
done

SCENARIOS=()
STATIC_UNBUFFERED=(seed_posix_notify_sig seed_posix_003 seed_sysv_003)
for s in seed_posix_notes seed_sysv_notes seed_posix_notify_sig seed_posix_003 seed_sysv_003 \
         seed_posix_003_msg_max_10; do
  [[ -n $FILTER && $s != *"$FILTER"* ]] && continue
  SCENARIOS+=("$s")
done

PASSED=0 FAILED=0 SKIPPED=0
summary() {
  local line="seeds: $PASSED passed, $FAILED failed"
  (( SKIPPED )) && line+=", $SKIPPED skipped"
  echo "$line"
}

if (( ${#SCENARIOS[@]} == 0 )); then summary; exit 0; fi
if [[ ! -d $SEEDS_SRC ]]; then
  SKIPPED=$(( ${#SCENARIOS[@]} * ${#CONFIGS[@]} ))
  echo "SKIP seeds: $SEEDS_SRC is absent (${#SCENARIOS[@]} scenarios)"
  summary; exit 0
fi

OWN_TMP=0
if [[ -z $SEED_TMP ]]; then SEED_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mqt-seeds.XXXXXX"); OWN_TMP=1; fi
# @SHM_DIR@ (run.sh's token: a namespace on tmpfs, where the emulation's lives by default).
if [[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs && -w /dev/shm ]]; then
  SEED_SHM=$(mktemp -d /dev/shm/mqt-seeds.XXXXXX)
else
  SEED_SHM=$SEED_TMP/shm
fi
BIN=$SEED_TMP/bin            # this run's binaries (another run may be rebuilding target/)
mkdir -p "$BIN" "$PUBLISHED"

# The fixed names and keys are machine-wide: one seeds run at a time on this machine.
exec {LOCK_FD}>/tmp/mqshim-seeds.lock
flock -w 300 "$LOCK_FD" || { echo "FAIL seeds: another seeds run holds /tmp/mqshim-seeds.lock"; exit 1; }

# ------------------------------------------------------------------------------------------
# Build: the notes' command, unchanged sources, warnings allowed (kept in the log).

if [[ -z $TOOLS ]]; then
  TOOLS=$BIN/tools
  mkdir -p "$TOOLS"
  cc -Wall -Wextra -Werror -O1 "$HERE/tools/mqt_seedtool.c" -o "$TOOLS/mqt_seedtool" -lrt || exit 2
fi
BUILD_OK=1
for src in "$SEEDS_SRC"/001/*.c "$SEEDS_SRC"/003/*.c; do
  prog=$(basename "$src" .c)
  cp "$src" "$BIN/$prog.c"
  if ! (cd "$BIN" && gcc "$prog.c" -o "$prog" -lrt -lpthread) >"$BIN/$prog.build.log" 2>&1; then
    echo "FAIL seeds: cannot build $prog"; sed 's/^/    /' "$BIN/$prog.build.log" | head -n 20
    BUILD_OK=0
  else
    cp -f "$BIN/$prog" "$PUBLISHED/.$prog.$$" && mv -f "$PUBLISHED/.$prog.$$" "$PUBLISHED/$prog"
  fi
  # The static configurations' build: the same command with -static (glibc's static libc).
  STATIC_OK=${STATIC_OK:-1}
  (cd "$BIN" && gcc -static "$prog.c" -o "$prog.static" -lrt -lpthread) >"$BIN/$prog.static.log" 2>&1 || STATIC_OK=0
  MUSL_OK=${MUSL_OK:-1}
  (cd "$BIN" && musl-gcc -static "$prog.c" -o "$prog.musl" -lrt -lpthread) >"$BIN/$prog.musl.log" 2>&1 || MUSL_OK=0
done
if [[ $BUILD_OK != 1 ]]; then
  FAILED=$(( ${#SCENARIOS[@]} * ${#CONFIGS[@]} )); summary; exit 1
fi

# ------------------------------------------------------------------------------------------
# Keeping the machine clean (always without the shim: these are the kernel's queues).

SEED_KEY=$("$TOOLS/mqt_seedtool" ftok /etc/passwd 1234)
BG_PIDS=()
clean_machine() {
  local p
  for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  BG_PIDS=()
  "$TOOLS/mqt_seedtool" unlink /mqtest /mq_test >/dev/null
  ipcrm -Q "$SEED_KEY" >/dev/null 2>&1
  ipcrm -Q 0xffffffff >/dev/null 2>&1
}
on_exit() {
  clean_machine
  rm -rf "$SEED_SHM"
  (( OWN_TMP )) && rm -rf "$SEED_TMP"
}
trap on_exit EXIT

# ------------------------------------------------------------------------------------------
# Scenario vocabulary. A scenario appends to the transcript $T, runs in $D, and sets
#   EXPECT   expected trace records per call: "mq_open=12 msgrcv>=4 ..." (exact unless >=)
#   CHECK_RE / CHECK  the transcript lines matching CHECK_RE must be exactly CHECK

ASSIGNS=()
RUNNER=()      # a static configuration's: `mqshim run --` before the static build
STATIC_SUFFIX=static   # which static build: static (glibc) or musl
in_cfg() { env "${ASSIGNS[@]}" "$@"; }
# seed_bin PROGRAM: the build this configuration runs.
seed_bin() { if (( ${#RUNNER[@]} )); then echo "$BIN/$1.$STATIC_SUFFIX"; else echo "$BIN/$1"; fi; }

# step PROGRAM ARGS...: run a seed program (or "seedtool ...") to completion, record it.
step() {
  local prog runner=("${RUNNER[@]}")
  prog=$(seed_bin "$1")
  [[ $1 == seedtool ]] && prog=$TOOLS/mqt_seedtool runner=()
  printf '$ %s\n' "$*" >>"$T"
  (cd "$D/cwd" && timeout -k 2 "$STEP_TIMEOUT" env "${ASSIGNS[@]}" "${runner[@]}" "$prog" "${@:2}") \
    >>"$T" 2>&1 </dev/null
  printf '[exit %d]\n' $? >>"$T"
}

# start_bg OUT IN PROGRAM ARGS...: start a seed program in the background with line-buffered
# (stdbuf -oL) stdout; sets BG. The program is stopped with stop_bg.
start_bg() {
  local out=$1 in=$2 prog=$BIN/$3
  printf '$ %s &\n' "${*:3}" >>"$T"
  (cd "$D/cwd" && exec env "${ASSIGNS[@]}" stdbuf -oL "$prog" "${@:4}" >"$out" 2>&1 <"$in") &
  BG=$!
  BG_PIDS+=("$BG")
}
stop_bg() {
  kill -TERM "$BG" 2>/dev/null
  wait "$BG" 2>/dev/null
  printf '[stopped]\n' >>"$T"
}

# wait_for FILE REGEX COUNT: bounded (10 s) wait until FILE has COUNT lines matching REGEX.
wait_for() {
  local i n
  for ((i = 0; i < 500; i++)); do
    n=$(grep -c -E -- "$2" "$1" 2>/dev/null)
    (( ${n:-0} >= $3 )) && return 0
    sleep 0.02
  done
  echo "TIMEOUT waiting for $3 lines /$2/ in $(basename "$1")" >>"$T"
  return 1
}

# wait_sleeping PID: bounded (5 s) wait until the process sleeps ('S' in /proc/PID/stat on
# three consecutive polls): it is blocked in a call or in sleep(), not mid-way.
wait_sleeping() {
  local i streak=0 st
  for ((i = 0; i < 500; i++)); do
    st=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
    if [[ $st == S ]]; then streak=$((streak + 1)); else streak=0; fi
    (( streak >= 3 )) && return 0
    sleep 0.01
  done
  echo "TIMEOUT waiting for pid to block" >>"$T"
  return 1
}

# -- (a) the notes' POSIX run: six sends, six receives in priority order, rmmq
seed_posix_notes() {
  step send zorro 1; step send shrek 2; step send jerry 3
  step send zzzzz 1; step send ssssss 2; step send jjjjj 3
  local i; for i in 1 2 3 4 5 6; do step recv; done
  step rmmq
  EXPECT="mq_open=12 mq_send=6 mq_receive=6 mq_close=6 mq_unlink=1"
  CHECK_RE='^msq:'
  CHECK=$'msq: jerry, prio: 3\nmsq: jjjjj, prio: 3\nmsq: shrek, prio: 2\nmsq: ssssss, prio: 2\nmsq: zorro, prio: 1\nmsq: zzzzz, prio: 1'
}

# -- (b) the notes' SysV run: create (its msgid legitimately differs), send, receive + remove
seed_sysv_notes() {
  step msg_create; step msg_send; step msg_receive
  sed -i 's/^msgid: -\{0,1\}[0-9][0-9]*$/msgid: <id>/' "$T"
  EXPECT="msgget=3 msgctl=2 msgsnd=1 msgrcv=1"
  CHECK_RE='^(mtype|msg_q)'
  CHECK=$'msg_qnum: 0\nmsg_qbytes: 16384\nmtype: 1\nmtype: hello world!'
}

# -- (c) notify_sig against send: SIGUSR1 on empty -> non-empty, re-registered in the handler
seed_posix_notify_sig() {
  step send init 0                # notify_sig needs an existing queue: create it ...
  step recv                       # ... and empty it
  local out=$D/notify_sig.out
  start_bg "$out" /dev/null notify_sig /mqtest
  wait_for "$out" '^x$' 1         # "x" is printed after the first mq_notify succeeded
  step send hello 1
  wait_for "$out" '^msq: hello, prio: 1$' 1
  wait_sleeping "$BG"             # the handler printed before re-registering: let it finish
  step send zorro 3
  wait_for "$out" '^msq: zorro, prio: 3$' 1
  wait_sleeping "$BG"
  stop_bg
  echo "--- notify_sig's msq: lines (the x lines depend on time)" >>"$T"
  grep -v '^x$' "$out" >>"$T"
  step rmmq
  EXPECT="mq_open=5 mq_send=3 mq_receive=3 mq_close=1 mq_notify=3 mq_getattr=2 mq_unlink=1"
  CHECK_RE='^msq:'
  CHECK=$'msq: init, prio: 0\nmsq: hello, prio: 1\nmsq: zorro, prio: 3'
}

# -- (d) 003 POSIX: the client's maxmsg 128 is refused; the server fed the notes' input on a
#    pre-created default queue. After EOF its loop sends empty messages (priority 5, the last
#    one read) until the queue is full (10) and blocks in the 11th mq_send: stop it there.
seed_posix_003() {
  step posix_mq_client
  step seedtool create /mq_test
  printf '%s\n' fgsdfgsdfgsdfg 9 dfgsdfgsdfg 3 dfghsdfhgjghdj 6 sdfgdgfhgjh 2 dsfghgjghjkh 8 \
    sdfgsdfgsdfgsd 5 >"$D/server.in"
  local out=$D/server.out
  start_bg "$out" "$D/server.in" posix_mq_server
  wait_for "$out" 'strlen:' 11    # 11 sends started (line-buffered: the last prompt stays
                                  # in the buffer and is lost when the server is stopped)
  wait_sleeping "$BG"
  stop_bg
  echo "--- posix_mq_server's output" >>"$T"
  cat "$out" >>"$T"
  step seedtool drain /mq_test
  step seedtool unlink /mq_test
  # The 11th mq_send never returns (killed while blocked): no trace record for it.
  EXPECT="mq_open=4 mq_close=2 mq_send=10 mq_getattr=1 mq_receive=11 mq_unlink=1"
  CHECK_RE='^(mq_open error|message )'
  CHECK=$'mq_open error.\nmessage "fgsdfgsdfgsdfg" (15 bytes) prio 9\nmessage "dsfghgjghjkh" (13 bytes) prio 8\nmessage "dfghsdfhgjghdj" (15 bytes) prio 6\nmessage "sdfgsdfgsdfgsd" (15 bytes) prio 5\nmessage "" (1 bytes) prio 5\nmessage "" (1 bytes) prio 5\nmessage "" (1 bytes) prio 5\nmessage "" (1 bytes) prio 5\nmessage "dfgsdfgsdfg" (12 bytes) prio 3\nmessage "sdfgdgfhgjh" (12 bytes) prio 2'
}

# -- (e) 003 SysV: the server (key 0xffffffff: ./mq_test does not exist) reads four words from
#    a pipe we keep open, so after them it blocks in read(); the client polls with IPC_NOWAIT
#    forever: stop it after the four messages. ipcs -q lists every queue on the machine: keep
#    the 0xffffffff line only, with its msqid and owner columns normalised.
seed_sysv_003() {
  mkfifo "$D/server.in"
  local out=$D/server.out fd
  exec {fd}<>"$D/server.in"
  start_bg "$out" "$D/server.in" sys_msq_server
  printf 'aaaa\ndddd\nfffff\nggggg\n' >&"$fd"
  wait_for "$out" '^enter the MSG:$' 5
  wait_sleeping "$BG"
  stop_bg
  exec {fd}>&-
  echo "--- sys_msq_server's output (ipcs -q normalised)" >>"$T"
  awk '/^0x[0-9a-f]+ / { if ($1 != "0xffffffff") next; $2 = "<msqid>"; $3 = "<owner>" } { print }' \
    "$out" >>"$T"
  out=$D/client.out
  start_bg "$out" /dev/null sys_msq_client
  wait_for "$out" '^read-write:' 4
  stop_bg
  echo "--- sys_msq_client's output" >>"$T"
  cat "$out" >>"$T"
  step seedtool rmkey 0xffffffff
  EXPECT="msgget=3 msgsnd=4 msgctl=9 msgrcv>=4"
  CHECK_RE='^read-write'
  CHECK=$'read-write:666, cbytes = 5, qnum = 1, qbytes= 16384\nread-write:666, cbytes = 10, qnum = 2, qbytes= 16384\nread-write:666, cbytes = 16, qnum = 3, qbytes= 16384\nread-write:666, cbytes = 22, qnum = 4, qbytes= 16384\nread-write:666, cbytes = 17, qnum = 3, qbytes= 16384\nread-write:666, cbytes = 12, qnum = 2, qbytes= 16384\nread-write:666, cbytes = 6, qnum = 1, qbytes= 16384\nread-write:666, cbytes = 0, qnum = 0, qbytes= 16384'
}

# -- (f) 003 POSIX client against msg_max=10 without CAP_SYS_RESOURCE: its maxmsg 128 is refused
#    ("mq_open error.", exit 255) on the kernel with msg_max=10 and under mqshim with
#    MQSHIM_LIMITS=msg_max=10 alike. Every configuration runs it as root of a fresh user + IPC
#    namespace (root there has no CAP_SYS_RESOURCE where the kernel looks for it), so the
#    machine's own settings do not matter: the reference writes 10 to the namespace's msg_max;
#    the shim configurations get MQSHIM_LIMITS=msg_max=10 and write 256 there instead, so the
#    kernel alone would accept 128 and only mqshim's limit can refuse it — and they drop
#    CAP_SYS_RESOURCE from the namespace's capability sets (setpriv), since mqshim looks for it
#    in the process's own namespace (see c_tests/posix_limit_userns_root_unprivileged.c).
#    Were the open to succeed, the client would block in mq_receive until the step's timeout.
seed_posix_003_msg_max_10() {
  local ns_msg_max=10 drop=()
  if needs_lib "$cfg"; then
    ASSIGNS+=(MQSHIM_LIMITS=msg_max=10)
    ns_msg_max=256
    drop=(setpriv --bounding-set -sys_resource --inh-caps -sys_resource)
  fi
  printf '$ %s\n' "posix_mq_client" >>"$T"
  (cd "$D/cwd" && timeout -k 2 "$STEP_TIMEOUT" env "${ASSIGNS[@]}" \
     unshare --user --map-root-user --ipc \
     sh -c 'echo "$1" >/proc/sys/fs/mqueue/msg_max && shift && exec "$@"' sh "$ns_msg_max" \
     "${drop[@]}" "${RUNNER[@]}" "$(seed_bin posix_mq_client)") >>"$T" 2>&1 </dev/null
  printf '[exit %d]\n' $? >>"$T"
  EXPECT="mq_open=1"
  CHECK_RE='^(mq_open error|\[exit)'
  CHECK=$'mq_open error.\n[exit 255]'
}

# ------------------------------------------------------------------------------------------

counts_traced() {
  grep -o '"call": *"[^"]*"' "$1" 2>/dev/null | sed 's/.*"\([^"]*\)"$/\1/' \
    | grep -v '^mqshim_' | sort | uniq -c | awk '{print $2, $1}'
}

# count_mismatches TRACE: one line per call name whose record count is not as EXPECTed
count_mismatches() {
  local -A got=()
  local n c spec want
  while read -r n c; do [[ -n $n ]] && got[$n]=$c; done < <(counts_traced "$1")
  for spec in $EXPECT; do
    if [[ $spec == *'>='* ]]; then
      n=${spec%%>=*}; want=${spec#*>=}
      (( ${got[$n]:-0} >= want )) || echo "$n: ${got[$n]:-0} records, expected >= $want"
    else
      n=${spec%%=*}; want=${spec#*=}
      [[ ${got[$n]:-0} == "$want" ]] || echo "$n: ${got[$n]:-0} records, expected $want"
    fi
    unset "got[$n]"
  done
  for n in "${!got[@]}"; do echo "$n: ${got[$n]} records, expected none"; done
}

LIB_PRESENT=0
[[ -f $LIB ]] && LIB_PRESENT=1
# The Redis configuration's server: run.sh's (MQT_REDIS_PORT), else one of our own.
WANT_REDIS=0
for cfg in "${CONFIGS[@]}"; do needs_redis "$cfg" && WANT_REDIS=1; done
REDIS_OK=0
if [[ $WANT_REDIS == 1 && $LIB_PRESENT == 1 ]]; then
  if [[ -n $REDIS_PORT ]]; then REDIS_OK=1
  elif [[ -z ${MQT_CONFIGS:-} ]]; then     # on our own: start one (cleaned up by our EXIT trap)
    source "$ROOT/scripts/redis-fixture.bash"
    fixture_init "$SEED_TMP/redis"
    FIXTURE_CLEANUP+=(on_exit)
    redis_start && REDIS_OK=1
  fi
fi

for scen in "${SCENARIOS[@]}"; do
  ref=""
  total=0 bad=0 skipped=0
  for ci in "${!CONFIGS[@]}"; do
    cfg=${CONFIGS[$ci]}
    cname=$(cfg_name "$cfg")
    if needs_lib "$cfg" && [[ $LIB_PRESENT != 1 ]]; then
      skipped=$((skipped + 1)); SKIPPED=$((SKIPPED + 1)); continue
    fi
    if needs_redis "$cfg" && [[ $REDIS_OK != 1 ]]; then
      skipped=$((skipped + 1)); SKIPPED=$((SKIPPED + 1)); continue
    fi
    RUNNER=()
    if needs_static "$cfg"; then
      STATIC_SUFFIX=static built=${STATIC_OK:-0}
      [[ $cfg == *@MUSL@* ]] && STATIC_SUFFIX=musl built=${MUSL_OK:-0}
      # Scenarios that read a background program's output while it runs need it
      # line-buffered (stdbuf -oL), which a static program ignores (stdbuf preloads a library).
      if [[ $built != 1 || ! -x $MQSHIM || " ${STATIC_UNBUFFERED[*]} " == *" $scen "* ]]; then
        skipped=$((skipped + 1)); SKIPPED=$((SKIPPED + 1))
        echo "SKIP-CASE $scen [$cname]: $([[ $built != 1 ]] && echo "no $STATIC_SUFFIX build: not every seed program compiles unchanged -static with it (musl: glibc header habits, struct msgbuf, O_* from <mqueue.h>)" || echo "its background program's output is read while it runs: stdbuf cannot line-buffer a static program")"
        continue
      fi
      RUNNER=("$MQSHIM" run --)
    fi
    D=$SEED_TMP/$scen.$cname
    rm -rf "$D" "$SEED_SHM/$scen.$cname"; mkdir -p "$D/cwd" "$D/state" "$SEED_SHM/$scen.$cname"
    T=$D/transcript
    : >"$T"
    e=$(cfg_env "$cfg")
    e=${e//@LIB@/$LIB}; e=${e//@TRACE@/$D/trace.jsonl}; e=${e//@DIR@/$D/state}; e=${e//@SHM_DIR@/$SEED_SHM/$scen.$cname}; e=${e//@STATIC@/}; e=${e//@MUSL@/}
    e=${e//@REDIS@/redis://127.0.0.1:$REDIS_PORT/0?prefix=mqt-seeds-$$-$scen}
    read -ra ASSIGNS <<<"$e"
    EXPECT="" CHECK_RE="" CHECK=""
    clean_machine
    "$scen"
    clean_machine
    # (A static program's mq_close is close(2), which the supervisor records as mq_close when
    # it closes a queue descriptor: the notes' programs close only those, so the counts hold.)
    total=$((total + 1))
    why=()
    if [[ -n $CHECK_RE ]] && [[ "$(grep -E -- "$CHECK_RE" "$T")" != "$CHECK" ]]; then
      why+=("the lines /$CHECK_RE/ are not the expected ones")
    fi
    [[ -z $ref ]] && ref=$D
    if [[ $ref != "$D" ]] && ! cmp -s "$ref/transcript" "$T"; then
      why+=("transcript differs from the reference")
    fi
    mism=""
    if is_traced "$cfg"; then
      mism=$(count_mismatches "$D/trace.jsonl")
      [[ -n $mism ]] && why+=("trace record counts differ from the scenario's")
    fi
    if (( ${#why[@]} )); then
      bad=$((bad + 1)); FAILED=$((FAILED + 1))
      printf -v joined '%s; ' "${why[@]}"
      echo "FAIL-CASE $scen [$cname]: ${joined%; }"
      if [[ $ref != "$D" ]] && ! cmp -s "$ref/transcript" "$T"; then
        diff -u --label reference --label "$scen [$cname]" "$ref/transcript" "$T" | head -n 60 \
          | sed 's/^/    /'
      elif [[ -n $CHECK_RE ]]; then
        diff -u --label expected --label "$scen [$cname]" <(echo "$CHECK") \
          <(grep -E -- "$CHECK_RE" "$T") | sed 's/^/    /'
      fi
      [[ -n $mism ]] && echo "$mism" | sed 's/^/    /'
      if is_traced "$cfg" && [[ -s $D/trace.jsonl ]]; then
        echo "    trace (tail):"; tail -n 5 "$D/trace.jsonl" | cut -c1-300 | sed 's/^/    /'
      fi
    else
      PASSED=$((PASSED + 1))
    fi
  done
  skipnote=""; (( skipped )) && skipnote=", $skipped skipped"
  if (( total == 0 )); then echo "SKIP $scen ($skipped skipped)"
  elif (( bad )); then echo "FAIL $scen ($bad of $total cases failed$skipnote)"
  else echo "PASS $scen ($total cases$skipnote)"; fi
done

summary
(( FAILED == 0 ))
