//! [`SqlxStore`]: the engine's [`MfaStore`] over SQLite or PostgreSQL.
//!
//! Every one-time guard is a single conditional statement, never a read
//! followed by a write:
//!
//! - enrollment: `INSERT … ON CONFLICT (user_id) DO UPDATE … WHERE active = 0`
//!   (an active authenticator makes it a no-op);
//! - step advance: `UPDATE … WHERE <every progress column> = <expected>`;
//!   when it confirms an enrollment, the recovery codes are activated in
//!   the same transaction;
//! - an accepted code (`accept_otp`): the step advance and the bucket's
//!   reset in one `UPDATE … WHERE <every progress column> = <expected> AND
//!   <both attempt columns> = <expected>`;
//! - an accepted recovery code (`accept_recovery_code`): the slot's
//!   consumption (or replacement) and the bucket's reset in one `UPDATE …
//!   SET slots = <new>, attempts_used = 0, attempts_since = 0 WHERE slots
//!   = <as read> AND <both attempt columns> = <expected>`, with the slots
//!   as the flow's snapshot held them (the slot encoding is unique, so
//!   equal bytes mean equal slots): no read before it;
//! - attempt counting (a wrong code of either kind): `UPDATE … WHERE
//!   attempts_used = <expected> AND attempts_since = <expected>`.
//!
//! [`MfaStore::load`] is one `SELECT` (a consistent snapshot on both
//! databases), or none when the application read the same columns in a
//! statement of its own for this request (`prefetch`). Nothing here reads
//! a clock: every time comes from the flow.
//!
//! With a [`Keyring`](crate::Keyring), secrets are sealed before they are
//! bound into a statement and opened right after a row is read; the store
//! refuses to start on a database holding secrets sealed under a key it
//! was not given.
//!
//! This file holds the store, its constructors and the [`MfaStore`]
//! methods. Not here: the SQL text (`statements`), the re-read of a
//! one-time write whose outcome is unknown (`outcome`), the key check at
//! open and [`SqlxStore::reseal`] (`reseal`), row decoding (`rows`).

use std::sync::Arc;

use sqlx::AnyPool;
use totp_engine::{
    Attempts, AuthenticatorId, AuthenticatorKind, Enrolled, MfaStore, OtpAuthenticator,
    OtpProgress, RecoveryAuthenticator, RecoveryHash, UserAuthenticators, encode_recovery_slots,
};

use crate::lease;
use crate::outcome::{RecoveryAccept, fresh_nonce, outcome_unknown};
use crate::prefetch::Snapshot;
use crate::rows::{bits, progress_columns};
use crate::statements::Statements;
use crate::{Backend, StoreError, StoreOptions, migrate};

/// The engine's [`MfaStore`] over a sqlx `Any` pool on SQLite or
/// PostgreSQL. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqlxStore {
    pub(crate) pool: AnyPool,
    backend: Backend,
    pub(crate) options: StoreOptions,
    pub(crate) sql: Arc<Statements>,
    /// Set once a [`reseal`](Self::reseal) found nothing left to seal: from
    /// then on a plain secret (NULL key id) in a row is tampering, refused.
    pub(crate) sealed_only: Arc<std::sync::atomic::AtomicBool>,
}

