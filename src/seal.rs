//! Sealing secrets at rest (feature `seal`): a [`Secret`] encrypted with
//! XChaCha20-Poly1305 under a [`SealingKey`] named by a key id, and bound to
//! the row it belongs to.
//!
//! The binding is associated data the caller chooses, typically the user id
//! and the authenticator id. A sealed secret copied into another row (the
//! attacker's own) does not open there; neither does one whose header was
//! edited or whose bytes were flipped. Nothing here allocates.
//!
//! The format, version 1, is stable (stores persist it):
//!
//! | offset | bytes | meaning |
//! | --- | --- | --- |
//! | 0 | 1 | version, [`SEALED_VERSION`] (= 1) |
//! | 1 | 4 | key id, big-endian |
//! | 5 | 24 | random nonce |
//! | 29 | n | the secret's bytes, encrypted (16 ≤ n ≤ 128) |
//! | 29 + n | 16 | Poly1305 tag |
//!
//! The associated data is the binding. The header needs no authentication
//! of its own: a changed key id selects another key (or none), under which
//! the tag fails, and there is one version. Random 192-bit nonces make nonce reuse negligible for any number of
//! seals under one key. Opening never panics on any input (fuzzed:
//! `fuzz/fuzz_targets/seal_open.rs`), and its errors say which rule failed,
//! never anything about the key or the plaintext.
//!
//! The authentication check is constant-time (Poly1305 tag comparison in
//! the `chacha20poly1305` crate); the length and header checks before it are
//! not, and need not be: they depend on public bytes only.

use core::fmt;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;
use zeroize::Zeroize;

use crate::secret::Secret;

/// The version byte this engine writes and reads.
pub const SEALED_VERSION: u8 = 1;

const HEADER_LEN: usize = 5;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Bytes a sealed secret adds to the secret's length: header, nonce, tag.
pub const SEALED_OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// The longest sealed secret: [`Secret::MAX_LEN`] plus [`SEALED_OVERHEAD`].
pub const MAX_SEALED_LEN: usize = Secret::MAX_LEN + SEALED_OVERHEAD;

/// Why sealed bytes did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// Shorter than a sealed minimum-length secret, or longer than
    /// [`MAX_SEALED_LEN`].
    BadLength,
    /// A version byte this engine does not know.
    UnknownVersion(u8),
    /// Sealed under another key than the one given (see [`sealed_key_id`]).
    WrongKey {
        /// The key id in the sealed bytes.
        sealed_with: u32,
    },
    /// The tag does not match: tampered bytes, another row's binding, or a
    /// key with the right id but the wrong bytes.
    Inauthentic,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLength => f.write_str("sealed secret has an invalid length"),
            Self::UnknownVersion(v) => write!(f, "unknown sealed secret format version {v}"),
            Self::WrongKey { sealed_with } => {
                write!(f, "secret is sealed under key id {sealed_with}")
            }
            Self::Inauthentic => f.write_str(
                "sealed secret does not authenticate (tampered, moved to another row, or wrong key)",
            ),
        }
    }
}

impl core::error::Error for OpenError {}

/// A 256-bit sealing key and its id. Wiped on drop; its `Debug` shows the
/// id only.
#[derive(Clone)]
pub struct SealingKey {
    id: u32,
    key: [u8; 32],
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for SealingKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// A sealed secret on the stack: [`as_bytes`](Self::as_bytes) is what to
/// store.
#[derive(Clone)]
pub struct SealedSecret {
    bytes: [u8; MAX_SEALED_LEN],
    len: usize,
}

impl SealedSecret {
    /// The sealed bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// The key id a sealed secret names, to pick the key that opens it (during
/// a key rotation, stores hold secrets under two keys).
///
/// # Errors
///
/// [`OpenError::BadLength`] or [`OpenError::UnknownVersion`].
pub fn sealed_key_id(sealed: &[u8]) -> Result<u32, OpenError> {
    if sealed.len() < Secret::MIN_LEN + SEALED_OVERHEAD || sealed.len() > MAX_SEALED_LEN {
        return Err(OpenError::BadLength);
    }
    let (&version, rest) = sealed.split_first().ok_or(OpenError::BadLength)?;
    if version != SEALED_VERSION {
        return Err(OpenError::UnknownVersion(version));
    }
    let id: [u8; 4] = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(OpenError::BadLength)?;
    Ok(u32::from_be_bytes(id))
}

impl SealingKey {
    /// A key from its 32 bytes (from a key file or a KMS) and its id.
    #[must_use]
    pub fn new(id: u32, key: &[u8; 32]) -> Self {
        Self { id, key: *key }
    }

    /// A fresh random key.
    #[must_use]
    pub fn generate<R: CryptoRng + ?Sized>(id: u32, rng: &mut R) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let sealing = Self::new(id, &key);
        key.zeroize();
        sealing
    }

    /// The key id written into every secret this key seals.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.key.into())
    }

