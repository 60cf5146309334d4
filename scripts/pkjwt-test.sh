#!/usr/bin/env bash
# Private Key JWT and DPoP with real client libraries against the real
# mfa-server binary (issue 12): openid-client (server/tests/pkjwt/
# openid_client.mjs: the positive paths, RS256/ES256/EdDSA assertions,
# DPoP-bound tokens, refresh, nonces) and joserfc (negative_joserfc.py: the
# negative cases, each asserting the exact error and that nothing changed).
#
#   scripts/pkjwt-test.sh
#
# Installs the pinned npm and PyPI packages (server/tests/pkjwt/
# package-lock.json, requirements.txt) into target/pkjwt-cache/ (reused
# while the pins are unchanged) and fails, never skips, when something
# cannot be installed. Starts two servers on free loopback ports over one
# temporary SQLite database (the second with --dpop-nonce-secs) and stops
# them by pid. scripts/test.sh runs it after the cargo tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/install-deps.sh python3 oathtool node npm pip
here=server/tests/pkjwt
# openid-client 6 needs Node.js 20 or newer (global WebCrypto, Ed25519).
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] \
  || { echo "pkjwt-test: error: Node.js $(node --version) is too old: openid-client 6 needs 20 or newer" >&2; exit 1; }
cache=$root/target/pkjwt-cache
mkdir -p "$cache/node" "$cache/py"

# npm: exactly the locked versions.
if ! cmp -s "$here/package-lock.json" "$cache/node/package-lock.json" || [ ! -d "$cache/node/node_modules/openid-client" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$cache/node/"
  (cd "$cache/node" && npm ci --no-audit --no-fund --loglevel=error) \
    || { echo "pkjwt-test: error: npm ci failed (openid-client could not be installed)" >&2; exit 1; }
fi
# PyPI: exactly the pinned versions, no others.
if ! cmp -s "$here/requirements.txt" "$cache/py/requirements.txt"; then
  rm -rf "$cache/py" && mkdir -p "$cache/py"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$cache/py" -r "$here/requirements.txt" \
    || { echo "pkjwt-test: error: pip could not install $here/requirements.txt" >&2; exit 1; }
  cp "$here/requirements.txt" "$cache/py/requirements.txt"
fi

cargo build --quiet -p mfa-server
bin=$root/target/debug/mfa-server
tmp=$(mktemp -d /tmp/mfa-pkjwt.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
db=$tmp/mfa.db

# `serve` on PORT with extra arguments; waits until it listens.
start() {
  local port=$1; shift
  env -u MFA_SERVER_ENCRYPTION_KEY_FILE "$bin" serve --listen "127.0.0.1:$port" --db "$db" --issuer ACME \
    --issuer-url "http://127.0.0.1:$port/" "$@" >"$tmp/server-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "mfa-server listening on" "$tmp/server-$port.log" && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "pkjwt-test: error: the server on port $port did not start:" >&2
  cat "$tmp/server-$port.log" >&2
  exit 1
}
p1=$(free_port)
start "$p1"
p2=$(free_port)
start "$p2" --dpop-nonce-secs 60

export MFA_BIN=$bin MFA_DB=$db MFA_BASE="http://127.0.0.1:$p1/" MFA_NONCE_BASE="http://127.0.0.1:$p2/"
unset MFA_SERVER_ENCRYPTION_KEY_FILE
echo "pkjwt-test: openid-client $(node -p "require('$cache/node/node_modules/openid-client/package.json').version")"
# ES modules resolve packages beside the file: run a copy in the cache.
cp "$here/openid_client.mjs" "$cache/node/openid_client.mjs"
node "$cache/node/openid_client.mjs" \
  || { echo "pkjwt-test: openid-client tests failed" >&2; exit 1; }
echo "pkjwt-test: joserfc $(PYTHONPATH=$cache/py python3 -c 'import joserfc; print(joserfc.__version__)')"
PYTHONPATH=$cache/py python3 "$here/negative_joserfc.py" \
  || { echo "pkjwt-test: joserfc tests failed" >&2; exit 1; }
echo "pkjwt-test: all passed"
