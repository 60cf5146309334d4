//! One pool connection held across the statements of one request: inside
//! a [`scope`] around a request's future, once [`hold`] is called, every
//! statement run through [`connection`] (the store's, and an
//! application's own that use it) shares one checkout, taken at the first
//! statement and returned when the scope ends or at [`release`].
//!
//! Each checkout costs more than a statement: sqlx pings a connection when
//! it goes back to the pool (and, with `test_before_acquire`, when it comes
//! out; [`connect_pool`](crate::connect_pool) turns that one off). A grant
//! that runs four statements on four checkouts pays for four returns; in a
//! scope it pays for one.
//!
//! Without the ping on acquire, a connection that died while idle (the
//! database restarted, an administrator ended its backend) is noticed at
//! its first statement, which fails. A read may simply run again: a read
//! that fails on a dead connection ([`Conn::discard_if_dead`]) drops that
//! connection (it is closed, never returned to the pool; sqlx's ping on
//! return would also close it) and runs again on another, up to the pool's
//! size plus one times, so a pool full of dead connections costs the first
//! request after an outage some failed round trips, not an error. A write
//! is never run again here: its outcome is resolved by the store's re-read
//! (`outcome`), on a fresh checkout.
//!
//! Outside a scope, [`connection`] is a plain checkout per statement.
//! Nothing here holds a connection across anything slow by itself: an
//! application that awaits other work inside a scope (a password hash)
//! calls [`release`] first.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::prefetch::Snapshot;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool};
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

tokio::task_local! {
    static LEASE: Lease;
}

/// The connection of one scope, taken at its first statement.
#[derive(Clone, Default)]
struct Lease(Arc<Held>);

#[derive(Default)]
struct Held {
    /// Set by [`hold`]: until then the scope holds nothing.
    active: AtomicBool,
    slot: Arc<Mutex<Option<PoolConnection<Any>>>>,
    /// The held connection failed as dead: the next checkout drops it.
    dead: AtomicBool,
    /// The pool the connection came from (its options' address): a
    /// statement on another pool inside the scope gets its own checkout.
    pool: std::sync::OnceLock<usize>,
    /// A user's authenticators read by the application's own statement
    /// ([`SqlxStore::use_prefetched`](crate::SqlxStore::use_prefetched)),
    /// for the next [`load`](totp_engine::MfaStore::load) (or
    /// [`load_otp`](totp_engine::MfaStore::load_otp)) of that user in this
    /// scope, once.
    prefetched: std::sync::Mutex<Option<(usize, String, Snapshot)>>,
}

/// Runs `request` in a scope that can hold one connection across its
/// statements (those that go through [`connection`]) once [`hold`] is
/// called in it; the connection goes back to the pool when `request` ends.
/// Scopes do not nest: an inner scope holds its own.
pub async fn scope<F: Future>(request: F) -> F::Output {
    LEASE.scope(Lease::default(), request).await
}

/// Makes the current [`scope`] hold one connection across the statements
/// that follow (from the next one on). Outside a scope, does nothing.
///
/// Call it only where every statement to the same pool until the scope
/// ends (or [`release`]) goes through [`connection`]: a statement that
/// takes a checkout of its own while the scope holds one needs two
/// connections at once, and a pool full of such requests waits on itself
/// until its acquire timeout.
pub fn hold() {
    let _ = LEASE.try_with(|lease| lease.0.active.store(true, Ordering::Release));
}

/// Returns the scope's connection to the pool now and stops holding one
/// (each later statement takes a checkout of its own, unless [`hold`] is
/// called again): call it before awaiting something slow inside a
/// [`scope`], such as a password hash, so that the pool is not held idle,
/// and before statements that do not go through [`connection`]. Outside a
/// scope, does nothing.
pub async fn release() {
    let Ok(lease) = LEASE.try_with(Lease::clone) else {
        return;
    };
    lease.0.active.store(false, Ordering::Release);
    let mut slot = lease.0.slot.lock().await;
    *slot = None;
    lease.0.dead.store(false, Ordering::Release);
}

/// Keeps `snapshot` (of `user`'s authenticators, for the store `store`) in
/// the current [`scope`] for the next [`take_prefetched`] of that user by
/// that store; outside a scope, drops it.
pub(crate) fn put_prefetched(store: usize, user: String, snapshot: Snapshot) {
    let _ = LEASE.try_with(|lease| {
        if let Ok(mut slot) = lease.0.prefetched.lock() {
            *slot = Some((store, user, snapshot));
        }
    });
}

/// The snapshot of `user`'s authenticators kept by [`put_prefetched`] in
/// the current [`scope`], once: it is gone afterwards (a snapshot of
/// another user stays).
pub(crate) fn take_prefetched(store: usize, user: &str) -> Option<Snapshot> {
    LEASE
        .try_with(|lease| {
            let mut slot = lease.0.prefetched.lock().ok()?;
            if slot
                .as_ref()
                .is_some_and(|(s, u, _)| *s == store && u == user)
            {
                slot.take().map(|(_, _, snapshot)| snapshot)
            } else {
                None
            }
        })
        .ok()
        .flatten()
}

