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
//! - recovery-code consumption: `UPDATE … SET slots = <new> WHERE slots =
//!   <as read>` (the slot encoding is unique, so equal bytes mean equal
//!   slots), retried from a fresh read only while the wanted slot still
//!   holds the expected hash;
//! - attempt counting: `UPDATE … WHERE attempts_used = <expected> AND
//!   attempts_since = <expected>`.
//!
//! [`MfaStore::load`] is one `SELECT` (a consistent snapshot on both
//! databases). Nothing here reads a clock: every time comes from the flow.
//!
//! With a [`Keyring`](crate::Keyring), secrets are sealed before they are
//! bound into a statement and opened right after a row is read; the store
//! refuses to start on a database holding secrets sealed under a key it
//! was not given.

use sqlx::AnyPool;
use totp_engine::{
    Attempts, AuthenticatorId, AuthenticatorKind, Enrolled, MfaStore, OtpAuthenticator,
    OtpProgress, RecoveryAuthenticator, RecoveryHash, UserAuthenticators, decode_recovery_slots,
    encode_recovery_slots,
};

use sqlx::Row as _;
use zeroize::Zeroizing;

use crate::rows::{bits, open_secret, otp_from_row, progress_columns, recovery_from_row};
use crate::sealing::otp_binding;
use crate::{Backend, StoreError, StoreOptions, migrate};

/// What [`SqlxStore::reseal`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Secrets sealed under the current key by this run (plain ones and
    /// ones under previous keys).
    pub resealed: u64,
    /// Secrets a concurrent write replaced before this run could re-seal
    /// them (the new value is sealed under the current key by its writer).
    pub skipped: u64,
}

/// The engine's [`MfaStore`] over a sqlx `Any` pool on SQLite or
/// PostgreSQL. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqlxStore {
    pool: AnyPool,
    backend: Backend,
    options: StoreOptions,
    sql: std::sync::Arc<Statements>,
}

/// The statements, with the table prefix spliced in once.
#[derive(Debug)]
struct Statements {
    otp: String,
    recovery: String,
    load: String,
    enroll_otp: String,
    enroll_recovery: String,
    advance: String,
    reread_otp: String,
    reread_slots: String,
    activate_recovery: String,
    read_slots: String,
    swap_slots: String,
    replace_slots: String,
    attempts_otp: String,
    attempts_recovery: String,
    remove_otp: String,
    remove_recovery: String,
    key_ids: String,
    unsealed_batch: String,
    reseal_one: String,
}

