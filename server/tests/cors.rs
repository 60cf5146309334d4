//! Cross-origin requests (`--allowed-origin`), in process: off by default
//! (no CORS header at all), preflights answered for a named origin with
//! exactly the methods and headers Auth0's browser SDKs send, nothing for
//! any other origin, the real answers of the seed flow carrying
//! `Access-Control-Allow-Origin` and `Vary: Origin`, and origins that are
//! not origins refused at start-up naming the key. A real browser calling
//! across origins is `scripts/browser-test.sh` (cors.mjs).

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

use common::inproc::{Answer, TestServer, call, request};
use common::{CLIENT, CLIENT_SECRET, PASSWORD, USER};
use mfa_server::config::{ConfigValues, Settings};

const APP: &str = "https://app.example.com";
const OTHER: &str = "https://evil.example.net";

async fn server(origins: &[&str]) -> TestServer {
    TestServer::start(ConfigValues {
        allowed_origin: (!origins.is_empty())
            .then(|| origins.iter().map(|o| o.parse().unwrap()).collect()),
        ..ConfigValues::default()
    })
    .await
}

async fn preflight(
    s: &TestServer,
    path: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> Answer {
    call(
        &s.router,
        request(
            "OPTIONS",
            path,
            &[
                ("origin", origin),
                ("access-control-request-method", method),
                ("access-control-request-headers", headers),
            ],
            Vec::new(),
        ),
    )
    .await
}

fn list(a: &Answer, name: &str) -> Vec<String> {
    a.header(name)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

async fn password_grant(s: &TestServer, origin: &str) -> Answer {
    let body = serde_urlencoded::to_string([
        ("grant_type", "password"),
        ("client_id", CLIENT),
        ("client_secret", CLIENT_SECRET),
        ("username", USER),
        ("password", PASSWORD),
    ])
    .unwrap();
    call(
        &s.router,
        request(
            "POST",
            "/oauth/token",
            &[
                ("origin", origin),
                ("content-type", "application/x-www-form-urlencoded"),
                ("auth0-client", "eyJuYW1lIjoiYXV0aDAtc3BhLWpzIn0"),
            ],
            body.into_bytes(),
        ),
    )
    .await
}

#[tokio::test]
async fn without_allowed_origins_no_cors_header_is_sent() {
    let s = server(&[]).await;
    let a = password_grant(&s, APP).await;
    assert_eq!(a.error().1, Some("mfa_required"));
    for a in [
        a,
        preflight(&s, "/oauth/token", APP, "POST", "content-type").await,
        call(
            &s.router,
            request(
                "GET",
                "/.well-known/jwks.json",
                &[("origin", APP)],
                Vec::new(),
            ),
        )
        .await,
    ] {
        let cors: Vec<_> = a
            .headers
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{cors:?}");
    }
}

#[tokio::test]
async fn a_named_origin_gets_preflights_answered_with_what_the_sdks_send() {
    let s = server(&[APP, "http://127.0.0.1:3000"]).await;
    for (path, method, headers) in [
        ("/oauth/token", "POST", "content-type, auth0-client, dpop"),
        ("/mfa/associate", "POST", "authorization, content-type"),
        ("/mfa/authenticators", "GET", "authorization"),
        (
            "/mfa/authenticators/totp%7Cdev_x",
            "DELETE",
            "authorization",
        ),
        ("/userinfo", "GET", "authorization, dpop"),
    ] {
        let a = preflight(&s, path, APP, method, headers).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.header("access-control-allow-origin"), Some(APP), "{path}");
        assert!(list(&a, "access-control-allow-methods").contains(&method.to_ascii_lowercase()));
        let allowed = list(&a, "access-control-allow-headers");
        for h in headers.split(',').map(str::trim) {
            assert!(
                allowed.contains(&h.to_owned()),
                "{path}: {h} not in {allowed:?}"
            );
        }
        assert_eq!(a.header("access-control-max-age"), Some("600"));
        assert_eq!(a.header("access-control-allow-credentials"), None);
        assert!(list(&a, "vary").iter().any(|v| v == "origin"), "{path}");
    }
    // Another origin, or a near miss of the named one: no permission.
    for origin in [
        OTHER,
        "https://app.example.com:8443",
        "http://app.example.com",
        "null",
    ] {
        let a = preflight(&s, "/oauth/token", origin, "POST", "content-type").await;
        assert_eq!(a.header("access-control-allow-origin"), None, "{origin}");
    }
    // The second origin is allowed too.
    let a = preflight(
        &s,
        "/oauth/token",
        "http://127.0.0.1:3000",
        "POST",
        "content-type",
    )
    .await;
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("http://127.0.0.1:3000")
    );
}

#[tokio::test]
async fn answers_to_a_named_origin_carry_the_origin_and_expose_the_dpop_nonce() {
    let s = server(&[APP]).await;
    let a = password_grant(&s, APP).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.error().1, Some("mfa_required"), "{}", a.json);
    assert_eq!(a.header("access-control-allow-origin"), Some(APP));
    assert!(list(&a, "vary").iter().any(|v| v == "origin"));
    let exposed = list(&a, "access-control-expose-headers");
    for h in ["dpop-nonce", "www-authenticate", "retry-after"] {
        assert!(exposed.contains(&h.to_owned()), "{h} not in {exposed:?}");
    }
    // The same request from another origin is answered the same (CORS is
    // the browser's check, not an access control), without the header.
    let b = password_grant(&s, OTHER).await;
    assert_eq!(b.error().1, Some("mfa_required"));
    assert_eq!(b.header("access-control-allow-origin"), None);
    // The JWKS and the discovery document too.
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        let a = call(
            &s.router,
            request("GET", path, &[("origin", APP)], Vec::new()),
        )
        .await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("access-control-allow-origin"), Some(APP), "{path}");
    }
}

#[test]
fn origins_that_are_not_origins_are_refused_naming_the_key() {
    for bad in [
        "*",
        "https://app.example.com/callback",
        "app.example.com",
        "https://app.example.com:443",
    ] {
        let err = bad
            .parse::<mfa_server::http::cors::AllowedOrigin>()
            .unwrap_err();
        assert!(!err.is_empty(), "{bad}");
    }
    // Through the environment, as an operator would set it.
    let dir = common::temp_dir("cors-config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mfa-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.join("x.db"))
        .env(
            "MFA_SERVER_ALLOWED_ORIGIN",
            "https://app.example.com https://app.example.com/cb",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("allowed_origin") || said.contains("allowed-origin"),
        "{said}"
    );
    assert!(said.contains("path"), "{said}");
    // Both forms of a list give the same settings.
    let values = ConfigValues {
        allowed_origin: Some(vec![APP.parse().unwrap(), APP.parse().unwrap()]),
        ..ConfigValues::default()
    };
    let settings = Settings::from_values(&values).unwrap();
    assert_eq!(
        settings
            .allowed_origins()
            .iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>(),
        [APP]
    );
}
