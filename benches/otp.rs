//! Criterion benchmarks of totp-engine against its peers in the same run
//! (totp-rs, totp-lite, latchkey) and against the arithmetic floor: the SHA
//! compressions a verification needs, arranged with the most independence
//! the algorithm allows, called straight on RustCrypto's block functions.
//!
//! Fixture (issue 5): the RFC 6238 20-byte secret, HMAC-SHA-1, 6 digits,
//! 30 s, window ±1, at time 1111111109; "wrong" is a code that matches no
//! step, so every step is computed (by the peers too).
//!
//! `cargo bench --bench otp`, then `scripts/bench-ratios.py` prints the
//! ratios from that one run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs,
    unreachable_pub
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use totp_engine::{
    Algorithm, KeyUri, MemoryStore, Mfa, MfaConfig, ParsedKeyUri, RecoveryFormat, RecoveryHasher,
    Secret, ThrottlePolicy, Totp, TotpParams,
};

const SEED20: &[u8; 20] = b"12345678901234567890";
const SEED32: &[u8; 32] = b"12345678901234567890123456789012";
const SEED64: &[u8; 64] = b"1234567890123456789012345678901234567890123456789012345678901234";
const NOW: u64 = 1_111_111_109;
const CORRECT: &str = "081804"; // RFC 6238, SHA-1, 6 digits, at NOW
const WRONG: &str = "081805";

fn params(algorithm: Algorithm) -> TotpParams {
    TotpParams::default().with_algorithm(algorithm)
}

fn seed(algorithm: Algorithm) -> &'static [u8] {
    match algorithm {
        Algorithm::Sha1 => SEED20,
        Algorithm::Sha256 => SEED32,
        _ => SEED64,
    }
}

/// A code that matches no step of the window, for any algorithm.
fn wrong_code(algorithm: Algorithm) -> String {
    let totp = Totp::new(
        &Secret::from_bytes(seed(algorithm)).unwrap(),
        params(algorithm),
    );
    let step = totp.step_at(NOW).unwrap();
    let window: Vec<String> = (step - 1..=step + 1)
        .map(|s| totp.generate_at_step(s).as_str().to_owned())
        .collect();
    (0..1_000_000)
        .map(|v| format!("{v:06}"))
        .find(|c| !window.contains(c))
        .unwrap()
}

// ---- the floor: RustCrypto's compression functions, nothing else ----------

/// The arithmetic floor: exactly the compressions an HMAC-based ±1 verify
/// needs — (2 to key) + 3 inner + 3 outer — with the three inner ones side by
/// side and then the three outer ones, and truncation on the state words.
/// Nothing else: no parsing, no comparison, no window logic.
///
/// Blocks start zeroed and get their non-zero bytes as whole 16-byte lanes,
/// each built in one SSE2 register on x86_64 (`safe_arch`) so that it is
/// written by one 16-byte store, which the compression function's 16-byte
/// loads can forward from. Of the arrangements measured — lanes as
/// `u128::to_be_bytes` or `[u8; 16]` arrays (which the compiler writes as
/// two 8-byte stores), blocks from immediates, copies of a template with
/// the counter written over it, lanes passed through `black_box` — this is
/// the fastest, and the engine builds its blocks the same way
/// (`src/mac.rs`); `../shared/peerbench`'s `ref-raw-x3` spells the same
/// stores with `unsafe` SSE2 intrinsics (`../shared/peerbench/ratio.sh`).
mod floor {
    /// A zeroed block of `L` 16-byte lanes.
    type Block<const L: usize> = [[u8; 16]; L];

