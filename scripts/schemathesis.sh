#!/usr/bin/env bash
# Drives the real server with its own OpenAPI document (Schemathesis): every
# operation gets generated valid and invalid requests, as an administrator and
# as a customer, and no response may break the document: no 5xx, only
# documented status codes, bodies matching their schemas, and invalid input
# always refused. The server runs on a fresh SQLite database with demo data.
# Needs .cache/venv with schemathesis (scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

ST=".cache/venv/bin/st"
[ -x "$ST" ] || { echo "schemathesis is not installed in .cache/venv (run scripts/test.sh)" >&2; exit 1; }
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-25}"

cargo build --locked --quiet --bin tozalash
BIN="${CARGO_TARGET_DIR:-target}/debug/tozalash"

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL="sqlite://$WORK/st.db?mode=rwc"
export JWT_SECRET="schemathesis-secret-schemathesis-secret"
export ADMIN_EMAIL="st-admin@example.uz" ADMIN_USERNAME="st_admin" ADMIN_PASSWORD="Schema-admin-2026"
export MAIL_DIR="$WORK/mail" HOST=127.0.0.1 PORT="$PORT" RUST_LOG="${RUST_LOG:-warn}"
# Schemathesis sends thousands of requests from one address: no rate limits.
export RATE_LIMITS=false

"$BIN" seed >/dev/null 2>&1
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -sf "$BASE/health/ready" >/dev/null && break; sleep 0.1; done

# An access token, taken from the login's Set-Cookie header.
token() {
  curl -s -D - -o /dev/null -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | sed -n 's/^set-cookie: access_token=\([^;]*\).*/\1/Ip'
}
ADMIN_TOKEN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
USER_TOKEN=$(token mijoz@example.uz Demo-mijoz-2026)
[ -n "$ADMIN_TOKEN" ] && [ -n "$USER_TOKEN" ] || { echo "could not log in"; cat "$WORK/server.log"; exit 1; }

status=0
for who in admin customer; do
  if [ "$who" = admin ]; then TOKEN=$ADMIN_TOKEN; else TOKEN=$USER_TOKEN; fi
  echo "==> Schemathesis as $who"
  # The session-ending operations are left out: they would log the run's own
  # token out halfway (they are covered by the black-box tests).
  "$ST" run "$BASE/api/v1/openapi.json" \
    --checks not_a_server_error,status_code_conformance,response_schema_conformance,negative_data_rejection \
    --header "Authorization: Bearer $TOKEN" \
    --exclude-path /api/v1/auth/logout-all --exclude-path /api/v1/auth/change-password \
    --max-examples "$MAX_EXAMPLES" --seed 20261127 --workers 1 \
    --suppress-health-check all || status=1
done
if [ "$status" -ne 0 ]; then
  echo "server log (last 50 lines):"; tail -n 50 "$WORK/server.log"
fi
exit "$status"
