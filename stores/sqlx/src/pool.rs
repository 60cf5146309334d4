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
/// - `sqlite://PATH` or a plain path: a SQLite file (created if missing,
///   readable by its owner only: mode 0600, which SQLite gives its `-wal`
///   and `-shm` files too), up to 8 connections, each in WAL mode (readers
///   beside the writer) with a 10 s busy timeout (a second process waits
///   for the write lock instead of failing), `synchronous = NORMAL` and
///   `secure_delete = ON` (deleted rows, such as a removed authenticator's
///   secret, are overwritten with zeros rather than left in free pages).
///
/// Acquiring waits at most 5 s and does not ping the connection first
/// (`test_before_acquire(false)`; sqlx still pings each connection as it
/// goes back to the pool, and closes it if that fails, except those a
/// [`crate::lease`] scope parks for the next scope): a connection that
/// died while idle fails its first statement instead, and the store's reads
/// then drop it and run again on another ([`crate::lease`]), so that after
/// a database outage no request fails for a dead idle connection. The
/// pool is yours: hand it to
/// [`SqlxStore::new`](crate::SqlxStore::new) and use it for your own tables
/// (through [`crate::lease::connection`] to share a request's checkout).
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
        Backend::Sqlite => {
            create_private_file(&url)?;
            with_create_mode(&url)
        }
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
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA busy_timeout = 10000",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA secure_delete = ON",
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

/// Creates the database file of a SQLite `url` with mode 0600 if it does
/// not exist yet (SQLite would create it with 0644 less the umask, and its
/// `-wal` and `-shm` files take the database file's mode). An existing file
/// keeps its mode; in-memory and read-only databases are left alone.
fn create_private_file(url: &str) -> Result<(), StoreError> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let path = options.get_filename();
    let params = url.split_once('?').map_or("", |(_, p)| p);
    let text = path.to_string_lossy();
    if text.is_empty()
        || text.starts_with("file:")
        || text == ":memory:"
        || params.contains("mode=memory")
        || params.contains("mode=ro")
        || path.exists()
    {
        return Ok(());
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        // Another process created it in between: it is that one's now.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Database(sqlx::Error::Io(e))),
    }
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
