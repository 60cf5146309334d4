#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and load tests, on loopback only.
#
#   scripts/pg-cluster.sh start DIR PORT   # prints the superuser URL
#   scripts/pg-cluster.sh stop DIR
#
# Installs Debian's postgresql package if no server binaries are found
# (through scripts/install-deps.sh).
# The cluster runs as a non-root user (postgres when started as root),
# listens on 127.0.0.1 only, trusts loopback connections, and lives in DIR.
# Commits are not durable (fsync=off, synchronous_commit=off: fast tests)
# unless PG_DURABLE=1 (fsync=on, synchronous_commit=on, full_page_writes=on,
# as production runs).
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
  return 1
}

ensure_installed() {
  "$(dirname "$0")/install-deps.sh" postgresql
}

# Runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cmd=${1:?usage: pg-cluster.sh start DIR PORT | stop DIR}
dir=${2:?missing DIR}
case "$cmd" in
  start)
    port=${3:?missing PORT}
    ensure_installed
    bin=$(pg_bin)
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || as_root useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    chmod 700 "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${PG_DURABLE:-0}" = 1 ] && durability="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 $durability" \
      >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    bin=$(pg_bin) || exit 0
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: pg-cluster.sh start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
