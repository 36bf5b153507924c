#!/usr/bin/env bash
# Runs every test of Tozalash, provisioning what they need:
#   - PostgreSQL: $TEST_POSTGRES_URL if set, else the local server on 127.0.0.1:5432
#     (started if it is installed but down), on a freshly created database;
#   - SMTP: aiosmtpd, installed into .cache/venv; each mail test starts its own
#     real SMTP server on a free loopback port and reads the delivered mail back;
#   - MongoDB: $TEST_MONGODB_URL if set (a real server, e.g. docker compose's), else
#     NX-27017, a MongoDB wire-protocol server, installed into .cache/venv and
#     started on a free loopback port for this run only, through
#     scripts/nx_27017_faithful.py, which patches the emulator's known deviations
#     from MongoDB (docs/mongodb-emulator.md) and is checked by a self-test first;
#   - Redis: a redis-server of this run's own on a free loopback port (installed with
#     apt-get if missing), for the rate-limit tests that share counters between
#     instances ($TEST_REDIS_URL); each test uses a key prefix of its own.
# Then: the whole workspace's tests (the storage conformance suite runs on SQLite,
# Postgres and MongoDB), the black-box API suite again on Postgres and MongoDB,
# and Schemathesis driving the server with its OpenAPI document.
# No backend is ever skipped: one that cannot be provisioned fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="$PWD/.cache"
VENV="$CACHE/venv"
REQUIREMENTS="$PWD/scripts/test-requirements.txt"
mkdir -p "$CACHE"

