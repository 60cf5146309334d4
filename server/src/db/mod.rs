//! The database: one pool, the server's own tables, and the engine's
//! authenticator store ([`totp_engine_sqlx::SqlxStore`]) on the same pool.
//!
//! Each table has one home for its SQL: [`clients`], [`users`],
//! [`mfa_tokens`], [`signing_keys`]; the schema is in
//! `server/migrations/{sqlite,postgres}/*.sql`, applied by the store
//! crate's runner under its own history table (`mfa_server_migrations`).
//! One set of statements serves SQLite and PostgreSQL through sqlx's `Any`
//! driver with `$N` placeholders; every value is TEXT, BIGINT or a byte
//! string. Nothing here reads a clock: callers pass `now`.

pub mod clients;
pub mod mfa_tokens;
pub mod signing_keys;
pub mod users;

use sqlx::AnyPool;
use totp_engine_sqlx::{
    Backend, Migration, SqlxStore, StoreError, StoreOptions, connect_pool, run_migrations,
};

pub use clients::ClientRow;
pub use mfa_tokens::MfaTokenRow;
pub use signing_keys::SigningKeyRow;
pub use users::UserRow;

/// The server's migrations, in order.
const MIGRATIONS: &[Migration] = &[Migration::new(
    1,
    "server",
    include_str!("../../migrations/sqlite/0001_server.sql"),
    include_str!("../../migrations/postgres/0001_server.sql"),
)];

/// A connected, migrated database.
#[derive(Debug, Clone)]
pub struct Db {
    /// The pool, shared by the server's tables and the store.
    pub pool: AnyPool,
    /// Which database.
    pub backend: Backend,
    store: SqlxStore,
}

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// Opening the store or migrating failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored row does not hold what this server writes.
    #[error("corrupt row in {table}: {what}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column or rule.
        what: &'static str,
    },
}

impl Db {
    /// Connects to `url` (`postgres://…`, `sqlite://PATH` or a plain path,
    /// created if missing) and brings both schemas up to date.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database cannot be reached or migrated.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let (pool, backend) = connect_pool(url).await?;
        run_migrations(
            &pool,
            &StoreOptions::default(),
            "mfa_server_migrations",
            MIGRATIONS,
        )
        .await?;
        let store = SqlxStore::new(pool.clone(), StoreOptions::default()).await?;
        Ok(Self {
            pool,
            backend,
            store,
        })
    }

    /// The engine's store over the same pool.
    #[must_use]
    pub fn store(&self) -> SqlxStore {
        self.store.clone()
    }
}

/// The BIGINT with the bits of a u64 time.
pub(crate) const fn bits(v: u64) -> i64 {
    v.cast_signed()
}

/// The u64 time of a BIGINT written by [`bits`].
pub(crate) const fn unbits(v: i64) -> u64 {
    v.cast_unsigned()
}
