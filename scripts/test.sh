#!/usr/bin/env bash
# Runs every test of Tozalash, provisioning what they need, on a stock Debian 12
# or 13 (or any machine that has the tools):
#   - system packages: what is missing is installed with apt-get when this runs
#     as root; otherwise the script names the packages and stops;
#   - PostgreSQL, in this order: $TEST_POSTGRES_URL
#     (postgres://USER:PASSWORD@HOST:PORT/DATABASE); else the libpq variables
#     PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE; else the local server on
#     127.0.0.1:5432 (as root: installed and started if need be, and a
#     password-protected role and database `tozalash_test` made for the run;
#     otherwise postgres@127.0.0.1 without a password, as on a trusting server).
#     The tests only create schemas of their own in the database they are given
#     (its user needs CREATE on it). When it cannot connect, it says what to do;
#   - SMTP: aiosmtpd, installed into .cache/venv; each mail test starts its own
#     real SMTP server on a free loopback port and reads the delivered mail back;
#   - MongoDB: $TEST_MONGODB_URL if set (a real server, e.g. docker compose's), else
#     NX-27017, a MongoDB wire-protocol server, installed into .cache/venv and
#     started on a free loopback port for this run only, through
#     scripts/nx_27017_faithful.py, which patches the emulator's known deviations
#     from MongoDB (docs/mongodb-emulator.md) and is checked by a self-test first;
#   - Redis: a redis-server of this run's own on a free loopback port, for the
#     rate-limit tests that share counters between instances ($TEST_REDIS_URL);
#     each test uses a key prefix of its own.
# Then the passes, in this order (TEST_PASSES="schema workspace" runs only those):
#   schema        docs/schema.postgres.sql matches the migrations (catalog query)
#   docker        docker-compose.yml validates against the Compose schema, tags are
#                 pinned, healthchecks as documented (no Docker needed)
#   workspace     cargo test --workspace: unit tests, the storage conformance
#                 suite on SQLite, Postgres and MongoDB, the API suite on SQLite
#   api-postgres  the black-box API suite again on PostgreSQL
#   api-mongo     the black-box API suite again on MongoDB
#   e2e           the web app in Chromium, once, on SQLite (scripts/e2e.sh installs
#                 Debian's chromium and nodejs when missing, and the pinned
#                 playwright-core from tests/e2e/package-lock.json)
#   schemathesis  Schemathesis driving the server with its OpenAPI document
#   bench         scripts/bench.sh BENCH_SMOKE=1: the benchmark script end to end
#                 on SQLite, 1 s per scenario (installs oha into .cache/oha once)
#   credentials   the Postgres tests connect with a password: unless the run's own
#                 server already refused a wrong one, a private cluster made with
#                 initdb --auth=scram-sha-256 runs the schema check and an API test
# Everything the run started (NX-27017, redis-server, a Postgres cluster) is
# stopped at the end, whatever happens. No backend is ever skipped: one that
# cannot be provisioned fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="$PWD/.cache"
VENV="${TEST_VENV:-$CACHE/venv}" # TEST_VENV: a venv of your own with scripts/test-requirements.txt
REQUIREMENTS="$PWD/scripts/test-requirements.txt"
mkdir -p "$CACHE"
ALL_PASSES="schema docker workspace faults api-postgres api-mongo e2e schemathesis bench credentials"
PASSES="${TEST_PASSES:-$ALL_PASSES}"

# === Helpers ====================================================================

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
wants() { case " $PASSES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

for pass in $PASSES; do
  case " $ALL_PASSES " in *" $pass "*) ;; *) die "unknown pass '$pass' in TEST_PASSES (known: $ALL_PASSES)" ;; esac
done

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

# A URL without its password, for messages.
redact() { printf '%s' "$1" | sed -E 's#^([a-z]+://[^:/@]+):[^@]*@#\1:***@#'; }

# Percent-encodes one URL component (user, password, database).
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# === Stopping what the run started ================================================
# Every step that starts something registers how to stop it; on exit they run in
# reverse order, whether the run passed, failed or was interrupted.
CLEANUP=()
on_exit() {
  local i
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[i]}" || true; done
}
add_cleanup() { CLEANUP+=("$1"); }
trap on_exit EXIT

