//! The flow's errors: [`MfaError`], which every operation of
//! [`Mfa`](super::Mfa) returns, with the OAuth `error` code,
//! `error_description`, HTTP status and `Retry-After` a server sends; and
//! for [`Mfa::verify_otp_explained`](super::Mfa::verify_otp_explained)(super::Mfa::verify_otp_explained),
//! [`OtpRefused`] with its [`InvalidOtpReason`], for the server's own logs.
//! Not here: the errors of the primitives, which live next to their
//! operations (`SecretError` with secrets, `UriError` with URIs, …).

use core::fmt;

use crate::policy::LockedOut;
use crate::uri::UriError;

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

/// Why an OTP was refused as [`MfaError::InvalidOtp`]
/// ([`Mfa::verify_otp_explained`](super::Mfa::verify_otp_explained)): for the server's logs and metrics,
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

/// A refusal of [`Mfa::verify_otp_explained`](super::Mfa::verify_otp_explained): the error to answer with,
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
