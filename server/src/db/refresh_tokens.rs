//! The `refresh_tokens` table: refresh tokens by the SHA-256 of the token,
//! in families that each descend from one login, rotated on every use;
//! a used token presented again revokes its family (RFC 9700 §4.14).

use sqlx::Row;
use sqlx::any::AnyRow;

use totp_engine_sqlx::lease;

use super::{Db, DbError, bits, unbits};

/// One refresh token as stored (the token itself never is). `Debug`
/// leaves out the token's hash.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenRow {
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// The family: random, shared by every token descending from one login.
    pub family_id: [u8; 16],
    /// The user.
    pub user_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The audience of the access tokens it yields.
    pub audience: String,
    /// The scope granted at the login (space separated).
    pub scope: String,
    /// The login's authentication methods (space separated).
    pub amr: String,
    /// The login's time.
    pub auth_time: u64,
    /// This token is refused from this second on (inactivity expiry).
    pub expires_at: u64,
    /// The family is refused from this second on (absolute expiry).
    pub family_expires_at: u64,
    /// When it was used (rotated); `None` while it is the family's live one.
    pub used_at: Option<u64>,
    /// The RFC 7638 thumbprint of the DPoP key the family is bound to.
    pub dpop_jkt: Option<String>,
}

impl std::fmt::Debug for RefreshTokenRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshTokenRow")
            .field("user_id", &self.user_id)
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live and is now used; its child is stored.
    Rotated,
    /// The token was used already (another request got there first): the
    /// family is revoked.
    Reused,
}

const TABLE: &str = "refresh_tokens";

const COLUMNS: &str = "r.token_hash, r.family_id, r.user_id, r.client_id, r.audience, r.scope, \
     r.amr, r.auth_time, r.expires_at, r.family_expires_at, r.used_at, r.dpop_jkt";

impl RefreshTokenRow {
    fn from_row(row: &AnyRow) -> Result<Self, DbError> {
        let corrupt = |what| DbError::Corrupt { table: TABLE, what };
        let hash: Vec<u8> = row.try_get("token_hash")?;
        let family: Vec<u8> = row.try_get("family_id")?;
        Ok(Self {
            token_hash: hash.try_into().map_err(|_| corrupt("token_hash"))?,
            family_id: family.try_into().map_err(|_| corrupt("family_id"))?,
            user_id: row.try_get("user_id")?,
            client_id: row.try_get("client_id")?,
            audience: row.try_get("audience")?,
            scope: row.try_get("scope")?,
            amr: row.try_get("amr")?,
            auth_time: unbits(row.try_get("auth_time")?),
            expires_at: unbits(row.try_get("expires_at")?),
            family_expires_at: unbits(row.try_get("family_expires_at")?),
            used_at: row.try_get::<Option<i64>, _>("used_at")?.map(unbits),
            dpop_jkt: row.try_get("dpop_jkt")?,
        })
    }
}

/// The INSERT of one token.
async fn insert<'c, E>(executor: E, token: &RefreshTokenRow) -> Result<(), DbError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, client_id, audience, scope,
            amr, auth_time, expires_at, family_expires_at, used_at, dpop_jkt)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11)",
    )
    .bind(token.token_hash.to_vec())
    .bind(token.family_id.to_vec())
    .bind(&token.user_id)
    .bind(&token.client_id)
    .bind(&token.audience)
    .bind(&token.scope)
    .bind(&token.amr)
    .bind(bits(token.auth_time))
    .bind(bits(token.expires_at))
    .bind(bits(token.family_expires_at))
    .bind(token.dpop_jkt.clone())
    .execute(executor)
    .await?;
    Ok(())
}

impl Db {
    /// Stores the first token of a new family and drops the families
    /// expired at `now`.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn insert_refresh_token(
        &self,
        token: &RefreshTokenRow,
        now: u64,
    ) -> Result<(), DbError> {
        sqlx::query("DELETE FROM refresh_tokens WHERE family_expires_at <= $1")
            .bind(bits(now))
            .execute(&self.pool)
            .await?;
        insert(&self.pool, token).await
    }

    /// A refresh token by its SHA-256 with its user's `tokens_valid_from`;
    /// `None` if the token is unknown or its user no longer exists.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails or the row is corrupt.
    pub async fn refresh_token(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(RefreshTokenRow, u64)>, DbError> {
        // Built once: the refresh grant's first statement.
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT {COLUMNS}, u.tokens_valid_from FROM refresh_tokens r
                 JOIN users u ON u.user_id = r.user_id
                 WHERE r.token_hash = $1"
            )
        });
        let row = lease::read_optional(&self.pool, &SQL, |q| q.bind(token_hash.to_vec())).await?;
        row.map(|row| {
            let valid_from = unbits(row.try_get("tokens_valid_from")?);
            Ok((RefreshTokenRow::from_row(&row)?, valid_from))
        })
        .transpose()
    }

    /// Rotates `parent` at `now`: marks it used if it is still live and
    /// stores `child`, in one transaction, so that either both happen or
    /// neither. If it was used already, revokes its family instead.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails (then nothing changed, or, if the
    /// commit's outcome is unknown, the client's retry finds the token used
    /// and the family is revoked: never two live children).
    pub async fn rotate_refresh_token(
        &self,
        parent: &[u8; 32],
        child: &RefreshTokenRow,
        now: u64,
    ) -> Result<Rotation, DbError> {
        // On the request's connection (`lease`), as every statement of the
        // refresh grant.
        let mut conn = lease::connection(&self.pool).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let marked = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(bits(now))
        .bind(parent.to_vec())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked != 1 {
            tx.rollback().await?;
            drop(conn);
            self.revoke_refresh_family(&child.family_id).await?;
            return Ok(Rotation::Reused);
        }
        insert(&mut *tx, child).await?;
        tx.commit().await?;
        Ok(Rotation::Rotated)
    }

    /// Deletes every token of a family; how many there were.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn revoke_refresh_family(&self, family_id: &[u8; 16]) -> Result<u64, DbError> {
        Ok(
            sqlx::query("DELETE FROM refresh_tokens WHERE family_id = $1")
                .bind(family_id.to_vec())
                .execute(&mut *lease::connection(&self.pool).await?)
                .await?
                .rows_affected(),
        )
    }
}
