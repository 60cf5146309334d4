#!/usr/bin/env bash
# Auth0's own client SDKs, installed from npm and PyPI at pinned versions,
# walk the MFA flow through their public API against the real mfa-server
# binary over HTTPS (server/tests/sdk/, table in server/README.md § Tests).
#
#   scripts/sdk-test.sh        # builds target/debug/mfa-server, runs every SDK
#
# Packages go to a cache under target/sdk-cache/ (npm ci; a Python venv),
# reinstalled only when package-lock.json or requirements.txt changes. Any
# package that cannot be installed, any server that does not start and any
# failed test makes it exit non-zero: nothing is skipped. scripts/test.sh
# runs it after the cargo tests. MFA_SERVER_BIN=PATH tests another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
suite=server/tests/sdk
cache=$root/target/sdk-cache

fail() {
  echo "sdk-test: error: $*" >&2
  exit 1
}

scripts/install-deps.sh node npm venv openssl chromium
# The pinned SDKs need Node 20.19 or later (auth0@6 and @auth0/auth0-auth-js
# say so in "engines"); Debian 12's own nodejs is 18.
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
  || fail "Node $(node --version) is too old for the pinned SDKs: install Node 20.19 or later"

if [ -z "${MFA_SERVER_BIN:-}" ]; then
  cargo build -p mfa-server
  bin=$root/target/debug/mfa-server
else
  bin=$MFA_SERVER_BIN
fi
[ -x "$bin" ] || fail "no mfa-server binary at $bin"

