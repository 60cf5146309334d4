//! The shared secret key: generation, import, base32 encoding.
//!
//! A [`Secret`] lives inline (no heap), is wiped when dropped, compares in
//! constant time, and never prints its bytes: `Debug` shows only the length
//! and there is no `Display`. Base32 goes in and out of caller buffers;
//! `String` conveniences exist behind the `alloc` feature.

use core::fmt;

use rand_core::CryptoRng;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroize;

/// RFC 4648 base32, upper-case alphabet, no padding; decoding ignores case.
const BASE32: base32::Encoding =
    base32::Encoding::new(*b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567").with_ignore_case();

/// Base32 characters needed for [`Secret::MAX_LEN`] bytes: ⌈128 · 8 / 5⌉.
pub const MAX_BASE32_LEN: usize = 205;

/// Longest text [`Secret::from_base32`] looks at (spaces and padding
/// included) before refusing it unread.
const MAX_BASE32_INPUT: usize = 1024;

/// A shared HOTP/TOTP secret key of 16 to 128 bytes.
///
/// ```
/// use totp_engine::Secret;
///
/// let secret = Secret::from_base32("jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp")?;
/// assert_eq!(secret.len(), 20);
/// let mut buf = [0u8; 64];
/// assert_eq!(secret.encode_base32(&mut buf)?, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
/// // Debug never shows key material.
/// assert_eq!(format!("{secret:?}"), "Secret { len: 20, .. }");
/// # Ok::<(), totp_engine::SecretError>(())
/// ```
#[derive(Clone)]
pub struct Secret {
    bytes: [u8; Secret::MAX_LEN],
    len: u8,
}

impl Secret {
    /// The shortest key accepted: 16 bytes (128 bits, RFC 4226 §4 R6).
    pub const MIN_LEN: usize = 16;
    /// The default generated length: 20 bytes (160 bits, RFC 4226 §4).
    pub const DEFAULT_LEN: usize = 20;
    /// The longest key accepted: 128 bytes, one SHA-512 block.
    pub const MAX_LEN: usize = 128;
    /// The shortest key [`Secret::danger_from_base32_allow_80_bit`] accepts:
    /// 10 bytes (80 bits), below RFC 4226's minimum.
    pub const LEGACY_MIN_LEN: usize = 10;

    /// Generates a [`DEFAULT_LEN`](Self::DEFAULT_LEN)-byte key from a
    /// cryptographically secure generator.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut s = Self::zeroed(Self::DEFAULT_LEN);
        rng.fill_bytes(s.bytes_mut());
        s
    }

    /// Generates a key of `len` bytes.
    ///
    /// # Errors
    ///
    /// [`SecretError::TooShort`] below [`MIN_LEN`](Self::MIN_LEN),
    /// [`SecretError::TooLong`] above [`MAX_LEN`](Self::MAX_LEN).
    pub fn generate_with_len<R: CryptoRng + ?Sized>(
        rng: &mut R,
        len: usize,
    ) -> Result<Self, SecretError> {
        check_len(len)?;
        let mut s = Self::zeroed(len);
        rng.fill_bytes(s.bytes_mut());
        Ok(s)
    }

    /// Generates a key of `len` bytes directly on the heap (feature
    /// `alloc`): the key is written into the box and never exists on the
    /// stack, so no stale copy of it is left in a stack frame.
    ///
    /// # Errors
    ///
    /// As [`generate_with_len`](Self::generate_with_len).
    #[cfg(feature = "alloc")]
    pub fn generate_boxed<R: CryptoRng + ?Sized>(
        rng: &mut R,
        len: usize,
    ) -> Result<alloc::boxed::Box<Self>, SecretError> {
        check_len(len)?;
        let mut s = alloc::boxed::Box::new(Self::zeroed(len));
        rng.fill_bytes(s.bytes_mut());
        Ok(s)
    }

    /// Imports raw key bytes directly into a box (feature `alloc`), as
    /// [`generate_boxed`](Self::generate_boxed) does: no stack copy.
    ///
    /// # Errors
    ///
    /// [`SecretError::TooShort`] or [`SecretError::TooLong`].
    #[cfg(feature = "alloc")]
    pub fn boxed_from_bytes(bytes: &[u8]) -> Result<alloc::boxed::Box<Self>, SecretError> {
        check_len(bytes.len())?;
        let mut s = alloc::boxed::Box::new(Self::zeroed(bytes.len()));
        s.bytes_mut().copy_from_slice(bytes);
        Ok(s)
    }

    /// Imports raw key bytes (they are copied; wipe your own copy).
    ///
    /// # Errors
    ///
    /// [`SecretError::TooShort`] or [`SecretError::TooLong`].
    #[inline]
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        check_len(bytes.len())?;
        let mut s = Self::zeroed(bytes.len());
        copy_key(s.bytes_mut(), bytes);
        Ok(s)
    }

    /// Decodes RFC 4648 base32 as users paste it, with Google
    /// Authenticator's tolerance: case is ignored; spaces, tabs, dashes,
    /// no-break spaces (U+00A0) and line breaks (LF, CR) anywhere are
    /// skipped; trailing `=` padding is allowed. Anything else is refused.
    /// Unused low bits of the last character are ignored, as Google
    /// Authenticator does.
    ///
    /// Works on the stack; the intermediate buffers are wiped.
    ///
    /// # Errors
    ///
    /// [`SecretError::InvalidBase32Character`] (with its offset; the
    /// character itself is not reported), [`SecretError::InvalidBase32Length`],
    /// [`SecretError::TooLong`] for more than [`MAX_LEN`](Self::MAX_LEN)
    /// bytes or more than 1024 bytes of text, [`SecretError::TooShort`]
    /// below [`MIN_LEN`](Self::MIN_LEN) (an 80-bit key from an old
    /// enrollment needs [`Secret::danger_from_base32_allow_80_bit`]).
    pub fn from_base32(text: &str) -> Result<Self, SecretError> {
        Self::from_base32_min(text, Self::MIN_LEN)
    }

    /// **Danger: weak keys.** Decodes like [`Secret::from_base32`] but
    /// accepts keys of [`LEGACY_MIN_LEN`](Self::LEGACY_MIN_LEN) (10 bytes,
    /// 80 bits) and up: what Google Authenticator's own example
    /// (`JBSWY3DPEHPK3PXP`) and many old enrollments use. RFC 4226 §4 R6
    /// requires 128 bits; an 80-bit key is within reach of an offline
    /// search by anyone who saw a few codes. Use it only to import existing
    /// enrollments, and have the user re-enroll with a generated key.
    ///
    /// # Errors
    ///
    /// As [`Secret::from_base32`], with [`SecretError::TooShort`] below 10 bytes.
    pub fn danger_from_base32_allow_80_bit(text: &str) -> Result<Self, SecretError> {
        Self::from_base32_min(text, Self::LEGACY_MIN_LEN)
    }

    fn from_base32_min(text: &str, min_len: usize) -> Result<Self, SecretError> {
        if text.len() > MAX_BASE32_INPUT {
            return Err(SecretError::TooLong {
                len: text.len().saturating_mul(5) / 8,
            });
        }
        let mut compact = [0u8; MAX_BASE32_LEN];
        let mut used = 0;
        let result = compact_base32(text, &mut compact, &mut used)
            .and_then(|n| decode_compact(compact.get(..n).unwrap_or_default(), min_len));
        // Only the bytes written hold secret text.
        compact.get_mut(..used).unwrap_or_default().zeroize();
        result
    }

    /// Decodes base32 into a caller buffer with the same tolerance as
    /// [`Secret::from_base32`], returning the decoded bytes (no length
    /// policy is applied).
    ///
    /// # Errors
    ///
    /// As [`Secret::from_base32`], and [`SecretError::BufferTooSmall`].
    pub fn decode_base32_into<'b>(text: &str, out: &'b mut [u8]) -> Result<&'b [u8], SecretError> {
        if text.len() > MAX_BASE32_INPUT {
            return Err(SecretError::TooLong {
                len: text.len().saturating_mul(5) / 8,
            });
        }
        let mut compact = [0u8; MAX_BASE32_LEN];
        let mut used = 0;
        let n = compact_base32(text, &mut compact, &mut used);
        let result = n.and_then(|n| {
            let compact = compact.get(..n).unwrap_or_default();
            let compact =
                core::str::from_utf8(compact).map_err(|_| SecretError::InvalidBase32Length)?;
            let needed = BASE32
                .decoded_length(compact)
                .map_err(|_| SecretError::InvalidBase32Length)?;
            if out.len() < needed {
                return Err(SecretError::BufferTooSmall { needed });
            }
            BASE32
                .decode_buf(compact, out)
                .map(|b| &*b)
                .map_err(|_| SecretError::InvalidBase32Length)
        });
        compact.get_mut(..used).unwrap_or_default().zeroize();
        result
    }

    /// The key length in bytes (16 to 128).
    #[must_use]
    #[allow(clippy::len_without_is_empty)] // a secret is never empty
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// The raw key bytes. Named so that every read of key material is easy
    /// to find in review.
    #[must_use]
    pub fn expose_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len()).unwrap_or_default()
    }

    /// Length of the unpadded base32 encoding.
    #[must_use]
    pub fn base32_len(&self) -> usize {
        BASE32.encoded_length(self.len())
    }

    /// Encodes as RFC 4648 base32 without padding, upper case, into `buf`.
    ///
    /// # Errors
    ///
    /// [`SecretError::BufferTooSmall`] if `buf` is shorter than
    /// [`base32_len`](Self::base32_len); a buffer of
    /// [`MAX_BASE32_LEN`] bytes always fits.
    pub fn encode_base32<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, SecretError> {
        let needed = self.base32_len();
        let written = BASE32
            .encode_buf(self.expose_bytes(), buf)
            .map_err(|_| SecretError::BufferTooSmall { needed })?;
        // The alphabet is ASCII, so this never fails.
        core::str::from_utf8(written).map_err(|_| SecretError::BufferTooSmall { needed })
    }

    /// The unpadded base32 encoding in a `String` that is wiped on drop.
    #[cfg(feature = "alloc")]
    #[must_use]
    pub fn to_base32(&self) -> zeroize::Zeroizing<alloc::string::String> {
        let mut buf = [0u8; MAX_BASE32_LEN];
        let s = zeroize::Zeroizing::new(alloc::string::String::from(
            self.encode_base32(&mut buf).unwrap_or_default(),
        ));
        buf.zeroize();
        s
    }

    #[inline]
    fn zeroed(len: usize) -> Self {
        Self {
            bytes: [0; Self::MAX_LEN],
            len: u8::try_from(len).unwrap_or(0),
        }
    }

    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.len();
        self.bytes.get_mut(..len).unwrap_or_default()
    }
}