log() { printf '\n==> %s\n' "$*"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() { # host port seconds
  python3 - "$@" <<'PY'
import socket, sys, time
host, port, deadline = sys.argv[1], int(sys.argv[2]), time.time() + float(sys.argv[3])
while time.time() < deadline:
    try:
        socket.create_connection((host, port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
}

cleanup() {
  if [ -n "${NX_PID:-}" ]; then kill "$NX_PID" 2>/dev/null || true; fi
  if [ -n "${REDIS_PID:-}" ]; then kill "$REDIS_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

# --- Python tools (NX-27017) -------------------------------------------------
ensure_venv() { # reinstalls only when the pinned requirements changed
  local stamp="$VENV/.requirements"
  if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$REQUIREMENTS" "$stamp"; then
    log "installing the test tools into .cache/venv"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$stamp"
  fi
}

# --- Python tools: aiosmtpd (the SMTP server the mail tests use), NX-27017 ---
ensure_venv
export TEST_PYTHON="$VENV/bin/python"

# --- MongoDB -------------------------------------------------------------------
if [ -z "${TEST_MONGODB_URL:-}" ]; then
  NX_PORT=$(free_port)
  log "starting NX-27017 on 127.0.0.1:$NX_PORT"
  "$VENV/bin/python" scripts/nx_27017_faithful.py --data-dir memory --host 127.0.0.1 -p "$NX_PORT" \
    --log-file "$CACHE/nx-27017.log" --pid-file "$CACHE/nx-27017.pid" >"$CACHE/nx-27017.out" 2>&1 &
  NX_PID=$!
  if ! wait_for_port 127.0.0.1 "$NX_PORT" 30; then
    echo "NX-27017 did not start; its log:" >&2
    tail -n 50 "$CACHE/nx-27017.out" "$CACHE/nx-27017.log" >&2 || true
    exit 1
  fi
  export TEST_MONGODB_URL="mongodb://127.0.0.1:$NX_PORT/?directConnection=true"
  log "checking the emulator behaves like MongoDB where we rely on it"
  "$VENV/bin/python" scripts/nx_27017_selftest.py "$TEST_MONGODB_URL"
fi

# --- Redis -----------------------------------------------------------------------
# Always a server of this run's own (never a shared one): no persistence, loopback only.
# Missing, it is installed; if that fails the run fails (in CI too: never a skip).
install_redis() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  command -v apt-get >/dev/null \
    && $sudo apt-get update -qq \
    && $sudo apt-get install -y -qq redis-server >/dev/null
}
if ! command -v redis-server >/dev/null; then
  log "installing redis-server"
  if ! install_redis || ! command -v redis-server >/dev/null; then
    echo "redis-server is missing and could not be installed (apt-get install redis-server)" >&2
    exit 1
  fi
fi
# The rate limiter's Redis backend sets expiries with EXPIRE … NX, new in Redis 7.0.
REDIS_VERSION=$(redis-server --version | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p')
if [ "${REDIS_VERSION%%.*}" -lt 7 ] 2>/dev/null || [ -z "$REDIS_VERSION" ]; then
  echo "redis-server ${REDIS_VERSION:-of unknown version} is too old: Redis 7.0 or newer is needed" >&2
  exit 1
fi
REDIS_PORT=$(free_port)
log "starting redis-server on 127.0.0.1:$REDIS_PORT"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
  --protected-mode yes --logfile "$CACHE/redis.log" &
REDIS_PID=$!
if ! wait_for_port 127.0.0.1 "$REDIS_PORT" 30; then
  echo "redis-server did not start; its log:" >&2
  tail -n 50 "$CACHE/redis.log" >&2 || true
  exit 1
fi
export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

# --- PostgreSQL ----------------------------------------------------------------
if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  if ! wait_for_port 127.0.0.1 5432 1 && [ -d /etc/postgresql ]; then
    log "starting the local PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  fi
  if ! wait_for_port 127.0.0.1 5432 30; then
    echo "PostgreSQL is not reachable on 127.0.0.1:5432; set TEST_POSTGRES_URL" >&2
    exit 1
  fi
  ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
  log "creating a fresh database tozalash_test"
  psql -q -v ON_ERROR_STOP=1 "$ADMIN_URL" \
    -c "DROP DATABASE IF EXISTS tozalash_test WITH (FORCE)" \
    -c "CREATE DATABASE tozalash_test"
  export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/tozalash_test"
fi

log "Redis:      $TEST_REDIS_URL"
log "MongoDB:    $TEST_MONGODB_URL"
log "PostgreSQL: $TEST_POSTGRES_URL"

# A migration changed without regenerating the DDL of docs/data-model.md fails
# here (the diagram itself is checked by crates/store-tests/tests/data_model.rs).
# It builds the debug binary the API suite below uses anyway.
log "checking docs/schema.postgres.sql is up to date"
scripts/dump-schema.sh --check

# --- The tests -------------------------------------------------------------------
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
# The fault tests (tests/api/faults.rs) stop and start servers of their own (a
# private Postgres cluster made with initdb, a private NX-27017), panic a handler
# and send SIGTERM: they run one at a time, in a pass of their own below, and
# in no other pass (they do not depend on TEST_API_DATABASE_URL). Here CI=true
# makes a cluster that cannot be provisioned a failure, never a skip.
FAULTS=(--skip faults::)

log "workspace tests (unit, conformance on sqlite/postgres/mongo, API on SQLite)"
cargo test --workspace --locked -- "${FAULTS[@]}"

log "fault tests, one at a time: the database stopped under the app, a panic, SIGTERM"
cargo test --locked --test api -- faults:: --test-threads=1

# What does not depend on storage ran above, on SQLite, and is not run again:
# the rate limits and the request limits and timeouts (tests/api/rate_limits.rs,
# tests/api/limits.rs), and the fault tests.
STORAGE_FREE=(--skip rate_limits:: --skip limits:: "${FAULTS[@]}")

log "API suite on PostgreSQL"
TEST_API_DATABASE_URL="$TEST_POSTGRES_URL" cargo test --locked --test api -- "${STORAGE_FREE[@]}"

log "API suite on MongoDB"
TEST_API_DATABASE_URL="$TEST_MONGODB_URL" cargo test --locked --test api -- "${STORAGE_FREE[@]}"

log "Schemathesis: the OpenAPI document against the running server (SQLite)"
scripts/schemathesis.sh

log "all tests passed on SQLite, PostgreSQL and MongoDB"
