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
//! A scope that ends (or calls [`release`]) with its connection clean
//! (no transaction open, nothing left unsent) parks it instead of handing
//! it back to sqlx, and the next scope on that pool takes a parked one
//! before it asks the pool: sqlx's return to the pool pings every
//! connection, a round trip to the database per request that a parked one
//! skips. A connection that is not clean goes back to sqlx as before
//! (whose ping flushes a queued rollback at once); one that failed as dead
//! is closed. At most half the pool's connections are parked, so that
//! statements that take their own checkout still find the rest; one parked
//! for longer than [`MAX_PARKED`] goes back to sqlx, pinged, when the next
//! scope finds it; all go back when the pool is closed
//! ([`sqlx::Pool::close`] waits for them, and they return on its close
//! event). sqlx itself makes reuse safe: every statement first sends
//! whatever is queued and reads the connection up to its last
//! `ReadyForQuery` (PostgreSQL), and SQLite's worker runs commands in
//! order.
//!
//! Outside a scope, [`connection`] is a plain checkout per statement.
//! Nothing here holds a connection across anything slow by itself: an
//! application that awaits other work inside a scope (a password hash)
//! calls [`release`] first.

use std::collections::HashMap;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use crate::prefetch::Snapshot;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Connection as _};
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
    /// The pool the connection came from (its options' address, and the
    /// pool, to park the connection on): a statement on another pool
    /// inside the scope gets its own checkout.
    pool: std::sync::OnceLock<(usize, AnyPool)>,
    /// A user's authenticators read by the application's own statement
    /// ([`SqlxStore::use_prefetched`](crate::SqlxStore::use_prefetched)),
    /// for the next [`load`](totp_engine::MfaStore::load) (or
    /// [`load_otp`](totp_engine::MfaStore::load_otp)) of that user in this
    /// scope, once.
    prefetched: std::sync::Mutex<Option<(usize, String, Snapshot)>>,
}

