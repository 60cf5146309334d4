//! HTTP: the Auth0-compatible endpoints on axum.
//!
//! This module holds the [`router`], the shared state [`App`] (database,
//! engine, signer, settings and the clock) and the middleware: one log line
//! per request ([`crate::logging`]), the request metrics
//! ([`crate::metrics`]), a panic turned into a 500 JSON answer, JSON answers for
//! unknown routes (404) and wrong methods (405). Every response of the API
//! is JSON, errors included (`{"error", "error_description"}`); client
//! mistakes never produce a 500.
//!
//! The rest is split by concern: [`error`] (the one error type and its
//! mappings), [`extract`] (body parameters and `Authorization` headers),
//! [`request`] (the typed request of each endpoint), `session.rs` (client
//! authentication, mfa_token resolution), `access.rs` (which Bearer token
//! may call which MFA endpoint: audience and scopes), and one file per
//! resource: `token.rs` (`/oauth/token`, JWKS), `mfa.rs` (`/mfa/…`) and
//! `oidc.rs` (OpenID Connect discovery and `/userinfo`), `health.rs`
//! (`/health`, `/ready`), [`management`] (Auth0's Management API calls
//! for MFA, `/api/v2/…`). The outcome of each grant is logged and counted
//! by [`outcome`]. Private Key JWT client authentication is in
//! `client_assertion.rs`, DPoP proofs and sender-constrained tokens in
//! `dpop.rs`. The password check and its brute-force protection are in `login.rs`,
//! the client address it counts by in [`client_ip`], and the accept loop
//! with the connection limit and timeouts in [`serve`].
//!
//! With `--demo`, the demo web app's routes ([`crate::demo`]) join them.
//! With `--allowed-origin`, browser apps on those origins may call the API
//! across origins ([`cors`]).
//!
//! An MFA grant holds one database connection for all its statements (the
//! client row, the mfa_token row, the authenticator store: see
//! `one_connection`), taken when it first needs one.
//!
//! Every response but the JWKS is sent with `Cache-Control: no-store`
//! (tokens, secrets, authenticator lists and errors alike).
//!
//! Time is an input: a handler reads [`App::now`] once and passes it down.

mod access;
mod client_assertion;
pub mod client_ip;
pub mod cors;
mod dpop;
pub mod error;
pub mod extract;
mod health;
mod login;
pub mod management;
mod mfa;
mod oidc;
pub mod outcome;
mod refresh;
pub mod request;
pub mod serve;
mod session;
pub mod tls;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use totp_engine::{Clock, Mfa};
use totp_engine_sqlx::SqlxStore;

pub use self::error::ApiError;
pub use self::extract::BODY_LIMIT;
use crate::config::Settings;
use crate::credentials::{self, StoredClientSecret};
use crate::db::Db;
use crate::hashing::HashPool;
use crate::tokens::{Signer, TokenError};

/// The clock the server reads: the system clock in production, a settable
/// one in tests.
pub type SharedClock = Arc<dyn Clock + Send + Sync>;

/// Shared state of the handlers.
pub struct App {
    db: Db,
    mfa: Mfa<SqlxStore>,
    signer: Signer,
    settings: Settings,
    clock: SharedClock,
    /// A real Argon2id hash that unknown usernames are checked against, so
    /// that a wrong username costs as much as a wrong password (and a
    /// short secret of an unknown client as much as a wrong one).
    dummy_hash: String,
    /// A salted SHA-256 that long secrets of unknown clients are checked
    /// against.
    dummy_client_secret: StoredClientSecret,
    /// Where every Argon2id verification runs: at most N at once.
    hashes: HashPool,
}

/// Polls for signing-key rotations every `period` (see
/// [`App::refresh_signing_keys`]) for as long as `app` is alive: a key
/// rotated by `mfa-server rotate-signing-key` signs on every instance
/// within one period, without a restart.
pub fn watch_signing_keys(app: &Arc<App>, period: std::time::Duration) {
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { break };
            if let Err(e) = app.refresh_signing_keys().await {
                tracing::warn!(error = %e, "signing keys not refreshed; the keys in use are kept");
            }
        }
    });
}

/// Why [`App::new`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The signing key could not be loaded or created.
    #[error(transparent)]
    Signer(#[from] TokenError),
    /// The reference password hash could not be computed.
    #[error("password hashing: {0}")]
    PasswordHash(String),
}

