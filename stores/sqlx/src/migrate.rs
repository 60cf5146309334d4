//! The schema: versioned `.sql` files under `migrations/{sqlite,postgres}/`,
//! embedded at build time, and the runner that applies them.
//!
//! The runner keeps its own history table, `<prefix>totp_engine_migrations`
//! (version, name, SHA-256 of the applied text), so it never collides with
//! an application's own migration tool (sqlx's `_sqlx_migrations`, say).
//! [`run_migrations`] runs the same way for an application's own list
//! (mfa-server keeps its tables so), under another history table.
//! Each file runs whole, as one multi-statement text inside the
//! transaction that records it; the only rewriting is the substitution of
//! `{prefix}` by the validated table prefix. Two processes starting
//! together are serialized: PostgreSQL by an advisory transaction lock,
//! SQLite by `BEGIN IMMEDIATE` (the write lock, waited for through the busy
//! timeout). An applied migration whose text changed, or a database whose
//! schema is newer than this crate, is refused rather than guessed at.

use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Executor as _, Row};

use crate::{Backend, StoreError, StoreOptions};

/// One schema migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version: migrations apply in increasing order.
    pub version: i64,
    /// A short name.
    pub name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

impl Migration {
    /// A migration from its SQL for each backend (typically
    /// `include_str!`ed files). `{prefix}` in the text is replaced by the
    /// table prefix when it runs.
    #[must_use]
    pub const fn new(
        version: i64,
        name: &'static str,
        sqlite: &'static str,
        postgres: &'static str,
    ) -> Self {
        Self {
            version,
            name,
            sqlite,
            postgres,
        }
    }

    /// Its SQL text for `backend`, before the prefix is substituted.
    #[must_use]
    pub fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

/// Every migration of this crate, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "authenticators",
        sqlite: include_str!("../migrations/sqlite/0001_authenticators.sql"),
        postgres: include_str!("../migrations/postgres/0001_authenticators.sql"),
    },
    Migration {
        version: 2,
        name: "sealing",
        sqlite: include_str!("../migrations/sqlite/0002_sealing.sql"),
        postgres: include_str!("../migrations/postgres/0002_sealing.sql"),
    },
    Migration {
        version: 3,
        name: "write_nonces",
        sqlite: include_str!("../migrations/sqlite/0003_write_nonces.sql"),
        postgres: include_str!("../migrations/postgres/0003_write_nonces.sql"),
    },
    Migration {
        version: 4,
        name: "flags_checked_on_read",
        sqlite: include_str!("../migrations/sqlite/0004_flags_checked_on_read.sql"),
        postgres: include_str!("../migrations/postgres/0004_flags_checked_on_read.sql"),
    },
];

/// Brings the store's schema up to date.
pub(crate) async fn run(pool: &AnyPool, options: &StoreOptions) -> Result<(), StoreError> {
    run_migrations(pool, options, "totp_engine_migrations", MIGRATIONS).await
}

/// Applies `migrations` (in increasing version order) that are not yet
/// recorded in the history table `<prefix><history>`, as described in this
/// module: each file whole, in one transaction with its record, serialized
/// across processes, refusing changed or unknown newer versions.
///
/// # Errors
///
/// [`StoreError::Database`] if a statement fails (nothing of this run is
/// kept), [`StoreError::Migration`] for a changed or newer schema,
/// [`StoreError::UnsupportedUrl`] for a pool on another database.
pub async fn run_migrations(
    pool: &AnyPool,
    options: &StoreOptions,
    history: &str,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    let backend = Backend::of_pool(pool)?;
    // The history table's name is spliced into SQL: the same rule as the prefix.
    StoreOptions::default()
        .with_table_prefix(history)
        .map_err(|_| StoreError::Migration {
            version: 0,
            reason: format!(
                "history table name {history:?} must be 1 to 32 characters of a-z, 0-9 and _"
            ),
        })?;
    if history.is_empty() {
        return Err(StoreError::Migration {
            version: 0,
            reason: "history table name must not be empty".into(),
        });
    }
    let history = options.table(history);
    let mut tx = match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(lock_key(&history))
                .execute(&mut *tx)
                .await?;
            tx
        }
    };
    let (bytes, now) = match backend {
        Backend::Sqlite => ("BLOB", "CAST(strftime('%s', 'now') AS BIGINT)"),
        Backend::Postgres => ("BYTEA", "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)"),
    };
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {history} (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            checksum {bytes} NOT NULL,
            applied_at BIGINT NOT NULL
        )"
    ))
    .execute(&mut *tx)
    .await?;
    let applied = sqlx::query(&format!(
        "SELECT version, checksum FROM {history} ORDER BY version"
    ))
    .fetch_all(&mut *tx)
    .await?;
    let mut applied: Vec<(i64, Vec<u8>)> = applied
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    if let Some(&(newest, _)) = applied.last()
        && migrations.iter().all(|m| m.version != newest)
    {
        return Err(StoreError::Migration {
            version: newest,
            reason: "the database was migrated by a newer version of this software".into(),
        });
    }
    for migration in migrations {
        let sql = migration
            .sql(backend)
            .replace("{prefix}", options.table_prefix());
        let checksum = Sha256::digest(sql.as_bytes()).to_vec();
        if let Some(pos) = applied.iter().position(|(v, _)| *v == migration.version) {
            let (_, stored) = applied.swap_remove(pos);
            if stored != checksum {
                return Err(StoreError::Migration {
                    version: migration.version,
                    reason: "its text changed after it was applied".into(),
                });
            }
            continue;
        }
        // A text without arguments: the simple-query path, so the file runs
        // whole, every statement in it.
        (&mut *tx).execute(sql.as_str()).await?;
        sqlx::query(&format!(
            "INSERT INTO {history} (version, name, checksum, applied_at) VALUES ($1, $2, $3, {now})"
        ))
        .bind(migration.version)
        .bind(migration.name)
        .bind(checksum)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The advisory lock of one history table: the first 8 bytes of its name's
/// SHA-256, so stores with different prefixes do not wait for each other.
fn lock_key(history: &str) -> i64 {
    let digest = Sha256::digest(history.as_bytes());
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}
