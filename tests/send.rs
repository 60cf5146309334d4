//! The natural code compiles: a generator passed by value (or a
//! temporary `rand::rng()`) never ends up inside the flow's futures, so an
//! async handler that awaits them is `Send` (axum requires it), with
//! `rand = "0.10"`.

#![allow(clippy::unwrap_used, clippy::arithmetic_side_effects, missing_docs)]

use totp_engine::{MemoryStore, Mfa, MfaConfig, ParsedKeyUri, Totp};

fn assert_send<T: Send>(t: T) -> T {
    t
}

/// What an axum handler does: a thread-local generator created inline.
async fn handler(mfa: &Mfa<MemoryStore>, user: &str, now: u64) -> usize {
    let association = mfa
        .associate(user, "jane@example.com", rand::rng(), now)
        .await
        .unwrap();
    let uri = ParsedKeyUri::parse(&association.barcode_uri).unwrap();
    let otp = Totp::new(uri.secret(), uri.totp_params())
        .generate(now)
        .unwrap();
    mfa.verify_otp(user, otp.as_str(), now).await.unwrap();
    let code = association.recovery_codes[0].clone();
    let verified = mfa
        .verify_recovery_code(user, code.as_str(), rand::rng(), now)
        .await
        .unwrap();
    let again = mfa
        .regenerate_recovery_codes(user, rand::rng())
        .await
        .unwrap();
    usize::from(verified.new_code.is_some()) + again.len()
}

#[tokio::test]
async fn handlers_with_an_inline_thread_rng_are_send() {
    let mfa = Mfa::new(MemoryStore::new(), MfaConfig::new("ACME").unwrap());
    // Fails to compile if a ThreadRng is held across an await.
    let n = tokio::spawn(async move { assert_send(handler(&mfa, "u1", 1_700_000_000)).await })
        .await
        .unwrap();
    assert_eq!(n, 2);
    // A generator the caller keeps is passed as `&mut`.
    let mfa = Mfa::new(MemoryStore::new(), MfaConfig::new("ACME").unwrap());
    let mut rng = rand::rng();
    let association = mfa.associate("u2", "bob", &mut rng, 1).await.unwrap();
    assert_eq!(association.recovery_codes.len(), 1);
}
