//! The flow's configuration: [`MfaConfig`] (issuer, TOTP parameters,
//! secret length, recovery codes, throttling, drift tracking) and
//! [`RecoveryPolicy`]. Built once at start-up; the flow reads it on every
//! call. Not here: the flow itself (`flow`), what it returns (`outcome`)
//! and its errors (`error`).

use alloc::string::String;

use crate::policy::{DriftTracking, ThrottlePolicy};
use crate::recovery::{RecoveryFormat, RecoveryHasher};
use crate::secret::Secret;
use crate::totp::TotpParams;
use crate::uri::UriError;

/// How recovery codes are issued and replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryPolicy {
    /// Auth0's: one code; every use replaces it with a fresh one, which the
    /// flow returns so it can be shown once.
    #[default]
    Rotating,
    /// A set of `count` codes (1 to 32), each usable once; regenerate on demand.
    Set {
        /// Codes in a set.
        count: u8,
    },
}

impl RecoveryPolicy {
    /// Codes issued at once: 1 for the rotating policy, `count` clamped
    /// to 1..=32 for a set.
    pub(super) fn count(self) -> usize {
        match self {
            Self::Rotating => 1,
            Self::Set { count } => usize::from(count.clamp(1, 32)),
        }
    }
}

/// Configuration of the flow. Start from [`MfaConfig::new`].
#[derive(Debug, Clone)]
pub struct MfaConfig {
    pub(super) issuer: String,
    pub(super) totp: TotpParams,
    pub(super) secret_len: usize,
    pub(super) recovery_format: RecoveryFormat,
    pub(super) recovery_policy: RecoveryPolicy,
    pub(super) hasher: RecoveryHasher,
    pub(super) throttle: ThrottlePolicy,
    pub(super) drift: DriftTracking,
}

impl MfaConfig {
    /// Defaults: TOTP SHA-1, 6 digits, 30 s, window ±1; 20-byte secrets;
    /// Auth0 recovery codes (one rotating 24-character code, salted
    /// SHA-256); Auth0 throttling (10 attempts, one more every 6 minutes);
    /// no drift tracking. `issuer` names the service in authenticator apps.
    ///
    /// # Errors
    ///
    /// [`UriError`] if `issuer` cannot be written in an otpauth label (it
    /// contains `:`, is empty or is longer than 256 bytes).
    pub fn new(issuer: impl Into<String>) -> Result<Self, UriError> {
        let issuer = issuer.into();
        crate::uri::check_label_part(&issuer, "issuer")?;
        Ok(Self {
            issuer,
            totp: TotpParams::default(),
            secret_len: Secret::DEFAULT_LEN,
            recovery_format: RecoveryFormat::default(),
            recovery_policy: RecoveryPolicy::default(),
            hasher: RecoveryHasher::new(),
            throttle: ThrottlePolicy::default(),
            drift: DriftTracking::Off,
        })
    }

    /// TOTP parameters for new enrollments; their window is used for every
    /// verification.
    #[must_use]
    pub fn with_totp(mut self, params: TotpParams) -> Self {
        self.totp = params;
        self
    }

    /// Secret length for new enrollments, in bytes (16 to 128; clamped).
    #[must_use]
    pub fn with_secret_len(mut self, len: usize) -> Self {
        self.secret_len = len.clamp(Secret::MIN_LEN, Secret::MAX_LEN);
        self
    }

    /// Recovery-code format and policy.
    #[must_use]
    pub fn with_recovery(mut self, format: RecoveryFormat, policy: RecoveryPolicy) -> Self {
        self.recovery_format = format;
        self.recovery_policy = policy;
        self
    }

    /// Hash recovery codes with HMAC-SHA-256 under a server pepper.
    #[must_use]
    pub fn with_recovery_pepper(mut self, pepper: &[u8]) -> Self {
        self.hasher = RecoveryHasher::with_pepper(pepper);
        self
    }

    /// Throttling of failed attempts.
    #[must_use]
    pub fn with_throttle(mut self, throttle: ThrottlePolicy) -> Self {
        self.throttle = throttle;
        self
    }

    /// Clock-drift tracking.
    #[must_use]
    pub fn with_drift_tracking(mut self, drift: DriftTracking) -> Self {
        self.drift = drift;
        self
    }

    /// The issuer.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The TOTP parameters.
    #[must_use]
    pub fn totp(&self) -> &TotpParams {
        &self.totp
    }

    /// The throttle policy.
    #[must_use]
    pub fn throttle(&self) -> &ThrottlePolicy {
        &self.throttle
    }

    /// The recovery-code format.
    #[must_use]
    pub fn recovery_format(&self) -> &RecoveryFormat {
        &self.recovery_format
    }
}
