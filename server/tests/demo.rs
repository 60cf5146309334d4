//! The demo web app's routes, in-process through the router
//! (`tower::ServiceExt::oneshot`) on a fixed clock: the page and its assets
//! with their Content-Security-Policy, the page's settings, `POST /demo/qr`
//! (a real `barcode_uri` → SVG; missing, oversize and garbage input → the
//! exact 400 error), `no-store` everywhere, no secret in any log line, the
//! page's own calls (the public `demo-page` client, the MFA audience and
//! its scopes), and no demo route without `--demo`.
//!
//! The page itself, in a real browser, is tested by
//! `server/tests/browser/` (`scripts/browser-test.sh`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs
)]

mod common;

use std::io::Write;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::http::HeaderMap;
use common::inproc::{TestClock, request};
use common::{PASSWORD, USER, db_path, temp_dir};
use mfa_server::config::{ConfigValues, Settings};
use mfa_server::credentials::{StoredClientSecret, hash_password};
use mfa_server::db::Db;
use mfa_server::demo::qr::BarcodeUri;
use mfa_server::demo::{CONTENT_SECURITY_POLICY, PAGE_CLIENT_ID, PAGE_SCOPE};
use mfa_server::http::{App, router};
use serde_json::{Value, json};
use totp_engine::{ParsedKeyUri, Totp};
use tower::ServiceExt as _;
use zeroize::Zeroizing;

const T0: u64 = 2_000_000_010;
const ISSUER_URL: &str = "https://auth.example.com/";
const MFA_AUDIENCE: &str = "https://auth.example.com/mfa/";
const MFA_OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";

/// An answer with its raw body.
struct Raw {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    fn error(&self) -> (u16, String, String) {
        let json = self.json();
        (
            self.status,
            json["error"].as_str().unwrap_or("").to_owned(),
            json["error_description"].as_str().unwrap_or("").to_owned(),
        )
    }
}

/// The router on a fresh database with `demo` as given, the page's public
/// client and the seed user.
async fn server(demo: bool) -> Router {
    let dir = temp_dir("demo");
    let db = Db::connect(&db_path(&dir), common::test_keyring())
        .await
        .unwrap();
    db.upsert_client(PAGE_CLIENT_ID, &StoredClientSecret::Public, T0)
        .await
        .unwrap();
    db.upsert_user(USER, &hash_password(PASSWORD).unwrap(), T0)
        .await
        .unwrap();
    let settings = Settings::from_values(&ConfigValues {
        issuer: Some("ACME".to_owned()),
        issuer_url: Some(ISSUER_URL.parse().unwrap()),
        demo: Some(demo),
        ..ConfigValues::default()
    })
    .unwrap();
    let clock = Arc::new(TestClock(Arc::new(AtomicU64::new(T0))));
    router(Arc::new(App::new(db, settings, clock).await.unwrap()))
}

