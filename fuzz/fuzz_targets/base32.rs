//! Base32 secret decoding: never panics; a decoded key encodes and decodes
//! back to itself; decoding into caller buffers of any size never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use totp_engine::{MAX_BASE32_LEN, Secret};

fuzz_target!(|data: &[u8]| {
    let Some((&size, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut out = vec![0u8; usize::from(size)];
    let _ = Secret::decode_base32_into(text, &mut out);
    if let Ok(secret) = Secret::from_base32(text) {
        let mut buf = [0u8; MAX_BASE32_LEN];
        let encoded = secret.encode_base32(&mut buf).expect("MAX_BASE32_LEN always fits");
        assert_eq!(Secret::from_base32(encoded).expect("round trip"), secret);
        assert!(!format!("{secret:?}").contains(encoded));
    }
});
