#!/usr/bin/env bash
# c_tests/run.sh [FILTER] — build mqshim's C tests and run each in every configuration.
#
# Every c_tests/*.c is one test. Its stdout transcript and exit code in each configuration
# must equal those of the first configuration (plain kernel, no shim), and in a traced
# configuration the jsonl trace must hold, per "call" name, exactly as many records as the
# test counted (the harness writes its counts to $MQT_CALLS). The seed programs' scenarios
# (seeds.sh) follow as further cases. FILTER (a substring) selects tests and scenarios.
#
# A marker on a test's first line adds builds:
#   /* mqt: fortify      also built -O2 -D_FORTIFY_SOURCE=2 (must reference __mq_open_2)
#   /* mqt: linked       also built with -lmqshim (no LD_PRELOAD), run in shim configurations
#   /* mqt: linked-only  built only with -lmqshim and include/; shim configurations only
#   /* mqt: static       also built -static with glibc (and with musl-gcc where it exists), run
#                        only in the static configurations (@STATIC@ / @MUSL@: under `mqshim
#                        run`, whose supervisor serves its calls)
# and these change where it runs:
#   /* mqt: shim-only    runs only in the configurations that load the shim (e.g. fault
#                        injection, which the plain kernel has no equivalent of); the first of
#                        them is the reference, and the test must check its own expectations
#                        (exit non-zero when they fail), since nothing independent is compared
#   /* mqt: skip-config NAME   does not run in configuration NAME (repeatable): the case is
#                        reported as skipped, never passed; the test's comment must say why.
#                        The reference configuration cannot be skipped.
#   /* mqt: env VAR=VALUE   adds VAR=VALUE to every configuration's environment (repeatable;
#                        e.g. MQSHIM_SYSCALLS=trap, which the plain kernel ignores)
# Markers combine: "/* mqt: shim-only skip-config shim-kernel */".
#
# Environment: MQSHIM_LIB (default target/release/libmqshim.so), MQT_JOBS (4),
# MQT_CASE_TIMEOUT (30 s per run), MQT_KEEP=1 keeps the per-run directory.

