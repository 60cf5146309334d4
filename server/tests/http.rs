//! End-to-end tests of the `mfa-server` binary over HTTP on loopback, with a
//! fresh SQLite file per test and oathtool computing the codes.

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
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding =
        jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.validate_aud = false;
    validation.set_issuer(&["ACME"]);
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

    // The list now shows both active, in the seed's shape.
    let list: Value = http
        .get(server.url("/mfa/authenticators"))
        .header(
            "authorization",
            format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap().clone();
    assert_eq!(list[0]["authenticator_type"], "recovery-code");
    assert_eq!(list[1]["authenticator_type"], "otp");
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

    // Delete the device with an access token, then re-enroll.
    let (_, body) = recover(new_code, token3.clone()).await;
    let access = body["access_token"].as_str().unwrap().to_owned();
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
    let (token4, body) = password_grant(&http, &server).await;
    assert_eq!(
        body["mfa_requirements"],
        json!({ "enroll": [{ "type": "otp" }] })
    );
    let (status, a) = associate(&http, &server, &token4).await;
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
async fn error_table() {
    let dir = temp_dir("errors");
    let db = db_path(&dir);
    provision(&db);
    let (ok, out) = cli(
        &["add-client", "other-app", "--db", &db],
        "another-long-client-secret\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = cli(&["add-user", "bob", "--db", &db], "bobs password\n");
    assert!(ok, "{out}");
    let server = Server::start(&db, &[]);
    let http = client();
    let token_url = server.url("/oauth/token");

    // Wrong username or password.
    for (user, pw) in [(USER, "wrong"), ("nobody", PASSWORD)] {
        let (s, b) = form(
            &http,
            &token_url,
            &[
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("client_secret", CLIENT_SECRET),
                ("username", user),
                ("password", pw),
            ],
        )
        .await;
        assert_error(
            s,
            &b,
            403,
            "invalid_grant",
            Some("Wrong email or password."),
        );
    }
    // Client authentication.
    let (s, b) = form(
        &http,
        &token_url,
        &[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("client_secret", "wrong-secret-wrong-secret"),
            ("username", USER),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_error(s, &b, 401, "invalid_client", None);
    let (s, b) = form(
        &http,
        &token_url,
        &[
            ("grant_type", "password"),
            ("client_id", "unknown"),
            ("client_secret", CLIENT_SECRET),
            ("username", USER),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_error(s, &b, 401, "invalid_client", None);
    let (s, b) = form(
        &http,
        &token_url,
        &[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("username", USER),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_error(s, &b, 401, "invalid_client", None);
    // A short client secret (Argon2id-hashed) and a public client work too.
    let (ok, out) = cli(&["add-client", "short-app", "--db", &db], "s3cret\n");
    assert!(ok, "{out}");
    let (ok, out) = cli(&["add-client", "public-app", "--db", &db, "--public"], "");
    assert!(ok, "{out}");
    for (client, secret, want) in [
        ("short-app", Some("s3cret"), 403),
        ("short-app", Some("s3cret!"), 401),
        ("short-app", None, 401),
        ("public-app", None, 403),
        ("public-app", Some("anything"), 401),
    ] {
        let mut fields = vec![
            ("grant_type", "password"),
            ("client_id", client),
            ("username", USER),
            ("password", PASSWORD),
        ];
        if let Some(secret) = secret {
            fields.push(("client_secret", secret));
        }
        let (s, b) = form(&http, &token_url, &fields).await;
        assert_eq!(s, want, "{client} {secret:?}: {b}");
    }
    // HTTP Basic works in place of client_secret.
    let r = http
        .post(&token_url)
        .basic_auth(CLIENT, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "password"),
            ("username", USER),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(r).await.1["error"], "mfa_required");
    // Unknown grant type, missing parameters.
    let (s, b) = form(
        &http,
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
        ],
    )
    .await;
    assert_error(s, &b, 400, "unsupported_grant_type", None);
    let (s, b) = form(&http, &token_url, &[("client_id", CLIENT)]).await;
    assert_error(
        s,
        &b,
        400,
        "invalid_request",
        Some("Missing required parameter: grant_type"),
    );
    let (s, b) = form(
        &http,
        &token_url,
        &[
            ("grant_type", MFA_OTP),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("otp", "123456"),
        ],
    )
    .await;
    assert_error(
        s,
        &b,
        400,
        "invalid_request",
        Some("Missing required parameter: mfa_token"),
    );

    // OTP grant before enrollment.
    let (token, _) = password_grant(&http, &server).await;
    let (s, b) = otp_grant(&http, &server, &token, "123456").await;
    assert_error(
        s,
        &b,
        400,
        "unsupported_challenge_type",
        Some(
            "User is not enrolled. You can use /mfa/associate endpoint to enroll the first authenticator.",
        ),
    );
    // Recovery grant without a recovery code.
    let (s, b) = form(
        &http,
        &token_url,
        &[
            ("grant_type", MFA_RECOVERY),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", &token),
            ("recovery_code", "ABCDEFGHIJKLMNOPQRSTUVWX"),
        ],
    )
    .await;
    assert_error(
        s,
        &b,
        400,
        "unsupported_challenge_type",
        Some("User does not have a recovery-code."),
    );
    // Challenge before enrollment.
    let r = http
        .post(server.url("/mfa/challenge"))
        .json(&json!({ "client_id": CLIENT, "mfa_token": token, "challenge_type": "otp" }))
        .send()
        .await
        .unwrap();
    let (s, b) = status_json(r).await;
    assert_error(s, &b, 400, "association_required", None);

    // Enroll, then the remaining rows.
    let (token, secret, _, t) = enrolled(&http, &server).await;
    let (s, b) = otp_grant(&http, &server, &token, &oathtool(&secret, t)).await;
    assert_error(s, &b, 400, "invalid_grant", Some("Invalid otp_code.")); // replayed
    let (s, b) = otp_grant(&http, &server, &token, &oathtool(&secret, t - 3600)).await;
    assert_error(s, &b, 400, "invalid_grant", Some("Invalid otp_code.")); // expired
    let (s, b) = associate(&http, &server, &token).await;
    assert_error(
        s,
        &b,
        403,
        "access_denied",
        Some("User is already enrolled."),
    );
    // The same through a form body, which carries the types as a string.
    let r = http
        .post(server.url("/mfa/associate"))
        .header("authorization", format!("Bearer {token}"))
        .form(&[("authenticator_types", "otp")])
        .send()
        .await
        .unwrap();
    let (s, b) = status_json(r).await;
    assert_error(
        s,
        &b,
        403,
        "access_denied",
        Some("User is already enrolled."),
    );
    let r = http
        .post(server.url("/mfa/associate"))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({ "authenticator_types": ["oob"] }))
        .send()
        .await
        .unwrap();
    let (s, b) = status_json(r).await;
    assert_error(s, &b, 400, "unsupported_challenge_type", None);
    let r = http
        .post(server.url("/mfa/challenge"))
        .json(&json!({ "client_id": CLIENT, "mfa_token": token, "challenge_type": "oob" }))
        .send()
        .await
        .unwrap();
    let (s, b) = status_json(r).await;
    assert_error(s, &b, 400, "unsupported_challenge_type", None);
    // Wrong recovery code.
    let (s, b) = form(
        &http,
        &token_url,
        &[
            ("grant_type", MFA_RECOVERY),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", &token),
            ("recovery_code", "ABCDEFGHIJKLMNOPQRSTUVWX"),
        ],
    )
    .await;
    assert_error(s, &b, 400, "invalid_grant", Some("Invalid recovery_code."));

    // mfa_token: malformed, unknown, another client's.
    for bad in ["garbage", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let (s, b) = otp_grant(&http, &server, bad, "123456").await;
        assert_error(s, &b, 401, "invalid_grant", Some("Malformed mfa_token"));
    }
    let (s, b) = form(
        &http,
        &token_url,
        &[
            ("grant_type", MFA_OTP),
            ("client_id", "other-app"),
            ("client_secret", "another-long-client-secret"),
            ("mfa_token", &token),
            ("otp", "123456"),
        ],
    )
    .await;
    assert_error(
        s,
        &b,
        400,
        "invalid_request",
        Some("mfa_token not issued to this client"),
    );

    // Throttling: 10 wrong codes, then 429 even for the right one.
    let (bob_token, _) = {
        let (s, b) = form(
            &http,
            &token_url,
            &[
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("client_secret", CLIENT_SECRET),
                ("username", "bob"),
                ("password", "bobs password"),
            ],
        )
        .await;
        assert_eq!(s, 403);
        (b["mfa_token"].as_str().unwrap().to_owned(), b)
    };
    let (_, a) = associate(&http, &server, &bob_token).await;
    let bob_secret = a["secret"].as_str().unwrap().to_owned();
    let right = oathtool(&bob_secret, unix_now());
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    for _ in 0..10 {
        let (s, b) = otp_grant(&http, &server, &bob_token, &wrong).await;
        assert_error(s, &b, 400, "invalid_grant", None);
    }
    let r = http
        .post(&token_url)
        .form(&[
            ("grant_type", MFA_OTP),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", &bob_token),
            ("otp", &right),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("retry-after").is_some());
    let (s, b) = status_json(r).await;
    assert_error(s, &b, 429, "too_many_attempts", None);
}

#[tokio::test]
async fn mfa_tokens_expire() {
    let dir = temp_dir("expiry");
    let db = db_path(&dir);
    provision(&db);
    let server = Server::start(&db, &["--mfa-token-ttl", "1"]);
    let http = client();
    let (token, _) = password_grant(&http, &server).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, b) = otp_grant(&http, &server, &token, "123456").await;
    assert_error(s, &b, 401, "expired_token", Some("mfa_token is expired"));
    let (s, b) = associate(&http, &server, &token).await;
    assert_error(s, &b, 401, "expired_token", Some("mfa_token is expired"));
}

#[tokio::test]
async fn malformed_requests_get_json_4xx_and_change_nothing() {
    let dir = temp_dir("malformed");
    let db = db_path(&dir);
    provision(&db);
    let server = Server::start(&db, &[]);
    let http = client();
    let (token, secret, _, t) = enrolled(&http, &server).await;
    let url = server.url("/oauth/token");
    let send = |body: Vec<u8>, content_type: Option<&'static str>| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let mut req = http.post(&url).body(body);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            status_json(req.send().await.unwrap()).await
        }
    };
    let otp_form = |otp: &str| {
        format!(
            "grant_type={}&client_id={CLIENT}&client_secret={CLIENT_SECRET}&mfa_token={token}&otp={otp}",
            "http%3A%2F%2Fauth0.com%2Foauth%2Fgrant-type%2Fmfa-otp"
        )
    };
    let cases: Vec<(Vec<u8>, Option<&'static str>, u16)> = vec![
        (
            vec![b'a'; 1 << 20],
            Some("application/x-www-form-urlencoded"),
            413,
        ),
        (b"{\"grant_type\": ".to_vec(), Some("application/json"), 400),
        (b"[1, 2, 3]".to_vec(), Some("application/json"), 400),
        (b"grant_type=password".to_vec(), Some("text/plain"), 415),
        (b"<xml/>".to_vec(), Some("application/xml"), 415),
        (
            otp_form("%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96").into_bytes(),
            Some("application/x-www-form-urlencoded"),
            400,
        ), // full-width digits
        (
            format!("{}&otp=123456", otp_form("654321")).into_bytes(),
            Some("application/x-www-form-urlencoded"),
            400,
        ), // duplicate
        (
            b"{\"grant_type\":\"password\",\"grant_type\":\"password\"}".to_vec(),
            Some("application/json"),
            400,
        ),
        (
            b"{\"grant_type\": 5}".to_vec(),
            Some("application/json"),
            400,
        ),
        (
            b"%%%%=%%%".to_vec(),
            Some("application/x-www-form-urlencoded"),
            400,
        ),
        (
            vec![0xff, 0xfe, 0x00],
            Some("application/x-www-form-urlencoded"),
            400,
        ),
    ];
    for (i, (body, ct, want)) in cases.into_iter().enumerate() {
        let (status, json) = send(body, ct).await;
        assert_eq!(status, want, "case {i}: {json}");
        assert!(
            json["error"].is_string() && json["error_description"].is_string(),
            "case {i}: {json}"
        );
    }
    // Unknown route and wrong method: JSON too.
    let (s, b) = status_json(http.get(server.url("/nope")).send().await.unwrap()).await;
    assert_error(s, &b, 404, "not_found", None);
    let (s, b) = status_json(http.get(server.url("/oauth/token")).send().await.unwrap()).await;
    assert_eq!(s, 405, "{b}");
    assert!(b["error"].is_string());
    let (s, b) = status_json(
        http.post(server.url("/mfa/associate"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(s, &b, 401, "invalid_request", None);
    // None of that changed anything: the next step's code still works once.
    let next = oathtool(&secret, t + 30);
    assert_eq!(otp_grant(&http, &server, &token, &next).await.0, 200);
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
}
