#!/usr/bin/env bash
# Benchmarks Tozalash exactly as ../shared/baselines benchmarks its NestJS peer:
# same Postgres, same data shape (1 admin, 1,000 verified users of whom the first
# is bench@example.com with 200 orders, 50 services, 100,000 orders), same
# harness (bench/run.sh with oha), the release build in production mode.
#   scripts/bench.sh OUTDIR          (needs oha: cargo install oha --locked)
# Sizes: SEED_USERS, SEED_SERVICES, SEED_ORDERS, SEED_BENCH_ORDERS; harness
# settings (DURATION, WARMUP, SCENARIOS…) pass through to bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OUTDIR="${1:?usage: scripts/bench.sh OUTDIR}"
HARNESS="${HARNESS:-../shared/baselines/bench/run.sh}"
# The harness belongs to the workspace that compares Tozalash with its peer, not
# to this repository: a plain clone does not have it.
if [ ! -x "$HARNESS" ]; then
  echo "bench: no benchmark harness at $HARNESS. It is not part of this repository (it comes" >&2
  echo "bench: with the comparison workspace, beside it as ../shared/baselines); set HARNESS=/path/to/bench/run.sh" >&2
  exit 2
fi
ADMIN_URL="${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB=tozalash_bench
export DATABASE_URL="${ADMIN_URL%/*}/$DB"
USERS="${SEED_USERS:-1000}" SERVICES="${SEED_SERVICES:-50}"
ORDERS="${SEED_ORDERS:-100000}" BENCH_ORDERS="${SEED_BENCH_ORDERS:-200}"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"

cargo build --release --locked --quiet --bin tozalash
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$PWD/$TARGET_DIR" ;; esac
BIN="$TARGET_DIR/release/tozalash"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PORT HOST=127.0.0.1 APP_ENV=production RUST_LOG=warn
# The load comes from one address: it measures the server, not the rate limits.
export RATE_LIMITS=false
export JWT_SECRET="bench-secret-bench-secret-bench-secret-123"
# Production refuses to start without SMTP; nothing listens there, the one
# verification mail of the seed just stays queued.
export SMTP_URL="smtp://127.0.0.1:9" PUBLIC_URL="http://127.0.0.1:$PORT"
export ADMIN_EMAIL=admin@example.com ADMIN_USERNAME=admin ADMIN_PASSWORD='AdminPassw0rd!'

psql -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
"$BIN" migrate

# The bench user signs up through the API (a real argon2id hash), then the
# rest of the data is bulk-inserted, sharing that hash.
"$BIN" serve >"$OUTDIR/seed-server.log" 2>&1 &
SEED_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.1; done
curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/signup" -H 'Content-Type: application/json' \
  -d '{"username":"bench","email":"bench@example.com","password":"BenchPassw0rd!"}' >/dev/null
kill "$SEED_PID"; wait "$SEED_PID" 2>/dev/null || true

time psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL | tee "$OUTDIR/seed.log"
UPDATE users SET is_verified = true WHERE email = 'bench@example.com';
INSERT INTO users (id, username, username_folded, email, password_hash, role, is_verified, created_at, updated_at)
SELECT 'b0000000' || lpad(to_hex(n), 16, '0'), 'user' || lpad(n::text, 4, '0'), 'user' || lpad(n::text, 4, '0'),
       'user' || lpad(n::text, 4, '0') || '@example.com',
       (SELECT password_hash FROM users WHERE email = 'bench@example.com'), 'USER', true, now(), now()
FROM generate_series(1, $USERS - 1) AS n;
INSERT INTO services (id, name, name_folded, description, price, created_at, updated_at)
SELECT 'c0000000' || lpad(to_hex(n), 16, '0'), 'Service ' || lpad(n::text, 2, '0'), 'service ' || lpad(n::text, 2, '0'),
       'Demo cleaning service number ' || n, 100000 + n * 5000, now() - n * interval '1 minute', now()
FROM generate_series(1, $SERVICES) AS n;
-- The bench user's orders, then everybody else's, over the last year.
INSERT INTO orders (id, user_id, service_id, service_name, price, status, scheduled_at, address, notes, created_at, updated_at)
SELECT 'd0000000' || lpad(to_hex(n), 16, '0'),
       CASE WHEN n <= $BENCH_ORDERS THEN (SELECT id FROM users WHERE email = 'bench@example.com')
            ELSE 'b0000000' || lpad(to_hex(1 + (n * 7919) % ($USERS - 1)), 16, '0') END,
       s.id, s.name, s.price,
       (ARRAY['PENDING', 'COMPLETED', 'CANCELLED'])[1 + n % 3], NULL, 'Toshkent', NULL,
       now() - (n % 525600) * interval '1 minute', now()
FROM generate_series(1, $ORDERS) AS n
JOIN services s ON s.id = 'c0000000' || lpad(to_hex(1 + n % $SERVICES), 16, '0');
ANALYZE;
SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM services) AS services,
       (SELECT count(*) FROM orders) AS orders;
SQL

"$BIN" serve >"$OUTDIR/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.1; done
echo "server pid $SERVER_PID on 127.0.0.1:$PORT"
BENCH_EMAIL=bench@example.com BENCH_PASSWORD='BenchPassw0rd!' "$HARNESS" "http://127.0.0.1:$PORT" "$OUTDIR" "$SERVER_PID"
