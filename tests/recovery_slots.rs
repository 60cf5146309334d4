//! The stable storage format of recovery slots: a pinned byte layout
//! (version 1), every refusal, and round trips of arbitrary slot lists.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects
)]

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use totp_engine::{
    InvalidRecoverySlots, MAX_RECOVERY_SLOTS, RECOVERY_HASH_LEN, RECOVERY_SLOTS_VERSION,
    RecoveryFormat, RecoveryHash, RecoveryHasher, RecoverySlots, decode_recovery_slots,
    encode_recovery_slots, recovery_slots_len, write_recovery_slots,
};

fn hash(seed: u64) -> RecoveryHash {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let format = RecoveryFormat::default();
    let code = format.generate(&mut rng);
    RecoveryHasher::new().hash(&format.normalize(code.as_str()).unwrap(), &mut rng)
}

#[test]
fn recovery_slots_v1_layout_is_pinned() {
    let (a, b) = (hash(1), hash(2));
    let bytes = encode_recovery_slots(&[Some(a), None, Some(b)]).unwrap();
    let mut want = vec![RECOVERY_SLOTS_VERSION, 3, 1];
    want.extend_from_slice(&a.to_bytes());
    want.push(0);
    want.push(1);
    want.extend_from_slice(&b.to_bytes());
    assert_eq!(RECOVERY_SLOTS_VERSION, 1);
    assert_eq!(bytes, want);
    assert_eq!(bytes.len(), 2 + 2 * (1 + RECOVERY_HASH_LEN) + 1);
    assert_eq!(
        decode_recovery_slots(&bytes).unwrap(),
        vec![Some(a), None, Some(b)]
    );
    // The empty list is two bytes.
    assert_eq!(encode_recovery_slots(&[]).unwrap(), vec![1, 0]);
    assert_eq!(decode_recovery_slots(&[1, 0]).unwrap(), vec![]);
}

#[test]
fn recovery_slots_refusals_name_the_rule() {
    let a = hash(3);
    let good = encode_recovery_slots(&[Some(a), None]).unwrap();
    let cases: Vec<(Vec<u8>, InvalidRecoverySlots)> = vec![
        (vec![], InvalidRecoverySlots::Truncated),
        (vec![1], InvalidRecoverySlots::Truncated),
        (vec![0, 0], InvalidRecoverySlots::UnknownVersion(0)),
        (vec![2, 0], InvalidRecoverySlots::UnknownVersion(2)),
        (vec![1, 33], InvalidRecoverySlots::TooManySlots(33)),
        (vec![1, 1], InvalidRecoverySlots::ShortSlot(0)),
        (vec![1, 1, 2], InvalidRecoverySlots::BadFlag(0)),
        (vec![1, 2, 0, 7], InvalidRecoverySlots::BadFlag(1)),
        (
            good[..good.len() - 2].to_vec(),
            InvalidRecoverySlots::ShortSlot(0),
        ),
        (
            [good.as_slice(), &[0]].concat(),
            InvalidRecoverySlots::TrailingBytes,
        ),
        (
            {
                let mut g = good.clone();
                g[3] = 9; // the hash's kind byte
                g
            },
            InvalidRecoverySlots::BadHash(0),
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(decode_recovery_slots(&bytes), Err(want), "{bytes:?}");
        assert!(RecoverySlots::parse(&bytes).is_err());
        assert!(!want.to_string().is_empty());
    }
    let many = vec![None; MAX_RECOVERY_SLOTS + 1];
    assert_eq!(
        encode_recovery_slots(&many),
        Err(InvalidRecoverySlots::TooManySlots(33))
    );
}

#[test]
fn recovery_slots_write_without_heap_and_refuse_small_buffers() {
    let slots = [Some(hash(4)), None];
    let len = recovery_slots_len(&slots).unwrap();
    let mut small = vec![0xAA; len - 1];
    assert_eq!(
        write_recovery_slots(&slots, &mut small),
        Err(InvalidRecoverySlots::BufferTooSmall)
    );
    assert!(small.iter().all(|&b| b == 0xAA), "buffer changed on error");
    let mut buf = [0u8; 200];
    let n = write_recovery_slots(&slots, &mut buf).unwrap();
    assert_eq!(n, len);
    let reader = RecoverySlots::parse(&buf[..n]).unwrap();
    assert_eq!(reader.len(), 2);
    assert_eq!(reader.collect::<Vec<_>>(), slots.to_vec());
    assert!(!format!("{:?}", RecoverySlots::parse(&buf[..n]).unwrap()).contains("salt"));
}

proptest! {
    #[test]
    fn recovery_slots_round_trip(present in proptest::collection::vec(any::<Option<u8>>(), 0..=32)) {
        let slots: Vec<Option<RecoveryHash>> =
            present.iter().map(|p| p.map(|s| hash(u64::from(s)))).collect();
        let bytes = encode_recovery_slots(&slots).unwrap();
        prop_assert_eq!(bytes.len(), recovery_slots_len(&slots).unwrap());
        prop_assert_eq!(decode_recovery_slots(&bytes).unwrap(), slots);
    }

    #[test]
    fn recovery_slots_decode_arbitrary_bytes_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(slots) = decode_recovery_slots(&bytes) {
            // Anything accepted re-encodes to exactly the same bytes.
            prop_assert_eq!(encode_recovery_slots(&slots).unwrap(), bytes);
        }
    }
}
