#!/usr/bin/env bash
# `make install` → use → `make uninstall`, as a user of an installed mqshim would:
#  - in a prefix of its own ($WORK/prefix, no DESTDIR): the versioned library with its SONAME and
#    links, stripped; `LD_PRELOAD=$(pkg-config --variable=preload mqshim)` preloads it; a program
#    built with `pkg-config --cflags --libs mqshim` alone includes <mqshim.h>, starts without
#    LD_LIBRARY_PATH and finds the installed library; the installed `mqshim run` finds it too;
#    `make uninstall` leaves exactly the files that were there before;
#  - staged (DESTDIR=$WORK/dest PREFIX=/usr/local): the same files under DESTDIR, with the .pc
#    and the links naming their final places, and `make uninstall` with the same DESTDIR removes them.
# The top-level make's `install` depends on `build`: run after `make build`, cargo has nothing to do.
source "$ROOT/cli_tests/run_common.bash"
command -v pkg-config >/dev/null || { echo "pkg-config is not installed (.ci/run installs it: apt-get install pkg-config)"; exit 77; }
command -v readelf >/dev/null || { echo "readelf (binutils) is not installed"; exit 77; }
unset MAKEFLAGS MFLAGS MAKELEVEL LD_LIBRARY_PATH PKG_CONFIG_PATH PKG_CONFIG_LIBDIR
trap cleanup_kernel_queue EXIT
build run_queue
build run_kernel_probe

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
MAJOR=${VERSION%%.*}
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "cannot read the version from Cargo.toml (got '$VERSION')"
REAL=libmqshim.so.$VERSION SONAME=libmqshim.so.$MAJOR

# listing DIR: every non-directory under DIR (relative), links with their targets.
listing() { (cd "$1" && find . ! -type d | while read -r f; do
  if [[ -L $f ]]; then echo "${f#./} -> $(readlink "$f")"; else echo "${f#./}"; fi
done) | LC_ALL=C sort; }

EXPECTED="bin/mqshim
include/mqshim.h
lib/$SONAME -> $REAL
lib/$REAL
lib/libmqshim.so -> $SONAME
lib/pkgconfig/mqshim.pc
share/man/man1/mqshim-diff.1
share/man/man1/mqshim-info.1
share/man/man1/mqshim-ipcrm.1
share/man/man1/mqshim-ipcs.1
share/man/man1/mqshim-limits.1
share/man/man1/mqshim-peek.1
share/man/man1/mqshim-report.1
share/man/man1/mqshim-run.1
share/man/man1/mqshim-stat.1
share/man/man1/mqshim-trace.1
share/man/man1/mqshim.1
share/man/man7/libmqshim.7"

# ---- A prefix of its own --------------------------------------------------------------------
PREFIX=$WORK/prefix
mkdir -p "$PREFIX/share/unrelated"
echo "not mqshim's" >"$PREFIX/share/unrelated/file"
listing "$PREFIX" >"$WORK/before"
expect_status 0 make -C "$ROOT" install PREFIX="$PREFIX"
listing "$PREFIX" >"$WORK/after-install"
diff <(printf '%s\n' "$EXPECTED" "share/unrelated/file" | LC_ALL=C sort) "$WORK/after-install" >"$WORK/out" \
  || { cat "$WORK/out"; fail "make install did not install exactly the expected files (diff: expected, got)"; }

# The versioned file: SONAME, stripped (no debug sections, no symbol table), and much smaller
# than the build's own library (which keeps line tables for backtraces).
readelf -d "$PREFIX/lib/$REAL" >"$WORK/out" 2>&1
expect_output "\(SONAME\) +Library soname: \[$SONAME\]"
for f in "lib/$REAL" bin/mqshim; do
  readelf -S --wide "$PREFIX/$f" >"$WORK/out" 2>&1 || fail "readelf cannot read $f"
  # (.debug_gdb_scripts is loaded with the program, so strip keeps it; it is not debug info.)
  grep -Eq ' \.debug_(info|line|str|abbrev|ranges|rnglists|loc|loclists|aranges) ' "$WORK/out" && { grep ' \.debug_' "$WORK/out"; fail "$f has debug info"; }
  grep -Eq ' \.symtab ' "$WORK/out" && fail "$f has a symbol table (not stripped)"
done
built=$(stat -L -c %s "$MQSHIM_LIB_PATH") installed=$(stat -c %s "$PREFIX/lib/$REAL")
((installed * 2 < built)) || fail "the installed library ($installed bytes) is not much smaller than the build's ($built bytes)"

# pkg-config: the version, the preload path, and flags that need nothing else.
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
[[ $(pkg-config --modversion mqshim) == "$VERSION" ]] || fail "pkg-config --modversion mqshim: '$(pkg-config --modversion mqshim)', expected $VERSION"
preload=$(pkg-config --variable=preload mqshim)
[[ $preload == "$PREFIX/lib/$SONAME" ]] || fail "pkg-config --variable=preload mqshim: '$preload', expected $PREFIX/lib/$SONAME"