    fn flat<const L: usize, const N: usize>(b: &Block<L>) -> &[u8; N] {
        b.as_flattened().try_into().unwrap()
    }
    /// Bytes 0..8 `lo`, bytes 8..16 `hi`, little-endian: one register.
    #[cfg(target_arch = "x86_64")]
    fn lane(lo: u64, hi: u64) -> [u8; 16] {
        safe_arch::set_i64_m128i(hi as i64, lo as i64).into()
    }
    #[cfg(not(target_arch = "x86_64"))]
    fn lane(lo: u64, hi: u64) -> [u8; 16] {
        let mut l = [0u8; 16];
        l[..8].copy_from_slice(&lo.to_le_bytes());
        l[8..].copy_from_slice(&hi.to_le_bytes());
        l
    }
    /// 16 bytes: `head` big-endian 32-bit words, then 0x80 if `pad`.
    fn words32<const K: usize>(head: [u32; K], pad: bool) -> [u8; 16] {
        let mut w = [0u64; 2];
        for (i, v) in head.iter().enumerate() {
            w[i / 2] |= u64::from(v.swap_bytes()) << (32 * (i % 2));
        }
        if pad {
            w[K / 2] |= 0x80 << (32 * (K % 2));
        }
        lane(w[0], w[1])
    }
    /// 16 bytes: `head` big-endian 64-bit words, then 0x80 if `pad`.
    fn words64<const K: usize>(head: [u64; K], pad: bool) -> [u8; 16] {
        let mut w = [0u64; 2];
        for (i, v) in head.iter().enumerate() {
            w[i] = v.swap_bytes();
        }
        if pad {
            w[K] |= 0x80;
        }
        lane(w[0], w[1])
    }
    fn length(bits: u64) -> [u8; 16] {
        lane(0, bits.swap_bytes())
    }
    fn trunc(tag: &[u8]) -> u32 {
        let off = (tag[tag.len() - 1] & 0x0f) as usize;
        let v = u32::from_be_bytes([tag[off], tag[off + 1], tag[off + 2], tag[off + 3]]);
        (v & 0x7fff_ffff) % 1_000_000
    }
    fn pads<const N: usize>(key: &[u8]) -> ([u8; N], [u8; N]) {
        let (mut i, mut o) = ([0x36u8; N], [0x5cu8; N]);
        for (n, k) in key.iter().enumerate() {
            i[n] ^= k;
            o[n] ^= k;
        }
        (i, o)
    }

    const IV1: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    const IV256: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    const IV512: [u64; 8] = [
        0x6a09e667f3bcc908,
        0xbb67ae8584caa73b,
        0x3c6ef372fe94f82b,
        0xa54ff53a5f1d36f1,
        0x510e527fade682d1,
        0x9b05688c2b3e6c1f,
        0x1f83d9abfb41bd6b,
        0x5be0cd19137e2179,
    ];

    pub(crate) fn sha1_pads(key: &[u8]) -> ([u32; 5], [u32; 5]) {
        let (ib, ob) = pads::<64>(key);
        let (mut i, mut o) = (IV1, IV1);
        sha1::block_api::compress(&mut i, &[ib]);
        sha1::block_api::compress(&mut o, &[ob]);
        (i, o)
    }
    pub(crate) fn sha1_window(inner: &[u32; 5], outer: &[u32; 5], steps: [u64; 3]) -> [u32; 3] {
        let mut blocks = [[[0u8; 16]; 4]; 3];
        for (b, s) in blocks.iter_mut().zip(steps) {
            b[0] = words64([s], true);
            b[3] = length(576);
        }
        let mut st = [*inner; 3];
        for (s, b) in st.iter_mut().zip(&blocks) {
            sha1::block_api::compress(s, std::slice::from_ref(flat(b)));
        }
        let mut ob = [[[0u8; 16]; 4]; 3];
        for (b, s) in ob.iter_mut().zip(&st) {
            b[0] = words32([s[0], s[1], s[2], s[3]], false);
            b[1] = words32([s[4]], true);
            b[3] = length(672);
        }
        let mut os = [*outer; 3];
        for (s, b) in os.iter_mut().zip(&ob) {
            sha1::block_api::compress(s, std::slice::from_ref(flat(b)));
        }
        os.map(|s| {
            let mut tag = [0u8; 20];
            for (c, w) in tag.chunks_exact_mut(4).zip(s) {
                c.copy_from_slice(&w.to_be_bytes());
            }
            trunc(&tag)
        })
    }