impl Held {
    /// The scope is done with `conn` (if it holds one): parked if clean
    /// ([`park`]), closed if it failed as dead, otherwise back to sqlx.
    fn give_back(&self, conn: Option<PoolConnection<Any>>) {
        let dead = self.dead.swap(false, Ordering::AcqRel);
        let Some(mut conn) = conn else {
            return;
        };
        if dead {
            conn.close_on_drop();
            return;
        }
        if let Some((id, pool)) = self.pool.get() {
            park(*id, pool, conn);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Every `Conn` holds the lease: none is alive now, so the slot is free.
        let conn = self.slot.try_lock().ok().and_then(|mut slot| slot.take());
        self.give_back(conn);
    }
}

/// Runs `request` in a scope that can hold one connection across its
/// statements (those that go through [`connection`]) once [`hold`] is
/// called in it; the connection is given back when `request` ends (parked
/// for the next scope if clean, otherwise to the pool).
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

/// Gives the scope's connection back now (parked for the next scope if
/// clean, otherwise to the pool) and stops holding one (each later
/// statement takes a checkout of its own, unless [`hold`] is
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
    lease.0.give_back(slot.take());
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

/// How long a parked connection may wait for the next scope: one parked
/// longer goes back to sqlx (pinged, and then subject to the pool's own
/// idle and lifetime limits) instead of being used.
pub const MAX_PARKED: Duration = Duration::from_secs(10);

/// The connections parked per pool (by [`pool_id`]).
static PARKED: LazyLock<std::sync::Mutex<HashMap<usize, Parked>>> = LazyLock::new(Default::default);

/// One pool's parked connections, newest last, and the task that hands
/// them back to sqlx when the pool closes.
#[derive(Default)]
struct Parked {
    conns: Vec<(PoolConnection<Any>, Instant)>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// Wakes a scope waiting for a connection when one is parked: a
    /// scope that found none parked also waits on the pool, and takes
    /// whichever comes first.
    parked: Arc<tokio::sync::Notify>,
}

/// The notification of connections parked on pool `id`.
fn parked_notify(id: usize) -> Option<Arc<tokio::sync::Notify>> {
    let mut parked = PARKED.lock().ok()?;
    Some(Arc::clone(&parked.entry(id).or_default().parked))
}

/// A connection of `pool` (with id `id`) for a scope: a parked one, or
/// the pool's, whichever comes first.
async fn checkout(id: usize, pool: &AnyPool) -> Result<PoolConnection<Any>, sqlx::Error> {
    if let Some(conn) = take_parked(id) {
        return Ok(conn);
    }
    // Below its size the pool opens a connection for this checkout: that
    // must not be abandoned halfway for a parked one (the database would
    // start a session for nothing). At its size, the checkout only waits,
    // and waits for a parked connection too.
    if pool.size() < pool.options().get_max_connections() {
        return pool.acquire().await;
    }
    let Some(notify) = parked_notify(id) else {
        return pool.acquire().await;
    };
    let acquire = pool.acquire();
    tokio::pin!(acquire);
    loop {
        let parked = notify.notified();
        tokio::pin!(parked);
        // Registered before looking, so that a park in between wakes it.
        parked.as_mut().enable();
        if let Some(conn) = take_parked(id) {
            return Ok(conn);
        }
        tokio::select! {
            conn = &mut acquire => return conn,
            () = &mut parked => {}
        }
    }
}

/// The newest parked connection of pool `id`, if it has waited less than
/// [`MAX_PARKED`]; the ones that have waited longer go back to sqlx, and
/// the other fresh ones stay parked.
fn take_parked(id: usize) -> Option<PoolConnection<Any>> {
    let (taken, stale) = {
        let mut parked = PARKED.lock().ok()?;
        let list = &mut parked.get_mut(&id)?.conns;
        let now = Instant::now();
        // Oldest first: the stale ones are a prefix.
        let fresh =
            list.partition_point(|(_, since)| now.saturating_duration_since(*since) >= MAX_PARKED);
        let stale: Vec<_> = list.drain(..fresh).collect();
        (list.pop().map(|(conn, _)| conn), stale)
    };
    // Dropped outside the lock: sqlx pings each on its way back.
    drop(stale);
    taken
}

/// Parks `conn` of `pool` (with id `id`) if it is clean and the pool has
/// room for it; otherwise it goes back to sqlx (dropped).
fn park(id: usize, pool: &AnyPool, conn: PoolConnection<Any>) {
    if pool.is_closed() || conn.is_in_transaction() || conn.should_flush() {
        return;
    }
    // A close watcher needs a runtime to wait on.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    // Below half: a checkout waiting on a full pool is then always woken,
    // by a connection parked or one handed back to sqlx. A pool of one
    // parks nothing.
    let room = usize::try_from(pool.options().get_max_connections() / 2).unwrap_or(usize::MAX);
    let Ok(mut parked) = PARKED.lock() else {
        return;
    };
    // Checked again under the lock: a close that began since has its
    // watcher wait for this lock, and then finds the connection.
    if pool.is_closed() {
        return;
    }
    let entry = parked.entry(id).or_default();
    if entry.conns.len() >= room {
        return;
    }
    // `close` waits for every checked-out connection, the parked ones too:
    // they go back to sqlx (which closes them) on its close event. A
    // watcher whose runtime ended is replaced.
    if entry
        .watcher
        .as_ref()
        .is_none_or(tokio::task::JoinHandle::is_finished)
    {
        let closed = pool.close_event();
        entry.watcher = Some(runtime.spawn(async move {
            closed.await;
            unpark_all(id);
        }));
    }
    entry.conns.push((conn, Instant::now()));
    entry.parked.notify_one();
}

/// Hands every parked connection of pool `id` back to sqlx.
fn unpark_all(id: usize) {
    let parked = PARKED.lock().ok().and_then(|mut parked| parked.remove(&id));
    drop(parked);
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
    if lease.0.pool.get_or_init(|| (id, pool.clone())).0 != id {
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
        *slot = Some(checkout(id, pool).await?);
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
