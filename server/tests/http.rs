//! End-to-end tests of the `mfa-server` binary over HTTP on loopback, with a
//! fresh SQLite file per test and oathtool computing the codes: only what
//! needs a real process. The seed's walkthrough against the binary, replay
//! across two processes, 50 concurrent requests, and the command line
//! (flags, environment, config file). Request shapes, the error table and
//! everything that depends on time run in-process in `router.rs`.

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

use common::*;
use serde_json::{Value, json};

fn assert_error(
    status: u16,
    body: &Value,
    want_status: u16,
    error: &str,
    description: Option<&str>,
) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    if let Some(d) = description {
        assert_eq!(body["error_description"], d, "{body}");
    }
}

/// Verifies a JWT against the server's JWKS and returns its claims.
async fn verify_jwt(http: &reqwest::Client, server: &Server, token: &str) -> Value {
    let jwks: Value = http
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    assert_eq!(key["use"], "sig");
    // RS256 by default (`--signing-alg EdDSA` publishes an OKP key).
    let (decoding, alg) = match (key["kty"].as_str(), key["alg"].as_str()) {
        (Some("RSA"), Some("RS256")) => (
            jsonwebtoken::DecodingKey::from_rsa_components(
                key["n"].as_str().unwrap(),
                key["e"].as_str().unwrap(),
            )
            .unwrap(),
            jsonwebtoken::Algorithm::RS256,
        ),
        (Some("OKP"), Some("EdDSA")) => {
            assert_eq!(key["crv"], "Ed25519");
            (
                jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap(),
                jsonwebtoken::Algorithm::EdDSA,
            )
        }
        _ => panic!("unexpected JWK {key}"),
    };
    assert_eq!(header.alg, alg);
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.validate_aud = false;
    validation.set_issuer(&[ISSUER_URL]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn seed_guide_walkthrough() {
    let dir = temp_dir("seed");
    let db = db_path(&dir);
    provision(&db);
    let server = Server::start(&db, &[]);
    let http = client();

    // Password grant: 403 mfa_required, enroll requirement.
    let (token, body) = password_grant(&http, &server).await;
    assert_eq!(
        body["error_description"],
        "Multifactor authentication required"
    );
    assert_eq!(
        body["mfa_requirements"],
        json!({ "enroll": [{ "type": "otp" }] })
    );
    assert!(
        token.len() >= 22
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );

    // POST /mfa/associate exactly as the seed's curl does.
    let (status, a) = associate(&http, &server, &token).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["authenticator_type"], "otp");
    let secret = a["secret"].as_str().unwrap().to_owned();
    let uri = a["barcode_uri"].as_str().unwrap();
    assert_eq!(
        uri,
        format!(
            "otpauth://totp/ACME:jane%40example.com?secret={secret}&issuer=ACME&algorithm=SHA1&digits=6&period=30"
        )
    );
    let recovery = a["recovery_codes"][0].as_str().unwrap().to_owned();
    assert_eq!(recovery.len(), 24);
    assert!(
        recovery
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );

    // GET /mfa/authenticators: both inactive until confirmed.
    let list: Value = http
        .get(server.url("/mfa/authenticators"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|a| a["active"] == false)
    );

    // Confirm with the mfa-otp grant (the seed's form-encoded curl).
    let t = unix_now();
    let (status, tokens) = otp_grant(&http, &server, &token, &oathtool(&secret, t)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 86_400);
    assert_eq!(tokens["scope"], "openid profile");
    let access = verify_jwt(&http, &server, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(access["sub"], "auth0|jane@example.com");
    assert_eq!(access["amr"], json!(["pwd", "otp"]));
    assert_eq!(access["scope"], "openid profile");
    for claim in ["iss", "sub", "aud", "iat", "exp"] {
        assert!(!access[claim].is_null(), "{claim} missing from {access}");
    }
    let id_token = verify_jwt(&http, &server, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(id_token["aud"], CLIENT);

    // That access token is for the default audience (the userinfo one),
    // not the MFA API: the MFA API refuses it.
    assert_eq!(access["aud"], format!("{ISSUER_URL}userinfo"));
    let r = http
        .get(server.url("/mfa/authenticators"))
        .header(
            "authorization",
            format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(r).await;
    assert_error(status, &body, 401, "invalid_token", None);

    // The list (with the mfa_token, as the seed does) now shows both
    // active, in the seed's shape, with Auth0's `type` beside
    // `authenticator_type`.
    let list: Value = http
        .get(server.url("/mfa/authenticators"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap().clone();
    assert_eq!(list[0]["authenticator_type"], "recovery-code");
    assert_eq!(list[1]["authenticator_type"], "otp");
    assert_eq!(
        (&list[0]["type"], &list[1]["type"]),
        (&json!("recovery-code"), &json!("otp"))
    );
    assert!(list.iter().all(|a| a["active"] == true));
    let otp_id = list[1]["id"].as_str().unwrap().to_owned();
    assert!(otp_id.starts_with("totp|dev_") && otp_id.len() == 25);
    assert!(
        list[0]["id"]
            .as_str()
            .unwrap()
            .starts_with("recovery-code|dev_")
    );

    // Later login: password → challenge requirement → POST /mfa/challenge as the seed's curl
    // (a JSON body with no content-type header, so curl labels it form-encoded) → mfa-otp.
    let (token2, body) = password_grant(&http, &server).await;
    assert_eq!(
        body["mfa_requirements"],
        json!({ "challenge": [{ "type": "otp" }] })
    );
    let challenge_body = format!(
        r#"{{ "client_id": "{CLIENT}", "challenge_type": "otp", "mfa_token": "{token2}", "authenticator_id" : "{otp_id}" }}"#
    );
    let r = http
        .post(server.url("/mfa/challenge"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(challenge_body.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!((status, body), (200, json!({ "challenge_type": "otp" })));
    let r = http
        .post(server.url("/mfa/challenge"))
        .body(challenge_body)
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(r).await.0, 200, "no content-type at all");
    let (status, body) = otp_grant(&http, &server, &token2, &oathtool(&secret, t + 30)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("id_token").is_some());

    // Recovery code: works once, returns its replacement.
    let (token3, _) = password_grant(&http, &server).await;
    let recover = |code: String, tok: String| {
        let http = http.clone();
        let url = server.url("/oauth/token");
        async move {
            form(
                &http,
                &url,
                &[
                    ("grant_type", MFA_RECOVERY),
                    ("client_id", CLIENT),
                    ("client_secret", CLIENT_SECRET),
                    ("mfa_token", &tok),
                    ("recovery_code", &code),
                ],
            )
            .await
        }
    };
    let (status, body) = recover(recovery.clone(), token3.clone()).await;
    assert_eq!(status, 200, "{body}");
    let new_code = body["recovery_code"].as_str().unwrap().to_owned();
    assert_ne!(new_code, recovery);
    let claims = verify_jwt(&http, &server, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["amr"], json!(["pwd", "recovery-code"]));
    let (status, body) = recover(recovery.clone(), token3.clone()).await;
    assert_error(
        status,
        &body,
        400,
        "invalid_grant",
        Some("Invalid recovery_code."),
    );
    let access = body["access_token"].clone();
    assert!(access.is_null());

    // Lost device: log in for the MFA API with the recovery code, delete
    // the device, then enroll a new one with the same token.
    let (token5, body) = password_grant_for(
        &http,
        &server,
        Some(MFA_AUDIENCE),
        "openid remove:authenticators enroll admin:all",
    )
    .await;
    assert_eq!(
        body["mfa_requirements"],
        json!({ "challenge": [{ "type": "otp" }] })
    );
    let (status, body) = recover(new_code, token5.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid remove:authenticators enroll");
    assert_eq!(body["expires_in"], 600, "MFA API tokens live 10 minutes");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let claims = verify_jwt(&http, &server, &access).await;
    assert_eq!(claims["aud"], MFA_AUDIENCE);
    assert_eq!(claims["scope"], "openid remove:authenticators enroll");
    let r = http
        .delete(server.url(&format!("/mfa/authenticators/{otp_id}")))
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = http
        .delete(server.url(&format!("/mfa/authenticators/{otp_id}")))
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(r).await;
    assert_error(status, &body, 404, "not_found", None);
    let r = http
        .delete(server.url(&format!("/mfa/authenticators/{otp_id}")))
        .header("authorization", "Bearer not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The recovery code is still active: the password alone no longer
    // enrolls (F4), and the login says which factor is left.
    let (token4, body) = password_grant(&http, &server).await;
    assert_eq!(
        body["mfa_requirements"],
        json!({ "challenge": [{ "type": "recovery-code" }] })
    );
    let (status, a) = associate(&http, &server, &token4).await;
    assert_error(
        status,
        &a,
        403,
        "access_denied",
        Some("User is already enrolled."),
    );
    // The `enroll` token from the recovery-code login associates.
    let (status, a) = associate(&http, &server, &access).await;
    assert_eq!(status, 200, "{a}");
    assert!(
        a.get("recovery_codes").is_none(),
        "recovery codes only on the first association"
    );
    let secret2 = a["secret"].as_str().unwrap();
    assert_ne!(secret2, secret);
    let (status, body) = otp_grant(&http, &server, &token4, &oathtool(secret2, unix_now())).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn replay_across_two_processes_sharing_one_database() {
    let dir = temp_dir("two");
    let db = db_path(&dir);
    provision(&db);
    let a = Server::start(&db, &[]);
    let b = Server::start(&db, &[]);
    let http = client();
    let (token, secret, _, t) = enrolled(&http, &a).await;
    let code = oathtool(&secret, t + 30);
    let (s, body) = otp_grant(&http, &a, &token, &code).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = otp_grant(&http, &b, &token, &code).await;
    assert_error(s, &body, 400, "invalid_grant", Some("Invalid otp_code."));
    // Tokens signed by one instance verify with the other's JWKS.
    let (token_b, _) = password_grant(&http, &b).await;
    let r = http
        .get(b.url("/mfa/authenticators"))
        .header("authorization", format!("Bearer {token_b}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ja: Value = http
        .get(a.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jb: Value = http
        .get(b.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ja, jb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_with_one_code_give_one_200() {
    let dir = temp_dir("race");
    let db = db_path(&dir);
    provision(&db);
    let server = Server::start(&db, &[]);
    let http = client();
    let (token, secret, _, t) = enrolled(&http, &server).await;
    let code = oathtool(&secret, t + 30);
    let requests = (0..50).map(|_| {
        let (http, url, token, code) = (
            http.clone(),
            server.url("/oauth/token"),
            token.clone(),
            code.clone(),
        );
        tokio::spawn(async move {
            form(
                &http,
                &url,
                &[
                    ("grant_type", MFA_OTP),
                    ("client_id", CLIENT),
                    ("client_secret", CLIENT_SECRET),
                    ("mfa_token", &token),
                    ("otp", &code),
                ],
            )
            .await
        })
    });
    let results = futures::future::join_all(requests).await;
    let statuses: Vec<u16> = results.into_iter().map(|r| r.unwrap().0).collect();
    eprintln!("statuses: {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 400 | 429)),
        "{statuses:?}"
    );
}

#[test]
fn cli_refuses_bad_input() {
    let dir = temp_dir("cli");
    let db = db_path(&dir);
    let (ok, out) = cli(&["add-client", "c", "--db", &db], "\n");
    assert!(!ok && out.contains("must not be empty"), "{out}");
    // A short secret is accepted (hashed with Argon2id) and warned about.
    let (ok, out) = cli(&["add-client", "short-app", "--db", &db], "s3cret\n");
    assert!(ok && out.contains("Argon2id"), "{out}");
    let (ok, out) = cli(&["add-user", "a:b", "--db", &db], "pw\n");
    assert!(!ok, "{out}");
    let (ok, out) = cli(&["add-client", "public-app", "--db", &db, "--public"], "");
    assert!(ok, "{out}");
    let (ok, _) = cli(
        &[
            "serve",
            "--db",
            &db,
            "--issuer",
            "bad:issuer",
            "--listen",
            "127.0.0.1:0",
        ],
        "",
    );
    assert!(!ok);
    // An issuer URL without its final '/' is refused, not completed.
    let (ok, out) = cli(
        &[
            "serve",
            "--db",
            &db,
            "--issuer-url",
            "https://auth.example.com",
            "--listen",
            "127.0.0.1:0",
        ],
        "",
    );
    assert!(
        !ok && out.contains("invalid issuer_url from --issuer-url: must end with '/'"),
        "{out}"
    );
}

#[test]
fn serve_help_documents_every_knob() {
    let (ok, help) = cli(&["serve", "--help"], "");
    assert!(ok, "{help}");
    let keys = [
        "config",
        "listen",
        "db",
        "issuer",
        "issuer_url",
        "api",
        "default_audience",
        "mfa_token_ttl",
        "access_token_ttl",
        "refresh_token_ttl",
        "refresh_token_idle_ttl",
        "signing_alg",
        "connection",
        "demo",
        "encryption_key_file",
        "previous_encryption_key_file",
        "tls_cert",
        "tls_key",
        "throttle_attempts",
        "throttle_refill_secs",
        "login_max_failures",
        "login_block_secs",
        "ip_throttle_attempts",
        "ip_throttle_refill_secs",
        "trust_forwarded_for",
        "hash_concurrency",
        "hash_queue",
        "max_connections",
        "header_read_timeout_secs",
        "request_timeout_secs",
        "dpop_proof_window_secs",
        "dpop_nonce_secs",
        "allowed_origin",
        "log_format",
        "shutdown_timeout_secs",
        "metrics_listen",
    ];
    for key in keys {
        let flag = format!("--{}", key.replace('_', "-"));
        // `[env: NAME=]`, or `[env: NAME=value]` where the test sets it.
        let env = format!("[env: MFA_SERVER_{}=", key.to_ascii_uppercase());
        assert!(help.contains(&flag) && help.contains(&env), "{key}: {help}");
    }
    assert_eq!(help.matches("Default: ").count(), keys.len(), "{help}");
}

#[tokio::test]
async fn serve_takes_a_flag_over_the_environment_over_the_config_file() {
    let dir = temp_dir("config");
    let db = db_path(&dir);
    // add-client and add-user read MFA_SERVER_DB too.
    let env_db = [("MFA_SERVER_DB", db.as_str())];
    let (ok, out) = cli_env(
        &["add-client", CLIENT],
        &env_db,
        &format!("{CLIENT_SECRET}\n"),
    );
    assert!(ok, "{out}");
    let (ok, out) = cli_env(&["add-user", USER], &env_db, &format!("{PASSWORD}\n"));
    assert!(ok && std::path::Path::new(&db).exists(), "{out}");

    // A file whose issuer and throttle are unusable, and that names the database.
    let file = dir.join("mfa-server.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:0\"\ndb = {db:?}\nissuer = \"bad:issuer\"\nthrottle_attempts = 0\n\
             issuer_url = {ISSUER_URL:?}\n"
        ),
    )
    .unwrap();
    let file = file.to_string_lossy().into_owned();
    let (ok, out) = cli(&["serve", "--config", &file], "");
    assert!(
        !ok && out.contains(&format!("invalid issuer from config file {file}")),
        "{out}"
    );
    let (ok, out) = cli_env(
        &["serve", "--config", &file],
        &[
            ("MFA_SERVER_ISSUER", "ACME"),
            ("MFA_SERVER_THROTTLE_ATTEMPTS", "0"),
        ],
        "",
    );
    assert!(
        !ok && out.contains(
            "invalid throttle_attempts from environment variable MFA_SERVER_THROTTLE_ATTEMPTS"
        ),
        "{out}"
    );
    let (ok, out) = cli_env(&["serve"], &[("MFA_SERVER_MFA_TOKEN_TTL", "soon")], "");
    assert!(
        !ok && out
            .contains("invalid mfa_token_ttl from environment variable MFA_SERVER_MFA_TOKEN_TTL"),
        "{out}"
    );

    // The environment's issuer beats the file's; the flag's throttle beats
    // the environment's; listen, db and the issuer URL come from the file.
    let server = Server::spawn(
        &["serve", "--throttle-attempts", "3"],
        &[
            ("MFA_SERVER_CONFIG", &file),
            ("MFA_SERVER_ISSUER", "ACME"),
            ("MFA_SERVER_THROTTLE_ATTEMPTS", "0"),
        ],
    );
    let http = client();
    let (token, secret, _, t) = enrolled(&http, &server).await;
    let (_, tokens) = otp_grant(&http, &server, &token, &oathtool(&secret, t + 30)).await;
    let claims = verify_jwt(&http, &server, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["iss"], ISSUER_URL);
    let right = oathtool(&secret, t + 60);
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    for _ in 0..3 {
        let (s, b) = otp_grant(&http, &server, &token, &wrong).await;
        assert_error(s, &b, 400, "invalid_grant", None);
    }
    let (s, b) = otp_grant(&http, &server, &token, &right).await;
    assert_error(s, &b, 429, "too_many_attempts", None);
}
