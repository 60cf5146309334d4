#!/usr/bin/env bash
# Load test of mfa-server on loopback: the mfa-otp grant and the password
# grant, against SQLite (one instance) and PostgreSQL (one and three
# instances on one database). Bounded: a fixed number of requests per run.
# Prints a Markdown table (the one in server/README.md).
#
#   scripts/load-test.sh
#   USERS=50 OTP_REQUESTS=20000 PW_REQUESTS=400 CONCURRENCY=32 scripts/load-test.sh
#
# The password grant runs with PW_CONCURRENCY (default 4): more concurrent
# Argon2id hashes than cores only measures queueing.
# The servers run with Argon2id at its production setting (19 MiB, 2 passes)
# and with throttling raised (--throttle-attempts 4000000000) so that the
# repeated mfa-otp requests measure the verification path, not lockouts.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-50}
OTP_REQUESTS=${OTP_REQUESTS:-20000}
PW_REQUESTS=${PW_REQUESTS:-400}
CONCURRENCY=${CONCURRENCY:-32}
PW_CONCURRENCY=${PW_CONCURRENCY:-4}
PG_PORT=${PG_PORT:-55433}
SECRET=load-test-client-secret-0123456789
PASSWORD="load test password"

cargo build --release -q -p mfa-server --bins --examples
BIN=target/release/mfa-server
GEN=target/release/examples/loadgen
WORK=$(mktemp -d /tmp/mfa-load.XXXXXX)
PGDIR=$(mktemp -d /tmp/mfa-load-pg.XXXXXX) # its own directory: the cluster runs as postgres
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  scripts/pg-cluster.sh stop "$PGDIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# One encryption key for every instance and command (PostgreSQL needs one named).
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/mfa.key"
chmod 600 "$WORK/mfa.key"
export MFA_SERVER_ENCRYPTION_KEY_FILE="$WORK/mfa.key"

provision() { # DB USER-PREFIX
  echo "$SECRET" | "$BIN" add-client load-client --db "$1" >/dev/null
  for i in $(seq 0 $((USERS - 1))); do
    echo "$PASSWORD" | "$BIN" add-user "$2$i" --db "$1" >/dev/null
  done
}

# start DB → prints the base URL
start() {
  local out="$WORK/server-$RANDOM.out"
  "$BIN" serve --listen 127.0.0.1:0 --db "$1" --issuer LoadTest \
    --throttle-attempts 4000000000 --throttle-refill-secs 1 >"$out" 2>/dev/null &
  PIDS+=($!)
  for _ in $(seq 200); do grep -q 'listening on' "$out" 2>/dev/null && break; sleep 0.05; done
  sed -n 's/^mfa-server listening on //p' "$out"
}

gen() { # label scenario requests targets user-prefix concurrency
  "$GEN" --label "$1" --scenario "$2" --requests "$3" --targets "$4" --user-prefix "$5" --concurrency "$6" \
    --client-id load-client --client-secret "$SECRET" --users "$USERS" --password "$PASSWORD"
}

echo "| database | grant | instances | requests | concurrency | req/s | p50 ms | p90 ms | p99 ms | statuses |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"

# SQLite, one instance.
provision "$WORK/load.db" otp
provision "$WORK/load.db" pw
url=$(start "$WORK/load.db")
gen SQLite mfa-otp "$OTP_REQUESTS" "$url" otp "$CONCURRENCY"
gen SQLite password "$PW_REQUESTS" "$url" pw "$PW_CONCURRENCY"
kill "${PIDS[@]}" 2>/dev/null || true; PIDS=()

# PostgreSQL, one then three instances.
admin=$(scripts/pg-cluster.sh start "$PGDIR" "$PG_PORT")
psql -q "$admin" -c "CREATE DATABASE load" >/dev/null
pg="${admin%/*}/load"
provision "$pg" otp
provision "$pg" pw
provision "$pg" three
url=$(start "$pg")
gen PostgreSQL mfa-otp "$OTP_REQUESTS" "$url" otp "$CONCURRENCY"
gen PostgreSQL password "$PW_REQUESTS" "$url" pw "$PW_CONCURRENCY"
url2=$(start "$pg"); url3=$(start "$pg")
gen PostgreSQL mfa-otp "$OTP_REQUESTS" "$url,$url2,$url3" three "$CONCURRENCY"