/// A connection to run one statement on: the scope's, or a checkout of
/// its own outside a [`scope`]. Dereferences to the connection; dropping it
/// returns an own checkout to the pool and keeps the scope's.
pub struct Conn(Inner);

enum Inner {
    Held(
        OwnedMappedMutexGuard<Option<PoolConnection<Any>>, PoolConnection<Any>>,
        Lease,
    ),
    Own(PoolConnection<Any>),
}

/// The address of a pool's options: equal for clones of one pool.
fn pool_id(pool: &AnyPool) -> usize {
    Arc::as_ptr(&pool.connect_options()).cast::<u8>() as usize
}

/// The connection to run a statement on from `pool`: the [`scope`]'s
/// (checked out at its first statement), or a checkout of its own.
///
/// # Errors
///
/// The pool's: it is closed, or no connection came within its acquire
/// timeout.
pub async fn connection(pool: &AnyPool) -> Result<Conn, sqlx::Error> {
    let lease = match LEASE.try_with(Lease::clone) {
        Ok(lease) if lease.0.active.load(Ordering::Acquire) => lease,
        _ => return Ok(Conn(Inner::Own(pool.acquire().await?))),
    };
    let id = pool_id(pool);
    if *lease.0.pool.get_or_init(|| id) != id {
        return Ok(Conn(Inner::Own(pool.acquire().await?)));
    }
    let mut slot: OwnedMutexGuard<Option<PoolConnection<Any>>> =
        Arc::clone(&lease.0.slot).lock_owned().await;
    if lease.0.dead.swap(false, Ordering::AcqRel)
        && let Some(mut dead) = slot.take()
    {
        dead.close_on_drop();
    }
    if slot.is_none() {
        *slot = Some(pool.acquire().await?);
    }
    match OwnedMutexGuard::try_map(slot, Option::as_mut) {
        Ok(held) => Ok(Conn(Inner::Held(held, lease))),
        // Filled just above; should it be empty, a checkout of its own.
        Err(_) => Ok(Conn(Inner::Own(pool.acquire().await?))),
    }
}

/// How many times a read runs on `pool` at most ([`Conn::discard_if_dead`]):
/// once per connection the pool can hold, and once more on a new one.
#[must_use]
pub fn read_attempts(pool: &AnyPool) -> u32 {
    pool.options().get_max_connections().saturating_add(1)
}

/// The row (if any) that `sql`, with its parameters bound by `bind`,
/// selects from `pool`, through [`connection`]; run again on another
/// connection while the one it ran on turns out dead (at most
/// [`read_attempts`] times). For reads only: a statement that changes
/// anything must not run twice.
///
/// # Errors
///
/// The statement's last error, or the pool's.
pub async fn read_optional<'q, F>(
    pool: &AnyPool,
    sql: &'q str,
    bind: F,
) -> Result<Option<AnyRow>, sqlx::Error>
where
    F: Fn(AnyQuery<'q>) -> AnyQuery<'q>,
{
    let mut last = sqlx::Error::PoolTimedOut;
    for _ in 0..read_attempts(pool) {
        let mut conn = connection(pool).await?;
        match bind(sqlx::query(sql)).fetch_optional(&mut *conn).await {
            Err(e) if conn.discard_if_dead(&e) => last = e,
            other => return other,
        }
    }
    Err(last)
}

/// A statement on the `Any` driver, as [`read_optional`] binds it.
pub type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

impl Conn {
    /// Whether `error` (of a statement just run on this connection) says
    /// the connection is dead: then it is dropped (closed, not returned to
    /// the pool; the scope takes another at its next statement) and a read
    /// may run again. Dead means the connection broke (I/O, protocol, TLS,
    /// a crashed worker) or the database ended the session (PostgreSQL
    /// SQLSTATE class 08, connection exception, or 57P, operator
    /// intervention: an administrator or a shutdown ended the backend).
    pub fn discard_if_dead(&mut self, error: &sqlx::Error) -> bool {
        if !is_dead(error) {
            return false;
        }
        match &mut self.0 {
            Inner::Held(conn, lease) => {
                conn.close_on_drop();
                lease.0.dead.store(true, Ordering::Release);
            }
            Inner::Own(conn) => conn.close_on_drop(),
        }
        true
    }
}

/// Whether `error` means the connection it came from is unusable.
pub(crate) fn is_dead(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

impl Deref for Conn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match &self.0 {
            Inner::Held(conn, _) => conn,
            Inner::Own(conn) => conn,
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.0 {
            Inner::Held(conn, _) => conn,
            Inner::Own(conn) => conn,
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Inner::Held(..) => "Conn(held)",
            Inner::Own(_) => "Conn(own)",
        })
    }
}
