# The project's two front-door commands; see README.md.

.PHONY: run build cluster test check e2e-deps sample-assets pgo

BIN ?= bin

# The sample chat server on 127.0.0.1:4000 (flags: see sample/README.md), with the
# page's JavaScript (the phoenix npm client, pinned) installed first. Built,
# then run in make's place (exec): Ctrl-C reaches the server, which drains
# and exits with status 0, so make has no error to report. Under go run it
# could not: go run exits 1 when it is interrupted itself, whatever its
# program's status.
run: sample-assets
	@echo "building the sample (the first build takes a minute or two)…"
	go build -o $(BIN)/sample ./sample
	exec $(BIN)/sample $(ARGS)

# bin/sample: the sample as one file to deploy, carrying its page and the
# pinned phoenix client, so that it serves them from any folder.
build: sample-assets
	mkdir -p sample/web/vendor $(BIN)
	cp sample/assets/node_modules/phoenix/priv/static/phoenix.mjs sample/web/vendor/phoenix.mjs
	go build -o $(BIN)/sample ./sample

# Three sample nodes in one cluster on loopback: http://127.0.0.1:4001,
# :4002 and :4003 (cluster listeners on 7001-7003), sharing chat.db.
cluster: sample-assets
	bash sample/cluster.sh $(ARGS)

# Every test: formatting, vet, the race-enabled Go tests, and the end-to-end
# tests with the official phoenix JavaScript client. The cluster package's
# tests that run several nodes in one process skip under -race (Proto.Actor
# remote sets gRPC's global logger at every start), so they run again
# without it; the sample's cluster tests run each node as a race-enabled
# process of its own.
test: check e2e-deps sample-assets
	PHX_E2E=1 go test -race -count=1 ./...
	go test -count=1 ./cluster

# sample/default.pgo, the CPU profile Go builds the sample with (profile-
# guided optimisation), taken anew from the sample under the load tool's
# echo, joins and fan-out: about two minutes. See docs/benchmarks.md.
pgo:
	bash loadtest/pgo.sh

check:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/node_modules/*'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt wants to change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

e2e-deps:
	npm ci --prefix e2e --no-audit --no-fund --loglevel=error

sample-assets:
	npm ci --prefix sample/assets --no-audit --no-fund --loglevel=error
