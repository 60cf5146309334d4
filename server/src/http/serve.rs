//! Serving the router on a TCP listener with bounded resources: the accept
//! loop of the binary ([`serve`]), in place of `axum::serve` (which sets no
//! timer, so no header timeout, and accepts without limit).
//!
//! - **Connection limit** ([`ServeLimits::max_connections`], capped below
//!   the process's open-file limit so the database keeps descriptors): at
//!   the limit, a new connection evicts the oldest connection that is idle
//!   (waiting for a request's headers: a fresh socket, a slow-header
//!   sender, an idle keep-alive), logged as a warning; when every
//!   connection is busy in a request, accepting pauses (the kernel's
//!   backlog holds new ones) until one ends.
//! - **Header-read timeout** ([`ServeLimits::header_read_timeout`]):
//!   hyper closes a connection that has not sent a complete request head
//!   this long after it opened or after its previous response (idle
//!   keep-alive included).
//! - **Request timeout** ([`ServeLimits::request_timeout`]): a request's
//!   body must arrive this long after its head; the extractor answers 408
//!   otherwise ([`BodyTimeout`]) and the connection is closed. Handlers are
//!   not cancelled: a request whose body is in runs to its end (cancelling
//!   one after it consumed a code would lose the code).
//! - **TLS** (optional, [`super::tls`]): the handshake runs in the
//!   connection's task under the header-read timeout.
//! - Every request carries axum's `ConnectInfo<SocketAddr>` (the peer), as
//!   `into_make_service_with_connect_info` would put it.
//!
//! On shutdown the loop stops accepting, tells every connection to finish
//! its request in flight and close, and returns when all have.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// Descriptors kept free of connections for the database pool, the
/// listener and the process's files.
const RESERVED_FDS: usize = 64;

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time to send a complete request head (from the connection's start or
    /// its previous response).
    pub header_read_timeout: Duration,
    /// Time to send a request's body, from its head.
    pub request_timeout: Duration,
}

/// The request body did not arrive within the request timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body not received in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// A request body that fails with [`BodyTimeout`] once its deadline passes.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
}

impl HttpBody for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that marks its connection busy until it is written.
struct Guarded {
    inner: Body,
    _busy: BusyGuard,
}

impl HttpBody for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One open connection, as the eviction sees it.
#[derive(Default)]
struct Slot {
    /// Requests in flight (head received, response not yet written).
    busy: AtomicUsize,
    /// Asks the connection to close if it is idle.
    evict: Notify,
}

struct BusyGuard(Arc<Slot>);

impl BusyGuard {
    fn enter(slot: &Arc<Slot>) -> Self {
        slot.busy.fetch_add(1, Ordering::SeqCst);
        Self(slot.clone())
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct Connections {
    slots: Mutex<BTreeMap<u64, Arc<Slot>>>,
    next: AtomicU64,
}

impl Connections {
    fn open(&self) -> (u64, Arc<Slot>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        if let Ok(mut slots) = self.slots.lock() {
            slots.insert(id, slot.clone());
        }
        (id, slot)
    }

    fn close(&self, id: u64) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.remove(&id);
        }
    }

    /// Asks the oldest idle connection to close; whether there was one.
    fn evict_oldest_idle(&self) -> bool {
        let Ok(slots) = self.slots.lock() else {
            return false;
        };
        match slots
            .values()
            .find(|slot| slot.busy.load(Ordering::SeqCst) == 0)
        {
            Some(slot) => {
                slot.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `max_connections`, lowered (with a warning) to leave [`RESERVED_FDS`]
/// of the process's open-file limit free.
fn effective_max_connections(max_connections: usize) -> usize {
    let Some(files) = open_files_limit() else {
        return max_connections;
    };
    let cap = files.saturating_sub(RESERVED_FDS).max(1);
    if max_connections > cap {
        tracing::warn!(
            max_connections,
            open_files_limit = files,
            using = cap,
            "max_connections exceeds what the open-file limit leaves; lowered"
        );
        cap
    } else {
        max_connections
    }
}

/// One connection's requests, over plain TCP or TLS, until it closes, is
/// evicted while idle, or is told to stop (then it finishes the request in
/// flight and closes).
async fn drive<Io>(
    io: Io,
    peer: SocketAddr,
    router: Router,
    limits: ServeLimits,
    slot: Arc<Slot>,
    mut stop: watch::Receiver<bool>,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_slot = slot.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let busy = BusyGuard::enter(&service_slot);
        let deadline = Box::pin(tokio::time::sleep(limits.request_timeout));
        let mut request = request.map(|body| {
            Body::new(DeadlineBody {
                inner: Body::new(body),
                deadline,
            })
        });
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            Ok::<_, std::convert::Infallible>(
                response.map(|inner| Body::new(Guarded { inner, _busy: busy })),
            )
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => break,
            () = slot.evict.notified() => {
                if slot.busy.load(Ordering::SeqCst) == 0 {
                    break;
                }
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Serves `router` on `listener` within `limits` (over TLS with `tls`)
/// until `shutdown` resolves, then lets the connections finish their
/// requests and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let max = effective_max_connections(limits.max_connections.max(1));
    let permits = Arc::new(Semaphore::new(max));
    let connections = Arc::new(Connections::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut last_warning: Option<Instant> = None;
    let mut evicted = 0u64;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors (or another resource): back off and
                // let connections close; per-connection errors are retried
                // at once.
                if matches!(
                    e.raw_os_error(),
                    Some(23 | 24) // ENFILE, EMFILE
                ) {
                    tracing::warn!(error = %e, "accept failed: out of file descriptors");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if connections.evict_oldest_idle() {
                    evicted += 1;
                }
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!(
                        max_connections = max,
                        evicted_idle = evicted,
                        "connection limit reached: closing the oldest idle connections"
                    );
                    last_warning = Some(Instant::now());
                    evicted = 0;
                }
                let acquired = tokio::select! {
                    () = &mut shutdown => break,
                    permit = permits.clone().acquire_owned() => permit,
                };
                match acquired {
                    Ok(permit) => permit,
                    Err(_) => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let (id, slot) = connections.open();
        let connections = connections.clone();
        let router = router.clone();
        let stop = stop_rx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => drive(stream, peer, router, limits, slot, stop).await,
                // The handshake counts against the header-read timeout.
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => drive(stream, peer, router, limits, slot, stop).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            connections.close(id);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it has closed.
    let _ = permits
        .acquire_many(u32::try_from(max).unwrap_or(u32::MAX))
        .await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_open_file_limit_is_read_and_respected() {
        let files = open_files_limit().unwrap();
        assert!(files > 0);
        assert_eq!(effective_max_connections(1), 1);
        assert!(effective_max_connections(usize::MAX) <= files);
    }

    #[test]
    fn only_idle_connections_are_evicted_oldest_first() {
        let connections = Connections::default();
        let (_, busy) = connections.open();
        let (_, idle) = connections.open();
        let (_, newer) = connections.open();
        let _guard = BusyGuard::enter(&busy);
        assert!(connections.evict_oldest_idle());
        // The notification is stored for the oldest idle one only.
        let notified = |slot: &Arc<Slot>| {
            let future = slot.evict.notified();
            tokio::pin!(future);
            future
                .as_mut()
                .poll(&mut Context::from_waker(std::task::Waker::noop()))
                .is_ready()
        };
        assert!(notified(&idle));
        assert!(!notified(&newer));
        assert!(!notified(&busy));
    }
}
