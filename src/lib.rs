#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

// Primitives: `core` only, no heap.
mod code;
mod hotp;
mod mac;
mod params;
#[cfg(feature = "sha2")]
mod recovery;
mod scan;
#[cfg(feature = "seal")]
mod seal;
mod secret;
#[cfg(feature = "sha2")]
mod slots;
mod totp;
mod uri;

// Policy: `core` only.
mod clock;
mod policy;
#[cfg(feature = "serde")]
mod serde_impls;
#[cfg(feature = "serde")]
pub use serde_impls::WithSecret;

// Flow: `alloc`.
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "flow")]
mod flow;
#[cfg(all(feature = "flow", feature = "std"))]
mod memory;
#[cfg(feature = "flow")]
mod store;

pub use code::{Code, MalformedCode, SubmittedCode};
pub use hotp::{Hotp, HotpMatch, HotpParams};
pub use params::{Algorithm, Digits, Drift, LookAhead, ParamError, Period, Window};
pub use scan::Refusal;
pub use secret::{MAX_BASE32_LEN, Secret, SecretError};
pub use totp::BeforeT0;
pub use totp::{Totp, TotpParams, Verified};
pub use uri::{KeyUri, MAX_TEXT_LEN, MAX_URI_LEN, OtpKind, ParsedKeyUri, UriError};

#[cfg(feature = "sha2")]
pub use recovery::{
    Alphabet, InvalidRecoveryHash, MAX_RECOVERY_CODE_LEN, MIN_ENTROPY_BITS, MalformedRecoveryCode,
    NormalizedRecoveryCode, RECOVERY_HASH_LEN, RecoveryCode, RecoveryFormat, RecoveryFormatError,
    RecoveryHash, RecoveryHasher,
};
#[cfg(feature = "seal")]
pub use seal::{
    BufferTooSmall, MAX_SEALED_LEN, OpenError, SEALED_OVERHEAD, SEALED_VERSION, SealedSecret,
    SealingKey, sealed_key_id,
};
#[cfg(feature = "sha2")]
pub use slots::{
    InvalidRecoverySlots, MAX_RECOVERY_SLOTS, RECOVERY_SLOTS_VERSION, RecoverySlots,
    recovery_slots_len, write_recovery_slots,
};
#[cfg(all(feature = "sha2", feature = "alloc"))]
pub use slots::{decode_recovery_slots, encode_recovery_slots};

#[cfg(feature = "std")]
pub use clock::SystemClock;
pub use clock::{Clock, FixedClock};
pub use policy::{Attempts, DriftTracking, InvalidThrottlePolicy, LockedOut, ThrottlePolicy};

#[cfg(feature = "flow")]
pub use flow::{
    Association, AuthenticatorInfo, ChallengeType, InvalidOtpReason, Mfa, MfaConfig, MfaError,
    OtpRefused, OtpVerified, PreparedRecovery, RecoveryPolicy, RecoveryVerified,
};
#[cfg(all(feature = "flow", feature = "std"))]
pub use memory::MemoryStore;
#[cfg(feature = "flow")]
pub use store::{
    AuthenticatorId, AuthenticatorKind, Enrolled, MfaStore, OtpAuthenticator, OtpProgress,
    RecoveryAuthenticator, UserAuthenticators,
};

/// Re-exported so callers name the same `CryptoRng` trait the engine uses.
pub use rand_core;
/// Re-exported so callers name the same `ConstantTimeEq` the engine implements.
pub use subtle;

/// Test and benchmark hooks. Not part of the stable API.
#[doc(hidden)]
pub mod __private {
    /// Full HMAC of `msg` under `key` with the engine's own HMAC, for RFC
    /// 2202 / 4231 vector tests; returns the digest length written.
    #[must_use]
    pub fn hmac(algorithm: crate::Algorithm, key: &[u8], msg: &[u8], out: &mut [u8; 64]) -> usize {
        crate::mac::AnyKeyed::new(algorithm, key).mac_into(msg, out)
    }

    /// The constant-time core of `Totp::verify_code` (verdict, step,
    /// offset), for the timing-leak harness.
    ///
    /// # Errors
    ///
    /// As `Totp::verify_code` for malformed codes and times before T0.
    pub fn verdict(
        totp: &crate::Totp,
        code: &crate::SubmittedCode,
        now: u64,
    ) -> Result<(u8, u64, i64), crate::Refusal> {
        totp.verdict(code, now, None, crate::Drift::NONE)
    }

    /// Hash compressions (SHA-1, SHA-256, SHA-512 blocks) the engine has run
    /// on the current thread: with the `__count-compressions` feature only,
    /// for tests that prove work was or was not done.
    #[cfg(feature = "__count-compressions")]
    #[must_use]
    pub fn compressions() -> u64 {
        crate::mac::counting::get()
    }
}
