//! The database: one pool, the server's own tables, and the engine's
//! authenticator store ([`totp_engine_sqlx::SqlxStore`]) on the same pool.
//!
//! Each table has one home for its SQL: [`clients`], [`client_grants`], [`users`],
//! [`mfa_tokens`], [`signing_keys`], [`login_attempts`] (the login
//! throttle's counters), [`jti`] (single-use JWT ids); the schema is in
//! `server/migrations/{sqlite,postgres}/*.sql`, applied by the store
//! crate's runner under its own history table (`mfa_server_migrations`).
//! One set of statements serves SQLite and PostgreSQL through sqlx's `Any`
//! driver with `$N` placeholders; every value is TEXT, BIGINT or a byte
//! string. Nothing here reads a clock: callers pass `now`.

pub mod client_grants;
pub mod clients;
pub mod import;
pub mod jti;
pub mod login_attempts;
pub mod mfa_tokens;
pub mod refresh_tokens;
pub mod signing_keys;
pub mod users;

use sqlx::AnyPool;
use totp_engine_sqlx::{
    Backend, Keyring, Migration, SqlxStore, StoreError, StoreOptions, connect_pool, run_migrations,
};

pub use clients::{ClientListing, ClientRow, TokenUserReads};
pub use jti::JtiKind;
pub use login_attempts::{AddressCharge, LoginFailureRow, LoginPolicy, PairCharge};
pub use mfa_tokens::MfaTokenRow;
pub use refresh_tokens::{RefreshTokenRow, Rotation};
pub use signing_keys::{Rotated, SigningKeyRow};
pub use users::{UserListing, UserRow};

/// The server's migrations (its own tables; the store crate migrates the
/// authenticator tables).
pub const MIGRATIONS: &[Migration] = &[
    Migration::new(
        1,
        "server",
        include_str!("../../migrations/sqlite/0001_server.sql"),
        include_str!("../../migrations/postgres/0001_server.sql"),
    ),
    Migration::new(
        2,
        "login_throttle",
        include_str!("../../migrations/sqlite/0002_login_throttle.sql"),
        include_str!("../../migrations/postgres/0002_login_throttle.sql"),
    ),
    Migration::new(
        3,
        "sealed_signing_keys",
        include_str!("../../migrations/sqlite/0003_sealed_signing_keys.sql"),
        include_str!("../../migrations/postgres/0003_sealed_signing_keys.sql"),
    ),
    Migration::new(
        5,
        "token_revocation",
        include_str!("../../migrations/sqlite/0005_token_revocation.sql"),
        include_str!("../../migrations/postgres/0005_token_revocation.sql"),
    ),
    Migration::new(
        14,
        "client_grants",
        include_str!("../../migrations/sqlite/0014_client_grants.sql"),
        include_str!("../../migrations/postgres/0014_client_grants.sql"),
    ),
    Migration::new(
        4,
        "signing_alg",
        include_str!("../../migrations/sqlite/0004_signing_alg.sql"),
        include_str!("../../migrations/postgres/0004_signing_alg.sql"),
    ),
    Migration::new(
        6,
        "refresh_tokens",
        include_str!("../../migrations/sqlite/0006_refresh_tokens.sql"),
        include_str!("../../migrations/postgres/0006_refresh_tokens.sql"),
    ),
    Migration::new(
        7,
        "signing_key_rotation",
        include_str!("../../migrations/sqlite/0007_signing_key_rotation.sql"),
        include_str!("../../migrations/postgres/0007_signing_key_rotation.sql"),
    ),
    Migration::new(
        8,
        "client_keys",
        include_str!("../../migrations/sqlite/0008_client_keys.sql"),
        include_str!("../../migrations/postgres/0008_client_keys.sql"),
    ),
    Migration::new(
        15,
        "next_signing_key",
        include_str!("../../migrations/sqlite/0015_next_signing_key.sql"),
        include_str!("../../migrations/postgres/0015_next_signing_key.sql"),
    ),
];

/// The history table of the server's migrations (the store's is
/// `totp_engine_migrations`).
pub const MIGRATION_HISTORY: &str = "mfa_server_migrations";

/// A connected, migrated database.
#[derive(Debug, Clone)]
pub struct Db {
    /// The pool, shared by the server's tables and the store.
    pub pool: AnyPool,
    /// Which database.
    pub backend: Backend,
    store: SqlxStore,
    keyring: Keyring,
    /// [`Db::client_and_mfa_token`]'s statements, with the store's
    /// columns: both authenticators, and the OTP authenticator alone.
    client_and_token_sql: std::sync::Arc<str>,
    client_and_token_otp_sql: std::sync::Arc<str>,
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
    /// A sealed value does not open with the keyring.
    #[error("sealed {what}: {reason}")]
    Sealing {
        /// What was sealed.
        what: &'static str,
        /// Why it does not open.
        reason: String,
    },
    /// A stored row does not hold what this server writes.
    #[error("corrupt row in {table}: {what}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column or rule.
        what: &'static str,
    },
    /// Concurrent requests kept changing a row faster than a conditional
    /// update could apply.
    #[error("contention on {0}: concurrent requests kept changing the row")]
    Contention(&'static str),
}

impl Db {
    /// Connects to `url` (`postgres://…`, `sqlite://PATH` or a plain path,
    /// created if missing), brings both schemas up to date, and seals with
    /// `keyring`: a database holding secrets under a key the keyring lacks
    /// is refused; secrets stored plain (a database from before sealing) or
    /// under a previous key are sealed under the current key at once, the
    /// TOTP secrets and the signing key alike.
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database cannot be reached, migrated or opened
    /// with this keyring.
    pub async fn connect(url: &str, keyring: Keyring) -> Result<Self, DbError> {
        let (pool, backend) = connect_pool(url).await?;
        run_migrations(
            &pool,
            &StoreOptions::default(),
            MIGRATION_HISTORY,
            MIGRATIONS,
        )
        .await?;
        let options = StoreOptions::default().with_keyring(keyring.clone());
        let store = SqlxStore::new(pool.clone(), options).await?;
        let resealed = store.reseal().await?;
        if resealed.resealed > 0 {
            tracing::info!(
                secrets = resealed.resealed,
                "sealed TOTP secrets under the current encryption key"
            );
        }
        let client_and_token_sql = clients::client_and_mfa_token_sql(&store, TokenUserReads::All)?;
        let client_and_token_otp_sql =
            clients::client_and_mfa_token_sql(&store, TokenUserReads::Otp)?;
        let db = Self {
            pool,
            backend,
            store,
            keyring,
            client_and_token_sql,
            client_and_token_otp_sql,
        };
        db.reseal_signing_key().await?;
        Ok(db)
    }

    /// The keyring secrets are sealed with.
    #[must_use]
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The engine's store over the same pool.
    #[must_use]
    pub fn store(&self) -> SqlxStore {
        self.store.clone()
    }

    /// The engine's store, borrowed.
    #[must_use]
    pub fn store_ref(&self) -> &SqlxStore {
        &self.store
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
