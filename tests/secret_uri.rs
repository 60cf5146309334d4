//! Secrets (generation, base32 in and out) and otpauth key URIs (building,
//! parsing URIs from the wild, refusing malformed ones).

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
    Algorithm, Digits, HotpParams, KeyUri, OtpKind, ParsedKeyUri, Period, Secret, SecretError,
    Totp, TotpParams, UriError,
};

const RFC_SEED_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; // "12345678901234567890"

#[test]
fn generated_secrets_have_the_requested_length_and_differ() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let a = Secret::generate(&mut rng);
    let b = Secret::generate(&mut rng);
    assert_eq!(a.len(), Secret::DEFAULT_LEN);
    assert_ne!(a, b);
    assert_eq!(Secret::generate_with_len(&mut rng, 64).unwrap().len(), 64);
    assert_eq!(
        Secret::generate_with_len(&mut rng, 15).unwrap_err(),
        SecretError::TooShort { len: 15 }
    );
    assert_eq!(
        Secret::generate_with_len(&mut rng, 129).unwrap_err(),
        SecretError::TooLong { len: 129 }
    );
    // Deterministic given the generator: the same seed gives the same key.
    let again = Secret::generate(&mut ChaCha20Rng::seed_from_u64(7));
    assert_eq!(again, a);
}

#[test]
fn base32_decoding_tolerates_what_users_paste() {
    let expected = Secret::from_bytes(b"12345678901234567890").unwrap();
    for pasted in [
        RFC_SEED_B32,
        "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
        "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
        " gezd\tgnbv gy3t qojq gezd gnbv gy3t qojq ",
        // As Google Authenticator takes them: dashes, a trailing newline or
        // CRLF, no-break spaces, a pasted line break.
        "GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\r\n",
        "GEZD\u{a0}GNBV\u{a0}GY3T\u{a0}QOJQ\u{a0}GEZD\u{a0}GNBV\u{a0}GY3T\u{a0}QOJQ",
        "GEZDGNBVGY3TQOJQ\nGEZDGNBVGY3TQOJQ",
    ] {
        assert_eq!(Secret::from_base32(pasted).unwrap(), expected, "{pasted:?}");
    }
    // Padding: 16 bytes encode to 26 characters plus 6 '='.
    let sixteen = Secret::from_bytes(&[0xA5; 16]).unwrap();
    let mut buf = [0u8; 64];
    let unpadded = sixteen.encode_base32(&mut buf).unwrap().to_owned();
    assert_eq!(unpadded.len(), 26);
    assert_eq!(
        Secret::from_base32(&format!("{unpadded}======")).unwrap(),
        sixteen
    );
    assert_eq!(
        Secret::from_base32(&unpadded.to_lowercase()).unwrap(),
        sixteen
    );
}

#[test]
fn base32_decoding_is_strict_about_everything_else() {
    assert_eq!(
        Secret::from_base32("GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ").unwrap_err(),
        SecretError::InvalidBase32Character { position: 15 }
    );
    for bad in [
        "GEZDGNBVGY3TQOJQ_GEZDGNBVGY3TQOJQ",        // underscore
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ0",         // 0 is not base32
        "GEZDGNBVGY3TQOJQ=GEZDGNBVGY3TQOJQ",        // padding in the middle
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQé",        // non-ASCII
        "GEZDGNBVGY3TQOJQ.GEZDGNBVGY3TQOJQ",        // a dot
        "GEZDGNBVGY3TQOJQ\u{2003}GEZDGNBVGY3TQOJQ", // an em space
    ] {
        assert!(
            matches!(
                Secret::from_base32(bad),
                Err(SecretError::InvalidBase32Character { .. })
            ),
            "{bad:?}"
        );
    }
    // 33 characters cannot encode whole bytes.
    assert_eq!(
        Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQG").unwrap_err(),
        SecretError::InvalidBase32Length
    );
    assert_eq!(
        Secret::from_base32("").unwrap_err(),
        SecretError::TooShort { len: 0 }
    );
    assert_eq!(
        Secret::from_base32("JBSWY3DPEHPK3PXP").unwrap_err(),
        SecretError::TooShort { len: 10 }
    );
    assert_eq!(
        Secret::from_base32(&"A".repeat(208)).unwrap_err(),
        SecretError::TooLong { len: 130 }
    );
    assert_eq!(
        Secret::from_base32(&"A".repeat(1 << 20)).unwrap_err(),
        SecretError::TooLong { len: 655_360 }
    );
    // The character offset is in bytes, after a multi-byte separator too.
    assert_eq!(
        Secret::from_base32("GEZD\u{a0}GNB!").unwrap_err(),
        SecretError::InvalidBase32Character { position: 9 }
    );
    // Errors never carry the secret text.
    let err = Secret::from_base32("GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ").unwrap_err();
    assert!(!err.to_string().contains("GEZD"));
    assert!(!format!("{err:?}").contains("GEZD"));
}

