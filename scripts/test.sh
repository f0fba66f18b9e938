#!/usr/bin/env bash
# The README's test command: builds moonport and runs every test (Swift unit
# tests, the CLI and REPL driven as processes and through a pseudo-terminal,
# and the shipped Lua scripts run by moonport itself).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure-deps.sh
ensure_deps
swift build --build-tests
swift test --skip-build "$@"
