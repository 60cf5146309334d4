//! otpauth URI parsing: never panics; whatever parses, re-built and parsed
//! again, gives the same key and parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use totp_engine::{KeyUri, OtpKind, ParsedKeyUri};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(uri) = ParsedKeyUri::parse(text) else { return };
    // Decoding the text parts never fails for a parsed URI.
    let account = uri.account().to_string();
    let issuer = uri.issuer().map(|i| i.to_string());
    let _ = format!("{uri:?}");
    let totp = uri.totp_params();
    let hotp = uri.hotp_params();
    let built = match uri.kind() {
        OtpKind::Totp => KeyUri::totp(uri.secret(), &totp, &account),
        OtpKind::Hotp => KeyUri::hotp(uri.secret(), &hotp, &account, uri.counter().unwrap_or(0)),
    };
    // Labels with ':' or a leading space cannot be written back (the format forbids them).
    let Ok(mut built) = built else { return };
    if let Some(issuer) = &issuer {
        match built.with_issuer(issuer) {
            Ok(b) => built = b,
            Err(_) => return,
        }
    }
    let text = built.to_uri_string();
    let again = ParsedKeyUri::parse(&text).expect("a written URI parses");
    assert_eq!(again.secret(), uri.secret());
    assert_eq!(again.account().to_string(), account);
    assert_eq!(again.issuer().map(|i| i.to_string()), issuer);
    assert_eq!((again.algorithm(), again.digits(), again.kind()), (uri.algorithm(), uri.digits(), uri.kind()));
    if uri.kind() == OtpKind::Totp {
        assert_eq!(again.period(), uri.period());
    } else {
        assert_eq!(again.counter(), uri.counter());
    }
});
