//! [`SqlStore`]: the engine's [`MfaStore`] over SQLite or PostgreSQL.
//!
//! Every one-time guard is a single conditional statement — never a read
//! followed by a write:
//!
//! - enrollment: `INSERT … ON CONFLICT (user_id) DO UPDATE … WHERE active = 0`
//!   (an active authenticator makes it a no-op);
//! - step advance: `UPDATE … WHERE <every progress column> = <expected>`,
//!   and, when it confirms an enrollment, the recovery codes are activated
//!   in the same transaction;
//! - recovery-code consumption: `UPDATE … SET slots = <new> WHERE slots =
//!   <as read>`, retried from a fresh read only while the wanted slot still
//!   holds the expected hash;
//! - attempt counting: `UPDATE … WHERE attempts_used = <expected> AND
//!   attempts_since = <expected>`.
//!
//! u64 values (time steps, times) are stored as the BIGINT with the same
//! bits; they are only ever compared for equality.

use sqlx::Row;
use sqlx::any::AnyRow;
use totp_engine::{
    Algorithm, Attempts, AuthenticatorId, AuthenticatorKind, Digits, Drift, Enrolled, MfaStore,
    OtpAuthenticator, OtpProgress, Period, RECOVERY_HASH_LEN, RecoveryAuthenticator, RecoveryHash,
    Secret, TotpParams, UserAuthenticators,
};

use crate::db::{Db, DbError};

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

const fn bits(v: u64) -> i64 {
    v as i64
}

const fn unbits(v: i64) -> u64 {
    v as u64
}

fn corrupt(table: &'static str, what: &'static str) -> DbError {
    DbError::Corrupt { table, what }
}

