//! The `users` table: usernames and Argon2id password hashes.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError, bits};

/// One user as stored.
#[derive(Clone)]
pub struct UserRow {
    /// The user id (`auth0|<username>`), the `sub` of tokens.
    pub user_id: String,
    /// The login name.
    pub username: String,
    /// The Argon2id PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl UserRow {
    fn from_row(row: &AnyRow) -> Result<Self, DbError> {
        Ok(Self {
            user_id: row.try_get("user_id")?,
            username: row.try_get("username")?,
            password_hash: row.try_get("password_hash")?,
        })
    }
}

impl Db {
    /// Creates a user or replaces its password hash; returns the user id.
    /// Replacing it is a password reset: it revokes the user's outstanding
    /// tokens in the same transaction ([`Db::revoke_tokens`]). A new user's
    /// tokens are valid from `now` on, so the tokens of a deleted user of
    /// the same name (the same user id) issued before this second stay dead.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn upsert_user(
        &self,
        username: &str,
        password_hash: &str,
        now: u64,
    ) -> Result<String, DbError> {
        let user_id = format!("auth0|{username}");
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO users (user_id, username, password_hash, created_at, tokens_valid_from)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
                tokens_valid_from = $5",
        )
        .bind(&user_id)
        .bind(username)
        .bind(password_hash)
        .bind(bits(now))
        .bind(bits(now.saturating_add(1)))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM mfa_tokens WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(user_id)
    }

    /// Revokes a user's outstanding tokens at `now`: deletes their
    /// mfa_tokens, and makes this server refuse their access tokens issued
    /// up to `now` (`iat` ≤ `now`, so a token issued in the same second as
    /// the revocation is refused too). Returns whether the user exists.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn revoke_tokens(&self, user_id: &str, now: u64) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query("UPDATE users SET tokens_valid_from = $1 WHERE user_id = $2")
            .bind(bits(now.saturating_add(1)))
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM mfa_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(updated == 1)
    }

    /// Deletes a user and their mfa_tokens (their authenticators are the
    /// store's: remove them first). Returns whether the user existed.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn delete_user(&self, user_id: &str) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM mfa_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted == 1)
    }

    /// The first `iat` this server accepts on a user's access tokens;
    /// `None` for a user that does not exist (any token of theirs is
    /// refused).
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn tokens_valid_from(&self, user_id: &str) -> Result<Option<u64>, DbError> {
        let valid_from: Option<i64> =
            sqlx::query_scalar("SELECT tokens_valid_from FROM users WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(valid_from.map(super::unbits))
    }

    /// A user by login name.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn user(&self, username: &str) -> Result<Option<UserRow>, DbError> {
        sqlx::query("SELECT user_id, username, password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(UserRow::from_row)
            .transpose()
    }

    /// The login name of a user id (the account label in the authenticator app).
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn username(&self, user_id: &str) -> Result<Option<String>, DbError> {
        Ok(
            sqlx::query_scalar("SELECT username FROM users WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
