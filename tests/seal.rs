//! Sealed secrets (feature `seal`): the pinned v1 layout, round trips for
//! every secret length, and every refusal: another row's binding, tampered
//! bytes, another key, another version, bad lengths.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use totp_engine::{
    MAX_SEALED_LEN, OpenError, SEALED_OVERHEAD, SEALED_VERSION, SealingKey, Secret, sealed_key_id,
};

const KEY: [u8; 32] = [7; 32];
const BINDING: &[u8] = b"auth0|jane\0totp|dev_abc";

fn secret(len: usize) -> Secret {
    Secret::from_bytes(&(0..len).map(|i| i as u8 ^ 0x5A).collect::<Vec<_>>()).unwrap()
}

#[test]
fn sealed_v1_layout_opens_with_the_plain_aead() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let key = SealingKey::new(0x0102_0304, &KEY);
    let s = secret(20);
    let sealed = key.seal(&s, BINDING, &mut rng);
    let bytes = sealed.as_bytes();
    assert_eq!(bytes.len(), 20 + SEALED_OVERHEAD);
    assert_eq!(SEALED_OVERHEAD, 45);
    assert_eq!(bytes[0], SEALED_VERSION);
    assert_eq!(&bytes[1..5], &[1, 2, 3, 4]);
    // The rest is XChaCha20-Poly1305(nonce = bytes[5..29], aad = binding),
    // ciphertext then tag, as the crate computes it directly.
    let cipher = XChaCha20Poly1305::new(&KEY.into());
    let nonce = XNonce::from(<[u8; 24]>::try_from(&bytes[5..29]).unwrap());
    let plain = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &bytes[29..],
                aad: BINDING,
            },
        )
        .unwrap();
    assert_eq!(plain, s.expose_bytes());
    // The plaintext appears nowhere in the sealed bytes.
    assert!(!bytes.windows(8).any(|w| w == &s.expose_bytes()[..8]));
    assert_eq!(sealed_key_id(bytes), Ok(0x0102_0304));
}

#[test]
fn every_secret_length_round_trips_and_nonces_differ() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let key = SealingKey::generate(9, &mut rng);
    for len in Secret::MIN_LEN..=Secret::MAX_LEN {
        let s = secret(len);
        let a = key.seal(&s, BINDING, &mut rng);
        let b = key.seal(&s, BINDING, &mut rng);
        assert_ne!(a.as_bytes(), b.as_bytes(), "fresh nonce per seal");
        assert_eq!(key.open(a.as_bytes(), BINDING).unwrap(), s);
        assert!(a.as_bytes().len() <= MAX_SEALED_LEN);
    }
}

#[test]
fn refusals_name_the_rule() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let key = SealingKey::new(1, &KEY);
    let sealed = key.seal(&secret(20), BINDING, &mut rng);
    let bytes = sealed.as_bytes().to_vec();

    // Another row: the secret copied next to another user does not open.
    assert_eq!(
        key.open(&bytes, b"auth0|mallory\0totp|dev_abc"),
        Err(OpenError::Inauthentic)
    );
    assert_eq!(key.open(&bytes, b""), Err(OpenError::Inauthentic));
    // Another key id, and the same id with other bytes.
    assert_eq!(
        SealingKey::new(2, &KEY).open(&bytes, BINDING),
        Err(OpenError::WrongKey { sealed_with: 1 })
    );
    assert_eq!(
        SealingKey::new(1, &[8; 32]).open(&bytes, BINDING),
        Err(OpenError::Inauthentic)
    );
    // Every single flipped bit is caught.
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut t = bytes.clone();
            t[i] ^= 1 << bit;
            let r = key.open(&t, BINDING);
            assert!(r.is_err(), "flipped bit {bit} of byte {i} opened");
        }
    }
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(key.open(&v2, BINDING), Err(OpenError::UnknownVersion(2)));
    for len in [0, 1, 5, 29, 45, 60, MAX_SEALED_LEN + 1] {
        let t = vec![1u8; len];
        assert_eq!(key.open(&t, BINDING), Err(OpenError::BadLength), "{len}");
    }
    // Errors and Debug say nothing of the key or the secret.
    assert!(!format!("{key:?}").contains('7'));
    assert!(!format!("{sealed:?}").contains("90")); // 0x5A as decimal
    assert!(!OpenError::Inauthentic.to_string().is_empty());
}

proptest! {
    #[test]
    fn opening_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let key = SealingKey::new(u32::from_be_bytes([bytes.get(1).copied().unwrap_or(0), 0, 0, 0]), &KEY);
        let _ = key.open(&bytes, BINDING);
        let _ = sealed_key_id(&bytes);
    }
}

#[test]
fn arbitrary_bytes_seal_into_caller_buffers() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let key = SealingKey::new(3, &KEY);
    let plain: Vec<u8> = (0..1200u32).map(|i| (i * 7) as u8).collect();
    let mut small = vec![0u8; plain.len() + SEALED_OVERHEAD - 1];
    assert_eq!(
        key.seal_bytes_into(&plain, BINDING, &mut rng, &mut small),
        Err(totp_engine::BufferTooSmall)
    );
    let mut sealed = vec![0u8; plain.len() + SEALED_OVERHEAD];
    let n = key
        .seal_bytes_into(&plain, BINDING, &mut rng, &mut sealed)
        .unwrap();
    assert_eq!(n, sealed.len());
    let mut out = vec![0u8; plain.len()];
    assert_eq!(
        key.open_bytes_into(&sealed, BINDING, &mut out).unwrap(),
        &plain[..]
    );
    let mut short = vec![0u8; plain.len() - 1];
    assert_eq!(
        key.open_bytes_into(&sealed, BINDING, &mut short),
        Err(OpenError::BadLength)
    );
    sealed[100] ^= 1;
    let mut out = vec![0u8; plain.len()];
    assert_eq!(
        key.open_bytes_into(&sealed, BINDING, &mut out),
        Err(OpenError::Inauthentic)
    );
    assert!(out.iter().all(|&b| b == 0), "no plaintext left on failure");
    // Empty plaintext is fine too.
    let mut e = [0u8; SEALED_OVERHEAD];
    key.seal_bytes_into(&[], b"", &mut rng, &mut e).unwrap();
    assert_eq!(key.open_bytes_into(&e, b"", &mut []).unwrap(), &[] as &[u8]);
}