# Preloading by the variable: the program's mq_open is traced (in an emulated namespace).
LD_PRELOAD=$(pkg-config --variable=preload mqshim) MQSHIM_DIR=$WORK/ns MQSHIM_TRACE=stderr expect_status 0 "$WORK/run_queue" "$QNAME"
expect_output "^mq_send: ok\$"
expect_output " mq_open\(\"$QNAME\", O_RDWR\|O_CREAT, 0600, .*\) = [0-9]+ "
expect_status 0 "$WORK/run_kernel_probe" "$QNAME"
expect_output '^kernel: absent'

# Linking by the .pc's flags alone: <mqshim.h> is found, and the program starts and uses the
# installed library (rpath; no LD_LIBRARY_PATH).
cc "$PROGRAMS/install_linked.c" $(pkg-config --cflags --libs mqshim) -o "$WORK/install_linked" >"$WORK/out" 2>&1 \
  || { cat "$WORK/out"; fail "cannot build a program with \$(pkg-config --cflags --libs mqshim)"; }
readelf -d "$WORK/install_linked" >"$WORK/out" 2>&1
expect_output "\(NEEDED\) +Shared library: \[$SONAME\]"
MQSHIM_DIR=$WORK/ns expect_status 0 "$WORK/install_linked"
expect_output "^library: $PREFIX/lib/$SONAME\$"
expect_output "^version: $VERSION\$"
expect_output '^backend: emulate$'

# The installed command finds the installed library.
expect_status 0 "$PREFIX/bin/mqshim" run -- sh -c 'echo "preload=$LD_PRELOAD"'
expect_output "^preload=$PREFIX/lib/libmqshim\.so(\.$MAJOR|\.$VERSION)?\$"
MQSHIM_TRACE=stderr expect_status 0 "$PREFIX/bin/mqshim" run --dir "$WORK/ns" -- "$WORK/run_queue" "$QNAME"
expect_output " mq_open\(\"$QNAME\", O_RDWR\|O_CREAT, 0600, .*\) = [0-9]+ "

# ... also without the development link (a run-time-only package): by the SONAME's name.
mv "$PREFIX/lib/libmqshim.so" "$WORK/dev-link"
expect_status 0 "$PREFIX/bin/mqshim" run -- sh -c 'echo "preload=$LD_PRELOAD"'
expect_output "^preload=$PREFIX/lib/libmqshim\.so\.$MAJOR(\.[0-9]+\.[0-9]+)?\$"
mv "$WORK/dev-link" "$PREFIX/lib/libmqshim.so"

# Uninstall: exactly the files that were there before remain.
# The installed man pages are found by man(1) through the prefix's share/man.
if command -v man >/dev/null; then
  [[ $(man -M "$PREFIX/share/man" -w mqshim-trace) == "$PREFIX/share/man/man1/mqshim-trace.1" ]] || fail "man does not find the installed mqshim-trace(1)"
  [[ $(man -M "$PREFIX/share/man" -w 7 libmqshim) == "$PREFIX/share/man/man7/libmqshim.7" ]] || fail "man does not find the installed libmqshim(7)"
fi
expect_status 0 make -C "$ROOT" uninstall PREFIX="$PREFIX"
listing "$PREFIX" >"$WORK/after-uninstall"
diff "$WORK/before" "$WORK/after-uninstall" >"$WORK/out" || { cat "$WORK/out"; fail "make uninstall did not restore the prefix (diff: before, after)"; }

# ---- Staged: DESTDIR + PREFIX=/usr/local --------------------------------------------------------
DEST=$WORK/dest
expect_status 0 make -C "$ROOT" install DESTDIR="$DEST" PREFIX=/usr/local
listing "$DEST/usr/local" >"$WORK/staged"
diff <(echo "$EXPECTED" | LC_ALL=C sort) "$WORK/staged" >"$WORK/out" || { cat "$WORK/out"; fail "make install DESTDIR= did not stage exactly the expected files"; }
[[ -z $(cd "$DEST" && find . ! -type d ! -path './usr/local/*') ]] || fail "make install DESTDIR= wrote outside DESTDIR/PREFIX"
PKG_CONFIG_PATH=$DEST/usr/local/lib/pkgconfig
[[ $(pkg-config --variable=preload mqshim) == "/usr/local/lib/$SONAME" ]] || fail "the staged .pc's preload is '$(pkg-config --variable=preload mqshim)', expected /usr/local/lib/$SONAME"
pkg-config --libs mqshim | grep -q -- "-Wl,-rpath,/usr/local/lib" || fail "the staged .pc's Libs lack the rpath to /usr/local/lib: $(pkg-config --libs mqshim)"
expect_status 0 make -C "$ROOT" uninstall DESTDIR="$DEST" PREFIX=/usr/local
[[ -z $(cd "$DEST" && find . ! -type d) ]] || fail "make uninstall DESTDIR= left: $(cd "$DEST" && find . ! -type d)"
echo "ok"
