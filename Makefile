# eddy — the two commands a newcomer needs are `make run` and `make test`.
SWIFT ?= swift
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: run test setup build release bench bench-quick clean

run: setup release          ## build in release and open the dashboard on the embedded demo node
	./.build/release/eddy $(ARGS)

test: setup                 ## unit + integration tests (what CI runs)
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel --num-workers 2
	./scripts/test-cli.sh
	./scripts/test-kinesis.sh

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

clean:
	rm -rf .build
