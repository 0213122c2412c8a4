#!/usr/bin/env bash
# Install PostGIS from Debian's packages, start the local PostgreSQL cluster and create the
# extension, so that `python -m benchmarks.strategic` can compare Détente with PostGIS.
#
# Needs root (apt-get) and a PostgreSQL server from Debian's packages. Idempotent.
set -euo pipefail

if [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
    PG_VERSION="$(ls /etc/postgresql | sort -V | tail -n 1)"
else
    PG_VERSION=""
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
if [ -z "$PG_VERSION" ]; then
    apt-get install -y -q postgresql
    PG_VERSION="$(ls /etc/postgresql | sort -V | tail -n 1)"
fi
apt-get install -y -q "postgresql-${PG_VERSION}-postgis-3"

if ! pg_lsclusters --no-header | awk -v v="$PG_VERSION" '$1 == v && $2 == "main" && $4 == "online"' \
    | grep -q .; then
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start
fi

# The benchmark connects as postgres over TCP on 127.0.0.1 with trust authentication.
su postgres -c "psql -v ON_ERROR_STOP=1 -q -d postgres -c 'CREATE EXTENSION IF NOT EXISTS postgis'"
psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SELECT postgis_full_version()'
