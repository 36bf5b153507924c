#!/usr/bin/env bash
# Contract-driven HTTP load harness for the Tozalash API (DESIGN.md §3, base path /api/v1).
# Works unchanged against any implementation of the contract (the NestJS baseline, the Rust product).
# Copied from ../shared/baselines/bench/run.sh (so a fresh clone has it), plus S6 and SA below.
#
#   scripts/bench/run.sh BASE_URL OUTDIR [SERVER_PID]
#
#   BASE_URL    server root, e.g. http://127.0.0.1:3100 (a trailing /api/v1 is accepted and stripped)
#   OUTDIR      where results.md, results.json and raw/ (one oha JSON per scenario) are written
#   SERVER_PID  optional: the server process; its VmRSS/VmHWM (/proc/PID/status) and CPU time
#               (/proc/PID/stat) are sampled. Must be the process that serves requests (not npm/sh).
#
# Environment (all optional):
#   IDLE_AFTER    seconds to stay idle after the scenarios, then sample VmRSS again  [0: not sampled]
#   BENCH_EMAIL / BENCH_PASSWORD  verified seeded user that owns orders  [bench@example.com / BenchPassw0rd!]
#   DURATION      measured run per scenario (oha -z)                   [10s]
#   WARMUP        warm-up run per scenario, discarded                  [2s]
#   CONNS         connections for S1-S4                                [64]
#   LOGIN_CONNS   connections for S5 (login, argon2-bound)             [16]
#   SCENARIOS     subset to run, e.g. "S1 S3"                          [S1 S2 S3 S4 S5]
#   OHA           oha binary                                           [oha on PATH, else ~/.cargo/bin/oha]
#   ADMIN_EMAIL / ADMIN_PASSWORD  an admin, for SA                     [admin@example.com / AdminPassw0rd!]
#
# Scenarios:
#   S1 GET  /api/v1/services?page=1&limit=20          public
#   S2 GET  /api/v1/services/{id}                      public; id = first item of the S1 list
#   S3 GET  /api/v1/orders?page=1&limit=20            cookie auth (access_token + csrf_token cookies)
#   S4 POST /api/v1/orders {"serviceId": id}           cookie auth + X-CSRF-Token header
#   S5 POST /api/v1/auth/login {email,password}        public, argon2id-bound
#   S6 S1 measured while LOGIN_CONNS connections flood S5 (starts S5's load first, same duration)
#   SA GET  /api/v1/orders?status=PENDING&page=1&limit=20   the admin's status filter (admin cookie)
# S3 runs before S4, so S3 sees the seeded order count; S4 adds orders: reseed before comparing runs.
set -euo pipefail

