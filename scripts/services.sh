#!/usr/bin/env bash
# Makes sure the services the tests use answer:
#   PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`)
#   Redis      on 127.0.0.1:6379
# A service that answers is left alone; one that is installed but stopped is
# started (the same commands the machine uses at boot) and waited for; one
# that is not installed is an error that says how to get it.
#
#   bash scripts/services.sh
#
# Docker users can run deploy/compose.yaml instead (`docker compose -f
# deploy/compose.yaml up -d --wait`); this script then finds both answering.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
PG_DB=test
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
WAIT_SECONDS=20

log() { printf 'services: %s\n' "$*"; }
fail() {
  printf 'services: ERROR: %s\n' "$*" >&2
  exit 1
}

# Runs a command as root: directly, or through sudo when we are not root.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    fail "starting a service needs root (or sudo): $*"
  fi
}

# Polls "$@" until it succeeds, for up to WAIT_SECONDS.
wait_for() {
  local tries=$((WAIT_SECONDS * 2))
  for ((i = 0; i < tries; i++)); do
    if "$@"; then return 0; fi
    sleep 0.5
  done
  return 1
}

# ---- PostgreSQL -------------------------------------------------------------

pg_answers() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2; }

psql_admin() {
  psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres "$@"
}

ensure_postgres() {
  if ! command -v pg_isready >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
    fail "PostgreSQL client tools (pg_isready, psql) are not installed.
  Install the server and client:  apt-get install -y postgresql
  or run PostgreSQL in Docker:    docker compose -f deploy/compose.yaml up -d --wait"
  fi

  if pg_answers; then
    log "PostgreSQL answers on $PG_HOST:$PG_PORT"
  else
    # pg_isready exits 1 while the server is starting or recovering: just wait for it.
    local state=0
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2 || state=$?
    if [ "$state" -eq 1 ]; then
      log "PostgreSQL on $PG_HOST:$PG_PORT is starting up; waiting"
    else
      local version=''
      if [ -d /etc/postgresql ]; then
        version=$(find /etc/postgresql -mindepth 2 -maxdepth 2 -type d -name main -printf '%h\n' |
          xargs -r -n1 basename | sort -V | tail -n1)
      fi
      if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$version" ]; then
        fail "PostgreSQL does not answer on $PG_HOST:$PG_PORT and no server is installed
  (no pg_ctlcluster, or no cluster under /etc/postgresql/<version>/main).
  Install it:                  apt-get install -y postgresql
  or run it in Docker:         docker compose -f deploy/compose.yaml up -d --wait"
      fi
      log "PostgreSQL $version/main is not answering; starting it"
      # Exits non-zero if the cluster is already running (say, not yet listening): wait anyway.
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
        log "pg_ctlcluster exited with $?; waiting for the server anyway"
    fi
    if ! wait_for pg_answers; then
      fail "PostgreSQL did not answer on $PG_HOST:$PG_PORT within ${WAIT_SECONDS}s
  (see /var/log/postgresql/ and \`pg_lsclusters\`)"
    fi
    log "PostgreSQL answers on $PG_HOST:$PG_PORT"
  fi

  local exists
  exists=$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") ||
    fail "cannot query PostgreSQL as user postgres on $PG_HOST:$PG_PORT (trust auth expected)"
  if [ "$exists" = 1 ]; then
    log "database '$PG_DB' exists"
  else
    psql_admin -c "CREATE DATABASE \"$PG_DB\"" || fail "could not create database '$PG_DB'"
    log "database '$PG_DB' created"
  fi
}

# ---- Redis ------------------------------------------------------------------

redis_answers() {
  [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

ensure_redis() {
  if ! command -v redis-cli >/dev/null 2>&1; then
    fail "redis-cli is not installed.
  Install Redis:         apt-get install -y redis-server   (brings redis-tools)
  or run it in Docker:   docker compose -f deploy/compose.yaml up -d --wait"
  fi

  if redis_answers; then
    log "Redis answers on $REDIS_HOST:$REDIS_PORT"
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    fail "Redis does not answer on $REDIS_HOST:$REDIS_PORT and redis-server is not installed.
  Install it:            apt-get install -y redis-server
  or run it in Docker:   docker compose -f deploy/compose.yaml up -d --wait"
  fi
  log "Redis is not answering; starting it"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
    --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log ||
    fail "redis-server failed to start (see /var/log/redis/ci.log)"
  if ! wait_for redis_answers; then
    fail "Redis did not answer on $REDIS_HOST:$REDIS_PORT within ${WAIT_SECONDS}s (see /var/log/redis/ci.log)"
  fi
  log "Redis answers on $REDIS_HOST:$REDIS_PORT"
}

ensure_postgres
ensure_redis
