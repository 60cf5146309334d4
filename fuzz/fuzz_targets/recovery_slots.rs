//! Decoding stored recovery slots (what a database hands back): arbitrary
//! bytes never panic, never allocate beyond the input, and whatever is
//! accepted re-encodes to exactly the same bytes (the encoding is unique, so
//! stores may compare encoded strings in a compare-and-set).
#![no_main]

use libfuzzer_sys::fuzz_target;
use totp_engine::{RecoverySlots, decode_recovery_slots, encode_recovery_slots};

fuzz_target!(|data: &[u8]| {
    let decoded = decode_recovery_slots(data);
    assert_eq!(decoded.is_ok(), RecoverySlots::parse(data).is_ok());
    if let Ok(slots) = decoded {
        assert!(slots.len() <= data.len());
        assert_eq!(encode_recovery_slots(&slots).expect("decoded slots re-encode"), data);
    }
});
