#!/usr/bin/env bash
# bench/run.sh — build mqbench and compare mqshim configurations against the kernel.
#
#   bench/run.sh              full table (~2.5 min on a quiet machine), then the control rows
#   bench/run.sh --quick      short version (~20 s)
#   bench/run.sh --noise      kernel against itself (A/A), 5 reps: the noise floor
#   bench/run.sh --control    only the control path and memory rows, kernel vs emulation (~40 s)
#   bench/run.sh --help       all options
#
# Each benchmark runs in every configuration, configurations interleaved (rotated) and the
# whole sweep repeated --reps times, so slow phases of the machine hit all configurations
# alike.  Value columns: median over the repetitions; derived columns: best repetition (see
# the legend under the table and bench/README.md).  Raw RESULT lines: target/bench/<stamp>/.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIB=${MQSHIM_LIB:-$ROOT/target/release/libmqshim.so}
case $LIB in /*) ;; *) LIB=$(pwd)/$LIB ;; esac
BIN=$ROOT/target/bench/mqbench

# ---- configurations: one line each ---------------------------------------------------------
# name        default  environment of mqbench, expanded for each run (keep the single quotes):
#                      $LIB = the library, $RUN_TMP = a fresh directory deleted after the run.
#                      Every MQSHIM_* variable and LD_PRELOAD of the caller is removed first.
CONFIGS=(
  'kernel      yes  '
  'kernel-aa   full '
  'shim        yes  LD_PRELOAD=$LIB MQSHIM_BACKEND=kernel'
  'shim+trace  yes  LD_PRELOAD=$LIB MQSHIM_BACKEND=kernel MQSHIM_TRACE=$RUN_TMP/trace.txt MQSHIM_TRACE_FORMAT=text'
  'shim+collect yes MQSHIM_BACKEND=kernel $ROOT/target/release/mqshim trace --lib $LIB --buffer-size 256m -o $RUN_TMP/trace.txt --'
  'emulate     yes  LD_PRELOAD=$LIB MQSHIM_BACKEND=emulate MQSHIM_DIR=$(mktemp -d -p "$SHM_ROOT" emu.XXXX) MQSHIM_LIMITS=msg_max=65536,rlimit_msgqueue=1g,msgmnb=64m'
  'emulate-trap yes LD_PRELOAD=$LIB MQSHIM_BACKEND=emulate MQSHIM_SYSCALLS=trap MQSHIM_DIR=$(mktemp -d -p "$SHM_ROOT" emu.XXXX) MQSHIM_LIMITS=msg_max=65536,rlimit_msgqueue=1g,msgmnb=64m'
  'static      full BENCH_MQSHIM=$ROOT/target/release/mqshim MQSHIM_BACKEND=kernel sh -c '\''exec "$BENCH_MQSHIM" run -- "$0.static" "$@"'\'''
  'static-emulate full BENCH_MQSHIM=$ROOT/target/release/mqshim MQSHIM_BACKEND=emulate MQSHIM_DIR=$(mktemp -d -p "$SHM_ROOT" emu.XXXX) MQSHIM_LIMITS=msg_max=65536,rlimit_msgqueue=1g,msgmnb=64m sh -c '\''exec "$BENCH_MQSHIM" run -- "$0.static" "$@"'\'''
  'redis       full LD_PRELOAD=$LIB MQSHIM_BACKEND=redis MQSHIM_REDIS="$REDIS_LOOPBACK" $IN_A'
  'redis-veth  full LD_PRELOAD=$LIB MQSHIM_BACKEND=redis MQSHIM_REDIS="$REDIS_VETH" $IN_B'
  'trace-shm   no   LD_PRELOAD=$LIB MQSHIM_BACKEND=kernel MQSHIM_TRACE=shm,size=1g:$RUN_TMP'
  'trace-null  no   LD_PRELOAD=$LIB MQSHIM_BACKEND=kernel MQSHIM_TRACE=/dev/null MQSHIM_TRACE_FORMAT=text'
  'trace-jsonl no   LD_PRELOAD=$LIB MQSHIM_BACKEND=kernel MQSHIM_TRACE=$RUN_TMP/trace.jsonl MQSHIM_TRACE_FORMAT=jsonl'
)
# default: yes; full = not in --quick; no = only when named in --configs.
# kernel-aa: the kernel again, an A/A control: its difference from kernel is each row's noise.
# emulate-trap: the emulation with MQSHIM_SYSCALLS=trap: its *_raw micro rows are trapped calls
# (the *_raw rows of emulate and redis read "unsupported": without the trap those calls reach the
# kernel, which does not know an emulated queue; on kernel and shim they are the kernel's calls).
# static: mqbench linked -static (glibc), run by `mqshim run` under the kernel backend: every
# queue call is a supervised call (a seccomp notification served by mqshim's supervisor, which
# makes the call on the program's behalf), i.e. what a statically linked program pays.
# static-emulate: the same under the emulation (the supervisor makes each call with the
# emulation, adopting its copy of the program's descriptor for each POSIX call).
# trace-null: tracing without the file write (the formatting alone); trace-jsonl: the other format.
# trace-shm: records into a shared-memory buffer nobody drains (1 GiB: nothing dropped in a run),
# i.e. the traced process's own cost without the collector working beside it on the other CPU.
# shim+collect: `mqshim trace` (shared-memory buffers, the collector formatting in its own process),
# with buffers large enough that nothing is dropped in a run (a benchmark calls faster than the
# collector formats; a dropped record costs less than a kept one, so drops would flatter the row);
# a configuration's words after its variables are a command that runs mqbench (env runs it).
# redis, redis-veth: the Redis backend against a redis-server this script starts
# (scripts/redis-fixture.bash) on "host A", a network namespace; redis runs mqbench on host A
# against 127.0.0.1 (loopback), redis-veth on host B, a second namespace joined to A by a veth
# pair, so every request crosses it (skipped where namespaces cannot be made). Their own key
# prefix each; the probe must leave keys under it, i.e. Redis really served the calls.
BASE=kernel            # ratios are against this configuration
AA=kernel-aa           # identical to $BASE: its difference from $BASE is the noise floor
SHIM=shim              # "shim vs kernel" column (target: within 3 %)
TRACE=shim+trace       # "trace +ns/call" column: this configuration against $SHIM (target: < 1000)
COLLECT=shim+collect   # "collect+ns" column: `mqshim trace` against $SHIM (target: <= 150, goal <= 100)

# ---- benchmarks: one line each -------------------------------------------------------------
# sets: f = full run, q = --quick, x = only with --all; d = needs a deep queue (65536 messages:
#       only under emulation; on the kernel, maxmsg is capped at 10 and the row reads
#       "unsupported"; SysV needs msg_qbytes above msgmnb, i.e. emulated limits)
BENCHES=(
  'fq  stream   --api posix --size 64   --placement cross'
  'f   stream   --api posix --size 64   --placement same'
  'x   stream   --api posix --size 64   --placement unpinned'
  'fq  stream   --api posix --size 4096 --placement cross'
  'f   stream   --api posix --size 4096 --placement same'
  'fq  stream   --api sysv  --size 64   --placement cross'
  'f   stream   --api sysv  --size 64   --placement same'
  'x   stream   --api sysv  --size 64   --placement unpinned'
  'fq  stream   --api sysv  --size 4096 --placement cross'
  'f   stream   --api sysv  --size 4096 --placement same'
  'f   pingpong --api posix --size 64   --placement cross'
  'fq  pingpong --api posix --size 64   --placement same'
  'f   pingpong --api posix --size 64   --placement unpinned'
  'x   pingpong --api posix --size 4096 --placement cross'
  'f   pingpong --api posix --size 4096 --placement same'
  'f   pingpong --api sysv  --size 64   --placement cross'
  'fq  pingpong --api sysv  --size 64   --placement same'
  'x   pingpong --api sysv  --size 4096 --placement cross'
  'f   pingpong --api sysv  --size 4096 --placement same'
  'fq  micro    --op mq_eagain'
  'fq  micro    --op mq_getattr'
  'fq  micro    --op mq_sendrecv'
  'fq  micro    --op msg_enomsg'
  'fq  micro    --op msg_ipcstat'
  'fq  micro    --op msg_sendrecv'
  'fq  micro    --op getppid'
  'fq  micro    --op mq_getattr_raw'
  'fq  micro    --op mq_fstat'
  'f   micro    --op dup_close'
  'f   micro    --op mq_sendrecv_raw'
  'f   micro    --op msg_sendrecv_raw'
  'fd  stream   --api posix --size 64   --placement cross --maxmsg 65536 --random-prio'
  'fqd stream   --api posix --size 64   --placement cross --maxmsg 65536 --random-prio --fill-first'
  'x   stream   --api posix --size 4096 --placement unpinned'
  'x   stream   --api sysv  --size 4096 --placement unpinned'
  'x   pingpong --api sysv  --size 64   --placement unpinned'
  'x   stream   --api sysv  --size 64   --placement cross --maxmsg 65536 --random-prio --fill-first'
)

# ---- control path and memory: kernel vs emulation, run after the table above ----------------
# mqbench control: open/close and create/remove at 0 and at CTL_EXISTING other queues of the
# same API; mqbench memory: KiB per queue holding one message.  The kernel rows run in a fresh
# IPC namespace (unshare --ipc: queues_max and msgmni are per namespace and root may raise
# them; nothing is left on the host), the emulation's in a fresh MQSHIM_DIR with its limits
# raised to match.  Full runs and --control only (not --quick, --noise or --only).
CTL_EXISTING=${CTL_EXISTING:-10000}      # other queues for the second set of control rows
CTL_SETUP_SECONDS=${CTL_SETUP_SECONDS:-15}  # at most this long creating them (per run)
CTL_COUNT=${CTL_COUNT:-256}              # ops per control row (batches of 16)
MEM_COUNT_POSIX=${MEM_COUNT_POSIX:-500}  # queues per memory round (5 rounds, median)
MEM_COUNT_SYSV=${MEM_COUNT_SYSV:-2000}
CTL_NS_SETUP='echo 20000 >/proc/sys/fs/mqueue/queues_max && echo 32000 >/proc/sys/kernel/msgmni'
CTL_EMU_LIMITS=queues_max=20000,msgmni=32000,rlimit_msgqueue=1g

usage() {
  cat <<EOF
usage: bench/run.sh [--quick | --noise] [options]
  --quick           short benchmark set, --seconds 0.15, --reps 2, no kernel-aa (~20 s)
  --control         only the control-path and memory rows (kernel and emulate, ~40 s);
                    full runs add them after the table (not --quick, --noise, --only)
  --all             also the benchmark lines marked x (unpinned rows, 4 KiB cross ping-pong,
                    SysV deep queue)
  --noise           kernel against an identical copy of itself (configs kernel,kernel-aa),
                    full set unless --quick, --reps 5: shows run-to-run spread and the A/A
                    difference, i.e. how small a difference the table can resolve
  --reps N          repetitions of the whole sweep (default 4; --quick 2, --noise 5)
  --seconds S       timed duration of each run (default 0.3)
  --configs A,B     configurations to run (default: those marked yes, and full unless --quick)
  --only REGEX      only benchmark lines matching REGEX (e.g. 'pingpong|eagain')
  --out DIR         where raw results go (default target/bench/<timestamp>)
  --stat value|fast which figure of each run the table uses: value (default) = the run's
                    throughput / median latency; fast = the run's fast state (stream: p90
                    of 512-message windows; pingpong, micro: p10), less exposed to the VM's
                    slow phases (see bench/README.md)
  --report RAWFILE  print the table of an earlier run (with --stat) and exit
environment: MQSHIM_LIB (library path; default target/release/libmqshim.so), CC, CFLAGS,
  OTHER_MAX (default 15: a run during which other processes used more than this % of the
  CPUs is repeated, up to twice, after waiting for quiet; not any more once the whole run
  took twice its expected time; each raw line records other=<%>),
  CTL_EXISTING (10000), CTL_SETUP_SECONDS (15: cap on creating them), CTL_COUNT (256 ops
  per control row), MEM_COUNT_POSIX (500), MEM_COUNT_SYSV (2000)
configurations: $(for c in "${CONFIGS[@]}"; do printf '%s ' "${c%% *}"; done)
EOF
}

MODE=full REPS= DUR= ONLY= OUT= SEL= STAT=value REPORT= CONTROL=
while (($#)); do
  case $1 in
    --quick) MODE=quick ;;
    --control) CONTROL=only ;;
    --all) ALL=1 ;;
    --noise) NOISE=1 ;;
    --reps) REPS=$2; shift ;;
    --seconds) DUR=$2; shift ;;
    --configs) SEL=${2//,/ }; shift ;;
    --only) ONLY=$2; shift ;;
    --out) OUT=$2; shift ;;
    --stat) STAT=$2; shift ;;
    --report) REPORT=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
NOISE=${NOISE:-0}
if ((NOISE)); then
  SEL=${SEL:-kernel kernel-aa}; REPS=${REPS:-5}
fi
if [[ $MODE == quick ]]; then REPS=${REPS:-2}; DUR=${DUR:-0.15}; SET=q; else SET=f; fi
if [[ $CONTROL == only ]]; then SEL=${SEL:-kernel emulate}
elif [[ $MODE == full && $NOISE == 0 && -z $ONLY ]]; then CONTROL=also; fi
REPS=${REPS:-4}; DUR=${DUR:-0.3}
[[ $STAT == value || $STAT == fast ]] || { echo "run.sh: --stat value|fast" >&2; exit 2; }

# ---- report: the table from a raw file -----------------------------------------------------
report() {  # $1 = raw file
  local cfgs
  cfgs=$(sed -n 's/^# configs: //p' "$1" | tail -n1)
  awk -v cfgs="$cfgs" -v base="$BASE" -v shim="$SHIM" -v trace="$TRACE" -v collect="$COLLECT" -v stat="$STAT" -v othermax="${OTHER_MAX:-15}" -v aacfg="$AA" \
      -v reps="$(sed -n 's/^# mode=.* reps=\([0-9]*\).*/\1/p' "$1" | tail -n1)" \
      -v noise="$(sed -n 's/^# mode=.* noise=\([01]\).*/\1/p' "$1" | tail -n1)" -f <(cat <<'AWK'
