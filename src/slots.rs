//! The stable storage format of a recovery authenticator's slots: what every
//! store persists for [`RecoveryAuthenticator::slots`](crate::RecoveryAuthenticator).
//!
//! A store that keeps the slots as one byte string (a BLOB or BYTEA column, a
//! key-value entry, a flash page) should use this format, so that stores
//! agree and a database can move between them. Its layout, version 1:
//!
//! | offset | bytes | meaning |
//! | --- | --- | --- |
//! | 0 | 1 | format version, [`RECOVERY_SLOTS_VERSION`] (= 1) |
//! | 1 | 1 | number of slots `n`, at most [`MAX_RECOVERY_SLOTS`] |
//! | 2 | … | `n` slots, in order: a flag byte `0` (used) or `1` (present) followed, if present, by the [`RECOVERY_HASH_LEN`]-byte [`RecoveryHash::to_bytes`] form |
//!
//! Nothing may follow the last slot. Decoding checks every byte before it
//! hands out a single slot, never allocates more than the input justifies,
//! and refuses anything else with [`InvalidRecoverySlots`]; it never panics
//! (fuzzed: `fuzz/fuzz_targets/recovery_slots.rs`). The encoding of a given
//! list of slots is unique, so stores may compare encoded strings for
//! equality in a compare-and-set.
//!
//! The heap-free [`RecoverySlots`] reader and [`write_recovery_slots`] work
//! in `no_std` without `alloc`; [`encode_recovery_slots`] and
//! [`decode_recovery_slots`] are their `Vec` conveniences.

use core::fmt;

use crate::recovery::{RECOVERY_HASH_LEN, RecoveryHash};

/// The version byte this engine writes and reads.
pub const RECOVERY_SLOTS_VERSION: u8 = 1;

/// The most slots one recovery authenticator holds (the flow's
/// `RecoveryPolicy::Set` allows 1 to 32).
pub const MAX_RECOVERY_SLOTS: usize = 32;

const FLAG_USED: u8 = 0;
const FLAG_PRESENT: u8 = 1;
const HEADER_LEN: usize = 2;
const PRESENT_LEN: usize = 1 + RECOVERY_HASH_LEN;

/// Why stored slot bytes (or slots to encode) were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRecoverySlots {
    /// Fewer than the two header bytes.
    Truncated,
    /// A version byte this engine does not know.
    UnknownVersion(u8),
    /// More than [`MAX_RECOVERY_SLOTS`] slots.
    TooManySlots(usize),
    /// The slot at this index has a flag byte other than 0 or 1.
    BadFlag(usize),
    /// The slot at this index is cut short.
    ShortSlot(usize),
    /// The hash in the slot at this index is not a valid [`RecoveryHash`].
    BadHash(usize),
    /// Bytes follow the last slot.
    TrailingBytes,
    /// The output buffer is smaller than [`recovery_slots_len`] (encoding).
    BufferTooSmall,
}

impl fmt::Display for InvalidRecoverySlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("stored recovery slots are truncated"),
            Self::UnknownVersion(v) => write!(f, "unknown recovery slots format version {v}"),
            Self::TooManySlots(n) => write!(
                f,
                "{n} recovery slots exceed the maximum of {MAX_RECOVERY_SLOTS}"
            ),
            Self::BadFlag(i) => write!(f, "recovery slot {i} has an invalid flag byte"),
            Self::ShortSlot(i) => write!(f, "recovery slot {i} is cut short"),
            Self::BadHash(i) => write!(f, "recovery slot {i} holds a malformed hash"),
            Self::TrailingBytes => f.write_str("bytes follow the last recovery slot"),
            Self::BufferTooSmall => f.write_str("buffer too small for the recovery slots"),
        }
    }
}

impl core::error::Error for InvalidRecoverySlots {}

/// The encoded length of `slots`.
///
/// # Errors
///
/// [`InvalidRecoverySlots::TooManySlots`] beyond [`MAX_RECOVERY_SLOTS`].
pub fn recovery_slots_len(slots: &[Option<RecoveryHash>]) -> Result<usize, InvalidRecoverySlots> {
    if slots.len() > MAX_RECOVERY_SLOTS {
        return Err(InvalidRecoverySlots::TooManySlots(slots.len()));
    }
    // At most 2 + 32 × 50 bytes: no overflow.
    Ok(slots.iter().fold(HEADER_LEN, |len, slot| {
        len.saturating_add(if slot.is_some() { PRESENT_LEN } else { 1 })
    }))
}