async fn send(
    router: &Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Raw {
    let response = router
        .clone()
        .oneshot(request(method, path, headers, body))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

async fn post_json(router: &Router, path: &str, body: &Value) -> Raw {
    send(
        router,
        "POST",
        path,
        &[("content-type", "application/json")],
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

async fn form(router: &Router, fields: &[(&str, &str)]) -> Raw {
    send(
        router,
        "POST",
        "/oauth/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        serde_urlencoded::to_string(fields).unwrap().into_bytes(),
    )
    .await
}

/// What the page does on a first sign-in, through the API: the password
/// grant of the public page client for the MFA API with the page's
/// scopes, then `/mfa/associate`. Returns (mfa_token, associate's body).
async fn page_sign_in_and_associate(router: &Router) -> (String, Value) {
    let login = form(
        router,
        &[
            ("grant_type", "password"),
            ("client_id", PAGE_CLIENT_ID),
            ("username", USER),
            ("password", PASSWORD),
            ("audience", MFA_AUDIENCE),
            ("scope", PAGE_SCOPE),
        ],
    )
    .await;
    assert_eq!(login.status, 403, "{}", login.text());
    let login = login.json();
    assert_eq!(login["error"], "mfa_required");
    assert_eq!(
        login["mfa_requirements"],
        json!({ "enroll": [{ "type": "otp" }] })
    );
    let mfa_token = login["mfa_token"].as_str().unwrap().to_owned();
    let associate = send(
        router,
        "POST",
        "/mfa/associate",
        &[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {mfa_token}")),
        ],
        br#"{ "authenticator_types": ["otp"] }"#.to_vec(),
    )
    .await;
    assert_eq!(associate.status, 200, "{}", associate.text());
    (mfa_token, associate.json())
}

fn assert_page_headers(answer: &Raw, what: &str) {
    assert_eq!(
        answer.header("content-security-policy"),
        CONTENT_SECURITY_POLICY,
        "{what}"
    );
    assert_eq!(answer.header("cache-control"), "no-store", "{what}");
    assert_eq!(answer.header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(answer.header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(answer.header("x-frame-options"), "DENY", "{what}");
}

#[tokio::test]
async fn page_and_assets_are_served_with_a_strict_csp() {
    let router = server(true).await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/demo/app.js", "text/javascript; charset=utf-8"),
        ("/demo/app.css", "text/css; charset=utf-8"),
        ("/demo/config.json", "application/json"),
    ] {
        let answer = send(&router, "GET", path, &[], Vec::new()).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.header("content-type"), content_type, "{path}");
        assert_page_headers(&answer, path);
    }
    // The CSP allows nothing from elsewhere and no inline code.
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'none'",
    ] {
        assert!(CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
    }
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    // The page loads only its own assets: every src and href is this
    // origin's, and it has no inline script or style.
    let html = send(&router, "GET", "/", &[], Vec::new()).await.text();
    for attribute in ["src=\"", "href=\""] {
        for value in html.split(attribute).skip(1) {
            let value = value.split('"').next().unwrap();
            assert!(
                value == "#" || value.starts_with("/demo/"),
                "{attribute}{value}"
            );
        }
    }
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("<script src=\"/demo/app.js\" defer></script>"));
    assert!(!html.contains("<style") && !html.contains("style=\""));
    for step in [
        "step-sign-in",
        "step-enroll",
        "step-save-recovery",
        "step-otp",
        "step-recovery",
        "step-signed-in",
    ] {
        assert!(html.contains(&format!("id=\"{step}\"")), "{step}");
    }
    // What the page needs to call the API.
    let config = send(&router, "GET", "/demo/config.json", &[], Vec::new())
        .await
        .json();
    assert_eq!(config["client_id"], PAGE_CLIENT_ID);
    assert_eq!(config["audience"], MFA_AUDIENCE);
    assert_eq!(config["scope"], PAGE_SCOPE);
    assert_eq!(config["login_block_secs"], 30 * 86_400);
    let messages = config["messages"].as_array().unwrap();
    assert!(messages.iter().any(|m| m["error"] == "invalid_grant"
        && m["description"] == "Invalid otp_code."
        && m["match"] == "exact"));
    assert!(messages.iter().any(|m| m["error"] == "too_many_attempts"
        && m["sentence"].as_str().unwrap().contains("{retry}")));
}

#[tokio::test]
async fn qr_of_the_barcode_uri_is_an_svg_and_the_page_client_completes_the_flow() {
    let router = server(true).await;
    let (mfa_token, associate) = page_sign_in_and_associate(&router).await;
    let uri = associate["barcode_uri"].as_str().unwrap();
    let answer = post_json(&router, "/demo/qr", &json!({ "barcode_uri": uri })).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type"), "image/svg+xml");
    assert_page_headers(&answer, "/demo/qr");
    let svg = answer.text();
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    // It is the code of exactly this URI (the browser test decodes it).
    let expected = BarcodeUri::new(Zeroizing::new(uri.to_owned()))
        .unwrap()
        .svg()
        .unwrap();
    assert_eq!(svg, expected);
    // A form body works too (the API's bodies are form or JSON).
    let as_form = send(
        &router,
        "POST",
        "/demo/qr",
        &[("content-type", "application/x-www-form-urlencoded")],
        serde_urlencoded::to_string([("barcode_uri", uri)])
            .unwrap()
            .into_bytes(),
    )
    .await;
    assert_eq!((as_form.status, as_form.text()), (200, expected));

    // The page then confirms with the first code, and its access token
    // lists and removes authenticators (the page's remove button).
    let app = ParsedKeyUri::parse(uri).unwrap();
    let totp = Totp::new(app.secret(), app.totp_params());
    let otp = totp.generate(T0).unwrap();
    let tokens = form(
        &router,
        &[
            ("grant_type", MFA_OTP),
            ("client_id", PAGE_CLIENT_ID),
            ("mfa_token", &mfa_token),
            ("otp", otp.as_str()),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    let tokens = tokens.json();
    assert_eq!(tokens["scope"], PAGE_SCOPE);
    assert!(tokens["id_token"].is_string());
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let list = send(
        &router,
        "GET",
        "/mfa/authenticators",
        &[("authorization", &bearer)],
        Vec::new(),
    )
    .await;
    assert_eq!(list.status, 200);
    let list = list.json();
    let otp_id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["authenticator_type"] == "otp" && a["active"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/mfa/authenticators/{}", otp_id.replace('|', "%7C"));
    let removed = send(
        &router,
        "DELETE",
        &path,
        &[("authorization", &bearer)],
        Vec::new(),
    )
    .await;
    assert_eq!(removed.status, 204, "{}", removed.text());
}

/// (status, `error`, `error_description`).
type Expected<'a> = (u16, &'a str, &'a str);

#[tokio::test]
async fn qr_refuses_bad_input_with_a_typed_error() {
    let router = server(true).await;
    let (_, associate) = page_sign_in_and_associate(&router).await;
    let uri = associate["barcode_uri"].as_str().unwrap().to_owned();
    let oversize = format!("{uri}&pad={}", "a".repeat(3000));
    let huge = format!("{uri}&pad={}", "a".repeat(20 * 1024));
    let cases: Vec<(&str, Vec<u8>, &str, Expected<'_>)> = vec![
        (
            "missing",
            b"{}".to_vec(),
            "application/json",
            (
                400,
                "invalid_request",
                "Missing required parameter: barcode_uri",
            ),
        ),
        (
            "not otpauth",
            serde_json::to_vec(&json!({ "barcode_uri": "https://example.com/" })).unwrap(),
            "application/json",
            (
                400,
                "invalid_request",
                "barcode_uri is not a usable otpauth URI: URI does not start with otpauth://",
            ),
        ),
        (
            "garbage bytes",
            serde_json::to_vec(&json!({ "barcode_uri": "\u{1}\u{7f}%%%ÿ" })).unwrap(),
            "application/json",
            (
                400,
                "invalid_request",
                "barcode_uri is not a usable otpauth URI: URI does not start with otpauth://",
            ),
        ),
        (
            "no secret",
            serde_json::to_vec(&json!({ "barcode_uri": "otpauth://totp/ACME:jane?issuer=ACME" }))
                .unwrap(),
            "application/json",
            (
                400,
                "invalid_request",
                "barcode_uri is not a usable otpauth URI: otpauth URI has no secret (or an empty one)",
            ),
        ),
        (
            "oversize",
            serde_json::to_vec(&json!({ "barcode_uri": oversize })).unwrap(),
            "application/json",
            (
                400,
                "invalid_request",
                "barcode_uri is longer than 2048 bytes",
            ),
        ),
        (
            "not a string",
            br#"{ "barcode_uri": 42 }"#.to_vec(),
            "application/json",
            (
                400,
                "invalid_request",
                "Parameter barcode_uri must be a string",
            ),
        ),
        (
            "not JSON",
            b"{ barcode_uri".to_vec(),
            "application/json",
            (
                400,
                "invalid_request",
                "Malformed JSON body: expected one JSON object",
            ),
        ),
        (
            "over the body limit",
            serde_json::to_vec(&json!({ "barcode_uri": huge })).unwrap(),
            "application/json",
            (413, "invalid_request", "Request body exceeds 16384 bytes"),
        ),
        (
            "wrong content type",
            uri.clone().into_bytes(),
            "text/plain",
            (
                415,
                "invalid_request",
                "Unsupported Content-Type: send application/json or application/x-www-form-urlencoded",
            ),
        ),
    ];
    for (name, body, content_type, (status, error, description)) in cases {
        let answer = send(
            &router,
            "POST",
            "/demo/qr",
            &[("content-type", content_type)],
            body,
        )
        .await;
        let (got_status, got_error, got_description) = answer.error();
        assert_eq!(
            (got_status, got_error.as_str(), got_description.as_str()),
            (status, error, description),
            "{name}"
        );
        assert!(
            answer
                .header("content-type")
                .starts_with("application/json"),
            "{name}"
        );
        assert_page_headers(&answer, name);
        // No error quotes the URI or its secret.
        let secret = associate["secret"].as_str().unwrap();
        assert!(!answer.text().contains(secret), "{name}");
    }
    let get = send(&router, "GET", "/demo/qr", &[], Vec::new()).await;
    assert_eq!(get.status, 405);
}

#[tokio::test]
async fn without_demo_there_is_no_page() {
    let router = server(false).await;
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/demo/app.js"),
        ("GET", "/demo/config.json"),
        ("POST", "/demo/qr"),
    ] {
        let answer = send(&router, method, path, &[], Vec::new()).await;
        assert_eq!(
            answer.error(),
            (404, "not_found".to_owned(), "No such endpoint.".to_owned()),
            "{method} {path}"
        );
    }
}

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of a sign-in, an association and QR requests (good and
/// refused), at TRACE level: the request lines are there, and no trace of
/// the secret, the URI or the recovery code.
///
/// The subscriber is the process's global one (a thread's own default
/// misses events when other tests run at once): it holds every test's log
/// lines, and none may hold this test's secrets.
#[tokio::test]
async fn no_secret_in_the_logs() {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    let sink = LOGS.get_or_init(|| {
        let sink = Captured::default();
        let writer = sink.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        sink
    });

    let router = server(true).await;
    let (_, associate) = page_sign_in_and_associate(&router).await;
    let uri = associate["barcode_uri"].as_str().unwrap();
    let secret = associate["secret"].as_str().unwrap();
    let recovery = associate["recovery_codes"][0].as_str().unwrap();
    assert_eq!(
        post_json(&router, "/demo/qr", &json!({ "barcode_uri": uri }))
            .await
            .status,
        200
    );
    let long = format!("{uri}&pad={}", "a".repeat(3000));
    assert_eq!(
        post_json(&router, "/demo/qr", &json!({ "barcode_uri": long }))
            .await
            .status,
        400
    );
    let broken = uri.replace("secret=", "secret=!");
    assert_eq!(
        post_json(&router, "/demo/qr", &json!({ "barcode_uri": broken }))
            .await
            .status,
        400
    );

    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("/demo/qr"),
        "the request lines are logged: {logs}"
    );
    assert!(logs.contains("/mfa/associate"), "{logs}");
    for (what, needle) in [
        ("secret", secret),
        ("half the secret", &secret[..secret.len() / 2]),
        ("uri", uri),
        ("otpauth", "otpauth"),
        ("recovery code", recovery),
    ] {
        assert!(!logs.contains(needle), "{what} in the logs: {logs}");
    }
}
