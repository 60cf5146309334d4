#!/usr/bin/env bash
# Load test of mfa-server on loopback, beside a floor (server/examples/floor.rs:
# the least an mfa-otp grant can cost on axum + sqlx with the same database
# settings), driven by one generator (server/examples/loadgen.rs).
#
# Each arrangement provisions GRANT_USERS enrolled users with mfa_tokens in
# seconds (server/examples/provision.rs: bulk imports through the store's and
# the server's public API, never a path the server takes), then sends every
# user's current code once (the "accepted" row: a grant that advances the
# step and issues a token) and the same code again (the "replay" row, 400).
# Every row: requests, concurrency, req/s, p50/p90/p99, statuses, and CPU per
# request of the server processes and of the database (PostgreSQL's
# processes; SQLite runs inside the server), from /proc/PID/stat. Each
# mfa-server row is also given as a ratio of the floor's same row
# (same database, signing algorithm and path).
#
# Arrangements: SQLite (RS256 and EdDSA), PostgreSQL x1 (RS256 and EdDSA,
# fsync off), PostgreSQL x3 (three instances on one database), PostgreSQL
# with durable commits (PG_DURABLE=1: fsync=on, synchronous_commit=on),
# SQLite and PostgreSQL with BIG_USERS enrolled users; and the password grant
# (Argon2id at its production setting) on SQLite. Every EdDSA x1 arrangement
# also runs the floor whose refusals are charged (`floor --replay-charges`).
#
#   scripts/load-test.sh                  # prints the Markdown table
#   REPEATS=1 GRANT_USERS=5000 BIG_USERS=50000 scripts/load-test.sh
#   ONLY=sqlite scripts/load-test.sh      # sqlite | pg | durable | big | password
#   UPDATE_README=1 scripts/load-test.sh  # also puts the table in server/README.md
#
# The servers run with throttling raised (--throttle-attempts 4000000000) so
# that replays measure the verification path, not lockouts. The table goes to
# stdout; progress to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
GRANT_USERS=${GRANT_USERS:-20000}
BIG_USERS=${BIG_USERS:-200000}
REPEATS=${REPEATS:-2}
CONCURRENCY=${CONCURRENCY:-32}
PW_REQUESTS=${PW_REQUESTS:-400}
PW_CONCURRENCY=${PW_CONCURRENCY:-4}
# Below the kernel's ephemeral range (32768-60999 by default): the load
# generator's own connections take ports from that range, and one left on
# PG_PORT + 1 made the durable cluster fail to bind.
PG_PORT=${PG_PORT:-25433}
ONLY=${ONLY:-sqlite pg durable big password}
SECRET=load-test-client-secret-0123456789
PASSWORD="load test password"
ISSUER_URL=http://127.0.0.1:8080/
CLK_TCK=$(getconf CLK_TCK)

if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release -q -p mfa-server --bins --examples
  BIN_DIR=target/release
fi
BIN=$BIN_DIR/mfa-server
GEN=$BIN_DIR/examples/loadgen
FLOOR=$BIN_DIR/examples/floor
PROVISION=$BIN_DIR/examples/provision
WORK=$(mktemp -d /tmp/mfa-load.XXXXXX)
PIDS=()
CLUSTERS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for dir in "${CLUSTERS[@]}"; do scripts/pg-cluster.sh stop "$dir" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
ROWS="$WORK/rows.tsv"
# A run that fails keeps what it measured: the rows so far go to stderr.
on_exit() {
  local status=$?
  if [ "$status" != 0 ] && [ -s "$ROWS" ]; then
    note "failed (exit $status); the rows measured so far:"
    cat "$ROWS" >&2
  fi
  cleanup
}
trap on_exit EXIT
# One encryption key for every instance and command (PostgreSQL needs one named).
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/mfa.key"
chmod 600 "$WORK/mfa.key"
export MFA_SERVER_ENCRYPTION_KEY_FILE="$WORK/mfa.key"
COUNT=
: >"$ROWS"
note() { echo "load-test: $*" >&2; }

provision() { # DB USERS FIXTURE
  "$PROVISION" --db "$1" --users "$2" --out "$3" --client-id load-client \
    --client-secret "$SECRET" --password "$PASSWORD" --audience "${ISSUER_URL}userinfo" >&2
}

# wait_for OUT-FILE PATTERN PID → prints the URL after PATTERN. Waits while
# PID runs, up to START_TIMEOUT seconds (the floor loads a million-user
# fixture before it listens).
START_TIMEOUT=${START_TIMEOUT:-600}
wait_for() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until grep -q "$2" "$1" 2>/dev/null; do
    if ! kill -0 "$3" 2>/dev/null; then note "$1: the process exited before listening"; return; fi
    if [ "$SECONDS" -ge "$deadline" ]; then note "$1: not listening after ${START_TIMEOUT}s"; return; fi
    sleep 0.05
  done
  sed -n "s/^$2//p" "$1"
}