impl SqlxStore {
    /// Opens a pool on `url` ([`connect_pool`](crate::connect_pool)) and
    /// brings its schema up to date, with unprefixed tables.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if the database cannot be reached,
    /// [`StoreError::Migration`] if its schema cannot be brought up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let (pool, _) = crate::connect_pool(url).await?;
        Self::new(pool, StoreOptions::default()).await
    }

    /// A store over an existing pool (shared with the application's own
    /// tables). Applies this crate's migrations first; they are idempotent
    /// and safe to run from several processes at once.
    ///
    /// # Errors
    ///
    /// As [`SqlxStore::connect`], and [`StoreError::UnsupportedUrl`] for a
    /// pool on a database other than SQLite or PostgreSQL.
    pub async fn new(pool: AnyPool, options: StoreOptions) -> Result<Self, StoreError> {
        let backend = Backend::of_pool(&pool)?;
        migrate::run(&pool, &options).await?;
        let store = Self {
            sql: Arc::new(Statements::new(&options)),
            pool,
            backend,
            options,
            sealed_only: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        };
        store.check_keys().await?;
        Ok(store)
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database the pool talks to.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The options the store was opened with.
    #[must_use]
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// The user whose OTP authenticator has the id `id`, if any: for
    /// administration APIs that name an enrollment by its id alone.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if the query fails.
    pub async fn otp_owner(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT user_id FROM {} WHERE id = $1",
            self.sql.otp
        ))
        .bind(id)
        .fetch_optional(&mut *lease::connection(&self.pool).await?)
        .await?)
    }

    /// The one row `sql` selects for `user`, through the request's
    /// connection ([`lease::read_optional`]).
    async fn read_one(&self, sql: &str, user: &str) -> Result<sqlx::any::AnyRow, sqlx::Error> {
        lease::read_optional(&self.pool, sql, |q| q.bind(user))
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    pub(crate) fn corrupt(&self, what: &'static str) -> StoreError {
        StoreError::Corrupt {
            table: self.sql.recovery.clone(),
            what,
        }
    }

    fn encode(&self, slots: &[Option<RecoveryHash>]) -> Result<Vec<u8>, StoreError> {
        encode_recovery_slots(slots).map_err(|_| self.corrupt("too many slots"))
    }
}

impl MfaStore for SqlxStore {
    type Error = StoreError;

    async fn load(&self, user: &str) -> Result<UserAuthenticators, StoreError> {
        // Read by the application's own statement for this request, once
        // (`prefetch`); otherwise one statement.
        // (A snapshot of the OTP authenticator alone cannot answer it.)
        if let Some(Snapshot::All(snapshot)) = lease::take_prefetched(self.key(), user) {
            return Ok(snapshot);
        }
        let row = self.read_one(&self.sql.load, user).await?;
        self.snapshot_from_row(&row, user)
    }

    async fn load_otp(&self, user: &str) -> Result<Option<OtpAuthenticator>, StoreError> {
        // As `load`, from either kind of prefetched snapshot; otherwise one
        // statement that does not read the recovery table.
        match lease::take_prefetched(self.key(), user) {
            Some(Snapshot::All(snapshot)) => return Ok(snapshot.otp),
            Some(Snapshot::Otp(otp)) => return Ok(otp),
            None => {}
        }
        let row = self.read_one(&self.sql.load_otp, user).await?;
        self.otp_from_row(&row, user)
    }

    async fn enroll(
        &self,
        user: &str,
        otp: OtpAuthenticator,
        recovery: Option<RecoveryAuthenticator>,
    ) -> Result<Enrolled, StoreError> {
        let slots = recovery
            .as_ref()
            .map(|r| self.encode(&r.slots))
            .transpose()?;
        // Sealed before any await: the future holds no RNG.
        let (secret, key_id) = self.sealed(user, &otp);
        let mut conn = lease::connection(&self.pool).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let [stepped, last, drift, active] = progress_columns(&otp.progress);
        let inserted = sqlx::query(&self.sql.enroll_otp)
            .bind(otp.id.as_str())
            .bind(user)
            .bind(secret.to_vec())
            .bind(otp.params.algorithm().uri_name())
            .bind(i64::from(otp.params.digits().get()))
            .bind(i64::from(otp.params.period().secs()))
            .bind(bits(otp.params.t0()))
            .bind(stepped)
            .bind(last)
            .bind(drift)
            .bind(active)
            .bind(i64::from(otp.attempts.used()))
            .bind(bits(otp.attempts.since()))
            .bind(bits(otp.created_at))
            .bind(key_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(Enrolled::AlreadyEnrolled);
        }
        let mut recovery_stored = false;
        if let (Some(rec), Some(slots)) = (recovery, slots) {
            recovery_stored = sqlx::query(&self.sql.enroll_recovery)
                .bind(rec.id.as_str())
                .bind(user)
                .bind(i64::from(rec.active))
                .bind(slots)
                .bind(i64::from(rec.attempts.used()))
                .bind(bits(rec.attempts.since()))
                .bind(bits(rec.created_at))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        }
        tx.commit().await?;
        Ok(Enrolled::Created { recovery_stored })
    }

