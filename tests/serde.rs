//! The `serde` feature: what a store persists round-trips through a real
//! format (JSON), every value is checked on the way in as its constructor
//! checks it, and a secret goes in or out only through `WithSecret`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::json;
use totp_engine::{
    Algorithm, Attempts, AuthenticatorId, AuthenticatorKind, Digits, Drift, OtpAuthenticator,
    OtpProgress, Period, RecoveryAuthenticator, RecoveryHasher, Secret, TotpParams, Window,
    WithSecret,
};

const B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
}

#[test]
fn parameters_and_buckets_round_trip_and_are_checked() {
    let params = TotpParams::default()
        .with_algorithm(Algorithm::Sha256)
        .with_digits(Digits::EIGHT)
        .with_period(Period::new(60).unwrap())
        .with_t0(7)
        .with_window(Window::new(2, 1).unwrap());
    assert_eq!(
        serde_json::to_value(params).unwrap(),
        json!({"algorithm": "SHA256", "digits": 8, "period": 60, "t0": 7,
               "window": {"past": 2, "future": 1}})
    );
    assert_eq!(round_trip(&params), params);
    let attempts = Attempts::from_parts(3, 1_700_000_000);
    assert_eq!(round_trip(&attempts), attempts);
    assert_eq!(
        round_trip(&Drift::new(-4).unwrap()),
        Drift::new(-4).unwrap()
    );
    // Out-of-range values are refused with the constructor's reason.
    for (bad, reason) in [
        (
            json!({"algorithm": "MD5", "digits": 6, "period": 30, "t0": 0, "window": {"past": 1, "future": 1}}),
            "algorithm must be",
        ),
        (
            json!({"algorithm": "SHA1", "digits": 9, "period": 30, "t0": 0, "window": {"past": 1, "future": 1}}),
            "digits must be 6, 7 or 8",
        ),
        (
            json!({"algorithm": "SHA1", "digits": 6, "period": 0, "t0": 0, "window": {"past": 1, "future": 1}}),
            "period",
        ),
        (
            json!({"algorithm": "SHA1", "digits": 6, "period": 30, "t0": 0, "window": {"past": 11, "future": 1}}),
            "window",
        ),
        (
            json!({"algorithm": "SHA1", "digits": 6, "period": 30, "t0": 0, "window": {"past": 1, "future": 1}, "extra": 1}),
            "unknown field",
        ),
    ] {
        let e = serde_json::from_value::<TotpParams>(bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains(reason), "{e}");
    }
    assert!(serde_json::from_value::<Drift>(json!(21)).is_err());
}

#[test]
fn records_round_trip_and_the_secret_needs_the_wrapper() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let otp = OtpAuthenticator {
        id: AuthenticatorId::generate(AuthenticatorKind::Otp, &mut rng),
        secret: Box::new(Secret::from_base32(B32).unwrap()),
        params: TotpParams::default(),
        progress: OtpProgress {
            last_step: Some(u64::MAX),
            drift: Drift::new(2).unwrap(),
            active: true,
        },
        attempts: Attempts::from_parts(1, 2),
        created_at: 3,
    };
    let text = serde_json::to_string(&WithSecret(&otp)).unwrap();
    assert!(text.contains(B32), "the wrapper writes the key as base32");
    let WithSecret(back): WithSecret<OtpAuthenticator> = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (
            back.id.clone(),
            back.secret.as_ref(),
            back.params,
            back.progress,
            back.attempts,
            back.created_at
        ),
        (
            otp.id.clone(),
            otp.secret.as_ref(),
            otp.params,
            otp.progress,
            otp.attempts,
            otp.created_at
        )
    );
    // The wrapper's Debug shows nothing.
    assert_eq!(format!("{:?}", WithSecret(&otp)), "WithSecret(..)");
    // A recovery id where an OTP id belongs is refused.
    let recovery_id = AuthenticatorId::generate(AuthenticatorKind::RecoveryCode, &mut rng);
    let swapped = text.replace(otp.id.as_str(), recovery_id.as_str());
    assert!(serde_json::from_str::<WithSecret<OtpAuthenticator>>(&swapped).is_err());
    // A short key is refused without echoing it.
    let weak = text.replace(B32, "JBSWY3DPEHPK3PXP");
    let e = serde_json::from_str::<WithSecret<OtpAuthenticator>>(&weak)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("at least 16 bytes") && !e.contains("JBSW"),
        "{e}"
    );

    let hasher = RecoveryHasher::default();
    let format = totp_engine::RecoveryFormat::default();
    let code = format
        .normalize(format.generate(&mut rng).as_str())
        .unwrap();
    let recovery = RecoveryAuthenticator {
        id: recovery_id,
        active: true,
        slots: vec![Some(hasher.hash(&code, &mut rng)), None],
        attempts: Attempts::default(),
        created_at: 9,
    };
    let back = round_trip(&recovery);
    assert_eq!(back, recovery);
    assert_eq!(hasher.find(&code, &[back.slots[0].unwrap()]), Some(0));
    // A truncated hash is refused.
    let mut value = serde_json::to_value(&recovery).unwrap();
    value["slots"][0].as_array_mut().unwrap().pop();
    assert!(serde_json::from_value::<RecoveryAuthenticator>(value).is_err());
    // Ids of another shape are refused.
    assert!(serde_json::from_value::<AuthenticatorId>(json!("totp|dev_short")).is_err());
}
