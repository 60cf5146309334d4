#!/usr/bin/env bash
# Code size of a firmware-shaped build: tests/no_std_check, a #![no_std]
# staticlib with default features off (SHA-1 only, no alloc), opt-level "z",
# LTO, panic = abort, exporting `totp_generate` and `totp_verify` (±1 window,
# replay rule). Reports the bytes of code (.text) and read-only data
# (.rodata) in the LTO'd object, i.e. everything reachable from the two
# entry points (compiler_builtins aside, which firmware links anyway).
#
# Two builds: SHA-1 with run-time SHA-NI dispatch (what x86_64 gets), and
# the portable SHA-1 alone (--cfg sha1_backend="soft": what a
# microcontroller without SHA instructions gets). The host target stands in
# for the firmware target, which this machine cannot download.
set -euo pipefail
cd "$(dirname "$0")/../tests/no_std_check"

measure() {
  local key=$1 label=$2; shift 2
  local dir="target/size-$key"
  CARGO_TARGET_DIR="$dir" RUSTFLAGS="${RUSTFLAGS_EXTRA:-} $*" cargo build --release -q
  local lib="$dir/release/libtotp_engine_no_std_check.a"
  local obj
  obj=$(ar t "$lib" | grep '^totp_engine_no_std_check' | head -1)
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && ar x "$OLDPWD/$lib" "$obj")
  size -A "$tmp/$obj" | awk -v label="$label" '
    $1 ~ /^\.text/   { text += $2 }
    $1 ~ /^\.rodata/ { ro += $2 }
    END { printf "| %s | %d | %d | %d |\n", label, text, ro, text + ro }'
  rm -rf "$tmp"
}

echo "| build | .text bytes | .rodata bytes | total |"
echo "| --- | --- | --- | --- |"
measure dispatch "SHA-1 with SHA-NI dispatch (x86_64: both back-ends)"
measure portable "SHA-1, portable back-end only (no SHA instructions)" '--cfg sha1_backend="soft"'
