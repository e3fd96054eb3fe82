#!/usr/bin/env bash
# libFuzzer runs of eddy's byte decoders (Fuzz/, see Fuzz/Package.swift for why it is a separate
# package). Usage: scripts/fuzz.sh [seconds-per-target] (default 60).
#   FUZZ_TARGETS="events kinesis frame"   which targets
#   FUZZ_SANITIZERS=fuzzer,address        -sanitize= list (address makes every out-of-bounds a crash)
# Each target starts from its checked-in seeds (Fuzz/corpus/<target>/, which also hold every input
# that once crashed it) plus what earlier runs found (Fuzz/.work/<target>/, not in git). A crashing,
# leaking-to-OOM or hanging input is kept as Fuzz/crashes/<target>-<kind>-<sha1>; reproduce it with
#   Fuzz/.build/release/fuzz-<target> Fuzz/crashes/<file>
# Exit status is non-zero when any target failed; the last line is "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
secs=${1:-60}
targets=${FUZZ_TARGETS:-events kinesis frame}
sanitizers=${FUZZ_SANITIZERS:-fuzzer,address}

declare -A maxlen=([events]=32768 [kinesis]=16384 [frame]=16384)

echo "fuzz: building Fuzz/ (release, -sanitize=$sanitizers)"
if ! (cd Fuzz && swift build -c release -Xswiftc -sanitize="$sanitizers" 2>&1 | tail -3); then
  echo "fuzz: build failed"; echo "0 passed, 1 failed"; exit 1
fi
bin=Fuzz/.build/release
mkdir -p Fuzz/crashes
scratch=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp )/eddy-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# The Swift runtime's caches (type metadata, conformances) live until exit and LeakSanitizer
# reports them; a real leak shows up as growth and hits -rss_limit_mb instead.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
# Swift's own crash backtracer fights libFuzzer/ASan for the signal (and can hang); let them report.
export SWIFT_BACKTRACE=enable=no

passed=0; failed=0
for t in $targets; do
  work=Fuzz/.work/$t; mkdir -p "$work"
  log=$scratch/$t.log
  before=$(ls Fuzz/crashes | wc -l)
  echo "== fuzz-$t: ${secs}s, max_len ${maxlen[$t]:-16384}"
  dict=(); [ -f "Fuzz/dict/$t.dict" ] && dict=(-dict="Fuzz/dict/$t.dict")
  EDDY_FUZZ_DIR=$scratch/$t-data "$bin/fuzz-$t" "$work" "Fuzz/corpus/$t" "${dict[@]}" \
      -max_total_time="$secs" -max_len="${maxlen[$t]:-16384}" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="Fuzz/crashes/$t-" > "$log" 2>&1
  rc=$?
  runs=$(grep -oE "stat::number_of_executed_units: [0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1)
  speed=$(grep -oE "exec/s: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+$" || echo "?")
  after=$(ls Fuzz/crashes | wc -l)
  if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ]; then
    passed=$((passed + 1)); echo "   clean: $runs runs ($speed/s), $cov"
  else
    failed=$((failed + 1)); echo "   FAILED (exit $rc) after $runs runs; report:"
    grep -E "ERROR|SUMMARY|invariant|threw|Fatal error|Test unit written|#[0-9]+ in " "$log" | head -30 | sed 's/^/   | /'
    ls -t Fuzz/crashes | head -3 | sed 's/^/   kept Fuzz\/crashes\//'
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
