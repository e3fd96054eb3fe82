#!/usr/bin/env bash
# Every test of the project, in order, with one closing line: "tests: N passed, M failed".
# Unit tests (XCTest via swift test), then the scripts that drive the real binary.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
passed=0; failed=0
log=$(mktemp -d)

run_step() { # name, command...
  local name=$1; shift
  echo "== $name"
  if "$@" > "$log/$name.txt" 2>&1; then
    local p f
    read -r p f < <(count "$name")
    passed=$((passed + p)); failed=$((failed + f))
    echo "   ok ($p passed)"
  else
    local p f
    read -r p f < <(count "$name")
    passed=$((passed + p)); failed=$((failed + (f > 0 ? f : 1)))
    # The failing cases' own lines first: a tail alone can miss them in a long log.
    if grep -qE "error: |' failed \(" "$log/$name.txt"; then
      echo "   FAILED; failing cases:"
      grep -E "error: |' failed \(" "$log/$name.txt" | head -40 | cut -c1-400 | sed 's/^/   | /'
    fi
    echo "   FAILED; last lines:"; tail -20 "$log/$name.txt" | sed 's/^/   | /'
  fi
}

count() { # prints "passed failed" from a step's log
  local f=$log/$1.txt
  local x
  x=$(grep -E "Executed [0-9]+ tests?, with .*[0-9]+ failures?" "$f" | tail -1)
  if [ -n "$x" ]; then
    local total fails skipped
    total=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$x")
    fails=$(sed -E 's/.* ([0-9]+) failures?.*/\1/' <<<"$x")
    skipped=$(grep -oE "[0-9]+ tests? skipped" <<<"$x" | grep -oE "^[0-9]+" || echo 0)
    echo "$((total - fails - skipped)) $fails"; return
  fi
  x=$(grep -E "[0-9]+ passed" "$f" | tail -1)
  if [ -n "$x" ]; then
    local p fl
    p=$(grep -oE "[0-9]+ passed" <<<"$x" | grep -oE "^[0-9]+")
    fl=$(grep -oE "[0-9]+ failed" <<<"$x" | grep -oE "^[0-9]+" || true)
    echo "$p ${fl:-0}"; return
  fi
  if grep -q "^PASS" "$f"; then echo "1 0"; else echo "0 0"; fi
}

run_step build swift build --build-tests
run_step unit swift test --skip-build --disable-swift-testing
run_step cli ./scripts/test-cli.sh
run_step lake-duckdb ./scripts/test-lake.sh
run_step kinesis ./scripts/test-kinesis.sh
run_step stream-crash ./scripts/test-stream-crash.sh
run_step crash-e2e env CRASH_KILLS=3 ./scripts/test-crash.sh
run_step tui-e2e ./Tests/TUITests/e2e-tmux.sh
run_step demo-e2e ./scripts/test-demo-tmux.sh
run_step fuzz ./scripts/fuzz.sh 20

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