impl App {
    /// The state of a server on `db` (connected and migrated) with
    /// `settings`, reading time from `clock`: builds the engine over the
    /// database's store with the settings' [`totp_engine::MfaConfig`], loads
    /// (or on first start creates) the signing key, and computes the
    /// Argon2id hash that unknown usernames are checked against (off the
    /// async threads).
    ///
    /// # Errors
    ///
    /// [`AppError::Signer`] if the signing key cannot be read or stored,
    /// [`AppError::PasswordHash`] if hashing fails (never with the built-in
    /// parameters).
    pub async fn new(db: Db, settings: Settings, clock: SharedClock) -> Result<Self, AppError> {
        let signer = Signer::load_or_create(
            &db,
            settings.signing_alg(),
            settings.issuer_url(),
            settings.access_token_ttl(),
            clock.unix_time(),
        )
        .await?;
        let dummy_hash =
            tokio::task::spawn_blocking(|| credentials::hash_password("not a real password"))
                .await
                .map_err(|e| AppError::PasswordHash(e.to_string()))?
                .map_err(AppError::PasswordHash)?;
        let dummy_client_secret = StoredClientSecret::new(&credentials::random_secret(32))
            .map_err(AppError::PasswordHash)?;
        let hashes = HashPool::new(settings.hash_concurrency(), settings.hash_queue());
        Ok(Self {
            mfa: Mfa::new(db.store(), settings.mfa_config().clone()),
            db,
            signer,
            settings,
            clock,
            dummy_hash,
            dummy_client_secret,
            hashes,
        })
    }

    /// Picks up a signing-key rotation made by any process (see
    /// [`Signer::refresh`]); whether the keys changed. The binary calls it
    /// every second ([`watch_signing_keys`]).
    ///
    /// # Errors
    ///
    /// [`TokenError`] if the database fails or a new key is unusable (the
    /// keys in use are kept).
    pub async fn refresh_signing_keys(&self) -> Result<bool, TokenError> {
        self.signer.refresh(&self.db, self.now()).await
    }

    /// The pool every Argon2id verification runs in.
    #[must_use]
    pub fn hashes(&self) -> &HashPool {
        &self.hashes
    }

    /// The time now, in Unix seconds, from the app's clock. A handler reads
    /// it once.
    #[must_use]
    pub fn now(&self) -> u64 {
        self.clock.unix_time()
    }

    /// The database.
    #[must_use]
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The engine over the database's store.
    #[must_use]
    pub fn mfa(&self) -> &Mfa<SqlxStore> {
        &self.mfa
    }

    /// The token signer.
    #[must_use]
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("backend", &self.db.backend)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The router: every endpoint, the JSON fallbacks, panic catching and the
/// request log.
pub fn router(app: Arc<App>) -> Router {
    let app_origins = app.settings.allowed_origins().to_vec();
    Router::new()
        .route("/oauth/token", post(token::token))
        .route("/mfa/associate", post(mfa::associate))
        .route("/mfa/authenticators", get(mfa::list_authenticators))
        .route(
            "/mfa/authenticators/{id}",
            delete(mfa::remove_authenticator),
        )
        .route("/mfa/challenge", post(mfa::challenge))
        .route("/.well-known/jwks.json", get(token::jwks))
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/userinfo", get(oidc::userinfo).post(oidc::userinfo))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .merge(management::routes())
        .merge(crate::demo::routes(&app))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
        .layer(middleware::from_fn(one_connection))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(middleware::from_fn(no_store_by_default))
        .layer(middleware::from_fn(crate::metrics::track_request))
        // Outside the routes, so that it answers preflights (OPTIONS) itself;
        // inside the log, so that they are logged. Absent without origins.
        .layer(tower::util::option_layer(cors::layer(
            app_origins.as_slice(),
        )))
        .layer(middleware::from_fn(crate::logging::request_log))
}

/// Runs the request in a [`totp_engine_sqlx::lease::scope`]: the
/// mfa-otp, mfa-recovery-code and refresh_token grants and
/// `/mfa/challenge` hold one database connection across their statements
/// (`lease::hold` in their extractors): the client row, the jtis of a
/// client assertion or a DPoP proof, the mfa_token row (read with the
/// client's, and with the user's authenticators, which the store's first
/// load then answers), the store's reads and writes, the refresh token's
/// read and rotation share one pool checkout, taken at the first statement
/// (after the body is read) and returned once the code is checked (or the
/// refresh token rotated), before a new refresh family's statements and
/// the signatures; `/mfa/challenge` returns it when the request ends. (A
/// `private_key_jwt` client's row is read on its own, so for it the
/// mfa_token row is a statement of its own, on the same connection.) Every statement on that path goes
/// through `lease::connection` (a second checkout while one is held could
/// exhaust the pool); other requests take a checkout per statement, as
/// without a scope. Password hashes release the held one first
/// ([`crate::hashing`]).
async fn one_connection(request: Request, next: Next) -> Response {
    totp_engine_sqlx::lease::scope(next.run(request)).await
}

/// The one path whose answers may be cached: public keys only.
const JWKS_PATH: &str = "/.well-known/jwks.json";

/// `Cache-Control: no-store` (and `Pragma: no-cache`) on every response
/// that does not set its own, except the JWKS: lists of authenticators,
/// challenges, removals and fallbacks as well as tokens and errors.
async fn no_store_by_default(request: Request, next: Next) -> Response {
    let cacheable = request.uri().path() == JWKS_PATH;
    let response = next.run(request).await;
    if cacheable || response.headers().contains_key(CACHE_CONTROL) {
        response
    } else {
        no_store(response)
    }
}

/// Marks a response with secrets as not to be cached.
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("No such endpoint.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "Method not allowed on this endpoint.",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "Internal error.",
    )
    .into_response()
}
