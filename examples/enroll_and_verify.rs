//! Enroll a user and verify codes with the MFA flow over the in-memory
//! store: what an auth server does behind Auth0's `/mfa/associate` and the
//! `mfa-otp` / `mfa-recovery-code` grants.
//!
//! ```sh
//! cargo run --example enroll_and_verify
//! ```

#![allow(clippy::print_stdout)]

use totp_engine::{Clock as _, MemoryStore, Mfa, MfaConfig, ParsedKeyUri, SystemClock, Totp};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn core::error::Error>> {
    let mfa = Mfa::new(MemoryStore::new(), MfaConfig::new("ACME")?);
    let now = SystemClock.unix_time();

    // 1. Enroll: show `barcode_uri` as a QR code, the recovery code once.
    let association = mfa
        .associate("user-1", "jane@example.com", rand::rng(), now)
        .await?;
    println!(
        "QR code of: otpauth://totp/ACME:jane%40example.com?… ({} characters)",
        association.barcode_uri.len()
    );
    println!(
        "recovery code (shown once): {}",
        association.recovery_codes[0].as_str()
    );

    // 2. The phone's app computes the current code from the URI; the first
    //    valid code confirms the enrollment.
    let uri = ParsedKeyUri::parse(&association.barcode_uri)?;
    let app = Totp::new(uri.secret(), uri.totp_params());
    let code = app.generate(now)?;
    let verified = mfa.verify_otp("user-1", code.as_str(), now).await?;
    println!(
        "code accepted, enrollment confirmed: {}",
        verified.confirmed_enrollment
    );

    // 3. The same code again is a replay: Auth0's error, nothing consumed.
    let replay = mfa.verify_otp("user-1", code.as_str(), now).await;
    if let Err(e) = &replay {
        println!(
            "replay refused: {} {} ({})",
            e.http_status(),
            e.error_code(),
            e.error_description()
        );
    }
    assert!(replay.is_err(), "a code is accepted once");

    // 4. A lost phone: the recovery code signs in once and is replaced.
    let recovered = mfa
        .verify_recovery_code(
            "user-1",
            association.recovery_codes[0].as_str(),
            rand::rng(),
            now,
        )
        .await?;
    if let Some(new_code) = &recovered.new_code {
        println!(
            "recovery code accepted; its replacement (shown once): {}",
            new_code.as_str()
        );
    }
    Ok(())
}