usage() { sed -n '2,30p' "$0" >&2; exit 2; }
[[ $# -ge 2 && $# -le 3 ]] || usage

BASE="${1%/}"; BASE="${BASE%/api/v1}"
OUTDIR="$2"
PID="${3:-}"
API="$BASE/api/v1"
HERE="$(cd "$(dirname "$0")" && pwd)"

BENCH_EMAIL="${BENCH_EMAIL:-bench@example.com}"
BENCH_PASSWORD="${BENCH_PASSWORD:-BenchPassw0rd!}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
CONNS="${CONNS:-64}"
LOGIN_CONNS="${LOGIN_CONNS:-16}"
SCENARIOS="${SCENARIOS:-S1 S2 S3 S4 S5}"
OHA="${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}"

die() { echo "run.sh: $*" >&2; exit 1; }
[[ -x "$OHA" ]] || die "oha not found (cargo install oha --locked, or set OHA=)"
command -v curl >/dev/null || die "curl not found"
command -v python3 >/dev/null || die "python3 not found"
if [[ -n "$PID" && ! -r "/proc/$PID/status" ]]; then die "no process $PID"; fi

mkdir -p "$OUTDIR/raw"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT

# ---- helpers --------------------------------------------------------------------------------
proc_field() { # proc_field VmHWM -> kB
  [[ -n "$PID" ]] || { echo null; return; }
  awk -v k="$1:" '$1==k{print $2}' "/proc/$PID/status" 2>/dev/null || echo null
}
proc_cpu_ticks() { # utime+stime in clock ticks
  [[ -n "$PID" ]] || { echo 0; return; }
  # fields after the ")" of comm: state is $1, utime is $12, stime is $13
  sed 's/^.*) //' "/proc/$PID/stat" | awk '{print $12+$13}'
}
CLK_TCK="$(getconf CLK_TCK)"

json_get() { # json_get FILE python-expr-on-d
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

# ---- wait for the server ---------------------------------------------------------------------
for i in $(seq 1 60); do
  code="$(curl -s -o /dev/null -w '%{http_code}' "$API/services?page=1&limit=1" || true)"
  [[ "$code" == 200 ]] && break
  [[ $i == 60 ]] && die "server not ready at $API (last status $code)"
  sleep 0.5
done

# ---- log in as the bench user, capture cookies -----------------------------------------------
LOGIN_BODY="$(python3 -c 'import json,sys; print(json.dumps({"email":sys.argv[1],"password":sys.argv[2]}))' "$BENCH_EMAIL" "$BENCH_PASSWORD")"
printf '%s' "$LOGIN_BODY" > "$TMP/login.json"
code="$(curl -s -D "$TMP/login.headers" -o "$TMP/login.body" -w '%{http_code}' \
  -H 'Content-Type: application/json' --data-binary @"$TMP/login.json" "$API/auth/login")"
[[ "$code" == 200 ]] || die "login as $BENCH_EMAIL failed: HTTP $code $(head -c 300 "$TMP/login.body")"
# Parse Set-Cookie headers directly (works whether or not the cookies are marked Secure).
cookie_val() {
  python3 - "$TMP/login.headers" "$1" <<'PY'
import sys
path, name = sys.argv[1], sys.argv[2]
for line in open(path, encoding="latin-1"):
    k, _, v = line.partition(":")
    if k.strip().lower() == "set-cookie":
        first = v.strip().split(";", 1)[0]
        n, _, val = first.partition("=")
        if n.strip() == name:
            print(val.strip()); break
PY
}
ACCESS="$(cookie_val access_token)"; CSRF="$(cookie_val csrf_token)"
[[ -n "$ACCESS" ]] || die "login set no access_token cookie"
[[ -n "$CSRF" ]] || die "login set no csrf_token cookie"
COOKIE="access_token=$ACCESS; csrf_token=$CSRF"

# ---- the admin, only for SA ------------------------------------------------------------------
ADMIN_COOKIE=""
if [[ " $SCENARIOS " == *" SA "* ]]; then
  ADMIN_BODY="$(python3 -c 'import json,sys; print(json.dumps({"email":sys.argv[1],"password":sys.argv[2]}))' \
    "${ADMIN_EMAIL:-admin@example.com}" "${ADMIN_PASSWORD:-AdminPassw0rd!}")"
  code="$(curl -s -D "$TMP/login.headers" -o "$TMP/login.body" -w '%{http_code}' \
    -H 'Content-Type: application/json' --data-binary "$ADMIN_BODY" "$API/auth/login")"
  [[ "$code" == 200 ]] || die "admin login failed: HTTP $code $(head -c 300 "$TMP/login.body")"
  ADMIN_COOKIE="access_token=$(cookie_val access_token); csrf_token=$(cookie_val csrf_token)"
fi

# ---- discover a service id from the public list ----------------------------------------------
curl -s "$API/services?page=1&limit=20" > "$TMP/services.json"
SERVICE_ID="$(json_get "$TMP/services.json" 'd["data"][0]["id"]')" || die "could not read data[0].id from GET /services"
printf '{"serviceId":"%s"}' "$SERVICE_ID" > "$TMP/order.json"

# ---- scenario table ---------------------------------------------------------------------------
declare -A NAME URL METHOD CONN BODY HDRS
NAME[S1]="GET /services?page=1&limit=20";  URL[S1]="$API/services?page=1&limit=20"; METHOD[S1]=GET;  CONN[S1]=$CONNS
NAME[S2]="GET /services/{id}";             URL[S2]="$API/services/$SERVICE_ID";      METHOD[S2]=GET;  CONN[S2]=$CONNS
NAME[S3]="GET /orders?page=1&limit=20 (cookie)"; URL[S3]="$API/orders?page=1&limit=20"; METHOD[S3]=GET; CONN[S3]=$CONNS
NAME[S4]="POST /orders (cookie+CSRF)";     URL[S4]="$API/orders";                    METHOD[S4]=POST; CONN[S4]=$CONNS
NAME[S5]="POST /auth/login";               URL[S5]="$API/auth/login";                METHOD[S5]=POST; CONN[S5]=$LOGIN_CONNS
NAME[S6]="GET /services?page=1&limit=20 during a login flood"; URL[S6]="${URL[S1]}"; METHOD[S6]=GET; CONN[S6]=$CONNS
NAME[SA]="GET /orders?status=PENDING&page=1&limit=20 (admin)"; URL[SA]="$API/orders?status=PENDING&page=1&limit=20"; METHOD[SA]=GET; CONN[SA]=$CONNS
BODY[S4]="$TMP/order.json"; BODY[S5]="$TMP/login.json"

oha_args() { # oha_args S -> prints args one per line
  local s="$1"
  printf '%s\n' -m "${METHOD[$s]}" -c "${CONN[$s]}" --no-tui
  case "$s" in
    S3) printf '%s\n' -H "Cookie: $COOKIE" ;;
    S4) printf '%s\n' -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -T application/json -D "${BODY[$s]}" ;;
    S5) printf '%s\n' -T application/json -D "${BODY[$s]}" ;;
    SA) printf '%s\n' -H "Cookie: $ADMIN_COOKIE" ;;
  esac
}

