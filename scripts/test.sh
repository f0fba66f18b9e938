#!/usr/bin/env bash
# The README's test command: builds moonport and runs every test (Swift unit
# tests, the CLI and REPL driven as processes and through a pseudo-terminal,
# and the Lua-level tests and shipped scripts run by moonport itself).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure-deps.sh
source scripts/lib/postgres.sh
ensure_deps
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"; stop_test_postgres' EXIT
# The state tests run against SQLite and against a real PostgreSQL (a
# throwaway one, unless MOONPORT_TEST_POSTGRES_URL names one). Under CI a
# PostgreSQL that cannot be had fails the run; elsewhere those tests are skipped.
if [ -z "${MOONPORT_TEST_POSTGRES_URL:-}" ]; then
  if ensure_postgres && start_test_postgres; then :; elif [ "${CI:-}" = true ]; then
    echo "moonport: cannot start PostgreSQL for the tests" >&2
    exit 1
  else
    echo "moonport: no PostgreSQL: the PostgreSQL state tests will be skipped" >&2
  fi
fi
# DeployTests validate the Kubernetes manifests against the Kubernetes schema
# when kubernetes-validate (PyPI) can be had; best effort, in a venv of .build.
if [ -z "${MOONPORT_DEPLOY_PYTHON:-}" ]; then
  venv=.build/deploy-venv
  if ! "$venv/bin/python" -c "import kubernetes_validate, yaml" >/dev/null 2>&1; then
    (python3 -m venv --system-site-packages "$venv" && timeout 180 "$venv/bin/pip" install -q kubernetes-validate) >/dev/null 2>&1 || true
  fi
  if "$venv/bin/python" -c "import kubernetes_validate, yaml" >/dev/null 2>&1; then
    export MOONPORT_DEPLOY_PYTHON="$PWD/$venv/bin/python"
  fi
fi
status=0
# The suites are XCTest; Swift Testing has none to run.
swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$log" || status=$?
# The last summary is that of all the suites ("Executed N tests, with
# [S tests skipped and ]F failures").
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with ([0-9]+ tests? skipped and )?[0-9]+ failures?" "$log" | tail -n 1 || true)
if [ -z "$summary" ]; then
  echo "moonport: no test summary found" >&2
  exit 1
fi
total=$(echo "$summary" | sed -E 's/^[[:space:]]*Executed ([0-9]+) tests?.*/\1/')
skipped=$(echo "$summary" | sed -E -n 's/.*with ([0-9]+) tests? skipped.*/\1/p')
skipped=${skipped:-0}
failed=$(echo "$summary" | sed -E 's/.*[^0-9]([0-9]+) failures? \(.*/\1/')
echo "$((total - skipped - failed)) passed, $skipped skipped, $failed failed"
exit "$status"
