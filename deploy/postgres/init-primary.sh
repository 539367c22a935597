#!/usr/bin/env bash
# Runs once, when the primary's data folder is first created (the official
# image runs /docker-entrypoint-initdb.d/* as the postgres user, server up on
# the local socket only). It makes the role the replica streams WAL with and
# lets that role in for replication from other containers.
set -euo pipefail

: "${REPLICATION_USER:=replicator}"
: "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"

# psql variables (:"user", :'password') quote both safely.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v user="$REPLICATION_USER" -v password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE :"user" WITH REPLICATION LOGIN PASSWORD :'password';
SQL

# The image's own pg_hba.conf admits replication from localhost only; the
# `host all all all` line it adds does not cover replication connections.
echo "host replication ${REPLICATION_USER} all scram-sha-256" >>"$PGDATA/pg_hba.conf"
