//! Sealing TOTP secrets at rest: the [`Keyring`] a store seals and opens
//! with, and the binding that ties each sealed secret to its row.
//!
//! With a keyring, every secret the store writes is sealed (totp-engine's
//! XChaCha20-Poly1305 format) under the keyring's current key and bound to
//! `(user id, authenticator id)`, so a sealed secret copied into another
//! user's row does not open. The row records the key id
//! (`secret_key_id`); rows under any key of the keyring open, so a key
//! rotation can run while instances keep serving: give every instance the
//! new key as current and the old one as previous, then
//! [`SqlxStore::reseal`](crate::SqlxStore::reseal) re-seals the rest.

use std::collections::BTreeMap;
use std::fmt;

use totp_engine::SealingKey;

/// The keys a store seals with (the current one) and opens with (all).
#[derive(Clone)]
pub struct Keyring {
    current: SealingKey,
    keys: BTreeMap<u32, SealingKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id())
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// A keyring that seals and opens with `current`.
    #[must_use]
    pub fn new(current: SealingKey) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(current.id(), current.clone());
        Self { current, keys }
    }

    /// Also opens secrets sealed under `key` (a previous key during a
    /// rotation). A key with the current key's id is ignored.
    #[must_use]
    pub fn with_previous(mut self, key: SealingKey) -> Self {
        self.keys.entry(key.id()).or_insert(key);
        self
    }

    /// The key new secrets are sealed under.
    #[must_use]
    pub fn current(&self) -> &SealingKey {
        &self.current
    }

    /// The key with this id, if the keyring has it.
    #[must_use]
    pub fn get(&self, id: u32) -> Option<&SealingKey> {
        self.keys.get(&id)
    }

    /// The ids of every key, ascending.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }
}

/// The associated data of a sealed OTP secret: a domain label, the user id
/// and the authenticator id, NUL-separated (neither id contains NUL: the
/// engine's ids are ASCII, and user ids with NUL cannot be stored).
pub(crate) fn otp_binding(user: &str, authenticator_id: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(
        24usize
            .saturating_add(user.len())
            .saturating_add(authenticator_id.len()),
    );
    b.extend_from_slice(b"totp-engine-sqlx/otp\0");
    b.extend_from_slice(user.as_bytes());
    b.push(0);
    b.extend_from_slice(authenticator_id.as_bytes());
    b
}