# ------------------------------------------------------------------------------------------
# Configurations, one per line: "name | environment". The first one is the reference.
# Tokens: @LIB@ = the shim library, @TRACE@ = a per-run trace file, @DIR@ = a fresh empty
# directory per run (under $TMPDIR, a disk here), @SHM_DIR@ = the same on tmpfs (under /dev/shm,
# where the emulation's namespace lives by default; @DIR@'s filesystem where there is none),
# @REDIS@ the MQSHIM_REDIS URL of a redis-server this script starts on
# loopback (scripts/redis-fixture.bash), with a key prefix (the namespace) of its own per run.
# A configuration that mentions @LIB@ is skipped when the library is missing, one that mentions
# @REDIS@ when redis-server is not installed or does not start (each case counted as skipped);
# one with MQSHIM_TRACE=@TRACE@ and MQSHIM_TRACE_FORMAT=jsonl has its trace checked.
# @STATIC@ = the test's static glibc build (marker "static"; @MUSL@: its static musl build),
# run as `mqshim run PROGRAM` (the
# command at $MQSHIM_BIN, default target/release/mqshim) with the configuration's variables;
# only tests with the marker run there. Its trace counts leave out mq_close, which a static
# program makes as close(2) (see static_count_mismatches).
CONFIGS=(
  "kernel        |"
  "shim-kernel   | LD_PRELOAD=@LIB@ MQSHIM_BACKEND=kernel MQSHIM_TRACE=@TRACE@ MQSHIM_TRACE_FORMAT=jsonl"
  "shim-emulate  | LD_PRELOAD=@LIB@ MQSHIM_BACKEND=emulate MQSHIM_DIR=@SHM_DIR@ MQSHIM_TRACE=@TRACE@ MQSHIM_TRACE_FORMAT=jsonl"
  "shim-redis    | LD_PRELOAD=@LIB@ MQSHIM_BACKEND=redis MQSHIM_REDIS=@REDIS@ MQSHIM_TRACE=@TRACE@ MQSHIM_TRACE_FORMAT=jsonl MQT_TIMEOUT=60"
  "static-kernel | @STATIC@ MQSHIM_BACKEND=kernel MQSHIM_TRACE=@TRACE@ MQSHIM_TRACE_FORMAT=jsonl"
  "static-musl   | @MUSL@ MQSHIM_BACKEND=kernel MQSHIM_TRACE=@TRACE@ MQSHIM_TRACE_FORMAT=jsonl"
  "static-emulate | @STATIC@ MQSHIM_BACKEND=emulate MQSHIM_DIR=@DIR@ MQSHIM_TRACE=@TRACE@ MQSHIM_TRACE_FORMAT=jsonl"
)
# (shim-redis: a call is a network round trip, ~1000x the kernel's, so a test's own watchdog —
# a stress round's, 20 s elsewhere — is 60 s there; the case timeout still bounds every case.)
# (shim-emulate runs on tmpfs, the namespace's default home, and static-emulate on $TMPDIR: both
# kinds of filesystem are exercised. Some races show on one only: threads of one process creating
# System V queues at once clobbered each other's files on tmpfs, never on ext4, where the kernel
# serialises a directory's changes.)
# ------------------------------------------------------------------------------------------

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$ROOT/target/c_tests
LIB=$(realpath -m "${MQSHIM_LIB:-$ROOT/target/release/libmqshim.so}")
MQSHIM=$(realpath -m "${MQSHIM_BIN:-$ROOT/target/release/mqshim}")
JOBS=${MQT_JOBS:-4}
KEEP=${MQT_KEEP:-0}
CASE_TIMEOUT=${MQT_CASE_TIMEOUT:-30}
# `--stress`: only the stress tests, each for MQT_STRESS_SECONDS (default 60) — `make stress`.
STRESS_SECONDS=${MQT_STRESS_SECONDS:-1}
if [[ ${1:-} == --stress ]]; then
  shift
  STRESS_SECONDS=${MQT_STRESS_SECONDS:-60}
  CASE_TIMEOUT=$((STRESS_SECONDS + 60))
  FILTER=${1:-stress}
  # Long runs are not traced: a minute of stress writes gigabytes of trace per case (the short
  # runs of `make test` check the traces).
  for i in "${!CONFIGS[@]}"; do
    CONFIGS[$i]=$(sed -E 's/ MQSHIM_TRACE=@TRACE@//; s/ MQSHIM_TRACE_FORMAT=jsonl//' <<<"${CONFIGS[$i]}")
  done
else
  FILTER=${1:-}
fi
CC=${CC:-cc}
CFLAGS=(-Wall -Wextra -Werror -O1 -pthread)
FORTIFY_CFLAGS=(-Wall -Wextra -Werror -O2 -D_FORTIFY_SOURCE=2 -pthread)

# The reference configuration must be the plain kernel: drop anything inherited.
unset LD_PRELOAD
for v in $(compgen -e); do
  case $v in MQSHIM_*|MQT_*) unset "$v" ;; esac
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mqt-run.XXXXXX")
if [[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs && -w /dev/shm ]]; then
  SHM=$(mktemp -d /dev/shm/mqt-run.XXXXXX)
else
  SHM=$TMP/shm
fi
cleanup_tmp() {
  if [[ $KEEP == 1 ]]; then echo "kept $TMP $SHM" >&2; else rm -rf "$TMP" "$SHM"; fi
}
trap cleanup_tmp EXIT
# Binaries are built into the run's own directory and run from there (another run may be
# rebuilding at the same time), then published to target/c_tests/ by atomic renames.
BIN=$TMP/bin
mkdir -p "$OUT/tools" "$BIN/tools" "$TMP/build" "$TMP/cases"
publish() {   # publish FILE RELATIVE-DEST
  local tmp="$OUT/.$(basename "$2").$BASHPID.tmp"
  cp -f "$1" "$tmp" && mv -f "$tmp" "$OUT/$2"
}

