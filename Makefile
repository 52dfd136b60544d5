# mmm — build, test and demo. `make demo` and `make test` install what is missing
# (mariadb-server, mariadb-client, mariadb-backup, iproute2, ansible-core, puppet,
# chromium) with apt-get; run them as root.

SHELL     := /bin/bash
GO        ?= go
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
BIN       := bin/mmm
DEMO      := examples/lab

.PHONY: all build test demo bench fuzz lint lab-down deps

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mmm

# Install the binary in $(PREFIX)/bin, and the shared module(s) and the systemd
# units in $(PREFIX)/share/mmm (docs/production.md says where they go next).
# Needs only the Go toolchain of go.mod (or use a `make release` archive).
PREFIX  ?= /usr/local
DESTDIR ?=
.PHONY: install
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/mmm
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/mmm
	cp -R modules examples/systemd $(DESTDIR)$(PREFIX)/share/mmm/
	@echo "installed $(DESTDIR)$(PREFIX)/bin/mmm ($$($(DESTDIR)$(PREFIX)/bin/mmm version))"

# Release archives: bin/release/mmm-VERSION-linux-{amd64,arm64}.tar.gz (the
# static binary stamped with VERSION, modules/, systemd units, README,
# CHANGELOG, docs/) and their SHA256SUMS.
RELEASE_ARCHES ?= amd64 arm64
.PHONY: release
release:
	@set -e; rm -rf bin/release; mkdir -p bin/release; \
	for arch in $(RELEASE_ARCHES); do \
		name=mmm-$(VERSION)-linux-$$arch; dir=bin/release/$$name; mkdir -p $$dir; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $$dir/mmm ./cmd/mmm; \
		cp -R README.md CHANGELOG.md docs modules $$dir/; mkdir -p $$dir/examples; cp -R examples/systemd $$dir/examples/; \
		tar -C bin/release --owner=0 --group=0 -czf bin/release/$$name.tar.gz $$name; rm -rf $$dir; \
	done; \
	cd bin/release && sha256sum *.tar.gz > SHA256SUMS && cat SHA256SUMS

# Unit tests and the lab integration tests (real MariaDB servers in network
# namespaces; each package's lab has its own /24, see README "Lab"). Verbose, so
# the output shows which lab tests ran or why they skipped, minus the RUN/PASS
# chatter; the whole log is in bin/test.log, and the last line counts the tests.
test: deps
	@mkdir -p bin; set -o pipefail; rc=0; \
	$(GO) test -count=1 -timeout 15m -v ./... 2>&1 | tee bin/test.log | \
		grep -Ev '^(=== (RUN|PAUSE|CONT|NAME)|\s*--- PASS|PASS$$)' || rc=$$?; \
	echo "$$(grep -cE '^\s*--- PASS' bin/test.log) passed, $$(grep -cE '^\s*--- FAIL' bin/test.log) failed, $$(grep -cE '^\s*--- SKIP' bin/test.log) skipped"; \
	exit $$rc

# The main job on the local lab: lab up, plan, apply, a row written on the
# writer read back on every host, and a second plan with nothing to do.
demo: deps build
	MMM=$(BIN) CONFIG=$(DEMO) examples/lab/demo.sh

# Go micro-benchmarks of the pure packages, then mmm itself on lab clusters
# (internal/bench): plan on 2/4/8 hosts (median of 10), apply bare->converged
# on fresh 4-host labs; labs on 198.18.10-12.0/24; about 1-2 minutes.
bench: deps build
	$(GO) test -run '^$$' -bench . ./internal/flavor/... ./plan/... ./schema/...
	$(GO) run ./internal/bench -mmm $(BIN)
	$(MAKE) bench-clone

# What a running `mmm watch` costs (internal/bench/watch.go; docs/watch.md, "Cost"):
# labs of 4, 8 and 16 hosts with agents, the watch 60s on each: CPU and
# statements/s per host, connections/s, memory, round p50/p99. ~6 minutes.
.PHONY: bench-watch
bench-watch: deps build
	$(GO) run ./internal/bench -watch -mmm $(BIN)

# Fuzz the topology loader (its seed corpus also runs in make test). Short
# minimisation keeps the workers fuzzing rather than shrinking big seeds.
FUZZTIME ?= 10m
fuzz:
	$(GO) test -run '^$$' -fuzz=FuzzLoad -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s -timeout 0 ./schema/

