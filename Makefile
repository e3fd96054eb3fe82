# eddy — the two commands a newcomer needs are `make run` and `make test`.
SWIFT ?= swift
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: run test setup build release bench bench-quick clean crash-test

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

clean:
	rm -rf .build