    pub(crate) fn sha256_pads(key: &[u8]) -> ([u32; 8], [u32; 8]) {
        let (ib, ob) = pads::<64>(key);
        let (mut i, mut o) = (IV256, IV256);
        sha2::block_api::compress256(&mut i, &[ib]);
        sha2::block_api::compress256(&mut o, &[ob]);
        (i, o)
    }
    pub(crate) fn sha256_window(inner: &[u32; 8], outer: &[u32; 8], steps: [u64; 3]) -> [u32; 3] {
        let mut blocks = [[[0u8; 16]; 4]; 3];
        for (b, s) in blocks.iter_mut().zip(steps) {
            b[0] = words64([s], true);
            b[3] = length(576);
        }
        let mut st = [*inner; 3];
        for (s, b) in st.iter_mut().zip(&blocks) {
            sha2::block_api::compress256(s, std::slice::from_ref(flat(b)));
        }
        let mut ob = [[[0u8; 16]; 4]; 3];
        for (b, s) in ob.iter_mut().zip(&st) {
            b[0] = words32([s[0], s[1], s[2], s[3]], false);
            b[1] = words32([s[4], s[5], s[6], s[7]], false);
            b[2] = words64([], true);
            b[3] = length(768);
        }
        let mut os = [*outer; 3];
        for (s, b) in os.iter_mut().zip(&ob) {
            sha2::block_api::compress256(s, std::slice::from_ref(flat(b)));
        }
        os.map(|s| {
            let mut tag = [0u8; 32];
            for (c, w) in tag.chunks_exact_mut(4).zip(s) {
                c.copy_from_slice(&w.to_be_bytes());
            }
            trunc(&tag)
        })
    }

    pub(crate) fn sha512_pads(key: &[u8]) -> ([u64; 8], [u64; 8]) {
        let (ib, ob) = pads::<128>(key);
        let (mut i, mut o) = (IV512, IV512);
        sha2::block_api::compress512(&mut i, &[ib]);
        sha2::block_api::compress512(&mut o, &[ob]);
        (i, o)
    }
    pub(crate) fn sha512_window(inner: &[u64; 8], outer: &[u64; 8], steps: [u64; 3]) -> [u32; 3] {
        let mut blocks = [[[0u8; 16]; 8]; 3];
        for (b, s) in blocks.iter_mut().zip(steps) {
            b[0] = words64([s], true);
            b[7] = length(1088);
        }
        let mut st = [*inner; 3];
        for (s, b) in st.iter_mut().zip(&blocks) {
            sha2::block_api::compress512(s, std::slice::from_ref(flat(b)));
        }
        let mut ob = [[[0u8; 16]; 8]; 3];
        for (b, s) in ob.iter_mut().zip(&st) {
            for (lane, pair) in b.iter_mut().zip(s.chunks_exact(2)) {
                *lane = words64([pair[0], pair[1]], false);
            }
            b[4] = words64([], true);
            b[7] = length(1536);
        }
        let mut os = [*outer; 3];
        for (s, b) in os.iter_mut().zip(&ob) {
            sha2::block_api::compress512(s, std::slice::from_ref(flat(b)));
        }
        os.map(|s| {
            let mut tag = [0u8; 64];
            for (c, w) in tag.chunks_exact_mut(8).zip(s) {
                c.copy_from_slice(&w.to_be_bytes());
            }
            trunc(&tag)
        })
    }
}

fn totp_rs(algorithm: totp_rs::Algorithm, seed: &[u8]) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_algorithm(algorithm)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(seed.to_vec().into_boxed_slice())
        .with_account_name("bench")
        .build()
        .unwrap()
}

fn totp_lite_verify(seed: &[u8], code: &str) -> bool {
    let step = NOW / 30;
    (step - 1..=step + 1)
        .any(|s| totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, seed, s * 30) == code)
}

