#!/usr/bin/env bash
# Runs every ```lua block of README.md and docs/**/*.md with
# `moonport run --sandbox`, each in a fresh temporary folder, as the
# DocExamplesTests XCTest suite does (this script needs no Swift build of the
# tests: it uses a moonport binary that is already built).
#
#   scripts/check-doc-examples.sh [PATTERN]      # PATTERN: only files whose path contains it
#
# MOONPORT: the binary (default .build/debug/moonport).
# MOONPORT_STDLIB_DIR: read stdlib/*.lua from this folder instead of the copy
#   compiled into the binary (default: this checkout's stdlib/; set it empty
#   to test the compiled-in copy).
# Exit status 1 when a block fails, prints a secret, or a vendor page has no block.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=${MOONPORT:-$root/.build/debug/moonport}
case $bin in /*) ;; *) bin=$root/$bin ;; esac
if [ ! -x "$bin" ]; then
  echo "check-doc-examples: no moonport binary at $bin (build it, or set MOONPORT)" >&2
  exit 2
fi
export MOONPORT_STDLIB_DIR=${MOONPORT_STDLIB_DIR-$root/stdlib}
export MOONPORT_SIM_SPEED=${MOONPORT_SIM_SPEED:-20}
pattern=${1:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The simulator's dummy credentials: no example may print them.
secrets="sandbox-clari-api-key sandbox-clari-partner-key sandbox-claravine-api-key sandbox-claravine-api-secret
sandbox-quantive-api-token sandbox-cordial-api-key sandbox-mediarithmics-api-token"

files=$( { echo README.md; find docs -name '*.md' 2>/dev/null | sort; } )
passed=0 failed=0 n=0
for file in $files; do
  [ -n "$pattern" ] && [[ $file != *"$pattern"* ]] && continue
  # Each block to $work/blocks/N.lua, with "N LINE" in the index (LINE: the fence's line).
  rm -rf "$work/blocks"
  mkdir -p "$work/blocks"
  awk -v out="$work/blocks" '
    !inside && /^```lua[ \t]*$/ { inside = 1; count++; start = NR; f = out "/" count ".lua"; printf "" > f; print count, start > (out "/index"); next }
    inside && /^```[ \t]*$/ { inside = 0; close(f); next }
    inside { print > f }
  ' "$file"
  if [ ! -s "$work/blocks/index" ]; then
    case $file in docs/vendors/*) echo "FAIL $file: no \`\`\`lua block (every vendor page needs one)"; failed=$((failed + 1)) ;; esac
    continue
  fi
  while read -r index line; do
    n=$((n + 1))
    dir=$(mktemp -d "$work/run.XXXXXX")
    cp "$work/blocks/$index.lua" "$dir/example.lua"
    out=$(cd "$dir" && TMPDIR="$dir" timeout 300 "$bin" run --sandbox --state "$dir/state.sqlite" example.lua 2>&1 </dev/null)
    status=$?
    leaked=""
    for s in $secrets; do
      case $out in *"$s"*) leaked="$leaked $s" ;; esac
    done
    if [ $status -eq 0 ] && [ -z "$leaked" ]; then
      passed=$((passed + 1))
      echo "ok   $file:$line"
    else
      failed=$((failed + 1))
      echo "FAIL $file:$line (exit $status${leaked:+, printed a secret:$leaked})"
      printf '%s\n' "$out" | sed 's/^/     | /'
    fi
    rm -rf "$dir"
  done < "$work/blocks/index"
done
echo "$n lua blocks: $passed passed, $failed failed"
[ $failed -eq 0 ]