# gofmt, go vet, staticcheck (pinned: a version that knows go.mod's Go; `go
# run` fetches it once into the module cache, go.mod is not touched) and a
# tidy module file. .ci/run runs it.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) mod tidy -diff

lab-down: build
	$(BIN) lab down --config $(DEMO)

# Debian/Ubuntu packages the lab needs. Nothing of ours uses Debian's own MariaDB
# service: every lab server runs with its own --defaults-file and data dir inside
# a namespace. policy-rc.d keeps the package's postinst from starting that
# service (on a fresh machine it would sit on 127.0.0.1:3306 for nothing).
deps:
	@missing=""; \
	command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing="$$missing mariadb-server"; \
	command -v mariadb >/dev/null 2>&1 || missing="$$missing mariadb-client"; \
	command -v mbstream >/dev/null 2>&1 || missing="$$missing mariadb-backup"; \
	command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing="$$missing iproute2"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v ansible-playbook >/dev/null 2>&1 || missing="$$missing ansible-core"; \
	command -v puppet >/dev/null 2>&1 || missing="$$missing puppet"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "missing:$$missing; run as root (or install them) to continue" >&2; exit 1; fi; \
	echo "installing:$$missing"; \
	policy=""; \
	if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; policy=1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; rc=$$?; \
	if [ -n "$$policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	exit $$rc

# --- bench-clone (internal/clone; owned by the bootstrap work) -------------------
# Clone throughput of `mmm apply`'s bootstrap (logical: LOAD DATA and INSERT modes;
# physical: mariabackup between the agents) side by side with
# `mariadb-dump | mariadb` on the same data (1M rows, blobs), in one run,
# on the lab's bare servers (subnet 198.18.8.0/24). Needs root and mariadb-server.
# MMM_BENCH_VERIFY=1 includes the per-chunk checksums in the clone's time;
# MMM_BENCH_WORKERS=N sets the logical clone's sessions (default 4).
.PHONY: bench-clone
bench-clone: deps
	$(GO) test -count=1 -run '^$$' -bench BenchmarkClone -benchtime 1x ./internal/clone/

# --- chaos and bench-failover (internal/chaos; docs/chaos.md) --------------------
# The chaos suite on its own lab (subnet 198.18.6.0/24): the real `mmm watch`
# and `mmm agent`s, a write load through the writer VIP as the application,
# faults injected one at a time (FAULTS: a comma list or "all"; RUNS: runs of
# each fault), and per run the safety counts (lost, split-brain samples and
# writes, errant, diverged, phantom, false failovers) and the outage; a table
# per fault at the end, the logs in bin/chaos/<stamp>/. The single watch's
# faults run first, then the raft faults on three watch nodes (leaderkill …).
# The defaults run every fault 5 times (100 runs, about 30-60 minutes);
# `make test` runs kill9, freeze and hostcut once. Needs root.
FAULTS ?= all
RUNS   ?= 5
.PHONY: chaos
chaos: deps
	@mkdir -p bin; set -o pipefail; \
	FAULTS=$(FAULTS) RUNS=$(RUNS) $(GO) test -count=1 -run TestChaos -v -timeout 0 ./internal/chaos/ 2>&1 | tee bin/chaos.log

# Outage (fault -> first acknowledged write on the new writer, through the
# writer VIP) for kill9, hostcut and freeze separately, min/median/max over
# BENCH_RUNS (default 10) runs each, by the chaos suite; then the move-role
# write-blocked time of internal/watch's BenchmarkFailover (lab 198.18.7.0/24;
# MMM_BENCH_KILLS, default 10, kills and as many move-roles). Needs root.
BENCH_RUNS ?= 10
.PHONY: bench-failover
bench-failover: deps
	@mkdir -p bin; set -o pipefail; rc=0; \
	FAULTS=kill9,hostcut,freeze RUNS=$(BENCH_RUNS) $(GO) test -count=1 -run TestChaos -v -timeout 0 ./internal/chaos/ 2>&1 | \
		tee bin/bench-failover.log | grep -Ev '^=== RUN|chaos: settle: ' || rc=1; \
	$(GO) test -count=1 -run '^$$' -bench BenchmarkFailover -benchtime 1x -timeout 30m ./internal/watch/ || rc=1; \
	exit $$rc
