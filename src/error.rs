//! Error types of the primitives: one small enum per operation.
//!
//! None of them carries secret material: a secret that failed to decode is
//! described by a position or a length, never by its text; a submitted code
//! that failed to parse is described by its shape, never echoed.
//! Every enum is `#[non_exhaustive]`, has a hand-written `Display` and
//! implements [`core::error::Error`].

use core::fmt;

/// Why a secret key could not be created, decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// Fewer bytes than [`Secret::MIN_LEN`](crate::Secret::MIN_LEN) (128 bits).
    TooShort {
        /// The length that was given, in bytes.
        len: usize,
    },
    /// More bytes than [`Secret::MAX_LEN`](crate::Secret::MAX_LEN), or base32
    /// text longer than such a key could encode.
    TooLong {
        /// The length given, in bytes (for text too long to decode, the
        /// bytes it would at least encode).
        len: usize,
    },
    /// A character that is not in the RFC 4648 base32 alphabet (after
    /// ignoring case, separators and trailing `=` padding).
    InvalidBase32Character {
        /// Zero-based byte offset of the character in the input.
        position: usize,
    },
    /// The number of base32 characters cannot encode a whole number of bytes.
    InvalidBase32Length,
    /// The caller's output buffer is too small.
    BufferTooSmall {
        /// The number of bytes needed.
        needed: usize,
    },
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(
                f,
                "secret key is {len} bytes; at least {} bytes (128 bits) are required",
                crate::Secret::MIN_LEN
            ),
            Self::TooLong { len } => write!(
                f,
                "secret key is {len} bytes; at most {} bytes are accepted",
                crate::Secret::MAX_LEN
            ),
            Self::InvalidBase32Character { position } => write!(
                f,
                "secret key contains a character outside the base32 alphabet at offset {position}"
            ),
            Self::InvalidBase32Length => {
                f.write_str("secret key has a base32 length that encodes no whole number of bytes")
            }
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
        }
    }
}

impl core::error::Error for SecretError {}

/// Why an OTP parameter was refused at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamError {
    /// Digits outside 6..=8.
    Digits {
        /// The value given.
        given: u32,
    },
    /// A period of 0 s or longer than [`Period::MAX`](crate::Period::MAX).
    Period {
        /// The value given, in seconds.
        given: u64,
    },
    /// A window wider than [`Window::MAX_STEPS`](crate::Window::MAX_STEPS) on one side.
    Window {
        /// The value given.
        given: u32,
    },
    /// A look-ahead longer than [`LookAhead::MAX`](crate::LookAhead::MAX).
    LookAhead {
        /// The value given.
        given: u32,
    },
    /// A drift larger than [`Drift::MAX_STEPS`](crate::Drift::MAX_STEPS) in magnitude.
    Drift {
        /// The value given.
        given: i64,
    },
    /// Not `SHA1`, `SHA256` or `SHA512` (the SHA-2 names need the `sha2`
    /// feature).
    UnknownAlgorithm,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Digits { given } => write!(f, "digits must be 6, 7 or 8, not {given}"),
            Self::Period { given } => write!(
                f,
                "period must be 1 to {} seconds, not {given}",
                crate::Period::MAX_SECS
            ),
            Self::Window { given } => write!(
                f,
                "window may reach at most {} steps each way, not {given}",
                crate::Window::MAX_STEPS
            ),
            Self::LookAhead { given } => write!(
                f,
                "look-ahead may be at most {} counters, not {given}",
                crate::LookAhead::MAX
            ),
            Self::Drift { given } => write!(
                f,
                "drift may be at most {} steps either way, not {given}",
                crate::Drift::MAX_STEPS
            ),
            Self::UnknownAlgorithm => f.write_str(if cfg!(feature = "sha2") {
                "algorithm must be SHA1, SHA256 or SHA512"
            } else {
                "algorithm must be SHA1 (SHA256 and SHA512 need the `sha2` feature of totp-engine)"
            }),
        }
    }
}

impl core::error::Error for ParamError {}

/// Why submitted code text is not a code of the expected shape.
///
/// Parsing fails fast on these: no secret is involved yet, and no HMAC is
/// computed for malformed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedCode {
    /// Nothing but whitespace.
    Empty,
    /// Far longer than any code (more than 32 bytes); not scanned further.
    TooLong,
    /// A character other than ASCII digits, one space or dash between
    /// digits, and surrounding ASCII whitespace.
    InvalidCharacter,
    /// The wrong number of digits.
    WrongLength {
        /// Digits the authenticator uses.
        expected: u8,
        /// Digits that were submitted.
        found: usize,
    },
}

impl fmt::Display for MalformedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the code is empty"),
            Self::TooLong => f.write_str("the code is far too long"),
            Self::InvalidCharacter => f.write_str(
                "the code may contain only the digits 0-9, with one space or dash between groups",
            ),
            Self::WrongLength { expected, found } => {
                write!(f, "the code must have {expected} digits, not {found}")
            }
        }
    }
}

impl core::error::Error for MalformedCode {}

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