# Input: raw lines "<config> <rep> RESULT k=v ...".  Two figures per run: value= (throughput,
# or median latency) and fast= (the run's fast state).  `stat` picks the one shown in the value
# columns (median over the runs); the derived columns use the best run's fast figure, which A/A
# runs show to be stable to ~1% here for single-CPU benchmarks (bench/README.md).
function sortlist(s, a,   n, i, j, t) {
  n = split(s, a, " ")
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
  return n
}
function med(s,   a, n) { n = sortlist(s, a); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
function spread(s,   a, n, m) { n = sortlist(s, a); m = med(s); return m ? (a[n] - a[1]) / m * 100 : 0 }
function lowest(s,   a) { sortlist(s, a); return a[1] }
function highest(s,   a, n) { n = sortlist(s, a); return a[n] }
function count(s,   a) { return split(s, a, " ") }
function best(s, u) { return u == "msg/s" ? highest(s) : lowest(s) }
function human(v, u) {
  if (v == "") return "n/a"
  if (u == "msg/s") return v >= 1e6 ? sprintf("%.3fM", v / 1e6) : sprintf("%.1fk", v / 1e3)
  return v >= 1e4 ? sprintf("%.1fk", v / 1e3) : v >= 100 ? sprintf("%.0f", v) : sprintf("%.1f", v)
}
function nsop(v, u) { return u == "msg/s" ? 1e9 / v : v }      # ns per op, whatever the unit
function isort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } }
BEGIN { nc = split(cfgs, cn, " ") }
/^#/ || NF < 3 { next }
{
  delete f
  for (i = 3; i <= NF; i++) { p = index($i, "="); if (p) f[substr($i, 1, p - 1)] = substr($i, p + 1) }
  cfg = $1; key = f["name"] "/" f["placement"]
  if (f["bench"] == "control" || f["bench"] == "memory") next     # control_report's rows
  if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
  if (f["status"] == "ok") {
    shown = (stat == "fast" && f["fast"] != "") ? f["fast"] : f["value"]
    ff = f["fast"] != "" ? f["fast"] : f["value"]
    if (f["other"] + 0 > othermax) {        # another job ran meanwhile: used only if nothing else
      dirty++; dvals[key, cfg] = dvals[key, cfg] " " shown; dfast[key, cfg] = dfast[key, cfg] " " ff
    } else {
      vals[key, cfg] = vals[key, cfg] " " shown; fast[key, cfg] = fast[key, cfg] " " ff
    }
    unit[key] = f["unit"]; calls[key] = f["calls"]
  } else if (!((key, cfg) in why)) why[key, cfg] = f["status"]
}
END {
  if (nk == 0) exit                       # a --control run: only control_report has rows
  for (kc in dvals) if (vals[kc] == "") { vals[kc] = dvals[kc]; fast[kc] = dfast[kc]; dirtyused++ }
  if (noise == 1) {
    printf "%-34s %-7s %10s %10s %10s %8s %5s %9s %9s %9s\n", "benchmark", "unit", "median", "min", "max",
           "spread%", "runs", "A/A%", "A/A fast%", "A/A best%"
    for (k = 1; k <= nk; k++) {
      key = order[k]; u = unit[key]; all = ""; allf = ""
      for (c = 1; c <= nc; c++) { all = all vals[key, cn[c]]; allf = allf fast[key, cn[c]] }
      if (all == "") { printf "%-34s %s\n", key, "n/a"; continue }
      sp = spread(all); sps[++ns] = sp; spf[ns] = spread(allf)
      aa = aaf = "-"
      if (nc >= 2 && vals[key, cn[1]] != "" && vals[key, cn[2]] != "") {
        d = nsop(med(vals[key, cn[2]]), u) / nsop(med(vals[key, cn[1]]), u) - 1
        df = nsop(med(fast[key, cn[2]]), u) / nsop(med(fast[key, cn[1]]), u) - 1
        db = nsop(best(fast[key, cn[2]], u), u) / nsop(best(fast[key, cn[1]], u), u) - 1
        aa = sprintf("%+.1f", d * 100); aaf = sprintf("%+.1f", df * 100); aab = sprintf("%+.1f", db * 100)
        aas[++na] = (d < 0 ? -d : d) * 100; aasf[na] = (df < 0 ? -df : df) * 100; aasb[na] = (db < 0 ? -db : db) * 100
        g = key ~ /\/same$/ ? 1 : 2; grp[g, ++gn[g]] = aasb[na]; gs[g, gn[g]] = sp
      }
      printf "%-34s %-7s %10s %10s %10s %8.1f %5d %9s %9s %9s\n", key, u, human(med(all), u),
             human(lowest(all), u), human(highest(all), u), sp, count(all), aa, aaf, aab
    }
    if (dirty) printf "note: %d runs shared the CPUs with another job (other > %d%%) and were left out%s.\n", dirty, othermax, dirtyused ? sprintf(" except in %d cells that had no other run", dirtyused) : ""
    isort(sps, ns); isort(spf, ns); isort(aas, na); isort(aasf, na); isort(aasb, na)
    printf "\nmedian, min, max, spread%% = (max-min)/median: over all runs of %s (figure: %s).\n", cfgs, stat
    printf "A/A%% = time per op of %s's median against %s's (value figure; A/A fast%%: fast figure):\n", cn[2], cn[1]
    printf "what a 'shim vs kernel' column shows when nothing differs.\n"
    printf "A/A best%%: the same with the best run's fast figure (best of N) instead of the median.\n"
    printf "Median over benchmarks: spread %.1f%% (fast figure %.1f%%); |A/A| %.1f%%, fast %.1f%%, best %.1f%%;\n",
           sps[int((ns + 1) / 2)], spf[int((ns + 1) / 2)], aas[int((na + 1) / 2)], aasf[int((na + 1) / 2)], aasb[int((na + 1) / 2)]
    printf "largest |A/A| %.1f%%, fast %.1f%%, best %.1f%%.\n", aas[na], aasf[na], aasb[na]
    for (g = 1; g <= 2; g++) {
      if (!gn[g]) continue
      delete t1; delete t2
      for (i = 1; i <= gn[g]; i++) { t1[i] = grp[g, i]; t2[i] = gs[g, i] }
      isort(t1, gn[g]); isort(t2, gn[g])
      printf "%s (%d rows): spread median %.1f%%; |A/A best| median %.1f%%, largest %.1f%%.\n",
             g == 1 ? "one CPU (same, micro)" : "two CPUs (cross, unpinned)", gn[g],
             t2[int((gn[g] + 1) / 2)], t1[int((gn[g] + 1) / 2)], t1[gn[g]]
    }
    exit
  }
  printf "%-34s %-7s", "benchmark", "unit"
  for (c = 1; c <= nc; c++) printf " %17s", cn[c] (cn[c] == base ? " ±spr" : " ratio")
  printf " %9s %8s %8s %8s %10s\n", "shim/kern", "±noise", "shim+ns", "trace+ns", "collect+ns"
  for (k = 1; k <= nk; k++) {
    key = order[k]; u = unit[key]
    printf "%-34s %-7s", key, u == "" ? "-" : u
    bv = (vals[key, base] != "") ? med(vals[key, base]) : ""
    for (c = 1; c <= nc; c++) {
      l = vals[key, cn[c]]
      if (l == "") { printf " %17s", ((key, cn[c]) in why) ? why[key, cn[c]] : "n/a"; continue }
      v = med(l)
      if (cn[c] == base) s = sprintf("%s ±%.0f%%", human(v, u), spread(l))
      else if (bv != "") s = sprintf("%s %.2fx", human(v, u), u == "msg/s" ? v / bv : bv / v)
      else s = human(v, u)
      printf " %17s", s
    }
    pct = nz = dsh = dtr = dco = "-"
    # derived columns: best run's fast figure of each configuration (see the legend)
    if (fast[key, base] != "" && fast[key, shim] != "") {
      tb = nsop(best(fast[key, base], u), u); ts = nsop(best(fast[key, shim], u), u)
      p = (ts / tb - 1) * 100; pct = sprintf("%+.1f%%", p)
      dsh = sprintf("%+.0f", (ts - tb) / calls[key])
      if (fast[key, aacfg] != "") {
        nzv = nsop(best(fast[key, aacfg], u), u) / tb - 1; nzv = (nzv < 0 ? -nzv : nzv) * 100
        nz = sprintf("%.1f%%", nzv)
        # the verdict only on one-CPU rows (`same`, micro): A/A runs show the two-CPU rows' figure
        # moving by 3-17 % between sessions however quiet one pair looks (bench/README.md)
        if (nzv <= 2 && key ~ /\/same$/) { good[++ng] = p; if (p > 3) { over++; overk = overk (overk == "" ? "" : ", ") key } }
        else noisy++
      }
    }
    if (fast[key, shim] != "" && fast[key, trace] != "") {
      d = (nsop(best(fast[key, trace], u), u) - nsop(best(fast[key, shim], u), u)) / calls[key]
      dtr = sprintf("%+.0f", d)
      if (key ~ /\/same$/) { trs[++nt] = d; if (d > maxtr) { maxtr = d; maxtrk = key } }
    }
    if (fast[key, shim] != "" && fast[key, collect] != "") {
      d = (nsop(best(fast[key, collect], u), u) - nsop(best(fast[key, shim], u), u)) / calls[key]
      dco = sprintf("%+.0f", d)
      if (key ~ /\/same$/) { colls[++nco] = d; if (d > maxco) { maxco = d; maxcok = key } }
    }
    printf " %9s %8s %8s %8s %10s\n", pct, nz, dsh, dtr, dco
  }
  print ""
  print "value: median over the runs of each run's " (stat == "fast" ? "fast-state figure (fast=)" : "figure (msg/s; median ns per op)") "; ratio: vs " base ", >1 = faster;"
  print base " ±spr: (max-min)/median of its runs.  The derived columns compare each configuration's"
  print "best run (of " (reps ? reps : "N") ") by its fast-state figure (fast=: stream p90 of 512-message windows,"
  print "pingpong/micro p10): A/A runs show it to be the most stable figure on this VM (bench/README.md)."
  print "shim/kern = time per op, " shim " vs " base " (target within 3%); ±noise = the same figure for"
  print aacfg " vs " base " (an identical configuration: what the column shows when nothing differs);"
  print "shim+ns, trace+ns, collect+ns = added ns per intercepted call (" shim " vs " base ", " trace " and " collect " vs " shim "; target"
  print "for tracing < 1000, for the collector <= 150) = delta of time per op / calls on its critical path (stream: 1 cross"
  print "or unpinned, 2 same; pingpong 4; micro 1, sendrecv 2).  unsupported: refused (deep queue on the kernel; a *_raw row under mqshim without MQSHIM_SYSCALLS=trap)."
  if (ng) {
    isort(good, ng)
    printf "shim vs kernel on the %d one-CPU rows whose noise is <= 2%%: median %+.1f%%, worst %+.1f%%; above +3%%: %s\n",
           ng, good[int((ng + 1) / 2)], good[ng], over ? overk : "none"
  }
  if (over) print "  (a single session misjudges 2-3 of 15 rows by > 2 %: confirm a flagged row with --configs kernel,kernel-aa,shim --only ROW --reps 9 --seconds 0.2)"
  if (noisy) printf "(%d rows not judged: two CPUs, whose cross-CPU wake-ups make them too noisy here, or noise > 2%%)\n", noisy
  if (dirty) printf "note: %d runs shared the CPUs with another job (other > %d%%) and were left out%s.\n", dirty, othermax, dirtyused ? sprintf(" except in %d cells that had no other run", dirtyused) : ""
  if (nt) { isort(trs, nt); printf "tracing, one-CPU rows: added ns per call: median %.0f, largest %.0f (%s).\n", trs[int((nt + 1) / 2)], maxtr, maxtrk }
  if (nco) { isort(colls, nco); printf "mqshim trace (collector), one-CPU rows: added ns per call: median %.0f, largest %.0f (%s); target <= 150.\n", colls[int((nco + 1) / 2)], maxco, maxcok }
}
AWK
) "$1"
}

