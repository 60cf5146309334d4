//! Opening a pool with the settings the store's guarantees assume.

use std::str::FromStr;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

use crate::StoreError;

/// Which database a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a sqlx `Any` URL selects.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnsupportedUrl`] for any other scheme.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        match scheme {
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "sqlite" => Ok(Self::Sqlite),
            _ => Err(StoreError::UnsupportedUrl),
        }
    }

    /// The backend of an existing pool.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnsupportedUrl`] for a pool of another database.
    pub fn of_pool(pool: &AnyPool) -> Result<Self, StoreError> {
        Self::of_url(pool.connect_options().database_url.as_str())
    }
}

/// Opens a pool on `url` with the settings the store relies on:
///
/// - `postgres://…` / `postgresql://…`: PostgreSQL, up to 16 connections;
/// - `sqlite://PATH` or a plain path: a SQLite file (created if missing),
///   up to 8 connections, each in WAL mode (readers beside the writer) with
///   a 10 s busy timeout (a second process waits for the write lock instead
///   of failing) and `synchronous = NORMAL`.
///
/// Acquiring waits at most 5 s. The pool is yours: hand it to
/// [`SqlxStore::new`](crate::SqlxStore::new) and use it for your own tables.
///
/// # Errors
///
/// [`StoreError::Database`] if the database cannot be reached.
pub async fn connect_pool(url: &str) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    let url = if url.contains("://") || url.starts_with("sqlite:") {
        url.to_owned()
    } else {
        format!("sqlite://{url}")
    };
    let backend = Backend::of_url(&url)?;
    let url = match backend {
        Backend::Sqlite => with_create_mode(&url),
        Backend::Postgres => url,
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
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA busy_timeout = 10000",
                        "PRAGMA synchronous = NORMAL",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok((pool, backend))
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
