# Sourced by the scripts in scripts/: installs what a fresh Debian machine
# lacks to build moonport (liblua5.4-dev, libedit-dev, libsqlite3-dev,
# pkg-config) with apt-get, then checks for the Swift toolchain.
ensure_deps() {
  local need=()
  command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
  if command -v pkg-config >/dev/null 2>&1; then
    pkg-config --exists lua5.4 || need+=(liblua5.4-dev)
    pkg-config --exists libedit || need+=(libedit-dev)
    pkg-config --exists sqlite3 || need+=(libsqlite3-dev)
  else
    need+=(liblua5.4-dev libedit-dev libsqlite3-dev)
  fi
  if [ ${#need[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "moonport: installing ${need[*]} with apt-get" >&2
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if ! command -v swift >/dev/null 2>&1; then
    echo "moonport: the Swift toolchain (swift 6) is not on PATH" >&2
    return 1
  fi
}

# The PostgreSQL server for the tests of `--state postgres://...`
# (scripts/lib/postgres.sh starts a throwaway one): Debian's `postgresql`.
ensure_postgres() {
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then return 0; fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "moonport: installing postgresql with apt-get (for the tests of --state postgres://)" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
}
