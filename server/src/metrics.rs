//! Prometheus metrics (`metrics` + `metrics-exporter-prometheus`), off by
//! default: `serve --metrics-listen ADDR` installs the recorder ([`install`])
//! and serves `GET /metrics` on that separate listener ([`serve`]). Without
//! it every recording here is a no-op.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `mfa_server_http_requests_total` | counter | `method`, `route` (as routed: `/mfa/authenticators/{id}`; `unmatched`), `status` |
//! | `mfa_server_http_request_duration_seconds` | histogram | `method`, `route` |
//! | `mfa_server_grants_total` | counter | `grant` (`password`, `otp`, `recovery`), `outcome` (see `http/outcome.rs`) |
//! | `mfa_server_otp_accepted_offset_total` | counter | `offset`: the accepted code's time step minus the current one (`-1`, `0`, `1`, …; clock drift of the population) |
//! | `mfa_server_argon2_running` | gauge | password hashes computing now |
//! | `mfa_server_argon2_queue_depth` | gauge | requests waiting for a hash slot |
//! | `mfa_server_argon2_queue_capacity` | gauge | the most that may wait (`--hash-queue`) |
//! | `mfa_server_db_pool_connections` | gauge | `state`: `in_use`, `idle` |
//! | `mfa_server_db_pool_max_connections` | gauge | the pool's size limit |
//! | `mfa_server_db_pool_acquire_wait_seconds` | histogram | the time a probe waited for a pooled connection: at each scrape and every 10 s |
//!
//! The gauges are read when `/metrics` is scraped. No label ever holds a
//! username, user id, client id, code, token, address or path segment:
//! every label value comes from a fixed set (the router's routes, HTTP
//! methods and statuses, the outcome classes, small integers).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header::CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::http::App;
use crate::logging::route_of;

/// How often the pool's wait time is probed between scrapes.
const PROBE_EVERY: Duration = Duration::from_secs(10);

/// Buckets of the request latency histogram, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of the pool wait histogram, in seconds.
const WAIT_BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

/// Installs the process-wide Prometheus recorder; returns the handle that
/// renders its text.
///
/// # Errors
///
/// A recorder is already installed.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("mfa_server_http_request_duration_seconds".into()),
            LATENCY_BUCKETS,
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("mfa_server_db_pool_acquire_wait_seconds".into()),
                WAIT_BUCKETS,
            )
        })
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| format!("metrics: {e}"))?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "mfa_server_http_requests_total",
        "HTTP requests answered, by method, matched route and status."
    );
    describe_histogram!(
        "mfa_server_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by method and matched route."
    );
    describe_counter!(
        "mfa_server_grants_total",
        "Grants of /oauth/token by kind and outcome class."
    );
    describe_counter!(
        "mfa_server_otp_accepted_offset_total",
        "Accepted OTP codes by their time step's offset from the current step."
    );
    describe_gauge!(
        "mfa_server_argon2_running",
        "Argon2id password hashes computing now."
    );
    describe_gauge!(
        "mfa_server_argon2_queue_depth",
        "Requests waiting for an Argon2id hash slot."
    );
    describe_gauge!(
        "mfa_server_argon2_queue_capacity",
        "Requests that may wait for a hash slot before 503."
    );
    describe_gauge!(
        "mfa_server_db_pool_connections",
        "Database pool connections, by state (in_use, idle)."
    );
    describe_gauge!(
        "mfa_server_db_pool_max_connections",
        "The database pool's size limit."
    );
    describe_histogram!(
        "mfa_server_db_pool_acquire_wait_seconds",
        Unit::Seconds,
        "Time a probe waited for a pooled database connection."
    );
}

/// A method as a label: the standard ones by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware of the router: counts each request and times it, by method,
/// matched route and status.
pub async fn track_request(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = route_of(&request).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "mfa_server_http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!(
        "mfa_server_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// Counts one grant outcome.
pub fn grant(grant: &'static str, outcome: &'static str) {
    metrics::counter!("mfa_server_grants_total", "grant" => grant, "outcome" => outcome)
        .increment(1);
}

/// Counts one accepted code at `offset` steps from the current one
/// (clamped to ±16, far beyond any window).
pub fn otp_offset(offset: i64) {
    let offset = offset.clamp(-16, 16).to_string();
    metrics::counter!("mfa_server_otp_accepted_offset_total", "offset" => offset).increment(1);
}

/// Reads the gauges from `app`: the hash pool and the database pool.
fn sample(app: &App) {
    let hashes = app.hashes();
    let gauge = |n: usize| f64::from(u32::try_from(n).unwrap_or(u32::MAX));
    metrics::gauge!("mfa_server_argon2_running").set(gauge(hashes.running()));
    metrics::gauge!("mfa_server_argon2_queue_depth").set(gauge(hashes.waiting()));
    metrics::gauge!("mfa_server_argon2_queue_capacity").set(gauge(hashes.queue()));
    let pool = &app.db().pool;
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    metrics::gauge!("mfa_server_db_pool_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    metrics::gauge!("mfa_server_db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("mfa_server_db_pool_max_connections")
        .set(f64::from(pool.options().get_max_connections()));
}

/// Times one wait for a pooled connection (returned at once).
async fn probe_pool(app: &App) {
    let started = Instant::now();
    if app.db().pool.acquire().await.is_ok() {
        metrics::histogram!("mfa_server_db_pool_acquire_wait_seconds")
            .record(started.elapsed().as_secs_f64());
    }
}

#[derive(Clone)]
struct Exporter {
    app: Arc<App>,
    handle: PrometheusHandle,
}

async fn scrape(State(exporter): State<Exporter>) -> Response {
    probe_pool(&exporter.app).await;
    sample(&exporter.app);
    exporter.handle.run_upkeep();
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        exporter.handle.render(),
    )
        .into_response()
}

/// Serves `GET /metrics` on `listener` for `app`, probing the pool every
/// [`PROBE_EVERY`], until the task is dropped.
pub async fn serve(listener: TcpListener, app: Arc<App>, handle: PrometheusHandle) {
    let probe_app = app.clone();
    let probe_handle = handle.clone();
    let prober = tokio::spawn(async move {
        let mut every = tokio::time::interval(PROBE_EVERY);
        loop {
            every.tick().await;
            probe_pool(&probe_app).await;
            probe_handle.run_upkeep();
        }
    });
    let router = Router::new()
        .route("/metrics", get(scrape))
        .with_state(Exporter { app, handle });
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!(error = %e, "metrics listener failed");
    }
    prober.abort();
}

/// Binds the metrics listener at `addr`.
///
/// # Errors
///
/// The address cannot be bound.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))
}
