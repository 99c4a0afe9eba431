# mqshim — `make demo` and `make test` do everything on a fresh machine with Rust and a C compiler.

PREFIX  ?= /usr/local
CARGO   ?= cargo
LIB     := target/release/libmqshim.so
BIN     := target/release/mqshim
MAN_DIR := target/man

.PHONY: all build test rust-test c-test cli-test header header-check lint demo bench bench-ceiling stress man install uninstall clean

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

stress: build
	./c_tests/run.sh --stress
	./scripts/attack-stress.sh

# The man pages: mqshim(1) and mqshim-SUBCOMMAND(1) generated from the command's clap definition
# (by the hidden `mqshim __man DIR`), libmqshim(7) written by hand in man/.
man: build
	rm -rf $(MAN_DIR)
	$(BIN) __man $(MAN_DIR)
	install -m 0644 man/libmqshim.7 $(MAN_DIR)/libmqshim.7

install: build man
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libmqshim.so
	install -m 0644 include/mqshim.h $(DESTDIR)$(PREFIX)/include/mqshim.h
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/mqshim
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e "s|@VERSION@|$$(sed -n 's/^version = \"\(.*\)\"/\1/p' Cargo.toml | head -1)|g" \
	  mqshim.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mqshim.pc
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 0644 $(MAN_DIR)/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(MAN_DIR)/libmqshim.7 $(DESTDIR)$(PREFIX)/share/man/man7/libmqshim.7

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libmqshim.so $(DESTDIR)$(PREFIX)/include/mqshim.h \
	  $(DESTDIR)$(PREFIX)/bin/mqshim $(DESTDIR)$(PREFIX)/lib/pkgconfig/mqshim.pc
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/mqshim.1 $(DESTDIR)$(PREFIX)/share/man/man1/mqshim-*.1 \
	  $(DESTDIR)$(PREFIX)/share/man/man7/libmqshim.7

clean:
	$(CARGO) clean