# The control-path and memory rows of a raw file: kernel beside emulate, one run each.
control_report() {  # $1 = raw file
  grep -qE 'bench=(control|memory) ' "$1" || return 0
  awk -f <(cat <<'AWK'
function ratio(r) { return r >= 0.1 ? sprintf("%.2fx", r) : sprintf("1/%.0fx", 1 / r) }
function human(v) { v += 0; return v >= 1e6 ? sprintf("%.2fms", v / 1e6) : v >= 1e4 ? sprintf("%.1fus", v / 1e3) : sprintf("%.0fns", v) }
/^#/ || NF < 3 { next }
{
  delete f
  for (i = 3; i <= NF; i++) { p = index($i, "="); if (p) f[substr($i, 1, p - 1)] = substr($i, p + 1) }
  if (f["bench"] != "control" && f["bench"] != "memory") next
  cfg = $1; key = f["name"]
  if (!(key in seen)) { seen[key] = 1; order[++nk] = key; kind[key] = f["bench"] }
  if (f["status"] != "ok") { why[key, cfg] = f["status"]; next }
  val[key, cfg] = f["value"]; fast[key, cfg] = f["fast"]; have[key, cfg] = 1
  ex[key, cfg] = f["existing"]; stop[key, cfg] = f["setup_stop"]; want[key] = f["want"]; setup[key, cfg] = f["setup_s"]
  tm[key, cfg] = f["tmpfs"]; sl[key, cfg] = f["slab"]; sh[key, cfg] = f["shmem"]; chg[key] = f["charge"]
  ob[key, cfg] = f["objs"] != "" ? f["objs"] : f["slab"]; omin[key, cfg] = f["objs_min"]; omax[key, cfg] = f["objs_max"]
}
function cell(key, cfg, s) { return have[key, cfg] ? s : ((key, cfg) in why) ? why[key, cfg] : "n/a" }
END {
  print ""
  printf "%-34s %10s %10s %9s %9s %9s  %s\n", "control path (ns/op, median)", "kernel", "emulate", "ratio", "k fast", "e fast", "other queues kernel/emulate (setup s)"
  for (k = 1; k <= nk; k++) {
    key = order[k]; if (kind[key] != "control") continue
    r = have[key, "kernel"] && have[key, "emulate"] && val[key, "emulate"] + 0 > 0 ? ratio(val[key, "kernel"] / val[key, "emulate"]) : "-"
    capped = ""
    for (c = 1; c <= 2; c++) {
      cfg = c == 1 ? "kernel" : "emulate"
      if (have[key, cfg] && ex[key, cfg] + 0 < want[key] + 0)
        capped = capped sprintf("  %s %s", cfg, stop[key, cfg] == "time" || stop[key, cfg] == "" ? "CAPPED" : "stopped by " stop[key, cfg])
    }
    printf "%-34s %10s %10s %9s %9s %9s  %s/%s (%s/%s)%s\n", key,
           cell(key, "kernel", human(val[key, "kernel"])), cell(key, "emulate", human(val[key, "emulate"])), r,
           cell(key, "kernel", human(fast[key, "kernel"])), cell(key, "emulate", human(fast[key, "emulate"])),
           have[key, "kernel"] ? ex[key, "kernel"] : "-", have[key, "emulate"] ? ex[key, "emulate"] : "-",
           have[key, "kernel"] ? setup[key, "kernel"] : "-", have[key, "emulate"] ? setup[key, "emulate"] : "-", capped
  }
  print ""
  printf "%-34s %10s %10s %9s  %s\n", "memory per queue (KiB)", "kernel", "emulate", "emu/kern", "k(ernel): objs (range) + Shmem; e(mulate): tmpfs + objs"
  for (k = 1; k <= nk; k++) {
    key = order[k]; if (kind[key] != "memory") continue
    r = have[key, "kernel"] && have[key, "emulate"] && val[key, "kernel"] + 0 > 0 ? sprintf("%.1fx", val[key, "emulate"] / val[key, "kernel"]) : "-"
    d = ""
    if (have[key, "kernel"]) d = sprintf("k: %.2f (%.2f..%.2f) + %.2f, Slab %.2f%s", ob[key, "kernel"], omin[key, "kernel"],
                                         omax[key, "kernel"], sh[key, "kernel"], sl[key, "kernel"],
                                         chg[key] + 0 > 0 ? sprintf(", charge %.2f", chg[key]) : "")
    if (have[key, "emulate"]) d = d (d == "" ? "" : "; ") sprintf("e: %.2f + %.2f, Slab %.2f", tm[key, "emulate"], ob[key, "emulate"], sl[key, "emulate"])
    printf "%-34s %10s %10s %9s  %s\n", key, cell(key, "kernel", sprintf("%.2f", val[key, "kernel"])),
           cell(key, "emulate", sprintf("%.2f", val[key, "emulate"])), r, d
  }
  print ""
  print "control: one process on one CPU; value = median of 16-op batch means (fast = p10), 256 ops a row,"
  print "every queue maxmsg 1 x msgsize 16; _0 rows: no other queue of the API (POSIX: but the 256 the"
  print "cycle row opens in turn, all opened lately, and the 512 the first_open row opens in turn, each"
  print "open a first one), _N rows: N other queues; process_first: the first calls of a new process"
  print "(the benchmark exec'd anew, so a preloaded mqshim starts afresh; 64 processes): an open, a"
  print "create+close+unlink, a msgget(IPC_PRIVATE)+IPC_RMID"
  print "(the last column: how many were reached; CAPPED = the setup hit CTL_SETUP_SECONDS, else the errno"
  print "that stopped it)."
  print "ratio = kernel / emulate time per op (>1 = emulation faster; 1/N = N times slower).  Kernel rows:"
  print "a fresh IPC namespace (other queues made by other uids: RLIMIT_MSGQUEUE is per user); emulate:"
  print "a fresh MQSHIM_DIR, limits queues_max, msgmni, rlimit_msgqueue raised, the rest stock."
  print "memory: per queue holding one 64-byte message (median of 5 rounds, range over them); objs = kernel"
  print "objects: growth of the /proc/slabinfo caches that grew by >= 1 object per 2 queues, x object size"
  print "(slab granularity, and other jobs add noise); Slab, Shmem = /proc/meminfo deltas (noisier);"
  print "tmpfs = st_blocks of the files under MQSHIM_DIR; charge = the kernel's RLIMIT_MSGQUEUE charge"
  print "for a POSIX queue of those attributes (what the limit counts, not memory used)."
}
AWK
) "$1"
}

