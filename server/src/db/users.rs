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
        sqlx::query(
            "INSERT INTO users (user_id, username, password_hash, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash",
        )
        .bind(&user_id)
        .bind(username)
        .bind(password_hash)
        .bind(bits(now))
        .execute(&self.pool)
        .await?;
        Ok(user_id)
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
