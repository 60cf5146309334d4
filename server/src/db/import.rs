//! Bulk imports for fixtures and migrations: users with password hashes
//! made elsewhere, and mfa_tokens, many rows per statement in one
//! transaction. The server itself never takes this path: its users come
//! from `add-user`, its mfa_tokens from the password grant.
//!
//! Not here: the one-row writes the server does take (`users`,
//! `mfa_tokens`), the authenticators (the store's
//! [`SqlxStore::import`](totp_engine_sqlx::SqlxStore::import)).

use std::fmt::Write as _;

use super::{Db, DbError, MfaTokenRow, bits};

/// Rows per `INSERT`.
const ROWS_PER_STATEMENT: usize = 200;

/// `INSERT INTO table (columns) VALUES ($1, …), (…)` for `rows` rows of
/// `columns` values each.
fn values_sql(head: &str, rows: usize, columns: usize) -> String {
    let mut sql = format!("{head} VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 1..=columns {
            let sep = if c == columns { ")" } else { ", " };
            let _ = write!(sql, "${}{sep}", r * columns + c);
        }
    }
    sql
}

impl Db {
    /// Imports users as `(username, Argon2id PHC string)` in one
    /// transaction; returns their user ids (`auth0|<username>`) in order.
    /// A username that exists already is left as it is. Their tokens are
    /// valid from `now`, as with `add-user`.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails (nothing is stored).
    pub async fn import_users(
        &self,
        users: &[(String, String)],
        now: u64,
    ) -> Result<Vec<String>, DbError> {
        let ids: Vec<String> = users.iter().map(|(u, _)| format!("auth0|{u}")).collect();
        let mut tx = self.pool.begin().await?;
        for (chunk, ids) in users
            .chunks(ROWS_PER_STATEMENT)
            .zip(ids.chunks(ROWS_PER_STATEMENT))
        {
            let mut sql = values_sql(
                "INSERT INTO users (user_id, username, password_hash, created_at, tokens_valid_from)",
                chunk.len(),
                5,
            );
            sql.push_str(" ON CONFLICT DO NOTHING");
            let mut query = sqlx::query(&sql);
            for ((username, phc), id) in chunk.iter().zip(ids) {
                query = query
                    .bind(id.clone())
                    .bind(username.clone())
                    .bind(phc.clone())
                    .bind(bits(now))
                    .bind(bits(now));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Stores many mfa_tokens in one transaction (as
    /// [`Db::insert_mfa_token`] stores one).
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails (nothing is stored).
    pub async fn import_mfa_tokens(&self, tokens: &[MfaTokenRow]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        for chunk in tokens.chunks(ROWS_PER_STATEMENT) {
            let sql = values_sql(
                "INSERT INTO mfa_tokens (token_hash, user_id, client_id, scope, audience, expires_at)",
                chunk.len(),
                6,
            );
            let mut query = sqlx::query(&sql);
            for t in chunk {
                query = query
                    .bind(t.token_hash.to_vec())
                    .bind(t.user_id.clone())
                    .bind(t.client_id.clone())
                    .bind(t.scope.clone())
                    .bind(t.audience.clone())
                    .bind(bits(t.expires_at));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
