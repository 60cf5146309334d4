//! One-time writes whose outcome is unknown: the step advance
//! (`SqlxStore::try_advance`), an accepted code's write
//! (`SqlxStore::try_accept`; an accepted recovery code's is one statement
//! in `store`) and, when a statement or its COMMIT fails with the
//! connection broken (`outcome_unknown`), the re-read that tells applied
//! from not applied by the write's nonce (`fresh_nonce`):
//! `SqlxStore::resolve_advance`, `SqlxStore::resolve_recovery_accept`.
//!
//! A write is never guessed: applied is `Ok(true)`, provably not applied
//! is [`StoreError::NotApplied`], lost to another request is `Ok(false)`,
//! and a database that stays unreachable is [`StoreError::OutcomeUnknown`].
//! Not here: the [`MfaStore`](totp_engine::MfaStore) methods that call
//! these (`store`), the SQL text (`statements`).

use sqlx::Row as _;
use totp_engine::{Attempts, AuthenticatorId, OtpProgress, RecoveryHash, decode_recovery_slots};

use crate::lease;
use crate::rows::{bits, progress_columns};
use crate::{SqlxStore, StoreError};

impl SqlxStore {
    /// The step advance: one conditional UPDATE (with the recovery codes'
    /// activation in the same transaction when it confirms an enrollment).
    pub(crate) async fn try_advance(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        next: OtpProgress,
        nonce: &[u8; 16],
    ) -> Result<bool, sqlx::Error> {
        let [n_stepped, n_last, n_drift, n_active] = progress_columns(&next);
        let [e_stepped, e_last, e_drift, e_active] = progress_columns(&expected);
        let advance = sqlx::query(&self.sql.advance)
            .bind(n_stepped)
            .bind(n_last)
            .bind(n_drift)
            .bind(n_active)
            .bind(id.as_str())
            .bind(user)
            .bind(e_stepped)
            .bind(e_last)
            .bind(e_drift)
            .bind(e_active)
            .bind(nonce.to_vec());
        self.write_progress(user, advance, next.active && !expected.active)
            .await
    }

    /// The write of an accepted code ([`MfaStore::accept_otp`]): one
    /// conditional UPDATE of the progress and the bucket together (with the
    /// recovery codes' activation in the same transaction when it confirms
    /// an enrollment).
    ///
    /// [`MfaStore::accept_otp`]: totp_engine::MfaStore::accept_otp
    pub(crate) async fn try_accept(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: (OtpProgress, Attempts),
        next: OtpProgress,
        nonce: &[u8; 16],
    ) -> Result<bool, sqlx::Error> {
        let [n_stepped, n_last, n_drift, n_active] = progress_columns(&next);
        let [e_stepped, e_last, e_drift, e_active] = progress_columns(&expected.0);
        let accept = sqlx::query(&self.sql.accept)
            .bind(n_stepped)
            .bind(n_last)
            .bind(n_drift)
            .bind(n_active)
            .bind(id.as_str())
            .bind(user)
            .bind(e_stepped)
            .bind(e_last)
            .bind(e_drift)
            .bind(e_active)
            .bind(nonce.to_vec())
            .bind(i64::from(expected.1.used()))
            .bind(bits(expected.1.since()));
        self.write_progress(user, accept, next.active && !expected.0.active)
            .await
    }

