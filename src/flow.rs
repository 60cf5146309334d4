//! The MFA flow of Auth0's MFA API, over any [`MfaStore`]: associate
//! (enroll), confirm, challenge, verify an OTP, verify a recovery code, list
//! and remove authenticators.
//!
//! Each operation takes the time as an argument and, where it needs
//! randomness, a `CryptoRng` that is used up front: the returned future holds
//! no generator and is `Send` whenever the store is. Every error carries the
//! OAuth `error` code and `error_description` that a server puts on the wire
//! unchanged ([`MfaError::error_code`], [`MfaError::error_description`]).
//!
//! What is checked in which order, for an OTP:
//! 1. the user has an OTP authenticator (else `unsupported_challenge_type`);
//! 2. the text has the shape of a code (else `invalid_grant`, nothing stored);
//! 3. the throttle bucket has an attempt left (else `too_many_attempts`,
//!    before any code is checked);
//! 4. the constant-time window check with the replay rule, on the snapshot;
//! 5. **one** compare-and-set conditioned on the snapshot: a wrong code
//!    charges the bucket (`invalid_grant`); a right one advances the last
//!    accepted step and empties the bucket in the same write (which also
//!    confirms a pending enrollment). A request whose write loses to a
//!    concurrent one reloads and checks again: a code consumed meanwhile is
//!    then a replay; no answer comes from a stale snapshot.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::code::SubmittedCode;
use crate::error::Refusal;
use crate::params::Window;
use crate::policy::{Attempts, DriftTracking, LockedOut, ThrottlePolicy};
use crate::recovery::{RecoveryCode, RecoveryFormat, RecoveryHash, RecoveryHasher};
use crate::secret::Secret;
use crate::store::{
    AuthenticatorId, AuthenticatorKind, Enrolled, MfaStore, OtpAuthenticator, OtpProgress,
    RecoveryAuthenticator,
};
use crate::totp::{Totp, TotpParams};
use crate::uri::{KeyUri, UriError};

/// How many times an operation re-reads and retries after losing a
/// compare-and-set on the attempt bucket to a concurrent request.
const MAX_RETRIES: usize = 16;

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
    fn count(self) -> usize {
        match self {
            Self::Rotating => 1,
            Self::Set { count } => usize::from(count.clamp(1, 32)),
        }
    }
}

