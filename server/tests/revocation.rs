//! Resets revoke (issue 13, F13): a password reset (`add-user` for an
//! existing user), `users reset-mfa` and `users delete` revoke the user's
//! outstanding mfa_tokens and the access tokens this server checks, against
//! the real binary. Revoked mfa_tokens are refused before any code is
//! checked, so no attempt is charged and no code consumed.

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
use serde_json::Value;

async fn login(
    http: &reqwest::Client,
    server: &Server,
    password: &str,
    mfa_api: bool,
) -> (u16, Value) {
    let mut fields = vec![
        ("grant_type", "password"),
        ("client_id", CLIENT),
        ("client_secret", CLIENT_SECRET),
        ("username", USER),
        ("password", password),
    ];
    if mfa_api {
        fields.push(("audience", MFA_AUDIENCE));
        fields.push(("scope", "read:authenticators remove:authenticators"));
    }
    form(http, &server.url("/oauth/token"), &fields).await
}

async fn list(http: &reqwest::Client, server: &Server, bearer: &str) -> (u16, Value) {
    let r = http
        .get(server.url("/mfa/authenticators"))
        .header("authorization", format!("Bearer {bearer}"))
        .send()
        .await
        .unwrap();
    status_json(r).await
}

fn attempts_used(db: &str, user_id: &str) -> i64 {
    let url = if db.contains("://") {
        db.to_owned()
    } else {
        format!("sqlite://{db}")
    };
    let rt = tokio::runtime::Handle::current();
    std::thread::scope(|s| {
        s.spawn(|| {
            rt.block_on(async {
                let (pool, _) = totp_engine_sqlx::connect_pool(&url).await.unwrap();
                let used: i64 = sqlx::query_scalar(
                    "SELECT attempts_used FROM otp_authenticators WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_one(&pool)
                .await
                .unwrap();
                pool.close().await;
                used
            })
        })
        .join()
        .unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_and_deletion_revoke_outstanding_tokens() {
    let dir = temp_dir("revoke");
    let db = db_path(&dir);
    provision(&db);
    let server = Server::start(&db, &[]);
    let http = client();
    let (old_mfa_token, secret, _, t) = enrolled(&http, &server).await;

    // An MFA-API access token (second factor: the next step's code).
    let (status, body) = login(&http, &server, PASSWORD, true).await;
    assert_eq!(status, 403, "{body}");
    let api_mfa_token = body["mfa_token"].as_str().unwrap().to_owned();
    let (status, tokens) =
        otp_grant(&http, &server, &api_mfa_token, &oathtool(&secret, t + 30)).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(list(&http, &server, &access).await.0, 200);
    assert_eq!(list(&http, &server, &old_mfa_token).await.0, 200);
    // A pending mfa_token from a login that has not passed MFA yet.
    let (_, body) = login(&http, &server, PASSWORD, false).await;
    let pending = body["mfa_token"].as_str().unwrap().to_owned();
    let used_before = attempts_used(&db, &format!("auth0|{USER}"));

    // Password reset: add-user for the existing user.
    let new_password = "a brand new passphrase";
    let (ok, out) = cli(
        &["add-user", USER, "--db", &db],
        &format!("{new_password}\n"),
    );
    assert!(ok, "{out}");
    let (status, body) = list(&http, &server, &access).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
    for token in [&old_mfa_token, &api_mfa_token, &pending] {
        let (status, body) = list(&http, &server, token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_grant")),
            "{body}"
        );
    }
    // The pending login cannot finish: refused before its code is checked.
    let (status, body) = otp_grant(&http, &server, &pending, "123456").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_grant")),
        "{body}"
    );
    assert_eq!(
        attempts_used(&db, &format!("auth0|{USER}")),
        used_before,
        "nothing charged"
    );
    let (status, body) = login(&http, &server, PASSWORD, false).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("invalid_grant")),
        "{body}"
    );
    let (status, body) = login(&http, &server, new_password, false).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("mfa_required")),
        "{body}"
    );
    let after_reset = body["mfa_token"].as_str().unwrap().to_owned();
    assert_eq!(
        list(&http, &server, &after_reset).await.0,
        200,
        "new tokens work"
    );

    // users reset-mfa: authenticators gone, tokens revoked, enroll again.
    let (ok, out) = cli(&["users", "reset-mfa", USER, "--db", &db], "");
    assert!(ok && out.contains("2 authenticator(s) removed"), "{out}");
    let (status, _) = list(&http, &server, &after_reset).await;
    assert_eq!(status, 401);
    // Tokens issued in the second of a revocation are refused with it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, body) = login(&http, &server, new_password, true).await;
    assert_eq!(
        body["mfa_requirements"]["enroll"][0]["type"], "otp",
        "{body}"
    );
    let last = body["mfa_token"].as_str().unwrap().to_owned();
    // Enroll again and take an MFA-API access token, to outlive the user.
    let (status, a) = associate(&http, &server, &last).await;
    assert_eq!(status, 200, "{a}");
    let secret2 = a["secret"].as_str().unwrap().to_owned();
    let (status, tokens) = otp_grant(&http, &server, &last, &oathtool(&secret2, unix_now())).await;
    assert_eq!(status, 200, "{tokens}");
    let survivor = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(list(&http, &server, &survivor).await.0, 200);

    // users delete: the user is gone, the login says so as for any wrong
    // password, and the last token is refused.
    let (ok, out) = cli(&["users", "delete", USER, "--db", &db], "");
    assert!(ok, "{out}");
    let (status, body) = login(&http, &server, new_password, false).await;
    assert_eq!(
        body["error_description"], "Wrong email or password.",
        "{body}"
    );
    assert_eq!(status, 403);
    assert_eq!(list(&http, &server, &last).await.0, 401);
    let (ok, out) = cli(&["users", "delete", USER, "--db", &db], "");
    assert!(!ok && out.contains("no user"), "{out}");
    assert_eq!(list(&http, &server, &survivor).await.0, 401);
    // A new user of the same name (the same user id) does not bring the
    // deleted user's tokens back (those issued before the second of its
    // creation; the test waits for the next one).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (ok, out) = cli(&["add-user", USER, "--db", &db], "yet another passphrase\n");
    assert!(ok, "{out}");
    let (status, body) = list(&http, &server, &survivor).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
}
