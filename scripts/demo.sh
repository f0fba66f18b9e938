#!/usr/bin/env bash
# The README's first command: builds moonport and runs a real workflow on the
# built-in vendor simulator (--sandbox): start a Clari forecast export, poll
# the job through SCHEDULED, STARTED, DONE, download the CSV (temporary file,
# fsync, rename) and check it. No credentials, no network.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure-deps.sh
ensure_deps
swift build -c release --static-swift-stdlib --product moonport
out="${TMPDIR:-/tmp}/moonport-demo"
mkdir -p "$out"
.build/release/moonport run --sandbox scripts/examples/sandbox-forecast-export.lua "$out/forecast.csv"
