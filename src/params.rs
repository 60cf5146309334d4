//! Validated OTP parameters: the hash algorithm, the number of digits, the
//! TOTP period, the verification window, the HOTP look-ahead and the clock
//! drift. Each is a small newtype whose constructor is the only way in, so an
//! invalid configuration cannot be represented once built.

use core::fmt;

/// The HMAC hash function (RFC 6238 §1.2 allows SHA-1, SHA-256 and SHA-512).
///
/// The SHA-2 variants exist only with the `sha2` feature: firmware built
/// without it cannot name them, so no code path can fall back from one to
/// SHA-1. Parsed from and shown as its otpauth name (`SHA1`, `SHA256`,
/// `SHA512`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA-1: the RFC 4226 default and what every authenticator app supports.
    #[default]
    Sha1,
    /// HMAC-SHA-256 (feature `sha2`).
    #[cfg(feature = "sha2")]
    Sha256,
    /// HMAC-SHA-512 (feature `sha2`).
    #[cfg(feature = "sha2")]
    Sha512,
}

impl Algorithm {
    /// The name used in otpauth URIs: `SHA1`, `SHA256` or `SHA512`.
    #[must_use]
    pub const fn uri_name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            #[cfg(feature = "sha2")]
            Self::Sha256 => "SHA256",
            #[cfg(feature = "sha2")]
            Self::Sha512 => "SHA512",
        }
    }

    /// Parses a URI name case-insensitively (`sha1`, `SHA256`, `Sha512`).
    /// `SHA-256` style names with a dash are accepted too. The SHA-2 names
    /// are unknown without the `sha2` feature.
    #[must_use]
    pub fn from_uri_name(name: &str) -> Option<Self> {
        let mut buf = [0u8; 6];
        let mut n = 0usize;
        for b in name.bytes().filter(|b| *b != b'-') {
            *buf.get_mut(n)? = b.to_ascii_uppercase();
            n = n.checked_add(1)?;
        }
        match buf.get(..n)? {
            b"SHA1" => Some(Self::Sha1),
            #[cfg(feature = "sha2")]
            b"SHA256" => Some(Self::Sha256),
            #[cfg(feature = "sha2")]
            b"SHA512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The recommended secret length for this algorithm, in bytes: the
    /// digest length (20, 32 or 64), as RFC 6238's reference seeds use.
    #[must_use]
    pub const fn recommended_secret_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            #[cfg(feature = "sha2")]
            Self::Sha256 => 32,
            #[cfg(feature = "sha2")]
            Self::Sha512 => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    /// The otpauth name: `SHA1`, `SHA256` or `SHA512`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uri_name())
    }
}

impl core::str::FromStr for Algorithm {
    type Err = ParamError;

    /// As [`Algorithm::from_uri_name`].
    fn from_str(s: &str) -> Result<Self, ParamError> {
        Self::from_uri_name(s).ok_or(ParamError::UnknownAlgorithm)
    }
}

/// Number of digits in a code: 6, 7 or 8 (RFC 4226 §5.3 requires at least 6;
/// a 31-bit truncated value supports at most 9, and authenticators show 8 at
/// most).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digits(u8);

impl Digits {
    /// Six digits, the default everywhere.
    pub const SIX: Self = Self(6);
    /// Seven digits.
    pub const SEVEN: Self = Self(7);
    /// Eight digits.
    pub const EIGHT: Self = Self(8);

    /// Validates a digit count.
    ///
    /// # Errors
    ///
    /// [`ParamError::Digits`] unless `n` is 6, 7 or 8. Wider integers
    /// convert with `Digits::try_from`.
    pub const fn new(n: u8) -> Result<Self, ParamError> {
        match n {
            6..=8 => Ok(Self(n)),
            _ => Err(ParamError::Digits { given: n as u32 }),
        }
    }

    /// The digit count.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Reduces a 31-bit truncated HMAC value to this many digits.
    ///
    /// The divisor is a constant in each arm, so the compiler emits a
    /// multiply-and-shift with no data-dependent timing.
    #[inline(always)]
    pub(crate) const fn reduce(self, value: u32) -> u32 {
        match self.0 {
            6 => value % 1_000_000,
            7 => value % 10_000_000,
            _ => value % 100_000_000,
        }
    }
}

impl Default for Digits {
    fn default() -> Self {
        Self::SIX
    }
}

/// The TOTP time step X of RFC 6238, in seconds: 1 to [`Period::MAX_SECS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period(u32);

impl Period {
    /// The longest period accepted: one day.
    pub const MAX_SECS: u32 = 86_400;
    /// The longest period accepted.
    pub const MAX: Self = Self(Self::MAX_SECS);
    /// 30 seconds, the RFC 6238 recommendation and every app's default.
    pub const THIRTY_SECONDS: Self = Self(30);

    /// Validates a period in seconds.
    ///
    /// # Errors
    ///
    /// [`ParamError::Period`] for 0 or more than [`Period::MAX_SECS`].
    /// Wider integers convert with `Period::try_from`.
    pub const fn new(secs: u32) -> Result<Self, ParamError> {
        if secs == 0 || secs > Self::MAX_SECS {
            Err(ParamError::Period { given: secs as u64 })
        } else {
            Ok(Self(secs))
        }
    }

    /// The period in seconds.
    #[must_use]
    pub const fn secs(self) -> u32 {
        self.0
    }
}

