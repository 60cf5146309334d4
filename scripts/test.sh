#!/usr/bin/env bash
# The project's test command: every test, with a throwaway PostgreSQL
# cluster on loopback for the PostgreSQL store and multi-instance tests.
#
#   scripts/test.sh                 # = cargo test --workspace --all-features,
#                                   #   then scripts/browser-test.sh and
#                                   #   scripts/sdk-test.sh
#   scripts/test.sh -- --nocapture  # extra arguments go to cargo test
#
# scripts/browser-test.sh: the demo page in headless Chromium;
# scripts/sdk-test.sh: Auth0's client SDKs from npm and PyPI (pinned,
# cached under target/sdk-cache/) walk the MFA flow against the binary.
#
# First installs what the tests need and is missing (oathtool, curl, jq,
# python3, a C compiler, PostgreSQL, Chromium, zbar, Node.js, npm, venv,
# openssl: scripts/install-deps.sh, as root or with `sudo -n`), and stops
# with an error if it cannot: no test is skipped.
# Without PostgreSQL (no root, no package), run the rest with
#   cargo test --workspace --all-features -- --skip postgres
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null 2>&1 \
  || { echo "test.sh: error: cargo not found; install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
scripts/install-deps.sh
dir=$(mktemp -d /tmp/mfa-pg.XXXXXX)
# A free loopback port unless one is given.
port=${MFA_TEST_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
trap 'scripts/pg-cluster.sh stop "$dir"' EXIT
url=$(scripts/pg-cluster.sh start "$dir" "$port")
echo "PostgreSQL test cluster: $url (data in $dir)"
export MFA_TEST_POSTGRES_URL="$url"
cargo test --workspace --all-features "$@"
# The demo page in headless Chromium against the real binary (the QR code
# decoded from a screenshot, the whole enrollment and recovery path).
scripts/browser-test.sh
# Auth0's own SDKs (npm, PyPI; pinned) against the binary: server/tests/sdk/.
scripts/sdk-test.sh
# Private Key JWT and DPoP with openid-client and joserfc against the binary.
scripts/pkjwt-test.sh
