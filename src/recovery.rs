//! Hashed one-time recovery codes: generation, normalization of what users
//! type, salted hashing, and constant-time lookup among stored hashes.
//!
//! Everything here works on the stack. A plain [`RecoveryCode`] exists only
//! to be shown to the user once; storage keeps a [`RecoveryHash`]: SHA-256
//! over a per-code random salt and the normalized code, or HMAC-SHA-256 under
//! a server-side pepper when one is configured. A fast hash is enough here:
//! every code carries at least 120 bits of entropy, so the hash cannot be
//! inverted by guessing, and no password-hashing work factor is needed.
//!
//! Which stored code is used up, and what replaces it, is the flow's and the
//! store's business (module `flow`), not this module's.

use core::fmt;

use rand_core::CryptoRng;
use sha2::Digest;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroize;

use crate::mac::{Keyed, MAX_OUTPUT, Sha256};

/// The longest code, separators included.
pub const MAX_RECOVERY_CODE_LEN: usize = 96;

/// The least entropy a format may have, in bits.
pub const MIN_ENTROPY_BITS: u32 = 120;

/// The characters a recovery code is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Alphabet {
    /// `A`–`Z` and `0`–`9` (36 characters, 5.17 bits each): Auth0's format.
    #[default]
    Alphanumeric,
    /// No look-alikes: digits `2`–`9` and the letters other than `I`, `L`
    /// and `O` (31 characters, 4.95 bits each; 25 characters carry 123 bits).
    /// Typing `0`, `1`, `I`, `L` or `O` is refused as malformed.
    NoLookalikes,
}

impl Alphabet {
    const ALPHANUMERIC: &'static [u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const NO_LOOKALIKES: &'static [u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

    fn symbols(self) -> &'static [u8] {
        match self {
            Self::Alphanumeric => Self::ALPHANUMERIC,
            Self::NoLookalikes => Self::NO_LOOKALIKES,
        }
    }

    /// Entropy per character in millibits (⌊1000 · log₂ size⌋).
    const fn millibits(self) -> u32 {
        match self {
            Self::Alphanumeric => 5169,
            Self::NoLookalikes => 4954,
        }
    }

    fn contains(self, b: u8) -> bool {
        self.symbols().contains(&b)
    }
}

/// Why a recovery-code format was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryFormatError {
    /// The format carries fewer than [`MIN_ENTROPY_BITS`].
    TooLittleEntropy {
        /// Bits the format would carry.
        bits: u32,
    },
    /// The code with its separators would exceed [`MAX_RECOVERY_CODE_LEN`].
    TooLong,
    /// A group size of 0.
    EmptyGroup,
}

impl fmt::Display for RecoveryFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLittleEntropy { bits } => write!(
                f,
                "recovery codes of this format carry {bits} bits; at least {MIN_ENTROPY_BITS} are required"
            ),
            Self::TooLong => write!(
                f,
                "recovery codes of this format exceed {MAX_RECOVERY_CODE_LEN} characters"
            ),
            Self::EmptyGroup => {
                f.write_str("a recovery-code group must hold at least one character")
            }
        }
    }
}

impl core::error::Error for RecoveryFormatError {}

/// The shape of recovery codes: alphabet, length, and optional grouping
/// with dashes (`ABCD-EFGH-…`) for display. Grouping never matters when
/// checking: users may type codes with or without dashes and spaces.
///
/// ```
/// use totp_engine::{Alphabet, RecoveryFormat};
///
/// let auth0 = RecoveryFormat::default(); // 24 × A-Z0-9, no grouping: 124 bits
/// assert_eq!(auth0.entropy_bits(), 124);
/// let friendly = RecoveryFormat::new(Alphabet::NoLookalikes, 25, Some(5))?; // five dash-separated groups of five
/// assert_eq!(friendly.display_len(), 29);
/// assert!(RecoveryFormat::new(Alphabet::Alphanumeric, 20, None).is_err()); // 103 bits
/// # Ok::<(), totp_engine::RecoveryFormatError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecoveryFormat {
    alphabet: Alphabet,
    len: u8,
    group: Option<u8>,
}

impl Default for RecoveryFormat {
    /// Auth0's format: 24 characters of `A-Z0-9`.
    fn default() -> Self {
        Self {
            alphabet: Alphabet::Alphanumeric,
            len: 24,
            group: None,
        }
    }
}