/// Copies `src` into `dst` (of the same length). The RFC 6238 key lengths
/// (20, 32 and 64 bytes) are copied as fixed-size arrays, a few wide moves
/// the compiler writes inline, instead of a call to `memcpy`.
#[inline(always)]
pub(crate) fn copy_key(dst: &mut [u8], src: &[u8]) {
    fn fixed<const N: usize>(dst: &mut [u8], src: &[u8]) -> bool {
        match (
            <&mut [u8; N]>::try_from(&mut *dst),
            <&[u8; N]>::try_from(src),
        ) {
            (Ok(d), Ok(s)) => {
                *d = *s;
                true
            }
            _ => false,
        }
    }
    if !(fixed::<20>(dst, src) || fixed::<32>(dst, src) || fixed::<64>(dst, src)) {
        dst.copy_from_slice(src);
    }
}

#[inline]
fn check_len(len: usize) -> Result<(), SecretError> {
    check_len_min(len, Secret::MIN_LEN)
}

#[inline]
fn check_len_min(len: usize, min_len: usize) -> Result<(), SecretError> {
    if len < min_len {
        Err(SecretError::TooShort { len })
    } else if len > Secret::MAX_LEN {
        Err(SecretError::TooLong { len })
    } else {
        Ok(())
    }
}