/// Configuration of the flow. Start from [`MfaConfig::new`].
#[derive(Debug, Clone)]
pub struct MfaConfig {
    issuer: String,
    totp: TotpParams,
    secret_len: usize,
    recovery_format: RecoveryFormat,
    recovery_policy: RecoveryPolicy,
    hasher: RecoveryHasher,
    throttle: ThrottlePolicy,
    drift: DriftTracking,
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

/// An error of the flow, with the OAuth code and description a server sends.
#[derive(Debug)]
#[non_exhaustive]
pub enum MfaError<E> {
    /// Associate: the user already has an active OTP authenticator.
    AlreadyEnrolled,
    /// OTP grant: the user has no OTP authenticator.
    NotEnrolled,
    /// Recovery grant: the user has no active recovery code.
    NoRecoveryCode,
    /// Challenge: the user has no active authenticator.
    AssociationRequired,
    /// Challenge: the client accepts none of the user's challenge types.
    UnsupportedChallengeType,
    /// Challenge: `authenticator_id` names none of the user's authenticators.
    UnknownAuthenticator,
    /// Remove: no such authenticator.
    AuthenticatorNotFound,
    /// A wrong, expired, replayed or malformed OTP; deliberately one variant.
    InvalidOtp,
    /// A wrong, used or malformed recovery code.
    InvalidRecoveryCode,
    /// The attempt bucket is empty.
    TooManyAttempts(LockedOut),
    /// The account label cannot be written into an otpauth URI.
    InvalidAccountLabel(UriError),
    /// Concurrent requests kept changing the state; retry.
    Contention,
    /// The store failed.
    Storage(E),
}

impl<E> MfaError<E> {
    /// The OAuth `error` code.
    #[must_use]
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::AlreadyEnrolled => "access_denied",
            Self::NotEnrolled | Self::NoRecoveryCode | Self::UnsupportedChallengeType => {
                "unsupported_challenge_type"
            }
            Self::AssociationRequired => "association_required",
            Self::UnknownAuthenticator | Self::InvalidAccountLabel(_) => "invalid_request",
            Self::AuthenticatorNotFound => "not_found",
            Self::InvalidOtp | Self::InvalidRecoveryCode => "invalid_grant",
            Self::TooManyAttempts(_) => "too_many_attempts",
            Self::Contention | Self::Storage(_) => "temporarily_unavailable",
        }
    }

    /// The HTTP status of this error on Auth0's API: 403 for
    /// [`AlreadyEnrolled`](Self::AlreadyEnrolled), 404 for
    /// [`AuthenticatorNotFound`](Self::AuthenticatorNotFound), 429 for
    /// [`TooManyAttempts`](Self::TooManyAttempts), 503 for
    /// [`Contention`](Self::Contention) and [`Storage`](Self::Storage)
    /// (nothing was decided: the client may retry; send
    /// [`retry_after`](Self::retry_after) as `Retry-After`), 400 otherwise.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Self::AlreadyEnrolled => 403,
            Self::AuthenticatorNotFound => 404,
            Self::TooManyAttempts(_) => 429,
            Self::Contention | Self::Storage(_) => 503,
            Self::NotEnrolled
            | Self::NoRecoveryCode
            | Self::AssociationRequired
            | Self::UnsupportedChallengeType
            | Self::UnknownAuthenticator
            | Self::InvalidOtp
            | Self::InvalidRecoveryCode
            | Self::InvalidAccountLabel(_) => 400,
        }
    }

    /// Seconds the client should wait before retrying, for the
    /// `Retry-After` header: until the next attempt for
    /// [`TooManyAttempts`](Self::TooManyAttempts), 1 for
    /// [`Contention`](Self::Contention) and [`Storage`](Self::Storage),
    /// `None` for errors a retry does not fix.
    #[must_use]
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyAttempts(locked) => Some(locked.retry_after()),
            Self::Contention | Self::Storage(_) => Some(1),
            _ => None,
        }
    }

    /// The OAuth `error_description`.
    #[must_use]
    pub fn error_description(&self) -> &'static str {
        match self {
            Self::AlreadyEnrolled => "User is already enrolled.",
            Self::NotEnrolled => {
                "User is not enrolled. You can use /mfa/associate endpoint to enroll the first authenticator."
            }
            Self::NoRecoveryCode => "User does not have a recovery-code.",
            Self::AssociationRequired => {
                "User is not enrolled. Use /mfa/associate to enroll an authenticator first."
            }
            Self::UnsupportedChallengeType => {
                "None of the challenge types the client accepts is enrolled for this user."
            }
            Self::UnknownAuthenticator => {
                "authenticator_id does not name an authenticator of this user."
            }
            Self::AuthenticatorNotFound => "Authenticator not found.",
            Self::InvalidOtp => "Invalid otp_code.",
            Self::InvalidRecoveryCode => "Invalid recovery_code.",
            Self::TooManyAttempts(_) => "Too many failed attempts. Wait and try again later.",
            Self::InvalidAccountLabel(_) => "The account name cannot be used in an otpauth URI.",
            Self::Contention => "The request conflicted with concurrent requests. Try again.",
            Self::Storage(_) => "The service is temporarily unavailable. Try again.",
        }
    }
}

impl<E> fmt::Display for MfaError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_code(), self.error_description())
    }
}

impl<E: core::error::Error + 'static> core::error::Error for MfaError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Storage(e) => Some(e),
            Self::TooManyAttempts(e) => Some(e),
            Self::InvalidAccountLabel(e) => Some(e),
            _ => None,
        }
    }
}

/// What `associate` returns: show it to the user once.
pub struct Association {
    /// The new (inactive) OTP authenticator.
    pub authenticator_id: AuthenticatorId,
    /// The secret in base32, for manual entry. Wiped on drop.
    pub secret: Zeroizing<String>,
    /// The `otpauth://` URI for the QR code. Wiped on drop.
    pub barcode_uri: Zeroizing<String>,
    /// Recovery codes, on the user's first association only (empty otherwise).
    pub recovery_codes: Vec<RecoveryCode>,
}

impl fmt::Debug for Association {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Association")
            .field("authenticator_id", &self.authenticator_id)
            .field("recovery_codes", &self.recovery_codes.len())
            .finish_non_exhaustive()
    }
}

/// A challenge type the flow can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeType {
    /// One-time password: the user types a code from the app.
    Otp,
}

impl ChallengeType {
    /// The wire name: `otp`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Otp => "otp",
        }
    }
}