    /// Runs a conditional UPDATE of the OTP progress (`write`); true if it
    /// matched its row. A write that `confirms` an enrollment activates the
    /// recovery codes in the same transaction; a later login's is one
    /// statement, no transaction.
    async fn write_progress(
        &self,
        user: &str,
        write: lease::AnyQuery<'_>,
        confirms: bool,
    ) -> Result<bool, sqlx::Error> {
        let mut conn = lease::connection(&self.pool).await?;
        if !confirms {
            return Ok(write.execute(&mut *conn).await?.rows_affected() == 1);
        }
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        if write.execute(&mut *tx).await?.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(&self.sql.activate_recovery)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The advance failed with its outcome unknown (the connection dropped
    /// during the statement or its COMMIT): re-read the row. Our nonce there
    /// means it was applied; the progress unchanged means it provably was
    /// not (the error stands, so the client may retry); anything else means
    /// another request advanced the step, and this one lost (as a replay).
    pub(crate) async fn resolve_advance(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        nonce: &[u8; 16],
        error: sqlx::Error,
    ) -> Result<bool, StoreError> {
        let Some(row) = self.reread(&self.sql.reread_otp, user, id, error).await? else {
            return Ok(false);
        };
        if row.try_get::<Option<Vec<u8>>, _>("write_nonce")?.as_deref() == Some(&nonce[..]) {
            return Ok(true);
        }
        let seen = [
            row.try_get::<i64, _>("stepped")?,
            row.try_get::<i64, _>("last_step")?,
            row.try_get::<i64, _>("drift")?,
            row.try_get::<i64, _>("active")?,
        ];
        if seen == progress_columns(&expected) {
            return Err(StoreError::NotApplied);
        }
        Ok(false)
    }

    /// As [`resolve_advance`](Self::resolve_advance), for an accepted
    /// recovery code ([`MfaStore::accept_recovery_code`]): our nonce means
    /// applied (the code consumed, its replacement stored, the bucket
    /// emptied); the slots and the bucket exactly as read mean provably not
    /// (the error stands, so the client may retry); anything else means the
    /// row moved, so the compare-and-set did not apply (`Ok(false)`: the
    /// flow reloads and checks again).
    ///
    /// [`MfaStore::accept_recovery_code`]: totp_engine::MfaStore::accept_recovery_code
    pub(crate) async fn resolve_recovery_accept(
        &self,
        user: &str,
        id: &AuthenticatorId,
        write: RecoveryAccept,
        nonce: &[u8; 16],
        error: sqlx::Error,
    ) -> Result<bool, StoreError> {
        let Some(row) = self.reread(&self.sql.reread_slots, user, id, error).await? else {
            return Ok(false);
        };
        if row.try_get::<Option<Vec<u8>>, _>("write_nonce")?.as_deref() == Some(&nonce[..]) {
            return Ok(true);
        }
        let bytes: Vec<u8> = row.try_get("slots")?;
        let slots = decode_recovery_slots(&bytes).map_err(|_| self.corrupt("slots"))?;
        // A later write (another slot's consumption) may have replaced our
        // nonce; our replacement hash, freshly salted, in our slot still
        // proves that our write landed.
        if write.replacement.is_some() && slots.get(write.slot) == Some(&write.replacement) {
            return Ok(true);
        }
        let attempts = [
            row.try_get::<i64, _>("attempts_used")?,
            row.try_get::<i64, _>("attempts_since")?,
        ];
        let expected_attempts = [
            i64::from(write.attempts.used()),
            bits(write.attempts.since()),
        ];
        let same_slots = bool::from(subtle::ConstantTimeEq::ct_eq(
            bytes.as_slice(),
            write.as_read.as_slice(),
        ));
        if same_slots && attempts == expected_attempts {
            return Err(StoreError::NotApplied);
        }
        // The row moved: either our slot still holds its hash (our write
        // did not land, and against the moved row it would have lost) or
        // another request's write consumed it. Lost, either way.
        Ok(false)
    }

    /// Re-reads one row after an error of unknown outcome, retrying while
    /// the database stays unreachable (about 3 s in all). Each try is a
    /// checkout of its own, never the request's held connection
    /// ([`lease`]), which is the one that just failed.
    async fn reread(
        &self,
        sql: &str,
        user: &str,
        id: &AuthenticatorId,
        error: sqlx::Error,
    ) -> Result<Option<sqlx::any::AnyRow>, StoreError> {
        let mut last = error;
        for attempt in 0..6u32 {
            tokio::time::sleep(std::time::Duration::from_millis(50u64 << attempt)).await;
            match sqlx::query(sql)
                .bind(id.as_str())
                .bind(user)
                .fetch_optional(&self.pool)
                .await
            {
                Ok(row) => return Ok(row),
                Err(e) => last = e,
            }
        }
        Err(StoreError::OutcomeUnknown(last))
    }
}

/// A random nonce marking one write.
pub(crate) fn fresh_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
    nonce
}

/// Whether a statement's error leaves its outcome unknown: the connection
/// broke (I/O, protocol, TLS, a closed pool, a crashed worker) after the
/// statement may have reached the database. A database error (a
/// constraint, a serialization failure) is a definite refusal.
pub(crate) fn outcome_unknown(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

/// The accepted recovery code's write being resolved
/// ([`SqlxStore::resolve_recovery_accept`]). No `Debug`: `as_read` holds
/// the encoded hashes.
pub(crate) struct RecoveryAccept {
    /// The slot's index.
    pub(crate) slot: usize,
    /// What the write put there (`None`: marked used).
    pub(crate) replacement: Option<RecoveryHash>,
    /// The slots' bytes the write was conditioned on.
    pub(crate) as_read: Vec<u8>,
    /// The bucket the write was conditioned on.
    pub(crate) attempts: Attempts,
}
