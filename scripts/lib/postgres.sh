# A throwaway PostgreSQL for the tests of `--state postgres://...`.
# Source it, then `start_test_postgres` (from ensure_deps's folder): a cluster
# in a temporary folder, listening on 127.0.0.1 on a free port, run as a
# non-root user (`postgres` when run as root), with a database `moonport`;
# exports MOONPORT_TEST_POSTGRES_URL and stops it (and removes the folder)
# when the shell exits. Debian's `postgresql` package provides the server
# (ensure_deps installs it).

postgres_bin_dir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" && return 0
  return 1
}

# Runs "$@" as the cluster's owner.
as_postgres_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

stop_test_postgres() {
  if [ -n "${MOONPORT_TEST_PG_DIR:-}" ] && [ -d "$MOONPORT_TEST_PG_DIR" ]; then
    as_postgres_owner "$MOONPORT_TEST_PG_BIN/pg_ctl" -D "$MOONPORT_TEST_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$MOONPORT_TEST_PG_DIR"
  fi
}

start_test_postgres() {
  local bin port dir
  if ! bin=$(postgres_bin_dir); then
    echo "moonport: PostgreSQL's server (initdb, pg_ctl) is not installed: apt-get install postgresql" >&2
    return 1
  fi
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dir=$(mktemp -d /tmp/moonport-pg.XXXXXX)
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir"
  fi
  export MOONPORT_TEST_PG_DIR="$dir" MOONPORT_TEST_PG_BIN="$bin"
  as_postgres_owner "$bin/initdb" -D "$dir/data" -U moonport --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    return 1
  }
  as_postgres_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=200" \
    start >/dev/null || {
    cat "$dir/server.log" >&2
    return 1
  }
  as_postgres_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U moonport moonport
  export MOONPORT_TEST_POSTGRES_URL="postgres://moonport@127.0.0.1:$port/moonport?sslmode=disable"
  echo "moonport: test PostgreSQL on 127.0.0.1:$port ($dir)" >&2
}
