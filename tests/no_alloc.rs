//! The primitives allocate nothing: a counting global allocator
//! (`allocation-counter`, which counts per thread, so the test harness's own
//! threads do not interfere) sees zero
//! allocations across secret decoding and encoding, generation,
//! verification (matching, wrong, replayed and malformed codes), HOTP, URI
//! writing into a fixed buffer and URI parsing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects
)]

use std::fmt::Write as _;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use totp_engine::{
    Algorithm, Digits, Hotp, HotpParams, KeyUri, ParsedKeyUri, Secret, Totp, TotpParams,
};

/// A `fmt::Write` into a fixed array.
struct Fixed {
    buf: [u8; 512],
    len: usize,
}

impl std::fmt::Write for Fixed {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(std::fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[test]
fn primitives_do_not_allocate() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    // Warm up anything lazily initialised (CPU feature detection, TLS).
    let _ = Totp::new(&Secret::generate(&mut rng), TotpParams::default()).generate(59);

    let mut sink = 0u64;
    let info = allocation_counter::measure(|| {
        for algorithm in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
            let secret =
                Secret::generate_with_len(&mut rng, algorithm.recommended_secret_len()).unwrap();
            let mut b32 = [0u8; totp_engine::MAX_BASE32_LEN];
            let text = secret.encode_base32(&mut b32).unwrap();
            let decoded = Secret::from_base32(text).unwrap();
            let params = TotpParams::default()
                .with_algorithm(algorithm)
                .with_digits(Digits::EIGHT);
            let totp = Totp::new(&decoded, params);
            for now in [0u64, 59, 1_111_111_109, u64::MAX] {
                let code = totp.generate(now).unwrap();
                let ok = totp.verify(code.as_str(), now, None).unwrap();
                sink ^= ok.step();
                assert!(totp.verify(code.as_str(), now, Some(ok.step())).is_err()); // replayed
                assert!(totp.verify("0000 0000", now, None).is_err() || now == u64::MAX); // wrong (or lucky)
                assert!(totp.verify("12a45678", now, None).is_err()); // malformed
            }
            let hotp = Hotp::new(&decoded, HotpParams::default().with_algorithm(algorithm));
            let code = hotp.generate(5);
            sink ^= hotp.verify(code.as_str(), 0).unwrap().counter();

            let mut out = Fixed {
                buf: [0; 512],
                len: 0,
            };
            KeyUri::totp(&decoded, &params, "jane@example.com")
                .unwrap()
                .with_issuer("ACME Co")
                .unwrap()
                .write_to(&mut out)
                .unwrap();
            let uri = std::str::from_utf8(&out.buf[..out.len]).unwrap();
            let parsed = ParsedKeyUri::parse(uri).unwrap();
            assert_eq!(parsed.secret(), &decoded);
            assert_eq!(parsed.account(), "jane@example.com");
            assert_eq!(parsed.issuer(), Some("ACME Co"));
            let mut fixed = Fixed {
                buf: [0; 512],
                len: 0,
            };
            write!(fixed, "{}", parsed.account()).unwrap();
        }
    });
    std::hint::black_box(sink);
    assert_eq!(info.count_total, 0, "the primitives allocated: {info:?}");
}

#[test]
fn the_counter_counts() {
    // Guards the guard: an allocation in this thread is seen.
    let info = allocation_counter::measure(|| {
        let v = std::hint::black_box(vec![1u8; 10]);
        drop(v);
        let uri = KeyUri::totp(
            &Secret::from_bytes(&[7; 20]).unwrap(),
            &TotpParams::default(),
            "a",
        )
        .unwrap()
        .to_uri_string();
        std::hint::black_box(uri);
    });
    assert_eq!(info.count_total, 2);
}
