#!/usr/bin/env bash
# The engine against ../shared/peerbench's 3-lane reference, interleaved:
# the same four verifications as ratio.sh (ref-raw-x3 keyed and from the
# secret, the engine keyed and from the secret), but timed in alternating
# blocks of 5,000 calls, 300 rounds, and reported as the median of the
# per-round ratios. A load that comes and goes (another build, a noisy
# neighbour) slows both sides of a round alike, so these ratios hold where
# criterion's one-benchmark-after-another medians drift between groups.
#
#   scripts/peer-interleaved.sh            # wrong code
#   scripts/peer-interleaved.sh correct    # correct code
#
# It builds a scratch copy of ../shared/peerbench (the reference's code,
# unchanged) with this checkout as its engine, under $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
project=$(pwd)
which=${1:-wrong}
src="$project/../shared/peerbench"
[ -f "$src/src/lib.rs" ] || { echo "peer-interleaved: no $src (the shared peerbench)" >&2; exit 2; }
work=${TMPDIR:-/tmp}/peer-interleaved
rm -rf "$work/crate"
mkdir -p "$work/crate"
cp -r "$src/src" "$src/Cargo.toml" "$work/crate/"
[ -f "$src/Cargo.lock" ] && cp "$src/Cargo.lock" "$work/crate/"
rm -rf "$work/crate/src/bin"
ln -sfn "$project" "$work/crate/engine"
mkdir -p "$work/crate/benches"
# The timing loop replaces peerbench's criterion benches.
cat > "$work/crate/benches/peers.rs" <<'RS'
use peerbench::{Fixture, RawTotp};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let f = Fixture::new();
    let which = std::env::var("WHICH").unwrap_or_default();
    let token = if which == "correct" { f.correct.clone() } else { f.wrong.clone() };
    let token = token.as_str();
    let engine = totp_engine::Totp::new(
        &totp_engine::Secret::from_bytes(&f.secret).unwrap(),
        totp_engine::TotpParams::default(),
    );
    let runs: [(&str, Box<dyn Fn() -> bool>); 4] = [
        ("ref-raw-x3", Box::new(|| f.raw.verify_x3(black_box(token), black_box(f.time)))),
        ("ref-raw-x3-from-secret", Box::new(|| {
            RawTotp::new(black_box(&f.secret)).verify_x3(black_box(token), black_box(f.time))
        })),
        ("engine-keyed", Box::new(|| engine.verify(black_box(token), black_box(f.time), None).is_ok())),
        ("engine-raw", Box::new(|| {
            let secret = totp_engine::Secret::from_bytes(black_box(&f.secret)).unwrap();
            totp_engine::Totp::new(&secret, totp_engine::TotpParams::default())
                .verify(black_box(token), black_box(f.time), None)
                .is_ok()
        })),
    ];
    let (rounds, calls) = (300, 5_000);
    let mut ns = vec![Vec::new(); runs.len()];
    for _ in 0..rounds {
        for (i, (_, run)) in runs.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..calls {
                black_box(run());
            }
            ns[i].push(start.elapsed().as_nanos() as f64 / calls as f64);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratio = |a: usize, b: usize| median((0..rounds).map(|k| ns[a][k] / ns[b][k]).collect());
    println!("{which} code, median of {rounds} rounds of {calls} calls each:");
    for (i, (name, _)) in runs.iter().enumerate() {
        println!("  {name:24} {:6.0} ns", median(ns[i].clone()));
    }
    println!("  engine/reference keyed {:.3}x, from secret {:.3}x", ratio(2, 0), ratio(3, 1));
}
RS
cd "$work/crate"
WHICH=$which CARGO_TARGET_DIR="$work/target" cargo bench -q --bench peers 2>/dev/null \
  | grep -v '^$' || { echo "peer-interleaved: build or run failed" >&2; exit 1; }
