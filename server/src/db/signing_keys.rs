//! The `signing_keys` table: the JWT signing keys, at most one per
//! algorithm ([`SigningAlg::slot`]: Ed25519 in slot 1, RSA in slot 2),
//! each created on the first start that signs with it, its private half
//! sealed under the database's keyring (bound to its kid, so a sealed key
//! cannot be swapped for another row's).

use sqlx::Row;
use sqlx::any::AnyRow;
use totp_engine::SEALED_OVERHEAD;
use zeroize::Zeroizing;

use super::{Db, DbError, bits};
use crate::tokens::SigningAlg;

/// The signing key as stored, opened.
pub struct SigningKeyRow {
    /// Its algorithm (and so its slot).
    pub alg: SigningAlg,
    /// Its key id.
    pub kid: String,
    /// The private key, PKCS#8 DER (wiped on drop).
    pub private_pkcs8: Zeroizing<Vec<u8>>,
    /// The public key (Ed25519: the 32 bytes; RSA: the RFC 8017
    /// `RSAPublicKey` DER).
    pub public_key: Vec<u8>,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// What the sealing of a signing key is bound to.
fn binding(kid: &str) -> Vec<u8> {
    [b"mfa-server/signing-key\0".as_slice(), kid.as_bytes()].concat()
}

fn sealing_error(reason: impl Into<String>) -> DbError {
    DbError::Sealing {
        what: "signing key",
        reason: reason.into(),
    }
}

impl Db {
    /// Seals `plain` under the current key, bound to `kid`.
    fn seal_private(&self, kid: &str, plain: &[u8]) -> Result<(Vec<u8>, i64), DbError> {
        let key = self.keyring.current();
        let mut out = vec![0u8; plain.len().saturating_add(SEALED_OVERHEAD)];
        key.seal_bytes_into(plain, &binding(kid), &mut rand::rng(), &mut out)
            .map_err(|e| sealing_error(e.to_string()))?;
        Ok((out, i64::from(key.id())))
    }

    /// Opens a stored private key. A plain one (NULL `key_id`) is accepted
    /// only with `accept_plain`: by the start's re-sealing, which seals it;
    /// after that a plain key was planted behind the server's back.
    fn open_private(
        &self,
        kid: &str,
        stored: &[u8],
        key_id: Option<i64>,
        accept_plain: bool,
    ) -> Result<Zeroizing<Vec<u8>>, DbError> {
        let Some(key_id) = key_id else {
            if !accept_plain {
                return Err(sealing_error(
                    "stored plain, although every signing key is sealed at start",
                ));
            }
            return Ok(Zeroizing::new(stored.to_vec()));
        };
        let key = u32::try_from(key_id)
            .ok()
            .and_then(|id| self.keyring.get(id))
            .ok_or_else(|| {
                sealing_error(format!(
                    "sealed under encryption key id {key_id:#010x}, which this server was not given"
                ))
            })?;
        let mut out = Zeroizing::new(vec![0u8; stored.len().saturating_sub(SEALED_OVERHEAD)]);
        let len = key
            .open_bytes_into(stored, &binding(kid), &mut out)
            .map_err(|e| sealing_error(e.to_string()))?
            .len();
        out.truncate(len);
        Ok(out)
    }

    fn row(&self, alg: SigningAlg, row: &AnyRow) -> Result<SigningKeyRow, DbError> {
        self.row_opened(alg, row, false)
    }

    fn row_opened(
        &self,
        alg: SigningAlg,
        row: &AnyRow,
        accept_plain: bool,
    ) -> Result<SigningKeyRow, DbError> {
        let kid: String = row.try_get("kid")?;
        let stored = Zeroizing::new(row.try_get::<Vec<u8>, _>("private_pkcs8")?);
        let key_id: Option<i64> = row.try_get("private_key_id")?;
        Ok(SigningKeyRow {
            private_pkcs8: self.open_private(&kid, &stored, key_id, accept_plain)?,
            public_key: row.try_get("public_key")?,
            alg,
            kid,
        })
    }

    /// The stored signing key of `alg`, if there is one.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails or the stored key does not open.
    pub async fn find_signing_key(
        &self,
        alg: SigningAlg,
    ) -> Result<Option<SigningKeyRow>, DbError> {
        sqlx::query(
            "SELECT kid, private_pkcs8, private_key_id, public_key FROM signing_keys
             WHERE slot = $1 AND alg = $2",
        )
        .bind(alg.slot())
        .bind(alg.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(|row| self.row(alg, &row))
        .transpose()
    }

    /// The signing key of `candidate.alg`, storing `candidate` (sealed) if
    /// there is none yet. The key lives in its algorithm's slot: concurrent
    /// first starts all insert a candidate with `ON CONFLICT DO NOTHING`,
    /// then all read the one that won.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails or the stored key does not open.
    pub async fn signing_key(
        &self,
        candidate: &SigningKeyRow,
        now: u64,
    ) -> Result<SigningKeyRow, DbError> {
        let (sealed, key_id) = self.seal_private(&candidate.kid, &candidate.private_pkcs8)?;
        sqlx::query(
            "INSERT INTO signing_keys (slot, alg, kid, private_pkcs8, private_key_id, public_key, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING",
        )
        .bind(candidate.alg.slot())
        .bind(candidate.alg.as_str())
        .bind(&candidate.kid)
        .bind(sealed)
        .bind(key_id)
        .bind(candidate.public_key.clone())
        .bind(bits(now))
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT kid, private_pkcs8, private_key_id, public_key FROM signing_keys
             WHERE slot = $1 AND alg = $2",
        )
        .bind(candidate.alg.slot())
        .bind(candidate.alg.as_str())
        .fetch_one(&self.pool)
        .await?;
        self.row(candidate.alg, &row)
    }

    /// Seals every signing key stored plain, or under a previous key, under
    /// the current key (a compare-and-set on the stored bytes); refuses one
    /// sealed under a key the keyring lacks.
    ///
    /// # Errors
    ///
    /// [`DbError::Sealing`] for a key that does not open; [`DbError::Sql`].
    pub(crate) async fn reseal_signing_key(&self) -> Result<(), DbError> {
        for alg in [SigningAlg::EdDsa, SigningAlg::Rs256] {
            self.reseal_slot(alg).await?;
        }
        Ok(())
    }

    async fn reseal_slot(&self, alg: SigningAlg) -> Result<(), DbError> {
        let Some(row) = sqlx::query(
            "SELECT kid, private_pkcs8, private_key_id, public_key FROM signing_keys
             WHERE slot = $1 AND alg = $2",
        )
        .bind(alg.slot())
        .bind(alg.as_str())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(());
        };
        let key_id: Option<i64> = row.try_get("private_key_id")?;
        let opened = self.row_opened(alg, &row, true)?;
        if key_id == Some(i64::from(self.keyring.current().id())) {
            return Ok(());
        }
        let stored: Vec<u8> = row.try_get("private_pkcs8")?;
        let (sealed, new_id) = self.seal_private(&opened.kid, &opened.private_pkcs8)?;
        sqlx::query(
            "UPDATE signing_keys SET private_pkcs8 = $1, private_key_id = $2
             WHERE slot = $3 AND private_pkcs8 = $4",
        )
        .bind(sealed)
        .bind(new_id)
        .bind(alg.slot())
        .bind(Zeroizing::new(stored).to_vec())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
