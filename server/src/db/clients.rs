//! The `clients` table: OAuth clients and how they authenticate: no
//! secret (public), a hashed secret, or public keys (`private_key_jwt`:
//! the JWK Set or PEM key of `add-client --jwks` / `--public-key`, with
//! the secret columns NULL).

use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::Arc;

use totp_engine_sqlx::{Prefetched, SqlxStore, lease};

use super::{Db, DbError, MfaTokenRow, bits};
use crate::credentials::StoredClientSecret;
use crate::jose::ClientKeys;

/// One client as stored.
#[derive(Debug, Clone)]
pub struct ClientRow {
    /// Its id.
    pub client_id: String,
    /// How it authenticates (hashes only; `Debug` shows no secret).
    pub secret: StoredClientSecret,
    /// The public keys of a `private_key_jwt` client (then `secret` is
    /// [`StoredClientSecret::Public`] and no secret is accepted).
    pub public_keys: Option<ClientKeys>,
}

const TABLE: &str = "clients";

impl ClientRow {
    fn from_row(row: &AnyRow) -> Result<Self, DbError> {
        let corrupt = || DbError::Corrupt {
            table: TABLE,
            what: "secret_hash",
        };
        let salt: Option<Vec<u8>> = row.try_get("secret_salt")?;
        let hash: Option<Vec<u8>> = row.try_get("secret_hash")?;
        let secret = match (salt, hash) {
            (None, None) => StoredClientSecret::Public,
            (Some(salt), Some(hash)) => StoredClientSecret::Sha256 { salt, hash },
            (None, Some(phc)) => {
                StoredClientSecret::Argon2(String::from_utf8(phc).map_err(|_| corrupt())?)
            }
            (Some(_), None) => return Err(corrupt()),
        };
        let public_keys = match row.try_get::<Option<String>, _>("public_keys")? {
            None => None,
            Some(text) => {
                if secret != StoredClientSecret::Public {
                    return Err(DbError::Corrupt {
                        table: TABLE,
                        what: "public_keys beside a secret",
                    });
                }
                Some(ClientKeys::parse(&text).map_err(|_| DbError::Corrupt {
                    table: TABLE,
                    what: "public_keys",
                })?)
            }
        };
        Ok(Self {
            client_id: row.try_get("client_id")?,
            secret,
            public_keys,
        })
    }
}

