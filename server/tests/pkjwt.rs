//! Private Key JWT (`client_assertion`) and DPoP, in process: the rule
//! table of each, case by case, on the mfa-otp grant with a code that
//! would be accepted, so that every refusal is also shown to change
//! nothing (the OTP authenticator's progress and attempts are the same,
//! and the same code then still works).
//!
//! Keys are generated here with aws-lc-rs (P-256) and ed25519-dalek;
//! assertions and proofs are signed with `jsonwebtoken`. The interop
//! tests with openid-client and joserfc against the binary are under
//! `tests/pkjwt/` (`scripts/pkjwt-test.sh`).

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

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::inproc::{Answer, TestClock, call, request};
use common::{CLIENT, CLIENT_SECRET, MFA_OTP, PASSWORD, USER, db_path, temp_dir};
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mfa_server::config::{ConfigValues, Settings};
use mfa_server::credentials::{StoredClientSecret, hash_password};
use mfa_server::db::Db;
use mfa_server::http::{App, router};
use mfa_server::jose::ClientKeys;
use serde_json::{Value, json};
use totp_engine::{MfaStore, Secret, Totp, TotpParams};

const T0: u64 = 2_000_000_010;
const ISSUER_URL: &str = "https://auth.example.com/";
const TOKEN_URL: &str = "https://auth.example.com/oauth/token";
const MFA_AUDIENCE: &str = "https://auth.example.com/mfa/";
const JWT_CLIENT: &str = "jwt-app";
const PUBLIC_CLIENT: &str = "public-app";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const SCOPES: &str = "openid enroll read:authenticators remove:authenticators";

static JTI: AtomicU64 = AtomicU64::new(0);

/// One refused assertion: name, assertion, extra body fields, description.
type Case = (
    &'static str,
    String,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

fn jti() -> String {
    format!(
        "jti-{}-{}",
        std::process::id(),
        JTI.fetch_add(1, Ordering::SeqCst)
    )
}

/// A signing key and its public JWK.
struct Key {
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

fn p256(kid: Option<&str>) -> Key {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    assert_eq!((point.len(), point[0]), (65, 4));
    let mut jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    });
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    Key {
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref()),
        jwk,
    }
}

fn ed25519(kid: &str) -> Key {
    let mut seed = [0u8; 32];
    aws_lc_rs::rand::fill(&mut seed).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    Key {
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(key.to_pkcs8_der().unwrap().as_bytes()),
        jwk: json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
            "kid": kid,
        }),
    }
}

/// A JWS of `claims` by `key`, with `kid` in the header if given.
fn sign(key: &Key, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// Good assertion claims of the JWT client at `now`.
fn claims(now: u64) -> Value {
    json!({
        "iss": JWT_CLIENT,
        "sub": JWT_CLIENT,
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 60,
        "jti": jti(),
    })
}

/// A DPoP proof by `key` for `htm` `htu` at `iat`, with `extra` claims.
fn proof(key: &Key, htm: &str, htu: &str, iat: u64, extra: Value) -> String {
    let mut header = Header::new(key.alg);
    header.typ = Some("dpop+jwt".to_owned());
    header.jwk = Some(serde_json::from_value(key.jwk.clone()).unwrap());
    let mut claims = json!({ "htm": htm, "htu": htu, "iat": iat, "jti": jti() });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
}

/// A JWS with a header and claims given as JSON and an arbitrary
/// signature: for the shapes no library signs (`alg` `none`, a private
/// `jwk`).
fn raw_jws(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn ath(token: &str) -> String {
    use sha2::Digest as _;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes()))
}

fn code(secret: &str, t: u64) -> String {
    let secret = Secret::from_base32(secret).unwrap();
    Totp::new(&secret, TotpParams::new())
        .generate(t)
        .unwrap()
        .as_str()
        .to_owned()
}

struct Server {
    app: Arc<App>,
    router: Router,
    time: Arc<AtomicU64>,
    /// The JWT client's keys: `ec1` (P-256) and `ed1` (Ed25519).
    ec1: Key,
    ed1: Key,
}

