//! The `signing_keys` table: the JWT signing keys. Per algorithm at most
//! one current key (not retired: it signs) and one next key (published,
//! not signing yet), both created on the first start that signs with it;
//! `rotate-signing-key` retires the current key, promotes the next one and
//! stores a new next key. Retired keys stay until no token they signed can
//! be alive. Each private half is sealed under
//! the database's keyring (bound to its kid, so a sealed key cannot be
//! swapped for another row's).

use sqlx::Row;
use sqlx::any::AnyRow;
use totp_engine::SEALED_OVERHEAD;
use zeroize::Zeroizing;

use super::{Db, DbError, bits, unbits};
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
    /// When it stopped signing; `None` while it is its algorithm's current
    /// or next key.
    pub retired_at: Option<u64>,
    /// Whether it is its algorithm's next key: published in the JWKS, not
    /// signing until a rotation promotes it.
    pub next: bool,
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

    fn row(&self, row: &AnyRow) -> Result<SigningKeyRow, DbError> {
        self.row_opened(row, false)
    }

    fn row_opened(&self, row: &AnyRow, accept_plain: bool) -> Result<SigningKeyRow, DbError> {
        let kid: String = row.try_get("kid")?;
        let alg: String = row.try_get("alg")?;
        let alg = alg.parse().map_err(|_| DbError::Corrupt {
            table: "signing_keys",
            what: "alg",
        })?;
        let stored = Zeroizing::new(row.try_get::<Vec<u8>, _>("private_pkcs8")?);
        let key_id: Option<i64> = row.try_get("private_key_id")?;
        Ok(SigningKeyRow {
            private_pkcs8: self.open_private(&kid, &stored, key_id, accept_plain)?,
            public_key: row.try_get("public_key")?,
            retired_at: row.try_get::<Option<i64>, _>("retired_at")?.map(unbits),
            next: row.try_get::<i64, _>("next_key")? == 1,
            alg,
            kid,
        })
    }

    /// The current (not retired) signing key of `alg`, if there is one.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails or the stored key does not open.
    pub async fn find_signing_key(
        &self,
        alg: SigningAlg,
    ) -> Result<Option<SigningKeyRow>, DbError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE alg = $1 AND {CURRENT}"
        ))
        .bind(alg.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(|row| self.row(&row))
        .transpose()
    }

    /// The current signing key of `candidate.alg`, storing `candidate`
    /// (sealed) if there is none yet. Concurrent first starts all insert a
    /// candidate with `ON CONFLICT DO NOTHING` (at most one current key per
    /// algorithm), then all read the one that won.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails or the stored key does not open.
    pub async fn signing_key(
        &self,
        candidate: &SigningKeyRow,
        now: u64,
    ) -> Result<SigningKeyRow, DbError> {
        insert_key(
            &self.pool,
            self.seal_private(&candidate.kid, &candidate.private_pkcs8)?,
            candidate,
            Role::Current,
            now,
        )
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE alg = $1 AND {CURRENT}"
        ))
        .bind(candidate.alg.as_str())
        .fetch_one(&self.pool)
        .await?;
        self.row(&row)
    }

    /// The next key of `candidate.alg`, storing `candidate` (sealed) as
    /// the next key if there is none yet. Concurrent starts all insert a
    /// candidate with `ON CONFLICT DO NOTHING` (at most one next key per
    /// algorithm) and read the one that won; an insert that lost only the
    /// slot to another algorithm's key is retried.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails or the stored key does not open;
    /// [`DbError::Contention`] if three inserts in a row lost their slot.
    pub async fn next_signing_key(
        &self,
        candidate: &SigningKeyRow,
        now: u64,
    ) -> Result<SigningKeyRow, DbError> {
        let sealed = self.seal_private(&candidate.kid, &candidate.private_pkcs8)?;
        for _ in 0..3 {
            insert_key(&self.pool, sealed.clone(), candidate, Role::Next, now).await?;
            let row = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM signing_keys WHERE alg = $1 AND next_key = 1"
            ))
            .bind(candidate.alg.as_str())
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = row {
                return self.row(&row);
            }
        }
        Err(DbError::Contention("signing_keys"))
    }

    /// Every key to publish at a time when keys retired at or before
    /// `retired_by` can no longer have live tokens: the current and next
    /// keys of every algorithm and the keys retired since, oldest first.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails or a stored key does not open.
    pub async fn published_signing_keys(
        &self,
        retired_by: u64,
    ) -> Result<Vec<SigningKeyRow>, DbError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys
             WHERE retired_at IS NULL OR retired_at > $1 ORDER BY slot"
        ))
        .bind(bits(retired_by))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| self.row(row))
        .collect()
    }

    /// The (kid, retired_at, next) of [`Db::published_signing_keys`],
    /// without opening any key: what a server polls to see a rotation.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn published_signing_kids(
        &self,
        retired_by: u64,
    ) -> Result<Vec<(String, Option<u64>, bool)>, DbError> {
        let rows = sqlx::query(
            "SELECT kid, retired_at, next_key FROM signing_keys
             WHERE retired_at IS NULL OR retired_at > $1 ORDER BY slot",
        )
        .bind(bits(retired_by))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("kid")?,
                    row.try_get::<Option<i64>, _>("retired_at")?.map(unbits),
                    row.try_get::<i64, _>("next_key")? == 1,
                ))
            })
            .collect()
    }

    /// Rotates the key of `new.alg` at `now`, in one transaction: retires
    /// the current key (if any), promotes the next key (published ahead)
    /// to current and stores `new` (sealed) as the next key; and deletes
    /// the keys retired at or before `prune_by` (no token they signed can
    /// still be alive). Without a next key (a database from before next
    /// keys, not yet opened by a server) `new` becomes current at once and
    /// no next key is stored ([`Rotated::published_ahead`] is false; store
    /// one with [`Db::next_signing_key`]).
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails (then nothing changed);
    /// [`DbError::Contention`] if a concurrent rotation committed first.
    pub async fn rotate_signing_key(
        &self,
        new: &SigningKeyRow,
        now: u64,
        prune_by: u64,
    ) -> Result<Rotated, DbError> {
        let sealed = self.seal_private(&new.kid, &new.private_pkcs8)?;
        let mut tx = self.pool.begin().await?;
        let retired: Option<String> = sqlx::query_scalar(&format!(
            "SELECT kid FROM signing_keys WHERE alg = $1 AND {CURRENT}"
        ))
        .bind(new.alg.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "UPDATE signing_keys SET retired_at = $1 WHERE alg = $2 AND {CURRENT}"
        ))
        .bind(bits(now))
        .bind(new.alg.as_str())
        .execute(&mut *tx)
        .await?;
        let promoted: Option<String> =
            sqlx::query_scalar("SELECT kid FROM signing_keys WHERE alg = $1 AND next_key = 1")
                .bind(new.alg.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        // The next key, if there is one, is promoted and `new` takes its
        // place; without one `new` becomes current at once.
        let role = if promoted.is_some() {
            sqlx::query("UPDATE signing_keys SET next_key = 0 WHERE alg = $1 AND next_key = 1")
                .bind(new.alg.as_str())
                .execute(&mut *tx)
                .await?;
            Role::Next
        } else {
            Role::Current
        };
        let inserted = insert_key(&mut *tx, sealed, new, role, now).await?;
        let rotated = Rotated {
            retired,
            published_ahead: promoted.is_some(),
            next: promoted.is_some().then(|| new.kid.clone()),
            current: promoted.unwrap_or_else(|| new.kid.clone()),
        };
        if inserted != 1 {
            // Another rotation committed first between our reads and the
            // INSERT (PostgreSQL): leave the database as it made it.
            tx.rollback().await?;
            return Err(DbError::Contention("signing_keys"));
        }
        sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at <= $1")
            .bind(bits(prune_by))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rotated)
    }

    /// Seals every signing key stored plain, or under a previous key, under
    /// the current key (a compare-and-set on the stored bytes); refuses one
    /// sealed under a key the keyring lacks.
    ///
    /// # Errors
    ///
    /// [`DbError::Sealing`] for a key that does not open; [`DbError::Sql`].
    pub(crate) async fn reseal_signing_key(&self) -> Result<(), DbError> {
        let rows = sqlx::query(&format!(
            "SELECT slot, {COLUMNS} FROM signing_keys ORDER BY slot"
        ))
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let key_id: Option<i64> = row.try_get("private_key_id")?;
            let opened = self.row_opened(row, true)?;
            if key_id == Some(i64::from(self.keyring.current().id())) {
                continue;
            }
            let slot: i64 = row.try_get("slot")?;
            let stored: Vec<u8> = row.try_get("private_pkcs8")?;
            let (sealed, new_id) = self.seal_private(&opened.kid, &opened.private_pkcs8)?;
            sqlx::query(
                "UPDATE signing_keys SET private_pkcs8 = $1, private_key_id = $2
                 WHERE slot = $3 AND private_pkcs8 = $4",
            )
            .bind(sealed)
            .bind(new_id)
            .bind(slot)
            .bind(Zeroizing::new(stored).to_vec())
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }
}

