//! The `client_grants` table (migration 14): which machine clients may get
//! access tokens for an API through the `client_credentials` grant, and
//! with which scopes (Auth0's client grants). The one API granted this way
//! is the Management API.

use super::{Db, DbError, bits};

impl Db {
    /// Lets `client_id` ask for tokens for `audience` with `scope`
    /// (space-separated), replacing a previous grant.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn set_client_grant(
        &self,
        client_id: &str,
        audience: &str,
        scope: &str,
        now: u64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO client_grants (client_id, audience, scope, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (client_id, audience) DO UPDATE SET scope = excluded.scope",
        )
        .bind(client_id)
        .bind(audience)
        .bind(scope)
        .bind(bits(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes the grant of `client_id` for `audience`; whether there was one.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn remove_client_grant(
        &self,
        client_id: &str,
        audience: &str,
    ) -> Result<bool, DbError> {
        Ok(
            sqlx::query("DELETE FROM client_grants WHERE client_id = $1 AND audience = $2")
                .bind(client_id)
                .bind(audience)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// The scopes `client_id` may ask for at `audience`; `None` without a
    /// grant.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn client_grant(
        &self,
        client_id: &str,
        audience: &str,
    ) -> Result<Option<String>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT scope FROM client_grants WHERE client_id = $1 AND audience = $2",
        )
        .bind(client_id)
        .bind(audience)
        .fetch_optional(&self.pool)
        .await?)
    }
}
