#!/usr/bin/env bash
# bench/run.sh — build mqbench and compare mqshim configurations against the kernel.
#
#   bench/run.sh              full table (~2-3 min)
#   bench/run.sh --quick      short version (~20 s)
#   bench/run.sh --noise      kernel against itself (A/A): the noise floor of the table
#   bench/run.sh --help       all options
#
# Each benchmark runs in every configuration, configurations interleaved (rotated) and the
# whole sweep repeated --reps times, so drift hits all configurations alike; the table shows
# the median of the repetitions.  Raw RESULT lines are kept in target/bench/<stamp>/raw.txt.
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
  'shim        yes  LD_PRELOAD=$LIB MQSHIM_BACKEND=kernel'
  'shim+trace  yes  LD_PRELOAD=$LIB MQSHIM_BACKEND=kernel MQSHIM_TRACE=$RUN_TMP/trace.txt MQSHIM_TRACE_FORMAT=text'
  'emulate     yes  LD_PRELOAD=$LIB MQSHIM_BACKEND=emulate MQSHIM_DIR=$(mktemp -d -p "$RUN_TMP" emu.XXXX)'
  'kernel-aa   no   '
  'trace-null  no   LD_PRELOAD=$LIB MQSHIM_BACKEND=kernel MQSHIM_TRACE=/dev/null MQSHIM_TRACE_FORMAT=text'
  'trace-jsonl no   LD_PRELOAD=$LIB MQSHIM_BACKEND=kernel MQSHIM_TRACE=$RUN_TMP/trace.jsonl MQSHIM_TRACE_FORMAT=jsonl'
)
# kernel-aa: the kernel again (A/A, see --noise); trace-null: tracing without the file write
# (formatting cost alone); trace-jsonl: the other format.  Enable with --configs.
BASE=kernel            # ratios are against this configuration
SHIM=shim              # "shim vs kernel" column (target: within 3 %)
TRACE=shim+trace       # "trace +ns/call" column: this configuration against $SHIM (target: < 1000)

# ---- benchmarks: one line each -------------------------------------------------------------
# sets: f = full run, q = also in --quick, d = needs a deep queue (65536 messages: only under
#       emulation; on the kernel, maxmsg is capped at 10 and the row reads "unsupported")
BENCHES=(
  'fq  stream   --api posix --size 64   --placement cross'
  'f   stream   --api posix --size 64   --placement same'
  'f   stream   --api posix --size 64   --placement unpinned'
  'fq  stream   --api posix --size 4096 --placement cross'
  'f   stream   --api posix --size 4096 --placement same'
  'f   stream   --api posix --size 4096 --placement unpinned'
  'fq  stream   --api sysv  --size 64   --placement cross'
  'f   stream   --api sysv  --size 64   --placement same'
  'f   stream   --api sysv  --size 64   --placement unpinned'
  'fq  stream   --api sysv  --size 4096 --placement cross'
  'f   stream   --api sysv  --size 4096 --placement same'
  'f   stream   --api sysv  --size 4096 --placement unpinned'
  'f   pingpong --api posix --size 64   --placement cross'
  'fq  pingpong --api posix --size 64   --placement same'
  'f   pingpong --api posix --size 64   --placement unpinned'
  'f   pingpong --api posix --size 4096 --placement cross'
  'f   pingpong --api posix --size 4096 --placement same'
  'f   pingpong --api sysv  --size 64   --placement cross'
  'fq  pingpong --api sysv  --size 64   --placement same'
  'f   pingpong --api sysv  --size 64   --placement unpinned'
  'f   pingpong --api sysv  --size 4096 --placement cross'
  'f   pingpong --api sysv  --size 4096 --placement same'
  'fq  micro    --op mq_eagain'
  'fq  micro    --op mq_getattr'
  'fq  micro    --op mq_sendrecv'
  'fq  micro    --op msg_enomsg'
  'fq  micro    --op msg_ipcstat'
  'fq  micro    --op msg_sendrecv'
  'fq  micro    --op getppid'
  'fd  stream   --api posix --size 64   --placement cross --maxmsg 65536 --random-prio'
  'fqd stream   --api posix --size 64   --placement cross --maxmsg 65536 --random-prio --fill-first'
)

usage() {
  cat <<EOF
usage: bench/run.sh [--quick | --noise] [options]
  --quick           short benchmark set, --seconds 0.15, --reps 2 (~20 s)
  --noise           kernel against an identical copy of itself (configs kernel,kernel-aa),
                    full set unless --quick, --reps 5: shows run-to-run spread and the A/A
                    difference, i.e. how small a difference the table can resolve
  --reps N          repetitions of the whole sweep (default 3)
  --seconds S       timed duration of each run (default 0.3)
  --configs A,B     configurations to run (default: those marked yes)
  --only REGEX      only benchmark lines matching REGEX (e.g. 'pingpong|eagain')
  --out DIR         where raw results go (default target/bench/<timestamp>)
  --stat value|fast which figure of each run the table uses: value (default) = the run's
                    throughput / median latency; fast = the run's fast state (stream: p90
                    of 512-message windows; pingpong, micro: p10), less exposed to the VM's
                    slow phases (see bench/README.md)
  --report RAWFILE  print the table of an earlier run (with --stat) and exit