fn bench_verify_sha1(c: &mut Criterion) {
    // Floor inputs.
    let (inner, outer) = floor::sha1_pads(SEED20);
    let step = NOW / 30;
    let steps = [step - 1, step, step + 1];
    let keyed = Totp::new(&Secret::from_bytes(SEED20).unwrap(), TotpParams::default());
    let peer = totp_rs(totp_rs::Algorithm::SHA1, SEED20);
    let latch_secret = latchkey::totp::TotpSecret::from_bytes(SEED20.to_vec()).unwrap();
    let latch_params = latchkey::totp::TotpParams::new(6, 30, 1).unwrap();
    let latch_now = time::OffsetDateTime::from_unix_timestamp(NOW as i64).unwrap();
    assert!(keyed.verify(CORRECT, NOW, None).is_ok() && keyed.verify(WRONG, NOW, None).is_err());
    assert!(peer.check(CORRECT, NOW).is_some() && peer.check(WRONG, NOW).is_none());
    assert!(totp_lite_verify(SEED20, CORRECT) && !totp_lite_verify(SEED20, WRONG));
    assert!(floor::sha1_window(&inner, &outer, steps).contains(&81_804));

    for (case, code) in [("wrong", WRONG), ("correct", CORRECT)] {
        let mut g = c.benchmark_group(format!("verify_sha1_pm1_{case}"));
        g.bench_function("ours_raw", |b| {
            b.iter(|| {
                let secret = Secret::from_bytes(black_box(SEED20)).unwrap();
                Totp::new(&secret, TotpParams::default())
                    .verify(black_box(code), black_box(NOW), None)
                    .is_ok()
            })
        });
        g.bench_function("ours_keyed", |b| {
            b.iter(|| keyed.verify(black_box(code), black_box(NOW), None).is_ok())
        });
        g.bench_function("totp_rs_raw", |b| {
            b.iter(|| {
                totp_rs(totp_rs::Algorithm::SHA1, black_box(SEED20))
                    .check(black_box(code), black_box(NOW))
            })
        });
        g.bench_function("totp_rs_prebuilt", |b| {
            b.iter(|| peer.check(black_box(code), black_box(NOW)))
        });
        g.bench_function("totp_lite", |b| {
            b.iter(|| totp_lite_verify(black_box(SEED20), black_box(code)))
        });
        g.bench_function("latchkey", |b| {
            b.iter(|| {
                latchkey::totp::verify(
                    &latch_secret,
                    black_box(code),
                    None,
                    black_box(latch_now),
                    latch_params,
                )
                .is_ok()
            })
        });
        g.bench_function("hmac_crate_keyed_clone", |b| {
            b.iter(|| hmac_crate_verify(black_box(SEED20), black_box(code)))
        });
        g.bench_function("floor_raw", |b| {
            b.iter(|| {
                let (i, o) = floor::sha1_pads(black_box(SEED20));
                floor::sha1_window(&i, &o, black_box(steps))
            })
        });
        g.bench_function("floor_keyed", |b| {
            b.iter(|| floor::sha1_window(black_box(&inner), black_box(&outer), black_box(steps)))
        });
        g.finish();
    }
}

/// The straightforward fast approach the issue cites: key the `hmac` crate
/// once, clone the keyed state for each step (6 compressions), compare all
/// three with `subtle`.
fn hmac_crate_verify(seed: &[u8], code: &str) -> bool {
    use hmac::{KeyInit, Mac};
    use subtle::ConstantTimeEq;
    let submitted: u32 = code.parse().unwrap();
    let keyed = hmac::Hmac::<sha1::Sha1>::new_from_slice(seed).unwrap();
    let step = NOW / 30;
    let mut found = subtle::Choice::from(0);
    for s in step - 1..=step + 1 {
        let mut m = keyed.clone();
        m.update(&s.to_be_bytes());
        let d = m.finalize().into_bytes();
        let off = (d[19] & 0xf) as usize;
        let v = (u32::from_be_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]]) & 0x7fff_ffff)
            % 1_000_000;
        found |= v.ct_eq(&submitted);
    }
    found.into()
}

