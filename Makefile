# sipr — build, install, run, test, bench.
#
#   make run     build and run sipr with etc/sipr.cfg
#   make test    every test of every crate (+ end-to-end tests once they exist);
#                installs what it needs on a fresh Debian machine
#   make bench   benchmarks (tables as in README.md)
#   make install PREFIX=DIR   the layout of DESIGN.md, relocatable

PREFIX   ?= /usr/local
DESTDIR  ?=
CARGO    ?= cargo
SHM_MB   ?= 64
CFG      ?= etc/sipr.cfg

# Debian packages the build wants: libmimalloc-dev, the process allocator
# the sipr binary links (core/build.rs; without it, glibc's malloc and a
# build warning); libsqlite3-dev, the SQLite library db_sqlite links
# (rusqlite, as Kamailio's db_sqlite links Debian's libsqlite3).
BUILD_APT_PACKAGES := libmimalloc-dev libsqlite3-dev
# Debian packages the tests need: kamailio, whose stock
# /etc/kamailio/kamailio.cfg the cfg tests read, with its SQLite and
# PostgreSQL modules and schema files (the bed's databases; Kamailio reading
# what sipr wrote), PostgreSQL (test/pg_scaleout.sh starts its own server on
# loopback), sip-tester (sipp) for the end-to-end tests in test/, and
# python3-prometheus-client, whose text parser reads GET /metrics, and tmux,
# in which test/siprctl.sh watches `siprctl monitor`.
TEST_APT_PACKAGES ?= kamailio kamailio-sqlite-modules kamailio-postgres-modules postgresql sqlite3 sip-tester python3 python3-prometheus-client tmux procps iproute2 $(BUILD_APT_PACKAGES)

RELEASE_DIR := target/release
# Module crates (modules/NAME, lib NAME → libNAME.so → NAME.so); the SDK
# and the test-only modules are not installed.
MODULE_CRATES := $(filter-out sdk test_%,$(patsubst modules/%/Cargo.toml,%,$(wildcard modules/*/Cargo.toml)))

.PHONY: all install run test bench lint clean deps toolchain

all:
	$(CARGO) build --release --workspace

# Rust components that lint needs (a rustup toolchain may lack them).
toolchain:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup)" >&2; exit 1; }
	@if command -v rustup >/dev/null; then \
	    $(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt; \
	    $(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy; \
	fi

# Debian packages for the tests, installed only when missing.
deps: toolchain
	@missing=""; for p in $(TEST_APT_PACKAGES); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/sipr/modules \
	    $(DESTDIR)$(PREFIX)/etc/sipr $(DESTDIR)$(PREFIX)/share/sipr
	install -m 0755 $(RELEASE_DIR)/sipr $(DESTDIR)$(PREFIX)/sbin/sipr
	install -m 0755 $(RELEASE_DIR)/siprctl $(DESTDIR)$(PREFIX)/sbin/siprctl
	@for m in $(MODULE_CRATES); do \
	    install -m 0644 $(RELEASE_DIR)/lib$$m.so $(DESTDIR)$(PREFIX)/lib/sipr/modules/$$m.so || exit 1; done
	@[ -f $(DESTDIR)$(PREFIX)/etc/sipr/sipr.cfg ] || install -m 0644 etc/sipr.cfg $(DESTDIR)$(PREFIX)/etc/sipr/sipr.cfg
	install -m 0644 etc/*.cfg $(DESTDIR)$(PREFIX)/share/sipr/
	@for db in sqlite postgres; do install -d $(DESTDIR)$(PREFIX)/share/sipr/db/$$db && \
	    install -m 0644 scripts/db/$$db/*.sql $(DESTDIR)$(PREFIX)/share/sipr/db/$$db/ || exit 1; done

# The server in the foreground on 127.0.0.1:5060 (etc/sipr.cfg), logging to
# stderr; modules from the build tree.
run:
	$(MAKE) deps TEST_APT_PACKAGES="$(BUILD_APT_PACKAGES)"
	$(MAKE) all
	$(RELEASE_DIR)/sipr -DD -E -m $(SHM_MB) -L $(RELEASE_DIR) -f $(CFG)

# The module .so files are built first: the loader and module tests open
# them from target/debug.
test: deps
	$(CARGO) build --workspace
	$(CARGO) test --workspace
	$(CARGO) test -p sipr-mem --features debug
	@if ls test/*.sh >/dev/null 2>&1; then for t in test/*.sh; do echo "== $$t"; bash $$t || exit 1; done; fi

# Benchmarks: the crates' (allocator, locks, parser, script), then the
# server against Kamailio on ../shared/bench (installs kamailio, sipp and
# sipsak when missing).
bench:
	$(MAKE) deps TEST_APT_PACKAGES="kamailio kamailio-sqlite-modules sqlite3 sip-tester sipsak procps iproute2 time valgrind $(BUILD_APT_PACKAGES)"
	$(CARGO) build --release --workspace
	$(CARGO) build --release -p sipr-core --example udp_floor
	$(CARGO) bench -p sipr-mem -p sipr-locking -p sipr-core
	bash scripts/bench-server.sh
	bash scripts/bench-registrar.sh

lint: toolchain
	$(MAKE) deps TEST_APT_PACKAGES="$(BUILD_APT_PACKAGES)"
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

clean:
	$(CARGO) clean
