//! Storage faults around the one-time write. An accepted OTP is one write
//! (the step and the bucket's reset together), and so is an accepted
//! recovery code (the slot consumed or replaced and the bucket emptied
//! together): when that write fails, nothing is charged, advanced or
//! consumed, the client gets a retryable error, and the same code still
//! works once the store does. There is no bookkeeping write after a
//! consumed code that could fail and turn its success into an error.

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

/// Delegates to a `MemoryStore`; while `fail_accepts` is set, the write of
/// an accepted code (`accept_otp`, `accept_recovery_code`) fails as a
/// dropped connection would, and while `fail_charges` is set, so does
/// every `update_attempts`.
#[derive(Default)]
struct FaultyResets {
    inner: MemoryStore,
    fail_charges: AtomicBool,
    fail_accepts: AtomicBool,
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
    async fn accept_otp(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        expected_attempts: Attempts,
        next: OtpProgress,
    ) -> Result<bool, ConnectionLost> {
        if self.fail_accepts.load(Ordering::SeqCst) {
            return Err(ConnectionLost);
        }
        ok(self
            .inner
            .accept_otp(user, id, expected, expected_attempts, next)
            .await)
    }
    async fn accept_recovery_code(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected_slots: &[Option<RecoveryHash>],
        expected_attempts: Attempts,
        slot: usize,
        replacement: Option<RecoveryHash>,
    ) -> Result<bool, ConnectionLost> {
        if self.fail_accepts.load(Ordering::SeqCst) {
            return Err(ConnectionLost);
        }
        ok(self
            .inner
            .accept_recovery_code(
                user,
                id,
                expected_slots,
                expected_attempts,
                slot,
                replacement,
            )
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
        if self.fail_charges.load(Ordering::SeqCst) {
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
    assert!(v.confirmed_enrollment);
    (app, a.recovery_codes[0].as_str().to_owned())
}

#[tokio::test]
async fn a_failed_accept_write_charges_and_advances_nothing() {
    let store = Arc::new(FaultyResets::default());
    let mfa = Mfa::new(store.clone(), MfaConfig::new("ACME").unwrap());
    let (app, _) = enrolled(&mfa, "u").await;
    let before = store.inner.load("u").await.unwrap().otp.unwrap();
    store.fail_accepts.store(true, Ordering::SeqCst);
    let t = T0 + 60;
    let code = app.generate(t).unwrap();
    assert!(matches!(
        mfa.verify_otp("u", code.as_str(), t).await,
        Err(MfaError::Storage(ConnectionLost))
    ));
    // Nothing was decided: no step consumed, no attempt charged.
    let after = store.inner.load("u").await.unwrap().otp.unwrap();
    assert_eq!(after.progress, before.progress);
    assert_eq!(after.attempts, before.attempts);
    assert_eq!(after.attempts, Attempts::default());
    // So the same code works once the store does, and empties the bucket.
    store.fail_accepts.store(false, Ordering::SeqCst);
    let v = mfa.verify_otp("u", code.as_str(), t).await.unwrap();
    assert_eq!(v.step, t / 30);
    assert_eq!(
        store.inner.load("u").await.unwrap().otp.unwrap().attempts,
        Attempts::default()
    );
    // A wrong code charges one attempt; the next right one empties the bucket.
    let wrong = if code.as_str() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let later = t + 60;
    assert!(matches!(
        mfa.verify_otp("u", wrong, later).await,
        Err(MfaError::InvalidOtp)
    ));
    assert_eq!(
        store
            .inner
            .load("u")
            .await
            .unwrap()
            .otp
            .unwrap()
            .attempts
            .used(),
        1
    );
    let next = app.generate(later).unwrap();
    mfa.verify_otp("u", next.as_str(), later).await.unwrap();
    let otp = store.inner.load("u").await.unwrap().otp.unwrap();
    assert_eq!(otp.attempts, Attempts::default());
    assert_eq!(otp.progress.last_step, Some(later / 30));
}

#[tokio::test]
async fn a_failed_recovery_accept_write_charges_and_consumes_nothing() {
    let store = Arc::new(FaultyResets::default());
    let mfa = Mfa::new(store.clone(), MfaConfig::new("ACME").unwrap());
    let (_, recovery) = enrolled(&mfa, "u").await;
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    // One wrong code first, so that the bucket has something to keep.
    assert!(matches!(
        mfa.verify_recovery_code("u", "ABCDEFGHIJKLMNOPQRSTUVWX", &mut rng, T0 + 4)
            .await,
        Err(MfaError::InvalidRecoveryCode)
    ));
    let before = store.inner.load("u").await.unwrap().recovery.unwrap();
    assert_eq!(before.attempts.used(), 1);
    store.fail_accepts.store(true, Ordering::SeqCst);
    assert!(matches!(
        mfa.verify_recovery_code("u", &recovery, &mut rng, T0 + 5)
            .await,
        Err(MfaError::Storage(ConnectionLost))
    ));
    // Nothing was decided: the code is still there, the bucket as it was.
    assert_eq!(
        store.inner.load("u").await.unwrap().recovery.unwrap(),
        before
    );
    // So the same code works once the store does, and empties the bucket.
    store.fail_accepts.store(false, Ordering::SeqCst);
    let v = mfa
        .verify_recovery_code("u", &recovery, &mut rng, T0 + 6)
        .await
        .unwrap();
    let replacement = v
        .new_code
        .expect("the rotating policy returns a replacement");
    let after = store.inner.load("u").await.unwrap().recovery.unwrap();
    assert_eq!(after.attempts, Attempts::default());
    assert_ne!(after.slots, before.slots);
    // The old code is consumed; its replacement works (once).
    assert!(matches!(
        mfa.verify_recovery_code("u", &recovery, &mut rng, T0 + 7)
            .await,
        Err(MfaError::InvalidRecoveryCode)
    ));
    mfa.verify_recovery_code("u", replacement.as_str(), &mut rng, T0 + 8)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_charge_of_a_wrong_recovery_code_answers_nothing_and_charges_nothing() {
    let store = Arc::new(FaultyResets::default());
    let mfa = Mfa::new(store.clone(), MfaConfig::new("ACME").unwrap());
    let (_, recovery) = enrolled(&mfa, "u").await;
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let before = store.inner.load("u").await.unwrap().recovery.unwrap();
    store.fail_charges.store(true, Ordering::SeqCst);
    // A wrong code is answered only once its charge has landed.
    assert!(matches!(
        mfa.verify_recovery_code("u", "ABCDEFGHIJKLMNOPQRSTUVWX", &mut rng, T0 + 5)
            .await,
        Err(MfaError::Storage(ConnectionLost))
    ));
    assert_eq!(
        store.inner.load("u").await.unwrap().recovery.unwrap(),
        before
    );
    // A right one needs no charge: one write, which works.
    mfa.verify_recovery_code("u", &recovery, &mut rng, T0 + 6)
        .await
        .unwrap();
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
