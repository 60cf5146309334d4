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
use base64::Engine as _;
use common::inproc::{Answer, TestClock, call, request};
use common::{CLIENT, CLIENT_SECRET, MFA_OTP, MFA_RECOVERY, PASSWORD, USER, db_path, temp_dir};
use mfa_server::config::{ConfigValues, Settings};
use mfa_server::credentials::{StoredClientSecret, hash_password};
use mfa_server::db::Db;
use mfa_server::http::{App, router};
use serde_json::{Value, json};
use totp_engine::{
    Attempts, AuthenticatorId, MfaStore, OtpProgress, RecoveryAuthenticator, Secret, Totp,
    TotpParams,
};

/// The clock's start: a step boundary (30 s).
const T0: u64 = 2_000_000_010;
/// A user who logs in but never enrolls.
const PENDING_USER: &str = "pat@example.com";
const OTHER_CLIENT: &str = "other-app";
/// The issuer URL of the test server, and its MFA API.
const ISSUER_URL: &str = "https://auth.example.com/";
const MFA_AUDIENCE: &str = "https://auth.example.com/mfa/";
const ALL_MFA_SCOPES: &str = "openid profile enroll read:authenticators remove:authenticators";
const OTHER_SECRET: &str = "another-long-client-secret";

/// The router on a fresh database, with the seed's client and user, an
/// `other-app`, a short-secret `short-app`, a `public-app`, and users
/// `pat@example.com` and `bob` (same password as the seed user).
struct Server {
    app: Arc<App>,
    router: Router,
    time: Arc<AtomicU64>,
}