impl Default for Period {
    fn default() -> Self {
        Self::THIRTY_SECONDS
    }
}

/// How many time steps before and after the current one a TOTP verification
/// also accepts. Each side is at most [`Window::MAX_STEPS`].
///
/// Every step in the window is a code an attacker may guess: with 6 digits
/// and a ±1 window each guess succeeds with probability 3 / 10⁶, which is why
/// verification must be throttled (see the README's security notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    past: u8,
    future: u8,
}

impl Window {
    /// The widest reach on one side.
    pub const MAX_STEPS: u8 = 10;
    /// Only the current step.
    pub const EXACT: Self = Self { past: 0, future: 0 };
    /// One step each way: the RFC 6238 §5.2 recommendation and the default.
    pub const ONE_STEP: Self = Self { past: 1, future: 1 };

    /// Validates a window of `past` steps back and `future` steps ahead.
    ///
    /// # Errors
    ///
    /// [`ParamError::Window`] if either side exceeds [`Window::MAX_STEPS`].
    pub const fn new(past: u8, future: u8) -> Result<Self, ParamError> {
        if past > Self::MAX_STEPS {
            return Err(ParamError::Window { given: past as u32 });
        }
        if future > Self::MAX_STEPS {
            return Err(ParamError::Window {
                given: future as u32,
            });
        }
        Ok(Self { past, future })
    }

    /// Steps accepted before the current one.
    #[must_use]
    pub const fn past(self) -> u8 {
        self.past
    }

    /// Steps accepted after the current one.
    #[must_use]
    pub const fn future(self) -> u8 {
        self.future
    }
}

impl Default for Window {
    fn default() -> Self {
        Self::ONE_STEP
    }
}

/// How many counters beyond the expected one an HOTP verification also
/// accepts (RFC 4226 §7.4 resynchronization parameter *s*), at most
/// [`LookAhead::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LookAhead(u8);

impl LookAhead {
    /// The longest look-ahead.
    pub const MAX: u8 = 100;
    /// Only the expected counter.
    pub const NONE: Self = Self(0);

    /// Validates a look-ahead.
    ///
    /// # Errors
    ///
    /// [`ParamError::LookAhead`] above [`LookAhead::MAX`]. Wider integers
    /// convert with `LookAhead::try_from`.
    pub const fn new(n: u8) -> Result<Self, ParamError> {
        if n > Self::MAX {
            Err(ParamError::LookAhead { given: n as u32 })
        } else {
            Ok(Self(n))
        }
    }

    /// The look-ahead.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for LookAhead {
    /// Ten counters, a common choice (RFC 4226 leaves it to the server).
    fn default() -> Self {
        Self(10)
    }
}

/// A remembered clock offset, in time steps, of a user's authenticator
/// relative to the server; the verification window is centred on it.
/// At most [`Drift::MAX_STEPS`] either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Drift(i8);

impl Drift {
    /// The largest drift that is followed.
    pub const MAX_STEPS: i8 = 20;
    /// No drift.
    pub const NONE: Self = Self(0);

    /// Validates a drift in steps.
    ///
    /// # Errors
    ///
    /// [`ParamError::Drift`] if `|steps| > MAX_STEPS`. Wider integers
    /// convert with `Drift::try_from` (or clamp with [`Drift::saturating`]).
    pub const fn new(steps: i8) -> Result<Self, ParamError> {
        if steps < Self::MAX_STEPS.wrapping_neg() || steps > Self::MAX_STEPS {
            Err(ParamError::Drift {
                given: steps as i64,
            })
        } else {
            Ok(Self(steps))
        }
    }

    /// A drift clamped into range.
    #[must_use]
    pub const fn saturating(steps: i64) -> Self {
        if steps < (Self::MAX_STEPS as i64).wrapping_neg() {
            Self(Self::MAX_STEPS.wrapping_neg())
        } else if steps > Self::MAX_STEPS as i64 {
            Self(Self::MAX_STEPS)
        } else {
            Self(steps as i8)
        }
    }

    /// The drift in steps.
    #[must_use]
    pub const fn steps(self) -> i8 {
        self.0
    }
}

/// `TryFrom` for the wider integers a configuration or a database holds:
/// the same checks as `new`, and the error names the value given.
macro_rules! try_from_wider {
    ($type:ident, $narrow:ty, $error:ident, $given:ty; $($wide:ty),*) => {$(
        impl TryFrom<$wide> for $type {
            type Error = ParamError;

            fn try_from(value: $wide) -> Result<Self, ParamError> {
                match <$narrow>::try_from(value) {
                    Ok(narrow) => Self::new(narrow),
                    Err(_) => Err(ParamError::$error {
                        given: <$given>::try_from(value).unwrap_or(<$given>::MAX),
                    }),
                }
            }
        }
    )*};
}

try_from_wider!(Digits, u8, Digits, u32; u16, u32, u64, usize, i32, i64);
try_from_wider!(Period, u32, Period, u64; u64, usize, i64);
try_from_wider!(LookAhead, u8, LookAhead, u32; u16, u32, u64, usize, i32, i64);

impl TryFrom<i64> for Drift {
    type Error = ParamError;

    fn try_from(value: i64) -> Result<Self, ParamError> {
        match i8::try_from(value) {
            Ok(narrow) => Self::new(narrow),
            Err(_) => Err(ParamError::Drift { given: value }),
        }
    }
}

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