impl Server {
    async fn start(values: ConfigValues) -> Self {
        let dir = temp_dir("pkjwt");
        let db = Db::connect(&db_path(&dir), common::test_keyring())
            .await
            .unwrap();
        db.upsert_client(CLIENT, &StoredClientSecret::new(CLIENT_SECRET).unwrap(), T0)
            .await
            .unwrap();
        db.upsert_client(PUBLIC_CLIENT, &StoredClientSecret::Public, T0)
            .await
            .unwrap();
        let (ec1, ed1) = (p256(Some("ec1")), ed25519("ed1"));
        let set = json!({ "keys": [ec1.jwk, ed1.jwk] });
        let keys = ClientKeys::parse(&set.to_string()).unwrap();
        db.upsert_key_client(JWT_CLIENT, &keys, T0).await.unwrap();
        db.upsert_user(USER, &hash_password(PASSWORD).unwrap(), T0)
            .await
            .unwrap();
        let time = Arc::new(AtomicU64::new(T0));
        let settings = Settings::from_values(&ConfigValues {
            issuer: Some("ACME".to_owned()),
            issuer_url: Some(ISSUER_URL.parse().unwrap()),
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
            ec1,
            ed1,
        }
    }

    fn now(&self) -> u64 {
        self.time.load(Ordering::SeqCst)
    }

    async fn post(&self, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        call(
            &self.router,
            request("POST", "/oauth/token", &all, body.into_bytes()),
        )
        .await
    }

    /// The password grant of the JWT client, authenticated by `assertion`.
    async fn login(&self, assertion: &str, headers: &[(&str, &str)]) -> Answer {
        self.post(
            &[
                ("grant_type", "password"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion),
                ("username", USER),
                ("password", PASSWORD),
                ("audience", MFA_AUDIENCE),
                ("scope", SCOPES),
            ],
            headers,
        )
        .await
    }

    /// Enrolls the user (through the secret client); returns the secret.
    async fn enroll(&self) -> String {
        let a = self
            .post(
                &[
                    ("grant_type", "password"),
                    ("client_id", CLIENT),
                    ("client_secret", CLIENT_SECRET),
                    ("username", USER),
                    ("password", PASSWORD),
                    ("audience", MFA_AUDIENCE),
                    ("scope", SCOPES),
                ],
                &[],
            )
            .await;
        let mfa_token = a.json["mfa_token"].as_str().unwrap().to_owned();
        let auth = format!("Bearer {mfa_token}");
        let a = call(
            &self.router,
            request(
                "POST",
                "/mfa/associate",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                br#"{"authenticator_types":["otp"]}"#.to_vec(),
            ),
        )
        .await;
        let secret = a.json["secret"].as_str().unwrap().to_owned();
        let confirm = self
            .post(
                &[
                    ("grant_type", MFA_OTP),
                    ("client_id", CLIENT),
                    ("client_secret", CLIENT_SECRET),
                    ("mfa_token", &mfa_token),
                    ("otp", &code(&secret, self.now())),
                ],
                &[],
            )
            .await;
        assert_eq!(confirm.status, 200, "{}", confirm.json);
        // The next test step must be a new time step.
        self.time.fetch_add(30, Ordering::SeqCst);
        secret
    }

    /// An mfa_token of the JWT client (password grant with an assertion).
    async fn jwt_mfa_token(&self) -> String {
        let a = self
            .login(&sign(&self.ec1, Some("ec1"), &claims(self.now())), &[])
            .await;
        assert_eq!(
            (a.status, a.json["error"].as_str()),
            (403, Some("mfa_required")),
            "{}",
            a.json
        );
        a.json["mfa_token"].as_str().unwrap().to_owned()
    }

    /// The mfa-otp grant of the JWT client with `assertion` (and `extra`
    /// fields, and `headers`).
    async fn otp(
        &self,
        mfa_token: &str,
        otp: &str,
        assertion: &str,
        extra: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut fields = vec![
            ("grant_type", MFA_OTP),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
            ("mfa_token", mfa_token),
            ("otp", otp),
        ];
        fields.extend_from_slice(extra);
        self.post(&fields, headers).await
    }

    /// What a refused request must not change: the OTP authenticator.
    async fn state(&self) -> impl PartialEq + std::fmt::Debug {
        let auths = self
            .app
            .mfa()
            .store()
            .load(&format!("auth0|{USER}"))
            .await
            .unwrap();
        auths.otp.map(|o| (o.id, o.progress, o.attempts))
    }

    /// The stored refresh tokens: (hash, used_at, dpop_jkt).
    async fn refresh_rows(&self) -> Vec<(Vec<u8>, Option<i64>, Option<String>)> {
        sqlx::query_as(
            "SELECT token_hash, used_at, dpop_jkt FROM refresh_tokens ORDER BY token_hash",
        )
        .fetch_all(&self.app.db().pool)
        .await
        .unwrap()
    }

    /// The refresh_token grant of the public client, with `proof`.
    async fn refresh(&self, token: &str, proof: Option<&str>) -> Answer {
        let headers: Vec<(&str, &str)> = proof.map(|p| ("dpop", p)).into_iter().collect();
        self.post(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", PUBLIC_CLIENT),
                ("refresh_token", token),
            ],
            &headers,
        )
        .await
    }