impl RecoveryFormat {
    /// Validates a format of `len` characters from `alphabet`, shown in
    /// groups of `group` characters separated by dashes.
    ///
    /// # Errors
    ///
    /// [`RecoveryFormatError::TooLittleEntropy`] below 120 bits,
    /// [`RecoveryFormatError::TooLong`], [`RecoveryFormatError::EmptyGroup`].
    pub fn new(
        alphabet: Alphabet,
        len: u32,
        group: Option<u32>,
    ) -> Result<Self, RecoveryFormatError> {
        if group == Some(0) {
            return Err(RecoveryFormatError::EmptyGroup);
        }
        let bits = len.saturating_mul(alphabet.millibits()) / 1000;
        if bits < MIN_ENTROPY_BITS {
            return Err(RecoveryFormatError::TooLittleEntropy { bits });
        }
        let len8 = u8::try_from(len).map_err(|_| RecoveryFormatError::TooLong)?;
        let group8 = match group {
            Some(g) => Some(u8::try_from(g).map_err(|_| RecoveryFormatError::TooLong)?),
            None => None,
        };
        let format = Self {
            alphabet,
            len: len8,
            group: group8,
        };
        if format.display_len() > MAX_RECOVERY_CODE_LEN {
            return Err(RecoveryFormatError::TooLong);
        }
        Ok(format)
    }

    /// The alphabet.
    #[must_use]
    pub fn alphabet(&self) -> Alphabet {
        self.alphabet
    }

    /// Significant characters per code.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: a format has at least 24 characters.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entropy per code in bits (rounded down).
    #[must_use]
    pub fn entropy_bits(&self) -> u32 {
        u32::from(self.len).saturating_mul(self.alphabet.millibits()) / 1000
    }

    /// Characters per code as displayed, dashes included.
    #[must_use]
    pub fn display_len(&self) -> usize {
        let len = self.len();
        match self.group {
            Some(g) => len.saturating_add(
                len.saturating_sub(1)
                    .checked_div(usize::from(g))
                    .unwrap_or(0),
            ),
            _ => len,
        }
    }

    /// Draws a fresh code, uniformly over the alphabet (rejection sampling:
    /// no modulo bias).
    pub fn generate<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> RecoveryCode {
        let symbols = self.alphabet.symbols();
        // Largest multiple of the alphabet size that fits in a byte.
        let n = symbols.len();
        let limit = 256usize.saturating_sub(256usize.checked_rem(n).unwrap_or(0));
        let mut code = RecoveryCode {
            text: [0; MAX_RECOVERY_CODE_LEN],
            len: 0,
        };
        let mut significant = 0usize;
        let mut pool = [0u8; 64];
        let mut pos = pool.len();
        while significant < self.len() {
            if pos == pool.len() {
                rng.fill_bytes(&mut pool);
                pos = 0;
            }
            let byte = usize::from(pool.get(pos).copied().unwrap_or(0));
            pos = pos.saturating_add(1);
            if byte >= limit {
                continue;
            }
            if let Some(g) = self.group
                && significant > 0
                && significant.checked_rem(usize::from(g)) == Some(0)
            {
                code.push(b'-');
            }
            let index = byte.checked_rem(n).unwrap_or(0);
            code.push(symbols.get(index).copied().unwrap_or(b'A'));
            significant = significant.saturating_add(1);
        }
        pool.zeroize();
        code
    }

    /// Normalizes what a user typed: ASCII case is folded to upper case,
    /// spaces and dashes are dropped, surrounding whitespace is trimmed.
    /// This looks at no secret and fails fast.
    ///
    /// # Errors
    ///
    /// [`MalformedRecoveryCode`] for a character outside the alphabet, the
    /// wrong number of characters, or text over
    /// [`MAX_RECOVERY_CODE_LEN`] · 2 bytes (refused unread).
    pub fn normalize(&self, typed: &str) -> Result<NormalizedRecoveryCode, MalformedRecoveryCode> {
        if typed.len() > MAX_RECOVERY_CODE_LEN.saturating_mul(2) {
            return Err(MalformedRecoveryCode);
        }
        let mut out = NormalizedRecoveryCode {
            bytes: [0; MAX_RECOVERY_CODE_LEN],
            len: 0,
        };
        for b in typed
            .trim_matches(|c: char| c.is_ascii_whitespace())
            .bytes()
        {
            if b == b' ' || b == b'-' {
                continue;
            }
            let b = b.to_ascii_uppercase();
            if !self.alphabet.contains(b) {
                return Err(MalformedRecoveryCode);
            }
            let slot = out.bytes.get_mut(out.len).ok_or(MalformedRecoveryCode)?;
            *slot = b;
            out.len = out.len.saturating_add(1);
        }
        if out.len != self.len() {
            return Err(MalformedRecoveryCode);
        }
        Ok(out)
    }
}

