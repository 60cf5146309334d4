#!/usr/bin/env bash
# Peak memory and latency of one mfa-server (SQLite) under a burst of
# concurrent password grants, then under a slow-body flood, on loopback.
# Bounded: a fixed number of requests and connections, every wait capped.
# Prints the Markdown rows of server/README.md ("Load: memory and slow
# clients").
#
#   scripts/hardening-load.sh                        # this tree's release build
#   BIN=/tmp/old/mfa-server LABEL=before scripts/hardening-load.sh
#   REQUESTS=400 CONCURRENCY=200 SLOW=200 SLOW_SECS=15 scripts/hardening-load.sh
#   BUILD=0 GEN=… SLOWGEN=…   # prebuilt load generators, no cargo build
#
# The password grants use the right password for 50 users (403
# mfa_required, one Argon2id hash each, 19 MiB), all at once: peak RSS is
# VmHWM of /proc/PID/status after the burst, "RSS after" VmRSS 5 s later.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-50}
REQUESTS=${REQUESTS:-400}
CONCURRENCY=${CONCURRENCY:-200}
SLOW=${SLOW:-200}
SLOW_SECS=${SLOW_SECS:-15}
LABEL=${LABEL:-after}
SECRET=load-test-client-secret-0123456789
PASSWORD="load test password"

[ "${BUILD:-1}" = 1 ] && cargo build --release -q -p mfa-server --bins --examples
BIN=${BIN:-target/release/mfa-server}
GEN=${GEN:-target/release/examples/loadgen}
SLOWGEN=${SLOWGEN:-target/release/examples/slowbody}
WORK=$(mktemp -d /tmp/mfa-hardening-load.XXXXXX)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$PID/status"; }
mib() { echo $(( $1 / 1024 )); }

DB="$WORK/load.db"
echo "$SECRET" | "$BIN" add-client load-client --db "$DB" >/dev/null 2>&1
for i in $(seq 0 $((USERS - 1))); do
  echo "$PASSWORD" | "$BIN" add-user "pw$i" --db "$DB" >/dev/null 2>&1
done
"$BIN" serve --listen 127.0.0.1:0 --db "$DB" >"$WORK/server.out" 2>"$WORK/server.err" &
PID=$!
for _ in $(seq 200); do grep -q 'listening on' "$WORK/server.out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^mfa-server listening on //p' "$WORK/server.out")

row=$("$GEN" --label "$LABEL" --scenario password --requests "$REQUESTS" --targets "$url" \
  --user-prefix pw --users "$USERS" --password "$PASSWORD" --concurrency "$CONCURRENCY" \
  --client-id load-client --client-secret "$SECRET")
peak=$(kib VmHWM)
sleep 5
after=$(kib VmRSS)
echo "| build | grant | requests | concurrency | req/s | p50 ms | p99 ms | statuses | peak RSS MiB | RSS 5 s later MiB |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
# loadgen: | label | scenario | targets | requests | concurrency | req/s | p50 | p90 | p99 | statuses |
echo "$row" | awk -F' \\| ' -v peak="$(mib "$peak")" -v after="$(mib "$after")" \
  '{ gsub(/^\| /, "", $1); gsub(/ \|$/, "", $10); printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $4, $5, $6, $7, $9, $10, peak, after }'

"$SLOWGEN" --target "${url#http://}" --connections "$SLOW" --seconds "$SLOW_SECS"
echo "peak RSS after the slow-body flood: $(mib "$(kib VmHWM)") MiB"
