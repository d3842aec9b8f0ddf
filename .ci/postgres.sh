#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for the PostgreSQL variants of the tests and prints
# "<SQLAlchemy URL> <folder>". Installs Debian's server package when it is missing. Exits
# non-zero (printing nothing on stdout) when this machine cannot have one: those variants are
# then skipped. `postgres.sh --stop <folder>` stops the server again.
set -euo pipefail

if [[ "${1:-}" == "--stop" ]]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$2/db" -m fast stop >/dev/null
  else
    "$bin/pg_ctl" -D "$2/db" -m fast stop >/dev/null
  fi
  rm -rf "$2"
  exit 0
fi

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "no PostgreSQL server and no way to install one" >&2
    exit 1
  fi
  echo "installing Debian's postgresql package..." >&2
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get install -y -q --no-install-recommends postgresql >&2 \
    || { timeout 300 apt-get update -q >&2 && timeout 600 apt-get install -y -q --no-install-recommends postgresql >&2; }
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

data=$(mktemp -d /tmp/ci-postgres.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_owner=()
if [[ $(id -u) -eq 0 ]]; then  # initdb refuses to run as root
  chown postgres "$data"
  as_owner=(runuser -u postgres --)
fi
"${as_owner[@]}" "$bin/initdb" -D "$data/db" -U postgres -A trust >/dev/null
"${as_owner[@]}" "$bin/pg_ctl" -D "$data/db" -l "$data/log" -w \
  -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
"$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE connector_test" >/dev/null
echo "postgresql+psycopg://postgres@127.0.0.1:$port/connector_test $data"
