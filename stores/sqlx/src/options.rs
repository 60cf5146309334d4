//! [`StoreOptions`]: the table prefix, validated.

use core::fmt;

use crate::Keyring;

/// How the store names its tables. Start from [`StoreOptions::default`]
/// (no prefix: `otp_authenticators`, `recovery_authenticators` and
/// `totp_engine_migrations`).
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    prefix: String,
    keyring: Option<Keyring>,
}

/// A table prefix that is not a plain SQL identifier start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTablePrefix;

impl fmt::Display for InvalidTablePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "table prefix must be at most 32 characters of a-z, 0-9 and _, starting with a letter or _",
        )
    }
}

impl std::error::Error for InvalidTablePrefix {}

impl StoreOptions {
    /// Prefixes every table (and index) name, so the store can live in an
    /// application's existing database: `with_table_prefix("mfa_")` gives
    /// `mfa_otp_authenticators`. The prefix is spliced into SQL text, so it
    /// is restricted to lowercase ASCII letters, digits and `_` (not
    /// starting with a digit), at most 32 characters.
    ///
    /// # Errors
    ///
    /// [`InvalidTablePrefix`] for anything else.
    pub fn with_table_prefix(mut self, prefix: &str) -> Result<Self, InvalidTablePrefix> {
        let mut bytes = prefix.bytes();
        let first_ok = bytes
            .next()
            .is_none_or(|b| b.is_ascii_lowercase() || b == b'_');
        let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !(first_ok && rest_ok && prefix.len() <= 32) {
            return Err(InvalidTablePrefix);
        }
        prefix.clone_into(&mut self.prefix);
        Ok(self)
    }

    /// Seals every TOTP secret the store writes under the keyring's current
    /// key, and opens secrets sealed under any of its keys (see
    /// [`Keyring`]). Without a keyring, secrets are stored plain.
    #[must_use]
    pub fn with_keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// The keyring, if sealing is on.
    #[must_use]
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_ref()
    }

    /// The table prefix (empty by default).
    #[must_use]
    pub fn table_prefix(&self) -> &str {
        &self.prefix
    }

    /// `name` with the prefix.
    pub(crate) fn table(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}
