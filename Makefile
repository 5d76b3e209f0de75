# netspec — see README.md. Every target works on a fresh machine that has Go;
# targets that need the lab (run, test's end-to-end part) need root.
GO      ?= go
BIN     := bin/netspec
FUZZTIME ?= 10s

.PHONY: all build run test unit race e2e generate check-generated lint fuzz fuzz-long mutate check-mutate clean lab-down deps deps-run bench bench-loss bench-inmem

# The tools the tests and the lab use (ip, curl, ethtool, ping, ...). As root,
# missing ones are installed from Debian's packages; otherwise this stops with
# one line naming them and the command that installs them (scripts/deps.sh).
deps:
	@bash scripts/deps.sh test

deps-run:
	@bash scripts/deps.sh run

# The project's benchmark (root): netspec, gVisor's netstack and the Linux
# kernel with the same net/http handler, side by side in one run, written to
# BENCHMARKS.md and docs/bench/ (bench/compare.sh lists the knobs, e.g.
# DUR=3 ROUNDS=1 for a quick run). bench-loss runs only the loss scenario
# and prints its table (bench/loss.sh).
bench:
	@bash scripts/deps.sh bench
	bash bench/compare.sh

bench-loss:
	@bash scripts/deps.sh bench
	bash bench/loss.sh

# The in-memory benchmarks (bench/inmem, its own module): two stacks in one
# process on an in-memory link, netspec's pipe beside two gVisor stacks on
# link/channel, the same client and server code on both; INMEM_COUNT rounds
# of go test -bench (INMEM_TIME each), medians and netspec/gVisor ratios
# written to BENCHMARKS.md. No root needed. Profile one side with e.g.
#   cd bench/inmem && go test -run '^$$' -bench 'HTTPKeepAlive/netspec' -cpuprofile cpu.out
INMEM_COUNT ?= 5
INMEM_TIME  ?= 1s
bench-inmem:
	cd bench/benchrun && $(GO) run . -inmem ../inmem -rounds $(INMEM_COUNT) -benchtime $(INMEM_TIME) \
	  -md ../../BENCHMARKS.md -command "make bench-inmem INMEM_COUNT=$(INMEM_COUNT) INMEM_TIME=$(INMEM_TIME)"

all: build

build:
	$(GO) build -o $(BIN) ./cmd/netspec

# Build, bring up the lab (namespaces netspec-cli / netspec-srv), serve the demo
# site on 198.18.0.2:80 until Ctrl-C, then remove the lab.
run: deps-run build
	./$(BIN) serve --lab

# Everything CI runs: generated files fresh, vet, unit + property + in-memory
# tests, the race detector on the concurrent packages, and the end-to-end tests
# in real namespaces (they skip with a message when not root), and one op of
# each in-memory benchmark (bench/inmem) so they keep running, and the
# benchmark driver's own tests (bench/benchrun).
test: deps check-generated lint
	$(GO) test -count=1 -timeout 10m ./...
	cd bench/inmem && $(GO) test -count=1 -timeout 5m -bench . -benchtime 1x .
	cd bench/benchrun && $(GO) test -count=1 -timeout 5m .
	$(GO) test -count=1 -race -timeout 10m ./driver/...

generate:
	$(GO) generate ./...

# Fails when a generated file differs from what the spec produces.
check-generated:
	$(GO) generate ./...
	git diff --exit-code -- '*_gen.go' docs/diagrams || { echo "generated files are stale: run 'make generate' and commit" >&2; exit 1; }

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...

# Run every fuzz target for FUZZTIME each (a duration such as 30s, or a count
# of executions such as 5000x, which CI uses: golang/go#75804).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Spec mutation testing (issue 12; docs/verification.md, "Spec mutation
# testing"): mutate single rows of spec/*.fsm, regenerate and run the fast
# suites in a throw-away copy of the tree, report killed / survived /
# equivalent (spec/mutants.equivalent) with the survivors. Results are cached
# per spec hash, so a rerun resumes. MUTATE holds the flags (see
# go run ./fuzz/mutate/specmut -h): e.g. make mutate MUTATE="-machine arp -sample 0".
MUTATE ?= -sample tcp=40,ipv4=15,frag=15,arp=15 -seed 1 -jobs 1
mutate:
	$(GO) run ./fuzz/mutate/specmut $(MUTATE)

