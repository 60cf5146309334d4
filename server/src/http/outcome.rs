//! The outcome class of each grant, recorded once per grant in the
//! request's log line (`grant`, `outcome` in its span:
//! [`crate::logging::record_grant`]) and as the `mfa_server_grants_total{grant,outcome}`
//! counter ([`crate::metrics`]); for an accepted code also its offset from
//! the current time step (the clock drift of the population).
//!
//! | grant | outcomes |
//! | --- | --- |
//! | `password` | `ok` (the password is right: `mfa_required`), `wrong` (wrong password or unknown user), `blocked` (brute-force protection), `throttled` (suspicious-address throttling) |
//! | `otp` | `accepted`, `invalid` (wrong or malformed code), `replayed` (a code already used), `throttled` (the authenticator's attempt bucket is empty) |
//! | `recovery` | `accepted`, `invalid`, `throttled` |
//!
//! Nothing else is recorded: no username, user id, code, token or
//! address. Requests refused before the grant's check (a bad client, an
//! expired mfa_token, a busy hash pool, a failing database) have no
//! outcome here; the request line's status shows them.
//!
//! The OTP and recovery-code wrappers call the engine and return its
//! result unchanged.

use totp_engine::{InvalidOtpReason, MfaError, OtpVerified, RecoveryVerified};
use totp_engine_sqlx::SqlxStore;

use super::App;
use crate::metrics;

type Store = SqlxStore;
type EngineError = MfaError<<Store as totp_engine::MfaStore>::Error>;

/// A grant's outcome class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Password right: `mfa_required` follows.
    PasswordOk,
    /// Wrong password or unknown user.
    PasswordWrong,
    /// The (user, address) pair is blocked.
    PasswordBlocked,
    /// The address is throttled.
    PasswordThrottled,
    /// An OTP accepted.
    OtpAccepted,
    /// A wrong or malformed OTP.
    OtpInvalid,
    /// An OTP of a step already used.
    OtpReplayed,
    /// The OTP attempt bucket is empty.
    OtpThrottled,
    /// A recovery code accepted.
    RecoveryAccepted,
    /// A wrong or used recovery code.
    RecoveryInvalid,
    /// The recovery attempt bucket is empty.
    RecoveryThrottled,
}

impl Outcome {
    /// (grant, outcome) as labelled in the metrics.
    #[must_use]
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::PasswordOk => ("password", "ok"),
            Self::PasswordWrong => ("password", "wrong"),
            Self::PasswordBlocked => ("password", "blocked"),
            Self::PasswordThrottled => ("password", "throttled"),
            Self::OtpAccepted => ("otp", "accepted"),
            Self::OtpInvalid => ("otp", "invalid"),
            Self::OtpReplayed => ("otp", "replayed"),
            Self::OtpThrottled => ("otp", "throttled"),
            Self::RecoveryAccepted => ("recovery", "accepted"),
            Self::RecoveryInvalid => ("recovery", "invalid"),
            Self::RecoveryThrottled => ("recovery", "throttled"),
        }
    }

    /// The log's wording of the outcome.
    fn described(self) -> &'static str {
        match self {
            Self::PasswordOk => "mfa_required",
            Self::PasswordWrong => "wrong_password",
            Self::PasswordBlocked => "blocked",
            Self::PasswordThrottled => "address_throttled",
            Self::OtpAccepted | Self::RecoveryAccepted => "accepted",
            Self::OtpInvalid | Self::RecoveryInvalid => "invalid",
            Self::OtpReplayed => "replayed",
            Self::OtpThrottled | Self::RecoveryThrottled => "throttled",
        }
    }
}

/// Logs and counts `outcome`.
pub fn record(outcome: Outcome) {
    let (grant, label) = outcome.labels();
    crate::logging::record_grant(grant, outcome.described());
    metrics::grant(grant, label);
}

/// [`totp_engine::Mfa::verify_otp`], recorded.
pub(super) async fn verify_otp(
    app: &App,
    user_id: &str,
    otp: &str,
    now: u64,
) -> Result<OtpVerified, EngineError> {
    match app.mfa.verify_otp_explained(user_id, otp, now).await {
        Ok(verified) => {
            record(Outcome::OtpAccepted);
            if let Ok(current) = app.mfa.config().totp().step_at(now) {
                let offset = i128::from(verified.step) - i128::from(current);
                metrics::otp_offset(i64::try_from(offset).unwrap_or(i64::MAX));
            }
            Ok(verified)
        }
        Err(refused) => {
            match (&refused.error, refused.reason) {
                (MfaError::InvalidOtp, Some(InvalidOtpReason::Replayed)) => {
                    record(Outcome::OtpReplayed);
                }
                (MfaError::InvalidOtp, _) => record(Outcome::OtpInvalid),
                (MfaError::TooManyAttempts(_), _) => record(Outcome::OtpThrottled),
                _ => {}
            }
            Err(refused.error)
        }
    }
}

/// [`totp_engine::Mfa::verify_recovery_code`], recorded.
pub(super) async fn verify_recovery_code(
    app: &App,
    user_id: &str,
    code: &str,
    now: u64,
) -> Result<RecoveryVerified, EngineError> {
    let verified = app
        .mfa
        .verify_recovery_code(user_id, code, rand::rng(), now)
        .await;
    match &verified {
        Ok(_) => record(Outcome::RecoveryAccepted),
        Err(MfaError::InvalidRecoveryCode) => record(Outcome::RecoveryInvalid),
        Err(MfaError::TooManyAttempts(_)) => record(Outcome::RecoveryThrottled),
        Err(_) => {}
    }
    verified
}
