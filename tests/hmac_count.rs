//! "Refused before any HMAC", measured: with the `__count-compressions`
//! feature the engine counts the hash compressions it runs on each thread
//! (`__private::compressions`). A malformed code, a code parsed for another
//! digit count and a time before T0 cost none; a well-formed code costs
//! exactly one inner and one outer compression per counter of the window,
//! whether it matches or not (so the counter is shown to count).
//!
//! Needs `--features __count-compressions,flow` (the workspace's
//! `--all-features` test run has them).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::sync::Arc;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use totp_engine::__private::compressions;
use totp_engine::{
    Algorithm, Digits, Drift, Hotp, HotpParams, LookAhead, MalformedCode, MemoryStore, Mfa,
    MfaConfig, MfaError, ParsedKeyUri, Refusal, Secret, SubmittedCode, Totp, TotpParams, Window,
};

/// The result of `f` and the compressions it ran on this thread.
fn cost<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = compressions();
    let out = f();
    (out, compressions() - before)
}

/// Texts that are not a 6-digit code, each with its refusal.
fn malformed() -> Vec<(String, MalformedCode)> {
    let wrong_length = |found| MalformedCode::WrongLength { expected: 6, found };
    vec![
        (String::new(), MalformedCode::Empty),
        ("   ".into(), MalformedCode::Empty),
        ("08180".into(), wrong_length(5)),
        ("0818044".into(), wrong_length(7)),
        ("08180a".into(), MalformedCode::InvalidCharacter),
        ("０８１８０４".into(), MalformedCode::InvalidCharacter),
        ("081  804".into(), MalformedCode::InvalidCharacter),
        ("-081804".into(), MalformedCode::InvalidCharacter),
        ("081804\0".into(), MalformedCode::InvalidCharacter),
        ("999999999999999999999".into(), wrong_length(21)),
        ("1".repeat(1 << 16), MalformedCode::TooLong),
    ]
}

const NOW: u64 = 1_111_111_109;

#[test]
fn totp_refuses_malformed_input_with_no_compression_and_checks_well_formed_codes_with_six() {
    for (algorithm, key) in [
        (Algorithm::Sha1, &b"12345678901234567890"[..]),
        (Algorithm::Sha256, &b"12345678901234567890123456789012"[..]),
        (
            Algorithm::Sha512,
            &b"1234567890123456789012345678901234567890123456789012345678901234"[..],
        ),
    ] {
        let secret = Secret::from_bytes(key).unwrap();
        let params = TotpParams::default().with_algorithm(algorithm);
        // Keying: the ipad and opad blocks, once.
        let (totp, keying) = cost(|| Totp::new(&secret, params));
        assert_eq!(keying, 2, "{algorithm}");

        // Well formed: 3 steps × (inner + outer), matching or not.
        let right = totp.generate(NOW).unwrap();
        let (verdict, n) = cost(|| totp.verify(right.as_str(), NOW, None));
        assert!(verdict.is_ok(), "{algorithm}");
        assert_eq!(n, 6, "{algorithm}: accepted code");
        let wrong = (0..1_000_000u32)
            .map(|v| format!("{v:06}"))
            .find(|c| totp.verify(c, NOW, None) == Err(Refusal::NoMatch))
            .unwrap();
        let (verdict, n) = cost(|| totp.verify(&wrong, NOW, None));
        assert_eq!(verdict, Err(Refusal::NoMatch));
        assert_eq!(n, 6, "{algorithm}: wrong code");
        let (verdict, n) = cost(|| totp.verify(right.as_str(), NOW, Some(u64::MAX)));
        assert_eq!(verdict, Err(Refusal::Replayed));
        assert_eq!(n, 6, "{algorithm}: replay");

        // Malformed: refused by the parser, no HMAC.
        for (text, refusal) in malformed() {
            let (verdict, n) = cost(|| totp.verify(&text, NOW, None));
            assert_eq!(verdict, Err(Refusal::Malformed(refusal)), "{text:?}");
            assert_eq!(n, 0, "{algorithm}: {text:?} cost compressions");
        }
        // Parsed for 8 digits, offered to a 6-digit verifier.
        let eight = SubmittedCode::parse("12345678", Digits::EIGHT).unwrap();
        let (verdict, n) = cost(|| totp.verify_code(&eight, NOW, None, Drift::NONE));
        assert!(matches!(verdict, Err(Refusal::Malformed(_))));
        assert_eq!(n, 0);
        // Before T0.
        let later = Totp::new(&secret, params.with_t0(NOW + 1));
        let (verdict, n) = cost(|| later.verify(right.as_str(), NOW, None));
        assert_eq!(verdict, Err(Refusal::BeforeT0));
        assert_eq!(n, 0);
    }
}

