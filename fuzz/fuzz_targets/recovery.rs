//! Recovery codes: normalization of arbitrary text never panics; a generated
//! code, retyped in any case with spaces, is found among stored hashes; an
//! arbitrary text matches only if it normalizes to a stored code.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use totp_engine::{Alphabet, RecoveryFormat, RecoveryHasher};

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let alphabet = *u.choose(&[Alphabet::Alphanumeric, Alphabet::NoLookalikes])?;
    let len = u.int_in_range(0..=100)?;
    let group: Option<u32> = if u.arbitrary()? { Some(u.int_in_range(0..=12)?) } else { None };
    let Ok(format) = RecoveryFormat::new(alphabet, len, group) else { return Ok(()) };
    let mut rng = ChaCha20Rng::seed_from_u64(u.arbitrary()?);
    let hasher = if u.arbitrary()? { RecoveryHasher::with_pepper(u.bytes(16)?) } else { RecoveryHasher::new() };
    let count = u.int_in_range(1..=16)?;
    let codes: Vec<_> = (0..count).map(|_| format.generate(&mut rng)).collect();
    let stored: Vec<_> = codes
        .iter()
        .map(|c| hasher.hash(&format.normalize(c.as_str()).expect("own format"), &mut rng))
        .collect();
    let pick = u.choose_index(count)?;
    let retyped: String = codes[pick]
        .as_str()
        .chars()
        .map(|c| if c.is_ascii_uppercase() && pick % 2 == 0 { c.to_ascii_lowercase() } else { c })
        .collect::<String>()
        .replace('-', " ");
    assert_eq!(hasher.find(&format.normalize(&retyped).expect("retyped"), &stored), Some(pick));
    let text: &str = u.arbitrary()?;
    if let Ok(n) = format.normalize(text) {
        if let Some(i) = hasher.find(&n, &stored) {
            let canonical: String = text.chars().filter(|c| *c != ' ' && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
            assert_eq!(canonical.trim(), codes[i].as_str().replace('-', ""));
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
