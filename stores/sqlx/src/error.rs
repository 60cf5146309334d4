//! [`StoreError`]: everything the store can fail with.

use core::fmt;

/// Why a store operation failed. Carries no secret: database errors name
/// tables, columns and user ids, never a TOTP secret or a recovery hash.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or could not be reached. The outcome of a
    /// failed commit is unknown to the store; the engine's flow treats
    /// every storage error as "nothing was decided".
    Database(sqlx::Error),
    /// A stored row does not hold what this store writes.
    Corrupt {
        /// The table (with its prefix).
        table: String,
        /// The column or rule.
        what: &'static str,
    },
    /// The schema cannot be brought to this version.
    Migration {
        /// The migration's version.
        version: i64,
        /// What is wrong.
        reason: String,
    },
    /// The URL names no database this store supports.
    UnsupportedUrl,
    /// A one-time write failed (its connection broke), and re-reading the
    /// row proved it was not applied: nothing was consumed, the client may
    /// retry.
    NotApplied,
    /// A one-time write failed with its outcome unknown, and the row could
    /// not be re-read either (the database stayed unreachable). The code
    /// may or may not have been consumed.
    OutcomeUnknown(sqlx::Error),
    /// A sealed secret cannot be opened: its key is not in the keyring, or
    /// it does not authenticate (tampered, or copied from another row).
    Sealing {
        /// The key id the secret is sealed under, if readable.
        key_id: Option<u32>,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Database(e) => write!(f, "database error: {e}"),
            Self::Corrupt { table, what } => write!(f, "corrupt row in {table}: {what}"),
            Self::Migration { version, reason } => {
                write!(f, "migration {version} cannot be applied: {reason}")
            }
            Self::Sealing {
                key_id: Some(id),
                reason,
            } => {
                write!(f, "sealed secret (key id {id:#010x}): {reason}")
            }
            Self::Sealing {
                key_id: None,
                reason,
            } => write!(f, "sealed secret: {reason}"),
            Self::NotApplied => f.write_str(
                "the connection broke during a one-time write, which re-reading proved was not applied",
            ),
            Self::OutcomeUnknown(e) => write!(
                f,
                "the connection broke during a one-time write and the row could not be re-read: {e}"
            ),
            Self::UnsupportedUrl => f.write_str(
                "unsupported database URL: use sqlite://PATH, a plain file path, or postgres://…",
            ),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Database(e) | Self::OutcomeUnknown(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}