# serve DB ALG → sets URL and PID
serve() {
  local out="$WORK/server-$RANDOM.out"
  "$BIN" serve --listen 127.0.0.1:0 --db "$1" --issuer-url "$ISSUER_URL" --signing-alg "$2" \
    --throttle-attempts 4000000000 --throttle-refill-secs 1 >"$out" 2>"$out.err" &
  PID=$!
  PIDS+=("$PID")
  URL=$(wait_for "$out" 'mfa-server listening on ' "$PID")
  [ -n "$URL" ] || { cat "$out.err" >&2; exit 1; }
}

# floor DB FIXTURE ALG [EXTRA-FLAG] → sets URL and PID
floor() {
  local out="$WORK/floor-$RANDOM.out"
  "$FLOOR" --db "$1" --fixture "$2" --signing-alg "$3" ${4:+"$4"} >"$out" 2>"$out.err" &
  PID=$!
  PIDS+=("$PID")
  URL=$(wait_for "$out" 'floor listening on ' "$PID")
  [ -n "$URL" ] || { cat "$out.err" >&2; exit 1; }
}

stop() { kill "$@" 2>/dev/null || true; wait "$@" 2>/dev/null || true; }

# grant KEY SERVER FIXTURE TARGETS PIDS STEP-FILE [POSTMASTER]
grant() {
  local extra=()
  [ -n "${7:-}" ] && extra=(--postmaster "$7")
  note "$1 · $2"
  "$GEN" --scenario grant --label "$1|$2" --fixture "$3" --targets "$4" --server-pids "$5" \
    --step-file "$6" --concurrency "$CONCURRENCY" --clk-tck "$CLK_TCK" \
    --client-id load-client --client-secret "$SECRET" --requests 1 ${COUNT:+--count "$COUNT"} \
    "${extra[@]}" >>"$ROWS"
}

# measure KEY DB FIXTURE ALG INSTANCES [POSTMASTER]: the floor then
# mfa-server, REPEATS times, each on its own table's step file. With
# CHARGED=1 also the floor that charges each refused code with a real
# write, as the server's throttle must (`floor --replay-charges`): the
# replay's floor with the write the server cannot skip.
measure() {
  local key=$1 db=$2 fixture=$3 alg=$4 n=$5 pm=${6:-}
  local tag
  tag=$(echo "$key" | tr -c 'a-zA-Z0-9' _)
  for _ in $(seq "$REPEATS"); do
    if [ "$n" = 1 ]; then
      floor "$db" "$fixture" "$alg"
      grant "$key $alg" floor "$fixture" "$URL" "$PID" "$WORK/$tag.floor.step" "$pm"
      stop "$PID"
      if [ "${CHARGED:-0}" = 1 ]; then
        floor "$db" "$fixture" "$alg" --replay-charges
        grant "$key $alg" "floor, refusals charged" "$fixture" "$URL" "$PID" \
          "$WORK/$tag.floor.step" "$pm"
        stop "$PID"
      fi
    fi
    local urls=() pids=()
    for _ in $(seq "$n"); do serve "$db" "$alg"; urls+=("$URL"); pids+=("$PID"); done
    grant "$key $alg" "mfa-server x$n" "$fixture" "$(IFS=,; echo "${urls[*]}")" \
      "$(IFS=,; echo "${pids[*]}")" "$WORK/$tag.server.step" "$pm"
    stop "${pids[@]}"
  done
}

pg_start() { # PORT → sets PG (database URL) and PM (postmaster pid)
  local admin dir
  # Its own directory: the cluster runs as postgres, which cannot enter $WORK.
  dir=$(mktemp -d /tmp/mfa-load-pg.XXXXXX)
  CLUSTERS+=("$dir")
  admin=$(scripts/pg-cluster.sh start "$dir" "$1")
  psql -q "$admin" -c "CREATE DATABASE load" >/dev/null
  PG="${admin%/*}/load"
  PM=$(head -1 "$dir/data/postmaster.pid")
}

has() { [[ " $ONLY " == *" $1 "* ]]; }

if has sqlite || has password; then
  provision "$WORK/load.db" "$GRANT_USERS" "$WORK/sqlite.fixture"
fi
if has sqlite; then
  CHARGED=1 measure "SQLite" "$WORK/load.db" "$WORK/sqlite.fixture" EdDSA 1
  measure "SQLite" "$WORK/load.db" "$WORK/sqlite.fixture" RS256 1
fi
if has pg; then
  pg_start "$PG_PORT"
  provision "$PG" "$GRANT_USERS" "$WORK/pg.fixture"
  CHARGED=1 measure "PostgreSQL" "$PG" "$WORK/pg.fixture" EdDSA 1 "$PM"
  measure "PostgreSQL" "$PG" "$WORK/pg.fixture" RS256 1 "$PM"
  measure "PostgreSQL" "$PG" "$WORK/pg.fixture" EdDSA 3 "$PM"
