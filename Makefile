# greenlight. `make local` runs a whole release on the local engine;
# `make test` runs every test. Both install what they need first.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The pinned Node 22 from package.json comes first on PATH for everything
# that runs jsii (CDK in Go), the CDK CLI or the local engine.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
# jsii: do not nag about the Node version or print deprecation notices.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_DEPRECATED := quiet

CONFIG ?= $(if $(wildcard greenlight.json),greenlight.json,greenlight.example.json)
ASSET := build/bootstrap.zip
NODE_STAMP := node_modules/.greenlight-installed
# Everything the Lambda binary is built from: Go sources and the files
# they embed (instance/*.sh, the SSM documents' scripts, among them).
GO_SOURCES := $(shell find lambdas internal instance -type f -not -name '*_test.go') go.mod go.sum
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The Lambda binary's build flags: static (CGO off), stripped, reproducible.
LAMBDA_FLAGS := -trimpath -tags lambda.norpc -ldflags='-s -w -buildid='
# make bench: the same bootstrap built for this host, for the cold starts
# under the Lambda Runtime Interface Emulator (installed from the module
# proxy into a temporary directory by the bench, never vendored).
BENCH_BOOTSTRAP := build/bench/bootstrap
RIE := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
TEST_FLAGS ?=
# The harness build of the CLI links the local engine (`greenlight local`);
# the operator's build does not (cmd/greenlight/lean_test.go checks it).
HARNESS := -tags harness

.PHONY: help build test go-test synth lint lint-files vet staticcheck deploy clean node tools local invoke bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

node: $(NODE_STAMP) ## install the pinned Node toolchain (node_modules/)

# Debian tools the tests run: zip for the asset, shellcheck for instance/,
# nginx for the maintenance-page test, chromium for the approval page's
# browser test (command:package pairs).
DEBIAN_TOOLS := zip:zip shellcheck:shellcheck nginx:nginx-light chromium:chromium
tools:
	@missing=""; for pair in $(DEBIAN_TOOLS); do \
		command -v "$${pair%%:*}" >/dev/null || [ -x "/usr/sbin/$${pair%%:*}" ] || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing from Debian's packages"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(ASSET): $(GO_SOURCES)
	@mkdir -p build/lambda
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build $(LAMBDA_FLAGS) -o build/lambda/bootstrap ./lambdas
	@# A fixed timestamp keeps the zip, and so the CDK asset hash, stable.
	@touch -d '2000-01-01 00:00:00 UTC' build/lambda/bootstrap
	@rm -f $@ && cd build/lambda && zip -q -X ../bootstrap.zip bootstrap
	@ls -l build/lambda/bootstrap $@ | awk '{print $$5, $$9}'

build: tools $(ASSET) ## build the Lambda bootstrap (linux/arm64) and zip it under build/

$(BENCH_BOOTSTRAP): $(GO_SOURCES)
	@mkdir -p $(@D)
	GOOS=linux GOARCH=$$(go env GOARCH) CGO_ENABLED=0 go build $(LAMBDA_FLAGS) -o $@ ./lambdas

# The bench command itself (go build decides whether anything changed),
# built like the host bootstrap and after it, so the two share the compiled
# AWS SDK.
BENCH_BIN := build/bench/greenlight-bench
.PHONY: $(BENCH_BIN)
$(BENCH_BIN): | $(BENCH_BOOTSTRAP)
	CGO_ENABLED=0 go build $(LAMBDA_FLAGS) -o $@ ./bench

bench: node tools ## releases on the local engine and cold starts: the table, and JSON under bench/
	@# The arm64 asset builds beside the host's two binaries: on a cold
	@# build cache that keeps both cores busy through the long compiles.
	@$(MAKE) --no-print-directory -j2 $(ASSET) $(BENCH_BOOTSTRAP) $(BENCH_BIN)
	$(BENCH_BIN) -bootstrap $(BENCH_BOOTSTRAP) -rie $(RIE) $(ARGS)

# The harness build of the CLI, which `make local` and `make invoke` run
# (go build decides whether anything changed; harness/build.sh shows
# progress while a first build compiles).
LOCAL_BIN := build/greenlight-local
.PHONY: $(LOCAL_BIN)
$(LOCAL_BIN):
	@bash harness/build.sh $@

