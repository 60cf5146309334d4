//! The password grant's brute-force protection, as stored: the
//! `login_failures` table (consecutive failed logins per user and client
//! address, Auth0's brute-force protection) and `login_address_throttle`
//! (failed logins per client address across accounts, Auth0's suspicious-IP
//! throttling), both from migration 2.
//!
//! Every change is one conditional statement whose condition the database
//! evaluates on the row's current version (PostgreSQL re-checks it after
//! taking the row lock; SQLite serializes writers), so concurrent requests,
//! in one process or in several on one database, can never charge past a
//! limit or lose a charge. A charge is made *before* the password is
//! checked; the caller clears or refunds it after a success.
//!
//! Time is an input (`now`, Unix seconds); nothing here reads a clock.

use sha2::Digest as _;
use sqlx::Row;

use super::{Db, DbError, bits, unbits};

/// The limits of the login throttle (validated by the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Consecutive failed logins for one (user, address) pair that block it.
    pub max_failures: u32,
    /// Seconds a block (and a run of failures) lasts after the last failure.
    pub block_secs: u64,
    /// Failed logins one address may make across accounts in a burst.
    pub address_capacity: u32,
    /// Seconds per failed login the address bucket refills.
    pub address_refill_secs: u64,
}

impl Default for LoginPolicy {
    /// Auth0's defaults: 10 consecutive failures block a pair for 30 days;
    /// 100 failures per address per day (one more every 864 s).
    fn default() -> Self {
        Self {
            max_failures: 10,
            block_secs: 30 * 86_400,
            address_capacity: 100,
            address_refill_secs: 864,
        }
    }
}

impl LoginPolicy {
    /// The latest `last_failed_at` whose run of failures has expired at `now`.
    fn cutoff(&self, now: u64) -> u64 {
        now.saturating_sub(self.block_secs)
    }

    /// Whether a stored pair is blocked at `now`.
    #[must_use]
    pub fn is_blocked(&self, row: &LoginFailureRow, now: u64) -> bool {
        row.failures >= u64::from(self.max_failures) && row.last_failed_at > self.cutoff(now)
    }

    /// How far ahead of `now` an address's bucket may run (GCRA's
    /// tolerance): `capacity - 1` refill periods.
    fn tolerance(&self) -> u64 {
        u64::from(self.address_capacity.saturating_sub(1)).saturating_mul(self.address_refill_secs)
    }
}

/// A (user, address) pair's run of failed logins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailureRow {
    /// The client address (IPv4, or an IPv6 /64).
    pub address: String,
    /// Consecutive failed logins (charged attempts).
    pub failures: u64,
    /// Unix time of the last one.
    pub last_failed_at: u64,
}

/// What charging one login attempt to a (user, address) pair found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairCharge {
    /// The attempt is counted; the password may be checked.
    Charged,
    /// The pair is blocked: nothing was charged, the password must not be checked.
    Blocked,
}

/// What charging one login attempt to an address's bucket found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressCharge {
    /// The attempt is counted.
    Charged,
    /// The bucket is empty: nothing was charged; one attempt is available
    /// again in this many seconds.
    Throttled(u64),
}

/// How many times a charge re-runs when concurrent requests keep creating
/// or deleting the row it is about to charge (each round, one of them wins).
const ROUNDS: usize = 16;

/// The key of a username: its SHA-256, so that any submitted name (of any
/// length, known or not) is counted the same way.
fn user_key(username: &str) -> Vec<u8> {
    sha2::Sha256::digest(username.as_bytes()).to_vec()
}

