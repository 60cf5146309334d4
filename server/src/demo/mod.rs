//! The demo web app: what `serve --demo` serves at `/`, a page a person
//! uses in a browser to sign in, enroll an authenticator app and manage
//! it, calling the server's own MFA API exactly as seed 001 ("Enroll and
//! Challenge OTP Authenticators") describes for "your own user interface".
//!
//! - `GET /`: the page, server-rendered HTML with every step's markup;
//!   `GET /demo/app.js` and `GET /demo/app.css` its script and style. All
//!   three are embedded in the binary (`server/assets/demo/`).
//! - `GET /demo/config.json`: what the page needs to call the API: its
//!   client ([`PAGE_CLIENT_ID`], a public client created by `--demo`), the
//!   MFA API's audience and the scopes it asks for ([`PAGE_SCOPE`]), how
//!   long a login block lasts, and the sentences for every error
//!   ([`messages`]).
//! - `POST /demo/qr` with `barcode_uri`: the QR code of an otpauth URI as
//!   SVG, drawn here by the `qrcode` crate ([`qr`]); the page sends the
//!   `barcode_uri` that `/mfa/associate` just gave it. The URI holds the
//!   secret: it is never logged (the request log has the path only) and no
//!   error quotes it.
//!
//! Every answer of these routes carries a strict Content-Security-Policy
//! ([`CONTENT_SECURITY_POLICY`]: scripts, styles, images and requests from
//! this origin only, no inline script or style, no framing, no form
//! submission), `nosniff`, `no-referrer` and `Cache-Control: no-store`.
//! The page makes no request to any other origin.
//!
//! Not here: the MFA API itself (`crate::http`); the terminal rendering's
//! command (`mfa-server qr`, in `main.rs`, which uses [`qr`]).

pub mod messages;
pub mod qr;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY as CSP, CONTENT_TYPE, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use self::qr::BarcodeUri;
use crate::http::extract::Params;
use crate::http::{ApiError, App};

/// The page's client: public (it cannot keep a secret: its code is
/// served to every browser), created or reset by `serve --demo`.
pub const PAGE_CLIENT_ID: &str = "demo-page";

/// The scopes the page's password grant asks for, with the MFA API as
/// its audience: `openid profile` for the id token and its name,
/// `read:authenticators` and `remove:authenticators` for the list and its
/// remove buttons, `enroll` to set up an app again once signed in.
pub const PAGE_SCOPE: &str = "openid profile enroll read:authenticators remove:authenticators";

/// The Content-Security-Policy of every demo answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob:; connect-src 'self'; form-action 'none'; \
     frame-ancestors 'none'; base-uri 'none'";

const INDEX_HTML: &str = include_str!("../../assets/demo/index.html");
const APP_JS: &str = include_str!("../../assets/demo/app.js");
const APP_CSS: &str = include_str!("../../assets/demo/app.css");

/// The demo routes when `app` runs with `--demo`, else none.
pub fn routes(app: &App) -> Router<Arc<App>> {
    if !app.settings().demo() {
        return Router::new();
    }
    Router::new()
        .route("/", get(index))
        .route("/demo/app.js", get(script))
        .route("/demo/app.css", get(style))
        .route("/demo/config.json", get(config))
        .route("/demo/qr", post(qr_svg))
        .layer(middleware::map_response(page_headers))
}

/// The security headers of every demo answer.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (CSP, CONTENT_SECURITY_POLICY),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "no-referrer"),
        (X_FRAME_OPTIONS, "DENY"),
        (CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn index() -> Response {
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], INDEX_HTML).into_response()
}

async fn script() -> Response {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS).into_response()
}

async fn style() -> Response {
    ([(CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS).into_response()
}

/// `GET /demo/config.json`.
async fn config(State(app): State<Arc<App>>) -> Response {
    axum::Json(json!({
        "client_id": PAGE_CLIENT_ID,
        "audience": app.settings().audiences().mfa(),
        "scope": PAGE_SCOPE,
        "login_block_secs": app.settings().login_policy().block_secs,
        "messages": messages::messages(),
        "generic": messages::GENERIC,
    }))
    .into_response()
}

/// `POST /demo/qr`: `barcode_uri` (form or JSON) → `image/svg+xml`.
/// Refused with 400 `invalid_request` when missing, longer than
/// [`qr::MAX_BARCODE_URI_LEN`] bytes or not a usable otpauth URI (the
/// body limit and content types are those of every endpoint).
async fn qr_svg(mut params: Params) -> Result<Response, ApiError> {
    let uri = BarcodeUri::new(params.require_secret("barcode_uri")?)
        .map_err(|e| ApiError::invalid_request(e.to_string()))?;
    let svg = uri
        .svg()
        .map_err(|e| ApiError::invalid_request(e.to_string()))?;
    Ok(([(CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