# The tests synthesize with a placeholder asset (the template's shape is
# what they check), so a first `make test` does not cross-compile the
# Lambda binary for arm64; `make build`, `make deploy` and `make bench` do.
test: node tools lint go-test ## run every test

# The longest packages are named first: go test starts packages in the
# order given, and the statemachine package (two minutes) started last ran
# alone at the end; started first, the short ones run beside it.
SLOW_PACKAGES := ./statemachine ./infra ./cmd/greenlight
go-test:
	@echo "test: every package; the statemachine package (scenarios and the fault matrix, several hundred releases) takes about 2 minutes"
	go test $(HARNESS) $(TEST_FLAGS) $(SLOW_PACKAGES) ./...

# The local engine runs the handlers in-process: it synthesizes with the
# Lambda asset when one is built, else with a placeholder, so a first
# `make local` compiles only the engine.
local: node $(LOCAL_BIN) ## run a whole release on the local engine (ARGS="--approve reject", "--fail-at DeployRelease", ...)
	$(LOCAL_BIN) local $(ARGS)

invoke: node $(LOCAL_BIN) ## run one handler against the simulated region: make invoke HANDLER=retire EVENT=daily-sweep.json
	@test -n "$(HANDLER)" || { echo "usage: make invoke HANDLER=<name> [EVENT=<file or events/ sample>]"; exit 2; }
	$(LOCAL_BIN) local invoke $(HANDLER) $(EVENT)

synth: node $(ASSET) ## synthesize the stack into cdk.out/ (greenlight.json, else the example)
	cdk synth --quiet -c config=$(CONFIG) -c asset=$(ASSET)
	@ls cdk.out/*.template.json

lint: lint-files vet staticcheck ## gofmt, go vet, staticcheck, and no binary or oversized tracked file

lint-files:
	@big=$$(git ls-files -z 2>/dev/null | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$$1 > 1048576 {print $$2}'); \
	bin=$$(git ls-files --eol 2>/dev/null | awk '$$1 == "i/-text" {print $$NF}'); \
	if [ -n "$$big$$bin" ]; then echo "tracked files that belong in no repository (build outputs, binaries, over 1 MiB): $$big $$bin"; exit 1; fi
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$bad" ]; then echo "gofmt would change: $$bad"; exit 1; fi

vet:
	@echo "vet: go vet (on an empty cache it compiles the AWS SDK and the CDK bindings: several minutes on 2 cores)"
	go vet $(HARNESS) ./...
	go vet ./cmd/greenlight

staticcheck:
	go run $(STATICCHECK) $(HARNESS) ./...

# make deploy bootstraps the environment it deploys to first. AWS CDK v2
# Developer Guide, "cdk bootstrap"
# (https://docs.aws.amazon.com/cdk/v2/guide/ref-cli-cmd-bootstrap.html): "By
# default, the CDK CLI will bootstrap all environments referenced in the CDK
# app or will determine an environment from default sources"; the same
# context as cdk deploy makes it the same account and region. Bootstrapping
# again is harmless ("It is not an error to bootstrap an environment more
# than once. If an environment you bootstrap has already been bootstrapped,
# its bootstrap stack will be upgraded if necessary; otherwise, nothing
# happens.", "Bootstrapping", bootstrapping.html#bootstrapping-howto).
# BOOTSTRAP=no leaves the environment as it is: one bootstrapped by other
# means (a custom template or qualifier) must not be changed by this one.
BOOTSTRAP ?= yes
CDK_APP := -c config=greenlight.json -c asset=$(ASSET)

deploy: node $(ASSET) ## bootstrap the AWS environment if needed (BOOTSTRAP=no skips it), then deploy the stack from greenlight.json
	@test -f greenlight.json || { echo "greenlight.json is missing: copy greenlight.example.json and fill in your values"; exit 1; }
	go run ./cmd/greenlight validate greenlight.json
ifneq ($(BOOTSTRAP),no)
	cdk bootstrap $(CDK_APP)
endif
	cdk deploy --require-approval broadening $(CDK_APP)

clean: ## remove build outputs (keeps node_modules)
	rm -rf build cdk.out