/// The columns a [`SigningKeyRow`] is read from.
const COLUMNS: &str = "kid, alg, private_pkcs8, private_key_id, public_key, retired_at, next_key";

/// The condition of an algorithm's current key: not retired, not next.
const CURRENT: &str = "retired_at IS NULL AND next_key = 0";

/// What [`Db::rotate_signing_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The kid of the key that stopped signing; `None` if the algorithm
    /// had no current key.
    pub retired: Option<String>,
    /// The kid of the key that signs from now on.
    pub current: String,
    /// Whether that key was published ahead (it was the next key); false
    /// when the algorithm had no next key and the new key signs at once.
    pub published_ahead: bool,
    /// The kid of the new next key; `None` when the new key became current.
    pub next: Option<String>,
}

/// The role a key is inserted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The algorithm's current key: it signs.
    Current,
    /// The algorithm's next key: published, not signing.
    Next,
}

/// Inserts `key` (its private half already `sealed`) as the current or
/// next key of its algorithm in the next free slot, unless its algorithm
/// has one in that role; how many rows were inserted (0 or 1).
async fn insert_key<'c, E>(
    executor: E,
    (sealed, key_id): (Vec<u8>, i64),
    key: &SigningKeyRow,
    role: Role,
    now: u64,
) -> Result<u64, DbError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    Ok(sqlx::query(
        "INSERT INTO signing_keys (slot, alg, kid, private_pkcs8, private_key_id, public_key, created_at, next_key)
         VALUES ((SELECT COALESCE(MAX(slot), 0) + 1 FROM signing_keys), $1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT DO NOTHING",
    )
    .bind(key.alg.as_str())
    .bind(&key.kid)
    .bind(sealed)
    .bind(key_id)
    .bind(key.public_key.clone())
    .bind(bits(now))
    .bind(i64::from(role == Role::Next))
    .execute(executor)
    .await?
    .rows_affected())
}