impl Db {
    /// Creates or replaces a client that authenticates with a secret (or,
    /// public, none); a `private_key_jwt` client of that id loses its keys.
    /// Stored as (salt, hash): both NULL for a public client, the salted
    /// SHA-256 for a strong secret, a NULL salt and the Argon2id PHC string
    /// for a short one.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn upsert_client(
        &self,
        client_id: &str,
        secret: &StoredClientSecret,
        now: u64,
    ) -> Result<(), DbError> {
        let (salt, hash) = match secret {
            StoredClientSecret::Public => (None, None),
            StoredClientSecret::Sha256 { salt, hash } => (Some(salt.clone()), Some(hash.clone())),
            StoredClientSecret::Argon2(phc) => (None, Some(phc.as_bytes().to_vec())),
        };
        sqlx::query(
            "INSERT INTO clients (client_id, secret_salt, secret_hash, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (client_id) DO UPDATE
                SET secret_salt = excluded.secret_salt, secret_hash = excluded.secret_hash,
                    public_keys = NULL",
        )
        .bind(client_id)
        .bind(salt)
        .bind(hash)
        .bind(bits(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Creates a `private_key_jwt` client, or replaces the keys (and any
    /// secret) of the client of that id: from now on it authenticates with
    /// a `client_assertion` signed by one of `keys`, never with a secret.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn upsert_key_client(
        &self,
        client_id: &str,
        keys: &ClientKeys,
        now: u64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO clients (client_id, secret_salt, secret_hash, public_keys, created_at)
             VALUES ($1, NULL, NULL, $2, $3)
             ON CONFLICT (client_id) DO UPDATE
                SET secret_salt = NULL, secret_hash = NULL, public_keys = excluded.public_keys",
        )
        .bind(client_id)
        .bind(keys.as_stored())
        .bind(bits(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A client by id and an mfa_token by its SHA-256, in one statement
    /// (the first of the MFA grants and of `/mfa/challenge`, through the
    /// request's connection: see [`Db::client`]), with the authenticators
    /// of the token's user in the same row (the store's columns); `None`
    /// for an unknown one. The row comes back undecoded beside the token:
    /// [`Db::prefetched_authenticators`] decodes it once the token has
    /// been checked.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails or a row is corrupt.
    pub async fn client_and_mfa_token(
        &self,
        client_id: &str,
        token_hash: &[u8; 32],
        reads: TokenUserReads,
    ) -> Result<(Option<ClientRow>, Option<(MfaTokenRow, Box<AnyRow>)>), DbError> {
        let sql = match reads {
            TokenUserReads::All => &self.client_and_token_sql,
            TokenUserReads::Otp => &self.client_and_token_otp_sql,
        };
        let row = lease::read_optional(&self.pool, sql, |q| {
            q.bind(client_id).bind(token_hash.to_vec())
        })
        .await?;
        let Some(row) = row else {
            return Ok((None, None));
        };
        let client = match row.try_get::<Option<String>, _>("client_id")? {
            Some(_) => Some(ClientRow::from_row(&row)?),
            None => None,
        };
        let token = match row.try_get::<Option<Vec<u8>>, _>("m_token_hash")? {
            Some(_) => {
                let token = MfaTokenRow::from_prefixed_row(&row, "m_")?;
                Some((token, Box::new(row)))
            }
            None => None,
        };
        Ok((client, token))
    }

    /// A client by id; `None` for an unknown client. Through the
    /// request's connection ([`lease::read_optional`]): the first statement
    /// of every token request, run again if its connection turns out dead.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails or the row is corrupt.
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRow>, DbError> {
        lease::read_optional(
            &self.pool,
            "SELECT client_id, secret_salt, secret_hash, public_keys FROM clients
             WHERE client_id = $1",
            |q| q.bind(client_id),
        )
        .await?
        .as_ref()
        .map(ClientRow::from_row)
        .transpose()
    }
}

/// One client as listed by `clients list`: how it authenticates, never a
/// hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientListing {
    /// Its id.
    pub client_id: String,
    /// `public`, `private_key_jwt` (public keys), `secret` (salted SHA-256
    /// of a strong secret) or `short-secret` (Argon2id of a short one).
    pub kind: &'static str,
    /// Unix time of creation.
    pub created_at: u64,
}

impl Db {
    /// Every client, by id.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails or a row is corrupt.
    pub async fn clients(&self) -> Result<Vec<ClientListing>, DbError> {
        sqlx::query(
            "SELECT client_id, secret_salt, secret_hash, public_keys, created_at FROM clients
             ORDER BY client_id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let client = ClientRow::from_row(row)?;
            Ok(ClientListing {
                kind: match client.secret {
                    StoredClientSecret::Public if client.public_keys.is_some() => "private_key_jwt",
                    StoredClientSecret::Public => "public",
                    StoredClientSecret::Sha256 { .. } => "secret",
                    StoredClientSecret::Argon2(_) => "short-secret",
                },
                client_id: client.client_id,
                created_at: super::unbits(row.try_get("created_at")?),
            })
        })
        .collect()
    }

    /// Deletes a client, its client grants and the mfa_tokens issued to
    /// it, in one transaction; returns whether it existed. Access tokens already
    /// issued to it stay valid until they expire.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM mfa_tokens WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM client_grants WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted == 1)
    }
}

impl Db {
    /// The authenticators of `user` in `row`, a row of
    /// [`Db::client_and_mfa_token`] with `reads` whose token belongs to
    /// `user`, for the store's next `load` (or `load_otp`) of that user
    /// ([`Prefetched`]). `None` if they do not decode: the store's own
    /// read then reads and reports them.
    #[must_use]
    pub fn prefetched_authenticators(
        &self,
        row: &AnyRow,
        user: &str,
        reads: TokenUserReads,
    ) -> Option<Prefetched> {
        match reads {
            TokenUserReads::All => self.store.prefetched(row, user).ok(),
            TokenUserReads::Otp => self.store.prefetched_otp(row, user).ok(),
        }
    }
}

/// Which of the token user's authenticators [`Db::client_and_mfa_token`]
/// reads in its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUserReads {
    /// Both, the OTP authenticator and the recovery codes: for a request
    /// that may read either (`/mfa/challenge`, the recovery-code grant).
    All,
    /// The OTP authenticator alone, without the join of the recovery
    /// table: for the mfa-otp grant, whose verification reads nothing else
    /// ([`totp_engine::MfaStore::load_otp`]).
    Otp,
}

/// The statement of [`Db::client_and_mfa_token`]: the client's row, the
/// mfa_token's, and the token user's authenticators (the store's columns;
/// with [`TokenUserReads::Otp`], the OTP authenticator's alone).
pub(super) fn client_and_mfa_token_sql(
    store: &SqlxStore,
    reads: TokenUserReads,
) -> Result<Arc<str>, DbError> {
    let (columns, joins) = match reads {
        TokenUserReads::All => (store.load_columns(), store.load_joins("m.user_id")),
        TokenUserReads::Otp => (store.load_otp_columns(), store.load_otp_join("m.user_id")),
    };
    let joins = joins.ok_or(DbError::Corrupt {
        table: "mfa_tokens",
        what: "user_id column reference",
    })?;
    Ok(format!(
        "SELECT c.client_id, c.secret_salt, c.secret_hash, c.public_keys,
                m.token_hash AS m_token_hash, m.user_id AS m_user_id,
                m.client_id AS m_client_id, m.scope AS m_scope,
                m.audience AS m_audience, m.expires_at AS m_expires_at,
                {columns}
         FROM (SELECT 1 AS one) AS u
         LEFT JOIN clients AS c ON c.client_id = $1
         LEFT JOIN mfa_tokens AS m ON m.token_hash = $2
         {joins}"
    )
    .into())
}
