//! Storage faults after a code is consumed: once the one-time write has
//! happened, the success stands. A failing bucket reset afterwards is
//! reported in the outcome (`attempts_reset: false`), never as an error that
//! would make the client retry what is now a replay, or lose a recovery
//! code's replacement.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use totp_engine::{
    Attempts, AuthenticatorId, Enrolled, MemoryStore, Mfa, MfaConfig, MfaError, MfaStore,
    OtpAuthenticator, OtpProgress, ParsedKeyUri, RecoveryAuthenticator, RecoveryHash, Totp,
    UserAuthenticators,
};

const T0: u64 = 1_700_000_000;

/// Delegates to a `MemoryStore`; while `fail_resets` is set, emptying a
/// bucket (`update_attempts` to the empty bucket) fails as a dropped
/// connection would.
#[derive(Default)]
struct FaultyResets {
    inner: MemoryStore,
    fail_resets: AtomicBool,
}

#[derive(Debug)]
struct ConnectionLost;

impl std::fmt::Display for ConnectionLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection lost")
    }
}

impl std::error::Error for ConnectionLost {}

fn ok<T>(r: Result<T, std::convert::Infallible>) -> Result<T, ConnectionLost> {
    r.map_err(|never| match never {})
}

impl MfaStore for FaultyResets {
    type Error = ConnectionLost;
    async fn load(&self, user: &str) -> Result<UserAuthenticators, ConnectionLost> {
        ok(self.inner.load(user).await)
    }
    async fn enroll(
        &self,
        user: &str,
        otp: OtpAuthenticator,
        recovery: Option<RecoveryAuthenticator>,
    ) -> Result<Enrolled, ConnectionLost> {
        ok(self.inner.enroll(user, otp, recovery).await)
    }
    async fn advance_otp(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        next: OtpProgress,
    ) -> Result<bool, ConnectionLost> {
        ok(self.inner.advance_otp(user, id, expected, next).await)
    }
    async fn consume_recovery_code(
        &self,
        user: &str,
        id: &AuthenticatorId,
        slot: usize,
        expected: RecoveryHash,
        replacement: Option<RecoveryHash>,
    ) -> Result<bool, ConnectionLost> {
        ok(self
            .inner
            .consume_recovery_code(user, id, slot, expected, replacement)
            .await)
    }
    async fn replace_recovery_codes(
        &self,
        user: &str,
        id: &AuthenticatorId,
        slots: Vec<Option<RecoveryHash>>,
    ) -> Result<bool, ConnectionLost> {
        ok(self.inner.replace_recovery_codes(user, id, slots).await)
    }
    async fn update_attempts(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: Attempts,
        next: Attempts,
    ) -> Result<bool, ConnectionLost> {
        if next == Attempts::default() && self.fail_resets.load(Ordering::SeqCst) {
            return Err(ConnectionLost);
        }
        ok(self.inner.update_attempts(user, id, expected, next).await)
    }
    async fn remove(&self, user: &str, id: &AuthenticatorId) -> Result<bool, ConnectionLost> {
        ok(self.inner.remove(user, id).await)
    }
}

async fn enrolled(mfa: &Mfa<Arc<FaultyResets>>, user: &str) -> (Totp, String) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let a = mfa.associate(user, "jane", &mut rng, T0).await.unwrap();
    let uri = ParsedKeyUri::parse(&a.barcode_uri).unwrap();
    let app = Totp::new(uri.secret(), uri.totp_params());
    let code = app.generate(T0).unwrap();
    let v = mfa.verify_otp(user, code.as_str(), T0).await.unwrap();
    assert!(v.confirmed_enrollment && v.attempts_reset);
    (app, a.recovery_codes[0].as_str().to_owned())
}

#[tokio::test]
async fn a_failed_bucket_reset_after_an_accepted_otp_keeps_the_success() {
    let store = Arc::new(FaultyResets::default());
    let mfa = Mfa::new(store.clone(), MfaConfig::new("ACME").unwrap());
    let (app, _) = enrolled(&mfa, "u").await;
    store.fail_resets.store(true, Ordering::SeqCst);
    let t = T0 + 60;
    let code = app.generate(t).unwrap();
    let v = mfa.verify_otp("u", code.as_str(), t).await.unwrap();
    assert!(!v.attempts_reset, "the failed reset is reported");
    assert_eq!(v.step, t / 30);
    // The code is used up: the same code again is refused as a replay.
    assert!(matches!(
        mfa.verify_otp("u", code.as_str(), t).await,
        Err(MfaError::InvalidOtp)
    ));
    // The bucket kept the accepted attempt's charge and the replay's.
    let otp = store.inner.load("u").await.unwrap().otp.unwrap();
    assert_eq!(otp.progress.last_step, Some(t / 30));
    assert_eq!(otp.attempts.used(), 2);
}

#[tokio::test]
async fn a_failed_bucket_reset_after_a_recovery_code_keeps_its_replacement() {
    let store = Arc::new(FaultyResets::default());
    let mfa = Mfa::new(store.clone(), MfaConfig::new("ACME").unwrap());
    let (_, recovery) = enrolled(&mfa, "u").await;
    store.fail_resets.store(true, Ordering::SeqCst);
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let v = mfa
        .verify_recovery_code("u", &recovery, &mut rng, T0 + 5)
        .await
        .unwrap();
    assert!(!v.attempts_reset);
    let replacement = v
        .new_code
        .expect("the rotating policy returns a replacement");
    // The old code is consumed; its replacement works (once).
    assert!(matches!(
        mfa.verify_recovery_code("u", &recovery, &mut rng, T0 + 6)
            .await,
        Err(MfaError::InvalidRecoveryCode)
    ));
    store.fail_resets.store(false, Ordering::SeqCst);
    let again = mfa
        .verify_recovery_code("u", replacement.as_str(), &mut rng, T0 + 7)
        .await
        .unwrap();
    assert!(again.attempts_reset);
}

#[test]
fn every_error_has_auth0s_status_and_storage_is_retryable() {
    type E = MfaError<ConnectionLost>;
    let cases: [(E, u16, &str, Option<u64>); 5] = [
        (MfaError::AlreadyEnrolled, 403, "access_denied", None),
        (MfaError::AuthenticatorNotFound, 404, "not_found", None),
        (MfaError::InvalidOtp, 400, "invalid_grant", None),
        (
            MfaError::Contention,
            503,
            "temporarily_unavailable",
            Some(1),
        ),
        (
            MfaError::Storage(ConnectionLost),
            503,
            "temporarily_unavailable",
            Some(1),
        ),
    ];
    for (e, status, code, retry) in cases {
        assert_eq!(
            (e.http_status(), e.error_code(), e.retry_after()),
            (status, code, retry)
        );
        assert!(!e.to_string().contains("connection lost"), "{e}");
    }
}