# === System packages ==============================================================
# What the passes need, as "command:Debian package". Add lines here for new tools
# (a browser for end-to-end tests: chromium:chromium, node:nodejs).
REQUIRED=(
  "python3:python3"
  "psql:postgresql-client"
  "curl:curl"
  "git:git"
  "cc:build-essential"
)
wants workspace && REQUIRED+=("redis-server:redis-server")

# Packages whose absence a command does not show.
missing_packages() {
  local entry
  for entry in "${REQUIRED[@]}"; do
    command -v "${entry%%:*}" >/dev/null || printf '%s\n' "${entry#*:}"
  done
  # The venv module is a package of its own on Debian.
  if command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    echo python3-venv
  fi
  printf '%s\n' "${EXTRA_PACKAGES[@]}"
}
EXTRA_PACKAGES=()

ensure_packages() {
  local missing
  missing=$(missing_packages | sort -u | tr '\n' ' ' | sed 's/ *$//')
  [ -z "$missing" ] && return 0
  if is_root && command -v apt-get >/dev/null; then
    log "installing $missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086 # one word per package
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
      die "apt-get could not install: $missing"
    fi
  else
    die "missing: $missing. Install them (sudo apt-get install $missing) or run this script as root, which installs them."
  fi
  command -v cargo >/dev/null || die "cargo is missing: install Rust 1.89+ with rustup (https://rustup.rs)"
}

# === Python tools: aiosmtpd (the SMTP server the mail tests use), NX-27017 ========
ensure_venv() { # reinstalls only when the pinned requirements changed
  local stamp="$VENV/.requirements"
  if [ -n "${TEST_VENV:-}" ]; then
    # A venv of the caller's own is used as it is.
    [ -x "$VENV/bin/python" ] || die "TEST_VENV=$VENV has no bin/python"
  elif [ ! -x "$VENV/bin/python" ] || ! cmp -s "$REQUIREMENTS" "$stamp"; then
    log "installing the test tools into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$stamp"
  fi
  export TEST_PYTHON="$VENV/bin/python"
}

# === MongoDB ======================================================================
start_mongodb() {
  [ -n "${TEST_MONGODB_URL:-}" ] && return 0
  NX_PORT=$(free_port)
  log "starting NX-27017 on 127.0.0.1:$NX_PORT"
  "$VENV/bin/python" scripts/nx_27017_faithful.py --data-dir memory --host 127.0.0.1 -p "$NX_PORT" \
    --log-file "$CACHE/nx-27017.log" --pid-file "$CACHE/nx-27017.pid" >"$CACHE/nx-27017.out" 2>&1 &
  NX_PID=$!
  add_cleanup "kill $NX_PID 2>/dev/null"
  if ! wait_for_port 127.0.0.1 "$NX_PORT" 30; then
    echo "NX-27017 did not start; its log:" >&2
    tail -n 50 "$CACHE/nx-27017.out" "$CACHE/nx-27017.log" >&2 || true
    exit 1
  fi
  export TEST_MONGODB_URL="mongodb://127.0.0.1:$NX_PORT/?directConnection=true"
  log "checking the emulator behaves like MongoDB where we rely on it"
  "$VENV/bin/python" scripts/nx_27017_selftest.py "$TEST_MONGODB_URL"
}