environment: MQSHIM_LIB (library path; default target/release/libmqshim.so), CC, CFLAGS,
  OTHER_MAX (default 15: a run during which other processes used more than this % of the
  CPUs is repeated, up to twice; each raw line records other=<%>)
configurations: $(for c in "${CONFIGS[@]}"; do printf '%s ' "${c%% *}"; done)
EOF
}

MODE=full REPS= DUR= ONLY= OUT= SEL= STAT=value REPORT=
while (($#)); do
  case $1 in
    --quick) MODE=quick ;;
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
REPS=${REPS:-3}; DUR=${DUR:-0.3}
[[ $STAT == value || $STAT == fast ]] || { echo "run.sh: --stat value|fast" >&2; exit 2; }

# ---- report: the table from a raw file -----------------------------------------------------
report() {  # $1 = raw file
  local cfgs
  cfgs=$(sed -n 's/^# configs: //p' "$1" | tail -n1)
  awk -v cfgs="$cfgs" -v base="$BASE" -v shim="$SHIM" -v trace="$TRACE" -v stat="$STAT" -v othermax="${OTHER_MAX:-15}" \
      -v noise="$(sed -n 's/^# mode=.* noise=\([01]\).*/\1/p' "$1" | tail -n1)" -f <(cat <<'AWK'
# Input: raw lines "<config> <rep> RESULT k=v ...".  Two figures per run: value= (throughput,
# or median latency) and fast= (the run's fast state).  `stat` picks the one shown in the value
# columns; the shim-vs-kernel verdict always uses fast, the figure that A/A runs show to be
# stable to ~1% here for single-CPU benchmarks (bench/README.md).
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
  if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
  if (f["other"] + 0 > othermax) dirty++
  if (f["status"] == "ok") {
    shown = (stat == "fast" && f["fast"] != "") ? f["fast"] : f["value"]
    vals[key, cfg] = vals[key, cfg] " " shown
    fast[key, cfg] = fast[key, cfg] " " (f["fast"] != "" ? f["fast"] : f["value"])
    unit[key] = f["unit"]; calls[key] = f["calls"]
  } else if (!((key, cfg) in why)) why[key, cfg] = f["status"]
}
END {
  if (noise == 1) {
    printf "%-34s %-7s %10s %10s %10s %8s %5s %9s %9s\n", "benchmark", "unit", "median", "min", "max",
           "spread%", "runs", "A/A%", "A/A fast%"
    for (k = 1; k <= nk; k++) {
      key = order[k]; u = unit[key]; all = ""; allf = ""
      for (c = 1; c <= nc; c++) { all = all vals[key, cn[c]]; allf = allf fast[key, cn[c]] }
      if (all == "") { printf "%-34s %s\n", key, "n/a"; continue }
      sp = spread(all); sps[++ns] = sp; spf[ns] = spread(allf)
      aa = aaf = "-"
      if (nc >= 2 && vals[key, cn[1]] != "" && vals[key, cn[2]] != "") {
        d = nsop(med(vals[key, cn[2]]), u) / nsop(med(vals[key, cn[1]]), u) - 1
        df = nsop(med(fast[key, cn[2]]), u) / nsop(med(fast[key, cn[1]]), u) - 1
        aa = sprintf("%+.1f", d * 100); aaf = sprintf("%+.1f", df * 100)
        aas[++na] = (d < 0 ? -d : d) * 100; aasf[na] = (df < 0 ? -df : df) * 100
      }
      printf "%-34s %-7s %10s %10s %10s %8.1f %5d %9s %9s\n", key, u, human(med(all), u),
             human(lowest(all), u), human(highest(all), u), sp, count(all), aa, aaf
    }
    if (dirty) printf "warning: %d runs shared the CPUs with another job (other > %d%%).\n", dirty, othermax
    isort(sps, ns); isort(spf, ns); isort(aas, na); isort(aasf, na)
    printf "\nmedian, min, max, spread%% = (max-min)/median: over all runs of %s (figure: %s).\n", cfgs, stat
    printf "A/A%% = time per op of %s's median against %s's (value figure; A/A fast%%: fast figure):\n", cn[2], cn[1]
    printf "what a 'shim vs kernel' column shows when nothing differs.\n"
    printf "Median over benchmarks: spread %.1f%% (fast figure %.1f%%), |A/A| %.1f%% (fast %.1f%%); largest |A/A| %.1f%% (fast %.1f%%).\n",
           sps[int((ns + 1) / 2)], spf[int((ns + 1) / 2)], aas[int((na + 1) / 2)], aasf[int((na + 1) / 2)], aas[na], aasf[na]
    exit
  }
  printf "%-34s %-7s", "benchmark", "unit"
  for (c = 1; c <= nc; c++) printf " %17s", cn[c] (cn[c] == base ? " ±spr" : " ratio")
  printf " %9s %8s %8s %8s\n", "shim/kern", "±noise", "shim+ns", "trace+ns"
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
    pct = nz = dsh = dtr = "-"
    if (fast[key, base] != "" && fast[key, shim] != "") {
      tb = nsop(med(fast[key, base]), u); ts = nsop(med(fast[key, shim]), u)
      p = (ts / tb - 1) * 100; nzv = spread(fast[key, base])
      pct = sprintf("%+.1f%%", p); nz = sprintf("%.0f%%", nzv)
      dsh = sprintf("%+.0f", (ts - tb) / calls[key])
      if (nzv <= 5) { good[++ng] = p; if (p > 3) { over++; overk = overk (overk == "" ? "" : ", ") key } }
      else noisy++
    }
    if (fast[key, shim] != "" && fast[key, trace] != "") {
      d = (nsop(med(fast[key, trace]), u) - nsop(med(fast[key, shim]), u)) / calls[key]
      dtr = sprintf("%+.0f", d); trs[++nt] = d
      if (d > maxtr) { maxtr = d; maxtrk = key }
    }
    printf " %9s %8s %8s %8s\n", pct, nz, dsh, dtr
  }
  print ""
  print "value: median over the runs of each run's " (stat == "fast" ? "fast-state figure (fast=)" : "figure (msg/s; median ns per op)") "; ratio: vs " base ", >1 = faster;"
  print base " ±spr: (max-min)/median of its runs.  Derived columns use each run's fast-state figure"
  print "(fast=: stream p90 of 512-message windows, pingpong/micro p10), the most stable one here:"
  print "shim/kern = time per op, " shim " vs " base " (target within 3%); ±noise = spread of " base "'s"
  print "fast figures; shim+ns, trace+ns = added ns per intercepted call (" shim " vs " base ", " trace " vs " shim ";"
  print "target for tracing < 1000) = delta of time per op / calls on its critical path (stream: 1 cross"
  print "or unpinned, 2 same; pingpong 4; micro 1, sendrecv 2).  unsupported: refused (deep queue on the kernel)."
  if (ng) {
    isort(good, ng)
    printf "shim vs kernel, over the %d benchmarks whose noise (kernel spread) is <= 5%%: median %+.1f%%, worst %+.1f%%; above +3%%: %s\n",
           ng, good[int((ng + 1) / 2)], good[ng], over ? overk : "none"
  }
  if (noisy) printf "(%d benchmarks too noisy here to judge a 3%% difference: cross-CPU wake-ups, see bench/README.md)\n", noisy
  if (dirty) printf "warning: %d runs shared the CPUs with another job (other > %d%%): read with care.\n", dirty, othermax
  if (nt) { isort(trs, nt); printf "tracing: added ns per call: median %.0f, largest %.0f (%s).\n", trs[int((nt + 1) / 2)], maxtr, maxtrk }
}
AWK
) "$1"
}