    async fn resource(&self, auth: &str, proof: Option<&str>) -> Answer {
        let mut headers = vec![("authorization", auth)];
        if let Some(p) = proof {
            headers.push(("dpop", p));
        }
        call(
            &self.router,
            request("GET", "/mfa/authenticators", &headers, Vec::new()),
        )
        .await
    }
}

/// Every rule of the assertion, refused with its own description on the
/// mfa-otp grant with the right code; nothing changes; the same code then
/// works with a good assertion.
#[tokio::test]
async fn client_assertion_rule_table_changes_nothing() {
    let s = Server::start(ConfigValues::default()).await;
    let secret = s.enroll().await;
    let mfa_token = s.jwt_mfa_token().await;
    let now = s.now();
    let otp = code(&secret, now);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(now);
        f(&mut c);
        c
    };
    let ec = &s.ec1;
    let spent = sign(ec, Some("ec1"), &claims(now));
    let first = s.login(&spent, &[]).await;
    assert_eq!(first.status, 403, "{}", first.json);
    let hs256_with_public_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(now),
        &EncodingKey::from_secret(ec.jwk.to_string().as_bytes()),
    )
    .unwrap();
    let tampered = {
        let good = sign(ec, Some("ec1"), &claims(now));
        let mut parts: Vec<&str> = good.split('.').collect();
        let edited = URL_SAFE_NO_PAD.encode(claims(now).to_string());
        parts[1] = &edited;
        parts.join(".")
    };
    let big = sign(
        ec,
        Some("ec1"),
        &with(&|c| c["pad"] = json!("x".repeat(8200))),
    );
    let other_key = p256(Some("ec1"));
    let cases: Vec<Case> = vec![
        (
            "wrong aud",
            sign(
                ec,
                Some("ec1"),
                &with(&|c| c["aud"] = json!("https://evil.example.com/")),
            ),
            vec![],
            "client_assertion aud must contain the issuer URL (https://auth.example.com/) or the token endpoint URL (https://auth.example.com/oauth/token)",
        ),
        (
            "expired",
            sign(
                ec,
                Some("ec1"),
                &with(&|c| {
                    c["iat"] = json!(now - 120);
                    c["exp"] = json!(now - 1);
                }),
            ),
            vec![],
            "client_assertion has expired (exp)",
        ),
        (
            "expires now",
            sign(
                ec,
                Some("ec1"),
                &with(&|c| {
                    c["iat"] = json!(now - 60);
                    c["exp"] = json!(now);
                }),
            ),
            vec![],
            "client_assertion has expired (exp)",
        ),
        (
            "lifetime too long",
            sign(ec, Some("ec1"), &with(&|c| c["exp"] = json!(now + 301))),
            vec![],
            "client_assertion lifetime exceeds 300 seconds (exp - iat, or exp - now)",
        ),
        (
            "lifetime too long without iat",
            sign(
                ec,
                Some("ec1"),
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("iat");
                    c["exp"] = json!(now + 301);
                }),
            ),
            vec![],
            "client_assertion lifetime exceeds 300 seconds (exp - iat, or exp - now)",
        ),
        (
            "exp missing",
            sign(
                ec,
                Some("ec1"),
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
            vec![],
            "client_assertion exp is missing",
        ),
        (
            "iat in the future",
            sign(
                ec,
                Some("ec1"),
                &with(&|c| {
                    c["iat"] = json!(now + 61);
                    c["exp"] = json!(now + 120);
                }),
            ),
            vec![],
            "client_assertion iat is in the future (more than 60 s)",
        ),
        (
            "nbf in the future",
            sign(ec, Some("ec1"), &with(&|c| c["nbf"] = json!(now + 61))),
            vec![],
            "client_assertion nbf is in the future (more than 60 s)",
        ),
        (
            "iss differs from sub",
            sign(ec, Some("ec1"), &with(&|c| c["iss"] = json!(CLIENT))),
            vec![],
            "client_assertion iss and sub must both be the client_id",
        ),
        (
            "sub differs from body client_id",
            sign(ec, Some("ec1"), &claims(now)),
            vec![("client_id", CLIENT)],
            "client_assertion sub does not match client_id",
        ),
        (
            "jti missing",
            sign(
                ec,
                Some("ec1"),
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
            ),
            vec![],
            "client_assertion jti is missing",
        ),
        (
            "jti used before",
            spent.clone(),
            vec![],
            "client_assertion jti has already been used",
        ),
        (
            "unknown kid",
            sign(ec, Some("nope"), &claims(now)),
            vec![],
            "client_assertion kid names none of the client's keys",
        ),
        (
            "kid of a key of another type",
            sign(ec, Some("ed1"), &claims(now)),
            vec![],
            "client_assertion kid names a key that does not fit its alg",
        ),
        (
            "signed by another key",
            sign(&other_key, Some("ec1"), &claims(now)),
            vec![],
            "client_assertion signature does not verify with the client's keys",
        ),
        (
            "tampered payload",
            tampered,
            vec![],
            "client_assertion signature does not verify with the client's keys",
        ),
        (
            "alg none",
            raw_jws(&json!({"alg": "none"}), &claims(now), ""),
            vec![],
            "client_assertion alg must be one of RS256 RS384 RS512 PS256 ES256 ES384 EdDSA (never none or HMAC)",
        ),
        (
            "HS256 with the public key",
            hs256_with_public_key,
            vec![],
            "client_assertion alg must be one of RS256 RS384 RS512 PS256 ES256 ES384 EdDSA (never none or HMAC)",
        ),
        (
            "not a JWT",
            "not-a-jwt".to_owned(),
            vec![],
            "client_assertion is not a signed JWT (JWS compact serialization)",
        ),
        (
            "over 8 KiB",
            big,
            vec![],
            "client_assertion exceeds 8192 bytes",
        ),
    ];
    let before = s.state().await;
    for (name, assertion, extra, description) in &cases {
        let a = s.otp(&mfa_token, &otp, assertion, extra, &[]).await;
        assert_eq!(
            a.error(),
            (401, Some("invalid_client"), Some(*description)),
            "{name}"
        );
        assert_eq!(s.state().await, before, "{name}: state changed");
    }
    // A wrong assertion type, and a secret client's assertion.
    let a = s
        .post(
            &[
                ("grant_type", MFA_OTP),
                ("client_assertion_type", "urn:example:other"),
                ("client_assertion", &sign(ec, Some("ec1"), &claims(now))),
                ("mfa_token", &mfa_token),
                ("otp", &otp),
            ],
            &[],
        )
        .await;
    assert_eq!(
        a.error(),
        (
            401,
            Some("invalid_client"),
            Some(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            )
        )
    );
    let mut as_secret_client = claims(now);
    as_secret_client["iss"] = json!(CLIENT);
    as_secret_client["sub"] = json!(CLIENT);
    let a = s
        .otp(
            &mfa_token,
            &otp,
            &sign(ec, Some("ec1"), &as_secret_client),
            &[],
            &[],
        )
        .await;
    assert_eq!(
        a.error(),
        (
            401,
            Some("invalid_client"),
            Some(
                "client_assertion: unknown client, or a client that does not authenticate with private_key_jwt"
            )
        )
    );
    // The JWT client cannot use a secret, nor go without credentials.
    for fields in [
        vec![("client_id", JWT_CLIENT), ("client_secret", CLIENT_SECRET)],
        vec![("client_id", JWT_CLIENT)],
    ] {
        let mut all = vec![
            ("grant_type", MFA_OTP),
            ("mfa_token", mfa_token.as_str()),
            ("otp", otp.as_str()),
        ];
        all.extend(fields);
        let a = s.post(&all, &[]).await;
        assert_eq!(
            (a.status, a.json["error"].as_str()),
            (401, Some("invalid_client")),
            "{}",
            a.json
        );
    }
    assert_eq!(s.state().await, before);
    // Within the leeway, without kid (the set has two keys: the one whose
    // type fits is tried), and with the body's client_id: accepted, once.
    let mut good = claims(now);
    good["iat"] = json!(now + 30);
    good["exp"] = json!(now + 90);
    good["nbf"] = json!(now + 30);
    good["aud"] = json!(["https://other.example.com/", ISSUER_URL]);
    let a = s
        .otp(
            &mfa_token,
            &otp,
            &sign(ec, None, &good),
            &[("client_id", JWT_CLIENT)],
            &[],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["token_type"], "Bearer");
    assert_ne!(s.state().await, before);
}