# === Redis ========================================================================
# Always a server of this run's own (never a shared one): no persistence, loopback only.
start_redis() {
  # The rate limiter's Redis backend sets expiries with EXPIRE … NX, new in Redis 7.0.
  local version
  version=$(redis-server --version | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p')
  if [ -z "$version" ] || [ "${version%%.*}" -lt 7 ] 2>/dev/null; then
    die "redis-server ${version:-of unknown version} is too old: Redis 7.0 or newer is needed"
  fi
  REDIS_PORT=$(free_port)
  log "starting redis-server on 127.0.0.1:$REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --protected-mode yes --logfile "$CACHE/redis.log" &
  REDIS_PID=$!
  add_cleanup "kill $REDIS_PID 2>/dev/null"
  if ! wait_for_port 127.0.0.1 "$REDIS_PORT" 30; then
    echo "redis-server did not start; its log:" >&2
    tail -n 50 "$CACHE/redis.log" >&2 || true
    exit 1
  fi
  export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
}

# === PostgreSQL ===================================================================

# What to do when the tests cannot use the server; $1 is why.
postgres_help() {
  cat >&2 <<EOF

test.sh: cannot use PostgreSQL at $(redact "$TEST_POSTGRES_URL"):
$(printf '%s\n' "$1" | sed 's/^/    /')

The tests need a PostgreSQL database whose user may create schemas in it
(CREATE on the database; they never touch anything else). Give it as a URL:

    TEST_POSTGRES_URL='postgres://tozalash:PASSWORD@127.0.0.1:5432/tozalash_test' scripts/test.sh

(percent-encode special characters of the password: @ %40, : %3A, / %2F, # %23)
or with the libpq variables:

    PGHOST=127.0.0.1 PGPORT=5432 PGUSER=tozalash PGPASSWORD=... PGDATABASE=tozalash_test scripts/test.sh

A user and database for it, on the server's machine (Debian, as root):

    runuser -u postgres -- createuser --pwprompt tozalash
    runuser -u postgres -- createdb --owner tozalash tozalash_test

or in psql as a superuser: CREATE USER tozalash PASSWORD 'choose-one';
(ALTER USER tozalash PASSWORD 'choose-one'; to set it again). A user that is not
the database's owner needs: GRANT CREATE ON DATABASE tozalash_test TO tozalash;

No server yet? As root: apt-get install postgresql, then
pg_ctlcluster <version> main start (or just run this script as root: it installs,
starts and provisions a local server itself, and stops it again at the end).
EOF
  exit 1
}

# The libpq variables as a URL.
url_from_pg_variables() {
  local user="${PGUSER:-$(id -un)}" host="${PGHOST:-127.0.0.1}" params=() auth url
  auth=$(urlencode "$user")
  [ -n "${PGPASSWORD:-}" ] && auth="$auth:$(urlencode "$PGPASSWORD")"
  case "$host" in
    /*) params+=("host=$(urlencode "$host")"); host=localhost ;;
  esac
  [ -n "${PGSSLMODE:-}" ] && params+=("sslmode=$PGSSLMODE")
  url="postgres://$auth@$host:${PGPORT:-5432}/$(urlencode "${PGDATABASE:-$user}")"
  if [ ${#params[@]} -gt 0 ]; then url="$url?$(IFS='&'; echo "${params[*]}")"; fi
  printf '%s' "$url"
}

# The last of the existing paths matching a glob, in version order (or nothing).
newest() { local p; for p in "$@"; do [ -e "$p" ] && printf '%s\n' "$p"; done | sort -V | tail -n 1; }

postgres_binaries() { # the newest installed server's bin folder
  local dir
  dir=$(newest /usr/lib/postgresql/*/bin)
  [ -n "$dir" ] && printf '%s' "$dir"
}

# As root, on the local Debian cluster: start it if it is down (and stop it at
# the end), then make a role with a fresh random password and a fresh database
# `tozalash_test` it owns, through the postgres user's own socket (peer auth,
# Debian's default), whatever pg_hba.conf says for TCP.
provision_local_postgres() {
  local version started=""
  version=$(newest /etc/postgresql/*/main)
  version=$(basename "$(dirname "$version")")
  [ "$version" != . ] || return 1
  if ! runuser -u postgres -- pg_ctlcluster "$version" main status >/dev/null 2>&1; then
    log "starting the local PostgreSQL $version (stopped again at the end)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || return 1
    add_cleanup "pg_ctlcluster --skip-systemctl-redirect $version main stop"
    started=yes
  fi
  local port password
  port=$(sed -n 's/^\s*port\s*=\s*\([0-9]*\).*/\1/p' "/etc/postgresql/$version/main/postgresql.conf")
  port="${port:-5432}"
  [ -n "$started" ] && { wait_for_port 127.0.0.1 "$port" 30 || return 1; }
  if [ -f "$CACHE/postgres-password" ]; then
    password=$(cat "$CACHE/postgres-password")
  else
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    (umask 077 && printf '%s' "$password" >"$CACHE/postgres-password")
  fi
  log "making the role and database tozalash_test (password in .cache/postgres-password)"
  runuser -u postgres -- psql -X -w -q -v ON_ERROR_STOP=1 -p "$port" -d postgres -v pw="$password" <<'SQL' || return 1
SELECT format('CREATE ROLE tozalash_test LOGIN PASSWORD %L', :'pw')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tozalash_test') \gexec
ALTER ROLE tozalash_test LOGIN PASSWORD :'pw';
DROP DATABASE IF EXISTS tozalash_test WITH (FORCE);
CREATE DATABASE tozalash_test OWNER tozalash_test;
SQL
  export TEST_POSTGRES_URL="postgres://tozalash_test:$password@127.0.0.1:$port/tozalash_test"
}

# Exports TEST_POSTGRES_URL and checks the tests can use it.
setup_postgres() {
  if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    :
  elif [ -n "${PGHOST:-}${PGPORT:-}${PGUSER:-}${PGPASSWORD:-}${PGDATABASE:-}" ]; then
    TEST_POSTGRES_URL=$(url_from_pg_variables)
    export TEST_POSTGRES_URL
  elif is_root && command -v runuser >/dev/null \
    && { [ -d /etc/postgresql ] || { EXTRA_PACKAGES=(postgresql) && ensure_packages; }; } \
    && provision_local_postgres; then
    :
  else
    # A server that trusts local connections (as CI machines often do).
    if ! wait_for_port 127.0.0.1 5432 1 && [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
      local version
      version=$(basename "$(dirname "$(newest /etc/postgresql/*/main)")")
      log "starting the local PostgreSQL $version (stopped again at the end)"
      if pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
        add_cleanup "pg_ctlcluster --skip-systemctl-redirect $version main stop"
      fi
    fi
    # A fresh database for the run, if the server lets us make one.
    local admin="postgres://postgres@127.0.0.1:5432/postgres"
    if psql -X -w -q -v ON_ERROR_STOP=1 "$admin" -c "DROP DATABASE IF EXISTS tozalash_test WITH (FORCE)" \
      -c "CREATE DATABASE tozalash_test" >/dev/null 2>&1; then
      export TEST_POSTGRES_URL="${admin%/*}/tozalash_test"
    else
      export TEST_POSTGRES_URL="$admin"
    fi
  fi
  local out
  if ! out=$(psql -X -w -q -At -v ON_ERROR_STOP=1 "$TEST_POSTGRES_URL" \
    -c "SELECT has_database_privilege(current_database(), 'CREATE')" 2>&1); then
    postgres_help "$out"
  fi
  [ "$out" = t ] || postgres_help "the user may not create schemas in this database"
}

# True when the server refuses the run's user with a wrong password: then the run
# itself proves the tests connect with a password.
server_checks_passwords() {
  local wrong
  wrong=$(printf '%s' "$TEST_POSTGRES_URL" |
    sed -E 's#^(postgres(ql)?://[^:/@]+)(:[^@]*)?@#\1:not-the-password@#')
  ! PGCONNECT_TIMEOUT=5 psql -X -w -q "$wrong" -c 'SELECT 1' >/dev/null 2>&1
}

# A private cluster of this run's own, on a free port, where every connection
# must give a password (scram-sha-256); stopped and deleted at the end.
# Exports PRIVATE_POSTGRES_URL (the superuser `tozalash`, with a password that
# needs percent-encoding, on the database tozalash_test).
start_private_postgres() {
  local bin dir port password as=()
  bin=$(postgres_binaries) || true
  if [ -z "$bin" ]; then
    EXTRA_PACKAGES=(postgresql) && ensure_packages
    bin=$(postgres_binaries) || die "no PostgreSQL server binaries in /usr/lib/postgresql"
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/tozalash-pg.XXXXXX")
  if is_root; then
    chown postgres "$dir" && as=(runuser -u postgres --)
  fi
  port=$(free_port)
  password="pw-$(python3 -c 'import secrets; print(secrets.token_hex(8))')-@:/#"
  printf '%s\n' "$password" >"$dir/pwfile"
  [ ${#as[@]} -gt 0 ] && chown postgres "$dir/pwfile"
  log "starting a private PostgreSQL (initdb --auth=scram-sha-256) on 127.0.0.1:$port"
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U tozalash --pwfile="$dir/pwfile" \
    --auth=scram-sha-256 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  add_cleanup "rm -rf '$dir'"
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
    || { cat "$dir/server.log" >&2; die "the private PostgreSQL did not start"; }
  add_cleanup "${as[*]} '$bin/pg_ctl' -D '$dir/data' -m fast stop >/dev/null"
  PRIVATE_POSTGRES_URL="postgres://tozalash:$(urlencode "$password")@127.0.0.1:$port/tozalash_test"
  psql -X -w -q -v ON_ERROR_STOP=1 "${PRIVATE_POSTGRES_URL%/*}/postgres" -c 'CREATE DATABASE tozalash_test' \
    || die "cannot create a database on the private PostgreSQL"
  if PGCONNECT_TIMEOUT=5 psql -X -w -q "postgres://tozalash:wrong@127.0.0.1:$port/tozalash_test" \
    -c 'SELECT 1' >/dev/null 2>&1; then
    die "the private PostgreSQL accepted a wrong password"
  fi
}

# === The passes ===================================================================
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# What does not depend on storage ran in the workspace pass, on SQLite, and is not
# run again: the rate limits and the request limits and timeouts
# (tests/api/rate_limits.rs, tests/api/limits.rs), the command line (tests/api/cli.rs).
FAULTS=(--skip faults::)
STORAGE_FREE=(--skip rate_limits:: --skip limits:: --skip cli:: "${FAULTS[@]}")

# A migration changed without regenerating the DDL of docs/data-model.md fails
# here (the diagram itself is checked by crates/store-tests/tests/data_model.rs).
# It builds the debug binary the API suite below uses anyway.
pass_schema() {
  log "checking docs/schema.postgres.sql is up to date"
  scripts/dump-schema.sh --check
}

export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
pass_docker() {
  log "checking docker-compose.yml and the Dockerfile (without Docker)"
  "$VENV/bin/python" scripts/docker/check-compose.py
}

pass_workspace() {
  log "workspace tests (unit, conformance on sqlite/postgres/mongo, API on SQLite)"
  cargo test --workspace --locked --no-fail-fast -- "${FAULTS[@]}"
}

# The fault tests (tests/api/faults.rs) stop and start servers of their own (a
# private Postgres cluster made with initdb, a private NX-27017), panic a handler
# and send SIGTERM: they run one at a time, in a pass of their own, and in no
# other pass (they do not depend on TEST_API_DATABASE_URL). CI=true makes a
# cluster that cannot be provisioned a failure, never a skip.
pass_faults() {
  log "fault tests, one at a time: the database stopped under the app, a panic, SIGTERM"
  cargo test --locked --test api -- faults:: --test-threads=1
}

pass_api_postgres() {
  log "API suite on PostgreSQL"
  TEST_API_DATABASE_URL="$TEST_POSTGRES_URL" cargo test --locked --test api -- "${STORAGE_FREE[@]}"
}

pass_api_mongo() {
  log "API suite on MongoDB"
  TEST_API_DATABASE_URL="$TEST_MONGODB_URL" cargo test --locked --test api -- "${STORAGE_FREE[@]}"
}

pass_e2e() {
  log "browser tests: the web app in Chromium (once, on SQLite)"
  scripts/e2e.sh
}

pass_schemathesis() {
  log "Schemathesis: the OpenAPI document against the running server (SQLite)"
  scripts/schemathesis.sh
}

pass_bench() {
  log "benchmark smoke check: scripts/bench.sh on SQLite, 1 s per scenario (docs/benchmarks.md)"
  rm -rf .cache/bench/smoke
  BENCH_SMOKE=1 scripts/bench.sh .cache/bench/smoke
}

pass_credentials() {
  if server_checks_passwords; then
    log "credentials: the run's PostgreSQL refuses a wrong password, so the passes above connected with one"
    return 0
  fi
  log "credentials: $(redact "$TEST_POSTGRES_URL") accepts any password; proving password URLs on a private cluster"
  start_private_postgres
  TEST_POSTGRES_URL="$PRIVATE_POSTGRES_URL" scripts/dump-schema.sh --check
  TEST_POSTGRES_URL="$PRIVATE_POSTGRES_URL" cargo test --locked --workspace --test postgres -- user_repo::
  TEST_API_DATABASE_URL="$PRIVATE_POSTGRES_URL" cargo test --locked --test api -- health:: auth::signup
}

# === The run ======================================================================
ensure_packages
ensure_venv
if wants workspace || wants api-mongo; then start_mongodb; fi
if wants workspace; then start_redis; fi
setup_postgres

log "Redis:      ${TEST_REDIS_URL:-(not needed)}"
log "MongoDB:    ${TEST_MONGODB_URL:-(not needed)}"
log "PostgreSQL: $(redact "$TEST_POSTGRES_URL")"

for pass in $ALL_PASSES; do
  if wants "$pass"; then "pass_${pass//-/_}"; fi
done

log "passed: $PASSES"