cfg_name() { local n=${1%%|*}; echo "${n//[[:space:]]/}"; }
cfg_env()  { local e=${1#*|}; echo "$e" | xargs; }
needs_lib() { [[ $1 == *@LIB@* ]]; }
needs_redis() { [[ $1 == *@REDIS@* ]]; }
needs_static() { [[ $1 == *@STATIC@* || $1 == *@MUSL@* ]]; }
# static_variant CFG: the build a static configuration runs (static or musl).
static_variant() { if [[ $1 == *@MUSL@* ]]; then echo musl; else echo static; fi; }
is_traced() { [[ $1 == *MQSHIM_TRACE=@TRACE@* && $1 == *MQSHIM_TRACE_FORMAT=jsonl* ]]; }
HAVE_LIB=0
[[ -f $LIB ]] && HAVE_LIB=1
HAVE_STATIC=0 STATIC_WHY="no $MQSHIM"
if [[ -x $MQSHIM && $HAVE_LIB == 1 ]]; then
  if echo 'int main(void){return 0;}' | "$CC" -static -x c - -o "$TMP/static-probe" 2>/dev/null; then HAVE_STATIC=1
  else STATIC_WHY="$CC -static does not link (no static libc)"; fi
fi
HAVE_MUSL=0 MUSL_WHY="no musl-gcc (apt-get install musl-tools)"
if [[ $HAVE_STATIC == 1 ]] && command -v musl-gcc >/dev/null; then
  if echo 'int main(void){return 0;}' | musl-gcc -static -x c - -o "$TMP/musl-probe" 2>/dev/null; then HAVE_MUSL=1
  else MUSL_WHY="musl-gcc -static does not link"; fi
fi
# The devmqueue tests mount a fresh mqueue filesystem at /dev/mqueue in a private mount
# namespace: the mount point must exist. systemd makes it at boot; a container or a minimal VM
# may have none, and a directory made from inside the private namespace would still be the
# machine's. So a root run makes the standard empty mount point here, where it is missing.
if [[ ! -e /dev/mqueue && $(id -u) == 0 ]]; then
  mkdir -m 0755 /dev/mqueue && echo "c_tests: made the missing mount point /dev/mqueue (the devmqueue tests mount mqueue there, privately)"
fi
# The Redis configurations' server: one for the whole run (each run has its own key prefix),
# started below once the tests are built, stopped by the fixture's EXIT trap.
HAVE_REDIS=0 REDIS_WHY=
WANT_REDIS=0
for cfg in "${CONFIGS[@]}"; do needs_redis "$cfg" && WANT_REDIS=1; done

# Throttle background jobs to $JOBS at a time.
# The Redis configurations' server is a job of this shell too (REDIS_PID): never waited for here.
# The running jobs are counted in this shell, from case_jobs's list: a pipeline inside a
# command substitution (`$(case_jobs | wc -l)`) sees no jobs (bash gives its parts a table of
# their own), so a count taken so was always 0 and every case started at once, MQT_JOBS or not.
case_jobs() { jobs -rp | grep -vx -e "${REDIS_PID:-none}"; }
throttle() { local running; while running=($(case_jobs)); (( ${#running[@]} >= JOBS )); do wait -n; done; }
wait_cases() { local p; for p in $(case_jobs); do wait "$p"; done; }

# ------------------------------------------------------------------------------------------
# Build

echo "c_tests: library $LIB ($([[ $HAVE_LIB == 1 ]] && echo present || echo absent))"
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }
elapsed() { local d=$(( $(now_us) - $1 )); printf '%d.%d s' $((d / 1000000)) $((d % 1000000 / 100000)); }
T0=$(now_us)

for tool in "$HERE"/tools/*.c; do
  "$CC" "${CFLAGS[@]}" "$tool" -o "$BIN/tools/$(basename "$tool" .c)" -lrt \
    || { echo "c_tests: cannot build $tool"; exit 2; }
  publish "$BIN/tools/$(basename "$tool" .c)" "tools/$(basename "$tool" .c)"
done

markers() { head -n 1 "$1" | sed -n 's@^/\* *mqt: *@@p' | sed 's@\*/.*@@'; }
has_marker() { [[ " $(markers "$1") " == *" $2 "* ]]; }
# skip_configs SRC: the configuration names after each "skip-config" marker, one per line.
skip_configs() { markers "$1" | awk '{ for (i = 1; i < NF; i++) if ($i == "skip-config") print $(i + 1) }'; }
# env_markers SRC: the VAR=VALUE words after each "env" marker, on one line.
env_markers() { markers "$1" | awk '{ for (i = 1; i < NF; i++) if ($i == "env") printf "%s ", $(i + 1) }'; }

LIBDIR=$(dirname "$LIB")
LIBBASE=$(basename "$LIB")
if [[ $LIBBASE == libmqshim.so ]]; then LINK_LIB=(-lmqshim); else LINK_LIB=("-l:$LIBBASE"); fi

# build_one NAME VARIANT: writes $TMP/build/NAME.VARIANT.{log,status}; status is ok|fail|skip
build_one() {
  local name=$1 variant=$2 src=$HERE/$1.c log=$TMP/build/$1.$2.log status=ok bin
  case $variant in
    plain)
      bin=$BIN/$name
      "$CC" "${CFLAGS[@]}" -I"$HERE" "$src" -o "$bin" -lrt >"$log" 2>&1 || status=fail ;;
    fortify)
      bin=$BIN/$name.fortify
      if "$CC" "${FORTIFY_CFLAGS[@]}" -I"$HERE" "$src" -o "$bin" -lrt >"$log" 2>&1; then
        if ! nm "$bin" | grep -q '__mq_open_2'; then
          echo "$bin does not reference __mq_open_2 (nm)" >>"$log"; status=fail
        fi
      else status=fail; fi ;;
    static)
      bin=$BIN/$name.static
      if [[ $HAVE_STATIC != 1 ]]; then status=skip
      else "$CC" "${CFLAGS[@]}" -static -I"$HERE" "$src" -o "$bin" -lrt >"$log" 2>&1 || status=fail; fi ;;
    musl)
      bin=$BIN/$name.musl
      if [[ $HAVE_MUSL != 1 ]]; then status=skip
      else musl-gcc "${CFLAGS[@]}" -static -I"$HERE" "$src" -o "$bin" -lrt >"$log" 2>&1 || status=fail; fi ;;
    linked)
      bin=$BIN/$name.linked
      if [[ $HAVE_LIB != 1 ]]; then status=skip
      elif [[ ! -f $ROOT/include/mqshim.h ]] && has_marker "$src" linked-only; then
        echo "include/mqshim.h is missing" >"$log"; status=fail
      elif "$CC" "${CFLAGS[@]}" -I"$HERE" -I"$ROOT/include" "$src" -o "$bin" \
             -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" "${LINK_LIB[@]}" -lrt >"$log" 2>&1; then
        if ! readelf -d "$bin" | grep 'NEEDED' | grep -q "$LIBBASE"; then
          echo "$bin does not need $LIBBASE (readelf -d)" >>"$log"; status=fail
        fi
      else status=fail; fi ;;
  esac
  echo "$status" >"$TMP/build/$name.$variant.status"
  [[ $status == ok ]] && publish "$bin" "$(basename "$bin")"
}

