# eddy — the two commands a newcomer needs are `make run` and `make test`.
SWIFT ?= swift
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: run test setup build release bench bench-quick crash-test fuzz soak clean

run: setup release          ## build in release and open the dashboard on the embedded demo node
	./.build/release/eddy $(ARGS)

test: setup                 ## every test (what CI runs): swift test, CLI contract, crash, end-to-end under tmux
	./scripts/test-all.sh

setup:
	@./scripts/setup.sh

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release --product eddy

bench: setup release        ## every benchmark with its anchor; writes bench/results/<date>-<machine>.md
	./.build/release/eddy bench

bench-quick: setup release
	./.build/release/eddy bench --quick

crash-test: build          ## kill -9 eddy serve 20 times under loadgen; every acked event stored exactly once
	CRASH_KILLS=$${CRASH_KILLS:-20} ./scripts/test-crash.sh .build/debug/eddy

FUZZ_SECONDS ?= 300
fuzz: setup                 ## libFuzzer on the event parser, Kinesis decoder and segment frames, FUZZ_SECONDS each
	./scripts/fuzz.sh $(FUZZ_SECONDS)

SOAK_MINUTES ?= 10
soak: setup release         ## SOAK_MINUTES at half the max rate with the dashboard attached; writes bench/results/<date>-soak.md
	SOAK_SKIP_BUILD=1 ./scripts/soak.sh $(SOAK_MINUTES) $(SOAK_RATE)

clean:
	rm -rf .build
