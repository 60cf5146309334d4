#!/usr/bin/env bash
# The demo page in a real browser: starts `mfa-server serve --demo` on a free
# loopback port with its own temporary database and drives Debian's headless
# Chromium through the whole path a person takes (server/tests/browser/,
# playwright-core under node's test runner). scripts/test.sh runs it after
# the cargo tests.
#
#   scripts/browser-test.sh
#
# Needs chromium, zbarimg, oathtool, node, npm and python3 (scripts/install-deps.sh
# installs the missing ones) and playwright-core at the version pinned in
# server/tests/browser/package-lock.json, installed with `npm ci` into
# target/browser-test/ (again only when the lock file changes). Fails, never
# skips, when any of it cannot be installed. Screenshots are kept in
# target/browser-test/screenshots/. Everything it starts it stops by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh oathtool chromium zbarimg node npm python3

cache="$root/target/browser-test"
modules="$cache/node"
shots="$cache/screenshots"
mkdir -p "$modules" "$shots"
rm -f "$shots"/*
# playwright-core, pinned by the lock file; reinstalled when it changes.
if ! cmp -s server/tests/browser/package-lock.json "$modules/package-lock.json" \
  || [ ! -d "$modules/node_modules/playwright-core" ]; then
  cp server/tests/browser/package.json server/tests/browser/package-lock.json "$modules/"
  (cd "$modules" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
    || { echo "browser-test: error: npm ci of playwright-core failed" >&2; exit 1; }
fi

cargo build -p mfa-server
bin="$root/target/debug/mfa-server"

work=$(mktemp -d /tmp/mfa-browser.XXXXXX)
server_pid=""
stop() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

# The server, on port 0 (the kernel picks a free one; the server prints it).
# Its MFA_SERVER_* environment is its own.
for v in $(env | grep -o '^MFA_SERVER_[A-Z_]*' || true); do unset "$v"; done
# cors.test.mjs serves an app page on two more loopback ports and calls
# this server from them: the first origin is named, the second is not.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cors_origin=http://127.0.0.1:$(free_port)
cors_other_origin=http://127.0.0.1:$(free_port)
"$bin" serve --demo --db "$work/mfa.db" --listen 127.0.0.1:0 \
  --throttle-attempts 3 --login-max-failures 3 --login-block-secs 7200 \
  --allowed-origin "$cors_origin" \
  >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q '^mfa-server listening on ' "$work/stdout" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/stderr" >&2; echo "browser-test: error: the server did not start" >&2; exit 1; }
  sleep 0.1
done
base_url=$(sed -n 's/^mfa-server listening on \(http:[^ ]*\)$/\1/p' "$work/stdout")
[ -n "$base_url" ] || { cat "$work/stderr" >&2; echo "browser-test: error: no listening line" >&2; exit 1; }
demo_password=$(sed -n 's/^Demo user: *username=demo password=\(.*\)$/\1/p' "$work/stdout")
[ -n "$demo_password" ] || { echo "browser-test: error: no demo password printed" >&2; exit 1; }
grep -q "^Demo page: open $base_url/ in a browser" "$work/stdout" \
  || { cat "$work/stdout" >&2; echo "browser-test: error: the demo does not say where to open the page" >&2; exit 1; }
# A second user, for the lockout (the server reads users on every request).
second_password="second user's password"
printf '%s\n' "$second_password" | "$bin" add-user lockout-user --db "$work/mfa.db" >/dev/null

# The test runs beside its node_modules, so that `import 'playwright-core'`
# resolves to the pinned copy.
cp server/tests/browser/*.test.mjs "$modules/"
status=0
BASE_URL="$base_url" DEMO_PASSWORD="$demo_password" \
  SECOND_USER=lockout-user SECOND_PASSWORD="$second_password" \
  ARTIFACTS="$shots" CHROMIUM=/usr/bin/chromium BIN="$bin" \
  CORS_ORIGIN="$cors_origin" CORS_OTHER_ORIGIN="$cors_other_origin" \
  node --test --test-reporter=spec "$modules"/*.test.mjs || status=$?
# The page never logs a secret: neither codes nor the URI reach the log.
if grep -E 'otpauth|secret=' "$work/stderr" >&2; then
  echo "browser-test: error: the server's log holds a barcode URI" >&2
  status=1
fi
echo "browser-test: screenshots in $shots"
exit "$status"
