#!/usr/bin/env bash
# What the hashing threads' lower priority (HASHING_NICE, crates/security) costs
# and buys: S1, S5 and S6 against the release build on Postgres, alternating a
# server as shipped (hashing threads at nice 10) with one whose hashing threads
# are reniced to 0 once it is up. Prints, per run, S1 alone, S5 alone, S6 (S1
# during a login flood) and the logins per second served during S6's flood.
# docs/benchmarks.md has the last figures.
#
#   scripts/bench/nice-cost.sh OUTDIR      (RUNS pairs, default 4; Linux only)
#
# Needs what scripts/bench.sh needs, after it has run once (the release
# binary, oha on the PATH or in .cache/oha), and an SMTP sink on 127.0.0.1:9.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:?usage: scripts/bench/nice-cost.sh OUTDIR}"; mkdir -p "$OUT"
export OHA="${OHA:-$(command -v oha || echo "$PWD/.cache/oha/bin/oha")}"
BIN="${CARGO_TARGET_DIR:-target}/release/tozalash"
ADMIN_URL="${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export HOST=127.0.0.1 RUST_LOG=warn RATE_LIMITS=false JWT_SECRET="bench-secret-bench-secret-bench-secret-123"
export SMTP_URL="smtp://127.0.0.1:9" ADMIN_EMAIL=admin@example.com ADMIN_USERNAME=admin ADMIN_PASSWORD='AdminPassw0rd!'
export DATABASE_URL="${ADMIN_URL%/*}/tozalash_bench?sslmode=disable"

psql -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "DROP DATABASE IF EXISTS tozalash_bench WITH (FORCE)" -c "CREATE DATABASE tozalash_bench"
APP_ENV=development "$BIN" seed --profile bench >"$OUT/seed.log" 2>&1
psql -q "$DATABASE_URL" -c ANALYZE

for run in $(seq 1 "${RUNS:-4}"); do
  for variant in nice10 nice0; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    PORT=$port PUBLIC_URL=http://127.0.0.1:$port APP_ENV=production "$BIN" serve >"$OUT/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.1; done
    if [[ $variant == nice0 ]]; then
      # The hashing threads are the server's only threads at nice 10 (field 19 of stat).
      for task in /proc/$pid/task/*; do
        [[ "$(awk '{print $19}' "$task/stat")" == 10 ]] && renice -n 0 -p "${task##*/}" >/dev/null
      done
    fi
    SCENARIOS="S1 S5 S6" IDLE_AFTER=0 scripts/bench/run.sh "http://127.0.0.1:$port" "$OUT/$variant-$run" "$pid" >/dev/null 2>&1
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$OUT/$variant-$run" <<'PY'
import json, sys
out = sys.argv[1]
run = {s["id"]: s for s in json.load(open(f"{out}/results.json"))["scenarios"]}
flood = json.load(open(f"{out}/raw/S6-flood.json"))
logins = sum(n for code, n in flood.get("statusCodeDistribution", {}).items() if code.startswith("2"))
s1, s6 = run["S1"], run["S6"]
print(f"{out.rsplit('/', 1)[1]}: S1 {s1['rps_2xx']:,.0f} req/s p99 {s1['latency_ms']['p99']} ms; "
      f"S5 {run['S5']['rps_2xx']:,.0f} logins/s; S6 {s6['rps_2xx']:,.0f} req/s p99 {s6['latency_ms']['p99']} ms "
      f"({s6['latency_ms']['p99'] / s1['latency_ms']['p99']:.2f}x alone), "
      f"{logins / flood['summary']['total']:.0f} logins/s during S6")
PY
  done
done