if [[ -n $REPORT ]]; then report "$REPORT"; control_report "$REPORT"; exit; fi

# ---- build ----------------------------------------------------------------------------------
mkdir -p "$ROOT/target/bench"
${CC:-cc} -O2 -Wall -Wextra -pthread ${CFLAGS:-} -o "$BIN" "$ROOT/bench/mqbench.c" -lrt \
  || { echo "run.sh: building mqbench failed" >&2; exit 1; }
# The static configuration's build (where a static libc exists; else its rows fail).
${CC:-cc} -O2 -Wall -Wextra -pthread -static ${CFLAGS:-} -o "$BIN.static" "$ROOT/bench/mqbench.c" -lrt 2>/dev/null \
  || rm -f "$BIN.static"

OUT=${OUT:-$ROOT/target/bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RAW=$OUT/raw.txt ERRLOG=$OUT/stderr.txt
: >"$RAW"; : >"$ERRLOG"
TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/mqbench.XXXXXX")
# The emulation's namespaces live on tmpfs, as the default MQSHIM_DIR does.
SHM_ROOT=$(mktemp -d /dev/shm/mqbench.XXXXXX 2>/dev/null || mktemp -d "$TMP_ROOT/shm.XXXXXX")
trap 'rm -rf "$TMP_ROOT" "$SHM_ROOT"' EXIT
trap 'echo; echo "run.sh: interrupted" >&2; exit 130' INT TERM

# strip the caller's LD_PRELOAD and MQSHIM_* so each configuration gets exactly its own line
UNSET=(-u LD_PRELOAD)
while IFS='=' read -r var _; do
  [[ $var == MQSHIM_* ]] && UNSET+=(-u "$var")
done < <(env)

# CPU jiffies: busy and total of the machine, and the time of our own (reaped) children
cpu_now() {
  local own
  own=$(awk '{ print $16 + $17 }' /proc/$$/stat)
  awk -v own="$own" '/^cpu / { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8+$9, $9, own; exit }' /proc/stat
}

# run mqbench under configuration $1 (index into CFG_*) with the remaining arguments; sets
# RUN_OUT (its stdout), RUN_TRACE_BYTES (size of any trace written) and RUN_OTHER (% of the
# machine's CPU time used by processes other than ours meanwhile: another job's noise)
run_in() {
  local spec=${CFG_ENV[$1]} b0 t0 s0 o0 b1 t1 s1 o1; shift
  RUN_TMP=$(mktemp -d "$TMP_ROOT/run.XXXXXX")
  local -a envs=()
  eval "envs=($spec)"
  read -r b0 t0 s0 o0 < <(cpu_now)
  RUN_OUT=$(timeout -k 2 120 env "${UNSET[@]}" "${envs[@]}" "$BIN" "$@" 2>>"$ERRLOG")
  read -r b1 t1 s1 o1 < <(cpu_now)
  RUN_OTHER=$(( (b1 - b0 - (o1 - o0)) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1) ))
  ((RUN_OTHER < 0)) && RUN_OTHER=0
  RUN_TRACE_BYTES=$(stat -c %s "$RUN_TMP"/trace* 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
  rm -rf "$RUN_TMP"
}

# ---- the Redis configurations' server (started when one of them is selected) ----------------
REDIS_STATE=   # empty: not tried; ok; else why not
IN_A= IN_B= REDIS_LOOPBACK= REDIS_VETH=
redis_setup() {
  [[ -n $REDIS_STATE ]] && return
  source "$ROOT/scripts/redis-fixture.bash"
  fixture_init "$TMP_ROOT/redis"
  FIXTURE_CLEANUP+=('rm -rf "$TMP_ROOT" "$SHM_ROOT"')
  trap 'echo; echo "run.sh: interrupted" >&2; exit 130' INT TERM
  hosts_setup 2>>"$ERRLOG"
  if ! redis_start 2>>"$ERRLOG"; then REDIS_STATE="redis-server did not start (see $ERRLOG)"; return; fi
  REDIS_STATE=ok
  ((TWO_HOSTS)) && IN_A="ip netns exec $NS_A" IN_B="ip netns exec $NS_B"
  REDIS_LOOPBACK="redis://127.0.0.1:$REDIS_PORT/0?prefix=bench-$$-loopback"
  REDIS_VETH="redis://$REDIS_ADDR:$REDIS_PORT/0?prefix=bench-$$-veth"
  echo "redis: $REDIS_SERVER $("$REDIS_SERVER" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p') on host A, port $REDIS_PORT;" \
       "$( ((TWO_HOSTS)) && echo "host B reaches it at $REDIS_ADDR over a veth" || echo "no network namespaces: loopback only")" >&2
}

# ---- choose and probe configurations --------------------------------------------------------
CFG_NAME=() CFG_ENV=() CFG_DEEP=() CFG_APIS=()
for line in "${CONFIGS[@]}"; do
  read -r name dflt spec <<<"$line"
  if [[ -n $SEL ]]; then [[ " $SEL " == *" $name "* ]] || continue
  else [[ $dflt == yes || ( $dflt == full && $MODE == full && $NOISE == 0 ) ]] || continue; fi
  if [[ $spec == *'$LIB'* && ! -f $LIB ]]; then
    echo "skip $name: $LIB not built" >&2; continue
  fi
  if [[ $spec == *MQSHIM_BACKEND=redis* ]]; then
    if ! command -v "${MQS_REDIS_SERVER:-redis-server}" >/dev/null 2>&1; then
      echo "skip $name: redis-server is not installed (apt-get install -y redis-server)" >&2; continue
    fi
    redis_setup
    [[ $REDIS_STATE == ok ]] || { echo "skip $name: $REDIS_STATE" >&2; continue; }
    if [[ $spec == *'$IN_B'* ]] && ((!TWO_HOSTS)); then
      echo "skip $name: no network namespaces here (see $ERRLOG): no second host" >&2; continue
    fi
  fi
  i=${#CFG_NAME[@]}
  CFG_NAME[i]=$name CFG_ENV[i]=$spec
  run_in "$i" probe; probe=$RUN_OUT
  reason=
  [[ $probe == PROBE* ]] || reason="probe failed: ${probe:-no output}"
  if [[ -z $reason && $spec == *LD_PRELOAD* && $probe != *mq_send_from=libmqshim* ]]; then
    reason="the shim is not what serves mq_send ($probe)"; fi
  apis="posix sysv none"
  if [[ -z $reason && ( $spec == *MQSHIM_BACKEND=emulate* || $spec == *MQSHIM_BACKEND=redis* ) ]]; then
    # only what is really emulated is measured; a row of an API still passed to the kernel is n/a
    apis=none
    [[ $probe == *posix=emulated* ]] && apis+=" posix"
    [[ $probe == *sysv=emulated* ]] && apis+=" sysv"
    b=${spec#*MQSHIM_BACKEND=}
    [[ $apis == none ]] && reason="${b%% *} backend not active, calls reach the kernel or fail ($probe)"
    [[ -z $reason && $apis != *posix*sysv* ]] &&
      echo "note $name: only ${apis#none } is emulated; the other API's rows read n/a" >&2
  fi
  if [[ -z $reason && $spec == *MQSHIM_BACKEND=redis* ]]; then
    url=$REDIS_LOOPBACK; [[ $spec == *REDIS_VETH* ]] && url=$REDIS_VETH
    [[ -n $(redis_cli --scan --pattern "{${url##*prefix=}}:*" | head -n 1) ]] ||
      reason="the probe left no key in Redis: MQSHIM_BACKEND=redis did not reach the server ($probe)"
  fi
  if [[ -z $reason && $spec != *MQSHIM_BACKEND=emulate* && $spec != *MQSHIM_BACKEND=redis* && $probe != *posix=kernel\ sysv=kernel* ]]; then
    reason="expected kernel queues ($probe)"; fi
  if [[ -z $reason && $spec == *'MQSHIM_TRACE=$RUN_TMP'* ]] && ((RUN_TRACE_BYTES == 0)); then
    reason="MQSHIM_TRACE set but no trace was written"; fi
  if [[ -n $reason ]]; then
    echo "skip $name: $reason" >&2
    unset 'CFG_NAME[i]' 'CFG_ENV[i]'
    CFG_NAME=("${CFG_NAME[@]}") CFG_ENV=("${CFG_ENV[@]}")
    continue
  fi
  [[ $probe == *deep=yes* ]] && CFG_DEEP[i]=1 || CFG_DEEP[i]=0
  CFG_APIS[i]=$apis
  echo "config $name: ${probe#PROBE }" >&2
done
NCFG=${#CFG_NAME[@]}
((NCFG)) || { echo "run.sh: no configuration available" >&2; exit 1; }

SELECTED=()
for b in "${BENCHES[@]}"; do
  read -r sets args <<<"$b"
  [[ $sets == *$SET* || ( ${ALL:-0} == 1 && $sets == *x* ) ]] || continue
  [[ -z $ONLY || $args =~ $ONLY ]] || continue
  SELECTED+=("$sets $args")
done
[[ $CONTROL == only ]] && SELECTED=()
NB=${#SELECTED[@]}
((NB)) || [[ $CONTROL == only ]] || { echo "run.sh: no benchmark selected" >&2; exit 1; }

{
  echo "# $(date -Is) $(uname -r) $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# mode=$MODE noise=$NOISE reps=$REPS seconds=$DUR lib=$LIB control=${CONTROL:-no}"
  echo "# configs: ${CFG_NAME[*]}"
} | tee -a "$RAW" >&2
# CPU use by others in the half second before we start, and steal time over the whole run
cpu_sample() { awk '/^cpu / { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8+$9, $9 }' /proc/stat; }
read -r B0 T0 S0 < <(cpu_sample); sleep 0.5; read -r B1 T1 S1 < <(cpu_sample)
BUSY0=$(( (B1 - B0) * 100 / (T1 - T0 > 0 ? T1 - T0 : 1) ))
((BUSY0 > 10)) &&
  echo "warning: the CPUs were ${BUSY0}% busy before the start — another job shares the 2 CPUs; expect noise" >&2
echo "# cpu busy before start ${BUSY0}%" >>"$RAW"

# wait (at most 20 s) until the CPUs have been < 10% busy for half a second
wait_quiet() {
  local i b0 t0 s0 b1 t1 s1
  for ((i = 0; i < 40; i++)); do
    read -r b0 t0 s0 < <(cpu_sample); sleep 0.5; read -r b1 t1 s1 < <(cpu_sample)
    (( (b1 - b0) * 100 < 10 * (t1 - t0) )) && return 0
  done
  return 1
}

# ---- run: reps x benchmarks x configurations (rotated) -------------------------------------
total=$((REPS * NB * NCFG)) done_runs=0 retries=0
OTHER_MAX=${OTHER_MAX:-15}
# after twice the expected time, stop repeating disturbed runs (the table then says so)
T_START=$SECONDS
BUDGET=$(awk -v n="$total" -v d="$DUR" 'BEGIN { printf "%d", n * (d + 0.05) + 10 }')
for ((r = 1; r <= REPS; r++)); do
  for ((b = 0; b < NB; b++)); do
    read -r sets args <<<"${SELECTED[b]}"
    for ((k = 0; k < NCFG; k++)); do
      c=$(((k + r + b) % NCFG))
      done_runs=$((done_runs + 1))
      [[ -t 2 ]] && printf '\r[%d/%d] %-11s %-60.60s' "$done_runs" "$total" "${CFG_NAME[c]}" "$args" >&2
      api=posix
      [[ $args == *'--api sysv'* || $args == *'--op msg_'* ]] && api=sysv
      [[ $args == *'--op getppid'* ]] && api=none
      [[ " ${CFG_APIS[c]} " == *" $api "* ]] || continue
      read -ra A <<<"$args"   # a --seconds on the line comes later, so it wins
      for try in 1 2 3; do      # another job took > OTHER_MAX % of the CPUs: wait, run again
        run_in "$c" "${A[0]}" --seconds "$DUR" "${A[@]:1}"
        ((RUN_OTHER <= OTHER_MAX || SECONDS - T_START > 2 * BUDGET)) && break
        retries=$((retries + 1)); wait_quiet
      done
      line=$(grep '^RESULT' <<<"$RUN_OUT" | tail -n1)
      [[ -n $line ]] || line="RESULT name=? status=error reason=no_output args=${args// /_}"
      line+=" other=$RUN_OTHER"
      ((RUN_TRACE_BYTES)) && line+=" trace_bytes=$RUN_TRACE_BYTES"
      echo "${CFG_NAME[c]} $r $line" >>"$RAW"
      [[ $line == *status=ok* || ( $line == *status=unsupported* && ( ${CFG_DEEP[c]} == 0 || $line == *_raw* ) ) ]] ||
        printf '\n%s: %s\n' "${CFG_NAME[c]}" "$line" >&2
    done
  done
done
[[ -t 2 ]] && printf '\r%-90s\r' '' >&2
read -r B2 T2 S2 < <(cpu_sample)
echo "# elapsed ${SECONDS}s; load $(cut -d' ' -f1-3 /proc/loadavg); steal $(( (S2 - S1) * 100 / (T2 - T1 > 0 ? T2 - T1 : 1) ))% of CPU time; $retries runs repeated because another job used > ${OTHER_MAX}% of the CPUs" | tee -a "$RAW" >&2

# ---- control path and memory: kernel (fresh IPC namespace) beside emulate (fresh MQSHIM_DIR) --
# Run by control_in: like run_in, but the kernel in a namespace of its own with its limits raised
# and the other queues created under other uids (RLIMIT_MSGQUEUE is per user, not per namespace),
# the emulation in a fresh directory with its limits raised likewise, removed afterwards.
control_in() {
  local c=$1 dir; shift
  local -a envs=() pre=()
  if [[ ${CFG_NAME[c]} == kernel ]]; then
    pre=(unshare --ipc sh -c "$CTL_NS_SETUP && exec \"\$@\"" sh)
    set -- "$@" --other-users
  else
    RUN_TMP=$(mktemp -d "$TMP_ROOT/run.XXXXXX")
    eval "envs=(${CFG_ENV[c]})"
    dir=$(mktemp -d -p "$SHM_ROOT" ctl.XXXX)
    # the kernel's stock limits but the count limits: the configuration's raised msgmnb and
    # msg_max (for the deep rows) would give its SysV queues another default msg_qbytes
    envs+=("MQSHIM_DIR=$dir" "MQSHIM_LIMITS=$CTL_EMU_LIMITS")
  fi
  RUN_OUT=$(timeout -k 2 $((150 + 2 * ${CTL_SETUP_SECONDS%.*})) env "${UNSET[@]}" "${envs[@]}" \
    "${pre[@]}" "$BIN" "$@" --keep 2>>"$ERRLOG")
  [[ -n ${dir:-} ]] && rm -rf "$dir" "$RUN_TMP"
}
if [[ -n $CONTROL ]]; then
  CTL_CFGS=()
  for ((c = 0; c < NCFG; c++)); do
    case ${CFG_NAME[c]} in
      kernel)
        if unshare --ipc sh -c "$CTL_NS_SETUP" 2>>"$ERRLOG"; then CTL_CFGS+=("$c")
        else echo "control rows: kernel skipped: no fresh IPC namespace with raised limits (unshare --ipc)" >&2; fi ;;
      emulate) CTL_CFGS+=("$c") ;;
    esac
  done
  ((${#CTL_CFGS[@]})) || echo "control rows: neither kernel nor emulate is among the configurations" >&2
  t_ctl=$SECONDS
  for job in "control --api posix --existing $CTL_EXISTING --setup-seconds $CTL_SETUP_SECONDS --count $CTL_COUNT" \
             "control --api sysv --existing $CTL_EXISTING --setup-seconds $CTL_SETUP_SECONDS --count $CTL_COUNT" \
             "memory --api posix --count $MEM_COUNT_POSIX" "memory --api sysv --count $MEM_COUNT_SYSV"; do
    read -ra A <<<"$job"
    for c in "${CTL_CFGS[@]}"; do
      api=${A[2]}
      [[ " ${CFG_APIS[c]} " == *" $api "* ]] || continue
      [[ -t 2 ]] && printf '\r[control] %-11s %-60.60s' "${CFG_NAME[c]}" "$job" >&2
      control_in "$c" "${A[@]}"
      lines=$(grep '^RESULT' <<<"$RUN_OUT")
      [[ -n $lines ]] || lines="RESULT name=${A[0]}_${api}? bench=${A[0]} status=error reason=no_output"
      while read -r line; do
        echo "${CFG_NAME[c]} 1 $line" >>"$RAW"
        [[ $line == *status=ok* ]] || printf '\n%s: %s\n' "${CFG_NAME[c]}" "$line" >&2
      done <<<"$lines"
    done
  done
  [[ -t 2 ]] && printf '\r%-90s\r' '' >&2
  echo "# control and memory rows: $((SECONDS - t_ctl))s" | tee -a "$RAW" >&2
fi

# ---- Redis: requests per call ---------------------------------------------------------------
# What each non-blocking call costs in requests to the server (each one a round trip): the
# requests a client can send but a script cannot (EVALSHA/EVAL, SCRIPT, BLPOP, PING, SELECT,
# AUTH, HELLO, CLIENT, from INFO commandstats: the commands scripts run are counted there too)
# around two fixed-work micro runs (--count 256 and 512: one warm-up batch and then 1 or 2
# batches of 256 ops), so the difference is exactly 256 ops and the setup (open, scripts loaded,
# close) cancels out.
redis_round_trips() {
  local c i op calls n0 n1 n2 url
  for ((i = 0; i < NCFG; i++)); do [[ ${CFG_NAME[i]} == redis ]] && c=$i; done
  [[ -n ${c:-} ]] || return 0
  cmds() {
    redis_cli info commandstats | tr -d '\r' |
      awk -F'[:=,]' '$1 ~ /^cmdstat_(evalsha|eval|evalsha_ro|eval_ro|fcall|script\|.*|blpop|ping|select|auth|hello|client\|.*)$/ { n += $3 }
                     END { print n + 0 }'
  }
  echo ""
  echo "Redis backend: requests (round trips) to the server per call, non-blocking calls (micro, 256 ops):"
  for op in mq_getattr mq_eagain mq_sendrecv msg_ipcstat msg_enomsg msg_sendrecv; do
    calls=1; [[ $op == *sendrecv ]] && calls=2
    n0=$(cmds); run_in "$c" micro --op "$op" --count 256
    n1=$(cmds); run_in "$c" micro --op "$op" --count 512
    n2=$(cmds)
    awk -v op="$op" -v a="$((n1 - n0))" -v b="$((n2 - n1))" -v calls="$calls" \
      'BEGIN { printf "  %-14s %5.2f per call%s\n", op, (b - a) / 256 / calls, calls == 2 ? " (a send and a receive per op)" : "" }'
  done
}

# ---- report ---------------------------------------------------------------------------------
{ report "$RAW"; control_report "$RAW"; redis_round_trips; } | tee "$OUT/table.txt"
echo "raw results: $RAW (table again: bench/run.sh --report $RAW [--stat fast])" >&2
