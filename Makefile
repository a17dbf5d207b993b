# keysync's two entry points for a fresh machine:
#   make demo   build, start Vault and the ARM emulator on loopback; a Batch
#               sync and its masked plan, discovery by tag, a rotation, and
#               an Event Grid event reaching Vault (scripts/demo.sh)
#   make test   lint, build the Vault server, then run every test against it

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The same flags as the Dockerfile's build stage.
LDFLAGS   := -s -w -X main.version=$(VERSION)
VAULT_BIN := tools/vault/bin/vault
# Vault's module graph holds versions the checksum database does not answer
# for; go.sum in tools/vault still pins every hash.
VAULT_ENV := GONOSUMDB=github.com/hashicorp GOFLAGS=
# golangci-lint, pinned here only. `go run pkg@version` builds it once and
# keeps the binary in the build cache, so later runs start at once.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: all build vault deps lint test test-race test-fast test-under-load fuzz demo bench bench-smoke clean deploy-check

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/keysync ./cmd/keysync
	$(GO) build -o bin/armemu ./cmd/armemu

# The real Vault server, built from Vault's own Go module (about 6 minutes
# the first time on 2 cores; the build cache makes later builds fast).
vault: $(VAULT_BIN)

$(VAULT_BIN): tools/vault/go.mod tools/vault/go.sum tools/vault/main.go
	cd tools/vault && $(VAULT_ENV) $(GO) build -tags minimal -o bin/vault .

# .golangci.yml says which linters and why. deploy/check is a module of its
# own, linted with the same file; tools/vault only wraps Vault's main and is
# not linted (type-checking it means type-checking all of Vault).
lint:
	$(GOLANGCI_LINT) run --allow-parallel-runners ./...
	cd deploy/check && $(GOLANGCI_LINT) run --allow-parallel-runners ./...

# Everything CI runs, in the order a failure is cheapest to see: the
# tools the tests need (installed from Debian when missing; root), lint,
# the fast tier with no Vault binary at all (it must need none), vet,
# then side by side: every test against the real Vault and emulator, the
# fuzz targets, the deploy checks, and a short run proving the benchmark
# still works. Most of the tests' time is waiting (daemons, Vault, the
# emulator's schedules), so the last four share the cores; each one's
# output is printed whole when it ends (--output-sync).
test: deps lint vault
	KEYSYNC_VAULT_BIN=/nonexistent $(MAKE) test-fast
	$(GO) vet ./...
	$(MAKE) -j4 --output-sync=target test-race fuzz deploy-check bench-smoke

# Every test against the real Vault and emulator, race-checked; up to
# TEST_P packages at once (the end-to-end package alone runs 8 tests at
# once; see e2e/main_test.go).
TEST_P ?= 3
test-race: vault
	$(GO) test -race -count=1 -p $(TEST_P) -timeout 40m ./...

# The Debian packages the tests need beyond Go, make and gcc (podman,
# runc, systemd, systemd-container): checked, and installed when missing.
# It says so, and that it needs root, before doing anything.
deps:
	./scripts/test-deps.sh

# make test three times in a row beside a CPU hog as heavy as the tests
# (one busy process per core), then once with GOMAXPROCS=1: no test's
# verdict may depend on how fast the machine is. Prints each run's time.
test-under-load:
	./scripts/test-under-load.sh

# The fast tier: no Vault, no emulator (the real tier's tests say so under
# -short); seconds, for the edit-test loop. make test runs everything.
test-fast:
	$(GO) test -short -count=1 ./fault/... ./sync/... ./sources/... ./sinks/...

# A short, bounded run of each fuzz target, so CI proves they still work.
# Budgets are counts, not durations: a duration budget can fail at its
# boundary with "context deadline exceeded" and no input (golang/go#75804),
# which would make CI fail without a finding. FUZZ_N raises them locally.
FUZZ_N ?= 20000
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseResponse$$' -fuzztime $(FUZZ_N)x ./sources/azure
	$(GO) test -run '^$$' -fuzz '^FuzzRetryAfter$$' -fuzztime $(FUZZ_N)x ./sources/azure
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZ_N)x ./config
	$(GO) test -run '^$$' -fuzz '^FuzzShape$$' -fuzztime $(FUZZ_N)x ./config
	$(GO) test -run '^$$' -fuzz '^FuzzParseEvents$$' -fuzztime $(FUZZ_N)x ./internal/server

# The Helm chart and the Kubernetes manifests: lint, render, strict decode
# into the typed API objects (a module of its own: Helm stays out of go.mod).
deploy-check:
	cd deploy/check && $(GO) test -count=1 ./...

demo: build vault
	./scripts/demo.sh

# keysync against a naive baseline, side by side, on the ARM emulator and a
# real Vault; writes docs/BENCHMARKS.md. Not part of the tests' pass/fail.
bench: vault
	$(GO) run ./bench -out docs/BENCHMARKS.md -svg docs/bench-scale.svg

# A small run of the same cases: proves the benchmark still works.
bench-smoke: vault
	$(GO) run ./bench -smoke

clean:
	rm -rf bin .demo