TESTS=()
for src in "$HERE"/*.c; do
  name=$(basename "$src" .c)
  [[ -n $FILTER && $name != *"$FILTER"* ]] && continue
  TESTS+=("$name")
done

declare -A VARIANTS SHIM_ONLY SKIP_CFGS EXTRA_ENV
for name in "${TESTS[@]}"; do
  src=$HERE/$name.c
  SHIM_ONLY[$name]=0
  EXTRA_ENV[$name]=$(env_markers "$src")
  has_marker "$src" shim-only && SHIM_ONLY[$name]=1
  SKIP_CFGS[$name]=" $(skip_configs "$src" | xargs) "
  if has_marker "$src" linked-only; then v="linked"
  else
    v="plain"
    has_marker "$src" fortify && v+=" fortify"
    has_marker "$src" linked && v+=" linked"
    has_marker "$src" static && v+=" static musl"
  fi
  VARIANTS[$name]=$v
  for variant in $v; do throttle; build_one "$name" "$variant" & done
done
wait_cases

echo "c_tests: built ${#TESTS[@]} tests in $(elapsed "$T0")"
if [[ $WANT_REDIS == 1 && $HAVE_LIB == 1 ]]; then
  source "$ROOT/scripts/redis-fixture.bash"
  fixture_init "$TMP/redis"
  FIXTURE_CLEANUP+=(cleanup_tmp)
  if redis_start 2>"$TMP/redis.err"; then
    HAVE_REDIS=1
    echo "c_tests: $REDIS_SERVER $("$REDIS_SERVER" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT"
  else
    REDIS_WHY="no redis-server ($(tail -n 1 "$TMP/redis.err"))"
    echo "c_tests: $REDIS_WHY: the Redis configuration's cases are skipped"
  fi
fi
T1=$(now_us)

# ------------------------------------------------------------------------------------------
# Run

# run_case DIR BIN ENV: runs BIN once in DIR with the configuration's environment.
run_case() {
  local dir=$1 bin=$2 envstr=$3
  mkdir -p "$dir/state"
  local e=${envstr//@LIB@/$LIB}
  e=${e//@TRACE@/$dir/trace.jsonl}
  e=${e//@DIR@/$dir/state}
  if [[ $e == *@SHM_DIR@* ]]; then
    mkdir -p "$SHM/$(basename "$dir")"
    e=${e//@SHM_DIR@/$SHM/$(basename "$dir")}
  fi
  [[ $e == *@REDIS@* ]] && e=${e//@REDIS@/$(redis_url "mqt-$$-$(basename "$dir")")}
  local -a assigns=() runner=()
  if needs_static "$e"; then e=${e//@STATIC@/}; e=${e//@MUSL@/}; runner=("$MQSHIM" run --); fi
  read -ra assigns <<<"$e"
  (cd "$dir" && exec timeout -k 5 "$CASE_TIMEOUT" env "${assigns[@]}" \
     MQT_RUNID="$$-$(basename "$dir")" MQT_CALLS="$dir/calls" MQT_CLEANUP="$dir/cleanup" \
     MQT_STRESS_SECONDS="$STRESS_SECONDS" \
     "${runner[@]}" "$bin" >"$dir/out" 2>"$dir/err" </dev/null)
  echo $? >"$dir/rc"
  # Safety net: remove kernel queues the test left behind (reported as a failure).
  # (Not for the emulation and Redis: their queues live in the run's own namespace.)
  if [[ -s $dir/cleanup && $e != *MQSHIM_BACKEND=emulate* && $e != *MQSHIM_BACKEND=redis* ]]; then
    "$BIN/tools/mqt_cleanup" "$dir/cleanup" >"$dir/leftovers" 2>&1
  fi
}

# Case table: index -> "test variant config-index"
CASES=()
SKIPPED_CASES=()
declare -A SKIP_WHY         # skipped case label -> why
declare -A BAD_MARKER       # test -> why its markers are unusable
for name in "${TESTS[@]}"; do
  for variant in ${VARIANTS[$name]}; do
    for ci in "${!CONFIGS[@]}"; do
      cfg=${CONFIGS[$ci]}
      cname=$(cfg_name "$cfg")
      if [[ $variant == linked ]] && ! needs_lib "$cfg"; then continue; fi
      # Static builds run in the static configurations, and only they do.
      if needs_static "$cfg"; then [[ $variant == "$(static_variant "$cfg")" ]] || continue
      else [[ $variant != static && $variant != musl ]] || continue; fi
      if [[ ${SHIM_ONLY[$name]} == 1 ]] && ! needs_lib "$cfg" && ! needs_static "$cfg"; then continue; fi
      if [[ ${SKIP_CFGS[$name]} == *" $cname "* ]]; then
        if [[ $ci == 0 && ${SHIM_ONLY[$name]} != 1 ]]; then
          BAD_MARKER[$name]="skip-config $cname: the reference configuration cannot be skipped"
        else
          SKIPPED_CASES+=("$name.$variant [$cname]")
          SKIP_WHY["$name.$variant [$cname]"]="skip-config marker (the test's comment says why)"
          continue
        fi
      fi
      if needs_lib "$cfg" && [[ $HAVE_LIB != 1 ]]; then
        SKIP_WHY["$name.$variant [$cname]"]="no library"
        SKIPPED_CASES+=("$name.$variant [$(cfg_name "$cfg")]"); continue
      fi
      if [[ $variant == musl && $HAVE_MUSL != 1 ]]; then
        SKIP_WHY["$name.$variant [$cname]"]=$MUSL_WHY
        SKIPPED_CASES+=("$name.$variant [$cname]"); continue
      fi
      if needs_static "$cfg" && [[ $HAVE_STATIC != 1 ]]; then
        SKIP_WHY["$name.$variant [$cname]"]=$STATIC_WHY
        SKIPPED_CASES+=("$name.$variant [$cname]"); continue
      fi
      if needs_redis "$cfg" && [[ $HAVE_REDIS != 1 ]]; then
        SKIP_WHY["$name.$variant [$cname]"]=$REDIS_WHY
        SKIPPED_CASES+=("$name.$variant [$(cfg_name "$cfg")]"); continue
      fi
      CASES+=("$name $variant $ci")
    done
  done
done

for idx in "${!CASES[@]}"; do
  read -r name variant ci <<<"${CASES[$idx]}"
  [[ $(cat "$TMP/build/$name.$variant.status") == ok ]] || continue
  envstr="$(cfg_env "${CONFIGS[$ci]}") ${EXTRA_ENV[$name]}"
  if [[ $variant == linked ]]; then          # linked builds get the shim from DT_NEEDED
    envstr=$(echo "$envstr" | sed -E 's/(^| )LD_PRELOAD=[^ ]*//')
  fi
  case $variant in plain) bin=$BIN/$name ;; *) bin=$BIN/$name.$variant ;; esac
  throttle
  run_case "$TMP/cases/$idx" "$bin" "$envstr" &
