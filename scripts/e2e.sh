#!/usr/bin/env bash
# The browser tests (tests/e2e): the web app in Debian's Chromium driven by
# playwright-core, against the debug binary on SQLite with a real SMTP server
# (aiosmtpd from .cache/venv, or $TEST_PYTHON). They do not depend on the
# storage backend, so they run once.
#
# Provisioning: Chromium from Debian (`apt-get install chromium`) and the
# pinned node modules (`npm ci` in tests/e2e) are installed when missing and
# this runs as root; otherwise the missing package is named and the run fails.
# Never a downloaded browser build: playwright-core ships none, and
# $CHROMIUM (default /usr/bin/chromium) is what runs.
#
#   scripts/e2e.sh                  # build, provision, run every scenario
#   scripts/e2e.sh --screenshots    # instead, write docs/screenshots/*.png
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }
fail() { echo "e2e: $*" >&2; exit 1; }

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
as_root() { [ "$(id -u)" = 0 ]; }

if [ ! -x "$CHROMIUM" ]; then
  if as_root && command -v apt-get >/dev/null; then
    log "installing Debian's chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || fail "apt-get install chromium failed"
  else
    fail "$CHROMIUM is missing: install Debian's package 'chromium' (apt-get install chromium) or set CHROMIUM"
  fi
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if as_root && command -v apt-get >/dev/null; then
    log "installing node and npm"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null \
      || fail "apt-get install nodejs npm failed"
  else
    fail "node and npm are missing: install the packages 'nodejs' and 'npm'"
  fi
fi
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' \
  || fail "node 18 or newer is needed (found $(node --version))"

# The pinned modules, reinstalled only when the lock file changed.
E2E=tests/e2e
if ! cmp -s "$E2E/package-lock.json" "$E2E/node_modules/.package-lock.json.installed" 2>/dev/null; then
  log "installing the pinned node modules (npm ci)"
  (cd "$E2E" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
    || fail "npm ci in $E2E failed"
  cp "$E2E/package-lock.json" "$E2E/node_modules/.package-lock.json.installed"
fi

if [ -z "${TEST_PYTHON:-}" ]; then
  [ -x .cache/venv/bin/python ] || fail "no Python with aiosmtpd: run scripts/test.sh once, or set TEST_PYTHON"
  export TEST_PYTHON="$PWD/.cache/venv/bin/python"
fi

log "building the binary"
cargo build --locked --bin tozalash
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
export TOZALASH_BIN="$TARGET_DIR/debug/tozalash" CHROMIUM

cd "$E2E"
if [ "${1:-}" = "--screenshots" ]; then
  log "screenshots into docs/screenshots/"
  exec node screenshots.js
fi
log "browser tests (Chromium $("$CHROMIUM" --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1))"
exec node --test --test-concurrency=1 --test-reporter=spec e2e.test.js