/// A successful OTP verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpVerified {
    /// The authenticator that matched.
    pub authenticator_id: AuthenticatorId,
    /// The time step now recorded as used.
    pub step: u64,
    /// Whether this verification confirmed a pending enrollment.
    pub confirmed_enrollment: bool,
    /// Whether the attempt bucket was emptied. Always `true` for an OTP:
    /// the step advance and the bucket's reset are one write
    /// ([`MfaStore::accept_otp`]), so a consumed code never leaves a
    /// charged bucket behind. (Kept for the recovery-code path, where
    /// [`RecoveryVerified::attempts_reset`] can be `false`.)
    pub attempts_reset: bool,
}

/// Why an OTP was refused as [`MfaError::InvalidOtp`]
/// ([`Mfa::verify_otp_explained`]): for the server's logs and metrics,
/// never for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidOtpReason {
    /// The text is not a code of the configured length.
    Malformed,
    /// The code matches no step of the window.
    NoMatch,
    /// The code matches only steps already used (or a concurrent request
    /// used its step first).
    Replayed,
}

/// A refusal of [`Mfa::verify_otp_explained`]: the error to answer with,
/// and for [`MfaError::InvalidOtp`] the reason (`None` for other errors).
#[derive(Debug)]
pub struct OtpRefused<E> {
    /// The error the client gets.
    pub error: MfaError<E>,
    /// Why the code was invalid, for the server's own records.
    pub reason: Option<InvalidOtpReason>,
}

impl<E> From<MfaError<E>> for OtpRefused<E> {
    fn from(error: MfaError<E>) -> Self {
        Self {
            error,
            reason: None,
        }
    }
}

/// A successful recovery-code verification.
#[derive(Debug)]
pub struct RecoveryVerified {
    /// The recovery authenticator.
    pub authenticator_id: AuthenticatorId,
    /// Under [`RecoveryPolicy::Rotating`], the code that replaces the one
    /// just used: show it once.
    pub new_code: Option<RecoveryCode>,
    /// Unused codes left (set policy; 1 under the rotating policy).
    pub remaining: usize,
    /// Whether the attempt bucket was emptied afterwards. `false` means the
    /// store failed (or kept changing) *after* the code was consumed: the
    /// success stands, since the code is used up and a retry would be a
    /// replay, but the bucket keeps this attempt's charge. Log it.
    pub attempts_reset: bool,
}

/// Randomness drawn ahead of a recovery-code verification
/// ([`Mfa::prepare_recovery`]). Holds the would-be replacement code, which is
/// wiped on drop if unused.
pub struct PreparedRecovery {
    replacement: Option<(RecoveryCode, RecoveryHash)>,
}

impl fmt::Debug for PreparedRecovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedRecovery").finish_non_exhaustive()
    }
}

/// One entry of the authenticator list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorInfo {
    /// Its id.
    pub id: AuthenticatorId,
    /// Its kind; [`AuthenticatorKind::authenticator_type`] gives the wire name.
    pub kind: AuthenticatorKind,
    /// Whether it is confirmed.
    pub active: bool,
}

/// The flow over a store.
///
/// ```
/// # #[cfg(feature = "std")] {
/// use totp_engine::{MemoryStore, Mfa, MfaConfig, Totp};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mfa = Mfa::new(MemoryStore::new(), MfaConfig::new("ACME")?);
/// let now = 1_700_000_000;
///
/// // Enroll: show the URI as a QR code and the recovery code once. The
/// // generator goes in by value (or as `&mut rng`); the returned future
/// // holds none, so a handler awaiting it stays `Send`.
/// let association = mfa.associate("user-1", "jane@example.com", rand::rng(), now).await?;
/// assert!(association.barcode_uri.starts_with("otpauth://totp/ACME:jane%40example.com?"));
/// assert_eq!(association.recovery_codes.len(), 1);
///
/// // The user's app computes a code; the first one confirms the enrollment.
/// let uri = totp_engine::ParsedKeyUri::parse(&association.barcode_uri)?;
/// let code = Totp::new(uri.secret(), uri.totp_params()).generate(now)?;
/// let ok = mfa.verify_otp("user-1", code.as_str(), now).await?;
/// assert!(ok.confirmed_enrollment);
///
/// // The same code again is refused with Auth0's error.
/// let err = mfa.verify_otp("user-1", code.as_str(), now).await.unwrap_err();
/// assert_eq!((err.error_code(), err.error_description()), ("invalid_grant", "Invalid otp_code."));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct Mfa<S> {
    store: S,
    config: MfaConfig,
}

