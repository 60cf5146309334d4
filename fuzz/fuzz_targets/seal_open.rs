//! Opening stored sealed secrets (what a database hands back): arbitrary
//! bytes and bindings never panic and never open; a real seal opens only
//! with its own key and binding, and any single changed byte is refused.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use totp_engine::{Secret, SealingKey, sealed_key_id};

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let key = SealingKey::new(u.arbitrary()?, &u.arbitrary()?);
    let binding: &[u8] = u.arbitrary()?;
    if u.arbitrary()? {
        let stored: &[u8] = u.arbitrary()?;
        let _ = sealed_key_id(stored);
        // Forging a tag is infeasible: arbitrary bytes never open.
        assert!(key.open(stored, binding).is_err());
        return Ok(());
    }
    let len = u.int_in_range(Secret::MIN_LEN..=Secret::MAX_LEN)?;
    let secret = Secret::from_bytes(u.bytes(len)?).expect("valid length");
    let mut rng = ChaCha20Rng::seed_from_u64(u.arbitrary()?);
    let sealed = key.seal(&secret, binding, &mut rng);
    assert_eq!(key.open(sealed.as_bytes(), binding).expect("own seal opens"), secret);
    let mut tampered = sealed.as_bytes().to_vec();
    let i = u.choose_index(tampered.len())?;
    let flip: u8 = u.int_in_range(1..=255)?;
    tampered[i] ^= flip;
    assert!(key.open(&tampered, binding).is_err());
    let other: &[u8] = u.arbitrary()?;
    if other != binding {
        assert!(key.open(sealed.as_bytes(), other).is_err());
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
