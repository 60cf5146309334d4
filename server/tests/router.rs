//! In-process tests of the router: no process, no port. Requests go through
//! `tower::ServiceExt::oneshot` to the router built by `mfa_server::http`,
//! on a fresh SQLite file and a settable clock, so that everything that
//! depends on time runs without sleeping.
//!
//! - `error_table` and `malformed_requests_change_nothing`: tables of
//!   cases (method, path, headers, body → status, `error`,
//!   `error_description`), each followed by a check of the state they must
//!   not have changed.
//! - Expiry on the fixed clock: an mfa_token at exactly its lifetime, an
//!   access token on `/mfa/authenticators`, and the throttle's refill.
//!
//! Codes come from the engine's own `Totp`; the process tests in `http.rs`
//! compute theirs with oathtool.

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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use base64::Engine as _;
use common::{CLIENT, CLIENT_SECRET, MFA_OTP, MFA_RECOVERY, PASSWORD, USER, db_path, temp_dir};
use mfa_server::config::{ConfigValues, Settings};
use mfa_server::credentials::{StoredClientSecret, hash_password};
use mfa_server::db::Db;
use mfa_server::http::{App, router};
use serde_json::{Value, json};
use totp_engine::{
    Attempts, AuthenticatorId, Clock, MfaStore, OtpProgress, RecoveryAuthenticator, Secret, Totp,
    TotpParams,
};
use tower::ServiceExt as _;

/// The clock's start: a step boundary (30 s).
const T0: u64 = 2_000_000_010;
/// A user who logs in but never enrolls.
const PENDING_USER: &str = "pat@example.com";
const OTHER_CLIENT: &str = "other-app";
const OTHER_SECRET: &str = "another-long-client-secret";

/// A clock the test sets.
struct TestClock(Arc<AtomicU64>);