#[test]
fn eighty_bit_keys_need_the_loudly_named_opt_in() {
    // Google's own example key: refused by default, imported on request.
    let legacy = "JBSWY3DPEHPK3PXP";
    assert_eq!(
        Secret::from_base32(legacy).unwrap_err(),
        SecretError::TooShort { len: 10 }
    );
    let key = Secret::danger_from_base32_allow_80_bit(legacy).unwrap();
    assert_eq!(key.expose_bytes(), b"Hello!\xde\xad\xbe\xef");
    // The codes are the ones any authenticator app computes for it.
    let code = Totp::new(&key, TotpParams::default()).generate(59).unwrap();
    assert_eq!(code.as_str().len(), 6);
    // Still no shorter than 80 bits, and the same tolerance otherwise.
    assert_eq!(
        Secret::danger_from_base32_allow_80_bit("JBSWY3DPEHPK3PX").unwrap_err(),
        SecretError::TooShort { len: 9 }
    );
    assert_eq!(
        Secret::danger_from_base32_allow_80_bit("jbsw-y3dp-ehpk-3pxp\n").unwrap(),
        key
    );
}

#[test]
fn base32_encoding_needs_a_large_enough_buffer() {
    let secret = Secret::from_bytes(b"12345678901234567890").unwrap();
    let mut small = [0u8; 31];
    assert_eq!(
        secret.encode_base32(&mut small).unwrap_err(),
        SecretError::BufferTooSmall { needed: 32 }
    );
    assert_eq!(secret.to_base32().as_str(), RFC_SEED_B32);
    let mut out = [0u8; 19];
    assert_eq!(
        Secret::decode_base32_into(RFC_SEED_B32, &mut out).unwrap_err(),
        SecretError::BufferTooSmall { needed: 20 }
    );
    let mut out = [0u8; 20];
    assert_eq!(
        Secret::decode_base32_into(RFC_SEED_B32, &mut out).unwrap(),
        b"12345678901234567890"
    );
}

fn rfc_secret() -> Secret {
    Secret::from_bytes(b"12345678901234567890").unwrap()
}

#[test]
fn totp_uri_is_written_with_percent_encoding() {
    let params = TotpParams::default()
        .with_algorithm(Algorithm::Sha256)
        .with_digits(Digits::EIGHT)
        .with_period(Period::new(60).unwrap());
    let secret = rfc_secret();
    let uri = KeyUri::totp(&secret, &params, "jane+mfa@example.com")
        .unwrap()
        .with_issuer("ACME Big & Co/Ünïcode")
        .unwrap()
        .to_uri_string();
    assert_eq!(
        uri.as_str(),
        "otpauth://totp/ACME%20Big%20%26%20Co%2F%C3%9Cn%C3%AFcode:jane%2Bmfa%40example.com\
         ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
         &issuer=ACME%20Big%20%26%20Co%2F%C3%9Cn%C3%AFcode&algorithm=SHA256&digits=8&period=60"
    );
    // The format reserves ':' as the label separator in both parts.
    assert_eq!(
        KeyUri::totp(&secret, &params, "a:b").unwrap_err(),
        UriError::ColonInLabel {
            component: "account"
        }
    );
    assert_eq!(
        KeyUri::totp(&secret, &params, "a")
            .unwrap()
            .with_issuer("ACME: Co")
            .unwrap_err(),
        UriError::ColonInLabel {
            component: "issuer"
        }
    );
    assert!(KeyUri::totp(&secret, &params, "").is_err());
    assert!(KeyUri::totp(&secret, &params, &"x".repeat(257)).is_err());
    let mut no_issuer = String::new();
    KeyUri::totp(&secret, &TotpParams::default(), "bob")
        .unwrap()
        .write_to(&mut no_issuer)
        .unwrap();
    assert_eq!(
        no_issuer,
        "otpauth://totp/bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6&period=30"
    );
}

