//! In-process requests through the router (`tower::ServiceExt::oneshot`)
//! on a clock the test sets: what `router.rs` and `hardening.rs` share;
//! and [`TestServer`], a router with a client, a user and an enrollment
//! helper, for `refresh.rs` and `signing_rotation.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use base64::Engine as _;
use mfa_server::config::{ConfigValues, Settings};
use mfa_server::credentials::{StoredClientSecret, hash_password};
use mfa_server::db::Db;
use mfa_server::http::{App, router};
use serde_json::{Value, json};
use totp_engine::{Clock, Secret, Totp, TotpParams};
use tower::ServiceExt as _;

use super::{CLIENT, CLIENT_SECRET, MFA_OTP, PASSWORD, USER};

/// A clock the test sets.
pub struct TestClock(pub Arc<AtomicU64>);

impl Clock for TestClock {
    fn unix_time(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// An answer: status, headers and the JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Answer {
    /// (status, `error`, `error_description`).
    pub fn error(&self) -> (u16, Option<&str>, Option<&str>) {
        (
            self.status,
            self.json["error"].as_str(),
            self.json["error_description"].as_str(),
        )
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Builds a request from its method, path, headers and body.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::from(body)).unwrap()
}

/// Sends `request` through `router` and reads the whole answer.
pub async fn call(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {bytes:?}"))
    };
    Answer {
        status,
        headers,
        json,
    }
}

/// The clock's start in [`TestServer`]: a step boundary (30 s).
pub const T0: u64 = 2_000_000_010;
/// The second client of [`TestServer`].
pub const OTHER_CLIENT: &str = "other-app";
/// Its secret.
pub const OTHER_SECRET: &str = "another-long-client-secret";

/// The router on a fresh SQLite database with the seed client, `other-app`
/// and the seed user, on a settable clock starting at [`T0`].
pub struct TestServer {
    pub app: Arc<App>,
    pub router: Router,
    pub time: Arc<AtomicU64>,
}

impl TestServer {
    /// Starts on `values` (issuer ACME and the test issuer URL unless given).
    pub async fn start(values: ConfigValues) -> Self {
        let dir = super::temp_dir("inproc");
        let db = Db::connect(&super::db_path(&dir), super::test_keyring())
            .await
            .unwrap();
        for (id, secret) in [(CLIENT, CLIENT_SECRET), (OTHER_CLIENT, OTHER_SECRET)] {
            db.upsert_client(id, &StoredClientSecret::new(secret).unwrap(), T0)
                .await
                .unwrap();
        }
        db.upsert_user(USER, &hash_password(PASSWORD).unwrap(), T0)
            .await
            .unwrap();
        let time = Arc::new(AtomicU64::new(T0));
        let settings = Settings::from_values(&ConfigValues {
            issuer: Some(values.issuer.clone().unwrap_or_else(|| "ACME".to_owned())),
            issuer_url: Some(
                values
                    .issuer_url
                    .clone()
                    .unwrap_or_else(|| super::ISSUER_URL.parse().unwrap()),
            ),
            ..values
        })
        .unwrap();
        let app = Arc::new(
            App::new(db, settings, Arc::new(TestClock(time.clone())))
                .await
                .unwrap(),
        );
        Self {
            router: router(app.clone()),
            app,
            time,
        }
    }

    pub fn advance(&self, secs: u64) {
        self.time.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn now(&self) -> u64 {
        self.time.load(Ordering::SeqCst)
    }

    pub async fn form(&self, fields: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(fields).unwrap();
        call(
            &self.router,
            request(
                "POST",
                "/oauth/token",
                &[("content-type", "application/x-www-form-urlencoded")],
                body.into_bytes(),
            ),
        )
        .await
    }

    pub async fn login(&self, scope: &str) -> String {
        let a = self
            .form(&[
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("client_secret", CLIENT_SECRET),
                ("username", USER),
                ("password", PASSWORD),
                ("scope", scope),
            ])
            .await;
        assert_eq!(a.json["error"], "mfa_required", "{}", a.json);
        a.json["mfa_token"].as_str().unwrap().to_owned()
    }

    pub async fn otp(&self, mfa_token: &str, otp: &str) -> Answer {
        self.form(&[
            ("grant_type", MFA_OTP),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", mfa_token),
            ("otp", otp),
        ])
        .await
    }

    /// Enrolls the user; returns (secret, recovery code).
    pub async fn enroll(&self) -> (String, String) {
        let mfa_token = self.login("openid").await;
        let a = call(
            &self.router,
            request(
                "POST",
                "/mfa/associate",
                &[
                    ("authorization", &format!("Bearer {mfa_token}")),
                    ("content-type", "application/json"),
                ],
                json!({ "authenticator_types": ["otp"] })
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.json);
        let secret = a.json["secret"].as_str().unwrap().to_owned();
        let confirmed = self.otp(&mfa_token, &code(&secret, self.now())).await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.json);
        (
            secret,
            a.json["recovery_codes"][0].as_str().unwrap().to_owned(),
        )
    }

    /// A login with `scope` and a fresh code, 30 s later.
    pub async fn tokens(&self, secret: &str, scope: &str) -> Value {
        self.advance(30);
        let mfa_token = self.login(scope).await;
        let a = self.otp(&mfa_token, &code(secret, self.now())).await;
        assert_eq!(a.status, 200, "{}", a.json);
        a.json
    }
}

/// The code of a base32 secret at `t`, from the engine.
pub fn code(secret: &str, t: u64) -> String {
    let secret = Secret::from_base32(secret).unwrap();
    Totp::new(&secret, TotpParams::new())
        .generate(t)
        .unwrap()
        .as_str()
        .to_owned()
}

/// The claims of a JWT, unverified (the server's own tests verify).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}
