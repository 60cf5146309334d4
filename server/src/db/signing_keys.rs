//! The `signing_keys` table: the JWT signing key, created on first start.

use sqlx::Row;
use sqlx::any::AnyRow;
use zeroize::Zeroizing;

use super::{Db, DbError, bits};

/// The signing key as stored.
pub struct SigningKeyRow {
    /// Its key id.
    pub kid: String,
    /// The private key, PKCS#8 DER (wiped on drop).
    pub private_pkcs8: Zeroizing<Vec<u8>>,
    /// The public key.
    pub public_key: Vec<u8>,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKeyRow {
    fn from_row(row: &AnyRow) -> Result<Self, DbError> {
        Ok(Self {
            kid: row.try_get("kid")?,
            private_pkcs8: Zeroizing::new(row.try_get("private_pkcs8")?),
            public_key: row.try_get("public_key")?,
        })
    }
}

impl Db {
    /// The signing key, storing `candidate` if there is none yet. The key
    /// lives in slot 1: concurrent first starts all insert a candidate with
    /// `ON CONFLICT DO NOTHING`, then all read the one that won.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn signing_key(
        &self,
        candidate: &SigningKeyRow,
        now: u64,
    ) -> Result<SigningKeyRow, DbError> {
        sqlx::query(
            "INSERT INTO signing_keys (slot, kid, private_pkcs8, public_key, created_at)
             VALUES (1, $1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(&candidate.kid)
        .bind(candidate.private_pkcs8.to_vec())
        .bind(candidate.public_key.clone())
        .bind(bits(now))
        .execute(&self.pool)
        .await?;
        let row =
            sqlx::query("SELECT kid, private_pkcs8, public_key FROM signing_keys WHERE slot = 1")
                .fetch_one(&self.pool)
                .await?;
        SigningKeyRow::from_row(&row)
    }
}
