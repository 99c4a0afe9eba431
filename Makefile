# mqshim — `make demo` and `make test` do everything on a fresh machine with Rust and a C compiler.

PREFIX  ?= /usr/local
CARGO   ?= cargo
LIB     := target/release/libmqshim.so
BIN     := target/release/mqshim
MAN_DIR := target/man

.PHONY: all build test rust-test c-test cli-test header header-check lint demo bench bench-ceiling bench-floor stress man install uninstall clean

all: build

build:
	$(CARGO) build --release

# Every test: Rust unit tests (the committed header's check among them), then the C tests, which
# run each program on the kernel and under mqshim and compare transcripts.
test: build rust-test c-test cli-test

rust-test:
	$(CARGO) test --release --workspace

# The build generates the header into its own output directory and never touches include/; this
# fails when the committed include/mqshim.h differs from what cbindgen makes of ffi/src/api.rs.
header-check:
	$(CARGO) test --release -p mqshim --lib committed_header_is_current

# Writes the generated header over include/mqshim.h (then commit it).
header:
	MQSHIM_WRITE_HEADER=1 $(CARGO) build --release -p mqshim

# Lint and format checks (CI runs them before the tests), and a SAFETY line above every unsafe block.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	./scripts/unsafe-without-safety.sh

c-test: build
	./c_tests/run.sh
# The command's tests (shell); they use the C tests' binaries, so they run after c-test.
cli-test: build
	./cli_tests/run.sh

demo: build
	./scripts/demo.sh

bench: build
	./bench/run.sh

# What a minimal robust-locked shared-memory ring reaches here, beside the kernel and mqshim.
bench-ceiling: build
	./bench/ceiling.sh

# What the file operations a queue-per-file namespace needs cost here, beside the kernel's
# create+remove: the floor of the emulation's control path.
bench-floor:
	./bench/floor.sh

stress: build
	./c_tests/run.sh --stress
	./scripts/attack-stress.sh
	./scripts/unit-stress.sh

# The man pages: mqshim(1) and mqshim-SUBCOMMAND(1) generated from the command's clap definition
# (by the hidden `mqshim __man DIR`), libmqshim(7) written by hand in man/. MAN1_PAGES names every
# generated page (install and uninstall use it); `make man` fails when the command makes another.
MAN1_PAGES := mqshim.1 mqshim-run.1 mqshim-trace.1 mqshim-report.1 mqshim-diff.1 mqshim-ipcs.1 \
	mqshim-ipcrm.1 mqshim-stat.1 mqshim-limits.1 mqshim-info.1 mqshim-peek.1
man: build
	rm -rf $(MAN_DIR)
	$(BIN) __man $(MAN_DIR)
	install -m 0644 man/libmqshim.7 $(MAN_DIR)/libmqshim.7
	@for p in $(MAN_DIR)/*.1; do case " $(MAN1_PAGES) " in *" $$(basename $$p) "*) ;; \
	  *) echo "make man: $$p is not in MAN1_PAGES (Makefile): add it"; exit 1 ;; esac; done

# `make install PREFIX=... DESTDIR=...`: the library as libmqshim.so.VERSION with its SONAME link
# libmqshim.so.MAJOR (what linked programs need and what the .pc's `preload` names) and the
# development link libmqshim.so, the header, the command and mqshim.pc. The library and the
# command are installed stripped; their debug info is not installed (the build tree keeps it).
# Every file installed is in INSTALLED (one a line: add a file there and an install line below),
# and `make uninstall` removes exactly those.
VERSION      := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR        := $(firstword $(subst ., ,$(VERSION)))
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
STRIP        ?= strip
MANDIR       ?= $(PREFIX)/share/man
INSTALLED = \
	$(LIBDIR)/libmqshim.so.$(VERSION) \
	$(LIBDIR)/libmqshim.so.$(MAJOR) \
	$(LIBDIR)/libmqshim.so \
	$(INCLUDEDIR)/mqshim.h \
	$(BINDIR)/mqshim \
	$(PKGCONFIGDIR)/mqshim.pc \
	$(addprefix $(MANDIR)/man1/,$(MAN1_PAGES)) \
	$(MANDIR)/man7/libmqshim.7

# A directory for the .pc file: under PREFIX it is written ${prefix}/..., as pkg-config's
# --define-prefix expects.
pc_path = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

install: build man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	install -m 0755 $(LIB) $(DESTDIR)$(LIBDIR)/libmqshim.so.$(VERSION)
	$(STRIP) --strip-unneeded $(DESTDIR)$(LIBDIR)/libmqshim.so.$(VERSION)
	ln -sfn libmqshim.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libmqshim.so.$(MAJOR)
	ln -sfn libmqshim.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libmqshim.so
	install -m 0644 include/mqshim.h $(DESTDIR)$(INCLUDEDIR)/mqshim.h
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/mqshim
	$(STRIP) --strip-unneeded $(DESTDIR)$(BINDIR)/mqshim
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(call pc_path,$(LIBDIR))|g' -e 's|@INCLUDEDIR@|$(call pc_path,$(INCLUDEDIR))|g' \
	  -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' mqshim.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/mqshim.pc
	install -m 0644 $(addprefix $(MAN_DIR)/,$(MAN1_PAGES)) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(MAN_DIR)/libmqshim.7 $(DESTDIR)$(MANDIR)/man7/libmqshim.7

# Removes the files in INSTALLED, no others (directories stay, as other packages may use them).
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

clean:
	$(CARGO) clean