/// Typed text that cannot be a recovery code of the configured format.
/// Carries nothing of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedRecoveryCode;

impl fmt::Display for MalformedRecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the text is not a recovery code of the configured format")
    }
}

impl core::error::Error for MalformedRecoveryCode {}

/// A freshly generated recovery code, to be shown to the user once.
///
/// On the stack, wiped on drop; `Debug` hides it; [`RecoveryCode::as_str`]
/// shows it.
#[derive(Clone)]
pub struct RecoveryCode {
    text: [u8; MAX_RECOVERY_CODE_LEN],
    len: usize,
}

impl RecoveryCode {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.text.get_mut(self.len) {
            *slot = b;
            self.len = self.len.saturating_add(1);
        }
    }

    /// The code as it should be displayed, e.g. `N3BXH5R9…` or `ABCDE-FGHJK-…`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.text.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryCode").finish_non_exhaustive()
    }
}

impl Drop for RecoveryCode {
    fn drop(&mut self) {
        self.text.zeroize();
    }
}

/// A recovery code reduced to its significant characters, ready to hash.
/// Wiped on drop; `Debug` hides it.
pub struct NormalizedRecoveryCode {
    bytes: [u8; MAX_RECOVERY_CODE_LEN],
    len: usize,
}

impl NormalizedRecoveryCode {
    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl fmt::Debug for NormalizedRecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NormalizedRecoveryCode")
            .finish_non_exhaustive()
    }
}

impl Drop for NormalizedRecoveryCode {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// How a stored hash was computed.
const KIND_SALTED_SHA256: u8 = 1;
const KIND_PEPPERED_HMAC_SHA256: u8 = 2;

/// Bytes in the storage form of a [`RecoveryHash`].
pub const RECOVERY_HASH_LEN: usize = 49;

/// The stored form of one recovery code: a kind byte, a 16-byte random
/// salt and a 32-byte digest. This is all a database ever holds.
#[derive(Clone, Copy)]
pub struct RecoveryHash {
    kind: u8,
    salt: [u8; 16],
    digest: [u8; 32],
}

impl RecoveryHash {
    /// The 49-byte storage form.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; RECOVERY_HASH_LEN] {
        let mut out = [0u8; RECOVERY_HASH_LEN];
        out[0] = self.kind;
        out[1..17].copy_from_slice(&self.salt);
        out[17..].copy_from_slice(&self.digest);
        out
    }

    /// Reads the storage form back.
    ///
    /// # Errors
    ///
    /// [`InvalidRecoveryHash`] for a wrong length or an unknown kind byte.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidRecoveryHash> {
        let bytes: &[u8; RECOVERY_HASH_LEN] = bytes.try_into().map_err(|_| InvalidRecoveryHash)?;
        let kind = bytes[0];
        if kind != KIND_SALTED_SHA256 && kind != KIND_PEPPERED_HMAC_SHA256 {
            return Err(InvalidRecoveryHash);
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&bytes[1..17]);
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&bytes[17..]);
        Ok(Self { kind, salt, digest })
    }

    /// Whether this hash was made under a pepper.
    #[must_use]
    pub fn is_peppered(&self) -> bool {
        self.kind == KIND_PEPPERED_HMAC_SHA256
    }
}

impl fmt::Debug for RecoveryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryHash")
            .field("peppered", &self.is_peppered())
            .finish_non_exhaustive()
    }
}

impl ConstantTimeEq for RecoveryHash {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.kind.ct_eq(&other.kind)
            & self.salt.ct_eq(&other.salt)
            & self.digest.ct_eq(&other.digest)
    }
}

impl PartialEq for RecoveryHash {
    /// Constant-time (stores compare hashes in their compare-and-set).
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for RecoveryHash {}

/// Bytes that are not a stored recovery hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidRecoveryHash;

impl fmt::Display for InvalidRecoveryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stored recovery hash is malformed")
    }
}

impl core::error::Error for InvalidRecoveryHash {}