/// EdDSA by kid and without, on the password grant and /mfa/challenge;
/// the jti is single-use across endpoints.
#[tokio::test]
async fn eddsa_assertion_on_every_endpoint() {
    let s = Server::start(ConfigValues::default()).await;
    s.enroll().await;
    let now = s.now();
    let first = sign(&s.ed1, None, &claims(now));
    let a = s.login(&first, &[]).await;
    assert_eq!(a.status, 403, "{}", a.json);
    let mfa_token = a.json["mfa_token"].as_str().unwrap();
    let challenge = |assertion: String| {
        let body = json!({
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "mfa_token": mfa_token,
            "challenge_type": "otp",
        });
        call(
            &s.router,
            request(
                "POST",
                "/mfa/challenge",
                &[("content-type", "application/json")],
                body.to_string().into_bytes(),
            ),
        )
    };
    let mut c = claims(now);
    c["aud"] = json!("https://auth.example.com/mfa/challenge");
    let a = challenge(sign(&s.ed1, Some("ed1"), &c)).await;
    assert_eq!(
        (a.status, &a.json["challenge_type"]),
        (200, &json!("otp")),
        "{}",
        a.json
    );
    let a = challenge(first).await;
    assert_eq!(
        a.error(),
        (
            401,
            Some("invalid_client"),
            Some("client_assertion jti has already been used")
        )
    );
}