#[test]
fn a_wider_window_costs_two_compressions_per_step_and_nothing_when_malformed() {
    let secret = Secret::from_bytes(b"12345678901234567890").unwrap();
    for (past, future) in [(0, 0), (1, 0), (2, 2), (5, 3), (10, 10)] {
        let totp = Totp::new(
            &secret,
            TotpParams::default().with_window(Window::new(past, future).unwrap()),
        );
        let steps = u64::from(past) + u64::from(future) + 1;
        let (_, n) = cost(|| totp.verify("000000", NOW, None));
        assert_eq!(n, 2 * steps, "window -{past}/+{future}");
        let (_, n) = cost(|| totp.verify("00000", NOW, None));
        assert_eq!(n, 0);
    }
}

#[test]
fn hotp_refuses_malformed_input_with_no_compression() {
    let secret = Secret::from_bytes(b"12345678901234567890").unwrap();
    let params = HotpParams::default().with_look_ahead(LookAhead::new(4).unwrap());
    let hotp = Hotp::new(&secret, params);
    // Counters 0..=4 checked: five inner and five outer compressions.
    let (verdict, n) = cost(|| hotp.verify("755224", 0));
    assert!(verdict.is_ok());
    assert_eq!(n, 10);
    for (text, refusal) in malformed() {
        let (verdict, n) = cost(|| hotp.verify(&text, 0));
        assert_eq!(verdict, Err(Refusal::Malformed(refusal)), "{text:?}");
        assert_eq!(n, 0, "{text:?}");
    }
}

#[test]
fn the_flow_refuses_a_malformed_code_before_any_hmac_and_charges_nothing() {
    // A current-thread runtime polls every future on this thread, where the
    // compressions are counted.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mfa = Mfa::new(
        Arc::new(MemoryStore::new()),
        MfaConfig::new("ACME").unwrap(),
    );
    let user = "auth0|jane";
    let t0 = 1_700_000_000;
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let a = rt
        .block_on(mfa.associate(user, "jane@example.com", &mut rng, t0))
        .unwrap();
    let uri = ParsedKeyUri::parse(&a.barcode_uri).unwrap();
    let app = Totp::new(uri.secret(), uri.totp_params());
    let first = app.generate(t0).unwrap();
    let confirmed = rt
        .block_on(mfa.verify_otp(user, first.as_str(), t0))
        .unwrap();
    assert!(confirmed.confirmed_enrollment);

    // Far more malformed submissions than the throttle's bucket holds: each
    // is refused with no HMAC, and none is charged to the bucket.
    let now = t0 + 60;
    for _ in 0..20 {
        for (text, _) in malformed() {
            let (refused, n) = cost(|| rt.block_on(mfa.verify_otp(user, &text, now)));
            assert!(
                matches!(refused, Err(MfaError::InvalidOtp)),
                "{text:?}: {refused:?}"
            );
            assert_eq!(n, 0, "{text:?} cost compressions");
        }
    }
    // The bucket is untouched: the user's right code is still accepted, at
    // the cost of one verification: keying the stored secret (two
    // compressions) and a ±1 window (six).
    let code = app.generate(now).unwrap();
    let (accepted, n) = cost(|| rt.block_on(mfa.verify_otp(user, code.as_str(), now)));
    accepted.unwrap();
    assert_eq!(n, 2 + 6);
}
