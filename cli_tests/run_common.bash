# Sourced by the run_*.sh tests of `mqshim run` (not a test itself: the runner runs *.sh only).
# Builds the programs of cli_tests/programs/ into $WORK and gives fail/expect helpers.
set -u -o pipefail
PROGRAMS=$ROOT/cli_tests/programs
QNAME=/mqshim-run-$RUNID

fail() {
  echo "FAIL: $*"
  exit 1
}

# build NAME [cc flags...]: programs/NAME.c → $WORK/NAME
build() {
  local name=$1
  shift
  cc -I"$ROOT/c_tests" "$@" "$PROGRAMS/$name.c" -o "$WORK/$name" -lrt || fail "cannot build $name"
}

# expect_status WANT COMMAND...: runs COMMAND (stdout+stderr to $WORK/out) and checks $?.
expect_status() {
  local want=$1
  shift
  "$@" >"$WORK/out" 2>&1
  local got=$?
  [[ $got == "$want" ]] || { sed 's/^/    | /' "$WORK/out"; fail "'$*' exited $got, expected $want"; }
}

# expect_output PATTERN: $WORK/out (from the last expect_status) matches the extended regex.
expect_output() {
  grep -Eq -- "$1" "$WORK/out" || { sed 's/^/    | /' "$WORK/out"; fail "output lacks /$1/"; }
}

# The kernel's queue QNAME must not outlive the test, whoever created it.
cleanup_kernel_queue() {
  [[ -x $WORK/run_kernel_probe ]] && "$WORK/run_kernel_probe" "$QNAME" >/dev/null
}
