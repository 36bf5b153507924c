#!/usr/bin/env bash
# Benchmarks Tozalash (release build, production mode) with the contract's load
# harness (scripts/bench/run.sh, oha), and, when ../shared/baselines is there,
# its NestJS peer too: alternating runs on the same machine and Postgres, then
# medians and Tozalash ÷ peer ratios. docs/benchmarks.md explains the figures.
#
#   scripts/bench.sh OUTDIR
#
# Each round reseeds the database the same way for both servers (1 admin, 1,000
# verified users of whom bench@example.com has 200 orders, 50 services,
# 100,000 orders; Tozalash with `tozalash seed --profile bench`), runs S1–S6 against a fresh server process, then waits
# IDLE_AFTER seconds and samples its RSS again. On Postgres, S7 follows: S3
# and the admin's status filter (SA) at 100,000 and at 1,000,000 orders.
#
# Environment (all optional):
#   ROUNDS          rounds (each: peer then Tozalash)            [3]
#   BENCH_STORAGE   postgres | sqlite | mongodb                  [postgres]
#   BENCH_MONGODB_URL  for mongodb: the server (each seed gets a database of its own)
#   BENCH_ADMIN_URL a Postgres superuser URL     [postgres://postgres@127.0.0.1:5432/postgres]
#   BASELINES       the peer's folder; "" = Tozalash alone       [../shared/baselines if present]
#   IDLE_AFTER      seconds idle before the last RSS sample      [60]
#   S7              1 = run S7 (Postgres only)                   [1 on Postgres]
#   S7_ORDERS       the large order count of S7                  [1000000]
#   SEED_USERS, SEED_SERVICES, SEED_ORDERS, SEED_BENCH_ORDERS    the data's size
#   DURATION, WARMUP, CONNS, LOGIN_CONNS, SCENARIOS              passed to the harness
#   OHA             the oha binary [on PATH, else installed once into .cache/oha]
#   BENCH_SMOKE=1   a < 1 minute check that the script still works: SQLite, debug
#                   build, Tozalash alone, tiny data, 1 s per scenario, no S7
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUTDIR="${1:?usage: scripts/bench.sh OUTDIR}"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
log() { echo "bench: $*" >&2; }

SMOKE="${BENCH_SMOKE:-0}"
PROFILE=release
if [[ "$SMOKE" == 1 ]]; then
  : "${BENCH_STORAGE:=sqlite}" "${ROUNDS:=1}" "${IDLE_AFTER:=1}" "${S7:=0}"
  : "${SEED_USERS:=20}" "${SEED_SERVICES:=5}" "${SEED_ORDERS:=300}" "${SEED_BENCH_ORDERS:=30}"
  : "${DURATION:=1s}" "${WARMUP:=200ms}" "${CONNS:=4}" "${LOGIN_CONNS:=2}"
  BASELINES=""
  PROFILE=debug
  export DURATION WARMUP CONNS LOGIN_CONNS
fi
STORAGE="${BENCH_STORAGE:-postgres}"
ROUNDS="${ROUNDS:-3}"
export IDLE_AFTER="${IDLE_AFTER:-60}"
export SCENARIOS="${SCENARIOS:-S1 S2 S3 S4 S5 S6}"
USERS="${SEED_USERS:-1000}" SERVICES="${SEED_SERVICES:-50}"
ORDERS="${SEED_ORDERS:-100000}" BENCH_ORDERS="${SEED_BENCH_ORDERS:-200}"
ADMIN_URL="${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if [[ -z "${BASELINES+set}" ]]; then
  BASELINES=""
  [[ -x ../shared/baselines/run-nestjs.sh ]] && BASELINES="$(cd ../shared/baselines && pwd)"
fi
[[ "$STORAGE" == postgres ]] || BASELINES=""   # the peer runs on Postgres only
S7="${S7:-$([[ "$STORAGE" == postgres ]] && echo 1 || echo 0)}"

# ---- the load generator: oha, installed once into .cache/oha if missing ---------------------
if [[ -z "${OHA:-}" ]]; then
  OHA="$(command -v oha || true)"
  [[ -n "$OHA" ]] || OHA="$ROOT/.cache/oha/bin/oha"
  if [[ ! -x "$OHA" ]]; then
    log "installing oha into .cache/oha (cargo install oha --locked; a few minutes, once)"
    cargo install oha --locked --quiet --root "$ROOT/.cache/oha"
  fi
