#!/usr/bin/env bash
# Runs the portable part of the official Lua 5.4 test suite under moonport
# (and, for reference, under the stock lua5.4). The suite is not part of this
# repository: pass the folder holding its files (all.lua, ...).
#   usage: scripts/lua-testsuite.sh /path/to/lua-5.4-tests [moonport-binary]
set -euo pipefail
suite="${1:?usage: $0 SUITE_DIR [MOONPORT]}"
root="$(cd "$(dirname "$0")/.." && pwd)"
moonport="${2:-$root/.build/debug/moonport}"
[ -x "$moonport" ] || (cd "$root" && swift build --product moonport)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$suite"/. "$work"/
cd "$work"
for runner in "lua5.4" "$moonport run"; do
  echo "== $runner -e _U=true all.lua"
  if $runner -e "_U=true" all.lua >"$work/out.txt" 2>&1; then :; fi
  tail -n 3 "$work/out.txt"
done
