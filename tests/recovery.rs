//! Recovery codes: formats and their entropy, uniform generation,
//! normalization of what users type, salted and peppered hashing, the
//! storage form, and constant-time lookup among stored hashes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects
)]

use std::collections::HashSet;

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use totp_engine::{
    Alphabet, MalformedRecoveryCode, RecoveryFormat, RecoveryFormatError, RecoveryHash,
    RecoveryHasher,
};

#[test]
fn default_format_is_auth0s() {
    let format = RecoveryFormat::default();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let code = format.generate(&mut rng);
    assert_eq!(code.as_str().len(), 24);
    assert!(
        code.as_str()
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert!(format.entropy_bits() >= 120);
    assert!(!format!("{code:?}").contains(code.as_str()));
}

#[test]
fn formats_below_120_bits_are_refused() {
    assert_eq!(
        RecoveryFormat::new(Alphabet::Alphanumeric, 23, None),
        Err(RecoveryFormatError::TooLittleEntropy { bits: 118 })
    );
    assert!(RecoveryFormat::new(Alphabet::Alphanumeric, 24, None).is_ok());
    assert!(RecoveryFormat::new(Alphabet::NoLookalikes, 24, None).is_err()); // 118.9 bits
    assert!(RecoveryFormat::new(Alphabet::NoLookalikes, 25, Some(5)).is_ok());
    assert_eq!(
        RecoveryFormat::new(Alphabet::Alphanumeric, 24, Some(0)),
        Err(RecoveryFormatError::EmptyGroup)
    );
    assert_eq!(
        RecoveryFormat::new(Alphabet::Alphanumeric, 90, Some(1)),
        Err(RecoveryFormatError::TooLong)
    );
}

#[test]
fn grouped_codes_have_dashes_and_normalize_without_them() {
    let format = RecoveryFormat::new(Alphabet::NoLookalikes, 25, Some(5)).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let code = format.generate(&mut rng);
    let text = code.as_str();
    assert_eq!(text.len(), 29);
    assert_eq!(text.matches('-').count(), 4);
    for c in ['0', '1', 'I', 'L', 'O'] {
        assert!(!text.contains(c), "{text}");
    }
    let hasher = RecoveryHasher::new();
    let stored = [hasher.hash(&format.normalize(text).unwrap(), &mut rng)];
    let typed = format!(" {} ", text.replace('-', " ").to_lowercase());
    assert_eq!(
        hasher.find(&format.normalize(&typed).unwrap(), &stored),
        Some(0)
    );
    let undashed = text.replace('-', "");
    assert_eq!(
        hasher.find(&format.normalize(&undashed).unwrap(), &stored),
        Some(0)
    );
}

#[test]
fn generation_is_uniform_enough_and_never_repeats() {
    // 2,000 codes × 24 characters: every symbol appears, none dominates
    // (a modulo bias of 256 % 36 would show as +14 % on the first 4 symbols).
    let format = RecoveryFormat::default();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut counts = [0u32; 128];
    let mut seen = HashSet::new();
    for _ in 0..2_000 {
        let code = format.generate(&mut rng);
        assert!(seen.insert(code.as_str().to_owned()));
        for b in code.as_str().bytes() {
            counts[usize::from(b)] += 1;
        }
    }
    let expected = 2_000.0 * 24.0 / 36.0;
    for b in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" {
        let c = f64::from(counts[usize::from(*b)]);
        assert!(
            (c - expected).abs() / expected < 0.1,
            "{} appears {c} times",
            *b as char
        );
    }
}

#[test]
fn malformed_input_is_refused_without_hashing() {
    let format = RecoveryFormat::default();
    for typed in [
        "",
        "ABC",
        "ABCDEFGHIJKLMNOPQRSTUVWX1", // 25
        "ABCDEFGHIJKLMNOPQRSTUVW",   // 23
        "ABCDEFGHIJKLMNOPQRSTUVW_",  // underscore
        "ABCDEFGHIJKLMNOPQRSTUVWÄ",  // non-ASCII
        "ＡBCDEFGHIJKLMNOPQRSTUVWX", // full-width
    ] {
        assert_eq!(
            format.normalize(typed).unwrap_err(),
            MalformedRecoveryCode,
            "{typed:?}"
        );
    }
    assert!(format.normalize(&"A".repeat(1 << 20)).is_err());
}