if [[ -n $REPORT ]]; then report "$REPORT"; exit; fi

# ---- build ----------------------------------------------------------------------------------
mkdir -p "$ROOT/target/bench"
${CC:-cc} -O2 -Wall -Wextra -pthread ${CFLAGS:-} -o "$BIN" "$ROOT/bench/mqbench.c" -lrt \
  || { echo "run.sh: building mqbench failed" >&2; exit 1; }

OUT=${OUT:-$ROOT/target/bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RAW=$OUT/raw.txt ERRLOG=$OUT/stderr.txt
: >"$RAW"; : >"$ERRLOG"
TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/mqbench.XXXXXX")
trap 'rm -rf "$TMP_ROOT"' EXIT
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

# ---- choose and probe configurations --------------------------------------------------------
CFG_NAME=() CFG_ENV=() CFG_DEEP=()
for line in "${CONFIGS[@]}"; do
  read -r name dflt spec <<<"$line"
  if [[ -n $SEL ]]; then [[ " $SEL " == *" $name "* ]] || continue
  else [[ $dflt == yes ]] || continue; fi
  if [[ $spec == *'$LIB'* && ! -f $LIB ]]; then
    echo "skip $name: $LIB not built" >&2; continue
  fi
  i=${#CFG_NAME[@]}
  CFG_NAME[i]=$name CFG_ENV[i]=$spec
  run_in "$i" probe; probe=$RUN_OUT
  reason=
  [[ $probe == PROBE* ]] || reason="probe failed: ${probe:-no output}"
  if [[ -z $reason && $spec == *LD_PRELOAD* && $probe != *mq_send_from=libmqshim* ]]; then
    reason="the shim is not what serves mq_send ($probe)"; fi
  if [[ -z $reason && $spec == *MQSHIM_BACKEND=emulate* && $probe != *posix=emulated*sysv=emulated* ]]; then
    reason="emulate backend not active, calls reach the kernel ($probe)"; fi
  if [[ -z $reason && $spec != *MQSHIM_BACKEND=emulate* && $probe != *posix=kernel*sysv=kernel* ]]; then
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
  echo "config $name: ${probe#PROBE }" >&2
done
NCFG=${#CFG_NAME[@]}
((NCFG)) || { echo "run.sh: no configuration available" >&2; exit 1; }

SELECTED=()
for b in "${BENCHES[@]}"; do
  read -r sets args <<<"$b"
  [[ $sets == *$SET* ]] || continue
  [[ -z $ONLY || $args =~ $ONLY ]] || continue
  SELECTED+=("$sets $args")
done
NB=${#SELECTED[@]}
((NB)) || { echo "run.sh: no benchmark selected" >&2; exit 1; }

{
  echo "# $(date -Is) $(uname -r) $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# mode=$MODE noise=$NOISE reps=$REPS seconds=$DUR lib=$LIB"
  echo "# configs: ${CFG_NAME[*]}"
} | tee -a "$RAW" >&2
# CPU use by others in the half second before we start, and steal time over the whole run
cpu_sample() { awk '/^cpu / { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8+$9, $9 }' /proc/stat; }
read -r B0 T0 S0 < <(cpu_sample); sleep 0.5; read -r B1 T1 S1 < <(cpu_sample)
BUSY0=$(( (B1 - B0) * 100 / (T1 - T0 > 0 ? T1 - T0 : 1) ))
((BUSY0 > 10)) &&
  echo "warning: the CPUs were ${BUSY0}% busy before the start — another job shares the 2 CPUs; expect noise" >&2
echo "# cpu busy before start ${BUSY0}%" >>"$RAW"

# ---- run: reps x benchmarks x configurations (rotated) -------------------------------------
total=$((REPS * NB * NCFG)) done_runs=0 retries=0
OTHER_MAX=${OTHER_MAX:-15}
for ((r = 1; r <= REPS; r++)); do
  for ((b = 0; b < NB; b++)); do
    read -r sets args <<<"${SELECTED[b]}"
    for ((k = 0; k < NCFG; k++)); do
      c=$(((k + r + b) % NCFG))
      done_runs=$((done_runs + 1))
      [[ -t 2 ]] && printf '\r[%d/%d] %-11s %-60.60s' "$done_runs" "$total" "${CFG_NAME[c]}" "$args" >&2
      read -ra A <<<"$args"   # a --seconds on the line comes later, so it wins
      for try in 1 2 3; do      # another job took > OTHER_MAX % of the CPUs: wait, run again
        run_in "$c" "${A[0]}" --seconds "$DUR" "${A[@]:1}"
        ((RUN_OTHER <= OTHER_MAX)) && break
        retries=$((retries + 1)); sleep 1
      done
      line=$(grep '^RESULT' <<<"$RUN_OUT" | tail -n1)
      [[ -n $line ]] || line="RESULT name=? status=error reason=no_output args=${args// /_}"
      line+=" other=$RUN_OTHER"
      ((RUN_TRACE_BYTES)) && line+=" trace_bytes=$RUN_TRACE_BYTES"
      echo "${CFG_NAME[c]} $r $line" >>"$RAW"
      [[ $line == *status=ok* || ( $line == *status=unsupported* && ${CFG_DEEP[c]} == 0 ) ]] ||
        printf '\n%s: %s\n' "${CFG_NAME[c]}" "$line" >&2
    done
  done
done
[[ -t 2 ]] && printf '\r%-90s\r' '' >&2
read -r B2 T2 S2 < <(cpu_sample)
echo "# elapsed ${SECONDS}s; load $(cut -d' ' -f1-3 /proc/loadavg); steal $(( (S2 - S1) * 100 / (T2 - T1 > 0 ? T2 - T1 : 1) ))% of CPU time; $retries runs repeated because another job used > ${OTHER_MAX}% of the CPUs" | tee -a "$RAW" >&2

# ---- report ---------------------------------------------------------------------------------
report "$RAW" | tee "$OUT/table.txt"
echo "raw results: $RAW (table again: bench/run.sh --report $RAW [--stat fast])" >&2