/// Discovery advertises private_key_jwt and the algorithms.
#[tokio::test]
async fn discovery_advertises_private_key_jwt_and_dpop() {
    let s = Server::start(ConfigValues::default()).await;
    let a = call(
        &s.router,
        request("GET", "/.well-known/openid-configuration", &[], Vec::new()),
    )
    .await;
    let algs = json!([
        "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"
    ]);
    assert!(
        a.json["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    assert_eq!(
        a.json["token_endpoint_auth_signing_alg_values_supported"],
        algs
    );
    assert_eq!(a.json["dpop_signing_alg_values_supported"], algs);
}

/// The DPoP proof's rules at the token endpoint, each a 400
/// invalid_dpop_proof that changes nothing; then a bound token, and the
/// resource rules.
#[tokio::test]
async fn dpop_rule_table_and_bound_tokens() {
    let s = Server::start(ConfigValues::default()).await;
    let secret = s.enroll().await;
    let mfa_token = s.jwt_mfa_token().await;
    let now = s.now();
    let otp = code(&secret, now);
    let key = p256(None);
    let spent = proof(&key, "POST", TOKEN_URL, now, json!({}));
    let a = s
        .login(
            &sign(&s.ec1, Some("ec1"), &claims(now)),
            &[("dpop", &spent)],
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.json);
    let mut private_jwk = key.jwk.clone();
    private_jwk["d"] = json!("AAAA");
    let hs = jsonwebtoken::encode(
        &{
            let mut h = Header::new(Algorithm::HS256);
            h.typ = Some("dpop+jwt".to_owned());
            h
        },
        &json!({"htm": "POST", "htu": TOKEN_URL, "iat": now, "jti": jti()}),
        &EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    let no_typ = {
        let mut h = Header::new(Algorithm::ES256);
        h.jwk = Some(serde_json::from_value(key.jwk.clone()).unwrap());
        jsonwebtoken::encode(
            &h,
            &json!({"htm": "POST", "htu": TOKEN_URL, "iat": now, "jti": jti()}),
            &key.encoding,
        )
        .unwrap()
    };
    let other = p256(None);
    let forged = {
        // Signed by `other`, carrying `key`'s jwk.
        let mut h = Header::new(Algorithm::ES256);
        h.typ = Some("dpop+jwt".to_owned());
        h.jwk = Some(serde_json::from_value(key.jwk.clone()).unwrap());
        jsonwebtoken::encode(
            &h,
            &json!({"htm": "POST", "htu": TOKEN_URL, "iat": now, "jti": jti()}),
            &other.encoding,
        )
        .unwrap()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "another URL",
            proof(
                &key,
                "POST",
                "https://auth.example.com/mfa/challenge",
                now,
                json!({}),
            ),
            "DPoP proof htu must be https://auth.example.com/oauth/token",
        ),
        (
            "another method",
            proof(&key, "GET", TOKEN_URL, now, json!({})),
            "DPoP proof htm must be POST",
        ),
        (
            "reused",
            spent.clone(),
            "DPoP proof jti has already been used",
        ),
        (
            "too old",
            proof(&key, "POST", TOKEN_URL, now - 301, json!({})),
            "DPoP proof iat must be within 300 seconds of the server's time",
        ),
        (
            "from the future",
            proof(&key, "POST", TOKEN_URL, now + 301, json!({})),
            "DPoP proof iat must be within 300 seconds of the server's time",
        ),
        ("no typ", no_typ, "DPoP proof typ must be dpop+jwt"),
        (
            "HS256",
            hs,
            "DPoP proof alg must be one of RS256 RS384 RS512 PS256 ES256 ES384 EdDSA (never none or HMAC)",
        ),
        (
            "alg none",
            raw_jws(
                &json!({"alg": "none", "typ": "dpop+jwt", "jwk": key.jwk}),
                &json!({"htm": "POST", "htu": TOKEN_URL, "iat": now, "jti": jti()}),
                "",
            ),
            "DPoP proof alg must be one of RS256 RS384 RS512 PS256 ES256 ES384 EdDSA (never none or HMAC)",
        ),
        (
            "private jwk",
            raw_jws(
                &json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": private_jwk}),
                &json!({"htm": "POST", "htu": TOKEN_URL, "iat": now, "jti": jti()}),
                "AAAA",
            ),
            "DPoP proof: the jwk header holds private or symmetric key material (member d): give public keys only",
        ),
        (
            "signed by another key",
            forged,
            "DPoP proof signature does not verify with its jwk",
        ),
    ];
    let before = s.state().await;
    for (name, p, description) in &cases {
        let a = s
            .otp(
                &mfa_token,
                &otp,
                &sign(&s.ec1, Some("ec1"), &claims(now)),
                &[],
                &[("dpop", p)],
            )
            .await;
        assert_eq!(
            a.error(),
            (400, Some("invalid_dpop_proof"), Some(*description)),
            "{name}"
        );
        assert_eq!(s.state().await, before, "{name}: state changed");
    }
    // A good proof (query and fragment of htu ignored): a DPoP token.
    let p = proof(&key, "POST", &format!("{TOKEN_URL}?x=1#f"), now, json!({}));
    let a = s
        .otp(
            &mfa_token,
            &otp,
            &sign(&s.ec1, Some("ec1"), &claims(now)),
            &[],
            &[("dpop", &p)],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["token_type"], "DPoP");
    let token = a.json["access_token"].as_str().unwrap().to_owned();
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let thumbprint = {
        use sha2::Digest as _;
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            key.jwk["x"].as_str().unwrap(),
            key.jwk["y"].as_str().unwrap()
        );
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
    };
    assert_eq!(payload["cnf"]["jkt"], json!(thumbprint));
    // At the resource.
    let url = "https://auth.example.com/mfa/authenticators";
    let dpop = format!("DPoP {token}");
    let bearer = format!("Bearer {token}");
    let good = || proof(&key, "GET", url, now, json!({ "ath": ath(&token) }));
    let a = s.resource(&bearer, None).await;
    assert_eq!(
        a.error(),
        (
            401,
            Some("invalid_token"),
            Some(
                "This access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof"
            )
        )
    );
    assert!(
        a.header("www-authenticate")
            .unwrap()
            .starts_with("DPoP error=\"invalid_token\"")
    );
    let a = s.resource(&bearer, Some(&good())).await;
    assert_eq!(a.status, 401, "a bound token as Bearer, even with a proof");
    let a = s.resource(&dpop, None).await;
    assert_eq!(
        a.error(),
        (
            401,
            Some("invalid_dpop_proof"),
            Some("A DPoP proof is required")
        )
    );
    let resource_cases: Vec<(&str, String, &str)> = vec![
        (
            "no ath",
            proof(&key, "GET", url, now, json!({})),
            "DPoP proof ath must be the base64url SHA-256 of the access token",
        ),
        (
            "another key",
            proof(&other, "GET", url, now, json!({ "ath": ath(&token) })),
            "DPoP proof key does not match the token's cnf.jkt",
        ),
        (
            "another method",
            proof(&key, "DELETE", url, now, json!({ "ath": ath(&token) })),
            "DPoP proof htm must be GET",
        ),
        (
            "another URL",
            proof(
                &key,
                "GET",
                "https://auth.example.com/userinfo",
                now,
                json!({ "ath": ath(&token) }),
            ),
            "DPoP proof htu must be https://auth.example.com/mfa/authenticators",
        ),
    ];
    for (name, p, description) in &resource_cases {
        let a = s.resource(&dpop, Some(p)).await;
        assert_eq!(
            a.error(),
            (401, Some("invalid_dpop_proof"), Some(*description)),
            "{name}"
        );
        assert_eq!(
            a.header("www-authenticate"),
            Some(
                "DPoP error=\"invalid_dpop_proof\", algs=\"RS256 RS384 RS512 PS256 ES256 ES384 EdDSA\""
            ),
            "{name}"
        );
    }
    let p = good();
    let a = s.resource(&dpop, Some(&p)).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json.as_array().unwrap().len(), 2);
    let a = s.resource(&dpop, Some(&p)).await;
    assert_eq!(
        a.error(),
        (
            401,
            Some("invalid_dpop_proof"),
            Some("DPoP proof jti has already been used")
        )
    );
}