/// Slots as one byte string: per slot a flag byte (1 present, 0 used) and,
/// if present, the 49-byte hash.
fn encode_slots(slots: &[Option<RecoveryHash>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(slots.len() * (1 + RECOVERY_HASH_LEN));
    for slot in slots {
        match slot {
            Some(h) => {
                out.push(1);
                out.extend_from_slice(&h.to_bytes());
            }
            None => out.push(0),
        }
    }
    out
}

fn decode_slots(mut bytes: &[u8]) -> Result<Vec<Option<RecoveryHash>>, DbError> {
    let mut slots = Vec::new();
    while let Some((&flag, rest)) = bytes.split_first() {
        match flag {
            0 => {
                slots.push(None);
                bytes = rest;
            }
            1 if rest.len() >= RECOVERY_HASH_LEN => {
                let (hash, rest) = rest.split_at(RECOVERY_HASH_LEN);
                slots.push(Some(
                    RecoveryHash::from_bytes(hash)
                        .map_err(|_| corrupt("recovery_authenticators", "hash"))?,
                ));
                bytes = rest;
            }
            _ => return Err(corrupt("recovery_authenticators", "slots")),
        }
    }
    Ok(slots)
}

fn otp_from_row(row: &AnyRow) -> Result<OtpAuthenticator, DbError> {
    const T: &str = "otp_authenticators";
    let id: String = row.try_get("id")?;
    let secret: Vec<u8> = row.try_get("secret")?;
    let algorithm: String = row.try_get("algorithm")?;
    let digits: i64 = row.try_get("digits")?;
    let period: i64 = row.try_get("period")?;
    let t0: i64 = row.try_get("t0")?;
    let algorithm = Algorithm::from_uri_name(&algorithm).ok_or_else(|| corrupt(T, "algorithm"))?;
    let params = TotpParams::default()
        .with_algorithm(algorithm)
        .map_err(|_| corrupt(T, "algorithm"))?
        .with_digits(
            Digits::new(u32::try_from(digits).unwrap_or(0)).map_err(|_| corrupt(T, "digits"))?,
        )
        .with_period(
            Period::new(u64::try_from(period).unwrap_or(0)).map_err(|_| corrupt(T, "period"))?,
        )
        .with_t0(unbits(t0));
    let stepped: i64 = row.try_get("stepped")?;
    let last_step: i64 = row.try_get("last_step")?;
    Ok(OtpAuthenticator {
        id: AuthenticatorId::parse(&id).ok_or_else(|| corrupt(T, "id"))?,
        secret: Secret::from_bytes(&secret).map_err(|_| corrupt(T, "secret"))?,
        params,
        progress: OtpProgress {
            last_step: (stepped != 0).then_some(unbits(last_step)),
            drift: Drift::new(row.try_get("drift")?).map_err(|_| corrupt(T, "drift"))?,
            active: row.try_get::<i64, _>("active")? != 0,
        },
        attempts: Attempts::from_parts(
            u32::try_from(row.try_get::<i64, _>("attempts_used")?)
                .map_err(|_| corrupt(T, "attempts"))?,
            unbits(row.try_get("attempts_since")?),
        ),
        created_at: unbits(row.try_get("created_at")?),
    })
}

fn recovery_from_row(row: &AnyRow) -> Result<RecoveryAuthenticator, DbError> {
    const T: &str = "recovery_authenticators";
    let id: String = row.try_get("id")?;
    let slots: Vec<u8> = row.try_get("slots")?;
    Ok(RecoveryAuthenticator {
        id: AuthenticatorId::parse(&id).ok_or_else(|| corrupt(T, "id"))?,
        active: row.try_get::<i64, _>("active")? != 0,
        slots: decode_slots(&slots)?,
        attempts: Attempts::from_parts(
            u32::try_from(row.try_get::<i64, _>("attempts_used")?)
                .map_err(|_| corrupt(T, "attempts"))?,
            unbits(row.try_get("attempts_since")?),
        ),
        created_at: unbits(row.try_get("created_at")?),
    })
}

fn progress_columns(p: &OtpProgress) -> (i64, i64, i64, i64) {
    (
        i64::from(p.last_step.is_some()),
        bits(p.last_step.unwrap_or(0)),
        i64::from(p.drift.steps()),
        i64::from(p.active),
    )
}

impl MfaStore for SqlStore {
    type Error = DbError;

    async fn load(&self, user: &str) -> Result<UserAuthenticators, DbError> {
        let otp = sqlx::query("SELECT * FROM otp_authenticators WHERE user_id = $1")
            .bind(user)
            .fetch_optional(&self.db.pool)
            .await?;
        let recovery = sqlx::query("SELECT * FROM recovery_authenticators WHERE user_id = $1")
            .bind(user)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(UserAuthenticators {
            otp: otp.as_ref().map(otp_from_row).transpose()?,
            recovery: recovery.as_ref().map(recovery_from_row).transpose()?,
        })
    }

    async fn enroll(
        &self,
        user: &str,
        otp: OtpAuthenticator,
        recovery: Option<RecoveryAuthenticator>,
    ) -> Result<Enrolled, DbError> {
        let mut tx = self.db.pool.begin().await?;
        let (stepped, last, drift, active) = progress_columns(&otp.progress);
        let inserted = sqlx::query(
            "INSERT INTO otp_authenticators (id, user_id, secret, algorithm, digits, period, t0, stepped, last_step, drift, active, attempts_used, attempts_since, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (user_id) DO UPDATE SET id = excluded.id, secret = excluded.secret, algorithm = excluded.algorithm,
               digits = excluded.digits, period = excluded.period, t0 = excluded.t0, stepped = excluded.stepped,
               last_step = excluded.last_step, drift = excluded.drift, active = excluded.active,
               attempts_used = excluded.attempts_used, attempts_since = excluded.attempts_since, created_at = excluded.created_at
             WHERE otp_authenticators.active = 0",
        )
        .bind(otp.id.as_str())
        .bind(user)
        .bind(otp.secret.expose_bytes().to_vec())
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
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(Enrolled::AlreadyEnrolled);
        }
        let mut recovery_stored = false;
        if let Some(rec) = recovery {
            recovery_stored = sqlx::query(
                "INSERT INTO recovery_authenticators (id, user_id, active, slots, attempts_used, attempts_since, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (user_id) DO UPDATE SET id = excluded.id, active = excluded.active, slots = excluded.slots,
                   attempts_used = excluded.attempts_used, attempts_since = excluded.attempts_since, created_at = excluded.created_at
                 WHERE recovery_authenticators.active = 0",
            )
            .bind(rec.id.as_str())
            .bind(user)
            .bind(i64::from(rec.active))
            .bind(encode_slots(&rec.slots))
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
    ) -> Result<bool, DbError> {
        let mut tx = self.db.pool.begin().await?;
        let (n_stepped, n_last, n_drift, n_active) = progress_columns(&next);
        let (e_stepped, e_last, e_drift, e_active) = progress_columns(&expected);
        let updated = sqlx::query(
            "UPDATE otp_authenticators SET stepped = $1, last_step = $2, drift = $3, active = $4
             WHERE id = $5 AND user_id = $6 AND stepped = $7 AND last_step = $8 AND drift = $9 AND active = $10",
        )
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
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if next.active && !expected.active {
            sqlx::query(
                "UPDATE recovery_authenticators SET active = 1 WHERE user_id = $1 AND active = 0",
            )
            .bind(user)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn consume_recovery_code(
        &self,
        user: &str,
        id: &AuthenticatorId,
        slot: usize,
        expected: RecoveryHash,
        replacement: Option<RecoveryHash>,
    ) -> Result<bool, DbError> {
        // Each lost round means another request changed the slots, so this
        // loop ends; the bound only guards against a misbehaving database.
        for _ in 0..1000 {
            let current: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT slots FROM recovery_authenticators WHERE id = $1 AND user_id = $2",
            )
            .bind(id.as_str())
            .bind(user)
            .fetch_optional(&self.db.pool)
            .await?;
            let Some(current) = current else {
                return Ok(false);
            };
            let mut slots = decode_slots(&current)?;
            match slots.get_mut(slot) {
                Some(s) if *s == Some(expected) => *s = replacement,
                _ => return Ok(false),
            }
            let updated = sqlx::query(
                "UPDATE recovery_authenticators SET slots = $1 WHERE id = $2 AND user_id = $3 AND slots = $4",
            )
            .bind(encode_slots(&slots))
            .bind(id.as_str())
            .bind(user)
            .bind(current)
            .execute(&self.db.pool)
            .await?
            .rows_affected();
            if updated == 1 {
                return Ok(true);
            }
        }
        Err(corrupt("recovery_authenticators", "slots kept changing"))
    }

    async fn replace_recovery_codes(
        &self,
        user: &str,
        id: &AuthenticatorId,
        slots: Vec<Option<RecoveryHash>>,
    ) -> Result<bool, DbError> {
        let updated = sqlx::query(
            "UPDATE recovery_authenticators SET slots = $1, attempts_used = 0, attempts_since = 0 WHERE id = $2 AND user_id = $3",
        )
        .bind(encode_slots(&slots))
        .bind(id.as_str())
        .bind(user)
        .execute(&self.db.pool)
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
    ) -> Result<bool, DbError> {
        let sql = match id.kind() {
            AuthenticatorKind::Otp => {
                "UPDATE otp_authenticators SET attempts_used = $1, attempts_since = $2
                 WHERE id = $3 AND user_id = $4 AND attempts_used = $5 AND attempts_since = $6"
            }
            AuthenticatorKind::RecoveryCode => {
                "UPDATE recovery_authenticators SET attempts_used = $1, attempts_since = $2
                 WHERE id = $3 AND user_id = $4 AND attempts_used = $5 AND attempts_since = $6"
            }
        };
        let updated = sqlx::query(sql)
            .bind(i64::from(next.used()))
            .bind(bits(next.since()))
            .bind(id.as_str())
            .bind(user)
            .bind(i64::from(expected.used()))
            .bind(bits(expected.since()))
            .execute(&self.db.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    async fn remove(&self, user: &str, id: &AuthenticatorId) -> Result<bool, DbError> {
        let sql = match id.kind() {
            AuthenticatorKind::Otp => {
                "DELETE FROM otp_authenticators WHERE id = $1 AND user_id = $2"
            }
            AuthenticatorKind::RecoveryCode => {
                "DELETE FROM recovery_authenticators WHERE id = $1 AND user_id = $2"
            }
        };
        let deleted = sqlx::query(sql)
            .bind(id.as_str())
            .bind(user)
            .execute(&self.db.pool)
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }
}
