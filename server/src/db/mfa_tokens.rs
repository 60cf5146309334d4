//! The `mfa_tokens` table: the sessions between the password grant and the
//! MFA grants, stored by the SHA-256 of the token.

use sqlx::Row;
use sqlx::any::AnyRow;
use totp_engine_sqlx::lease;

use super::{Db, DbError, bits, unbits};

/// How long an expired mfa_token's row is kept: a day.
pub const EXPIRED_KEPT_SECS: u64 = 86_400;

/// One mfa_token as stored (the token itself never is).
#[derive(Debug, Clone)]
pub struct MfaTokenRow {
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// The user who passed the password step.
    pub user_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The scope requested at the password grant.
    pub scope: String,
    /// The audience requested at the password grant.
    pub audience: String,
    /// Unix time after which it is refused.
    pub expires_at: u64,
}

impl MfaTokenRow {
    fn from_row(row: &AnyRow) -> Result<Self, DbError> {
        Self::from_prefixed_row(row, "")
    }

    /// The row whose columns are named `PREFIX<column>` in `row`.
    pub(super) fn from_prefixed_row(row: &AnyRow, prefix: &str) -> Result<Self, DbError> {
        let column = |name: &str| format!("{prefix}{name}");
        let hash: Vec<u8> = row.try_get(column("token_hash").as_str())?;
        Ok(Self {
            token_hash: hash.try_into().map_err(|_| DbError::Corrupt {
                table: "mfa_tokens",
                what: "token_hash",
            })?,
            user_id: row.try_get(column("user_id").as_str())?,
            client_id: row.try_get(column("client_id").as_str())?,
            scope: row.try_get(column("scope").as_str())?,
            audience: row.try_get(column("audience").as_str())?,
            expires_at: unbits(row.try_get(column("expires_at").as_str())?),
        })
    }
}

impl Db {
    /// Stores an mfa_token and drops those expired more than
    /// [`EXPIRED_KEPT_SECS`] before `now` (kept that long so that a client
    /// presenting one is told `expired_token`, as Auth0 tells it, rather
    /// than that the token is unknown).
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn insert_mfa_token(&self, token: &MfaTokenRow, now: u64) -> Result<(), DbError> {
        sqlx::query("DELETE FROM mfa_tokens WHERE expires_at < $1")
            .bind(bits(now.saturating_sub(EXPIRED_KEPT_SECS)))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO mfa_tokens (token_hash, user_id, client_id, scope, audience, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token.token_hash.to_vec())
        .bind(&token.user_id)
        .bind(&token.client_id)
        .bind(&token.scope)
        .bind(&token.audience)
        .bind(bits(token.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Looks an mfa_token up by its SHA-256 (expired ones too: the caller
    /// tells "expired" from "unknown"), through the request's connection
    /// ([`lease::read_optional`]).
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn mfa_token(&self, token_hash: &[u8; 32]) -> Result<Option<MfaTokenRow>, DbError> {
        lease::read_optional(
            &self.pool,
            "SELECT token_hash, user_id, client_id, scope, audience, expires_at
             FROM mfa_tokens WHERE token_hash = $1",
            |q| q.bind(token_hash.to_vec()),
        )
        .await?
        .as_ref()
        .map(MfaTokenRow::from_row)
        .transpose()
    }
}