fn bench_verify_sha2(c: &mut Criterion) {
    let step = NOW / 30;
    let steps = [step - 1, step, step + 1];
    for (algorithm, peer_alg, name) in [
        (Algorithm::Sha256, totp_rs::Algorithm::SHA256, "sha256"),
        (Algorithm::Sha512, totp_rs::Algorithm::SHA512, "sha512"),
    ] {
        let seed = seed(algorithm);
        let wrong = wrong_code(algorithm);
        let keyed = Totp::new(&Secret::from_bytes(seed).unwrap(), params(algorithm));
        let peer = totp_rs(peer_alg, seed);
        let mut g = c.benchmark_group(format!("verify_{name}_pm1_wrong"));
        g.bench_function("ours_raw", |b| {
            b.iter(|| {
                let secret = Secret::from_bytes(black_box(seed)).unwrap();
                Totp::new(&secret, params(algorithm))
                    .verify(black_box(&wrong), black_box(NOW), None)
                    .is_ok()
            })
        });
        g.bench_function("ours_keyed", |b| {
            b.iter(|| {
                keyed
                    .verify(black_box(&wrong), black_box(NOW), None)
                    .is_ok()
            })
        });
        g.bench_function("totp_rs_prebuilt", |b| {
            b.iter(|| peer.check(black_box(&wrong), black_box(NOW)))
        });
        // The floor computes the same codes as the engine (self-check).
        let expect: Vec<u32> = steps
            .iter()
            .map(|&s| keyed.generate_at_step(s).as_str().parse().unwrap())
            .collect();
        let floor_codes = match algorithm {
            Algorithm::Sha256 => {
                let (i, o) = floor::sha256_pads(seed);
                floor::sha256_window(&i, &o, steps)
            }
            _ => {
                let (i, o) = floor::sha512_pads(seed);
                floor::sha512_window(&i, &o, steps)
            }
        };
        assert_eq!(
            floor_codes.to_vec(),
            expect,
            "{name} floor disagrees with the engine"
        );
        match algorithm {
            Algorithm::Sha256 => {
                let (i, o) = floor::sha256_pads(seed);
                g.bench_function("floor_keyed", |b| {
                    b.iter(|| floor::sha256_window(black_box(&i), black_box(&o), black_box(steps)))
                });
                g.bench_function("floor_raw", |b| {
                    b.iter(|| {
                        let (i, o) = floor::sha256_pads(black_box(seed));
                        floor::sha256_window(&i, &o, black_box(steps))
                    })
                });
            }
            _ => {
                let (i, o) = floor::sha512_pads(seed);
                g.bench_function("floor_keyed", |b| {
                    b.iter(|| floor::sha512_window(black_box(&i), black_box(&o), black_box(steps)))
                });
                g.bench_function("floor_raw", |b| {
                    b.iter(|| {
                        let (i, o) = floor::sha512_pads(black_box(seed));
                        floor::sha512_window(&i, &o, black_box(steps))
                    })
                });
            }
        }
        g.finish();
    }
}

fn bench_generate(c: &mut Criterion) {
    let keyed = Totp::new(&Secret::from_bytes(SEED20).unwrap(), TotpParams::default());
    let peer = totp_rs(totp_rs::Algorithm::SHA1, SEED20);
    let mut g = c.benchmark_group("generate_sha1");
    g.bench_function("ours_raw", |b| {
        b.iter(|| {
            let secret = Secret::from_bytes(black_box(SEED20)).unwrap();
            Totp::new(&secret, TotpParams::default())
                .generate(black_box(NOW))
                .unwrap()
                .value()
        })
    });
    g.bench_function("ours_keyed", |b| {
        b.iter(|| keyed.generate(black_box(NOW)).unwrap().value())
    });
    g.bench_function("totp_rs_prebuilt", |b| {
        b.iter(|| peer.generate(black_box(NOW)))
    });
    g.bench_function("totp_lite", |b| {
        b.iter(|| {
            totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, black_box(SEED20), black_box(NOW))
        })
    });
    g.finish();
}