impl Statements {
    fn new(options: &StoreOptions) -> Self {
        let otp = options.table("otp_authenticators");
        let rec = options.table("recovery_authenticators");
        let attempts = |table: &str| {
            format!(
                "UPDATE {table} SET attempts_used = $1, attempts_since = $2
                 WHERE id = $3 AND user_id = $4 AND attempts_used = $5 AND attempts_since = $6"
            )
        };
        Self {
            load: format!(
                "SELECT o.id AS otp_id, o.secret AS otp_secret, o.algorithm AS otp_algorithm,
                        o.digits AS otp_digits, o.period AS otp_period, o.t0 AS otp_t0,
                        o.stepped AS otp_stepped, o.last_step AS otp_last_step, o.drift AS otp_drift,
                        o.secret_key_id AS otp_secret_key_id,
                        o.active AS otp_active, o.attempts_used AS otp_attempts_used,
                        o.attempts_since AS otp_attempts_since, o.created_at AS otp_created_at,
                        r.id AS rec_id, r.active AS rec_active, r.slots AS rec_slots,
                        r.attempts_used AS rec_attempts_used, r.attempts_since AS rec_attempts_since,
                        r.created_at AS rec_created_at
                 FROM (SELECT CAST($1 AS TEXT) AS user_id) AS u
                 LEFT JOIN {otp} AS o ON o.user_id = u.user_id
                 LEFT JOIN {rec} AS r ON r.user_id = u.user_id"
            ),
            enroll_otp: format!(
                "INSERT INTO {otp} (id, user_id, secret, algorithm, digits, period, t0, stepped,
                    last_step, drift, active, attempts_used, attempts_since, created_at, secret_key_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (user_id) DO UPDATE SET id = excluded.id, secret = excluded.secret,
                    secret_key_id = excluded.secret_key_id,
                    algorithm = excluded.algorithm, digits = excluded.digits,
                    period = excluded.period, t0 = excluded.t0, stepped = excluded.stepped,
                    last_step = excluded.last_step, drift = excluded.drift,
                    active = excluded.active, attempts_used = excluded.attempts_used,
                    attempts_since = excluded.attempts_since, created_at = excluded.created_at
                 WHERE {otp}.active = 0"
            ),
            enroll_recovery: format!(
                "INSERT INTO {rec} (id, user_id, active, slots, attempts_used, attempts_since, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (user_id) DO UPDATE SET id = excluded.id, active = excluded.active,
                    slots = excluded.slots, attempts_used = excluded.attempts_used,
                    attempts_since = excluded.attempts_since, created_at = excluded.created_at
                 WHERE {rec}.active = 0"
            ),
            advance: format!(
                "UPDATE {otp} SET stepped = $1, last_step = $2, drift = $3, active = $4,
                    write_nonce = $11
                 WHERE id = $5 AND user_id = $6
                   AND stepped = $7 AND last_step = $8 AND drift = $9 AND active = $10"
            ),
            reread_otp: format!(
                "SELECT write_nonce, stepped, last_step, drift, active FROM {otp}
                 WHERE id = $1 AND user_id = $2"
            ),
            reread_slots: format!(
                "SELECT write_nonce, slots FROM {rec} WHERE id = $1 AND user_id = $2"
            ),
            activate_recovery: format!(
                "UPDATE {rec} SET active = 1 WHERE user_id = $1 AND active = 0"
            ),
            read_slots: format!("SELECT slots FROM {rec} WHERE id = $1 AND user_id = $2"),
            swap_slots: format!(
                "UPDATE {rec} SET slots = $1, write_nonce = $5
                 WHERE id = $2 AND user_id = $3 AND slots = $4"
            ),
            replace_slots: format!(
                "UPDATE {rec} SET slots = $1, attempts_used = 0, attempts_since = 0
                 WHERE id = $2 AND user_id = $3"
            ),
            attempts_otp: attempts(&otp),
            attempts_recovery: attempts(&rec),
            remove_otp: format!("DELETE FROM {otp} WHERE id = $1 AND user_id = $2"),
            remove_recovery: format!("DELETE FROM {rec} WHERE id = $1 AND user_id = $2"),
            key_ids: format!(
                "SELECT DISTINCT secret_key_id FROM {otp} WHERE secret_key_id IS NOT NULL"
            ),
            unsealed_batch: format!(
                "SELECT id, user_id, secret, secret_key_id FROM {otp}
                 WHERE secret_key_id IS NULL OR secret_key_id <> $1
                 ORDER BY id LIMIT 100"
            ),
            reseal_one: format!(
                "UPDATE {otp} SET secret = $1, secret_key_id = $2
                 WHERE id = $3 AND user_id = $4 AND secret = $5"
            ),
            otp,
            recovery: rec,
        }
    }
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
            sql: std::sync::Arc::new(Statements::new(&options)),
            pool,
            backend,
            options,
        };
        store.check_keys().await?;
        Ok(store)
    }

    /// Refuses a database holding secrets sealed under a key that is not in
    /// the keyring (or any sealed secret, without a keyring).
    async fn check_keys(&self) -> Result<(), StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(&self.sql.key_ids)
            .fetch_all(&self.pool)
            .await?;
        let keyring = self.options.keyring();
        for id in ids {
            let id = u32::try_from(id).ok();
            if id.is_none_or(|id| keyring.and_then(|k| k.get(id)).is_none()) {
                return Err(StoreError::Sealing {
                    key_id: id,
                    reason: match keyring {
                        None => {
                            "the database holds sealed secrets and no sealing key was given".into()
                        }
                        Some(k) => format!(
                            "the database holds secrets sealed under a key that is not among \
                             the given ones ({})",
                            k.ids()
                                .map(|i| format!("{i:#010x}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    },
                });
            }
        }
        Ok(())
    }

    /// Seals every plain secret, and re-seals every secret sealed under a
    /// previous key, under the keyring's current key: one row at a time,
    /// each a compare-and-set on the stored bytes, so it runs online beside
    /// serving instances (which must have the current key in their
    /// keyrings). Safe to interrupt and to run again.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sealing`] without a keyring or for a secret that does
    /// not open; [`StoreError::Database`].
    pub async fn reseal(&self) -> Result<Resealed, StoreError> {
        let keyring = self.options.keyring().ok_or_else(|| StoreError::Sealing {
            key_id: None,
            reason: "resealing needs a keyring".into(),
        })?;
        let current = keyring.current();
        let mut done = Resealed::default();
        let mut stalled = 0u8;
        loop {
            let rows = sqlx::query(&self.sql.unsealed_batch)
                .bind(i64::from(current.id()))
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(done);
            }
            let mut progressed = false;
            for row in &rows {
                let id: String = row.try_get("id")?;
                let user: String = row.try_get("user_id")?;
                let stored = Zeroizing::new(row.try_get::<Vec<u8>, _>("secret")?);
                let key_id: Option<i64> = row.try_get("secret_key_id")?;
                let secret =
                    open_secret(&stored, key_id, Some(keyring), &user, &id, &self.sql.otp)?;
                let sealed = current.seal(&secret, &otp_binding(&user, &id), &mut rand::rng());
                let updated = sqlx::query(&self.sql.reseal_one)
                    .bind(sealed.as_bytes().to_vec())
                    .bind(i64::from(current.id()))
                    .bind(&id)
                    .bind(&user)
                    .bind(stored.to_vec())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                if updated == 1 {
                    done.resealed = done.resealed.saturating_add(1);
                    progressed = true;
                } else {
                    done.skipped = done.skipped.saturating_add(1);
                }
            }
            if progressed {
                stalled = 0;
            } else {
                // Every row of the batch changed under us. Writers with the
                // keyring seal under the current key, so those rows leave
                // the selection; a writer without it would keep them there.
                stalled = stalled.saturating_add(1);
                if stalled >= 3 {
                    return Err(StoreError::Sealing {
                        key_id: None,
                        reason:
                            "another writer keeps storing secrets not sealed under the current key"
                                .into(),
                    });
                }
            }
        }
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

    fn corrupt(&self, what: &'static str) -> StoreError {
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
        let row = sqlx::query(&self.sql.load)
            .bind(user)
            .fetch_one(&self.pool)
            .await?;
        Ok(UserAuthenticators {
            otp: otp_from_row(&row, &self.sql.otp, user, self.options.keyring())?,
            recovery: recovery_from_row(&row, &self.sql.recovery)?,
        })
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
        let (secret, key_id) = match self.options.keyring() {
            Some(keyring) => {
                let key = keyring.current();
                let sealed = key.seal(
                    &otp.secret,
                    &otp_binding(user, otp.id.as_str()),
                    &mut rand::rng(),
                );
                (sealed.as_bytes().to_vec(), Some(i64::from(key.id())))
            }
            None => (otp.secret.expose_bytes().to_vec(), None),
        };
        let secret = Zeroizing::new(secret);
        let mut tx = self.pool.begin().await?;
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

    async fn consume_recovery_code(
        &self,
        user: &str,
        id: &AuthenticatorId,
        slot: usize,
        expected: RecoveryHash,
        replacement: Option<RecoveryHash>,
    ) -> Result<bool, StoreError> {
        // Each lost round means another request changed the slots, so this
        // loop ends; the bound only guards against a misbehaving database.
        for _ in 0..1000 {
            let current: Option<Vec<u8>> = sqlx::query_scalar(&self.sql.read_slots)
                .bind(id.as_str())
                .bind(user)
                .fetch_optional(&self.pool)
                .await?;
            let Some(current) = current else {
                return Ok(false);
            };
            let mut slots = decode_recovery_slots(&current).map_err(|_| self.corrupt("slots"))?;
            match slots.get_mut(slot) {
                Some(s) if *s == Some(expected) => *s = replacement,
                _ => return Ok(false),
            }
            let nonce = fresh_nonce();
            let swapped = sqlx::query(&self.sql.swap_slots)
                .bind(self.encode(&slots)?)
                .bind(id.as_str())
                .bind(user)
                .bind(current)
                .bind(nonce.to_vec())
                .execute(&self.pool)
                .await;
            let updated = match swapped {
                Ok(done) => done.rows_affected(),
                Err(e) if outcome_unknown(&e) => {
                    return self
                        .resolve_consume(user, id, slot, expected, &nonce, e)
                        .await;
                }
                Err(e) => return Err(e.into()),
            };
            if updated == 1 {
                return Ok(true);
            }
        }
        Err(self.corrupt("slots kept changing"))
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
            .execute(&self.pool)
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
            .execute(&self.pool)
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
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }
}

impl SqlxStore {
    /// The step advance: one conditional UPDATE (with the recovery codes'
    /// activation in the same transaction when it confirms an enrollment).
    async fn try_advance(
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
        let confirms = next.active && !expected.active;
        if !confirms {
            // A later login: one statement, no transaction.
            let updated = advance.execute(&self.pool).await?.rows_affected();
            return Ok(updated == 1);
        }
        // Confirmation: the step and the recovery codes activate together.
        let mut tx = self.pool.begin().await?;
        if advance.execute(&mut *tx).await?.rows_affected() != 1 {
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
    async fn resolve_advance(
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

    /// As [`resolve_advance`](Self::resolve_advance), for a recovery-code
    /// consumption: our nonce means consumed (the replacement is stored);
    /// the slot still holding the expected hash means provably not.
    async fn resolve_consume(
        &self,
        user: &str,
        id: &AuthenticatorId,
        slot: usize,
        expected: RecoveryHash,
        nonce: &[u8; 16],
        error: sqlx::Error,
    ) -> Result<bool, StoreError> {
        let Some(row) = self.reread(&self.sql.reread_slots, user, id, error).await? else {
            return Ok(false);
        };
        if row.try_get::<Option<Vec<u8>>, _>("write_nonce")?.as_deref() == Some(&nonce[..]) {
            return Ok(true);
        }
        let slots: Vec<u8> = row.try_get("slots")?;
        let slots = decode_recovery_slots(&slots).map_err(|_| self.corrupt("slots"))?;
        if slots.get(slot) == Some(&Some(expected)) {
            return Err(StoreError::NotApplied);
        }
        Ok(false)
    }

    /// Re-reads one row after an error of unknown outcome, retrying while
    /// the database stays unreachable (about 3 s in all).
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
fn fresh_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
    nonce
}

/// Whether a statement's error leaves its outcome unknown: the connection
/// broke (I/O, protocol, TLS, a closed pool, a crashed worker) after the
/// statement may have reached the database. A database error (a
/// constraint, a serialization failure) is a definite refusal.
fn outcome_unknown(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}