impl Clock for TestClock {
    fn unix_time(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The router on a fresh database, with the seed's client and user, an
/// `other-app`, a short-secret `short-app`, a `public-app`, and users
/// `pat@example.com` and `bob` (same password as the seed user).
struct Server {
    app: Arc<App>,
    router: Router,
    time: Arc<AtomicU64>,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    json: Value,
}

impl Server {
    async fn start(values: ConfigValues) -> Self {
        let dir = temp_dir("router");
        let db = Db::connect(&db_path(&dir)).await.unwrap();
        let clients = [
            (CLIENT, Some(CLIENT_SECRET)),
            (OTHER_CLIENT, Some(OTHER_SECRET)),
            ("short-app", Some("s3cret")),
            ("public-app", None),
        ];
        for (id, secret) in clients {
            let stored = secret.map_or(StoredClientSecret::Public, |s| {
                StoredClientSecret::new(s).unwrap()
            });
            db.upsert_client(id, &stored, T0).await.unwrap();
        }
        let hash = hash_password(PASSWORD).unwrap();
        for user in [USER, PENDING_USER, "bob"] {
            db.upsert_user(user, &hash, T0).await.unwrap();
        }
        let time = Arc::new(AtomicU64::new(T0));
        let settings = Settings::from_values(&ConfigValues {
            issuer: Some("ACME".to_owned()),
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

    fn set_time(&self, t: u64) {
        self.time.store(t, Ordering::SeqCst);
    }

    fn now(&self) -> u64 {
        self.time.load(Ordering::SeqCst)
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
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

    async fn form(&self, fields: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(
            "POST",
            "/oauth/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            body.into_bytes(),
        )
        .await
    }

    async fn bearer(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
        let auth = format!("Bearer {token}");
        let mut headers = vec![("authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.send(method, path, &headers, body).await
    }

    /// The password grant; returns the mfa_token.
    async fn password_grant(&self, user: &str) -> String {
        let a = self
            .form(&[
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("client_secret", CLIENT_SECRET),
                ("username", user),
                ("password", PASSWORD),
                ("scope", "openid profile"),
            ])
            .await;
        assert_eq!(
            (a.status, &a.json["error"]),
            (403, &json!("mfa_required")),
            "{}",
            a.json
        );
        a.json["mfa_token"].as_str().unwrap().to_owned()
    }

    async fn otp_grant(&self, mfa_token: &str, otp: &str) -> Answer {
        self.form(&[
            ("grant_type", MFA_OTP),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", mfa_token),
            ("otp", otp),
        ])
        .await
    }

    /// Logs `user` in, associates and confirms at the clock's time.
    async fn enroll(&self, user: &str) -> Enrolled {
        let mfa_token = self.password_grant(user).await;
        let a = self
            .bearer(
                "POST",
                "/mfa/associate",
                &mfa_token,
                Some(json!({ "authenticator_types": ["otp"] })),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.json);
        let secret = a.json["secret"].as_str().unwrap().to_owned();
        let confirmed = self.otp_grant(&mfa_token, &code(&secret, self.now())).await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.json);
        let list = self
            .bearer("GET", "/mfa/authenticators", &mfa_token, None)
            .await;
        let id = |i: usize| list.json[i]["id"].as_str().unwrap().to_owned();
        Enrolled {
            user_id: format!("auth0|{user}"),
            recovery_code: a.json["recovery_codes"][0].as_str().unwrap().to_owned(),
            access_token: confirmed.json["access_token"].as_str().unwrap().to_owned(),
            recovery_id: id(0),
            otp_id: id(1),
            mfa_token,
            secret,
        }
    }

    /// What a request could change for `user`: the OTP authenticator's id,
    /// progress and attempt bucket, and the recovery authenticator.
    async fn state(&self, user_id: &str) -> State {
        let auths = self.app.mfa().store().load(user_id).await.unwrap();
        State {
            otp: auths.otp.map(|o| (o.id, o.progress, o.attempts)),
            recovery: auths.recovery,
        }
    }

    async fn mfa_token_count(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM mfa_tokens")
            .fetch_one(&self.app.db().pool)
            .await
            .unwrap()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    otp: Option<(AuthenticatorId, OtpProgress, Attempts)>,
    recovery: Option<RecoveryAuthenticator>,
}

struct Enrolled {
    user_id: String,
    mfa_token: String,
    secret: String,
    recovery_code: String,
    access_token: String,
    otp_id: String,
    recovery_id: String,
}

/// The code of a base32 secret at `t`, from the engine.
fn code(secret: &str, t: u64) -> String {
    let secret = Secret::from_base32(secret).unwrap();
    Totp::new(&secret, TotpParams::new())
        .generate(t)
        .unwrap()
        .as_str()
        .to_owned()
}

/// A well-formed code that no step in the window at `t` accepts.
fn wrong_code(secret: &str, t: u64) -> String {
    let near = [code(secret, t - 30), code(secret, t), code(secret, t + 30)];
    (0..)
        .map(|i| {
            format!(
                "{:06}",
                (near[1].parse::<u32>().unwrap() + 500_000 + i) % 1_000_000
            )
        })
        .find(|c| !near.contains(c))
        .unwrap()
}

/// One request and the error it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static [u8],
    status: u16,
    error: &'static str,
    description: &'static str,
    expect_headers: Vec<(&'static str, &'static str)>,
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

impl Case {
    fn new(name: &'static str, method: &'static str, path: &'static str) -> Self {
        Self {
            name,
            method,
            path,
            headers: Vec::new(),
            body: b"",
            status: 0,
            error: "",
            description: "",
            expect_headers: Vec::new(),
        }
    }

    /// `POST /oauth/token` with a form body.
    fn token(name: &'static str, body: &'static str) -> Self {
        Self::new(name, "POST", "/oauth/token").body(Some(FORM), body.as_bytes())
    }

    fn body(mut self, content_type: Option<&'static str>, body: &'static [u8]) -> Self {
        if let Some(ct) = content_type {
            self.headers.push(("content-type", ct));
        }
        self.body = body;
        self
    }

    fn json(self, path: &'static str, body: &'static str) -> Self {
        Self {
            method: "POST",
            path,
            ..self
        }
        .body(Some(JSON), body.as_bytes())
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    fn expect(mut self, status: u16, error: &'static str, description: &'static str) -> Self {
        self.status = status;
        self.error = error;
        self.description = description;
        self
    }

    fn expect_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.expect_headers.push((name, value));
        self
    }
}

/// Replaces each `$NAME` of `vars` in `text`.
fn fill(text: &[u8], vars: &[(&str, String)]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(text) else {
        return text.to_vec();
    };
    let mut out = text.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("${name}"), value);
    }
    out.into_bytes()
}

async fn run_cases(server: &Server, cases: &[Case], vars: &[(&str, String)]) {
    for case in cases {
        let path = String::from_utf8(fill(case.path.as_bytes(), vars)).unwrap();
        let values: Vec<String> = case
            .headers
            .iter()
            .map(|(_, v)| String::from_utf8(fill(v.as_bytes(), vars)).unwrap())
            .collect();
        let headers: Vec<(&str, &str)> = case
            .headers
            .iter()
            .zip(&values)
            .map(|((k, _), v)| (*k, v.as_str()))
            .collect();
        let a = server
            .send(case.method, &path, &headers, fill(case.body, vars))
            .await;
        let name = case.name;
        assert_eq!(a.status, case.status, "{name}: {}", a.json);
        assert_eq!(a.json["error"], case.error, "{name}: {}", a.json);
        assert_eq!(a.json["error_description"], case.description, "{name}");
        assert_eq!(a.headers["content-type"], "application/json", "{name}");
        assert_eq!(a.headers["cache-control"], "no-store", "{name}");
        for (header, value) in &case.expect_headers {
            assert_eq!(
                a.headers.get(*header).and_then(|v| v.to_str().ok()),
                Some(*value),
                "{name}: {header}"
            );
        }
    }
}

const WRONG_CLIENT: &str =
    "Client authentication failed: unknown client or wrong client credentials.";
const BASIC_CHALLENGE: &str = "Basic realm=\"mfa-server\"";
const MFA_REQUIRED: &str = "Multifactor authentication required";

fn error_cases() -> Vec<Case> {
    let password = |name, body| Case::token(name, body);
    vec![
        // The password grant and client authentication.
        password("wrong password", "grant_type=password&client_id=seed-app&client_secret=$SECRET&username=$USER&password=wrong")
            .expect(403, "invalid_grant", "Wrong email or password."),
        password("unknown user", "grant_type=password&client_id=seed-app&client_secret=$SECRET&username=nobody&password=$PASSWORD")
            .expect(403, "invalid_grant", "Wrong email or password."),
        password("wrong client secret", "grant_type=password&client_id=seed-app&client_secret=wrong-secret-wrong-secret&username=$USER&password=$PASSWORD")
            .expect(401, "invalid_client", WRONG_CLIENT)
            .expect_header("www-authenticate", BASIC_CHALLENGE),
        password("unknown client", "grant_type=password&client_id=unknown&client_secret=$SECRET&username=$USER&password=$PASSWORD")
            .expect(401, "invalid_client", WRONG_CLIENT),
        password("confidential client without its secret", "grant_type=password&client_id=seed-app&username=$USER&password=$PASSWORD")
            .expect(401, "invalid_client", WRONG_CLIENT),
        password("short (Argon2id) secret, right", "grant_type=password&client_id=short-app&client_secret=s3cret&username=$USER&password=$PASSWORD")
            .expect(403, "mfa_required", MFA_REQUIRED),
        password("short secret, wrong", "grant_type=password&client_id=short-app&client_secret=s3cret%21&username=$USER&password=$PASSWORD")
            .expect(401, "invalid_client", WRONG_CLIENT),
        password("short secret, missing", "grant_type=password&client_id=short-app&username=$USER&password=$PASSWORD")
            .expect(401, "invalid_client", WRONG_CLIENT),
        password("public client, no secret", "grant_type=password&client_id=public-app&username=$USER&password=$PASSWORD")
            .expect(403, "mfa_required", MFA_REQUIRED),
        password("public client sending a secret", "grant_type=password&client_id=public-app&client_secret=anything&username=$USER&password=$PASSWORD")
            .expect(401, "invalid_client", WRONG_CLIENT),
        password("HTTP Basic in place of client_secret", "grant_type=password&username=$USER&password=$PASSWORD")
            .header("authorization", "Basic $BASIC")
            .expect(403, "mfa_required", MFA_REQUIRED),
        password("Basic and client_secret", "grant_type=password&client_secret=$SECRET&username=$USER&password=$PASSWORD")
            .header("authorization", "Basic $BASIC")
            .expect(400, "invalid_request", "Use one client authentication method, not two"),
        password("Basic and another client_id", "grant_type=password&client_id=other-app&username=$USER&password=$PASSWORD")
            .header("authorization", "Basic $BASIC")
            .expect(400, "invalid_request", "client_id does not match the Basic credentials"),
        password("Basic that is not base64", "grant_type=password&username=$USER&password=$PASSWORD")
            .header("authorization", "Basic !!!")
            .expect(401, "invalid_client", WRONG_CLIENT),
        password("client_assertion", "grant_type=password&client_id=seed-app&client_assertion=x.y.z&username=$USER&password=$PASSWORD")
            .expect(400, "invalid_request", "client_assertion is not supported; use client_secret"),
        password("unsupported grant type", "grant_type=client_credentials&client_id=seed-app&client_secret=$SECRET")
            .expect(400, "unsupported_grant_type", "Grant type 'client_credentials' is not supported."),
        password("missing grant_type", "client_id=seed-app")
            .expect(400, "invalid_request", "Missing required parameter: grant_type"),
        password("mfa-otp without mfa_token", "grant_type=$MFA_OTP&client_id=seed-app&client_secret=$SECRET&otp=123456")
            .expect(400, "invalid_request", "Missing required parameter: mfa_token"),
        password("password grant without username", "grant_type=password&client_id=seed-app&client_secret=$SECRET&password=$PASSWORD")
            .expect(400, "invalid_request", "Missing required parameter: username"),
        password("a wrong client secret is answered before a missing parameter", "grant_type=password&client_id=seed-app&client_secret=wrong-secret-wrong-secret")
            .expect(401, "invalid_client", WRONG_CLIENT),
        // Before enrollment.
        password("mfa-otp before enrollment", "grant_type=$MFA_OTP&client_id=seed-app&client_secret=$SECRET&mfa_token=$PENDING&otp=123456")
            .expect(400, "unsupported_challenge_type", "User is not enrolled. You can use /mfa/associate endpoint to enroll the first authenticator."),
        password("recovery code before enrollment", "grant_type=$MFA_RECOVERY&client_id=seed-app&client_secret=$SECRET&mfa_token=$PENDING&recovery_code=ABCDEFGHIJKLMNOPQRSTUVWX")
            .expect(400, "unsupported_challenge_type", "User does not have a recovery-code."),
        Case::new("challenge before enrollment", "", "")
            .json("/mfa/challenge", r#"{"client_id": "seed-app", "mfa_token": "$PENDING", "challenge_type": "otp"}"#)
            .expect(400, "association_required", "User is not enrolled. Use /mfa/associate to enroll an authenticator first."),
        // After enrollment.
        password("replayed code", "grant_type=$MFA_OTP&client_id=seed-app&client_secret=$SECRET&mfa_token=$ENROLLED&otp=$USED_CODE")
            .expect(400, "invalid_grant", "Invalid otp_code."),
        password("code of an hour ago", "grant_type=$MFA_OTP&client_id=seed-app&client_secret=$SECRET&mfa_token=$ENROLLED&otp=$OLD_CODE")
            .expect(400, "invalid_grant", "Invalid otp_code."),
        Case::new("associate when enrolled", "", "")
            .json("/mfa/associate", r#"{"authenticator_types": ["otp"]}"#)
            .header("authorization", "Bearer $ENROLLED")
            .expect(403, "access_denied", "User is already enrolled."),
        Case::new("associate when enrolled, form body", "POST", "/mfa/associate")
            .body(Some(FORM), b"authenticator_types=otp")
            .header("authorization", "Bearer $ENROLLED")
            .expect(403, "access_denied", "User is already enrolled."),
        Case::new("associate another type", "", "")
            .json("/mfa/associate", r#"{"authenticator_types": ["oob"]}"#)
            .header("authorization", "Bearer $ENROLLED")
            .expect(400, "unsupported_challenge_type", "Only otp authenticators can be associated."),
        Case::new("associate with types that are not a list", "", "")
            .json("/mfa/associate", r#"{"authenticator_types": 7}"#)
            .header("authorization", "Bearer $ENROLLED")
            .expect(400, "invalid_request", "authenticator_types must be an array such as [\"otp\"]"),
        Case::new("challenge another type", "", "")
            .json("/mfa/challenge", r#"{"client_id": "seed-app", "mfa_token": "$ENROLLED", "challenge_type": "oob"}"#)
            .expect(400, "unsupported_challenge_type", "None of the challenge types the client accepts is enrolled for this user."),
        Case::new("challenge the recovery code", "", "")
            .json("/mfa/challenge", r#"{"client_id": "seed-app", "mfa_token": "$ENROLLED", "authenticator_id": "$RECOVERY_ID"}"#)
            .expect(400, "unsupported_challenge_type", "None of the challenge types the client accepts is enrolled for this user."),
        Case::new("challenge an unknown authenticator", "", "")
            .json("/mfa/challenge", r#"{"client_id": "seed-app", "mfa_token": "$ENROLLED", "authenticator_id": "totp|dev_AAAAAAAAAAAAAAAAAAAA"}"#)
            .expect(400, "invalid_request", "authenticator_id does not name an authenticator of this user."),
        Case::new("challenge with a wrong client secret", "", "")
            .json("/mfa/challenge", r#"{"client_id": "seed-app", "client_secret": "nope", "mfa_token": "$ENROLLED"}"#)
            .expect(401, "invalid_client", WRONG_CLIENT),
        password("wrong recovery code", "grant_type=$MFA_RECOVERY&client_id=seed-app&client_secret=$SECRET&mfa_token=$ENROLLED&recovery_code=ABCDEFGHIJKLMNOPQRSTUVWX")
            .expect(400, "invalid_grant", "Invalid recovery_code."),
        password("malformed mfa_token", "grant_type=$MFA_OTP&client_id=seed-app&client_secret=$SECRET&mfa_token=garbage&otp=123456")
            .expect(401, "invalid_grant", "Malformed mfa_token"),
        password("unknown mfa_token", "grant_type=$MFA_OTP&client_id=seed-app&client_secret=$SECRET&mfa_token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&otp=123456")
            .expect(401, "invalid_grant", "Malformed mfa_token"),
        password("another client's mfa_token", "grant_type=$MFA_OTP&client_id=other-app&client_secret=$OTHER_SECRET&mfa_token=$ENROLLED&otp=123456")
            .expect(400, "invalid_request", "mfa_token not issued to this client"),
        // Bearer tokens on /mfa/authenticators.
        Case::new("list with a bad access token", "GET", "/mfa/authenticators")
            .header("authorization", "Bearer not-a-token")
            .expect(401, "invalid_token", "The access token is invalid or expired."),
        Case::new("delete with an mfa_token", "DELETE", "/mfa/authenticators/$OTP_ID")
            .header("authorization", "Bearer $ENROLLED")
            .expect(401, "invalid_token", "The access token is invalid or expired."),
        Case::new("delete an unknown authenticator", "DELETE", "/mfa/authenticators/totp%7Cdev_AAAAAAAAAAAAAAAAAAAA")
            .header("authorization", "Bearer $ACCESS")
            .expect(404, "not_found", "Authenticator not found."),
    ]
}

#[tokio::test]
async fn error_table() {
    let server = Server::start(ConfigValues::default()).await;
    let jane = server.enroll(USER).await;
    let pending = server.password_grant(PENDING_USER).await;
    let pending_id = format!("auth0|{PENDING_USER}");
    let before = server.state(&jane.user_id).await;
    let vars = vars(&server, &jane, &pending);
    run_cases(&server, &error_cases(), &vars).await;

    // No row enrolled the pending user or moved the enrolled one's
    // authenticators (wrong codes may only have charged attempts).
    let pending_state = server.state(&pending_id).await;
    assert_eq!((pending_state.otp, pending_state.recovery), (None, None));
    let after = server.state(&jane.user_id).await;
    let progress = |s: &State| s.otp.clone().map(|(id, progress, _)| (id, progress));
    assert_eq!(progress(&after), progress(&before));
    let slots = |s: &State| s.recovery.clone().map(|r| (r.id, r.active, r.slots));
    assert_eq!(slots(&after), slots(&before));
    // The recovery code still works once.
    let recovered = server
        .form(&[
            ("grant_type", MFA_RECOVERY),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", &jane.mfa_token),
            ("recovery_code", &jane.recovery_code),
        ])
        .await;
    assert_eq!(recovered.status, 200, "{}", recovered.json);
    assert_eq!(
        recovered.json["recovery_code"].as_str().map(str::len),
        Some(24)
    );
}

fn vars(server: &Server, jane: &Enrolled, pending: &str) -> Vec<(&'static str, String)> {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{CLIENT_SECRET}"));
    vec![
        ("PENDING", pending.to_owned()),
        ("ENROLLED", jane.mfa_token.clone()),
        ("USED_CODE", code(&jane.secret, server.now())),
        ("OLD_CODE", code(&jane.secret, server.now() - 3600)),
        ("ACCESS", jane.access_token.clone()),
        ("OTP_ID", jane.otp_id.replace('|', "%7C")),
        ("RECOVERY_ID", jane.recovery_id.clone()),
        ("BASIC", basic),
        ("OTHER_SECRET", OTHER_SECRET.to_owned()),
        ("SECRET", CLIENT_SECRET.to_owned()),
        (
            "USER",
            serde_urlencoded::to_string([("", USER)]).unwrap()[1..].to_owned(),
        ),
        (
            "PASSWORD",
            serde_urlencoded::to_string([("", PASSWORD)]).unwrap()[1..].to_owned(),
        ),
        (
            "MFA_OTP",
            serde_urlencoded::to_string([("", MFA_OTP)]).unwrap()[1..].to_owned(),
        ),
        (
            "MFA_RECOVERY",
            serde_urlencoded::to_string([("", MFA_RECOVERY)]).unwrap()[1..].to_owned(),
        ),
        ("BIG", "a".repeat(1 << 20)),
        ("EXACTLY_16_KIB", format!("a={}", "b".repeat(16 * 1024 - 2))),
        (
            "ONE_OVER_16_KIB",
            format!("a={}", "b".repeat(16 * 1024 - 1)),
        ),
    ]
}

const MALFORMED_JSON: &str = "Malformed JSON body: expected one JSON object";
const UNSUPPORTED_MEDIA: &str =
    "Unsupported Content-Type: send application/json or application/x-www-form-urlencoded";
const NO_GRANT_TYPE: &str = "Missing required parameter: grant_type";
const NO_BEARER: &str = "Missing Authorization header with a Bearer token";

fn malformed_cases() -> Vec<Case> {
    let token = |name, ct, body| Case::new(name, "POST", "/oauth/token").body(ct, body);
    vec![
        token("1 MiB body", Some(FORM), b"$BIG")
            .expect(413, "invalid_request", "Request body exceeds 16384 bytes"),
        token("one byte over 16 KiB", Some(FORM), b"$ONE_OVER_16_KIB")
            .expect(413, "invalid_request", "Request body exceeds 16384 bytes"),
        token("exactly 16 KiB is read", Some(FORM), b"$EXACTLY_16_KIB")
            .expect(400, "invalid_request", NO_GRANT_TYPE),
        token("truncated JSON", Some(JSON), b"{\"grant_type\": ")
            .expect(400, "invalid_request", MALFORMED_JSON),
        token("JSON array", Some(JSON), b"[1, 2, 3]")
            .expect(400, "invalid_request", MALFORMED_JSON),
        token("JSON with trailing text", Some(JSON), b"{\"grant_type\": \"password\"} x")
            .expect(400, "invalid_request", MALFORMED_JSON),
        token("form body labelled JSON", Some(JSON), b"grant_type=password")
            .expect(400, "invalid_request", MALFORMED_JSON),
        token("text/plain", Some("text/plain"), b"grant_type=password")
            .expect(415, "invalid_request", UNSUPPORTED_MEDIA),
        token("application/xml", Some("application/xml"), b"<xml/>")
            .expect(415, "invalid_request", UNSUPPORTED_MEDIA),
        token("empty text/plain", Some("text/plain"), b"")
            .expect(415, "invalid_request", UNSUPPORTED_MEDIA),
        token("empty body, no content type", None, b"")
            .expect(400, "invalid_request", NO_GRANT_TYPE),
        token("JSON with a charset", Some("application/json; charset=utf-8"), b"{\"client_id\": \"seed-app\"}")
            .expect(400, "invalid_request", NO_GRANT_TYPE),
        token("form-labelled JSON object, as curl sends it", Some(FORM), b"  {\"client_id\": \"seed-app\"}")
            .expect(400, "invalid_request", NO_GRANT_TYPE),
        token("JSON object without a content type", None, b"{\"client_id\": \"seed-app\"}")
            .expect(400, "invalid_request", NO_GRANT_TYPE),
        token("form-labelled broken JSON object", Some(FORM), b"{ nope")
            .expect(400, "invalid_request", MALFORMED_JSON),
        token("full-width digits", Some(FORM), "grant_type=$MFA_OTP&client_id=seed-app&client_secret=$SECRET&mfa_token=$ENROLLED&otp=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96".as_bytes())
            .expect(400, "invalid_grant", "Invalid otp_code."),
        token("five digits", Some(FORM), b"grant_type=$MFA_OTP&client_id=seed-app&client_secret=$SECRET&mfa_token=$ENROLLED&otp=12345")
            .expect(400, "invalid_grant", "Invalid otp_code."),
        token("duplicate form key", Some(FORM), b"grant_type=$MFA_OTP&client_id=seed-app&client_secret=$SECRET&mfa_token=$ENROLLED&otp=654321&otp=123456")
            .expect(400, "invalid_request", "Duplicate parameter: otp"),
        token("duplicate JSON key", Some(JSON), b"{\"grant_type\":\"password\",\"grant_type\":\"password\"}")
            .expect(400, "invalid_request", "Duplicate parameter: grant_type"),
        token("non-string value", Some(JSON), b"{\"grant_type\": 5}")
            .expect(400, "invalid_request", "Parameter grant_type must be a string"),
        token("null counts as absent", Some(JSON), b"{\"grant_type\": null}")
            .expect(400, "invalid_request", NO_GRANT_TYPE),
        token("empty string counts as absent", Some(FORM), b"grant_type=&client_id=seed-app")
            .expect(400, "invalid_request", NO_GRANT_TYPE),
        token("empty otp counts as absent", Some(FORM), b"grant_type=$MFA_OTP&client_id=seed-app&client_secret=$SECRET&mfa_token=$ENROLLED&otp=")
            .expect(400, "invalid_request", "Missing required parameter: otp"),
        token("object as a parameter", Some(JSON), b"{\"grant_type\": \"password\", \"client_id\": \"seed-app\", \"client_secret\": \"$SECRET\", \"username\": {\"a\": 1}}")
            .expect(400, "invalid_request", "Parameter username must be a string"),
        // serde_urlencoded decodes what it cannot as is: no parameter.
        token("malformed percent-encoding", Some(FORM), b"%%%%=%%%")
            .expect(400, "invalid_request", NO_GRANT_TYPE),
        token("not UTF-8", Some(FORM), b"\xff\xfe\x00")
            .expect(400, "invalid_request", NO_GRANT_TYPE),
        Case::new("unknown route", "GET", "/nope").expect(404, "not_found", "No such endpoint."),
        Case::new("unknown route, POST", "POST", "/mfa").expect(404, "not_found", "No such endpoint."),
        Case::new("wrong method", "GET", "/oauth/token")
            .expect(405, "invalid_request", "Method not allowed on this endpoint."),
        Case::new("wrong method on the list", "DELETE", "/mfa/authenticators")
            .expect(405, "invalid_request", "Method not allowed on this endpoint."),
        Case::new("associate without Authorization", "POST", "/mfa/associate")
            .expect(401, "invalid_request", NO_BEARER),
        Case::new("associate with Basic", "POST", "/mfa/associate")
            .header("authorization", "Basic $BASIC")
            .expect(401, "invalid_request", NO_BEARER),
        Case::new("associate with an empty Bearer", "POST", "/mfa/associate")
            .header("authorization", "Bearer ")
            .expect(401, "invalid_request", NO_BEARER),
        Case::new("list without Authorization", "GET", "/mfa/authenticators")
            .expect(401, "invalid_request", NO_BEARER),
        Case::new("delete without Authorization", "DELETE", "/mfa/authenticators/$OTP_ID")
            .expect(401, "invalid_request", NO_BEARER),
    ]
}

#[tokio::test]
async fn malformed_requests_change_nothing() {
    let server = Server::start(ConfigValues::default()).await;
    let jane = server.enroll(USER).await;
    let pending = server.password_grant(PENDING_USER).await;
    let before = (
        server.state(&jane.user_id).await,
        server.mfa_token_count().await,
    );
    run_cases(&server, &malformed_cases(), &vars(&server, &jane, &pending)).await;
    // Nothing changed: not the authenticators, not their attempt buckets,
    // not the stored mfa_tokens.
    let after = (
        server.state(&jane.user_id).await,
        server.mfa_token_count().await,
    );
    assert_eq!(after, before);
    // And the next step's code works, once.
    server.set_time(T0 + 30);
    let next = code(&jane.secret, T0 + 30);
    assert_eq!(server.otp_grant(&jane.mfa_token, &next).await.status, 200);
    assert_eq!(server.otp_grant(&jane.mfa_token, &next).await.status, 400);
}

fn assert_error(a: &Answer, status: u16, error: &str, description: &str) {
    assert_eq!(
        (
            a.status,
            a.json["error"].as_str(),
            a.json["error_description"].as_str()
        ),
        (status, Some(error), Some(description)),
        "{}",
        a.json
    );
}

#[tokio::test]
async fn mfa_token_expires_at_exactly_its_ttl() {
    let server = Server::start(ConfigValues {
        mfa_token_ttl: Some(60),
        ..ConfigValues::default()
    })
    .await;
    let token = server.password_grant(USER).await;
    server.set_time(T0 + 59);
    let list = server
        .bearer("GET", "/mfa/authenticators", &token, None)
        .await;
    assert_eq!((list.status, list.json), (200, json!([])));
    let associate = || {
        server.bearer(
            "POST",
            "/mfa/associate",
            &token,
            Some(json!({ "authenticator_types": ["otp"] })),
        )
    };
    let a = associate().await;
    assert_eq!(a.status, 200, "{}", a.json);
    let secret = a.json["secret"].as_str().unwrap().to_owned();

    server.set_time(T0 + 60);
    let expired = |a: Answer| assert_error(&a, 401, "expired_token", "mfa_token is expired");
    expired(server.otp_grant(&token, &code(&secret, T0 + 60)).await);
    expired(associate().await);
    expired(
        server
            .bearer("GET", "/mfa/authenticators", &token, None)
            .await,
    );
    expired(
        server
            .send(
                "POST",
                "/mfa/challenge",
                &[("content-type", JSON)],
                json!({ "client_id": CLIENT, "mfa_token": token })
                    .to_string()
                    .into_bytes(),
            )
            .await,
    );
    // A new login gets a fresh token, valid from the new time.
    let fresh = server.password_grant(USER).await;
    let a = server.otp_grant(&fresh, &code(&secret, T0 + 60)).await;
    assert_eq!(a.status, 200, "{}", a.json);
}

#[tokio::test]
async fn access_token_expires_at_exactly_its_ttl() {
    let server = Server::start(ConfigValues {
        access_token_ttl: Some(300),
        ..ConfigValues::default()
    })
    .await;
    let jane = server.enroll(USER).await;
    let claims = server.app.signer().verify(&jane.access_token, T0).unwrap();
    assert_eq!((claims.iat, claims.exp), (T0, T0 + 300));
    assert_eq!(claims.amr, ["pwd", "otp"]);

    server.set_time(T0 + 299);
    let list = server
        .bearer("GET", "/mfa/authenticators", &jane.access_token, None)
        .await;
    assert_eq!(list.status, 200, "{}", list.json);
    assert_eq!(list.json.as_array().map(Vec::len), Some(2));

    server.set_time(T0 + 300);
    let invalid = |a: Answer| {
        assert_error(
            &a,
            401,
            "invalid_token",
            "The access token is invalid or expired.",
        );
    };
    invalid(
        server
            .bearer("GET", "/mfa/authenticators", &jane.access_token, None)
            .await,
    );
    let path = format!("/mfa/authenticators/{}", jane.otp_id.replace('|', "%7C"));
    invalid(
        server
            .bearer("DELETE", &path, &jane.access_token, None)
            .await,
    );
    // Still enrolled: the refused delete changed nothing.
    assert!(server.state(&jane.user_id).await.otp.is_some());
}

#[tokio::test]
async fn throttle_refills_one_attempt_per_interval() {
    // The default throttle (10 attempts, one more every 360 s), and an
    // mfa_token that outlives the test's 12 minutes.
    let server = &Server::start(ConfigValues {
        mfa_token_ttl: Some(3600),
        ..ConfigValues::default()
    })
    .await;
    let bob = server.enroll("bob").await;
    let attempt = |t: u64, right: bool| {
        server.set_time(t);
        let otp = if right {
            code(&bob.secret, t)
        } else {
            wrong_code(&bob.secret, t)
        };
        let token = bob.mfa_token.clone();
        async move { server.otp_grant(&token, &otp).await }
    };
    let locked = |a: &Answer, retry_after: &str| {
        assert_error(
            a,
            429,
            "too_many_attempts",
            "Too many failed attempts. Wait and try again later.",
        );
        assert_eq!(a.headers["retry-after"], retry_after);
    };
    let t = T0 + 30;
    for _ in 0..10 {
        assert_error(
            &attempt(t, false).await,
            400,
            "invalid_grant",
            "Invalid otp_code.",
        );
    }
    // Locked out, even with the right code.
    locked(&attempt(t, true).await, "360");
    locked(&attempt(t + 359, true).await, "1");
    // One refill interval later: exactly one more attempt.
    assert_error(
        &attempt(t + 360, false).await,
        400,
        "invalid_grant",
        "Invalid otp_code.",
    );
    locked(&attempt(t + 360, true).await, "360");
    // Another interval: the right code is accepted and empties the bucket.
    assert_eq!(attempt(t + 720, true).await.status, 200);
    let state = server.state(&bob.user_id).await;
    assert_eq!(
        state.otp.map(|(_, _, attempts)| attempts),
        Some(Attempts::default())
    );
    assert_error(
        &attempt(t + 750, false).await,
        400,
        "invalid_grant",
        "Invalid otp_code.",
    );
}
