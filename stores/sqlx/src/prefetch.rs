//! A user's authenticators read by a statement of the application's own,
//! so that a request that starts by reading its own rows (a session, an
//! mfa_token) saves the round trip of [`MfaStore::load`]: the application
//! adds [`SqlxStore::load_columns`] and [`SqlxStore::load_joins`] to that
//! statement, decodes them with [`SqlxStore::prefetched`], and hands the
//! result to [`SqlxStore::use_prefetched`] inside a [`lease::scope`]; the
//! next `load` of that user in the scope answers it, once, without a
//! statement. A request that will only verify an OTP reads the OTP
//! authenticator alone ([`SqlxStore::load_otp_columns`],
//! [`SqlxStore::load_otp_join`], [`SqlxStore::prefetched_otp`]): that
//! snapshot answers the next [`MfaStore::load_otp`] only.
//!
//! Why this keeps every one-time guarantee: the snapshot is read in one
//! statement (consistent, like `load`'s own), and nothing the flow decides
//! from it is final without a compare-and-set conditioned on it. A row that
//! changed since the snapshot makes that write fail, and the flow then
//! loads again, from the database (the prefetched snapshot is used once).
//! What the flow answers without a write (no authenticator, an empty
//! bucket, a malformed code) is the state at the snapshot's statement, as
//! if the request had been that much earlier.
//!
//! [`MfaStore::load`]: totp_engine::MfaStore::load
//! [`MfaStore::load_otp`]: totp_engine::MfaStore::load_otp

use std::fmt;

use sqlx::any::AnyRow;
use totp_engine::{OtpAuthenticator, UserAuthenticators};

use crate::rows::{otp_from_row, recovery_from_row};
use crate::statements::{LOAD_COLUMNS, LOAD_OTP_COLUMNS, load_joins, load_otp_join};
use crate::{SqlxStore, StoreError, lease};

/// A user's authenticators decoded from a row of the application's own
/// statement ([`SqlxStore::prefetched`]), to be answered by the next
/// [`load`](totp_engine::MfaStore::load) of that user
/// ([`SqlxStore::use_prefetched`]). Built only from a row; its `Debug`
/// shows no secret.
pub struct Prefetched {
    user: String,
    snapshot: Snapshot,
}

/// What a [`Prefetched`] read.
pub(crate) enum Snapshot {
    /// Both records ([`SqlxStore::load_columns`]): answers a `load` or a
    /// `load_otp`.
    All(UserAuthenticators),
    /// The OTP authenticator alone ([`SqlxStore::load_otp_columns`]):
    /// answers a `load_otp` only.
    Otp(Option<OtpAuthenticator>),
}

impl fmt::Debug for Prefetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (otp, recovery) = match &self.snapshot {
            Snapshot::All(all) => (all.otp.is_some(), Some(all.recovery.is_some())),
            Snapshot::Otp(otp) => (otp.is_some(), None),
        };
        f.debug_struct("Prefetched")
            .field("user", &self.user)
            .field("otp", &otp)
            .field("recovery", &recovery)
            .finish()
    }
}

impl Prefetched {
    /// The user whose authenticators these are.
    #[must_use]
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// Whether `column` is a plain column reference: `name` or `table.name`,
/// each an ASCII identifier.
fn is_column_reference(column: &str) -> bool {
    let ident = |part: &str| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut parts = column.split('.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => ident(name),
        (Some(table), Some(name), None) => ident(table) && ident(name),
        _ => false,
    }
}

impl SqlxStore {
    /// The select-list of the authenticators' columns, for a statement of
    /// the application's own that also has [`SqlxStore::load_joins`].
    /// Their names start with `otp_` and `rec_`, from the tables aliased
    /// `totp_engine_otp` and `totp_engine_rec`: keep those free.
    #[must_use]
    pub fn load_columns(&self) -> &'static str {
        LOAD_COLUMNS
    }

    /// The `LEFT JOIN`s that bring in the authenticators of the user whose
    /// id is in `user_id_column` (a column reference such as `s.user_id`;
    /// spliced into the SQL, so never a value from a request), for
    /// [`SqlxStore::load_columns`]. `None` if `user_id_column` is not a
    /// plain column reference.
    #[must_use]
    pub fn load_joins(&self, user_id_column: &str) -> Option<String> {
        is_column_reference(user_id_column)
            .then(|| load_joins(&self.sql.otp, &self.sql.recovery, user_id_column))
    }

