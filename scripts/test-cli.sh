#!/usr/bin/env bash
# CLI contract checks against the built binary: every subcommand of docs/ARCHITECTURE.md exists,
# has real --help, and a stage that has not landed says so with a non-zero exit.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)/eddy
pass=0; fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }

help=$("$bin" --help 2>&1) || bad "eddy --help exited non-zero"
for sub in demo serve dash query loadgen bench check keys; do
  grep -qE "^ +$sub( |$)" <<<"$help" && ok || bad "eddy --help does not list $sub"
  "$bin" "$sub" --help >/dev/null 2>&1 && ok || bad "eddy $sub --help failed"
done
"$bin" --version | grep -qE '^[0-9]+\.[0-9]+' && ok || bad "eddy --version"
out=$("$bin" nonsense 2>&1); [ $? -ne 0 ] && ok || bad "unknown subcommand exited 0"

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