fi
export OHA

# ---- Tozalash: build, seed, serve -----------------------------------------------------------
if [[ "$PROFILE" == release ]]; then
  cargo build --release --locked --quiet --bin tozalash
else
  cargo build --locked --quiet --bin tozalash
fi
TARGET="${CARGO_TARGET_DIR:-target}"
[[ "$TARGET" == /* ]] || TARGET="$ROOT/$TARGET"
BIN="$TARGET/$PROFILE/tozalash"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() {
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$1/health/ready" >/dev/null && return 0; sleep 0.1; done
  log "the server on port $1 did not become ready"; return 1
}

PG_DB=tozalash_bench
WORK="$OUTDIR/work"
mkdir -p "$WORK"
tozalash_env() { # the environment both the seeding and the measured server run with
  export HOST=127.0.0.1 RUST_LOG=warn
  # The load comes from one address: it measures the server, not the rate limits.
  export RATE_LIMITS=false
  export JWT_SECRET="bench-secret-bench-secret-bench-secret-123"
  # Production refuses to start without SMTP; the order mails of S4 queue
  # there (an SMTP sink when one listens, else they wait and retry).
  export SMTP_URL="smtp://127.0.0.1:9"
  export ADMIN_EMAIL=admin@example.com ADMIN_USERNAME=admin ADMIN_PASSWORD='AdminPassw0rd!'
  case "$STORAGE" in
    # Without TLS, as the peer's node-postgres connects by default (sqlx
    # would otherwise take sslmode=prefer's TLS when the server offers it).
    postgres) export DATABASE_URL="${ADMIN_URL%/*}/$PG_DB?sslmode=disable" ;;
    sqlite) export DATABASE_URL="sqlite://$WORK/tozalash.db?mode=rwc" ;;
    mongodb)
      local base="${BENCH_MONGODB_URL%%\?*}"
      export DATABASE_URL="${base%/}/tozalash_bench_$$_$SEED_SEQ${BENCH_MONGODB_URL#"$base"}" ;;
    *) log "BENCH_STORAGE must be postgres, sqlite or mongodb"; exit 2 ;;
  esac
}

# seed_tozalash ORDERS: a fresh database of the harness's shape, filled by the
# product's own bulk seed (`tozalash seed --profile bench`, in development
# mode: it makes accounts with known passwords), then ANALYZEd on Postgres as
# the peer's seed does.
seed_tozalash() {
  local orders="$1"
  SEED_SEQ=$((SEED_SEQ + 1))
  (
    tozalash_env
    case "$STORAGE" in
      postgres) psql -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB" ;;
      sqlite) rm -f "$WORK"/tozalash.db* ;;
      mongodb) ;; # a database of its own per seed (tozalash_env)
    esac
    APP_ENV=development "$BIN" seed --profile bench --users "$USERS" --services "$SERVICES" \
      --orders "$orders" --bench-orders "$BENCH_ORDERS" >>"$WORK/seed.log" 2>&1 \
      || { log "seeding failed: $(tail -3 "$WORK/seed.log")"; exit 1; }
    if [[ "$STORAGE" == postgres ]]; then psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c ANALYZE; fi
  )
}
SEED_SEQ=0

# run_tozalash DIR [harness env…]: a fresh production server, the harness, stop.
run_tozalash() {
  local dir="$1"; shift
  (
    tozalash_env
    local port pid
    port="$(free_port)"
    PORT="$port" PUBLIC_URL="http://127.0.0.1:$port" APP_ENV=production "$BIN" serve >"$WORK/server.log" 2>&1 &
    pid=$!
    trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
    wait_ready "$port"
    env "$@" "$ROOT/scripts/bench/run.sh" "http://127.0.0.1:$port" "$dir" "$pid" >/dev/null
  )
}

# ---- the peer (optional): a writable copy, built once; its own seed and server -------------
prepare_peer() {
  PEER="$ROOT/.cache/bench/baselines"
  mkdir -p "$PEER"
  cp -r "$BASELINES"/. "$PEER"/
  if [[ ! -f "$PEER/nestjs/dist/main.js" ]]; then
    log "building the NestJS peer (npm ci, nest build; once)"
    (cd "$PEER/nestjs" && npm ci --no-audit --no-fund --loglevel=error && npx nest build)
  fi
  psql -q "$ADMIN_URL" -tc "SELECT 1 FROM pg_roles WHERE rolname = 'bench'" | grep -q 1 \
    || psql -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "CREATE ROLE bench LOGIN PASSWORD 'bench' SUPERUSER"
  psql -q "$ADMIN_URL" -tc "SELECT 1 FROM pg_database WHERE datname = 'tozalash_nest'" | grep -q 1 \
    || psql -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "CREATE DATABASE tozalash_nest OWNER bench"
}
run_peer() {
  (
    export SEED_USERS="$USERS" SEED_SERVICES="$SERVICES" SEED_ORDERS="$ORDERS" SEED_BENCH_ORDERS="$BENCH_ORDERS"
    export PORT="$(free_port)"
    # run-nestjs.sh runs its own copy of the harness; ours (with S6) replaces it.
    cp "$ROOT/scripts/bench/run.sh" "$ROOT/scripts/bench/report.py" "$PEER/bench/"
    "$PEER/run-nestjs.sh" "$1" >/dev/null
  )
}

# ---- the rounds -------------------------------------------------------------------------------
[[ -z "$BASELINES" ]] || prepare_peer
log "storage $STORAGE, $ROUNDS round(s), scenarios $SCENARIOS, ${DURATION:-10s} each, peer: ${BASELINES:-none}"
for round in $(seq 1 "$ROUNDS"); do
  if [[ -n "$BASELINES" ]]; then
    log "round $round: peer"
    rm -rf "$OUTDIR/peer-$round"; run_peer "$OUTDIR/peer-$round"
  fi
  log "round $round: Tozalash (seeding $ORDERS orders)"
  seed_tozalash "$ORDERS"
  rm -rf "$OUTDIR/tozalash-$round"; run_tozalash "$OUTDIR/tozalash-$round"
done
python3 scripts/bench/compare.py "$OUTDIR" | tee "$OUTDIR/summary.md"

# ---- S7: lists at scale (Postgres): S3 and SA at 100k and at S7_ORDERS orders ----------------
if [[ "$S7" == 1 ]]; then
  for orders in 100000 "${S7_ORDERS:-1000000}"; do
    log "S7: seeding $orders orders"
    seed_tozalash "$orders"
    rm -rf "$OUTDIR/s7-$orders"
    run_tozalash "$OUTDIR/s7-$orders" SCENARIOS="S3 SA" IDLE_AFTER=0
  done
  python3 - "$OUTDIR" "${S7_ORDERS:-1000000}" <<'PY' | tee -a "$OUTDIR/summary.md"
import json, sys
out, big = sys.argv[1], sys.argv[2]
runs = {n: {s["id"]: s for s in json.load(open(f"{out}/s7-{n}/results.json"))["scenarios"]} for n in ("100000", big)}
print(f"\nS7 (Postgres): p50 at {int(big):,} orders ÷ p50 at 100,000 (target for S3 ≤ 1.5)\n")
print("| # | scenario | p50 ms at 100k | p50 ms at big | ratio | req/s at 100k | req/s at big |")
print("|---|---|---:|---:|---:|---:|---:|")
for sid in ("S3", "SA"):
    a, b = runs["100000"][sid], runs[big][sid]
    pa, pb = a["latency_ms"]["p50"], b["latency_ms"]["p50"]
    print(f"| {sid} | {a['name']} | {pa} | {pb} | {pb / pa:.2f} | {a['rps_2xx']:,.0f} | {b['rps_2xx']:,.0f} |")
PY
fi
if [[ "$SMOKE" == 1 ]]; then
  # The smoke check fails unless every scenario answered, and only with 2xx.
  python3 - "$OUTDIR" <<'PY'
import json, sys
run = json.load(open(f"{sys.argv[1]}/tozalash-1/results.json"))
bad = [s["id"] for s in run["scenarios"] if s["ok_2xx"] == 0 or s["non_2xx"] or s["errors"]]
assert run["meta"]["server_memory_kb"]["rss_idle"], "no idle RSS sample"
sys.exit(f"bench smoke: scenarios without clean 2xx answers: {bad}" if bad else 0)
PY
fi
log "done: $OUTDIR/summary.md"
