#!/usr/bin/env bash
# The one list of the system packages the project's tests and scripts need,
# and their installer. scripts/test.sh, scripts/pg-cluster.sh and .ci/run
# call it; nothing else installs system packages.
#
#   scripts/install-deps.sh              # everything in the list below
#   scripts/install-deps.sh postgresql   # only the named entries
#
# Installs only what is missing, from Debian's (or Ubuntu's) packages, with
# apt-get as root or through `sudo -n` otherwise: one `apt-get update` and one
# `apt-get install`, non-interactive and quiet. Prints nothing when nothing
# is missing. If something cannot be installed it exits non-zero, says what
# is missing and why, and shows apt-get's output: the tests never skip for
# want of a tool.
set -euo pipefail

# What to check, in order, and the Debian packages that provide it.
DEPS=(cc python3 pip oathtool curl jq postgresql script chromium zbarimg node npm venv openssl)
declare -A PACKAGES=(
  [cc]="gcc libc6-dev" # rustc links with cc; ring and SQLite are compiled from C
  [python3]="python3"  # scripts/test.sh picks a free port with it; scripts/bench-ratios.py
  [oathtool]="oathtool" # tests/interop_oathtool.rs, server/tests, examples/seed-walkthrough.sh
  [curl]="curl"        # examples/seed-walkthrough.sh
  [jq]="jq"            # examples/seed-walkthrough.sh
  [postgresql]="postgresql" # scripts/pg-cluster.sh: the PostgreSQL store and multi-instance tests
  [script]="bsdutils" # server/tests/admin.rs: a pseudo-terminal for the no-echo prompts
  [pip]="python3-pip" # scripts/management-test.sh installs auth0-python (pinned) with it; scripts/pkjwt-test.sh joserfc (pinned, pip --target)
  [chromium]="chromium chromium-driver" # scripts/browser-test.sh (the demo page), scripts/sdk-test.sh (@auth0/auth0-spa-js)
  [zbarimg]="zbar-tools" # scripts/browser-test.sh: decodes the page's QR code from a screenshot
  [node]="nodejs"      # scripts/browser-test.sh, sdk-test.sh, pkjwt-test.sh, management-test.sh (Node.js 20 or later)
  [npm]="npm"          # npm ci of the pinned packages (playwright-core, the Node SDKs, openid-client, node-auth0)
  [venv]="python3-venv" # scripts/sdk-test.sh: a venv for the pinned Python SDKs
  [openssl]="openssl"  # scripts/sdk-test.sh: the throwaway CA and server certificate
)

fail() {
  echo "install-deps: error: $*" >&2
  exit 1
}

present() {
  case "$1" in
    postgresql)
      local bin
      for bin in /usr/lib/postgresql/*/bin/pg_ctl; do
        [ -x "$bin" ] && return 0
      done
      return 1
      ;;
    pip) python3 -m pip --version >/dev/null 2>&1 ;;
    venv) python3 -c 'import ensurepip, venv' >/dev/null 2>&1 ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=("${DEPS[@]}")
missing=()
packages=()
for dep in "${wanted[@]}"; do
  if [ -z "${PACKAGES[$dep]+set}" ]; then
    echo "install-deps: unknown entry '$dep' (known: ${DEPS[*]})" >&2
    exit 2
  fi
  if ! present "$dep"; then
    missing+=("$dep")
    read -r -a pkgs <<<"${PACKAGES[$dep]}"
    packages+=("${pkgs[@]}")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

what="${missing[*]} (Debian packages: ${packages[*]})"
command -v apt-get >/dev/null 2>&1 \
  || fail "missing $what, and this system has no apt-get: install them and rerun."
if [ "$(id -u)" = 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root() { sudo -n "$@"; }
else
  fail "missing $what; installing needs root or passwordless sudo. Run as root, or: sudo apt-get install ${packages[*]}"
fi

log=$(mktemp /tmp/install-deps.XXXXXX.log)
trap 'rm -f "$log"' EXIT
# env: sudo would drop DEBIAN_FRONTEND from the caller's environment.
# Lock::Timeout: wait for another apt-get or dpkg instead of failing at once.
apt() {
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get -y -qq -o DPkg::Lock::Timeout=300 "$@" >>"$log" 2>&1
}
apt_failed() {
  echo "install-deps: error: $1 failed; its output:" >&2
  sed 's/^/  /' "$log" >&2
  fail "could not install $what."
}

echo "install-deps: installing ${packages[*]} (for ${missing[*]})" >&2
apt update || apt_failed "apt-get update"
apt install --no-install-recommends "${packages[@]}" || apt_failed "apt-get install ${packages[*]}"
for dep in "${missing[@]}"; do
  present "$dep" || fail "installed ${PACKAGES[$dep]}, but $dep is still not found."
done
echo "install-deps: installed ${packages[*]}" >&2