/// Writes `slots` into `out` without allocating; returns the bytes written.
///
/// # Errors
///
/// [`InvalidRecoverySlots::TooManySlots`] beyond [`MAX_RECOVERY_SLOTS`],
/// [`InvalidRecoverySlots::BufferTooSmall`] if `out` is shorter than
/// [`recovery_slots_len`]. `out` is unchanged on error.
pub fn write_recovery_slots(
    slots: &[Option<RecoveryHash>],
    out: &mut [u8],
) -> Result<usize, InvalidRecoverySlots> {
    let len = recovery_slots_len(slots)?;
    let out = out
        .get_mut(..len)
        .ok_or(InvalidRecoverySlots::BufferTooSmall)?;
    let (header, mut rest) = out.split_at_mut(HEADER_LEN);
    header[0] = RECOVERY_SLOTS_VERSION;
    // `slots.len() <= 32` was checked above.
    header[1] = u8::try_from(slots.len()).map_err(|_| InvalidRecoverySlots::TooManySlots(len))?;
    for slot in slots {
        let (flag, tail) = rest.split_at_mut(1);
        match slot {
            None => {
                flag[0] = FLAG_USED;
                rest = tail;
            }
            Some(hash) => {
                flag[0] = FLAG_PRESENT;
                let (bytes, tail) = tail.split_at_mut(RECOVERY_HASH_LEN);
                bytes.copy_from_slice(&hash.to_bytes());
                rest = tail;
            }
        }
    }
    Ok(len)
}

/// Encodes `slots` in the stable format.
///
/// # Errors
///
/// [`InvalidRecoverySlots::TooManySlots`] beyond [`MAX_RECOVERY_SLOTS`].
#[cfg(feature = "alloc")]
pub fn encode_recovery_slots(
    slots: &[Option<RecoveryHash>],
) -> Result<alloc::vec::Vec<u8>, InvalidRecoverySlots> {
    let mut out = alloc::vec![0u8; recovery_slots_len(slots)?];
    write_recovery_slots(slots, &mut out)?;
    Ok(out)
}

/// Decodes slots written by [`encode_recovery_slots`] or
/// [`write_recovery_slots`].
///
/// # Errors
///
/// [`InvalidRecoverySlots`] says what is wrong (and at which slot); nothing
/// is returned for bytes that are not entirely valid.
#[cfg(feature = "alloc")]
pub fn decode_recovery_slots(
    bytes: &[u8],
) -> Result<alloc::vec::Vec<Option<RecoveryHash>>, InvalidRecoverySlots> {
    let reader = RecoverySlots::parse(bytes)?;
    let mut out = alloc::vec::Vec::with_capacity(reader.len());
    out.extend(reader);
    Ok(out)
}

/// A validated view of stored slot bytes that reads them without a heap:
/// an iterator of `Option<RecoveryHash>` (`None` for a used slot).
#[derive(Clone)]
pub struct RecoverySlots<'a> {
    rest: &'a [u8],
    remaining: usize,
}

impl fmt::Debug for RecoverySlots<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoverySlots")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl<'a> RecoverySlots<'a> {
    /// Checks every byte of `bytes`; the reader then yields the slots.
    ///
    /// # Errors
    ///
    /// [`InvalidRecoverySlots`] for anything but a complete, valid encoding.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, InvalidRecoverySlots> {
        let (&version, rest) = bytes.split_first().ok_or(InvalidRecoverySlots::Truncated)?;
        if version != RECOVERY_SLOTS_VERSION {
            return Err(InvalidRecoverySlots::UnknownVersion(version));
        }
        let (&count, body) = rest.split_first().ok_or(InvalidRecoverySlots::Truncated)?;
        let count = usize::from(count);
        if count > MAX_RECOVERY_SLOTS {
            return Err(InvalidRecoverySlots::TooManySlots(count));
        }
        let mut cursor = body;
        for index in 0..count {
            let (&flag, tail) = cursor
                .split_first()
                .ok_or(InvalidRecoverySlots::ShortSlot(index))?;
            cursor = match flag {
                FLAG_USED => tail,
                FLAG_PRESENT => {
                    let hash = tail
                        .get(..RECOVERY_HASH_LEN)
                        .ok_or(InvalidRecoverySlots::ShortSlot(index))?;
                    RecoveryHash::from_bytes(hash)
                        .map_err(|_| InvalidRecoverySlots::BadHash(index))?;
                    tail.get(RECOVERY_HASH_LEN..)
                        .ok_or(InvalidRecoverySlots::ShortSlot(index))?
                }
                _ => return Err(InvalidRecoverySlots::BadFlag(index)),
            };
        }
        if !cursor.is_empty() {
            return Err(InvalidRecoverySlots::TrailingBytes);
        }
        Ok(Self {
            rest: body,
            remaining: count,
        })
    }

    /// Slots not yet read.
    #[must_use]
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// Whether every slot has been read (or there were none).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

impl Iterator for RecoverySlots<'_> {
    type Item = Option<RecoveryHash>;

    fn next(&mut self) -> Option<Self::Item> {
        // `parse` validated every byte, so the `?`s below never fire on a
        // reader it built; they keep this free of panics all the same.
        self.remaining = self.remaining.checked_sub(1)?;
        let (&flag, tail) = self.rest.split_first()?;
        if flag == FLAG_USED {
            self.rest = tail;
            return Some(None);
        }
        let hash = RecoveryHash::from_bytes(tail.get(..RECOVERY_HASH_LEN)?).ok()?;
        self.rest = tail.get(RECOVERY_HASH_LEN..)?;
        Some(Some(hash))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for RecoverySlots<'_> {}
