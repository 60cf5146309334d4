//! The errors of verification that HOTP and TOTP share: [`Refusal`], why a
//! submitted code was not accepted (`Totp::verify`, `Hotp::verify` and the
//! window scan below both return it), and [`BeforeT0`], the one way a time
//! has no TOTP step (a variant of `Refusal` as well).
//!
//! Every other error type lives next to its operation: [`SecretError`]
//! with secrets, [`ParamError`] with the parameters, [`MalformedCode`] with
//! submitted codes, `UriError` with URIs, `MfaError` with the flow.
//! None carries secret material: a secret that failed to decode is
//! described by a position or a length, never by its text; a submitted code
//! that failed to parse is described by its shape, never echoed. Every enum
//! is `#[non_exhaustive]`, has a hand-written `Display` and implements
//! [`core::error::Error`].
//!
//! [`SecretError`]: crate::SecretError
//! [`ParamError`]: crate::ParamError

use core::fmt;

use crate::code::MalformedCode;

/// The time given is before the TOTP epoch T0, so it has no time step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeforeT0;

impl fmt::Display for BeforeT0 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the time is before the TOTP epoch T0")
    }
}

impl core::error::Error for BeforeT0 {}

/// Why a submitted code was not accepted.
///
/// A server that answers a remote user should collapse every variant into one
/// message ("Invalid code"): the variants exist for logs, metrics and local
/// devices, and the difference between [`Refusal::NoMatch`] and
/// [`Refusal::Replayed`] tells an attacker that a code was valid once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The text is not a code of the expected shape; no HMAC was computed.
    Malformed(MalformedCode),
    /// No time step (or counter) in the window produced this code.
    NoMatch,
    /// The code is correct only for a step at or before the last accepted one.
    Replayed,
    /// The time is before T0.
    BeforeT0,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(m) => write!(f, "malformed code: {m}"),
            Self::NoMatch => f.write_str("the code matches no step in the window"),
            Self::Replayed => f.write_str("the code was already used"),
            Self::BeforeT0 => BeforeT0.fmt(f),
        }
    }
}

impl core::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Malformed(m) => Some(m),
            _ => None,
        }
    }
}

impl From<MalformedCode> for Refusal {
    fn from(m: MalformedCode) -> Self {
        Self::Malformed(m)
    }
}

impl From<BeforeT0> for Refusal {
    fn from(_: BeforeT0) -> Self {
        Self::BeforeT0
    }
}