/// Copies the significant characters of pasted base32 into `out`: skips
/// spaces, tabs, dashes, no-break spaces and line breaks, strips trailing
/// `=`, refuses any other non-alphabet character (reporting its byte
/// offset). Returns the number of characters kept; `used` tracks how many
/// bytes of `out` were written, also on error, so the caller can wipe them.
fn compact_base32(
    text: &str,
    out: &mut [u8; MAX_BASE32_LEN],
    used: &mut usize,
) -> Result<usize, SecretError> {
    let mut n = 0usize;
    let mut padding_seen = false;
    for (position, c) in text.char_indices() {
        match c {
            ' ' | '\t' | '-' | '\u{a0}' | '\r' | '\n' => {}
            '=' => padding_seen = true,
            'A'..='Z' | 'a'..='z' | '2'..='7' if !padding_seen => {
                // Past the buffer: only counted, for the error's length.
                if let Some(slot) = out.get_mut(n) {
                    // ASCII by the match arm.
                    *slot = u8::try_from(c).unwrap_or(b'A');
                    *used = n.saturating_add(1);
                }
                n = n.saturating_add(1);
            }
            _ => return Err(SecretError::InvalidBase32Character { position }),
        }
    }
    if n > MAX_BASE32_LEN {
        return Err(SecretError::TooLong {
            len: n.saturating_mul(5).div_ceil(8),
        });
    }
    Ok(n)
}

fn decode_compact(compact: &[u8], min_len: usize) -> Result<Secret, SecretError> {
    let compact = core::str::from_utf8(compact).map_err(|_| SecretError::InvalidBase32Length)?;
    let len = BASE32
        .decoded_length(compact)
        .map_err(|_| SecretError::InvalidBase32Length)?;
    check_len_min(len, min_len)?;
    let mut s = Secret::zeroed(len);
    BASE32
        .decode_buf(compact, s.bytes_mut())
        .map_err(|_| SecretError::InvalidBase32Length)?;
    Ok(s)
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Bytes past `len` are never written: only the key needs wiping.
        self.bytes_mut().zeroize();
        self.len.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl ConstantTimeEq for Secret {
    /// Constant time in the key bytes; the lengths (not secret) are compared first.
    fn ct_eq(&self, other: &Self) -> Choice {
        self.expose_bytes().ct_eq(other.expose_bytes())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Secret {}

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
