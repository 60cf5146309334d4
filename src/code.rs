//! One-time codes: [`Code`], a generated code held on the stack like
//! `itoa::Buffer`, and [`SubmittedCode`], what a user typed, parsed.
//!
//! Parsing a submitted code involves no secret and fails fast: it only looks
//! at the shape of the text (length, digits, separators). Comparing it with
//! the codes a key generates happens elsewhere, in constant time.

use core::fmt;

use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroize;

use crate::params::Digits;

/// Submitted text longer than this is refused without being scanned.
const MAX_SUBMITTED_LEN: usize = 32;

/// A generated one-time code: 6 to 8 zero-padded ASCII digits on the stack.
///
/// `Debug` hides the digits (a valid code is a credential until it is used);
/// [`Code::as_str`] and `Display` show them, because showing them is what a
/// generated code is for. Equality is constant-time. Wiped on drop.
///
/// ```
/// use totp_engine::{Hotp, HotpParams, Secret};
///
/// let secret = Secret::from_bytes(b"12345678901234567890")?;
/// let hotp = Hotp::new(&secret, HotpParams::default());
/// assert_eq!(hotp.generate(0).as_str(), "755224");
/// # Ok::<(), totp_engine::SecretError>(())
/// ```
#[derive(Clone)]
pub struct Code {
    ascii: [u8; 8],
    digits: Digits,
}

impl Code {
    /// Formats `value` (already reduced below 10^digits) zero-padded.
    pub(crate) fn new(mut value: u32, digits: Digits) -> Self {
        let mut ascii = [b'0'; 8];
        let n = usize::from(digits.get());
        for slot in ascii.iter_mut().take(n).rev() {
            // value % 10 < 10, so the cast and the addition cannot overflow.
            *slot = b'0'.saturating_add((value % 10) as u8);
            value /= 10;
        }
        Self { ascii, digits }
    }

    /// The code as zero-padded digits, e.g. `"050471"`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        let bytes = self
            .ascii
            .get(..usize::from(self.digits.get()))
            .unwrap_or_default();
        // Only ASCII digits are ever written.
        core::str::from_utf8(bytes).unwrap_or_default()
    }

    /// The code's numeric value.
    #[must_use]
    pub fn value(&self) -> u32 {
        self.as_str().bytes().fold(0u32, |acc, b| {
            acc.saturating_mul(10)
                .saturating_add(u32::from(b.saturating_sub(b'0')))
        })
    }

    /// The number of digits.
    #[must_use]
    pub fn digits(&self) -> Digits {
        self.digits
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Code")
            .field("digits", &self.digits.get())
            .finish_non_exhaustive()
    }
}

impl ConstantTimeEq for Code {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.ascii.ct_eq(&other.ascii) & self.digits.get().ct_eq(&other.digits.get())
    }
}

impl PartialEq for Code {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Code {}

impl Drop for Code {
    fn drop(&mut self) {
        self.ascii.zeroize();
    }
}

/// A code as a user submitted it, parsed into its digits.
///
/// Accepted forms: the digits alone (`"123456"`), with surrounding ASCII
/// whitespace (`" 123456\n"`), and with single spaces or dashes between digit
/// groups (`"123 456"`, `"123-456"`, `"12 34 56"`). Refused: anything else,
/// including letters, non-ASCII digits (full-width `１２３`), doubled or
/// leading separators, and any text over 32 bytes, which is not even scanned.
///
/// ```
/// use totp_engine::{Digits, MalformedCode, SubmittedCode};
///
/// assert!(SubmittedCode::parse(" 123 456 ", Digits::SIX).is_ok());
/// assert_eq!(
///     SubmittedCode::parse("12345", Digits::SIX),
///     Err(MalformedCode::WrongLength { expected: 6, found: 5 })
/// );
/// assert_eq!(
///     SubmittedCode::parse("12a456", Digits::SIX),
///     Err(MalformedCode::InvalidCharacter)
/// );
/// ```
#[derive(Clone)]
pub struct SubmittedCode {
    value: u32,
    digits: Digits,
}

impl SubmittedCode {
    /// Parses submitted text for an authenticator with `digits` digits.
    ///
    /// Fails fast; looks at no secret.
    ///
    /// # Errors
    ///
    /// [`MalformedCode::TooLong`] over 32 bytes, [`MalformedCode::Empty`],
    /// [`MalformedCode::InvalidCharacter`], [`MalformedCode::WrongLength`].
    #[inline]
    pub fn parse(text: &str, digits: Digits) -> Result<Self, MalformedCode> {
        // The common case first, inline: exactly the digits, nothing else.
        if text.len() == usize::from(digits.get()) {
            let mut value = 0u32;
            let mut all_digits = true;
            for b in text.bytes() {
                let digit = b.wrapping_sub(b'0');
                all_digits &= digit <= 9;
                // At most 8 digits: value < 10^8 (it wraps only past a
                // non-digit, and then it is discarded).
                value = value.wrapping_mul(10).wrapping_add(u32::from(digit));
            }
            if all_digits {
                return Ok(Self { value, digits });
            }
        }
        Self::parse_pasted(text, digits)
    }

    /// [`SubmittedCode::parse`] for text with separators, surrounding
    /// whitespace or a wrong length.
    #[inline(never)]
    fn parse_pasted(text: &str, digits: Digits) -> Result<Self, MalformedCode> {
        if text.len() > MAX_SUBMITTED_LEN {
            return Err(MalformedCode::TooLong);
        }
        let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.is_empty() {
            return Err(MalformedCode::Empty);
        }
        let mut value = 0u32;
        let mut count = 0usize;
        let mut after_separator = true; // no separator may lead
        for b in trimmed.bytes() {
            match b {
                b'0'..=b'9' => {
                    count = count.saturating_add(1);
                    if count <= 8 {
                        // At most 8 digits: value < 10^8, no overflow.
                        value = value
                            .saturating_mul(10)
                            .saturating_add(u32::from(b.wrapping_sub(b'0')));
                    }
                    after_separator = false;
                }
                b' ' | b'-' if !after_separator => after_separator = true,
                _ => return Err(MalformedCode::InvalidCharacter),
            }
        }
        // `trimmed` ends in a non-space; a trailing dash is caught here.
        if after_separator {
            return Err(MalformedCode::InvalidCharacter);
        }
        if count != usize::from(digits.get()) {
            return Err(MalformedCode::WrongLength {
                expected: digits.get(),
                found: count,
            });
        }
        Ok(Self { value, digits })
    }

    /// The digits this code was parsed for.
    #[must_use]
    pub fn digits(&self) -> Digits {
        self.digits
    }

    #[inline(always)]
    pub(crate) fn value(&self) -> u32 {
        self.value
    }
}

impl ConstantTimeEq for SubmittedCode {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.value.ct_eq(&other.value) & self.digits.get().ct_eq(&other.digits.get())
    }
}

impl PartialEq for SubmittedCode {
    /// Constant-time, like every comparison of code values.
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SubmittedCode {}

impl fmt::Debug for SubmittedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmittedCode")
            .field("digits", &self.digits.get())
            .finish_non_exhaustive()
    }
}

impl Drop for SubmittedCode {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

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