# make check's share: a fixed small sample (cached once run), no mutant
# started 2 minutes after the first.
check-mutate:
	$(GO) run ./fuzz/mutate/specmut -sample tcp=2,ipv4=1,frag=1,arp=1 -seed 1 -budget 2m -timeout 5m

# Every fuzz target in rotation for longer runs (fuzz/fuzzlong): FUZZTIME per
# target and turn (default here 1m), FUZZTOTAL for the whole run, at most
# FUZZPARALLEL workers. Go's fuzz cache is kept, so each run resumes the
# corpus the last one grew, and the rotation resumes where it stopped. A
# failing input stays in testdata/fuzz/<Target>/<hash>; the run names it and
# exits 1 (commit it with the fix).
FUZZTOTAL ?= 30m
FUZZPARALLEL ?= 2
fuzz-long: FUZZTIME = 1m
fuzz-long:
	$(GO) run ./fuzz/fuzzlong -fuzztime $(FUZZTIME) -total $(FUZZTOTAL) -parallel $(FUZZPARALLEL)

# SYN-flood scenarios of docs/robustness.md (issue 14): wrk against netspec
# (without and with a gateway) and the Linux kernel (likewise), unflooded and
# during an hping3 random-source flood and an on-link spoofed flood, each in
# fresh namespaces, bounded in time. DUR=seconds per wrk run (default 5).
# Then blind RSTs, nmap scans, fragment and malformed-frame floods, and RSS
# with slowloris, held and churned connections, against netspec and Linux
# (bench/hostile.sh). SCENARIOS="flood hostile memory" picks among them.
.PHONY: robust
robust: build
	@bash scripts/deps.sh robust
	bash bench/robust.sh

# Soak of docs/robustness.md (issue 14): SOAK (default 3m; the issue's form
# is SOAK=20m) of wrk, ab, curl downloads checked by sha256 and low-rate
# SYN floods against netspec serve with link faults (--faults), its heap,
# goroutines, connections and timers sampled (bench/soakmon): fails on a
# growing figure, a corrupted download or an unclean exit. The samples stay
# in a CSV under /tmp (the path is printed).
.PHONY: soak
SOAK ?= 3m
soak: build
	@bash scripts/deps.sh robust
	SOAK=$(SOAK) bash bench/soak.sh

lab-down: build
	./$(BIN) lab down

clean:
	rm -rf bin

# Spec-row coverage: run the TCP and IP unit tests, the simulator, property
# and scenario suites, merge the rows they fired and print the rows none did
# (MUST rows first; an unfired TCP row with its reason from cover.TCPAllow,
# or MISS and exit 1 without one). The gates in make test are
# TestMustRowsFire (./fuzz/sim) and TestEveryRowFires (./fuzz/scenario).
.PHONY: rule-coverage check-props
rule-coverage:
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	{ NETSPEC_RULECOV_DIR=$$d $(GO) test -count=1 ./fsm/tcp ./fsm/ip ./fuzz/sim ./fuzz/props ./fuzz/scenario >$$d/test.log 2>&1 || \
	  { grep -E '^(--- FAIL|FAIL|ok)' $$d/test.log >&2; echo "rule-coverage: tests failed (above)" >&2; exit 1; }; } && \
	$(GO) run ./fuzz/cover/rulecov -dir $$d

# Deep property runs (for make check): 20x the default gopter cases.
check-props:
	NETSPEC_PROPS_SCALE=20 $(GO) test -count=1 -timeout 30m ./fuzz/props ./fuzz/sim

# Deep formal checks: spec lints and the model checker's deep suite
# (model.DeepRuns: client/server and symmetric at cap 3 with loss,
# duplication and reordering; eager timeouts, reopen, embryo calls at cap 3;
# two injected segments per run in each profile). Exit 1 on a violation (the
# trace goes to testdata/counterexamples) or on a row no run fires that the
# allow-list does not excuse. check-mutate runs a small spec mutation sample.
.PHONY: check
check: check-props check-mutate
	$(GO) run ./cmd/netspec check --deep