#[test]
fn hotp_uri_carries_the_counter() {
    let secret = rfc_secret();
    let uri = KeyUri::hotp(&secret, &HotpParams::default(), "dev", 42)
        .unwrap()
        .with_issuer("Büro")
        .unwrap()
        .to_uri_string();
    assert!(uri.starts_with("otpauth://hotp/B%C3%BCro:dev?secret="));
    assert!(uri.ends_with("&counter=42"));
    let parsed = ParsedKeyUri::parse(&uri).unwrap();
    assert_eq!(parsed.kind(), OtpKind::Hotp);
    assert_eq!(parsed.counter(), Some(42));
    assert_eq!(parsed.period(), None, "an HOTP URI has no period");
    assert_eq!(parsed.issuer(), Some("Büro"));
}

#[test]
fn uris_from_the_wild_are_understood() {
    // Google's own example.
    let g = ParsedKeyUri::parse(
        "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Example",
    )
    .unwrap();
    assert_eq!(g.label_issuer(), Some("Example"));
    assert_eq!(g.issuer_parameter(), Some("Example"));
    assert_eq!(g.account(), "alice@google.com");
    assert_eq!(
        (g.digits(), g.period(), g.algorithm()),
        (Digits::SIX, Some(Period::THIRTY_SECONDS), Algorithm::Sha1)
    );

    // %3A separator, spaces before the account, issuer only in the label.
    let a = ParsedKeyUri::parse(
        "otpauth://totp/ACME%20Co%3A%20%20john.doe%40email.com?secret=gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
    )
    .unwrap();
    assert_eq!(a.issuer(), Some("ACME Co"));
    assert!(a.issuer_parameter().is_none());
    assert_eq!(a.account(), "john.doe@email.com");
    assert_eq!(a.secret(), &rfc_secret());

    // Issuer only in the parameter, '+' for space there, parameters reordered,
    // unknown ones ignored, padded secret, case-insensitive names.
    let b = ParsedKeyUri::parse(
        "OTPAUTH://TOTP/john?image=https%3A%2F%2Fx&period=60&Digits=8&algorithm=sha512&issuer=Big+Corp\
         &secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ%3D%3D%3D%3D",
    );
    // 32 characters need no padding; "====" after them is still accepted.
    let b = b.unwrap();
    assert!(b.label_issuer().is_none());
    assert_eq!(b.issuer(), Some("Big Corp"));
    assert_eq!(
        (b.digits(), b.period().map(Period::secs), b.algorithm()),
        (Digits::EIGHT, Some(60), Algorithm::Sha512)
    );

    // Microsoft: the label issuer differs from the parameter; both are kept.
    let m = ParsedKeyUri::parse(
        "otpauth://totp/Contoso:jane@contoso.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Microsoft",
    )
    .unwrap();
    assert_eq!(m.label_issuer(), Some("Contoso"));
    assert_eq!(m.issuer(), Some("Microsoft"));

    // A parsed URI drives a verifier.
    let totp = Totp::new(m.secret(), m.totp_params());
    assert_eq!(totp.generate(59).unwrap().as_str(), "287082");
}

