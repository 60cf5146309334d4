//! Does the CPU overlap independent SHA-1 compressions? The answer sets the
//! arithmetic floor of a windowed verification: with overlap, three steps'
//! compressions cost little more than one; without it, they cost three.
//!
//! `cargo bench --bench sha_overlap`: one compression, three that depend on
//! each other (one chained call), and three independent ones (separate
//! states, called back to back).

#![allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::std_instead_of_core,
    missing_docs,
    unreachable_pub
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const IV: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];

fn overlap(c: &mut Criterion) {
    let blocks = [[1u8; 64], [2u8; 64], [3u8; 64]];
    let mut g = c.benchmark_group("sha1_compress");
    g.bench_function("one", |b| {
        b.iter(|| {
            let mut s = IV;
            sha1::block_api::compress(&mut s, black_box(&blocks[..1]));
            s
        })
    });
    g.bench_function("three_dependent", |b| {
        b.iter(|| {
            let mut s = IV;
            sha1::block_api::compress(&mut s, black_box(&blocks));
            s
        })
    });
    g.bench_function("three_independent", |b| {
        b.iter(|| {
            let mut s = [IV; 3];
            for (st, blk) in s.iter_mut().zip(black_box(&blocks)) {
                sha1::block_api::compress(st, std::slice::from_ref(blk));
            }
            s
        })
    });
    g.finish();
}

criterion_group!(benches, overlap);
criterion_main!(benches);