done
wait_cases

echo "c_tests: ran ${#CASES[@]} cases in $(elapsed "$T1")"
T2=$(now_us)

# ------------------------------------------------------------------------------------------
# Compare

PASSED=0 FAILED=0 SKIPPED=${#SKIPPED_CASES[@]}

indent() { sed 's/^/    /'; }

# counts_expected DIR / counts_traced DIR: "name count" lines, sorted (mqshim's own calls too:
# the scheduled-message calls are traced like the rest, and counted by mqt_shim.h's wrappers)
counts_expected() {
  grep -v '^#' "$1/calls" 2>/dev/null | awk '{c[$1]+=$2} END {for (k in c) print k, c[k]}' | sort
}
# static_count_mismatches DIR: a static configuration's check, one line per call whose records
# do not fit the test's count. The supervisor sees system calls: mq_send and mq_timedsend are
# one call (as are the receives), and mq_close is close(2): a test's close(2) of a queue
# descriptor is recorded as an mq_close too, and its mq_close of something else (EBADF) is a
# close of no queue descriptor, not recorded, so mq_close is not counted here
# (cli_tests/run_static_supervised.sh and the notes' programs check its records). A call a signal ends is
# recorded with EINTR even when the kernel then restarts it (SA_RESTART, a stop signal), and the
# restarted call is recorded again, as strace shows such a call: so the records that did not
# end in EINTR must be at most the test's count, and all of them at least. But a signal that
# comes before mqshim has read the call's notification ends the call in the kernel (EINTR, or
# a restart mqshim then sees): such a call is never seen, so every EINTR the test itself shows
# for a call may stand for a missing record.
static_count_mismatches() {
  local merge='{ sub(/^mq_send$/, "mq_timedsend", $1); sub(/^mq_receive$/, "mq_timedreceive", $1) }'
  {
    grep -v '^#' "$1/calls" 2>/dev/null \
      | awk "$merge"' $1 != "mq_close" { e[$1] += $2 } END { for (k in e) print "expected", k, e[k] }'
    sed -nE 's/^([^(|]*\|)?[[:space:]]*([a-z_]+)\(.*-> -1 EINTR.*/\2/p' "$1/out" 2>/dev/null \
      | awk "$merge"' { print "interrupted", $1 }'
    grep -o '"call": *"[^"]*".*"errno": *[^,]*' "$1/trace.jsonl" 2>/dev/null \
      | sed -E 's/^"call": *"([^"]*)".*"errno": *"?([^",]*)"?$/\1 \2/' \
      | awk "$merge"' { print "traced", $1, $2 }'
  } | awk '
  $1 == "expected" { e[$2] = $3; names[$2] = 1 }
  $1 == "traced" { t[$2]++; if ($3 == "EINTR") i[$2]++; names[$2] = 1 }
  $1 == "interrupted" { seen[$2]++ }
  END { for (k in names) if (k != "mq_close" && (t[k] - i[k] > e[k] + 0 || t[k] + seen[k] < e[k] + 0))
          printf "%s: the test counted %d, %d records (%d ended by a signal)\n", k, e[k], t[k], i[k] }' | sort
}
counts_traced() {
  grep -o '"call": *"[^"]*"' "$1/trace.jsonl" 2>/dev/null | sed 's/.*"\([^"]*\)"$/\1/' \
    | sort | uniq -c | awk '{print $2, $1}' | sort
}

# check_case IDX REF_IDX: prints the failure details and returns 1 on failure.
check_case() {
  local idx=$1 ref=$2 d=$TMP/cases/$1 r=$TMP/cases/$2 why=()
  read -r name variant ci <<<"${CASES[$idx]}"
  local cfg=${CONFIGS[$ci]} label="$name.$variant [$(cfg_name "${CONFIGS[$ci]}")]"
  label=${label/.plain /' '}
  if [[ ! -f $d/rc ]]; then
    echo "FAIL-CASE $label: build failed"
    indent <"$TMP/build/$name.$variant.log" | head -n 30
    return 1
  fi
  local rc rrc; rc=$(cat "$d/rc"); rrc=$(cat "$r/rc" 2>/dev/null || echo none)
  if [[ $idx == "$ref" ]]; then
    if [[ ${SHIM_ONLY[$name]} == 1 ]]; then
      [[ $rc == 0 ]] || why+=("exit $rc: the test's own expectations failed (shim-only: this configuration is the reference)")
    else
      [[ $rc == 0 ]] || why+=("exit $rc: the kernel does not behave as the test pins")
    fi
  else
    [[ -f $r/rc ]] || why+=("no reference run")
    [[ $rc == "$rrc" ]] || why+=("exit $rc, reference exit $rrc")
    cmp -s "$d/out" "$r/out" || why+=("transcript differs from the reference")
  fi
  [[ -s $d/leftovers ]] && why+=("left queues behind")
  local traced=0 count_diff=""
  if is_traced "$cfg" && ! grep -q '^# uncounted' "$d/calls" 2>/dev/null; then
    traced=1
    if needs_static "$cfg"; then
      count_diff=$(static_count_mismatches "$d" | sed 's/^/< /')
    else
      count_diff=$(diff <(counts_expected "$d") <(counts_traced "$d"))
    fi
    [[ -n $count_diff ]] && why+=("trace record counts differ from the test's call counts")
  fi
  (( ${#why[@]} == 0 )) && return 0
  local joined
  printf -v joined '%s; ' "${why[@]}"
  echo "FAIL-CASE $label: ${joined%; }"
  if [[ $idx != "$ref" ]] && ! cmp -s "$d/out" "$r/out"; then
    diff -u --label reference --label "$label" "$r/out" "$d/out" | head -n 60 | indent
  elif [[ $idx == "$ref" ]]; then
    grep -e 'MISMATCH' -e 'TIMEOUT' -e 'HARNESS' "$d/out" | head -n 20 | indent
  fi
  [[ -s $d/leftovers ]] && indent <"$d/leftovers"
  if [[ -n $count_diff ]]; then
    echo "    call counts (< test's count, > trace records):"
    echo "$count_diff" | grep '^[<>]' | indent
  fi
  [[ -s $d/err ]] && { echo "    stderr (tail):"; tail -n 5 "$d/err" | indent; }
  if [[ $traced == 1 && -s $d/trace.jsonl ]]; then
    echo "    trace (tail):"; tail -n 5 "$d/trace.jsonl" | cut -c1-300 | indent
  fi
  return 1
}

for name in "${TESTS[@]}"; do
  ref=""
  for idx in "${!CASES[@]}"; do
    read -r n variant ci <<<"${CASES[$idx]}"
    [[ $n == "$name" ]] || continue
    if [[ -z $ref ]] && { [[ $variant == plain && $ci == 0 ]] || [[ ${VARIANTS[$name]} == linked ]] \
                          || [[ ${SHIM_ONLY[$name]} == 1 ]]; }; then
      ref=$idx
    fi
  done
  total=0 bad=0
  if [[ -n ${BAD_MARKER[$name]:-} ]]; then
    echo "FAIL-CASE $name: ${BAD_MARKER[$name]}"
    FAILED=$((FAILED + 1)); bad=$((bad + 1)); total=$((total + 1))
  fi
  for idx in "${!CASES[@]}"; do
    read -r n variant ci <<<"${CASES[$idx]}"
    [[ $n == "$name" ]] || continue
    total=$((total + 1))
    if check_case "$idx" "${ref:-$idx}"; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); bad=$((bad + 1)); fi
  done
  nskip=0 skipwhy=""
  for s in "${SKIPPED_CASES[@]}"; do
    [[ $s == "$name."* ]] || continue
    nskip=$((nskip + 1)); skipwhy=${SKIP_WHY[$s]:-}
    [[ ${SKIP_WHY[$s]:-} == "no library" || ( -n $REDIS_WHY && ${SKIP_WHY[$s]:-} == "$REDIS_WHY" ) ]] || echo "SKIP-CASE ${s/.plain /' '}: ${SKIP_WHY[$s]:-skipped}"
  done
  skipnote=""; (( nskip )) && skipnote=", $nskip skipped"
  if (( total == 0 )); then echo "SKIP $name ($nskip skipped: ${skipwhy:-no library})"
  elif (( bad )); then echo "FAIL $name ($bad of $total cases failed$skipnote)"
  else echo "PASS $name ($total cases$skipnote)"; fi
done

# ------------------------------------------------------------------------------------------
# Seed programs (serial: they use fixed queue names and keys)

SEEDS_LOG=$TMP/seeds.log
MQT_CONFIGS=$(printf '%s\n' "${CONFIGS[@]}") MQT_REDIS_PORT=$([[ $HAVE_REDIS == 1 ]] && echo "$REDIS_PORT") \
MQSHIM_LIB=$LIB MQT_TMP=$TMP/seeds MQT_CASE_TIMEOUT=$CASE_TIMEOUT MQT_TOOLS=$BIN/tools \
  bash "$HERE/seeds.sh" "$FILTER" | tee "$SEEDS_LOG" | grep -v '^seeds: '
summary=$(grep '^seeds: ' "$SEEDS_LOG" | tail -n 1)
echo "c_tests: compared and ran the seed scenarios in $(elapsed "$T2")"
if [[ $summary =~ ^seeds:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
  PASSED=$((PASSED + BASH_REMATCH[1]))
  FAILED=$((FAILED + BASH_REMATCH[2]))
  SKIPPED=$((SKIPPED + ${BASH_REMATCH[4]:-0}))
else
  echo "FAIL seeds.sh gave no summary line"
  FAILED=$((FAILED + 1))
fi

line="c_tests: $PASSED passed, $FAILED failed"
(( SKIPPED )) && line+=", $SKIPPED skipped"
echo "$line"
(( FAILED == 0 ))