    /// Seals `secret`, bound to `binding` (for example the user id and the
    /// authenticator id, unambiguously joined). Never fails: the length of
    /// every [`Secret`] fits.
    #[must_use]
    pub fn seal<R: CryptoRng + ?Sized>(
        &self,
        secret: &Secret,
        binding: &[u8],
        rng: &mut R,
    ) -> SealedSecret {
        let mut out = SealedSecret {
            bytes: [0u8; MAX_SEALED_LEN],
            len: 0,
        };
        // A Secret's at most 128 bytes always fit the buffer.
        out.len = self
            .seal_bytes_into(secret.expose_bytes(), binding, rng, &mut out.bytes)
            .unwrap_or(0);
        out
    }

    /// Opens `sealed` with this key and the `binding` it was sealed with.
    ///
    /// # Errors
    ///
    /// [`OpenError`]: a bad length or version, another key's id, or bytes
    /// that do not authenticate under this key and binding.
    pub fn open(&self, sealed: &[u8], binding: &[u8]) -> Result<Secret, OpenError> {
        sealed_key_id(sealed)?;
        let mut plain = [0u8; Secret::MAX_LEN];
        let result = self
            .open_bytes_into(sealed, binding, &mut plain)
            .and_then(|opened| Secret::from_bytes(opened).map_err(|_| OpenError::BadLength));
        plain.zeroize();
        result
    }

    /// Seals any bytes (a signing key's PKCS#8 document, say) in the same
    /// format, into `out`; returns the sealed length, `plain.len()` +
    /// [`SEALED_OVERHEAD`].
    ///
    /// # Errors
    ///
    /// [`BufferTooSmall`] if `out` is shorter than that.
    pub fn seal_bytes_into<R: CryptoRng + ?Sized>(
        &self,
        plain: &[u8],
        binding: &[u8],
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, BufferTooSmall> {
        let len = SEALED_OVERHEAD
            .checked_add(plain.len())
            .ok_or(BufferTooSmall)?;
        let out = out.get_mut(..len).ok_or(BufferTooSmall)?;
        let (header, rest) = out.split_at_mut(HEADER_LEN);
        header[0] = SEALED_VERSION;
        header[1..].copy_from_slice(&self.id.to_be_bytes());
        let (nonce, rest) = rest.split_at_mut(NONCE_LEN);
        rng.fill_bytes(nonce);
        let (body, tag_out) = rest.split_at_mut(plain.len());
        body.copy_from_slice(plain);
        let nonce = XNonce::from(<[u8; NONCE_LEN]>::try_from(&*nonce).map_err(|_| BufferTooSmall)?);
        // The cipher refuses only messages beyond 2^38 bytes, which no
        // slice of this process reaches.
        let tag = self
            .cipher()
            .encrypt_inout_detached(&nonce, binding, body.into())
            .map_err(|_| BufferTooSmall)?;
        tag_out.copy_from_slice(&tag);
        Ok(len)
    }

    /// Opens bytes sealed by [`seal_bytes_into`](Self::seal_bytes_into) (or
    /// [`seal`](Self::seal)) into `out`, which must hold at least
    /// `sealed.len()` − [`SEALED_OVERHEAD`] bytes; returns the opened part of
    /// `out`. On any error nothing of the plaintext is left in `out`.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open); [`OpenError::BadLength`] also for an `out`
    /// too short.
    pub fn open_bytes_into<'o>(
        &self,
        sealed: &[u8],
        binding: &[u8],
        out: &'o mut [u8],
    ) -> Result<&'o [u8], OpenError> {
        if sealed.len() < SEALED_OVERHEAD {
            return Err(OpenError::BadLength);
        }
        let (header, rest) = sealed.split_at(HEADER_LEN);
        if header[0] != SEALED_VERSION {
            return Err(OpenError::UnknownVersion(header[0]));
        }
        let id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        if id != self.id {
            return Err(OpenError::WrongKey { sealed_with: id });
        }
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let body_len = rest.len().saturating_sub(TAG_LEN);
        let (body, tag) = rest.split_at(body_len);
        let nonce =
            XNonce::from(<[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| OpenError::BadLength)?);
        let tag = <[u8; TAG_LEN]>::try_from(tag).map_err(|_| OpenError::BadLength)?;
        let plain = out.get_mut(..body_len).ok_or(OpenError::BadLength)?;
        plain.copy_from_slice(body);
        match self.cipher().decrypt_inout_detached(
            &nonce,
            binding,
            (&mut *plain).into(),
            &tag.into(),
        ) {
            Ok(()) => Ok(plain),
            Err(_) => {
                plain.zeroize();
                Err(OpenError::Inauthentic)
            }
        }
    }
}

/// The output buffer of [`SealingKey::seal_bytes_into`] is too short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall;

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("buffer too small for the sealed bytes")
    }
}

impl core::error::Error for BufferTooSmall {}
