# l2gw: `make demo` brings up a two-site lab, `make test` runs every test
# (unit and end-to-end on real Open vSwitch). Both install what they need
# (Debian packages, as root).

GO ?= go
BIN := bin

.PHONY: all build deps test unit demo demo-down bench clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

deps:
	./scripts/install-deps.sh

# Unit tests only: no Open vSwitch, no root.
unit:
	$(GO) vet ./...
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -e /integration -e /internal/ovstest)

# Everything, end-to-end tests included (root; OVS is installed if missing),
# under the race detector (the end-to-end tests also build l2gwd with it).
# Packages run one at a time: the lab tests build network namespaces and
# several Open vSwitch instances, and the machine has two cores.
test: deps
	$(GO) vet ./...
	L2GW_REQUIRE_OVS=1 $(GO) test -race -count=1 -p 1 -timeout 30m $$($(GO) list ./... | grep -v /integration)
	L2GW_REQUIRE_OVS=1 $(GO) test -race -count=1 -p 1 -timeout 30m ./integration/...

demo: deps build
	./scripts/demo.sh up

demo-down:
	./scripts/demo.sh down

# The scale benchmark (issues 3 and 15) in its own namespace and Open vSwitch
# (root): make bench (a million bindings, 100,000 EVPN routes), or
# make bench N=10000 EVPN=10000 for a quick run.
N ?= 1000000
EVPN ?= 100000
bench: deps
	$(GO) build -o $(BIN)/ ./cmd/l2gwd
	$(GO) run ./cmd/l2gw-bench -n $(N) --evpn-routes $(EVPN) --l2gwd $(BIN)/l2gwd

clean:
	rm -rf $(BIN)