#[test]
fn malformed_uris_get_errors_that_name_the_problem() {
    let s = "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let cases: Vec<(String, UriError)> = vec![
        (format!("https://totp/a?{s}"), UriError::NotOtpauth),
        (format!("otpauth://motp/a?{s}"), UriError::UnknownType),
        (format!("otpauth://totp?{s}"), UriError::MissingLabel),
        (format!("otpauth://totp/?{s}"), UriError::MissingLabel),
        (
            format!("otpauth://totp/Issuer:?{s}"),
            UriError::MissingLabel,
        ),
        ("otpauth://totp/a?issuer=x".into(), UriError::MissingSecret),
        ("otpauth://totp/a?secret=".into(), UriError::MissingSecret),
        (
            "otpauth://totp/a?secret=%20".into(),
            UriError::MissingSecret,
        ),
        (
            "otpauth://totp/a?secret=GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ".into(),
            UriError::InvalidSecret(SecretError::InvalidBase32Character { position: 15 }),
        ),
        (
            format!("otpauth://totp/a?{s}&{s}"),
            UriError::DuplicateParameter { name: "secret" },
        ),
        (
            format!("otpauth://totp/a?{s}&algorithm=MD5"),
            UriError::InvalidAlgorithm,
        ),
        (
            format!("otpauth://totp/a?{s}&digits=5"),
            UriError::InvalidDigits,
        ),
        (
            format!("otpauth://totp/a?{s}&digits=six"),
            UriError::InvalidDigits,
        ),
        (
            format!("otpauth://totp/a?{s}&period=0"),
            UriError::InvalidPeriod,
        ),
        (
            format!("otpauth://totp/a?{s}&period=-30"),
            UriError::InvalidPeriod,
        ),
        (
            format!("otpauth://totp/a?{s}&period=99999999999999999999999"),
            UriError::InvalidPeriod,
        ),
        (format!("otpauth://hotp/a?{s}"), UriError::MissingCounter),
        (
            format!("otpauth://hotp/a?{s}&counter=18446744073709551616"),
            UriError::InvalidCounter,
        ),
        (
            format!("otpauth://totp/%FF%FE?{s}"),
            UriError::InvalidText {
                component: "account",
            },
        ),
        (
            format!("otpauth://totp/a?{s}&issuer=%C3"),
            UriError::InvalidText {
                component: "issuer",
            },
        ),
        (
            format!("otpauth://totp/{}?{s}", "a".repeat(300)),
            UriError::InvalidText {
                component: "account",
            },
        ),
        (
            format!("otpauth://totp/a?{s}&x={}", "a".repeat(5000)),
            UriError::TooLong,
        ),
    ];
    for (uri, expected) in cases {
        let err = ParsedKeyUri::parse(&uri).unwrap_err();
        assert_eq!(err, expected, "{uri}");
        let message = err.to_string();
        assert!(!message.contains("GEZD"), "{message}");
        assert!(!message.is_empty());
    }
    // Debug of a parsed URI hides the secret.
    let uri = format!("otpauth://totp/a?{s}");
    let parsed = ParsedKeyUri::parse(&uri).unwrap();
    assert!(!format!("{parsed:?}").contains("GEZD"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Base32 round trip for every valid key length.
    #[test]
    fn base32_round_trip(key in proptest::collection::vec(any::<u8>(), 16..=128)) {
        let secret = Secret::from_bytes(&key).unwrap();
        let mut buf = [0u8; totp_engine::MAX_BASE32_LEN];
        let text = secret.encode_base32(&mut buf).unwrap();
        prop_assert!(!text.contains('='));
        prop_assert_eq!(Secret::from_base32(text).unwrap(), secret.clone());
        prop_assert_eq!(Secret::from_base32(&text.to_lowercase()).unwrap(), secret.clone());
    }

    /// Google Authenticator's tolerance: the encoding of any key, with any
    /// case and any mix of spaces, tabs, dashes, no-break spaces and line
    /// breaks inserted anywhere (and trailing padding), decodes to the key;
    /// one character outside that set anywhere is refused at its offset.
    #[test]
    fn pasted_base32_decodes_to_the_key_and_only_separators_are_skipped(
        key in proptest::collection::vec(any::<u8>(), 16..=64),
        seps in proptest::collection::vec(
            (any::<prop::sample::Index>(), prop::sample::select(vec![" ", "\t", "-", "\u{a0}", "\n", "\r\n", "  "])),
            0..12,
        ),
        lower in proptest::collection::vec(any::<bool>(), 0..64),
        padding in 0usize..=6,
        bad in (any::<prop::sample::Index>(), prop::sample::select(vec!['0', '1', '8', '9', '_', '.', '+', '/', 'é', '\u{2003}', '\u{0}'])),
    ) {
        let secret = Secret::from_bytes(&key).unwrap();
        let mut buf = [0u8; totp_engine::MAX_BASE32_LEN];
        let clean = secret.encode_base32(&mut buf).unwrap().to_owned();
        let mut chars: Vec<String> = clean
            .chars()
            .enumerate()
            .map(|(i, c)| if lower.get(i).copied().unwrap_or(false) { c.to_ascii_lowercase().to_string() } else { c.to_string() })
            .collect();
        for (at, sep) in &seps {
            let i = at.index(chars.len() + 1);
            chars.insert(i, (*sep).to_owned());
        }
        let mut pasted: String = chars.concat();
        pasted.push_str(&"=".repeat(padding));
        prop_assert_eq!(Secret::from_base32(&pasted).unwrap(), secret.clone());
        // One foreign character anywhere before the padding.
        let (at, c) = bad;
        let body_len = pasted.len() - padding;
        let boundaries: Vec<usize> = pasted.char_indices().map(|(i, _)| i).filter(|i| *i <= body_len).chain([body_len]).collect();
        let i = boundaries[at.index(boundaries.len())];
        let mut broken = pasted.clone();
        broken.insert(i, c);
        prop_assert_eq!(
            Secret::from_base32(&broken).unwrap_err(),
            SecretError::InvalidBase32Character { position: i }
        );
    }

    /// Build a URI from arbitrary labels and parameters, parse it back: equal.
    #[test]
    fn uri_build_parse_round_trip(
        key in proptest::collection::vec(any::<u8>(), 16..=128),
        issuer in proptest::option::of("[^: ][^:]{0,39}"),
        account in "[^: ][^:]{0,39}",
        alg in prop::sample::select(vec![Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512]),
        digits in 6u32..=8,
        period in 1u64..=86_400,
        counter in proptest::option::of(any::<u64>()),
    ) {
        let secret = Secret::from_bytes(&key).unwrap();
        let digits = Digits::try_from(digits).unwrap();
        let totp_params = TotpParams::default().with_algorithm(alg).with_digits(digits).with_period(Period::try_from(period).unwrap());
        let hotp_params = HotpParams::default().with_algorithm(alg).with_digits(digits);
        let mut uri = match counter {
            None => KeyUri::totp(&secret, &totp_params, &account).unwrap(),
            Some(c) => KeyUri::hotp(&secret, &hotp_params, &account, c).unwrap(),
        };
        if let Some(issuer) = &issuer {
            uri = uri.with_issuer(issuer).unwrap();
        }
        let text = uri.to_uri_string();
        prop_assert!(!text.contains(' ') && !text.contains('+'));
        let parsed = ParsedKeyUri::parse(&text).unwrap();
        prop_assert_eq!(parsed.secret(), &secret);
        prop_assert_eq!(parsed.account(), account.as_str());
        prop_assert_eq!(parsed.issuer(), issuer.as_deref());
        prop_assert_eq!(parsed.label_issuer(), issuer.as_deref());
        prop_assert_eq!(parsed.algorithm(), alg);
        prop_assert_eq!(parsed.digits(), digits);
        match counter {
            None => {
                prop_assert_eq!(parsed.kind(), OtpKind::Totp);
                prop_assert_eq!(parsed.totp_params(), totp_params);
            }
            Some(c) => {
                prop_assert_eq!(parsed.kind(), OtpKind::Hotp);
                prop_assert_eq!(parsed.counter(), Some(c));
            }
        }
    }

    /// The parser never panics on arbitrary text, otpauth-looking or not.
    #[test]
    fn uri_parse_never_panics(tail in "\\PC{0,200}", raw in ".{0,300}") {
        let _ = ParsedKeyUri::parse(&format!("otpauth://totp/{tail}"));
        let _ = ParsedKeyUri::parse(&raw);
        let _ = Secret::from_base32(&raw);
    }
}