    /// The select-list of the OTP authenticator's columns alone, for a
    /// statement of the application's own that also has
    /// [`SqlxStore::load_otp_join`]: for a request that only verifies an
    /// OTP (the recovery table is not read). Their names start with `otp_`,
    /// from the table aliased `totp_engine_otp`.
    #[must_use]
    pub fn load_otp_columns(&self) -> &'static str {
        LOAD_OTP_COLUMNS
    }

    /// The `LEFT JOIN` that brings in the OTP authenticator of the user
    /// whose id is in `user_id_column`, for [`SqlxStore::load_otp_columns`];
    /// as [`SqlxStore::load_joins`], `None` if `user_id_column` is not a
    /// plain column reference.
    #[must_use]
    pub fn load_otp_join(&self, user_id_column: &str) -> Option<String> {
        is_column_reference(user_id_column).then(|| load_otp_join(&self.sql.otp, user_id_column))
    }

    /// Decodes the OTP authenticator of `user` from `row`, a row of a
    /// statement with [`SqlxStore::load_otp_columns`] and
    /// [`SqlxStore::load_otp_join`]; handed to
    /// [`SqlxStore::use_prefetched`], it answers the next
    /// [`load_otp`](totp_engine::MfaStore::load_otp) of `user` (not a
    /// `load`, which needs both records).
    ///
    /// # Errors
    ///
    /// As [`SqlxStore::prefetched`].
    pub fn prefetched_otp(&self, row: &AnyRow, user: &str) -> Result<Prefetched, StoreError> {
        Ok(Prefetched {
            user: user.to_owned(),
            snapshot: Snapshot::Otp(self.otp_from_row(row, user)?),
        })
    }

    /// Decodes the authenticators of `user` from `row`, a row of a
    /// statement with [`SqlxStore::load_columns`] and
    /// [`SqlxStore::load_joins`] on the column holding `user`. Secrets
    /// are opened as `load` opens them.
    ///
    /// # Errors
    ///
    /// As [`load`](totp_engine::MfaStore::load): a corrupt row, a secret
    /// that cannot be opened.
    pub fn prefetched(&self, row: &AnyRow, user: &str) -> Result<Prefetched, StoreError> {
        Ok(Prefetched {
            user: user.to_owned(),
            snapshot: Snapshot::All(self.snapshot_from_row(row, user)?),
        })
    }

    /// Makes the next [`load`](totp_engine::MfaStore::load) (or
    /// [`load_otp`](totp_engine::MfaStore::load_otp); only `load_otp` for
    /// [`SqlxStore::prefetched_otp`]) of `prefetched`'s user in the
    /// current [`lease::scope`] answer it, without a statement; only that
    /// one load (a later one reads the database). Use it right before the flow's call, with a snapshot
    /// read by the same request (see the module docs for why this keeps
    /// every guarantee). Outside a scope it does nothing.
    pub fn use_prefetched(&self, prefetched: Prefetched) {
        lease::put_prefetched(self.key(), prefetched.user, prefetched.snapshot);
    }

    /// This store's identity in a scope (its clones share it): a snapshot
    /// prefetched for one store never answers another's `load`.
    pub(crate) fn key(&self) -> usize {
        std::sync::Arc::as_ptr(&self.sql) as usize
    }

    /// The authenticators of `user` in `row` (columns of
    /// [`LOAD_COLUMNS`]).
    pub(crate) fn snapshot_from_row(
        &self,
        row: &AnyRow,
        user: &str,
    ) -> Result<UserAuthenticators, StoreError> {
        Ok(UserAuthenticators {
            otp: self.otp_from_row(row, user)?,
            recovery: recovery_from_row(row, &self.sql.recovery)?,
        })
    }

    /// The OTP authenticator of `user` in `row` (the `otp_*` columns).
    pub(crate) fn otp_from_row(
        &self,
        row: &AnyRow,
        user: &str,
    ) -> Result<Option<OtpAuthenticator>, StoreError> {
        otp_from_row(
            row,
            &self.sql.otp,
            user,
            self.options.keyring(),
            self.sealed_only.load(std::sync::atomic::Ordering::Acquire),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::is_column_reference;

    #[test]
    fn only_plain_column_references_are_spliced() {
        for ok in ["user_id", "m.user_id", "_t.u1", "T.Col"] {
            assert!(is_column_reference(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "m.",
            ".user_id",
            "a.b.c",
            "1a",
            "m.user_id; DROP TABLE x",
            "m.user_id OR 1=1",
            "(m.user_id)",
            "m.\"user_id\"",
            "user-id",
            "ü",
        ] {
            assert!(!is_column_reference(bad), "{bad}");
        }
    }
}
