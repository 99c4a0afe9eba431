# mqshim — `make demo` and `make test` do everything on a fresh machine with Rust and a C compiler.

PREFIX  ?= /usr/local
CARGO   ?= cargo
LIB     := target/release/libmqshim.so
BIN     := target/release/mqshim

.PHONY: all build test rust-test c-test header-check demo bench bench-ceiling stress install uninstall clean

all: build

build:
	$(CARGO) build --release

# Every test: Rust unit tests, the committed header is current, then the C tests, which run each
# program on the kernel and under mqshim and compare transcripts.
test: build rust-test header-check c-test

rust-test:
	$(CARGO) test --release

# build.rs regenerates include/mqshim.h; a difference from the committed file means it is stale.
header-check: build
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git diff --exit-code -- include/mqshim.h >/dev/null || { \
	    echo "include/mqshim.h is stale: the build regenerated it; commit the new header"; \
	    git --no-pager diff -- include/mqshim.h; exit 1; }; \
	  echo "header-check: include/mqshim.h is current"; \
	else echo "header-check: not a git checkout, skipped"; fi

c-test: build
	./c_tests/run.sh

demo: build
	./scripts/demo.sh

bench: build
	./bench/run.sh

# What a minimal robust-locked shared-memory ring reaches here, beside the kernel and mqshim.
bench-ceiling: build
	./bench/ceiling.sh

stress: build
	./c_tests/run.sh --stress

install: build
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libmqshim.so
	install -m 0644 include/mqshim.h $(DESTDIR)$(PREFIX)/include/mqshim.h
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/mqshim
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e "s|@VERSION@|$$(sed -n 's/^version = \"\(.*\)\"/\1/p' Cargo.toml | head -1)|g" \
	  mqshim.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mqshim.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libmqshim.so $(DESTDIR)$(PREFIX)/include/mqshim.h \
	  $(DESTDIR)$(PREFIX)/bin/mqshim $(DESTDIR)$(PREFIX)/lib/pkgconfig/mqshim.pc

clean:
	$(CARGO) clean