/// An unbound token sent with the DPoP scheme is refused; with nonces on,
/// a proof without one is answered use_dpop_nonce and a fresh nonce.
#[tokio::test]
async fn dpop_scheme_for_unbound_tokens_and_nonces() {
    let s = Server::start(ConfigValues {
        dpop_nonce_secs: Some(60),
        ..ConfigValues::default()
    })
    .await;
    let secret = s.enroll().await;
    let mfa_token = s.jwt_mfa_token().await;
    let now = s.now();
    let otp = code(&secret, now);
    let key = ed25519("dpop");
    let before = s.state().await;
    let p = proof(&key, "POST", TOKEN_URL, now, json!({}));
    let a = s
        .otp(
            &mfa_token,
            &otp,
            &sign(&s.ec1, Some("ec1"), &claims(now)),
            &[],
            &[("dpop", &p)],
        )
        .await;
    assert_eq!(
        a.error(),
        (
            400,
            Some("use_dpop_nonce"),
            Some("Authorization server requires nonce in DPoP proof")
        )
    );
    let nonce = a.header("dpop-nonce").unwrap().to_owned();
    assert_eq!(s.state().await, before);
    let stale = proof(
        &key,
        "POST",
        TOKEN_URL,
        now,
        json!({ "nonce": "bm90LWEtbm9uY2U" }),
    );
    let a = s
        .otp(
            &mfa_token,
            &otp,
            &sign(&s.ec1, Some("ec1"), &claims(now)),
            &[],
            &[("dpop", &stale)],
        )
        .await;
    assert_eq!(a.json["error"], "use_dpop_nonce");
    let p = proof(&key, "POST", TOKEN_URL, now, json!({ "nonce": nonce }));
    let a = s
        .otp(
            &mfa_token,
            &otp,
            &sign(&s.ec1, Some("ec1"), &claims(now)),
            &[],
            &[("dpop", &p)],
        )
        .await;
    assert_eq!(
        (a.status, &a.json["token_type"]),
        (200, &json!("DPoP")),
        "{}",
        a.json
    );
    assert!(a.header("dpop-nonce").is_some());
    // A nonce older than --dpop-nonce-secs is refused.
    s.time.fetch_add(61, Ordering::SeqCst);
    let later = s.now();
    let mfa_token = s.jwt_mfa_token().await;
    let p = proof(&key, "POST", TOKEN_URL, later, json!({ "nonce": nonce }));
    let a = s
        .otp(
            &mfa_token,
            &code(&secret, later),
            &sign(&s.ec1, Some("ec1"), &claims(later)),
            &[],
            &[("dpop", &p)],
        )
        .await;
    assert_eq!(a.json["error"], "use_dpop_nonce");
    // An unbound (Bearer) token: the DPoP scheme is refused.
    let a = s
        .otp(
            &mfa_token,
            &code(&secret, later),
            &sign(&s.ec1, Some("ec1"), &claims(later)),
            &[],
            &[],
        )
        .await;
    assert_eq!(
        (a.status, &a.json["token_type"]),
        (200, &json!("Bearer")),
        "{}",
        a.json
    );
    let token = a.json["access_token"].as_str().unwrap();
    let a = s.resource(&format!("DPoP {token}"), None).await;
    assert_eq!(
        a.error(),
        (
            401,
            Some("invalid_token"),
            Some("This access token is not DPoP-bound: send it as Authorization: Bearer")
        )
    );
    let a = s.resource(&format!("Bearer {token}"), None).await;
    assert_eq!(a.status, 200, "{}", a.json);
}

