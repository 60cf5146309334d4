//! What the flow's operations return on success: [`Association`]
//! (enrollment), [`ChallengeType`], [`OtpVerified`], [`RecoveryVerified`],
//! [`AuthenticatorInfo`] (the list), and [`PreparedRecovery`], the
//! randomness a recovery-code verification draws up front. Types that carry
//! a secret or a code write their own `Debug`, which leaves it out.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use zeroize::Zeroizing;

use crate::recovery::{RecoveryCode, RecoveryHash};
use crate::store::{AuthenticatorId, AuthenticatorKind};

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
}

/// A successful recovery-code verification.
#[derive(Debug)]
pub struct RecoveryVerified {
    /// The recovery authenticator.
    pub authenticator_id: AuthenticatorId,
    /// Under [`RecoveryPolicy::Rotating`](super::RecoveryPolicy::Rotating), the code that replaces the one
    /// just used: show it once.
    pub new_code: Option<RecoveryCode>,
    /// Unused codes left (set policy; 1 under the rotating policy).
    pub remaining: usize,
}

/// Randomness drawn ahead of a recovery-code verification
/// ([`Mfa::prepare_recovery`](super::Mfa::prepare_recovery)). Holds the would-be replacement code, which is
/// wiped on drop if unused.
pub struct PreparedRecovery {
    pub(super) replacement: Option<(RecoveryCode, RecoveryHash)>,
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
