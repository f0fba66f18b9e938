#!/usr/bin/env bash
# The README's first command: builds moonport and runs an example workflow.
# (Until the vendor simulator lands, the example exercises json and log.)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure-deps.sh
ensure_deps
swift build -c release --static-swift-stdlib --product moonport
out="${TMPDIR:-/tmp}/moonport-demo"
mkdir -p "$out"
.build/release/moonport run scripts/examples/export-roundtrip.lua "$out/accounts.json"