/// Hashes and checks recovery codes, optionally under a server pepper.
///
/// ```
/// use totp_engine::{RecoveryFormat, RecoveryHasher};
///
/// let mut rng = rand::rng();
/// let format = RecoveryFormat::default();
/// let hasher = RecoveryHasher::new(); // or RecoveryHasher::with_pepper(b"…32 bytes from your KMS…")
/// let code = format.generate(&mut rng); // show once
/// let stored = [hasher.hash(&format.normalize(code.as_str())?, &mut rng)];
///
/// let typed = code.as_str().to_lowercase(); // users type in any case
/// assert_eq!(hasher.find(&format.normalize(&typed)?, &stored), Some(0));
/// # Ok::<(), totp_engine::MalformedRecoveryCode>(())
/// ```
#[derive(Clone)]
pub struct RecoveryHasher {
    pepper: Option<Keyed<Sha256>>,
}

impl Default for RecoveryHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl RecoveryHasher {
    /// Salted SHA-256, no pepper.
    #[must_use]
    pub fn new() -> Self {
        Self { pepper: None }
    }

    /// HMAC-SHA-256 under `pepper`, a server secret kept outside the
    /// database (hashes stored without a pepper are still checked).
    #[must_use]
    pub fn with_pepper(pepper: &[u8]) -> Self {
        Self {
            pepper: Some(Keyed::new(pepper)),
        }
    }

    /// Hashes a normalized code under a fresh random salt.
    pub fn hash<R: CryptoRng + ?Sized>(
        &self,
        code: &NormalizedRecoveryCode,
        rng: &mut R,
    ) -> RecoveryHash {
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        let kind = if self.pepper.is_some() {
            KIND_PEPPERED_HMAC_SHA256
        } else {
            KIND_SALTED_SHA256
        };
        RecoveryHash {
            kind,
            salt,
            digest: self.digest(kind, &salt, code),
        }
    }

    fn digest(&self, kind: u8, salt: &[u8; 16], code: &NormalizedRecoveryCode) -> [u8; 32] {
        let mut digest = [0u8; 32];
        match (&self.pepper, kind) {
            (Some(pepper), KIND_PEPPERED_HMAC_SHA256) => {
                let mut msg = [0u8; 16 + MAX_RECOVERY_CODE_LEN];
                let n = 16usize.saturating_add(code.len);
                msg[..16].copy_from_slice(salt);
                if let Some(dst) = msg.get_mut(16..n) {
                    dst.copy_from_slice(code.as_bytes());
                }
                let mut out = [0u8; MAX_OUTPUT];
                pepper.mac_into(msg.get(..n).unwrap_or_default(), &mut out);
                digest.copy_from_slice(&out[..32]);
                out.zeroize();
                msg.zeroize();
            }
            (None, KIND_PEPPERED_HMAC_SHA256) => {
                // A peppered hash without the pepper can match nothing: hash
                // something it cannot equal, at the same cost.
                let mut h = sha2::Sha256::new();
                h.update([0xffu8; 16]);
                h.update(code.as_bytes());
                digest.copy_from_slice(&h.finalize());
                digest[0] ^= 0x5a;
            }
            _ => {
                let mut h = sha2::Sha256::new();
                h.update(salt);
                h.update(code.as_bytes());
                digest.copy_from_slice(&h.finalize());
            }
        }
        digest
    }

    /// Looks `code` up among `stored`, returning the index of the matching
    /// hash.
    ///
    /// Constant time in the stored hashes: every one is recomputed and
    /// compared with `subtle`, with no early exit, so the time taken depends
    /// on the number of stored hashes (not secret), not on which one
    /// matched or whether any did.
    #[must_use]
    pub fn find(&self, code: &NormalizedRecoveryCode, stored: &[RecoveryHash]) -> Option<usize> {
        let mut found = Choice::from(0);
        let mut index = 0u64;
        for (i, hash) in stored.iter().enumerate() {
            let mut digest = self.digest(hash.kind, &hash.salt, code);
            let matches = digest.ct_eq(&hash.digest);
            index.conditional_assign(&(i as u64), matches & !found);
            found |= matches;
            digest.zeroize();
        }
        if bool::from(found) {
            usize::try_from(index).ok()
        } else {
            None
        }
    }
}

impl fmt::Debug for RecoveryHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryHasher")
            .field("peppered", &self.pepper.is_some())
            .finish()
    }
}