fn bench_uri_and_base32(c: &mut Criterion) {
    let secret = Secret::from_bytes(SEED20).unwrap();
    let params = TotpParams::default();
    let uri = KeyUri::totp(&secret, &params, "jane@example.com")
        .unwrap()
        .with_issuer("ACME Co")
        .unwrap()
        .to_uri_string();
    let peer = totp_rs::Builder::new()
        .with_secret(SEED20.to_vec().into_boxed_slice())
        .with_account_name("jane@example.com")
        .with_issuer(Some(String::from("ACME Co")))
        .build()
        .unwrap();
    let peer_uri = peer.to_url().unwrap();
    let mut g = c.benchmark_group("uri");
    let mut buf = String::with_capacity(256);
    g.bench_function("ours_build", |b| {
        b.iter(|| {
            buf.clear();
            KeyUri::totp(black_box(&secret), &params, "jane@example.com")
                .unwrap()
                .with_issuer("ACME Co")
                .unwrap()
                .write_to(&mut buf)
                .unwrap();
            buf.len()
        })
    });
    g.bench_function("ours_parse", |b| {
        b.iter(|| ParsedKeyUri::parse(black_box(&uri)).unwrap().digits())
    });
    g.bench_function("totp_rs_build", |b| {
        b.iter(|| black_box(&peer).to_url().unwrap().len())
    });
    g.bench_function("totp_rs_parse", |b| {
        b.iter(|| {
            totp_rs::Totp::from_url(black_box(&peer_uri))
                .unwrap()
                .digits()
        })
    });
    g.finish();

    let b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let mut g = c.benchmark_group("base32_decode");
    g.bench_function("ours", |b| {
        b.iter(|| Secret::from_base32(black_box(b32)).unwrap().len())
    });
    g.bench_function("totp_rs", |b| {
        b.iter(|| {
            totp_rs::Secret::try_from_base32(black_box(b32))
                .unwrap()
                .as_bytes()
                .len()
        })
    });
    g.finish();
}

fn bench_recovery(c: &mut Criterion) {
    let format = RecoveryFormat::default();
    let hasher = RecoveryHasher::new();
    let mut rng = rand::rng();
    let codes: Vec<_> = (0..16).map(|_| format.generate(&mut rng)).collect();
    let stored: Vec<_> = codes
        .iter()
        .map(|c| hasher.hash(&format.normalize(c.as_str()).unwrap(), &mut rng))
        .collect();
    let typed = codes[15].as_str().to_lowercase();
    let mut g = c.benchmark_group("recovery_check");
    g.bench_function("ours_1", |b| {
        b.iter(|| {
            hasher.find(
                &format.normalize(black_box(&typed)).unwrap(),
                black_box(&stored[15..]),
            )
        })
    });
    g.bench_function("ours_16", |b| {
        b.iter(|| {
            hasher.find(
                &format.normalize(black_box(&typed)).unwrap(),
                black_box(&stored),
            )
        })
    });
    g.finish();
}

fn bench_flow(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let config = MfaConfig::new("Bench")
        .unwrap()
        .with_throttle(ThrottlePolicy::new(u32::MAX, 1).unwrap());
    let mfa = Arc::new(Mfa::new(MemoryStore::new(), config));
    let now = 1_700_000_000u64;
    let a = rt
        .block_on(mfa.associate("u", "u", &mut rand::rng(), now))
        .unwrap();
    let app = Totp::new(
        ParsedKeyUri::parse(&a.barcode_uri).unwrap().secret(),
        TotpParams::default(),
    );
    rt.block_on(mfa.verify_otp("u", app.generate(now).unwrap().as_str(), now))
        .unwrap();
    let step = app.step_at(now).unwrap();
    let window: Vec<String> = (step - 1..=step + 1)
        .map(|s| app.generate_at_step(s).as_str().to_owned())
        .collect();
    let wrong = (0..1_000_000)
        .map(|v| format!("{v:06}"))
        .find(|c| !window.contains(c))
        .unwrap();
    let mut g = c.benchmark_group("flow_verify_otp");
    g.bench_function("ours_memory_store_wrong", |b| {
        b.iter(|| {
            rt.block_on(mfa.verify_otp("u", black_box(&wrong), now))
                .is_err()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_verify_sha1,
    bench_verify_sha2,
    bench_generate,
    bench_uri_and_base32,
    bench_recovery,
    bench_flow
);
criterion_main!(benches);
