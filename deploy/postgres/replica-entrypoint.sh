#!/usr/bin/env bash
# A streaming replica from the official postgres image (no vendor-specific
# image): on first start, clone the primary with pg_basebackup -R, which also
# writes standby.signal and primary_conninfo, then start postgres as usual.
# Runs as the postgres user (compose: `user: postgres`), so the files it
# writes have the owner the server insists on.
set -euo pipefail

: "${PRIMARY_HOST:=postgres}"
: "${PRIMARY_PORT:=5432}"
: "${REPLICATION_USER:=replicator}"
: "${REPLICATION_SLOT:=replica_1}"
: "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"
export PGPASSWORD="$REPLICATION_PASSWORD"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT"; do
    echo "replica: waiting for the primary at $PRIMARY_HOST:$PRIMARY_PORT"
    sleep 1
  done
  # -X stream: the WAL written during the copy comes along; -C -S: a physical
  # replication slot, so the primary keeps the WAL this replica has not yet
  # received (watch the slot: a replica that stays down makes WAL pile up).
  pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$REPLICATION_USER" \
    -D "$PGDATA" -R -X stream -C -S "$REPLICATION_SLOT" --checkpoint=fast --progress
  chmod 0700 "$PGDATA"
fi

# The data folder exists now, so the image's entrypoint skips initdb and
# starts the server; standby.signal makes it a read-only hot standby.
exec docker-entrypoint.sh postgres "$@"
