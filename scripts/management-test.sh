#!/usr/bin/env bash
# Auth0's own management clients against the real mfa-server binary: the
# Management API calls for MFA (issue 14), driven by auth0-python 4.13.0
# (server/tests/management/auth0_python_test.py) and node-auth0 4.37.1's
# ManagementClient (server/tests/management/node_auth0.test.mjs), each on
# a fresh SQLite database and, when MFA_TEST_POSTGRES_URL is set (as
# scripts/test.sh sets it), on a fresh PostgreSQL database.
#
#   scripts/management-test.sh      # after `cargo build -p mfa-server`
#
# The packages are installed (pinned) into target/management-cache/ on the
# first run and reused after. A package that cannot be installed, a missing
# python3, pip, node or npm, or any failed check fails the script: nothing
# is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PY_AUTH0=4.13.0
NODE_AUTH0=4.37.1
cache="$root/target/management-cache"
bin="$root/target/debug/mfa-server"

fail() { echo "management-test: error: $*" >&2; exit 1; }
for tool in python3 node npm oathtool; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is required (scripts/install-deps.sh installs it)"
done
python3 -m pip --version >/dev/null 2>&1 || fail "pip for python3 is required (scripts/install-deps.sh installs it)"
[ -x "$bin" ] || cargo build -q -p mfa-server --bin mfa-server

# Pinned packages, cached.
if ! PYTHONPATH="$cache/py" python3 -c "import auth0, sys; sys.exit(0 if auth0.__version__ == '$PY_AUTH0' else 1)" 2>/dev/null; then
  rm -rf "$cache/py"
  python3 -m pip install --quiet --disable-pip-version-check --no-input --target "$cache/py" \
    "auth0-python==$PY_AUTH0" || fail "cannot install auth0-python==$PY_AUTH0 from PyPI"
fi
if [ "$(node -p "require('$cache/node/node_modules/auth0/package.json').version" 2>/dev/null)" != "$NODE_AUTH0" ]; then
  mkdir -p "$cache/node"
  (cd "$cache/node" && npm install --no-audit --no-fund --silent --no-save "auth0@$NODE_AUTH0") \
    || fail "cannot install auth0@$NODE_AUTH0 from npm"
fi

work=$(mktemp -d /tmp/mfa-management.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/key"
chmod 600 "$work/key"
export MFA_SERVER_ENCRYPTION_KEY_FILE="$work/key"
secret() { head -c 24 /dev/urandom | base64 | tr -d '\n=+/'; }

# run SDK DB: provisions DB, starts the server, runs one SDK's checks.
run() {
  local sdk=$1 db=$2
  local app full read
  app=$(secret); full=$(secret); read=$(secret)
  printf '%s\n' "$app" | "$bin" add-client seed-app --db "$db" >/dev/null
  printf '%s\n' "$full" | "$bin" add-client mgmt-full --db "$db" --management-scopes \
    "read:users update:users read:authentication_methods delete:authentication_methods delete:guardian_enrollments" >/dev/null
  printf '%s\n' "$read" | "$bin" add-client mgmt-read --db "$db" --management-scopes "read:users" >/dev/null
  for user in jane bob; do
    printf '%s\n' "correct horse battery staple" | "$bin" add-user "$user" --db "$db" >/dev/null
  done
  "$bin" serve --db "$db" --listen 127.0.0.1:0 --issuer ACME --issuer-url https://auth.test/ \
    --login-max-failures 3 >"$work/out" 2>"$work/err" &
  pid=$!
  local addr=""
  for _ in $(seq 1 100); do
    addr=$(sed -n 's|^mfa-server listening on http://||p' "$work/out")
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; fail "the server exited"; }
    sleep 0.1
  done
  [ -n "$addr" ] || fail "the server did not start"
  local status=0
  export MGMT_DOMAIN="$addr" MGMT_AUDIENCE="https://auth.test/api/v2/" APP_SECRET="$app" \
    MGMT_FULL_SECRET="$full" MGMT_READ_SECRET="$read" MGMT_BIN="$bin" MGMT_DB="$db"
  echo "== $sdk on $3"
  case $sdk in
    auth0-python) PYTHONPATH="$cache/py" python3 server/tests/management/auth0_python_test.py \
      | tee "$work/report" || status=$?
      passes=$(sed -n 's/^auth0-python: \([0-9]*\) passed.*/\1/p' "$work/report") ;;
    node-auth0) AUTH0_NODE_MODULES="$cache/node/node_modules" node --test --test-reporter=spec \
      server/tests/management/node_auth0.test.mjs | tee "$work/report" || status=$?
      passes=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$work/report") ;;
  esac
  total=$((total + ${passes:-0}))
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  [ "$status" = 0 ] || { sed 's/^/  server: /' "$work/err" | tail -20 >&2; fail "$sdk on $3 failed"; }
}

n=0
total=0
for sdk in auth0-python node-auth0; do
  n=$((n + 1))
  run "$sdk" "$work/$sdk.db" SQLite
  if [ -n "${MFA_TEST_POSTGRES_URL:-}" ]; then
    name="mfa_management_$$_$n"
    psql -q "$MFA_TEST_POSTGRES_URL" -c "CREATE DATABASE $name" >/dev/null
    run "$sdk" "${MFA_TEST_POSTGRES_URL%/*}/$name" PostgreSQL
  fi
done
echo "management-test: Auth0's management clients (auth0-python $PY_AUTH0, node-auth0 $NODE_AUTH0) against the binary:"
echo "$total passed, 0 failed"