/// `add-client --jwks` / `--public-key` through the binary: private keys
/// are refused, a PEM key works, a new set replaces the keys, a secret
/// client becomes a key client and back.
#[test]
fn add_client_with_keys() {
    let dir = temp_dir("pkjwt-cli");
    let db = db_path(&dir);
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let key = p256(Some("a"));
    let mut private = key.jwk.clone();
    private["d"] = json!("AAAA");
    let bad = write("private.json", &json!({ "keys": [private] }).to_string());
    let (ok, out) = common::cli(&["add-client", "k-app", "--db", &db, "--jwks", &bad], "");
    assert!(!ok);
    assert!(
        out.contains(
            "key 0: holds private or symmetric key material (member d): give public keys only"
        ),
        "{out}"
    );
    let oct = write("oct.json", r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#);
    let (ok, out) = common::cli(&["add-client", "k-app", "--db", &db, "--jwks", &oct], "");
    assert!(!ok && out.contains("member k"), "{out}");
    let pem_private = write(
        "private.pem",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
    );
    let (ok, out) = common::cli(
        &[
            "add-client",
            "k-app",
            "--db",
            &db,
            "--public-key",
            &pem_private,
        ],
        "",
    );
    assert!(
        !ok && out.contains("this is a private key: give the public key only"),
        "{out}"
    );
    let good = write(
        "set.json",
        &json!({ "keys": [key.jwk, ed25519("b").jwk] }).to_string(),
    );
    let (ok, out) = common::cli(&["add-client", "k-app", "--db", &db, "--jwks", &good], "");
    assert!(ok, "{out}");
    assert!(
        out.contains("client k-app saved (private_key_jwt, 2 key(s))"),
        "{out}"
    );
    // An Ed25519 SPKI PEM (RFC 8410 §10.1's example key).
    let pem = write(
        "ed.pem",
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
    );
    let (ok, out) = common::cli(
        &["add-client", "k-app", "--db", &db, "--public-key", &pem],
        "",
    );
    assert!(ok && out.contains("1 key(s)"), "{out}");
    let (ok, out) = common::cli(
        &[
            "add-client",
            "k-app",
            "--db",
            &db,
            "--public",
            "--jwks",
            &good,
        ],
        "",
    );
    assert!(!ok, "{out}");
}

/// A public client's refresh token issued with a DPoP proof is bound to
/// its key: refused (changing nothing) without a proof or with another
/// key's, accepted with a proof by the same key, and the rotated one stays
/// bound. A confidential client's refresh token is not bound to the key.
#[tokio::test]
async fn dpop_binds_a_public_clients_refresh_tokens() {
    let s = Server::start(ConfigValues::default()).await;
    let secret = s.enroll().await;
    let key = p256(None);
    let now = s.now();
    let a = s
        .post(
            &[
                ("grant_type", "password"),
                ("client_id", PUBLIC_CLIENT),
                ("username", USER),
                ("password", PASSWORD),
                ("scope", "openid offline_access"),
            ],
            &[],
        )
        .await;
    let mfa_token = a.json["mfa_token"].as_str().unwrap().to_owned();
    let p = proof(&key, "POST", TOKEN_URL, now, json!({}));
    let a = s
        .post(
            &[
                ("grant_type", MFA_OTP),
                ("client_id", PUBLIC_CLIENT),
                ("mfa_token", &mfa_token),
                ("otp", &code(&secret, now)),
            ],
            &[("dpop", &p)],
        )
        .await;
    assert_eq!(
        (a.status, &a.json["token_type"]),
        (200, &json!("DPoP")),
        "{}",
        a.json
    );
    let refresh = a.json["refresh_token"].as_str().unwrap().to_owned();
    let before = s.refresh_rows().await;
    assert_eq!(before.len(), 1);
    assert!(before[0].2.is_some(), "the family is bound");
    let a = s.refresh(&refresh, None).await;
    assert_eq!(
        a.error(),
        (
            400,
            Some("invalid_dpop_proof"),
            Some("This refresh token is DPoP-bound: send a DPoP proof by its key")
        )
    );
    let other = p256(None);
    let a = s
        .refresh(
            &refresh,
            Some(&proof(&other, "POST", TOKEN_URL, now, json!({}))),
        )
        .await;
    assert_eq!(
        a.error(),
        (
            400,
            Some("invalid_dpop_proof"),
            Some("DPoP proof key does not match the refresh token's binding")
        )
    );
    assert_eq!(
        s.refresh_rows().await,
        before,
        "a refused refresh changes nothing"
    );
    let a = s
        .refresh(
            &refresh,
            Some(&proof(&key, "POST", TOKEN_URL, now, json!({}))),
        )
        .await;
    assert_eq!(
        (a.status, &a.json["token_type"]),
        (200, &json!("DPoP")),
        "{}",
        a.json
    );
    let after = s.refresh_rows().await;
    assert_eq!(after.len(), 2);
    assert!(
        after.iter().all(|r| r.2 == before[0].2),
        "the rotated token stays bound"
    );
    // A confidential client with a proof: the access token is bound, the
    // refresh family is not.
    s.time.fetch_add(30, Ordering::SeqCst);
    let now = s.now();
    let a = s
        .post(
            &[
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("client_secret", CLIENT_SECRET),
                ("username", USER),
                ("password", PASSWORD),
                ("scope", "openid offline_access"),
            ],
            &[],
        )
        .await;
    let mfa_token = a.json["mfa_token"].as_str().unwrap().to_owned();
    let p = proof(&key, "POST", TOKEN_URL, now, json!({}));
    let a = s
        .post(
            &[
                ("grant_type", MFA_OTP),
                ("client_id", CLIENT),
                ("client_secret", CLIENT_SECRET),
                ("mfa_token", &mfa_token),
                ("otp", &code(&secret, now)),
            ],
            &[("dpop", &p)],
        )
        .await;
    assert_eq!(
        (a.status, &a.json["token_type"]),
        (200, &json!("DPoP")),
        "{}",
        a.json
    );
    let unbound: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE dpop_jkt IS NULL")
            .fetch_one(&s.app.db().pool)
            .await
            .unwrap();
    assert_eq!(unbound, 1);
}
