# coord — the two commands a new machine needs are `make test` and `make bench`.
GO       ?= go
BIN      := $(CURDIR)/.bin
export PATH := $(BIN):$(PATH)

# Test servers, built from source (no prebuilt binaries): `go install`,
# or, for SeaweedFS, whose go.mod has a replace directive that `go install
# pkg@version` refuses, `go build` in a writable copy of the module.
MINIO_MODULE      := github.com/minio/minio
MINIO_VERSION     := v0.0.0-20260212201848-7aac2a2c5b7c
VERSITYGW_MODULE  := github.com/versity/versitygw/cmd/versitygw
VERSITYGW_VERSION := v1.8.0
# SeaweedFS 4.53 (weed/util/version: MAJOR 4, MINOR 53).
SEAWEEDFS_MODULE  := github.com/seaweedfs/seaweedfs
SEAWEEDFS_VERSION := v0.0.0-20261109003541-7506e5f91cd6
FAKEGCS_MODULE    := github.com/fsouza/fake-gcs-server
FAKEGCS_VERSION   := v1.56.1
STATICCHECK       := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The whole `make test` must stay under 15 minutes on 2 cores.
TEST_TIMEOUT ?= 13m

.PHONY: all test unit lint browser bench bench-minio servers chaos fuzz clean-servers

all: lint test

## test: build the test servers if missing (MinIO, versitygw, SeaweedFS,
## fake-gcs-server), start them on loopback, run every
## test with the race detector, stop the servers.
test: servers browser
	./internal/testserver/run.sh $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	cd deploy/validate && $(GO) test -count=1 ./...

## unit: the tests that need no server (real-server tests skip).
unit:
	$(GO) test -race -count=1 ./...
	cd deploy/validate && $(GO) test -count=1 ./...

## browser: Debian's chromium for the status page's browser tests, where
## it is missing and may be installed (root); otherwise those tests skip.
browser:
	./internal/testserver/browser.sh

## lint: gofmt, go vet, staticcheck.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd deploy/validate && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## bench: the request/cost/convergence benchmark on the embedded bolt store.
bench:
	$(GO) run ./cmd/bench $(BENCH_FLAGS)

## bench-minio: the benchmark against the loopback MinIO server of
## `make servers` (real time, intervals 10x shorter, counts scaled per hour;
## 60 s windows so that a heartbeat more or less is under 1%).
BENCH_MINIO_FLAGS ?= -duration 60s
bench-minio: servers
	COORD_BENCH_MINIO=1 COORD_BENCH_FLAGS="$(BENCH_MINIO_FLAGS) $(BENCH_FLAGS)" ./internal/testserver/run.sh $(GO) test -count=1 -run TestBenchAgainstMinIO -v -timeout 30m ./cmd/bench

## chaos: the full simulation sweep (SIM_SEEDS seeds of many processes on a
## virtual clock over a fault-injecting store), then real-server chaos
## (worker processes on MinIO and versitygw; the leader is killed -9,
## SIGSTOPped, partitioned, reset, or its requests accepted and never
## answered; >= 50 failovers per server; leadership intervals checked for
## overlap); then coordctl run under the same faults (>= 30 failovers of
## the leading coordctl; no overlap of the commands it supervises).
SIM_SEEDS ?= 20000
chaos: servers
	COORD_SIM_SEEDS=$(SIM_SEEDS) $(GO) test -count=1 -timeout 60m -run '^TestSimSweep$$' -v ./internal/sim
	./internal/testserver/run.sh $(GO) test -tags chaos -count=1 -v -run '^TestChaos$$' -timeout 40m ./internal/chaos
	./internal/testserver/run.sh $(GO) test -tags chaos -count=1 -v -run '^TestRunChaos$$' -timeout 20m ./internal/chaos

## servers: build MinIO, versitygw, SeaweedFS and fake-gcs-server into
## ./.bin once (cached).
servers: $(BIN)/minio $(BIN)/versitygw $(BIN)/weed $(BIN)/fake-gcs-server

$(BIN)/minio:
	@echo "building MinIO server (about 3 minutes on 2 cores, once)"
	CGO_ENABLED=0 GOBIN=$(BIN) $(GO) install $(MINIO_MODULE)@$(MINIO_VERSION)

$(BIN)/versitygw:
	@echo "building versitygw (about 1.5 minutes on 2 cores, once)"
	CGO_ENABLED=0 GOBIN=$(BIN) $(GO) install $(VERSITYGW_MODULE)@$(VERSITYGW_VERSION)

$(BIN)/weed:
	@echo "building SeaweedFS 4.53 (once; 10-50 minutes on 2 cores, by load)"
	@set -e; tmp=$$(mktemp -d); trap 'chmod -R u+w "$$tmp"; rm -rf "$$tmp"' EXIT; \
	dir=$$(cd "$$tmp" && $(GO) mod download -json $(SEAWEEDFS_MODULE)@$(SEAWEEDFS_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$dir"; cp -R "$$dir" "$$tmp/src"; chmod -R u+w "$$tmp/src"; \
	cd "$$tmp/src" && CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/weed ./weed

$(BIN)/fake-gcs-server:
	@echo "building fake-gcs-server v1.56.1 (once; 10 minutes measured on 2 cores shared with other builds)"
	CGO_ENABLED=0 GOBIN=$(BIN) $(GO) install $(FAKEGCS_MODULE)@$(FAKEGCS_VERSION)

## fuzz: run every fuzz test in the module for FUZZTIME each (the seed
## corpora under testdata/fuzz also run in every `go test`).
FUZZTIME ?= 10s
fuzz:
	@set -e; for f in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
	  dir=./$$(dirname $$f); \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "== $$dir $$name"; \
	    $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done

clean-servers:
	rm -rf $(BIN)
