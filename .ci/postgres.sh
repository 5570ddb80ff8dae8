#!/usr/bin/env bash
# Installs (if needed) and starts Debian's PostgreSQL, and creates the test role and database.
# Prints the connection string for ACTORCLUSTER_TEST_POSTGRES on its last line.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
  pg_createcluster "$version" main >&2
fi
pg_ctlcluster "$version" main start >&2 2>/dev/null || true
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.2
done
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "postgres did not start" >&2; exit 1; }
su postgres -c "psql -v ON_ERROR_STOP=1 -q" >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'actorcluster') THEN
    CREATE ROLE actorcluster LOGIN PASSWORD 'actorcluster' CREATEDB;
  END IF;
END $$;
SQL
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='actorcluster_test'\"" | grep -q 1 \
  || su postgres -c "createdb -O actorcluster actorcluster_test" >&2
echo "Host=127.0.0.1;Port=5432;Database=actorcluster_test;Username=actorcluster;Password=actorcluster"
