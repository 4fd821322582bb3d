# Reinstate. Two commands set everything up: `make run` and `make test`.
# Everything else the project needs (Go modules) is fetched by the go command.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.buildVersion=$(VERSION)
FUZZTIME ?= 30s
BENCHTIME ?= 1s
BENCHCOUNT ?= 5

# The sample audit stream `make run` replays: a realistic Event Hubs batch, a
# body with records that cannot be decoded, and a body that is not JSON.
RUN_DIR       := .run
SAMPLE_STREAM := testdata/audit/eventhubs/mixed-batch.json \
                 testdata/audit/malformed/bad-records.json \
                 testdata/audit/malformed/html-error-page.txt

# The rule table `make run` and `make replay` use.
RULES := docs/rules.sample.yaml
# `make replay` needs no Graph: its table reads no recycle-bin copy.
REPLAY_RULES := testdata/rules/replay.yaml

# Fuzz targets: package and function name.
FUZZ_TARGETS := ./pkg/audit:FuzzDecode ./pkg/customhandler:FuzzEnvelope ./pkg/rules:FuzzParse

.PHONY: build run replay test bench bench-replay fuzz package clean card-preview

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/reinstate ./cmd/reinstate
	$(GO) build -trimpath -o bin/graphsim ./cmd/graphsim
	$(GO) build -trimpath -o bin/demo ./internal/tools/demo

# The whole pipeline on embedded defaults, with real processes over loopback
# HTTP: graphsim (a simulated tenant that forwards its audit log as a local
# Functions host would), `reinstate serve` against it with SQLite, deletions
# by an administrator, and what Reinstate restored, left alone, and ignored;
# then on-call restores what the rules left, through the on-call API with a
# locally minted token, and example curl commands are printed. KEEP=1 keeps
# graphsim and the handler running afterwards, to try them.
run: build
	./bin/demo -bin bin -seed testdata/graphsim/seed.json -rules $(RULES) -run-dir $(RUN_DIR) $(if $(KEEP),-keep)

# Replays the sample audit stream through the custom handler, in the Functions
# host's envelope, twice (as Event Hubs redelivers); then shows what was
# recorded and kept as dead letters.
replay: build
	rm -rf $(RUN_DIR) && mkdir -p $(RUN_DIR)
	REINSTATE_STORE=sqlite:$(RUN_DIR)/reinstate.db REINSTATE_RULES=$(REPLAY_RULES) ./bin/reinstate replay --repeat 2 $(SAMPLE_STREAM)
	@echo
	@echo "== journal (newest first)"
	@REINSTATE_STORE=sqlite:$(RUN_DIR)/reinstate.db ./bin/reinstate journal
	@echo
	@echo "== dead letters"
	@REINSTATE_STORE=sqlite:$(RUN_DIR)/reinstate.db ./bin/reinstate deadletters

# Vets, then runs every test, including the fuzz targets' seed corpora,
# with one Azurite (the Azure Storage emulator, pinned in package.json and
# installed into node_modules) for the Table Storage store's conformance
# suite and the blob tests. withazurite starts it on free loopback ports,
# passes its connection string in REINSTATE_TEST_AZURITE and stops it when
# the tests end, pass or fail. A package's tests run alone (`go test
# ./pkg/store/table/`) start an Azurite of their own.
test: node_modules/.package-lock.json
	$(GO) vet ./...
	$(GO) run ./internal/tools/azurite/withazurite -- $(GO) test -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./...

fuzz:
	@set -e; for target in $(FUZZ_TARGETS); do \
		pkg=$${target%%:*}; fn=$${target##*:}; \
		echo "== $$fn ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg; \
	done

# The replay benchmark of docs/PERFORMANCE.md: a synthetic stream of
# REPLAY_RECORDS audit records replayed from a file, in observe mode, with
# the time and peak memory it took.
REPLAY_RECORDS ?= 100000
bench-replay: build
	rm -rf $(RUN_DIR)/bench-replay && mkdir -p $(RUN_DIR)/bench-replay
	$(GO) run ./internal/tools/auditgen -records $(REPLAY_RECORDS) -out $(RUN_DIR)/bench-replay/audit.ndjson
	REINSTATE_STORE=sqlite:$(RUN_DIR)/bench-replay/state.db REINSTATE_RULES=$(REPLAY_RULES) \
		./bin/reinstate replay $(RUN_DIR)/bench-replay/audit.ndjson > $(RUN_DIR)/bench-replay/out.txt
	@grep -A20 '^replay in' $(RUN_DIR)/bench-replay/out.txt

# The rule table `make package` ships. Yours: RULES_PACKAGE=path/to/rules.yaml
# make package, or `azd env set RULES_PACKAGE path/to/rules.yaml`, since azd
# passes its environment to the hook that runs make package (docs/DEPLOY.md).
# The sample's object ids are the sample tenant's; it starts in observe mode.
RULES_PACKAGE ?= docs/rules.sample.yaml

# dist/reinstate.zip: host.json, one folder per function, the linux/amd64
# binary named by host.json's defaultExecutablePath, with its exec bit, and
# beside it RULES_PACKAGE as rules.yaml, where `reinstate serve` reads it when
# REINSTATE_RULES is unset. A table serve would refuse fails the build, each
# problem as file:line:column.
package:
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/reinstate ./cmd/reinstate
	$(GO) run ./internal/tools/mkpackage -out dist/reinstate.zip -binary dist/reinstate -rules "$(RULES_PACKAGE)"

clean:
	rm -rf bin dist $(RUN_DIR)

# Pictures of the Teams card for the README, docs/teams-card-restored.png and
# docs/teams-card-breaker.png: the cards pkg/notify renders (cardpreview),
# drawn by the adaptivecards npm renderer in headless Chromium and cropped
# to the card (render.mjs). Needs Node.js and npm; installs the tool's npm
# packages, and Debian's chromium when /usr/bin/chromium is missing. Not part
# of test, run or CI, which need no browser.
CARDPREVIEW := internal/tools/cardpreview
CARD_DIR    := $(RUN_DIR)/cardpreview

card-preview: $(CARDPREVIEW)/node_modules/.package-lock.json
	@if [ ! -x /usr/bin/chromium ]; then \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "== /usr/bin/chromium is missing: installing Debian's chromium ($$sudo apt-get update; $$sudo apt-get install -y chromium)"; \
		$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || exit 1; \
	fi
	$(GO) run ./$(CARDPREVIEW) -out $(CARD_DIR)
	cd $(CARDPREVIEW) && node render.mjs \
		$(CURDIR)/$(CARD_DIR)/restored.json $(CURDIR)/docs/teams-card-restored.png \
		$(CURDIR)/$(CARD_DIR)/breaker.json $(CURDIR)/docs/teams-card-breaker.png

# The repository's own npm packages (Azurite): npm ci again whenever the
# lock file changes.
node_modules/.package-lock.json: package-lock.json package.json
	@echo "== installing Azurite for the tests (npm ci)"
	npm ci --no-audit --no-fund

# npm ci again whenever the lock file changes.
$(CARDPREVIEW)/node_modules/.package-lock.json: $(CARDPREVIEW)/package-lock.json $(CARDPREVIEW)/package.json
	@echo "== installing the card preview's npm packages (npm ci in $(CARDPREVIEW))"
	cd $(CARDPREVIEW) && npm ci --no-audit --no-fund
