//! The database: connection pool, migrations, and the server's own tables
//! (clients, users, mfa_tokens, signing keys). The engine's authenticator
//! tables are written by [`crate::store::SqlStore`].
//!
//! One schema and one set of statements serve SQLite (default, one file)
//! and PostgreSQL (several instances sharing state), through sqlx's `Any`
//! driver with `$N` placeholders, which both back-ends accept. Every value
//! is TEXT, BIGINT or a byte string; flags are 0/1 BIGINTs.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use crate::credentials::StoredClientSecret;

/// Which database the URL selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connected, migrated database.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("corrupt row in {table}: {what}")]
    Corrupt {
        table: &'static str,
        what: &'static str,
    },
}

/// The migrations, in order. Each is idempotent (`IF NOT EXISTS`), and the
/// version row is inserted with `ON CONFLICT DO NOTHING`, so two instances
/// starting together never fail or apply one twice; on PostgreSQL they are
/// also serialized by an advisory lock.
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE IF NOT EXISTS clients (
        client_id TEXT PRIMARY KEY,
        secret_salt BLOB,
        secret_hash BLOB,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS users (
        user_id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS mfa_tokens (
        token_hash BLOB PRIMARY KEY,
        user_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        audience TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS mfa_tokens_expiry ON mfa_tokens (expires_at);
    CREATE TABLE IF NOT EXISTS signing_keys (
        slot BIGINT PRIMARY KEY,
        kid TEXT NOT NULL UNIQUE,
        private_pkcs8 BLOB NOT NULL,
        public_key BLOB NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS otp_authenticators (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL UNIQUE,
        secret BLOB NOT NULL,
        algorithm TEXT NOT NULL,
        digits BIGINT NOT NULL,
        period BIGINT NOT NULL,
        t0 BIGINT NOT NULL,
        stepped BIGINT NOT NULL,
        last_step BIGINT NOT NULL,
        drift BIGINT NOT NULL,
        active BIGINT NOT NULL,
        attempts_used BIGINT NOT NULL,
        attempts_since BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS recovery_authenticators (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL UNIQUE,
        active BIGINT NOT NULL,
        slots BLOB NOT NULL,
        attempts_used BIGINT NOT NULL,
        attempts_since BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    )",
)];

impl Db {
    /// Connects to `url`: `postgres://…` / `postgresql://…` selects
    /// PostgreSQL; `sqlite://PATH` or a plain path selects a SQLite file,
    /// created if missing.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else if url.starts_with("sqlite:") {
            (Backend::Sqlite, with_create_mode(url))
        } else {
            (
                Backend::Sqlite,
                with_create_mode(&format!("sqlite://{url}")),
            )
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; the busy
                        // timeout makes a second process wait for the write lock.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let db = Self { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7265100217)")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        for (version, ddl) in MIGRATIONS {
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_some() {
                continue;
            }
            for statement in ddl.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                let statement = self.dialect(statement);
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(*version)
                .bind(now() as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adapts the shared DDL: PostgreSQL calls byte strings BYTEA.
    fn dialect(&self, sql: &str) -> String {
        match self.backend {
            Backend::Sqlite => sql.to_owned(),
            Backend::Postgres => sql.replace("BLOB", "BYTEA"),
        }
    }

    /// Creates or replaces a client. Stored as (salt, hash): both NULL for
    /// a public client, the salted SHA-256 for a strong secret, a NULL salt
    /// and the Argon2id PHC string for a short one.
    pub async fn upsert_client(
        &self,
        client_id: &str,
        secret: &StoredClientSecret,
    ) -> Result<(), DbError> {
        let (salt, hash) = match secret {
            StoredClientSecret::Public => (None, None),
            StoredClientSecret::Sha256 { salt, hash } => (Some(salt.clone()), Some(hash.clone())),
            StoredClientSecret::Argon2(phc) => (None, Some(phc.as_bytes().to_vec())),
        };
        sqlx::query(
            "INSERT INTO clients (client_id, secret_salt, secret_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (client_id) DO UPDATE SET secret_salt = excluded.secret_salt, secret_hash = excluded.secret_hash",
        )
        .bind(client_id)
        .bind(salt)
        .bind(hash)
        .bind(now() as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A client's stored secret; `None` for an unknown client.
    pub async fn client(&self, client_id: &str) -> Result<Option<StoredClientSecret>, DbError> {
        let row = sqlx::query("SELECT secret_salt, secret_hash FROM clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            None => None,
            Some(row) => {
                let salt: Option<Vec<u8>> = row.try_get(0)?;
                let hash: Option<Vec<u8>> = row.try_get(1)?;
                Some(match (salt, hash) {
                    (None, None) => StoredClientSecret::Public,
                    (Some(salt), Some(hash)) => StoredClientSecret::Sha256 { salt, hash },
                    (None, Some(phc)) => {
                        StoredClientSecret::Argon2(String::from_utf8(phc).map_err(|_| {
                            DbError::Corrupt {
                                table: "clients",
                                what: "secret_hash",
                            }
                        })?)
                    }
                    (Some(_), None) => {
                        return Err(DbError::Corrupt {
                            table: "clients",
                            what: "secret_hash",
                        });
                    }
                })
            }
        })
    }

    /// Creates or replaces a user's password hash; returns the user id.
    pub async fn upsert_user(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<String, DbError> {
        let user_id = format!("auth0|{username}");
        sqlx::query(
            "INSERT INTO users (user_id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash",
        )
        .bind(&user_id)
        .bind(username)
        .bind(password_hash)
        .bind(now() as i64)
        .execute(&self.pool)
        .await?;
        Ok(user_id)
    }

    /// A user's id and password hash.
    pub async fn user(&self, username: &str) -> Result<Option<(String, String)>, DbError> {
        let row = sqlx::query("SELECT user_id, password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            None => None,
            Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
        })
    }

    /// The username of a user id (the account label in the authenticator app).
    pub async fn username(&self, user_id: &str) -> Result<Option<String>, DbError> {
        Ok(
            sqlx::query_scalar("SELECT username FROM users WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Stores an mfa_token (by its SHA-256) and drops expired ones.
    pub async fn insert_mfa_token(&self, token: &MfaTokenRow) -> Result<(), DbError> {
        sqlx::query("DELETE FROM mfa_tokens WHERE expires_at < $1")
            .bind(now() as i64)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO mfa_tokens (token_hash, user_id, client_id, scope, audience, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token.token_hash.to_vec())
        .bind(&token.user_id)
        .bind(&token.client_id)
        .bind(&token.scope)
        .bind(&token.audience)
        .bind(token.expires_at as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Looks an mfa_token up by its SHA-256.
    pub async fn mfa_token(&self, token_hash: &[u8; 32]) -> Result<Option<MfaTokenRow>, DbError> {
        let row = sqlx::query(
            "SELECT user_id, client_id, scope, audience, expires_at FROM mfa_tokens WHERE token_hash = $1",
        )
        .bind(token_hash.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => None,
            Some(row) => Some(MfaTokenRow {
                token_hash: *token_hash,
                user_id: row.try_get(0)?,
                client_id: row.try_get(1)?,
                scope: row.try_get(2)?,
                audience: row.try_get(3)?,
                expires_at: row.try_get::<i64, _>(4)?.max(0) as u64,
            }),
        })
    }

    /// The signing key, created on first start. It lives in slot 1:
    /// concurrent first starts all insert a candidate with `ON CONFLICT DO
    /// NOTHING` and then all read the one that won.
    pub async fn signing_key(
        &self,
        candidate: (&str, &[u8], &[u8]),
    ) -> Result<(String, Vec<u8>, Vec<u8>), DbError> {
        sqlx::query(
            "INSERT INTO signing_keys (slot, kid, private_pkcs8, public_key, created_at) VALUES (1, $1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(candidate.0)
        .bind(candidate.1.to_vec())
        .bind(candidate.2.to_vec())
        .bind(now() as i64)
        .execute(&self.pool)
        .await?;
        let row =
            sqlx::query("SELECT kid, private_pkcs8, public_key FROM signing_keys WHERE slot = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    }
}

/// One mfa_token as stored.
#[derive(Debug, Clone)]
pub struct MfaTokenRow {
    pub token_hash: [u8; 32],
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    pub audience: String,
    pub expires_at: u64,
}

fn with_create_mode(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    use totp_engine::Clock;
    totp_engine::SystemClock.unix_time()
}
