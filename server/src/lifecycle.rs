//! The life of `serve` after start-up: serving the router (and the metrics
//! listener, if on) until SIGTERM or SIGINT, then the graceful shutdown.
//!
//! On the signal: a line `shutting down` is logged; the listener closes at
//! once (new connections are refused); requests in flight finish, for at
//! most `--shutdown-timeout-secs`, after which the connections still open
//! are cut; the metrics listener stops; the database pool is closed; a
//! last line `shutdown complete` says how many connections were open and
//! how many were cut; the process exits 0.

use std::future::Future;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::http::{self, App};

/// Resolves at SIGINT (Ctrl-C) or SIGTERM.
pub async fn terminated() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Serves `app` on `listener` (over TLS with `tls`), and its metrics on
/// `metrics` if given, until `shutdown` resolves; then shuts down as this
/// module describes.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
    metrics: Option<(TcpListener, PrometheusHandle)>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let limits = app.settings().serve_limits();
    let exporter = metrics.map(|(listener, handle)| {
        tokio::spawn(crate::metrics::serve(listener, app.clone(), handle))
    });
    let signalled = async {
        shutdown.await;
        tracing::info!(
            timeout_secs = limits.shutdown_timeout.as_secs(),
            "shutting down: no new connections; finishing requests in flight"
        );
    };
    let drained =
        http::serve::serve(listener, http::router(app.clone()), limits, tls, signalled).await;
    if let Some(exporter) = exporter {
        exporter.abort();
    }
    app.db().pool.close().await;
    tracing::info!(
        connections = drained.open,
        cut = drained.cut,
        "shutdown complete: database pool closed"
    );
}