impl Db {
    /// Charges one login attempt of `username` from `address` at `now`,
    /// unless the pair is blocked: a run of `max_failures` failures, the
    /// last less than `block_secs` ago. A run older than that starts over.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn charge_login_failure(
        &self,
        username: &str,
        address: &str,
        policy: &LoginPolicy,
        now: u64,
    ) -> Result<PairCharge, DbError> {
        let key = user_key(username);
        let cutoff = bits(policy.cutoff(now));
        for _ in 0..ROUNDS {
            let charged = sqlx::query(
                "UPDATE login_failures
                 SET failures = CASE WHEN last_failed_at <= $3 THEN 1 ELSE failures + 1 END,
                     last_failed_at = CASE WHEN last_failed_at > $4 THEN last_failed_at ELSE $4 END
                 WHERE user_key = $1 AND address = $2 AND (failures < $5 OR last_failed_at <= $3)",
            )
            .bind(key.clone())
            .bind(address)
            .bind(cutoff)
            .bind(bits(now))
            .bind(i64::from(policy.max_failures))
            .execute(&self.pool)
            .await?
            .rows_affected();
            if charged == 1 {
                return Ok(PairCharge::Charged);
            }
            match self.login_failure_row(&key, address).await? {
                Some(row) if policy.is_blocked(&row, now) => return Ok(PairCharge::Blocked),
                // Changed between the two statements: charge again.
                Some(_) => {}
                None => {
                    sqlx::query("DELETE FROM login_failures WHERE last_failed_at <= $1")
                        .bind(cutoff)
                        .execute(&self.pool)
                        .await?;
                    let inserted = sqlx::query(
                        "INSERT INTO login_failures (user_key, address, failures, last_failed_at)
                         VALUES ($1, $2, 1, $3)
                         ON CONFLICT (user_key, address) DO NOTHING",
                    )
                    .bind(key.clone())
                    .bind(address)
                    .bind(bits(now))
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    if inserted == 1 {
                        return Ok(PairCharge::Charged);
                    }
                }
            }
        }
        Err(DbError::Contention("login_failures"))
    }

    async fn login_failure_row(
        &self,
        key: &[u8],
        address: &str,
    ) -> Result<Option<LoginFailureRow>, DbError> {
        sqlx::query(
            "SELECT address, failures, last_failed_at FROM login_failures
             WHERE user_key = $1 AND address = $2",
        )
        .bind(key.to_vec())
        .bind(address)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| failure_row(&row))
        .transpose()
    }

    /// Every counted pair of `username` (expired ones included), by address.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn login_failures(&self, username: &str) -> Result<Vec<LoginFailureRow>, DbError> {
        sqlx::query(
            "SELECT address, failures, last_failed_at FROM login_failures
             WHERE user_key = $1 ORDER BY address",
        )
        .bind(user_key(username))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(failure_row)
        .collect()
    }

    /// Ends every block and run of failures of `username`, from every
    /// address (a successful login, `users unblock`, a new password);
    /// returns how many pairs were cleared.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn clear_login_failures(&self, username: &str) -> Result<u64, DbError> {
        Ok(
            sqlx::query("DELETE FROM login_failures WHERE user_key = $1")
                .bind(user_key(username))
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Charges one login attempt to `address`'s bucket at `now`, unless it
    /// is empty: `address_capacity` attempts in a burst, one more every
    /// `address_refill_secs`.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn charge_login_address(
        &self,
        address: &str,
        policy: &LoginPolicy,
        now: u64,
    ) -> Result<AddressCharge, DbError> {
        let period = bits(policy.address_refill_secs);
        let limit = bits(now.saturating_add(policy.tolerance()));
        for _ in 0..ROUNDS {
            let charged = sqlx::query(
                "UPDATE login_address_throttle
                 SET tat = (CASE WHEN tat > $2 THEN tat ELSE $2 END) + $3
                 WHERE address = $1 AND (CASE WHEN tat > $2 THEN tat ELSE $2 END) <= $4",
            )
            .bind(address)
            .bind(bits(now))
            .bind(period)
            .bind(limit)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if charged == 1 {
                return Ok(AddressCharge::Charged);
            }
            match self.login_address_tat(address).await? {
                Some(tat) if tat > now.saturating_add(policy.tolerance()) => {
                    let retry = tat - policy.tolerance() - now;
                    return Ok(AddressCharge::Throttled(retry.max(1)));
                }
                Some(_) => {}
                None => {
                    sqlx::query("DELETE FROM login_address_throttle WHERE tat <= $1")
                        .bind(bits(now))
                        .execute(&self.pool)
                        .await?;
                    let inserted = sqlx::query(
                        "INSERT INTO login_address_throttle (address, tat) VALUES ($1, $2)
                         ON CONFLICT (address) DO NOTHING",
                    )
                    .bind(address)
                    .bind(bits(now.saturating_add(policy.address_refill_secs)))
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    if inserted == 1 {
                        return Ok(AddressCharge::Charged);
                    }
                }
            }
        }
        Err(DbError::Contention("login_address_throttle"))
    }

    /// Gives back one attempt charged to `address` (the login succeeded, or
    /// was refused before its password was checked).
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn refund_login_address(
        &self,
        address: &str,
        policy: &LoginPolicy,
    ) -> Result<(), DbError> {
        sqlx::query("UPDATE login_address_throttle SET tat = tat - $2 WHERE address = $1")
            .bind(address)
            .bind(bits(policy.address_refill_secs))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The stored theoretical arrival time of `address`'s bucket, if any.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn login_address_tat(&self, address: &str) -> Result<Option<u64>, DbError> {
        let tat: Option<i64> =
            sqlx::query_scalar("SELECT tat FROM login_address_throttle WHERE address = $1")
                .bind(address)
                .fetch_optional(&self.pool)
                .await?;
        Ok(tat.map(unbits))
    }
}

fn failure_row(row: &sqlx::any::AnyRow) -> Result<LoginFailureRow, DbError> {
    Ok(LoginFailureRow {
        address: row.try_get("address")?,
        failures: unbits(row.try_get("failures")?),
        last_failed_at: unbits(row.try_get("last_failed_at")?),
    })
}