# --- packages, cached ---------------------------------------------------------
mkdir -p "$cache/node"
if ! cmp -s "$suite/node/package-lock.json" "$cache/node/.installed-lock" \
  || [ ! -d "$cache/node/node_modules" ]; then
  echo "sdk-test: npm ci (pinned in $suite/node/package-lock.json)"
  rm -rf "$cache/node/node_modules" "$cache/node/.installed-lock"
  cp "$suite/node/package.json" "$suite/node/package-lock.json" "$cache/node/"
  # --ignore-scripts: no package of the suite needs an install script.
  (cd "$cache/node" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
    || fail "npm ci failed: a pinned npm package could not be installed"
  cp "$suite/node/package-lock.json" "$cache/node/.installed-lock"
fi
if ! cmp -s "$suite/python/requirements.txt" "$cache/venv/.installed-requirements" \
  || [ ! -x "$cache/venv/bin/python" ]; then
  echo "sdk-test: pip install (pinned in $suite/python/requirements.txt)"
  rm -rf "$cache/venv"
  python3 -m venv "$cache/venv" || fail "python3 -m venv failed"
  "$cache/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    -r "$suite/python/requirements.txt" \
    || fail "pip install failed: a pinned PyPI package could not be installed"
  "$cache/venv/bin/python" -m pip check || fail "the pinned PyPI packages do not fit together"
  cp "$suite/python/requirements.txt" "$cache/venv/.installed-requirements"
fi
# The test files run from the cache so that Node resolves node_modules there.
rm -f "$cache/node/"*.mjs
cp "$suite/node/"*.mjs "$cache/node/"

# --- a throwaway CA and the servers' certificate --------------------------------
work=$(mktemp -d /tmp/mfa-sdk.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mfa-server SDK test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
  "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$work/server.ext"
openssl x509 -req -days 2 -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -extfile "$work/server.ext" -out "$work/server.pem" 2>/dev/null
# Chromium trusts exactly this key (its SPKI hash), nothing else.
spki=$(openssl x509 -in "$work/server.pem" -pubkey -noout | openssl pkey -pubin -outform der \
  | openssl dgst -sha256 -binary | base64)

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The spa-js page's own origin (auth0-spa-js.test.mjs serves it): every
# server names it, so the page calls them across origins (CORS).
spa_origin="http://127.0.0.1:$(free_port)"

# start NAME PORT EXTRA_FLAGS...: one server on its own SQLite file and key.
start() {
  local name=$1 port=$2
  shift 2
  "$bin" serve --listen "127.0.0.1:$port" --db "$work/$name.db" \
    --issuer-url "https://127.0.0.1:$port/" --allowed-origin "$spa_origin" \
    --tls-cert "$work/server.pem" --tls-key "$work/server.key" "$@" \
    >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  local i
  for i in $(seq 1 600); do
    grep -q 'listening on' "$work/$name.out" 2>/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/$name.log" >&2
  fail "the $name server did not start (its log is above)"
}

# provision NAME SDK...: the clients and, for each SDK, its users.
client_secret=$(head -c 32 /dev/urandom | base64 | tr -d '\n=+/')
password=$(head -c 24 /dev/urandom | base64 | tr -d '\n=+/')
provision() {
  local name=$1 sdk
  shift
  printf '%s\n' "$client_secret" | "$bin" add-client sdk-client --db "$work/$name.db" >/dev/null
  "$bin" add-client sdk-spa --public --db "$work/$name.db" >/dev/null
  for sdk in "$@"; do
    for user in main lock expiry; do
      printf '%s\n' "$password" | "$bin" add-user "$sdk-$user" --db "$work/$name.db" >/dev/null
    done
  done
}

sdks=(auth0-auth-js auth0-spa-js node-auth0 openid-client auth0-python auth0-server-python)
main_port=$(free_port)
mfa_token_ttl=3
start main "$main_port"
provision main "${sdks[@]}"
# One short-lived-mfa_token server per SDK: a login on a server drops the
# mfa_tokens expired by then, after which an expired one is unknown
# ("Malformed mfa_token"), so SDKs sharing one would see each other's logins.
short_domains=()
for sdk in "${sdks[@]}"; do
  port=$(free_port)
  start "short-$sdk" "$port" --mfa-token-ttl "$mfa_token_ttl"
  provision "short-$sdk" "$sdk"
  short_domains+=("$sdk=127.0.0.1:$port")
done

# A server of auth0-python's own for signing-key rotation (the test runs
# `mfa-server rotate-signing-key` on its database mid-flow).
rotate_port=$(free_port)
start rotate "$rotate_port"
provision rotate auth0-python
export SDK_ROTATE_DOMAIN="127.0.0.1:$rotate_port" SDK_ROTATE_DB="$work/rotate.db" SDK_BIN="$bin"
# And one of node-auth0's own.
rotate_port=$(free_port)
start rotate-node "$rotate_port"
provision rotate-node node-auth0
export SDK_NODE_ROTATE_DOMAIN="127.0.0.1:$rotate_port" SDK_NODE_ROTATE_DB="$work/rotate-node.db"

export SDK_DOMAIN="127.0.0.1:$main_port"
export SDK_SHORT_DOMAINS="${short_domains[*]}"
export SDK_CLIENT_ID=sdk-client SDK_CLIENT_SECRET="$client_secret" SDK_PUBLIC_CLIENT_ID=sdk-spa
export SDK_PASSWORD="$password" SDK_MFA_TOKEN_TTL="$mfa_token_ttl"
export SDK_RESULTS="$work/results.jsonl" SDK_CA="$work/ca.pem" SDK_SPKI="$spki"
export SDK_SPA_ORIGIN="$spa_origin"
export SDK_SPA_BUNDLE="$cache/node/node_modules/@auth0/auth0-spa-js/dist/auth0-spa-js.production.js"
export SDK_CHROMIUM=${SDK_CHROMIUM:-/usr/bin/chromium}
# Each runtime trusts the throwaway CA through its own documented setting;
# no certificate check is turned off.
export NODE_EXTRA_CA_CERTS="$work/ca.pem"
export SSL_CERT_FILE="$work/ca.pem" REQUESTS_CA_BUNDLE="$work/ca.pem"
export PYTHONDONTWRITEBYTECODE=1
: >"$SDK_RESULTS"

# The two runtimes at once: each SDK has its own users, so they do not meet.
status=0
(cd "$cache/node" && node --test --test-concurrency=6 --test-reporter=spec ./*.test.mjs) \
  >"$work/node.txt" 2>&1 &
node_pid=$!
(cd "$root/$suite/python" && "$cache/venv/bin/python" -m pytest -p no:cacheprovider -q -rfE .) \
  >"$work/python.txt" 2>&1 &
python_pid=$!
wait "$node_pid" || status=1
wait "$python_pid" || status=1
echo "=== Node SDKs (node --test) ==="
cat "$work/node.txt"
echo "=== Python SDKs (pytest) ==="
cat "$work/python.txt"

python3 "$root/$suite/table.py" "$SDK_RESULTS" || status=1
if [ "$status" -ne 0 ]; then
  for log in "$work"/*.log; do
    echo "--- $(basename "$log" .log) server log (last 20 lines) ---" >&2
    tail -20 "$log" >&2
  done
  fail "an SDK test failed (see above)"
fi
echo "sdk-test: every SDK test passed"
