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
//!
//! And for a recovery code:
//! 1. the user has an active recovery authenticator (else
//!    `unsupported_challenge_type`, [`MfaError::NoRecoveryCode`]);
//! 2. the text normalizes under the recovery format (else `invalid_grant`,
//!    [`MfaError::InvalidRecoveryCode`], nothing stored);
//! 3. the throttle bucket has an attempt left (else `too_many_attempts`,
//!    before any hash is compared);
//! 4. the constant-time lookup among the snapshot's unused hashes;
//! 5. **one** compare-and-set conditioned on the snapshot's slots and
//!    bucket: a code not found charges the bucket (`invalid_grant`); a
//!    found one is consumed (or, under the rotating policy, replaced by a
//!    fresh code) and the bucket emptied in the same write
//!    ([`MfaStore::accept_recovery_code`]). A lost write reloads and checks
//!    again, as for an OTP: a code consumed meanwhile is then not found;
//!    no answer comes from a stale snapshot.
//!
//! This module holds the flow, [`Mfa`]; its configuration is in `config`,
//! what its operations return in `outcome`, and its errors in `error`. All
//! of them are re-exported at the crate root.

use alloc::vec::Vec;
use core::future::Future;

use rand_core::CryptoRng;

use crate::code::SubmittedCode;
use crate::params::Window;
use crate::policy::Attempts;
use crate::recovery::{RecoveryCode, RecoveryHash};
use crate::scan::Refusal;
use crate::secret::Secret;
use crate::store::{
    AuthenticatorId, AuthenticatorKind, Enrolled, MfaStore, OtpAuthenticator, OtpProgress,
    RecoveryAuthenticator,
};
use crate::totp::Totp;
use crate::uri::KeyUri;

mod config;
mod error;
mod outcome;

pub use config::{MfaConfig, RecoveryPolicy};
pub use error::{InvalidOtpReason, MfaError, OtpRefused};
pub use outcome::{
    Association, AuthenticatorInfo, ChallengeType, OtpVerified, PreparedRecovery, RecoveryVerified,
};

/// How many times a verification re-reads and checks again after losing
/// its compare-and-set to a concurrent request.
const MAX_RETRIES: usize = 16;

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
        let otp = self.store.load_otp(user).await.map_err(MfaError::Storage)?;
        Ok(otp.is_some_and(|o| o.progress.active))
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
            let auth = self
                .store
                .load_otp(user)
                .await
                .map_err(MfaError::Storage)?
                .ok_or(MfaError::NotEnrolled)?;
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
                // Refused before any hash is compared when the bucket is empty.
                let charged = self
                    .config
                    .throttle
                    .charge(rec.attempts, now)
                    .map_err(MfaError::TooManyAttempts)?;
                let (slot_of, hashes): (Vec<usize>, Vec<RecoveryHash>) = rec
                    .slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, h)| h.map(|h| (i, h)))
                    .unzip();
                // As for an OTP, the lookup runs on the snapshot and its
                // answer is given only once one write conditioned on that
                // snapshot (its slots and its bucket) has landed.
                let found = self
                    .config
                    .hasher
                    .find(&normalized, &hashes)
                    .and_then(|i| slot_of.get(i).copied());
                let Some(slot) = found else {
                    // One write: the conditional charge of the bucket.
                    if self
                        .store
                        .update_attempts(user, &rec.id, rec.attempts, charged)
                        .await
                        .map_err(MfaError::Storage)?
                    {
                        return Err(MfaError::InvalidRecoveryCode);
                    }
                    continue;
                };
                // One write: the slot is consumed (or takes the replacement)
                // and the bucket empties, only if neither the slots nor the
                // bucket moved since the snapshot.
                if self
                    .store
                    .accept_recovery_code(
                        user,
                        &rec.id,
                        &rec.slots,
                        rec.attempts,
                        slot,
                        replacement.as_ref().map(|r| r.1),
                    )
                    .await
                    .map_err(MfaError::Storage)?
                {
                    let remaining = match replacement {
                        Some(_) => hashes.len(),
                        None => hashes.len().saturating_sub(1),
                    };
                    return Ok(RecoveryVerified {
                        authenticator_id: rec.id,
                        new_code: replacement.map(|r| r.0),
                        remaining,
                    });
                }
                // Another request consumed a code or charged the bucket in
                // between: check again on a fresh snapshot (this code, if
                // consumed meanwhile, is then no longer found).
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

    /// Removes one of the user's authenticators, and only that one:
    /// removing the OTP authenticator keeps the recovery codes (the
    /// [`MfaStore`] contract), so the user can still sign in with a recovery
    /// code and enroll a new device, whose association then returns no new
    /// codes. Remove both to start over.
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