#[test]
fn stored_hashes_are_salted_and_never_the_code() {
    let format = RecoveryFormat::default();
    let hasher = RecoveryHasher::new();
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let code = format.generate(&mut rng);
    let n = format.normalize(code.as_str()).unwrap();
    let a = hasher.hash(&n, &mut rng);
    let b = hasher.hash(&n, &mut rng);
    assert_ne!(a, b, "two hashes of one code must differ (per-code salt)");
    let bytes = a.to_bytes();
    assert_eq!(bytes.len(), totp_engine::RECOVERY_HASH_LEN);
    assert!(!bytes.windows(24).any(|w| w == code.as_str().as_bytes()));
    assert_eq!(RecoveryHash::from_bytes(&bytes).unwrap(), a);
    assert!(RecoveryHash::from_bytes(&bytes[..48]).is_err());
    let mut bad = bytes;
    bad[0] = 9;
    assert!(RecoveryHash::from_bytes(&bad).is_err());
    assert!(!format!("{a:?}").contains(&hex::encode(&bytes[17..])));
}

#[test]
fn hash_matches_an_independent_sha256() {
    // SHA-256(salt ‖ normalized code), computed with the sha2 crate directly.
    use sha2::Digest;
    let format = RecoveryFormat::default();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let n = format.normalize("abcd efgh ijkl mnop qrst uvwx").unwrap();
    let stored = RecoveryHasher::new().hash(&n, &mut rng).to_bytes();
    let (salt, digest) = (&stored[1..17], &stored[17..]);
    let mut h = sha2::Sha256::new();
    h.update(salt);
    h.update(b"ABCDEFGHIJKLMNOPQRSTUVWX");
    assert_eq!(h.finalize().as_slice(), digest);
    assert_eq!(stored[0], 1);
}

#[test]
fn peppered_hashes_need_the_pepper() {
    use hmac::{KeyInit, Mac};
    let format = RecoveryFormat::default();
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let peppered = RecoveryHasher::with_pepper(b"server pepper from the KMS, 32 b");
    let n = format.normalize("ABCDEFGHIJKLMNOPQRSTUVWX").unwrap();
    let stored = peppered.hash(&n, &mut rng);
    assert!(stored.is_peppered());
    // HMAC-SHA-256(pepper, salt ‖ code), computed with the hmac crate.
    let bytes = stored.to_bytes();
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(b"server pepper from the KMS, 32 b").unwrap();
    mac.update(&bytes[1..17]);
    mac.update(b"ABCDEFGHIJKLMNOPQRSTUVWX");
    assert_eq!(mac.finalize().into_bytes().as_slice(), &bytes[17..]);

    assert_eq!(peppered.find(&n, &[stored]), Some(0));
    assert_eq!(
        RecoveryHasher::new().find(&n, &[stored]),
        None,
        "no pepper, no match"
    );
    assert_eq!(
        RecoveryHasher::with_pepper(b"another pepper").find(&n, &[stored]),
        None
    );
    // Hashes made before a pepper was configured still verify.
    let plain = RecoveryHasher::new().hash(&n, &mut rng);
    assert_eq!(peppered.find(&n, &[stored, plain]), Some(0));
    assert_eq!(peppered.find(&n, &[plain]), Some(0));
}

#[test]
fn find_checks_every_stored_hash_and_returns_the_index() {
    let format = RecoveryFormat::default();
    let hasher = RecoveryHasher::new();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let codes: Vec<_> = (0..16).map(|_| format.generate(&mut rng)).collect();
    let stored: Vec<_> = codes
        .iter()
        .map(|c| hasher.hash(&format.normalize(c.as_str()).unwrap(), &mut rng))
        .collect();
    for (i, code) in codes.iter().enumerate() {
        assert_eq!(
            hasher.find(&format.normalize(code.as_str()).unwrap(), &stored),
            Some(i)
        );
    }
    let stranger = format.generate(&mut rng);
    assert_eq!(
        hasher.find(&format.normalize(stranger.as_str()).unwrap(), &stored),
        None
    );
    assert_eq!(
        hasher.find(&format.normalize(codes[0].as_str()).unwrap(), &[]),
        None
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any generated code, retyped in any case with any spacing, is found; a
    /// code differing in one character is not.
    #[test]
    fn retyped_codes_are_found_and_altered_ones_are_not(seed in any::<u64>(), position in 0usize..24, lower in any::<bool>()) {
        let format = RecoveryFormat::default();
        let hasher = RecoveryHasher::new();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let code = format.generate(&mut rng);
        let stored = [hasher.hash(&format.normalize(code.as_str()).unwrap(), &mut rng)];
        let text = code.as_str();
        let typed = text.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ");
        let typed = if lower { typed.to_lowercase() } else { typed };
        prop_assert_eq!(hasher.find(&format.normalize(&typed).unwrap(), &stored), Some(0));
        let mut altered = text.as_bytes().to_vec();
        altered[position] = if altered[position] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        prop_assert_eq!(hasher.find(&format.normalize(&altered).unwrap(), &stored), None);
    }
}
