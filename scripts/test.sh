#!/usr/bin/env bash
# The README's test command: builds moonport and runs every test (Swift unit
# tests, the CLI and REPL driven as processes and through a pseudo-terminal,
# and the Lua-level tests and shipped scripts run by moonport itself).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure-deps.sh
ensure_deps
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# The suites are XCTest; Swift Testing has none to run.
swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$log" || status=$?
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1 || true)
if [ -z "$summary" ]; then
  echo "moonport: no test summary found" >&2
  exit 1
fi
total=$(echo "$summary" | sed -E 's/^[[:space:]]*Executed ([0-9]+) tests?.*/\1/')
failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
echo "$((total - failed)) passed, $failed failed"
exit "$status"