fi
if has durable; then
  PG_DURABLE=1 pg_start "$((PG_PORT + 1))"
  provision "$PG" "$GRANT_USERS" "$WORK/pgd.fixture"
  CHARGED=1 measure "PostgreSQL durable" "$PG" "$WORK/pgd.fixture" EdDSA 1 "$PM"
fi
if has big; then
  note "provisioning $BIG_USERS users on SQLite"
  provision "$WORK/big.db" "$BIG_USERS" "$WORK/big.fixture"
  COUNT=$GRANT_USERS # the load touches GRANT_USERS of them, spread over the table
  CHARGED=1 measure "SQLite $BIG_USERS users" "$WORK/big.db" "$WORK/big.fixture" EdDSA 1
  if has pg; then
    note "provisioning $BIG_USERS users on PostgreSQL"
    psql -q "${PG%/*}/postgres" -c "CREATE DATABASE big" >/dev/null
    provision "${PG%/*}/big" "$BIG_USERS" "$WORK/pgbig.fixture"
    CHARGED=1 measure "PostgreSQL $BIG_USERS users" "${PG%/*}/big" "$WORK/pgbig.fixture" EdDSA 1 "$PM"
  fi
  COUNT=
fi
PW_ROW=""
if has password; then
  serve "$WORK/load.db" RS256
  note "password grant"
  PW_ROW=$("$GEN" --label SQLite --scenario password --requests "$PW_REQUESTS" --targets "$URL" \
    --user-prefix load --users 50 --concurrency "$PW_CONCURRENCY" \
    --client-id load-client --client-secret "$SECRET" --password "$PASSWORD")
  stop "$PID"
fi

report() {
echo "$GRANT_USERS requests per row unless noted (every enrolled user's code once: accepted; again: replay), concurrency $CONCURRENCY, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'). CPU is per request: the server's processes (with SQLite inside) and PostgreSQL's. × floor: the mfa-server row over the floor's same row (mean of its runs); × charged (replays): over the floor whose refusals are charged with a real write (\`floor --replay-charges\`), as the server's throttle must."
echo
echo "| database | signing | server | path | requests | req/s | × floor | × charged | p50 ms | p90 ms | p99 ms | p99 × floor | statuses | server CPU µs | PostgreSQL CPU µs |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
awk -F'\t' '
  $1 == "ROW" {
    n++; split($2, l, "|"); key[n] = l[1]; who[n] = l[2]; path[n] = $3; req[n] = $5
    rps[n] = $7; p50[n] = $8; p90[n] = $9; p99[n] = $10; st[n] = $11; cs[n] = $12; cd[n] = $13
    if (l[2] == "floor") { f = l[1] SUBSEP $3; frps[f] += $7; fp99[f] += $10; fn[f]++ }
    if (l[2] ~ /^floor, /) { f = l[1] SUBSEP $3; crps[f] += $7; cn[f]++ }
  }
  END {
    for (i = 1; i <= n; i++) {
      f = key[i] SUBSEP path[i]
      ratio = "–"; pr = "–"; cr = "–"
      if (who[i] != "floor" && fn[f] > 0) {
        ratio = sprintf("%.2f", rps[i] / (frps[f] / fn[f]))
        pr = sprintf("%.2f", p99[i] / (fp99[f] / fn[f]))
      }
      if (who[i] !~ /^floor/ && path[i] == "replay" && cn[f] > 0) cr = sprintf("%.2f", rps[i] / (crps[f] / cn[f]))
      k = key[i]; alg = k; sub(/ [^ ]+$/, "", k); sub(/.* /, "", alg)
      db = (cd[i] == 0 && k ~ /^SQLite/) ? "–" : cd[i]
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", \
        k, alg, who[i], path[i], req[i], rps[i], ratio, cr, p50[i], p90[i], p99[i], pr, st[i], cs[i], db
    }
  }' "$ROWS"
if [ -n "$PW_ROW" ]; then
  echo
  echo "Password grant (Argon2id, 19 MiB, 2 passes; concurrency $PW_CONCURRENCY):"
  echo
  echo "| database | grant | instances | requests | concurrency | req/s | p50 ms | p90 ms | p99 ms | statuses |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  echo "$PW_ROW"
fi
if [ -x "$FLOOR" ]; then
  echo
  echo "Signing one token (µs, this machine, \`floor --bench-sign 2000\`):"
  echo
  "$FLOOR" --bench-sign 2000 | awk -F'\t' '{ printf "- %s: %s µs\n", $1, $2 }'
fi
}
report | tee "$WORK/report.md"
if [ "${UPDATE_README:-0}" = 1 ]; then
  # Between the markers of server/README.md's Load section.
  awk -v table="$WORK/report.md" '
    /<!-- load-test:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
    /<!-- load-test:end -->/ { skip = 0 }
    !skip' server/README.md >"$WORK/README.md"
  cp "$WORK/README.md" server/README.md
fi
