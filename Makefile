# Socketfleet — top-level tasks. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO        ?= go
BIN       := $(CURDIR)/bin
RUNTIME   := $(BIN)/socketfleet-runtime
GO_UNIT_PKGS = $$($(GO) list ./... | grep -v '/test/')

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

##@ Main

DEMO_WEB    := cmd/runtime/web
DEMO_CLIENT := $(DEMO_WEB)/node_modules/socket.io-client/dist/socket.io.min.js

.PHONY: run
run: build ## Build and start socketfleet-runtime with the chat demo on http://127.0.0.1:3000/ (admin :8081).
	$(RUNTIME) --demo-enabled

$(DEMO_CLIENT): $(DEMO_WEB)/package-lock.json
	cd $(DEMO_WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: demo-client
demo-client: $(DEMO_CLIENT) ## Refresh the socket.io-client bundle built into the runtime (cmd/runtime/web/socket.io.min.js) from web/package-lock.json.
	cp $(DEMO_CLIENT) $(DEMO_WEB)/socket.io.min.js

.PHONY: build
build: ## Build the binaries into bin/.
	CGO_ENABLED=0 $(GO) build -o $(RUNTIME) ./cmd/runtime
	CGO_ENABLED=0 $(GO) build -o $(BIN)/kubectl-socketfleet ./cmd/kubectl-socketfleet

.PHONY: test
test: deps lint verify vulncheck test-unit test-fuzz test-compat test-cluster test-runtime test-fleet test-envtest test-monitoring test-e2e ## Everything CI runs: lint, verify, govulncheck, unit, fuzzing (100,000 inputs a target), compat (Node + Chromium), Redis cluster, runtime binary, fleet, operator envtest, monitoring bundle with a real Prometheus, end-to-end.

.PHONY: test-quick
test-quick: ## The inner loop (a few minutes): Go unit tests without -race (fuzz seeds, builders, golden files) and the compat suite.
	$(GO) test -count=1 $(GO_UNIT_PKGS)
	[[ -d test/compat/node_modules ]] || (cd test/compat && npm ci --no-audit --no-fund --loglevel=error)
	test/compat/run.sh

.PHONY: deps
deps: ## Install system packages and npm modules the tests need (idempotent).
	hack/install-deps.sh

.PHONY: test-unit
test-unit: ## Go unit tests (fuzz seed corpora run as ordinary tests).
	$(GO) vet ./...
	$(GO) test -race -count=1 $(GO_UNIT_PKGS)

.PHONY: test-fuzz
test-fuzz: ## Run every Go fuzz target for 100,000 executions (decoders of untrusted bytes: Redis messages, packets, payloads, bodies, tokens).
	FUZZTIME=100000x hack/fuzz.sh

FUZZTIME ?= 5m
.PHONY: fuzz
fuzz: ## A fuzzing campaign: every Go fuzz target for FUZZTIME (default 5m; e.g. make fuzz FUZZTIME=30m FUZZPARALLEL=1).
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

.PHONY: test-compat
test-compat: ## The official socket.io-client (Node and headless Chromium) against the Go runtime.
	test/compat/run.sh

##@ Checks

VERSION               := $(strip $(file < VERSION))
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT         := $(BIN)/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

$(GOLANGCI_LINT):
	GOBIN=$(dir $(GOLANGCI_LINT)) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint with .golangci.yml on both modules (the tool is built from the Go module proxy into bin/tools; concurrent runs, e.g. from several worktrees, wait for each other).
	$(GOLANGCI_LINT) run --allow-serial-runners ./...
	cd test/chart && $(GOLANGCI_LINT) run --allow-serial-runners --config ../../.golangci.yml ./...

.PHONY: fmt
fmt: $(GOLANGCI_LINT) ## Rewrite the Go files with the formatters of .golangci.yml (gofmt, goimports).
	$(GOLANGCI_LINT) fmt ./...

.PHONY: verify
verify: ## Generated files are up to date: version, generate + manifests, golden files, go mod tidy, the runtime's client bundle.
	hack/verify.sh

.PHONY: vulncheck
vulncheck: ## govulncheck on the module, offline: the database is built from the pinned golang.org/x/vulndb module (hack/govulncheck.sh); accepted findings in hack/govulncheck-accepted.txt.
	hack/govulncheck.sh

.PHONY: set-version
set-version: ## Set the release version: make set-version VERSION=X.Y.Z (writes VERSION, the chart, manifests, defaults).
	echo "$(VERSION)" > VERSION
	hack/version.sh --write

include operator.mk
include cluster.mk

.PHONY: test-runtime
test-runtime: ## socketfleet-runtime as a process: admin endpoints, drain of 200 real clients, publish, Redis, demo in Chromium.
	test/runtime/run.sh

.PHONY: test-monitoring
test-monitoring: ## Monitoring bundle: promtool check + unit tests of the alerts, a real Prometheus scraping runtime processes and the operator (envtest); every dashboard panel returns data.
	command -v promtool >/dev/null && command -v prometheus >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	command -v redis-server >/dev/null || hack/install-deps.sh demo
	KUBEBUILDER_ASSETS="$$(hack/envtest-binaries.sh)" $(GO) test -count=1 ./test/monitoring/...

.PHONY: test-cluster
test-cluster: ## A Node socket.io + @socket.io/redis-adapter server, a Go server and @socket.io/redis-emitter on one real redis-server.
	$(GO) test -count=1 ./test/cluster/...

.PHONY: test-fleet
test-fleet: ## Fleet operations with real processes: runtimes on redis-server behind HAProxy, 2,000 socket.io-client clients (drain, shed, rolling restart).
	test/fleet/run.sh

.PHONY: fleet-results
fleet-results: ## Run test/fleet and record its numbers in bench/FLEET.md (bench/RESULTS.md includes it).
	FLEET_RESULTS=$(CURDIR)/bench/FLEET.md test/fleet/run.sh

.PHONY: bench
bench: ## Benchmarks against Node socket.io 4.8 on the same machine and load; writes bench/RESULTS.md (~7 min).
	cd bench && npm ci --no-audit --no-fund --loglevel=error
	CGO_ENABLED=0 $(GO) build -o $(BIN)/bench-goserver ./bench/goserver
	CGO_ENABLED=0 $(GO) build -o $(BIN)/socketfleet-runtime ./cmd/runtime
	$(GO) run ./bench/runner $(BENCH_FLAGS)