impl Server {
    async fn start(values: ConfigValues) -> Self {
        let dir = temp_dir("router");
        let db = Db::connect(&db_path(&dir), common::test_keyring())
            .await
            .unwrap();
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
            issuer_url: Some(
                values
                    .issuer_url
                    .clone()
                    .unwrap_or_else(|| ISSUER_URL.parse().unwrap()),
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
        call(&self.router, request(method, path, headers, body)).await
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
        self.login(user, None, "openid profile").await
    }

    /// The password grant of the seed client for `audience` (none: the
    /// default) and `scope`; returns the mfa_token.
    async fn login(&self, user: &str, audience: Option<&str>, scope: &str) -> String {
        let a = self.login_answer(user, audience, scope).await;
        assert_eq!(
            (a.status, &a.json["error"]),
            (403, &json!("mfa_required")),
            "{}",
            a.json
        );
        a.json["mfa_token"].as_str().unwrap().to_owned()
    }

    /// [`Server::login`]'s whole answer, whatever it is.
    async fn login_answer(&self, user: &str, audience: Option<&str>, scope: &str) -> Answer {
        let mut fields = vec![
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("username", user),
            ("password", PASSWORD),
            ("scope", scope),
        ];
        if let Some(audience) = audience {
            fields.push(("audience", audience));
        }
        self.form(&fields).await
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

    /// Logs `user` in for the MFA API with all its scopes, associates and
    /// confirms at the clock's time; the access token is the MFA API's.
    async fn enroll(&self, user: &str) -> Enrolled {
        let mfa_token = self.login(user, Some(MFA_AUDIENCE), ALL_MFA_SCOPES).await;
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
        password("client_assertion without its type", "grant_type=password&client_id=seed-app&client_assertion=x.y.z&username=$USER&password=$PASSWORD")
            .expect(401, "invalid_client", "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        password("client_assertion of a secret client", "grant_type=password&client_id=seed-app&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJzZWVkLWFwcCIsInN1YiI6InNlZWQtYXBwIn0.c2ln&username=$USER&password=$PASSWORD")
            .expect(401, "invalid_client", "client_assertion: unknown client, or a client that does not authenticate with private_key_jwt"),
        password("client_assertion beside a secret", "grant_type=password&client_id=seed-app&client_secret=$SECRET&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=x.y.z&username=$USER&password=$PASSWORD")
            .expect(400, "invalid_request", "Use one client authentication method, not two"),
        password("unsupported grant type", "grant_type=authorization_code&client_id=seed-app&client_secret=$SECRET")
            .expect(400, "unsupported_grant_type", "Grant type 'authorization_code' is not supported."),
        password("client_credentials without an audience", "grant_type=client_credentials&client_id=seed-app&client_secret=$SECRET")
            .expect(403, "access_denied", "No audience parameter was provided, and no default audience has been configured"),
        password("client_credentials for an unknown audience", "grant_type=client_credentials&client_id=seed-app&client_secret=$SECRET&audience=https://nope.example/")
            .expect(403, "access_denied", "Service not found: https://nope.example/"),
        password("client_credentials without a client grant", "grant_type=client_credentials&client_id=seed-app&client_secret=$SECRET&audience=https://auth.example.com/api/v2/")
            .expect(403, "access_denied", "Client is not authorized to access \"https://auth.example.com/api/v2/\". You need to create a \"client-grant\" associated to this API."),
        password("client_credentials for the MFA API", "grant_type=client_credentials&client_id=seed-app&client_secret=$SECRET&audience=https://auth.example.com/mfa/")
            .expect(403, "access_denied", "Client is not authorized to access \"https://auth.example.com/mfa/\". You need to create a \"client-grant\" associated to this API."),
        password("client_credentials with a wrong secret", "grant_type=client_credentials&client_id=seed-app&client_secret=wrong-secret-wrong-secret&audience=https://auth.example.com/api/v2/")
            .expect(401, "invalid_client", WRONG_CLIENT),
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
        Case::new("associate when enrolled, with an enroll token (one OTP authenticator per user)", "", "")
            .json("/mfa/associate", r#"{"authenticator_types": ["otp"]}"#)
            .header("authorization", "Bearer $ACCESS")
            .expect(403, "access_denied", "User is already enrolled."),
        Case::new("associate another type", "", "")
            .json("/mfa/associate", r#"{"authenticator_types": ["oob"]}"#)
            .header("authorization", "Bearer $PENDING")
            .expect(400, "unsupported_challenge_type", "Only otp authenticators can be associated."),
        Case::new("associate without authenticator_types", "", "")
            .json("/mfa/associate", r#"{}"#)
            .header("authorization", "Bearer $PENDING")
            .expect(400, "invalid_request", "Missing required parameter: authenticator_types"),
        Case::new("associate with authenticator_types null", "", "")
            .json("/mfa/associate", r#"{"authenticator_types": null}"#)
            .header("authorization", "Bearer $PENDING")
            .expect(400, "invalid_request", "Missing required parameter: authenticator_types"),
        Case::new("associate with an empty form authenticator_types", "POST", "/mfa/associate")
            .body(Some(FORM), b"authenticator_types=")
            .header("authorization", "Bearer $PENDING")
            .expect(400, "invalid_request", "Missing required parameter: authenticator_types"),
        Case::new("associate with no body at all", "POST", "/mfa/associate")
            .header("authorization", "Bearer $PENDING")
            .expect(400, "invalid_request", "Missing required parameter: authenticator_types"),
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
            .expect(403, "insufficient_scope", "Insufficient scope, expected any of: remove:authenticators")
            .expect_header("www-authenticate", "Bearer error=\"insufficient_scope\", scope=\"remove:authenticators\""),
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
    // That login pruned nothing recent: the old token is still "expired",
    // not unknown ("Malformed"), for a day after its expiry.
    expired(
        server
            .bearer("GET", "/mfa/authenticators", &token, None)
            .await,
    );
    server.set_time(T0 + 60 + 86_400 + 1);
    let _ = server.password_grant(USER).await;
    assert_error(
        &server
            .bearer("GET", "/mfa/authenticators", &token, None)
            .await,
        401,
        "invalid_grant",
        "Malformed mfa_token",
    );
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

// ---------------------------------------------------------------------------
// Audiences and scopes (issue 11 items 2, 5, 6; findings F2, F3, F4 of the
// security review). Every refusal below is checked for its exact answer and
// for changing nothing: not the authenticators, not their attempt buckets,
// not the stored mfa_tokens.

/// A third-party API the test servers issue tokens for.
const PAYMENTS: &str = "https://payments.example.com/api";
const NOT_MFA: &str =
    "The access token is not for this API: its audience must be https://auth.example.com/mfa/";
const INVALID_TOKEN: &str = "The access token is invalid or expired.";
const ALREADY_ENROLLED: &str = "User is already enrolled.";

/// `--api PAYMENTS=read:payments,admin:all`, and mfa_tokens that outlive
/// the tests' clock steps.
fn with_payments_api() -> ConfigValues {
    ConfigValues {
        api: Some(vec![
            format!("{PAYMENTS}=read:payments,admin:all")
                .parse()
                .unwrap(),
        ]),
        mfa_token_ttl: Some(3600),
        ..ConfigValues::default()
    }
}

impl Server {
    /// Another server (a restarted or differently configured instance) on
    /// this one's database and clock, with `values`.
    async fn sibling(&self, values: ConfigValues) -> Self {
        let settings = Settings::from_values(&ConfigValues {
            issuer: Some("ACME".to_owned()),
            issuer_url: Some(ISSUER_URL.parse().unwrap()),
            ..values
        })
        .unwrap();
        let app = Arc::new(
            App::new(
                self.app.db().clone(),
                settings,
                Arc::new(TestClock(self.time.clone())),
            )
            .await
            .unwrap(),
        );
        Self {
            router: router(app.clone()),
            app,
            time: self.time.clone(),
        }
    }

    /// Logs `user` (whose OTP secret is `secret`) in for `audience` and
    /// `scope`, and passes the second factor at the next time step;
    /// returns the token answer.
    async fn tokens(
        &self,
        user: &str,
        secret: &str,
        audience: Option<&str>,
        scope: &str,
    ) -> Answer {
        let mfa_token = self.login(user, audience, scope).await;
        self.set_time(self.now() + 30);
        let a = self.otp_grant(&mfa_token, &code(secret, self.now())).await;
        assert_eq!(a.status, 200, "{}", a.json);
        a
    }

    /// The recovery-code grant.
    async fn recovery_grant(&self, mfa_token: &str, recovery_code: &str) -> Answer {
        self.form(&[
            ("grant_type", MFA_RECOVERY),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", mfa_token),
            ("recovery_code", recovery_code),
        ])
        .await
    }

    /// Everything a refused request must leave as it was: the
    /// authenticators (with their attempt buckets) of `users`, and the
    /// stored mfa_tokens.
    async fn snapshot(&self, users: &[&str]) -> (Vec<State>, i64) {
        let mut states = Vec::new();
        for user in users {
            states.push(self.state(user).await);
        }
        (states, self.mfa_token_count().await)
    }
}

/// The claims of a token this server signed.
fn claims(server: &Server, token: &str) -> mfa_server::tokens::Claims {
    server.app.signer().verify(token, server.now()).unwrap()
}

/// The payload of a JWT, decoded (not verified).
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn password_grant_audience_must_be_known_and_scopes_are_filtered_f2() {
    let server = Server::start(with_payments_api()).await;
    let jane = server.enroll(USER).await;
    let before = server.snapshot(&[&jane.user_id]).await;
    let login =
        |name, audience: &'static str| Case::token(name, audience).expect(403, "access_denied", "");
    let cases = [
        login("another client's id as the audience (c1 minting aud=c2)", "grant_type=password&client_id=seed-app&client_secret=$SECRET&username=$USER&password=$PASSWORD&audience=other-app&scope=openid")
            .expect(403, "access_denied", "Service not found: other-app"),
        login("an API this server does not issue tokens for", "grant_type=password&client_id=seed-app&client_secret=$SECRET&username=$USER&password=$PASSWORD&audience=https%3A%2F%2Fpayments.example.com%2Fother&scope=openid%20admin%3Aall")
            .expect(403, "access_denied", "Service not found: https://payments.example.com/other"),
        login("the issuer URL itself", "grant_type=password&client_id=seed-app&client_secret=$SECRET&username=$USER&password=$PASSWORD&audience=https%3A%2F%2Fauth.example.com%2F")
            .expect(403, "access_denied", "Service not found: https://auth.example.com/"),
        login("the MFA API of another issuer", "grant_type=password&client_id=seed-app&client_secret=$SECRET&username=$USER&password=$PASSWORD&audience=https%3A%2F%2Fevil.example.com%2Fmfa%2F&scope=enroll")
            .expect(403, "access_denied", "Service not found: https://evil.example.com/mfa/"),
        login("an unknown audience is refused before the password is checked", "grant_type=password&client_id=seed-app&client_secret=$SECRET&username=$USER&password=wrong&audience=nope")
            .expect(403, "access_denied", "Service not found: nope"),
        login("an unknown audience, unknown user", "grant_type=password&client_id=seed-app&client_secret=$SECRET&username=nobody&password=wrong&audience=nope")
            .expect(403, "access_denied", "Service not found: nope"),
        login("control characters are not echoed", "grant_type=password&client_id=seed-app&client_secret=$SECRET&username=$USER&password=$PASSWORD&audience=https%3A%2F%2Fx.example.com%2F%0A%09%1B")
            .expect(403, "access_denied", "Service not found: https://x.example.com/"),
        login("a JSON body too", "")
            .json("/oauth/token", r#"{"grant_type": "password", "client_id": "seed-app", "client_secret": "$SECRET", "username": "jane@example.com", "password": "correct horse battery staple", "audience": "https://payments.example.com/API"}"#)
            .expect(403, "access_denied", "Service not found: https://payments.example.com/API"),
        login("client authentication still comes first", "grant_type=password&client_id=seed-app&client_secret=wrong-secret-wrong-secret&username=$USER&password=$PASSWORD&audience=nope")
            .expect(401, "invalid_client", WRONG_CLIENT),
    ];
    run_cases(&server, &cases, &vars(&server, &jane, "")).await;
    assert_eq!(
        server.snapshot(&[&jane.user_id]).await,
        before,
        "no mfa_token was stored, no authenticator touched"
    );

    // A known API: its own scopes and OpenID Connect's are granted, the
    // rest silently dropped, and the answer's `scope` says what was.
    let a = server
        .tokens(
            USER,
            &jane.secret,
            Some(PAYMENTS),
            "openid admin:all delete:users offline_access read:payments enroll admin:all",
        )
        .await;
    assert_eq!(
        a.json["scope"],
        "openid admin:all offline_access read:payments"
    );
    assert_eq!(a.json["expires_in"], 86_400);
    let access = claims(&server, a.json["access_token"].as_str().unwrap());
    assert_eq!(
        (
            access.iss.as_str(),
            access.aud.as_str(),
            access.scope.as_str()
        ),
        (
            ISSUER_URL,
            PAYMENTS,
            "openid admin:all offline_access read:payments"
        )
    );
    // offline_access: a refresh token (tests/refresh.rs tests them).
    assert!(a.json["refresh_token"].is_string(), "{}", a.json);
    let id = payload(a.json["id_token"].as_str().unwrap());
    assert_eq!(
        (&id["aud"], &id["iss"]),
        (&json!(CLIENT), &json!(ISSUER_URL))
    );

    // No audience: the userinfo audience, OpenID Connect scopes only.
    let a = server
        .tokens(
            USER,
            &jane.secret,
            None,
            "openid profile email offline_access enroll read:authenticators read:payments",
        )
        .await;
    assert_eq!(a.json["scope"], "openid profile email offline_access");
    let access = claims(&server, a.json["access_token"].as_str().unwrap());
    assert_eq!(access.aud, format!("{ISSUER_URL}userinfo"));

    // No scope the audience grants: no `scope` in the answer, no id token.
    let a = server.tokens(USER, &jane.secret, None, "admin:all").await;
    assert!(
        a.json.get("scope").is_none() && a.json.get("id_token").is_none(),
        "{}",
        a.json
    );
    assert_eq!(
        claims(&server, a.json["access_token"].as_str().unwrap()).scope,
        ""
    );

    // The MFA API, also written without its final slash (as older Auth0
    // documents do): the canonical audience, and ten minutes at most.
    let a = server
        .tokens(
            USER,
            &jane.secret,
            Some("https://auth.example.com/mfa"),
            "openid read:authenticators admin:all read:payments",
        )
        .await;
    assert_eq!(
        (&a.json["scope"], &a.json["expires_in"]),
        (&json!("openid read:authenticators"), &json!(600))
    );
    let access = claims(&server, a.json["access_token"].as_str().unwrap());
    assert_eq!(
        (access.aud.as_str(), access.exp - access.iat),
        (MFA_AUDIENCE, 600)
    );
    let id = payload(a.json["id_token"].as_str().unwrap());
    assert_eq!(
        id["exp"].as_u64().unwrap() - id["iat"].as_u64().unwrap(),
        86_400,
        "the id token keeps the configured lifetime"
    );
    // Every access token has its own `jti` (RFC 9068 §2.2: 128 random
    // bits, 22 URL-safe characters); an id token has none.
    assert!(id.get("jti").is_none(), "{id}");
    let mut jtis = std::collections::HashSet::new();
    for _ in 0..3 {
        let a = server.tokens(USER, &jane.secret, None, "openid").await;
        let jti = payload(a.json["access_token"].as_str().unwrap())["jti"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            claims(&server, a.json["access_token"].as_str().unwrap()).jti,
            Some(jti.clone())
        );
        assert!(
            jti.len() == 22
                && jti
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{jti}"
        );
        assert!(jtis.insert(jti), "a jti issued twice");
    }

    // F2 as reported, on a server that knows no payments API: refused.
    let bare = Server::start(ConfigValues::default()).await;
    let a = bare
        .login_answer(
            USER,
            Some("https://payments.example.com/api"),
            "openid admin:all delete:users offline_access",
        )
        .await;
    assert_error(
        &a,
        403,
        "access_denied",
        "Service not found: https://payments.example.com/api",
    );
    assert_eq!(bare.mfa_token_count().await, 0);
}

#[tokio::test]
async fn the_default_audience_is_configurable() {
    let server = Server::start(ConfigValues {
        default_audience: Some(PAYMENTS.to_owned()),
        ..with_payments_api()
    })
    .await;
    let jane = server.enroll(USER).await;
    let a = server
        .tokens(USER, &jane.secret, None, "read:payments enroll openid")
        .await;
    assert_eq!(a.json["scope"], "read:payments openid");
    assert_eq!(
        claims(&server, a.json["access_token"].as_str().unwrap()).aud,
        PAYMENTS
    );
}

#[tokio::test]
async fn a_grant_checks_its_audience_again_before_spending_the_code() {
    // A login for an API, then the API is removed (a restart with another
    // configuration) before the second factor: the MFA grants refuse it
    // before the code is checked, so the code stays good.
    let server = Server::start(with_payments_api()).await;
    let jane = server.enroll(USER).await;
    let for_payments = server
        .login(USER, Some(PAYMENTS), "openid read:payments")
        .await;
    let restarted = server
        .sibling(ConfigValues {
            mfa_token_ttl: Some(3600),
            ..ConfigValues::default()
        })
        .await;
    server.set_time(T0 + 30);
    let otp = code(&jane.secret, T0 + 30);
    let before = server.snapshot(&[&jane.user_id]).await;
    let refused = format!("Service not found: {PAYMENTS}");
    assert_error(
        &restarted.otp_grant(&for_payments, &otp).await,
        403,
        "access_denied",
        &refused,
    );
    assert_error(
        &restarted
            .recovery_grant(&for_payments, &jane.recovery_code)
            .await,
        403,
        "access_denied",
        &refused,
    );
    assert_eq!(server.snapshot(&[&jane.user_id]).await, before);
    // Neither the code nor the recovery code was spent.
    let a = server.otp_grant(&for_payments, &otp).await;
    assert_eq!(a.status, 200, "{}", a.json);
    let a = server
        .recovery_grant(&for_payments, &jane.recovery_code)
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
}

#[tokio::test]
async fn mfa_api_tokens_by_audience_and_scope_f3() {
    let server = Server::start(with_payments_api()).await;
    let jane = server.enroll(USER).await;
    let pending = server.password_grant(PENDING_USER).await;
    let pending_id = format!("auth0|{PENDING_USER}");
    let token = |a: Answer| a.json["access_token"].as_str().unwrap().to_owned();
    let mut vars = vars(&server, &jane, &pending);
    let mfa = Some(MFA_AUDIENCE);
    for (name, audience, scope) in [
        ("MFA_READ", mfa, "read:authenticators"),
        ("MFA_REMOVE", mfa, "remove:authenticators"),
        ("MFA_ENROLL", mfa, "enroll"),
        ("MFA_NONE", mfa, "openid"),
        ("THIRD", Some(PAYMENTS), "openid read:payments admin:all"),
        ("DEFAULT", None, "openid profile"),
    ] {
        let a = server.tokens(USER, &jane.secret, audience, scope).await;
        if name == "MFA_NONE" {
            vars.push(("ID_TOKEN", a.json["id_token"].as_str().unwrap().to_owned()));
        }
        vars.push((name, token(a)));
    }
    let all = claims(&server, &jane.access_token);
    assert_eq!(
        (all.aud.as_str(), all.scope.as_str()),
        (MFA_AUDIENCE, ALL_MFA_SCOPES)
    );
    // Tokens this server signed but would not have issued, and one edited.
    let sign = |c: mfa_server::tokens::Claims| server.app.signer().sign(&c).unwrap();
    vars.push((
        "FOREIGN_ISS",
        sign(mfa_server::tokens::Claims {
            iss: "https://evil.example.com/".to_owned(),
            ..all.clone()
        }),
    ));
    vars.push((
        "NO_AZP",
        sign(mfa_server::tokens::Claims {
            azp: None,
            ..all.clone()
        }),
    ));
    let read = vars
        .iter()
        .find(|(k, _)| *k == "MFA_READ")
        .unwrap()
        .1
        .clone();
    let mut parts: Vec<String> = read.split('.').map(str::to_owned).collect();
    let mut edited = payload(&read);
    edited["scope"] = json!(ALL_MFA_SCOPES);
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(edited.to_string());
    vars.push(("TAMPERED", parts.join(".")));

    let get = |name, token: &'static str| {
        Case::new(name, "GET", "/mfa/authenticators").header("authorization", token)
    };
    let delete = |name, token: &'static str| {
        Case::new(name, "DELETE", "/mfa/authenticators/$OTP_ID").header("authorization", token)
    };
    let associate = |name, token: &'static str| {
        Case::new(name, "", "")
            .json("/mfa/associate", r#"{"authenticator_types": ["otp"]}"#)
            .header("authorization", token)
    };
    let no_read = "Insufficient scope, expected any of: read:authenticators";
    let no_remove = "Insufficient scope, expected any of: remove:authenticators";
    let no_enroll = "Insufficient scope, expected any of: enroll";
    let cases = vec![
        // GET /mfa/authenticators: an mfa_token, or read:authenticators.
        get(
            "list, MFA token without read:authenticators",
            "Bearer $MFA_REMOVE",
        )
        .expect(403, "insufficient_scope", no_read)
        .expect_header(
            "www-authenticate",
            "Bearer error=\"insufficient_scope\", scope=\"read:authenticators\"",
        ),
        get("list, MFA token with enroll only", "Bearer $MFA_ENROLL").expect(
            403,
            "insufficient_scope",
            no_read,
        ),
        get("list, MFA token with no MFA scope", "Bearer $MFA_NONE").expect(
            403,
            "insufficient_scope",
            no_read,
        ),
        get("list, third-party API token (F3)", "Bearer $THIRD")
            .expect(401, "invalid_token", NOT_MFA)
            .expect_header("www-authenticate", "Bearer error=\"invalid_token\""),
        get("list, default-audience token", "Bearer $DEFAULT").expect(
            401,
            "invalid_token",
            NOT_MFA,
        ),
        get("list, id token", "Bearer $ID_TOKEN").expect(401, "invalid_token", INVALID_TOKEN),
        get("list, token without azp", "Bearer $NO_AZP").expect(
            401,
            "invalid_token",
            INVALID_TOKEN,
        ),
        get("list, another issuer", "Bearer $FOREIGN_ISS").expect(
            401,
            "invalid_token",
            INVALID_TOKEN,
        ),
        get("list, edited scope", "Bearer $TAMPERED").expect(401, "invalid_token", INVALID_TOKEN),
        // DELETE: an access token with remove:authenticators only.
        delete("delete, MFA token with read only", "Bearer $MFA_READ").expect(
            403,
            "insufficient_scope",
            no_remove,
        ),
        delete("delete, MFA token with enroll only", "Bearer $MFA_ENROLL").expect(
            403,
            "insufficient_scope",
            no_remove,
        ),
        delete("delete, MFA token with no MFA scope", "Bearer $MFA_NONE").expect(
            403,
            "insufficient_scope",
            no_remove,
        ),
        delete("delete, enrolled user's mfa_token", "Bearer $ENROLLED").expect(
            403,
            "insufficient_scope",
            no_remove,
        ),
        delete("delete, pending user's mfa_token", "Bearer $PENDING").expect(
            403,
            "insufficient_scope",
            no_remove,
        ),
        delete("delete, third-party API token (F3)", "Bearer $THIRD").expect(
            401,
            "invalid_token",
            NOT_MFA,
        ),
        Case::new(
            "delete the recovery code, third-party API token (F3)",
            "DELETE",
            "/mfa/authenticators/$RECOVERY_ID",
        )
        .header("authorization", "Bearer $THIRD")
        .expect(401, "invalid_token", NOT_MFA),
        delete("delete, default-audience token", "Bearer $DEFAULT").expect(
            401,
            "invalid_token",
            NOT_MFA,
        ),
        delete("delete, id token", "Bearer $ID_TOKEN").expect(401, "invalid_token", INVALID_TOKEN),
        delete("delete, another issuer", "Bearer $FOREIGN_ISS").expect(
            401,
            "invalid_token",
            INVALID_TOKEN,
        ),
        delete("delete, edited scope", "Bearer $TAMPERED").expect(
            401,
            "invalid_token",
            INVALID_TOKEN,
        ),
        Case::new(
            "delete an unknown id, read-only token: the scope is checked first",
            "DELETE",
            "/mfa/authenticators/nope",
        )
        .header("authorization", "Bearer $MFA_READ")
        .expect(403, "insufficient_scope", no_remove),
        // POST /mfa/associate: an mfa_token while nothing is active, or enroll.
        associate("associate, enrolled user's mfa_token", "Bearer $ENROLLED").expect(
            403,
            "access_denied",
            ALREADY_ENROLLED,
        ),
        associate("associate, MFA token with read only", "Bearer $MFA_READ").expect(
            403,
            "insufficient_scope",
            no_enroll,
        ),
        associate(
            "associate, MFA token with remove only",
            "Bearer $MFA_REMOVE",
        )
        .expect(403, "insufficient_scope", no_enroll)
        .expect_header(
            "www-authenticate",
            "Bearer error=\"insufficient_scope\", scope=\"enroll\"",
        ),
        associate("associate, MFA token with no MFA scope", "Bearer $MFA_NONE").expect(
            403,
            "insufficient_scope",
            no_enroll,
        ),
        associate("associate, third-party API token", "Bearer $THIRD").expect(
            401,
            "invalid_token",
            NOT_MFA,
        ),
        associate("associate, default-audience token", "Bearer $DEFAULT").expect(
            401,
            "invalid_token",
            NOT_MFA,
        ),
        associate("associate, edited scope", "Bearer $TAMPERED").expect(
            401,
            "invalid_token",
            INVALID_TOKEN,
        ),
        associate(
            "associate, enroll token, OTP active: one per user",
            "Bearer $MFA_ENROLL",
        )
        .expect(403, "access_denied", ALREADY_ENROLLED),
        associate("associate, all MFA scopes, OTP active", "Bearer $ACCESS").expect(
            403,
            "access_denied",
            ALREADY_ENROLLED,
        ),
        Case::new(
            "associate without types, third-party token: the token is checked first",
            "",
            "",
        )
        .json("/mfa/associate", r#"{}"#)
        .header("authorization", "Bearer $THIRD")
        .expect(401, "invalid_token", NOT_MFA),
        Case::new("associate without types, enroll token, OTP active", "", "")
            .json("/mfa/associate", r#"{}"#)
            .header("authorization", "Bearer $MFA_ENROLL")
            .expect(
                400,
                "invalid_request",
                "Missing required parameter: authenticator_types",
            ),
    ];
    let before = server.snapshot(&[&jane.user_id, &pending_id]).await;
    run_cases(&server, &cases, &vars).await;
    assert_eq!(server.snapshot(&[&jane.user_id, &pending_id]).await, before);

    // What is allowed: list with an mfa_token (any user, enrolled or not)
    // or read:authenticators, each entry with Auth0's `type`.
    let var = |name: &str| vars.iter().find(|(k, _)| *k == name).unwrap().1.clone();
    for (who, bearer) in [
        ("MFA_READ", var("MFA_READ")),
        ("ACCESS", jane.access_token.clone()),
        ("ENROLLED", jane.mfa_token.clone()),
    ] {
        let list = server
            .bearer("GET", "/mfa/authenticators", &bearer, None)
            .await;
        assert_eq!(
            (list.status, list.json),
            (
                200,
                json!([
                    { "id": jane.recovery_id, "authenticator_type": "recovery-code", "active": true, "type": "recovery-code" },
                    { "id": jane.otp_id, "authenticator_type": "otp", "active": true, "type": "otp" },
                ])
            ),
            "{who}"
        );
    }
    let list = server
        .bearer("GET", "/mfa/authenticators", &pending, None)
        .await;
    assert_eq!((list.status, list.json), (200, json!([])));
    assert_eq!(server.snapshot(&[&jane.user_id, &pending_id]).await, before);
    // Delete with remove:authenticators.
    let path = format!("/mfa/authenticators/{}", jane.otp_id.replace('|', "%7C"));
    let a = server
        .bearer("DELETE", &path, &var("MFA_REMOVE"), None)
        .await;
    assert_eq!((a.status, a.json), (204, Value::Null));
    let after = server.state(&jane.user_id).await;
    assert_eq!(after.otp, None);
    assert_eq!(
        after.recovery, before.0[0].recovery,
        "the recovery code stays"
    );
}

#[tokio::test]
async fn a_password_alone_cannot_enroll_while_a_recovery_code_is_active_f4() {
    let server = Server::start(ConfigValues {
        mfa_token_ttl: Some(3600),
        ..ConfigValues::default()
    })
    .await;
    let jane = server.enroll(USER).await;
    // The user deletes the OTP authenticator (lost phone) with a token for
    // the MFA API; the recovery code stays active.
    let path = format!("/mfa/authenticators/{}", jane.otp_id.replace('|', "%7C"));
    let a = server
        .bearer("DELETE", &path, &jane.access_token, None)
        .await;
    assert_eq!(a.status, 204, "{}", a.json);

    // The password alone: the login says the recovery code is what is
    // left, and /mfa/associate refuses the password-only mfa_token.
    for audience in [None, Some(MFA_AUDIENCE)] {
        let a = server.login_answer(USER, audience, "openid enroll").await;
        assert_eq!(
            (a.status, &a.json["mfa_requirements"]),
            (403, &json!({ "challenge": [{ "type": "recovery-code" }] })),
            "{}",
            a.json
        );
        let mfa_token = a.json["mfa_token"].as_str().unwrap().to_owned();
        let before = server.snapshot(&[&jane.user_id]).await;
        for body in [
            json!({ "authenticator_types": ["otp"] }),
            json!({ "authenticator_types": "otp" }),
            json!({}),
        ] {
            let refused = server
                .bearer("POST", "/mfa/associate", &mfa_token, Some(body))
                .await;
            assert_error(&refused, 403, "access_denied", ALREADY_ENROLLED);
        }
        assert_eq!(server.snapshot(&[&jane.user_id]).await, before);
        let state = server.state(&jane.user_id).await;
        assert!(state.otp.is_none() && state.recovery.is_some_and(|r| r.active));
    }

    // The way back: the recovery code, in a login for the MFA API with
    // `enroll`; that token associates (no new recovery codes: the active
    // one stays, its replacement was just shown).
    let mfa_token = server.login(USER, Some(MFA_AUDIENCE), "enroll").await;
    let recovered = server.recovery_grant(&mfa_token, &jane.recovery_code).await;
    assert_eq!(recovered.status, 200, "{}", recovered.json);
    assert_eq!(recovered.json["scope"], "enroll");
    let enroll = recovered.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&server, &enroll).amr, ["pwd", "recovery-code"]);
    let a = server
        .bearer(
            "POST",
            "/mfa/associate",
            &enroll,
            Some(json!({ "authenticator_types": ["otp"] })),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert!(a.json.get("recovery_codes").is_none(), "{}", a.json);
    let secret = a.json["secret"].as_str().unwrap().to_owned();
    // Pending until confirmed by a code, in a later login.
    let later = server.password_grant(USER).await;
    server.set_time(T0 + 30);
    let confirmed = server.otp_grant(&later, &code(&secret, T0 + 30)).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.json);
    let a = server.login_answer(USER, None, "openid").await;
    assert_eq!(
        a.json["mfa_requirements"],
        json!({ "challenge": [{ "type": "otp" }] })
    );
    // A user with nothing active still enrolls with the mfa_token, and a
    // pending enrollment is replaced by a new one.
    let pat = server.password_grant(PENDING_USER).await;
    for _ in 0..2 {
        let a = server
            .bearer(
                "POST",
                "/mfa/associate",
                &pat,
                Some(json!({ "authenticator_types": ["otp"] })),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.json["recovery_codes"].as_array().map(Vec::len), Some(1));
    }
}

#[tokio::test]
async fn password_and_a_third_party_token_cannot_take_over_the_account_f3_f4() {
    // The chain of the review: with the victim's password and any access
    // token of theirs for a third-party API, delete their OTP
    // authenticator (F3), then associate the attacker's with a
    // password-only mfa_token (F4).
    let server = Server::start(with_payments_api()).await;
    let jane = server.enroll(USER).await;
    let third = server
        .tokens(
            USER,
            &jane.secret,
            Some(PAYMENTS),
            "openid read:payments admin:all",
        )
        .await;
    let third = third.json["access_token"].as_str().unwrap().to_owned();
    let path = format!("/mfa/authenticators/{}", jane.otp_id.replace('|', "%7C"));
    let attacker_mfa_token = server.login(USER, Some(MFA_AUDIENCE), ALL_MFA_SCOPES).await;
    let before = server.snapshot(&[&jane.user_id]).await;
    assert_error(
        &server.bearer("DELETE", &path, &third, None).await,
        401,
        "invalid_token",
        NOT_MFA,
    );
    assert_error(
        &server
            .bearer("GET", "/mfa/authenticators", &third, None)
            .await,
        401,
        "invalid_token",
        NOT_MFA,
    );
    let associate = |token: String| {
        let server = &server;
        async move {
            server
                .bearer(
                    "POST",
                    "/mfa/associate",
                    &token,
                    Some(json!({ "authenticator_types": ["otp"] })),
                )
                .await
        }
    };
    assert_error(
        &associate(third.clone()).await,
        401,
        "invalid_token",
        NOT_MFA,
    );
    assert_error(
        &associate(attacker_mfa_token.clone()).await,
        403,
        "access_denied",
        ALREADY_ENROLLED,
    );
    assert_error(
        &server
            .bearer("DELETE", &path, &attacker_mfa_token, None)
            .await,
        403,
        "insufficient_scope",
        "Insufficient scope, expected any of: remove:authenticators",
    );
    assert_eq!(server.snapshot(&[&jane.user_id]).await, before);
    // Even once the OTP authenticator is gone (deleted by the user), the
    // attacker's password-only mfa_token and third-party token get nowhere.
    let a = server
        .bearer("DELETE", &path, &jane.access_token, None)
        .await;
    assert_eq!(a.status, 204);
    let fresh = server.login(USER, Some(MFA_AUDIENCE), "enroll").await;
    let before = server.snapshot(&[&jane.user_id]).await;
    assert_error(&associate(third).await, 401, "invalid_token", NOT_MFA);
    assert_error(
        &associate(attacker_mfa_token).await,
        403,
        "access_denied",
        ALREADY_ENROLLED,
    );
    assert_error(
        &associate(fresh).await,
        403,
        "access_denied",
        ALREADY_ENROLLED,
    );
    assert_eq!(server.snapshot(&[&jane.user_id]).await, before);
}

// OpenID Connect: discovery, the JWKS and its RS256 (or EdDSA) key,
// /userinfo, and the password-realm grant.

/// The RFC 7638 thumbprint of a JWK's canonical JSON.
fn thumbprint(canonical: &str) -> String {
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical))
}

impl Server {
    async fn get_json(&self, path: &str) -> Answer {
        self.send("GET", path, &[], Vec::new()).await
    }

    /// Verifies `token` with the `jsonwebtoken` crate against the served
    /// JWKS, as an SDK would: the key named by the header's kid, the
    /// header's algorithm the key's, the issuer the configured one.
    async fn verify_with_jwks(&self, token: &str) -> Value {
        let jwks = self.get_json("/.well-known/jwks.json").await.json;
        let header = jsonwebtoken::decode_header(token).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        // The signing key and the next one (published, not signing yet).
        assert_eq!(keys.len(), 2, "{jwks}");
        let key = &keys[0];
        assert_eq!(header.kid.as_deref(), key["kid"].as_str());
        assert_ne!(keys[1]["kid"], key["kid"], "{jwks}");
        assert_eq!(keys[1]["kty"], key["kty"], "{jwks}");
        let (decoding, alg) = match key["kty"].as_str().unwrap() {
            "RSA" => (
                jsonwebtoken::DecodingKey::from_rsa_components(
                    key["n"].as_str().unwrap(),
                    key["e"].as_str().unwrap(),
                )
                .unwrap(),
                jsonwebtoken::Algorithm::RS256,
            ),
            "OKP" => (
                jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap(),
                jsonwebtoken::Algorithm::EdDSA,
            ),
            other => panic!("kty {other}"),
        };
        assert_eq!(header.alg, alg);
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.set_issuer(&[ISSUER_URL]);
        jsonwebtoken::decode::<Value>(token, &decoding, &validation)
            .unwrap()
            .claims
    }

    /// The password-realm grant of the seed client; `realm` omitted when `None`.
    async fn realm_login(&self, user: &str, password: &str, realm: Option<&str>) -> Answer {
        let mut fields = vec![
            (
                "grant_type",
                "http://auth0.com/oauth/grant-type/password-realm",
            ),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("username", user),
            ("password", password),
            ("scope", "openid profile"),
        ];
        if let Some(realm) = realm {
            fields.push(("realm", realm));
        }
        self.form(&fields).await
    }

    async fn login_failure_rows(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM login_failures) + (SELECT COUNT(*) FROM login_address_throttle)",
        )
        .fetch_one(&self.app.db().pool)
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn discovery_describes_the_issuer_its_endpoints_and_grants() {
    let server = Server::start(ConfigValues::default()).await;
    let a = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(a.status, 200, "{}", a.json);
    let d = &a.json;
    assert_eq!(d["issuer"], ISSUER_URL);
    assert_eq!(d["token_endpoint"], "https://auth.example.com/oauth/token");
    assert_eq!(d["userinfo_endpoint"], "https://auth.example.com/userinfo");
    assert_eq!(
        d["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
    assert_eq!(
        d["grant_types_supported"],
        json!([
            "password",
            "http://auth0.com/oauth/grant-type/password-realm",
            MFA_OTP,
            MFA_RECOVERY,
            "refresh_token"
        ])
    );
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ])
    );
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(d["subject_types_supported"], json!(["public"]));
    assert_eq!(d["response_types_supported"], json!(["token"]));
    for scope in [
        "openid",
        "profile",
        "email",
        "enroll",
        "read:authenticators",
    ] {
        assert!(
            d["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(scope)),
            "{scope}"
        );
    }
    for claim in ["sub", "iss", "aud", "exp", "iat", "name", "email"] {
        assert!(
            d["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(claim)),
            "{claim}"
        );
    }
    assert_eq!(a.headers["cache-control"], "no-store");
    // With the EdDSA knob the document says so.
    let eddsa = Server::start(ConfigValues {
        signing_alg: Some(mfa_server::tokens::SigningAlg::EdDsa),
        ..ConfigValues::default()
    })
    .await;
    let a = eddsa.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        a.json["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
}

#[tokio::test]
async fn tokens_are_rs256_by_default_and_the_kid_is_the_rfc7638_thumbprint() {
    let server = Server::start(ConfigValues::default()).await;
    let jwks = server.get_json("/.well-known/jwks.json").await;
    assert_eq!(jwks.status, 200);
    let key = &jwks.json["keys"][0];
    let mut members: Vec<&String> = key.as_object().unwrap().keys().collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"], "{key}");
    assert_eq!(
        (&key["kty"], &key["alg"], &key["use"]),
        (&json!("RSA"), &json!("RS256"), &json!("sig"))
    );
    let (n, e) = (key["n"].as_str().unwrap(), key["e"].as_str().unwrap());
    let modulus = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n)
        .unwrap();
    assert_eq!(modulus.len(), 256, "RSA 2048");
    assert_eq!(e, "AQAB");
    assert_eq!(
        key["kid"].as_str().unwrap(),
        thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#))
    );

    let jane = server.enroll(USER).await;
    let access = server.verify_with_jwks(&jane.access_token).await;
    assert_eq!(
        (&access["sub"], &access["aud"]),
        (&json!("auth0|jane@example.com"), &json!(MFA_AUDIENCE))
    );
    let tokens = server
        .tokens(USER, &jane.secret, None, "openid profile")
        .await;
    let id = server
        .verify_with_jwks(tokens.json["id_token"].as_str().unwrap())
        .await;
    assert_eq!(id["aud"], CLIENT);
    // The server accepts its own RS256 tokens, and a restart (a sibling
    // on the same database) keeps the key.
    assert!(
        server
            .app
            .signer()
            .verify(&jane.access_token, server.now())
            .is_some()
    );
    let restarted = server.sibling(ConfigValues::default()).await;
    assert_eq!(
        restarted.get_json("/.well-known/jwks.json").await.json,
        jwks.json
    );
    // One current key and one next key, not one more per start.
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys WHERE alg = 'RS256'")
        .fetch_one(&server.app.db().pool)
        .await
        .unwrap();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn the_eddsa_knob_signs_with_ed25519_and_its_thumbprint() {
    let server = Server::start(ConfigValues {
        signing_alg: Some(mfa_server::tokens::SigningAlg::EdDsa),
        ..ConfigValues::default()
    })
    .await;
    let key = server.get_json("/.well-known/jwks.json").await.json["keys"][0].clone();
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
        (
            &json!("OKP"),
            &json!("Ed25519"),
            &json!("EdDSA"),
            &json!("sig")
        )
    );
    let x = key["x"].as_str().unwrap();
    assert_eq!(
        key["kid"].as_str().unwrap(),
        thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#))
    );
    let jane = server.enroll(USER).await;
    let claims = server.verify_with_jwks(&jane.access_token).await;
    assert_eq!(claims["sub"], "auth0|jane@example.com");
    // The same database switched to RS256 creates an RSA key beside the
    // Ed25519 one, which stays published (it is still its algorithm's
    // current key): the tokens it signed keep verifying
    // (tests/signing_rotation.rs tests the switch and rotations).
    let rs = server.sibling(ConfigValues::default()).await;
    let keys = rs.get_json("/.well-known/jwks.json").await.json["keys"].clone();
    assert_eq!(
        (&keys[0]["kty"], &keys[1]["kty"]),
        (&json!("RSA"), &json!("OKP"))
    );
    assert!(
        rs.app
            .signer()
            .verify(&jane.access_token, rs.now())
            .is_some()
    );
}

#[tokio::test]
async fn userinfo_takes_an_access_token_with_openid() {
    let server = Server::start(ConfigValues::default()).await;
    let jane = server.enroll(USER).await;
    // The MFA API token carries `openid profile`.
    for method in ["GET", "POST"] {
        let a = server
            .bearer(method, "/userinfo", &jane.access_token, None)
            .await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(
            a.json,
            json!({ "sub": "auth0|jane@example.com", "name": USER, "nickname": "jane" })
        );
        assert_eq!(a.headers["cache-control"], "no-store");
    }
    // The userinfo audience with `openid email`: the address, unverified.
    let tokens = server
        .tokens(USER, &jane.secret, None, "openid email")
        .await;
    let token = tokens.json["access_token"].as_str().unwrap();
    assert_eq!(payload(token)["aud"], "https://auth.example.com/userinfo");
    let a = server.bearer("GET", "/userinfo", token, None).await;
    assert_eq!(
        a.json,
        json!({ "sub": "auth0|jane@example.com", "email": USER, "email_verified": false })
    );
    // Without `openid`: 403 insufficient_scope.
    let tokens = server
        .tokens(
            USER,
            &jane.secret,
            Some(MFA_AUDIENCE),
            "read:authenticators",
        )
        .await;
    let a = server
        .bearer(
            "GET",
            "/userinfo",
            tokens.json["access_token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_error(
        &a,
        403,
        "insufficient_scope",
        "Insufficient scope, expected any of: openid",
    );
    // A bad token, an mfa_token, none at all.
    // One signature character changed (not the last, whose low bits are
    // padding).
    let mut forged = jane.access_token.clone().into_bytes();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [forged.as_str(), "not.a.jwt", jane.mfa_token.as_str()] {
        let a = server.bearer("GET", "/userinfo", bad, None).await;
        assert_error(&a, 401, "invalid_token", INVALID_TOKEN);
        assert!(
            a.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    let a = server.send("GET", "/userinfo", &[], Vec::new()).await;
    assert_error(&a, 401, "invalid_request", NO_BEARER);
    // Expired at exactly its exp.
    let exp = claims(&server, &jane.access_token).exp;
    server.set_time(exp);
    let a = server
        .bearer("GET", "/userinfo", &jane.access_token, None)
        .await;
    assert_error(&a, 401, "invalid_token", INVALID_TOKEN);
}

#[tokio::test]
async fn password_realm_is_the_password_grant_for_the_one_connection() {
    let server = Server::start(ConfigValues::default()).await;
    let jane = server.enroll(USER).await;
    // The default connection: the password grant's answer, an mfa_token
    // that the MFA grants take.
    let a = server
        .realm_login(USER, PASSWORD, Some("Username-Password-Authentication"))
        .await;
    assert_eq!(
        (a.status, &a.json["error"]),
        (403, &json!("mfa_required")),
        "{}",
        a.json
    );
    assert_eq!(
        a.json["mfa_requirements"],
        json!({ "challenge": [{ "type": "otp" }] })
    );
    server.set_time(server.now() + 30);
    let tokens = server
        .otp_grant(
            a.json["mfa_token"].as_str().unwrap(),
            &code(&jane.secret, server.now()),
        )
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.json);
    assert_eq!(tokens.json["scope"], "openid profile");
    server
        .verify_with_jwks(tokens.json["id_token"].as_str().unwrap())
        .await;

    // A wrong password: exactly the password grant's answer.
    let realm = server
        .realm_login(USER, "wrong", Some("Username-Password-Authentication"))
        .await;
    let plain = server
        .form(&[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("username", USER),
            ("password", "wrong"),
        ])
        .await;
    assert_eq!((realm.status, &realm.json), (plain.status, &plain.json));
    assert_eq!(realm.json["error"], "invalid_grant");

    // Unknown or missing realm: refused before anything is charged or stored.
    let before = (
        server.mfa_token_count().await,
        server.login_failure_rows().await,
    );
    for _ in 0..12 {
        let a = server.realm_login(USER, "wrong", Some("employees")).await;
        assert_error(&a, 400, "invalid_request", "connection not found");
    }
    let a = server.realm_login(USER, PASSWORD, None).await;
    assert_error(
        &a,
        400,
        "invalid_request",
        "Missing required parameter: realm",
    );
    assert_eq!(
        (
            server.mfa_token_count().await,
            server.login_failure_rows().await
        ),
        before
    );
    // The same throttle as the password grant: the pair blocks after the
    // configured failures whichever grant made them.
    let strict = server
        .sibling(ConfigValues {
            login_max_failures: Some(2),
            ..ConfigValues::default()
        })
        .await;
    let a = strict
        .realm_login("bob", "wrong", Some("Username-Password-Authentication"))
        .await;
    assert_eq!(a.json["error"], "invalid_grant", "{}", a.json);
    let a = strict
        .form(&[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("username", "bob"),
            ("password", "wrong"),
        ])
        .await;
    assert_eq!(a.json["error"], "invalid_grant", "{}", a.json);
    let a = strict
        .realm_login("bob", PASSWORD, Some("Username-Password-Authentication"))
        .await;
    assert_eq!(
        (a.status, &a.json["error"]),
        (429, &json!("too_many_attempts")),
        "{}",
        a.json
    );

    // A configured connection name replaces the default.
    let named = server
        .sibling(ConfigValues {
            connection: Some("employees".to_owned()),
            ..ConfigValues::default()
        })
        .await;
    let a = named.realm_login(USER, PASSWORD, Some("employees")).await;
    assert_eq!(a.json["error"], "mfa_required", "{}", a.json);
    let a = named
        .realm_login(USER, PASSWORD, Some("Username-Password-Authentication"))
        .await;
    assert_error(&a, 400, "invalid_request", "connection not found");
}
