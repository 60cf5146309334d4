//! [`SqlxStore::import`]: bulk import of OTP enrollments made elsewhere
//! (a migration from another system, a load test's fixture), many rows
//! per statement in one transaction.
//!
//! Not here: enrollment through the flow ([`MfaStore::enroll`], one user at
//! a time, with its already-enrolled rule), the SQL of the other statements
//! (`statements`).
//!
//! [`MfaStore::enroll`]: totp_engine::MfaStore::enroll

use std::fmt::Write as _;

use totp_engine::OtpAuthenticator;
use zeroize::Zeroizing;

use crate::rows::{bits, progress_columns};
use crate::sealing::otp_binding;
use crate::{SqlxStore, StoreError};

/// Rows per `INSERT` (15 values each: well under both databases' limits on
/// bound parameters).
const ROWS_PER_STATEMENT: usize = 200;

/// The columns of one imported row, in statement order.
const COLUMNS: usize = 15;

impl SqlxStore {
    /// Imports OTP authenticators, one per `(user id, authenticator)`, as
    /// they are (active or pending, with their progress and attempts), in
    /// one transaction: all are stored or none. A user who already has an
    /// OTP authenticator keeps it, and the imported one is skipped; returns
    /// how many were stored. Secrets are sealed under the keyring's current
    /// key like every other write.
    ///
    /// This is for enrollments made elsewhere; users enrolling through the
    /// flow go through [`MfaStore::enroll`](totp_engine::MfaStore::enroll).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if the database fails (nothing is stored).
    pub async fn import(&self, batch: &[(String, OtpAuthenticator)]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut stored = 0;
        for chunk in batch.chunks(ROWS_PER_STATEMENT) {
            let mut sql = format!(
                "INSERT INTO {} (id, user_id, secret, algorithm, digits, period, t0, stepped,
                    last_step, drift, active, attempts_used, attempts_since, created_at,
                    secret_key_id) VALUES ",
                self.sql.otp
            );
            for i in 0..chunk.len() {
                let base = i.saturating_mul(COLUMNS);
                sql.push_str(if i == 0 { "(" } else { ", (" });
                for c in 1..=COLUMNS {
                    let sep = if c == COLUMNS { ")" } else { ", " };
                    let _ = write!(sql, "${}{sep}", base.saturating_add(c));
                }
            }
            sql.push_str(" ON CONFLICT (user_id) DO NOTHING");
            let mut query = sqlx::query(&sql);
            for (user, otp) in chunk {
                let (secret, key_id) = self.sealed(user, otp);
                let [stepped, last, drift, active] = progress_columns(&otp.progress);
                query = query
                    .bind(otp.id.as_str().to_owned())
                    .bind(user.clone())
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
                    .bind(key_id);
            }
            stored = u64::saturating_add(stored, query.execute(&mut *tx).await?.rows_affected());
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// The secret as stored: sealed under the current key (and its id) with
    /// a keyring, plain without.
    pub(crate) fn sealed(
        &self,
        user: &str,
        otp: &OtpAuthenticator,
    ) -> (Zeroizing<Vec<u8>>, Option<i64>) {
        match self.options.keyring() {
            Some(keyring) => {
                let key = keyring.current();
                let sealed = key.seal(
                    &otp.secret,
                    &otp_binding(user, otp.id.as_str()),
                    &mut rand::rng(),
                );
                (
                    Zeroizing::new(sealed.as_bytes().to_vec()),
                    Some(i64::from(key.id())),
                )
            }
            None => (Zeroizing::new(otp.secret.expose_bytes().to_vec()), None),
        }
    }
}