type Result2<T, S> = Result<T, MfaError<<S as MfaStore>::Error>>;

impl<S: MfaStore> Mfa<S> {
    /// The flow over `store` with `config`.
    pub fn new(store: S, config: MfaConfig) -> Self {
        Self { store, config }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &MfaConfig {
        &self.config
    }

    fn window(&self) -> Window {
        self.config.totp.window()
    }

    fn new_recovery_codes<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> (Vec<RecoveryCode>, Vec<Option<RecoveryHash>>) {
        let format = &self.config.recovery_format;
        let mut codes = Vec::new();
        let mut slots = Vec::new();
        for _ in 0..self.config.recovery_policy.count() {
            let code = format.generate(rng);
            // A generated code always normalizes under its own format.
            if let Ok(normalized) = format.normalize(code.as_str()) {
                slots.push(Some(self.config.hasher.hash(&normalized, rng)));
                codes.push(code);
            }
        }
        (codes, slots)
    }

    /// Whether the user has a confirmed OTP authenticator (a server answers
    /// `mfa_required` with `challenge` if so, `enroll` otherwise).
    ///
    /// # Errors
    ///
    /// [`MfaError::Storage`].
    pub async fn is_enrolled(&self, user: &str) -> Result2<bool, S> {
        let auths = self.store.load(user).await.map_err(MfaError::Storage)?;
        Ok(auths.otp.is_some_and(|o| o.progress.active))
    }

    /// Enrolls a new OTP authenticator for `user`, labelled `account` in the
    /// app. It stays inactive until a first valid code confirms it
    /// ([`Mfa::verify_otp`]); a pending enrollment is replaced by a new one.
    /// Recovery codes are returned only when the user has no active recovery
    /// code (their first association).
    ///
    /// # Errors
    ///
    /// [`MfaError::AlreadyEnrolled`] if the user has an active OTP
    /// authenticator, [`MfaError::InvalidAccountLabel`], [`MfaError::Storage`].
    pub fn associate<'a, R: CryptoRng>(
        &'a self,
        user: &'a str,
        account: &'a str,
        mut rng: R,
        now: u64,
    ) -> impl Future<Output = Result2<Association, S>> + Send + 'a {
        // All randomness is drawn here, before the future, which holds none.
        // `secret_len` is clamped to the valid range, so this never falls back.
        let secret = Secret::generate_boxed(&mut rng, self.config.secret_len)
            .unwrap_or_else(|_| alloc::boxed::Box::new(Secret::generate(&mut rng)));
        let otp_id = AuthenticatorId::generate(AuthenticatorKind::Otp, &mut rng);
        let recovery_id = AuthenticatorId::generate(AuthenticatorKind::RecoveryCode, &mut rng);
        let (codes, slots) = self.new_recovery_codes(&mut rng);
        async move {
            let uri = KeyUri::totp(&secret, &self.config.totp, account)
                .and_then(|u| u.with_issuer(&self.config.issuer))
                .map_err(MfaError::InvalidAccountLabel)?
                .to_uri_string();
            let secret_text = secret.to_base32();
            let otp = OtpAuthenticator {
                id: otp_id.clone(),
                secret,
                params: self.config.totp,
                progress: OtpProgress::default(),
                attempts: Attempts::default(),
                created_at: now,
            };
            let recovery = RecoveryAuthenticator {
                id: recovery_id,
                active: false,
                slots,
                attempts: Attempts::default(),
                created_at: now,
            };
            match self
                .store
                .enroll(user, otp, Some(recovery))
                .await
                .map_err(MfaError::Storage)?
            {
                Enrolled::AlreadyEnrolled => Err(MfaError::AlreadyEnrolled),
                Enrolled::Created { recovery_stored } => Ok(Association {
                    authenticator_id: otp_id,
                    secret: secret_text,
                    barcode_uri: uri,
                    recovery_codes: if recovery_stored { codes } else { Vec::new() },
                }),
            }
        }
    }

    /// Answers a challenge request: `accepted` is the client's
    /// whitespace-separated list of challenge types (`None` or empty: any),
    /// `authenticator_id` optionally names the authenticator to challenge.
    ///
    /// # Errors
    ///
    /// [`MfaError::AssociationRequired`] if the user has no active OTP
    /// authenticator, [`MfaError::UnsupportedChallengeType`] if the client
    /// accepts none of the user's types (or names the recovery-code
    /// authenticator, which cannot be challenged),
    /// [`MfaError::UnknownAuthenticator`], [`MfaError::Storage`].
    pub async fn challenge(
        &self,
        user: &str,
        accepted: Option<&str>,
        authenticator_id: Option<&str>,
    ) -> Result2<ChallengeType, S> {
        let auths = self.store.load(user).await.map_err(MfaError::Storage)?;
        let accepts_otp = match accepted.map(str::trim) {
            None | Some("") => true,
            Some(list) => list.split_ascii_whitespace().any(|t| t == "otp"),
        };
        if let Some(text) = authenticator_id {
            let id = AuthenticatorId::parse(text).ok_or(MfaError::UnknownAuthenticator)?;
            let is_otp = auths.otp.as_ref().is_some_and(|o| o.id == id);
            let is_recovery = auths.recovery.as_ref().is_some_and(|r| r.id == id);
            if is_recovery {
                return Err(MfaError::UnsupportedChallengeType);
            }
            if !is_otp {
                return Err(MfaError::UnknownAuthenticator);
            }
        }
        if !auths.otp.as_ref().is_some_and(|o| o.progress.active) {
            return Err(MfaError::AssociationRequired);
        }
        if accepts_otp {
            Ok(ChallengeType::Otp)
        } else {
            Err(MfaError::UnsupportedChallengeType)
        }
    }

    /// Verifies an OTP for `user` at `now` (the `mfa-otp` grant). The first
    /// success confirms a pending enrollment.
    ///
    /// # Errors
    ///
    /// [`MfaError::NotEnrolled`], [`MfaError::TooManyAttempts`] (checked
    /// before the code), [`MfaError::InvalidOtp`] for a wrong, expired,
    /// replayed or malformed code (a malformed one changes no state),
    /// [`MfaError::Contention`], [`MfaError::Storage`].
    pub async fn verify_otp(&self, user: &str, otp: &str, now: u64) -> Result2<OtpVerified, S> {
        self.verify_otp_explained(user, otp, now)
            .await
            .map_err(|refused| refused.error)
    }

    /// As [`Mfa::verify_otp`], and a refusal as [`MfaError::InvalidOtp`]
    /// also says why ([`InvalidOtpReason`]): for the server's own logs and
    /// metrics only. The client must get the same answer for every reason
    /// (a replay tells an attacker that the code was valid once). Finding
    /// the reason costs nothing: the window check computes it anyway, in
    /// constant time.
    ///
    /// # Errors
    ///
    /// As [`Mfa::verify_otp`], in [`OtpRefused::error`].
    pub async fn verify_otp_explained(
        &self,
        user: &str,
        otp: &str,
        now: u64,
    ) -> Result<OtpVerified, OtpRefused<S::Error>> {
        let invalid = |reason| OtpRefused {
            error: MfaError::InvalidOtp,
            reason: Some(reason),
        };
        for _ in 0..MAX_RETRIES {
            let auths = self.store.load(user).await.map_err(MfaError::Storage)?;
            let auth = auths.otp.ok_or(MfaError::NotEnrolled)?;
            let submitted = SubmittedCode::parse(otp, auth.params.digits())
                .map_err(|_| invalid(InvalidOtpReason::Malformed))?;
            // Refused before the code is looked at when the bucket is empty.
            let charged = self
                .config
                .throttle
                .charge(auth.attempts, now)
                .map_err(MfaError::TooManyAttempts)?;
            let totp = Totp::new(&auth.secret, auth.params.with_window(self.window()));
            let drift = self.config.drift.centre(auth.progress.drift);
            // The check runs on the snapshot; its answer is given only once
            // one write conditioned on that snapshot's bucket has landed, so
            // every answer spends one attempt of the bucket it saw (or, for
            // a right code, empties it) and the throttle's bound is exact.
            match totp.verify_code(&submitted, now, auth.progress.last_step, drift) {
                Ok(verified) => {
                    let next = OtpProgress {
                        last_step: Some(verified.step()),
                        drift: self.config.drift.after(&verified),
                        active: true,
                    };
                    // One write: the step advances and the bucket empties,
                    // only if neither moved since the snapshot.
                    if self
                        .store
                        .accept_otp(user, &auth.id, auth.progress, auth.attempts, next)
                        .await
                        .map_err(MfaError::Storage)?
                    {
                        return Ok(OtpVerified {
                            authenticator_id: auth.id,
                            step: verified.step(),
                            confirmed_enrollment: !auth.progress.active,
                            attempts_reset: true,
                        });
                    }
                    // Another request accepted a code or charged the bucket
                    // in between: check again on a fresh snapshot (a code
                    // consumed meanwhile is then a replay).
                }
                Err(refusal) => {
                    let reason = match refusal {
                        Refusal::Replayed => InvalidOtpReason::Replayed,
                        Refusal::Malformed(_) => InvalidOtpReason::Malformed,
                        _ => InvalidOtpReason::NoMatch,
                    };
                    // One write: the conditional charge of the bucket.
                    if self
                        .store
                        .update_attempts(user, &auth.id, auth.attempts, charged)
                        .await
                        .map_err(MfaError::Storage)?
                    {
                        return Err(invalid(reason));
                    }
                }
            }
        }
        Err(MfaError::Contention.into())
    }

    /// A success empties the bucket, including attempts charged by
    /// concurrent requests since this one was charged ("a success resets
    /// the count"). Bounded: if the bucket keeps moving, or the store fails,
    /// the success stands and the bucket keeps what it has; returns whether
    /// the bucket is empty (or gone).
    async fn reset_attempts(&self, user: &str, id: &AuthenticatorId, charged: Attempts) -> bool {
        let mut expected = charged;
        for _ in 0..MAX_RETRIES {
            match self
                .store
                .update_attempts(user, id, expected, Attempts::default())
                .await
            {
                Ok(true) => return true,
                Ok(false) => {}
                Err(_) => return false,
            }
            let Ok(auths) = self.store.load(user).await else {
                return false;
            };
            let current = match id.kind() {
                AuthenticatorKind::Otp => auths.otp.filter(|o| &o.id == id).map(|o| o.attempts),
                AuthenticatorKind::RecoveryCode => {
                    auths.recovery.filter(|r| &r.id == id).map(|r| r.attempts)
                }
            };
            match current {
                Some(current) if current != Attempts::default() => expected = current,
                _ => return true,
            }
        }
        false
    }

    /// Verifies a recovery code (the `mfa-recovery-code` grant) and consumes
    /// it atomically. Under the rotating policy the code is replaced by a
    /// fresh one, returned in [`RecoveryVerified::new_code`].
    ///
    /// # Errors
    ///
    /// [`MfaError::NoRecoveryCode`], [`MfaError::TooManyAttempts`],
    /// [`MfaError::InvalidRecoveryCode`] for a wrong, used or malformed code,
    /// [`MfaError::Contention`], [`MfaError::Storage`].
    pub fn verify_recovery_code<'a, R: CryptoRng>(
        &'a self,
        user: &'a str,
        code: &'a str,
        mut rng: R,
        now: u64,
    ) -> impl Future<Output = Result2<RecoveryVerified, S>> + Send + 'a {
        let prepared = self.prepare_recovery(&mut rng);
        self.verify_recovery_code_prepared(user, code, prepared, now)
    }

    /// Draws the randomness a recovery-code verification needs (the
    /// replacement code under the rotating policy), so that the verification
    /// itself can run where no generator is at hand, e.g. in a spawned task.
    pub fn prepare_recovery<R: CryptoRng>(&self, mut rng: R) -> PreparedRecovery {
        let replacement = match self.config.recovery_policy {
            RecoveryPolicy::Rotating => {
                let (mut codes, mut slots) = self.new_recovery_codes(&mut rng);
                codes.pop().zip(slots.pop().flatten())
            }
            RecoveryPolicy::Set { .. } => None,
        };
        PreparedRecovery { replacement }
    }

    /// [`Mfa::verify_recovery_code`] with randomness drawn beforehand by
    /// [`Mfa::prepare_recovery`].
    ///
    /// # Errors
    ///
    /// As [`Mfa::verify_recovery_code`].
    pub fn verify_recovery_code_prepared<'a>(
        &'a self,
        user: &'a str,
        code: &'a str,
        prepared: PreparedRecovery,
        now: u64,
    ) -> impl Future<Output = Result2<RecoveryVerified, S>> + Send + 'a {
        let replacement = prepared.replacement;
        async move {
            for _ in 0..MAX_RETRIES {
                let auths = self.store.load(user).await.map_err(MfaError::Storage)?;
                let rec = auths
                    .recovery
                    .filter(|r| r.active)
                    .ok_or(MfaError::NoRecoveryCode)?;
                let normalized = self
                    .config
                    .recovery_format
                    .normalize(code)
                    .map_err(|_| MfaError::InvalidRecoveryCode)?;
                let charged = self
                    .config
                    .throttle
                    .charge(rec.attempts, now)
                    .map_err(MfaError::TooManyAttempts)?;
                if !self
                    .store
                    .update_attempts(user, &rec.id, rec.attempts, charged)
                    .await
                    .map_err(MfaError::Storage)?
                {
                    continue;
                }
                let (slot_of, hashes): (Vec<usize>, Vec<RecoveryHash>) = rec
                    .slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, h)| h.map(|h| (i, h)))
                    .unzip();
                let found = self.config.hasher.find(&normalized, &hashes);
                let (slot, expected) = found
                    .and_then(|i| Some((*slot_of.get(i)?, *hashes.get(i)?)))
                    .ok_or(MfaError::InvalidRecoveryCode)?;
                let consumed = self
                    .store
                    .consume_recovery_code(
                        user,
                        &rec.id,
                        slot,
                        expected,
                        replacement.as_ref().map(|r| r.1),
                    )
                    .await
                    .map_err(MfaError::Storage)?;
                if !consumed {
                    return Err(MfaError::InvalidRecoveryCode);
                }
                // The code is consumed and its replacement stored: from here
                // on the success stands.
                let attempts_reset = self.reset_attempts(user, &rec.id, charged).await;
                let remaining = match replacement {
                    Some(_) => hashes.len(),
                    None => hashes.len().saturating_sub(1),
                };
                return Ok(RecoveryVerified {
                    authenticator_id: rec.id,
                    new_code: replacement.map(|r| r.0),
                    remaining,
                    attempts_reset,
                });
            }
            Err(MfaError::Contention)
        }
    }

    /// Replaces the user's recovery codes with a fresh set, returned to be
    /// shown once.
    ///
    /// # Errors
    ///
    /// [`MfaError::NoRecoveryCode`] if the user has no active recovery
    /// authenticator, [`MfaError::Storage`].
    pub fn regenerate_recovery_codes<'a, R: CryptoRng>(
        &'a self,
        user: &'a str,
        mut rng: R,
    ) -> impl Future<Output = Result2<Vec<RecoveryCode>, S>> + Send + 'a {
        let (codes, slots) = self.new_recovery_codes(&mut rng);
        async move {
            let auths = self.store.load(user).await.map_err(MfaError::Storage)?;
            let rec = auths
                .recovery
                .filter(|r| r.active)
                .ok_or(MfaError::NoRecoveryCode)?;
            if self
                .store
                .replace_recovery_codes(user, &rec.id, slots)
                .await
                .map_err(MfaError::Storage)?
            {
                Ok(codes)
            } else {
                Err(MfaError::NoRecoveryCode)
            }
        }
    }

    /// The user's authenticators in Auth0's order (recovery code first).
    ///
    /// # Errors
    ///
    /// [`MfaError::Storage`].
    pub async fn list_authenticators(&self, user: &str) -> Result2<Vec<AuthenticatorInfo>, S> {
        let auths = self.store.load(user).await.map_err(MfaError::Storage)?;
        let mut list = Vec::with_capacity(2);
        if let Some(r) = auths.recovery {
            list.push(AuthenticatorInfo {
                id: r.id,
                kind: AuthenticatorKind::RecoveryCode,
                active: r.active,
            });
        }
        if let Some(o) = auths.otp {
            list.push(AuthenticatorInfo {
                id: o.id,
                kind: AuthenticatorKind::Otp,
                active: o.progress.active,
            });
        }
        Ok(list)
    }

    /// Removes one of the user's authenticators.
    ///
    /// # Errors
    ///
    /// [`MfaError::AuthenticatorNotFound`] if `id` names none of the user's
    /// authenticators, [`MfaError::Storage`].
    pub async fn remove_authenticator(&self, user: &str, id: &str) -> Result2<(), S> {
        let id = AuthenticatorId::parse(id).ok_or(MfaError::AuthenticatorNotFound)?;
        if self
            .store
            .remove(user, &id)
            .await
            .map_err(MfaError::Storage)?
        {
            Ok(())
        } else {
            Err(MfaError::AuthenticatorNotFound)
        }
    }
}