# ---- sanity: one request per scenario must be 2xx before we load it --------------------------
for s in $SCENARIOS; do
  [[ -n "${NAME[$s]:-}" ]] || die "unknown scenario $s"
  args=(-s -o "$TMP/sanity.body" -w '%{http_code}' -X "${METHOD[$s]}")
  case "$s" in
    S3) args+=(-H "Cookie: $COOKIE") ;;
    S4) args+=(-H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' --data-binary @"${BODY[$s]}") ;;
    S5) args+=(-H 'Content-Type: application/json' --data-binary @"${BODY[$s]}") ;;
    SA) args+=(-H "Cookie: $ADMIN_COOKIE") ;;
  esac
  code="$(curl "${args[@]}" "${URL[$s]}")"
  [[ "$code" =~ ^2 ]] || die "sanity check $s ${NAME[$s]} got HTTP $code: $(head -c 300 "$TMP/sanity.body")"
done

# ---- run --------------------------------------------------------------------------------------
RSS_START="$(proc_field VmRSS)"
echo "bench: $API  duration=$DURATION warmup=$WARMUP conns=$CONNS login_conns=$LOGIN_CONNS pid=${PID:-none}" >&2
: > "$TMP/proc.tsv"
for s in $SCENARIOS; do
  mapfile -t A < <(oha_args "$s")
  FLOOD=""
  if [[ "$s" == S6 ]]; then
    # The login flood runs through S6's warm-up and measurement (and a little past them).
    mapfile -t F < <(oha_args S5)
    flood_s="$(python3 -c "import re,sys; t=lambda v: float(re.sub('[a-z]+','',v))*{'ms':0.001,'s':1,'m':60}[re.sub('[0-9.]+','',v) or 's']; print(int(t(sys.argv[1])+t(sys.argv[2]))+2)" "$WARMUP" "$DURATION")"
    "$OHA" "${F[@]}" -z "${flood_s}s" -w --output-format json -o "$OUTDIR/raw/S6-flood.json" "${URL[S5]}" >/dev/null 2>&1 &
    FLOOD=$!
    sleep 0.5
  fi
  echo "  $s ${NAME[$s]}: warm-up $WARMUP ..." >&2
  "$OHA" "${A[@]}" -z "$WARMUP" -w --output-format quiet "${URL[$s]}" >/dev/null 2>&1 || true
  c0="$(proc_cpu_ticks)"; t0="$(date +%s.%N)"
  echo "  $s ${NAME[$s]}: measuring $DURATION x ${CONN[$s]} conns ..." >&2
  "$OHA" "${A[@]}" -z "$DURATION" -w --output-format json -o "$OUTDIR/raw/$s.json" "${URL[$s]}"
  t1="$(date +%s.%N)"; c1="$(proc_cpu_ticks)"
  [[ -z "$FLOOD" ]] || wait "$FLOOD" || true
  printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$(python3 -c "print(($c1-$c0)/$CLK_TCK)")" \
    "$(python3 -c "print($t1-$t0)")" "$(proc_field VmRSS)" "$(proc_field VmHWM)" >> "$TMP/proc.tsv"
done
RSS_END="$(proc_field VmRSS)"; HWM_END="$(proc_field VmHWM)"
# RSS once the server has been idle (no request, no login) for IDLE_AFTER seconds.
RSS_IDLE=null
if [[ "${IDLE_AFTER:-0}" != 0 ]]; then
  echo "  idle for ${IDLE_AFTER}s ..." >&2
  sleep "$IDLE_AFTER"; RSS_IDLE="$(proc_field VmRSS)"
fi

# ---- report -----------------------------------------------------------------------------------
export OUTDIR API PID DURATION WARMUP CONNS LOGIN_CONNS SCENARIOS RSS_START RSS_END HWM_END RSS_IDLE IDLE_AFTER SERVICE_ID BENCH_EMAIL
export OHA_VERSION="$("$OHA" --version 2>/dev/null | head -1)"
export SCEN_NAMES="$(for s in $SCENARIOS; do printf '%s\t%s\t%s\t%s\n' "$s" "${METHOD[$s]}" "${CONN[$s]}" "${NAME[$s]}"; done)"
python3 "$HERE/report.py" "$TMP/proc.tsv"