    async fn advance_otp(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        next: OtpProgress,
    ) -> Result<bool, StoreError> {
        let nonce = fresh_nonce();
        match self.try_advance(user, id, expected, next, &nonce).await {
            Err(e) if outcome_unknown(&e) => {
                self.resolve_advance(user, id, expected, &nonce, e).await
            }
            other => other.map_err(StoreError::from),
        }
    }

    async fn accept_otp(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        expected_attempts: Attempts,
        next: OtpProgress,
    ) -> Result<bool, StoreError> {
        let nonce = fresh_nonce();
        match self
            .try_accept(user, id, (expected, expected_attempts), next, &nonce)
            .await
        {
            // The same re-read as an advance: our nonce means applied; the
            // progress as expected means provably not (the bucket is then
            // untouched too: both change in one statement).
            Err(e) if outcome_unknown(&e) => {
                self.resolve_advance(user, id, expected, &nonce, e).await
            }
            other => other.map_err(StoreError::from),
        }
    }

    async fn accept_recovery_code(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected_slots: &[Option<RecoveryHash>],
        expected_attempts: Attempts,
        slot: usize,
        replacement: Option<RecoveryHash>,
    ) -> Result<bool, StoreError> {
        let mut slots = expected_slots.to_vec();
        // A slot that does not hold a code cannot be accepted: no write.
        let Some(cell) = slots.get_mut(slot) else {
            return Ok(false);
        };
        if cell.is_none() {
            return Ok(false);
        }
        *cell = replacement;
        let as_read = self.encode(expected_slots)?;
        let nonce = fresh_nonce();
        let accepted = sqlx::query(&self.sql.accept_recovery)
            .bind(self.encode(&slots)?)
            .bind(nonce.to_vec())
            .bind(id.as_str())
            .bind(user)
            .bind(as_read.as_slice())
            .bind(i64::from(expected_attempts.used()))
            .bind(bits(expected_attempts.since()))
            .execute(&mut *lease::connection(&self.pool).await?)
            .await;
        match accepted {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(e) if outcome_unknown(&e) => {
                let write = RecoveryAccept {
                    slot,
                    replacement,
                    as_read,
                    attempts: expected_attempts,
                };
                self.resolve_recovery_accept(user, id, write, &nonce, e)
                    .await
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn replace_recovery_codes(
        &self,
        user: &str,
        id: &AuthenticatorId,
        slots: Vec<Option<RecoveryHash>>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(&self.sql.replace_slots)
            .bind(self.encode(&slots)?)
            .bind(id.as_str())
            .bind(user)
            .execute(&mut *lease::connection(&self.pool).await?)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    async fn update_attempts(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: Attempts,
        next: Attempts,
    ) -> Result<bool, StoreError> {
        let sql = match id.kind() {
            AuthenticatorKind::Otp => &self.sql.attempts_otp,
            AuthenticatorKind::RecoveryCode => &self.sql.attempts_recovery,
        };
        let updated = sqlx::query(sql)
            .bind(i64::from(next.used()))
            .bind(bits(next.since()))
            .bind(id.as_str())
            .bind(user)
            .bind(i64::from(expected.used()))
            .bind(bits(expected.since()))
            .execute(&mut *lease::connection(&self.pool).await?)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    async fn remove(&self, user: &str, id: &AuthenticatorId) -> Result<bool, StoreError> {
        let sql = match id.kind() {
            AuthenticatorKind::Otp => &self.sql.remove_otp,
            AuthenticatorKind::RecoveryCode => &self.sql.remove_recovery,
        };
        let deleted = sqlx::query(sql)
            .bind(id.as_str())
            .bind(user)
            .execute(&mut *lease::connection(&self.pool).await?)
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }
}
