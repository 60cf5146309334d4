//! PostgreSQL: the store conformance kit, and several `mfa-server`
//! instances on one database — the seed flow across instances, 200
//! simultaneous requests with one code or one recovery code (exactly one
//! success), throttling across instances, concurrent first starts, and a
//! database outage (503 JSON, then recovery).
//!
//! Needs `MFA_TEST_POSTGRES_URL` (a superuser URL); `scripts/test.sh`
//! starts a throwaway cluster and sets it. These tests do not skip.

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

use common::*;
use mfa_server::db::Db;
use serde_json::Value;
use sqlx::Connection;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_passes_the_conformance_kit() {
    let url = fresh_pg_database("kit").await;
    // The store crate runs the kit on its own tables; this runs it on the
    // server's database, where the store shares the pool with the server.
    let store = Arc::new(Db::connect(&url, test_keyring()).await.unwrap().store());
    totp_engine::conformance::run_all(store, &mut rand::rng())
        .await
        .unwrap();
}

#[tokio::test]
async fn postgres_concurrent_first_starts_migrate_once() {
    let url = fresh_pg_database("migrate").await;
    let starts = (0..6).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { Db::connect(&url, test_keyring()).await.map(|_| ()) })
    });
    for r in futures::future::join_all(starts).await {
        r.unwrap().unwrap();
    }
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    for (history, migrations) in [
        ("mfa_server_migrations", mfa_server::db::MIGRATIONS),
        ("totp_engine_migrations", totp_engine_sqlx::MIGRATIONS),
    ] {
        let rows: Vec<(i64,)> =
            sqlx::query_as(&format!("SELECT version FROM {history} ORDER BY version"))
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let mut want: Vec<(i64,)> = migrations.iter().map(|m| (m.version,)).collect();
        want.sort_unstable();
        assert_eq!(rows, want, "{history}: each migration applied exactly once");
    }
    // Three servers starting together agree on one signing key and one
    // next key.
    provision(&url);
    let servers: Vec<Server> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| Server::start(&url, &[])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let http = client();
    let mut keys = Vec::new();
    for server in &servers {
        let jwks: Value = http
            .get(server.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        keys.push(jwks);
    }
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    let count: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE next_key = 0), count(*) FILTER (WHERE next_key = 1)
         FROM signing_keys",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(count, (1, 1));
}

async fn three_instances(tag: &str) -> (String, Vec<Server>) {
    let url = fresh_pg_database(tag).await;
    provision(&url);
    let servers = (0..3).map(|_| Server::start(&url, &[])).collect();
    (url, servers)
}

#[tokio::test]
async fn postgres_seed_flow_across_three_instances() {
    let (_url, s) = three_instances("flow").await;
    let http = client();
    // Each step on the next instance; the login asks for the MFA API, so
    // that its access token may list authenticators.
    let (token, _) = password_grant_for(
        &http,
        &s[0],
        Some(MFA_AUDIENCE),
        "openid profile read:authenticators",
    )
    .await;
    let (status, a) = associate(&http, &s[1], &token).await;
    assert_eq!(status, 200, "{a}");
    let secret = a["secret"].as_str().unwrap().to_owned();
    let recovery = a["recovery_codes"][0].as_str().unwrap().to_owned();
    let t = unix_now();
    let (status, body) = otp_grant(&http, &s[2], &token, &oathtool(&secret, t)).await;
    assert_eq!(status, 200, "{body}");
    let list: Value = http
        .get(s[0].url("/mfa/authenticators"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list.as_array().unwrap().iter().all(|a| a["active"] == true),
        "{list}"
    );
    // An access token from one instance works on another.
    let access = body["access_token"].as_str().unwrap();
    let r = http
        .get(s[1].url("/mfa/authenticators"))
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Challenge on one, verify on another; the code is then spent everywhere.
    let r = http.post(s[2].url("/mfa/challenge")).json(&serde_json::json!({ "client_id": CLIENT, "mfa_token": token, "challenge_type": "otp" })).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let code = oathtool(&secret, t + 30);
    assert_eq!(otp_grant(&http, &s[0], &token, &code).await.0, 200);
    for server in &s {
        let (status, body) = otp_grant(&http, server, &token, &code).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    // The recovery code works once across all of them.
    let fields = |code: &str| {
        vec![
            ("grant_type", MFA_RECOVERY.to_owned()),
            ("client_id", CLIENT.to_owned()),
            ("client_secret", CLIENT_SECRET.to_owned()),
            ("mfa_token", token.clone()),
            ("recovery_code", code.to_owned()),
        ]
    };
    let f = fields(&recovery);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(form(&http, &s[1].url("/oauth/token"), &f).await.0, 200);
    assert_eq!(form(&http, &s[2].url("/oauth/token"), &f).await.0, 400);
}

#[tokio::test]
async fn postgres_mfa_api_scopes_across_three_instances() {
    // Audience and scope rules hold whichever instance checks them: a
    // third-party token (F3) and a password-only mfa_token after the OTP
    // authenticator's deletion (F4) are refused everywhere.
    let url = fresh_pg_database("scopes").await;
    provision(&url);
    let payments = "https://payments.example.com/api";
    let api = format!("{payments}=read:payments");
    let s: Vec<Server> = (0..3)
        .map(|_| Server::start(&url, &["--api", &api]))
        .collect();
    let http = client();
    let bearer = |server: &Server, method: reqwest::Method, path: &str, token: &str| {
        http.request(method, server.url(path))
            .header("authorization", format!("Bearer {token}"))
    };
    let all = "openid enroll read:authenticators remove:authenticators";
    let (token, _) = password_grant_for(&http, &s[0], Some(MFA_AUDIENCE), all).await;
    let (status, a) = associate(&http, &s[1], &token).await;
    assert_eq!(status, 200, "{a}");
    let secret = a["secret"].as_str().unwrap().to_owned();
    let recovery = a["recovery_codes"][0].as_str().unwrap().to_owned();
    let t = unix_now();
    let (status, body) = otp_grant(&http, &s[2], &token, &oathtool(&secret, t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], all);
    let mfa_access = body["access_token"].as_str().unwrap().to_owned();
    let (third_login, _) =
        password_grant_for(&http, &s[1], Some(payments), "openid read:payments enroll").await;
    let (status, body) = otp_grant(&http, &s[2], &third_login, &oathtool(&secret, t + 30)).await;
    assert_eq!(
        (status, &body["scope"]),
        (200, &Value::from("openid read:payments")),
        "{body}"
    );
    let third = body["access_token"].as_str().unwrap().to_owned();

    let r = bearer(
        &s[0],
        reqwest::Method::GET,
        "/mfa/authenticators",
        &mfa_access,
    )
    .send()
    .await
    .unwrap();
    let (status, list) = status_json(r).await;
    assert_eq!(status, 200, "{list}");
    let otp_id = list[1]["id"].as_str().unwrap().to_owned();
    assert_eq!(list[1]["type"], "otp");
    let path = format!("/mfa/authenticators/{otp_id}");
    for server in &s {
        for (method, path) in [
            (reqwest::Method::GET, "/mfa/authenticators"),
            (reqwest::Method::DELETE, path.as_str()),
        ] {
            let r = bearer(server, method, path, &third).send().await.unwrap();
            let (status, body) = status_json(r).await;
            assert_eq!(
                (status, &body["error"]),
                (401, &Value::from("invalid_token")),
                "{body}"
            );
        }
    }
    let r = bearer(&s[2], reqwest::Method::DELETE, &path, &mfa_access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    for server in &s {
        let (password_only, body) = password_grant(&http, server).await;
        assert_eq!(
            body["mfa_requirements"],
            serde_json::json!({ "challenge": [{ "type": "recovery-code" }] })
        );
        for other in &s {
            let (status, body) = associate(&http, other, &password_only).await;
            assert_eq!(
                (status, body["error_description"].as_str()),
                (403, Some("User is already enrolled.")),
                "{body}"
            );
        }
    }
    // The way back: the recovery code in a login for the MFA API, on any
    // instance, then `enroll` on another.
    let (login, _) = password_grant_for(&http, &s[0], Some(MFA_AUDIENCE), "enroll").await;
    let (status, body) = form(
        &http,
        &s[1].url("/oauth/token"),
        &[
            ("grant_type", MFA_RECOVERY),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", &login),
            ("recovery_code", &recovery),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let enroll = body["access_token"].as_str().unwrap();
    let (status, a) = associate(&http, &s[2], enroll).await;
    assert_eq!(status, 200, "{a}");
    assert!(a.get("recovery_codes").is_none(), "{a}");
}

async fn race(servers: &[Server], n: usize, fields: Vec<(&'static str, String)>) -> Vec<u16> {
    let http = client();
    let fields = Arc::new(fields);
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks = (0..n).map(|i| {
        let (http, fields, barrier) = (http.clone(), fields.clone(), barrier.clone());
        let url = servers[i % servers.len()].url("/oauth/token");
        tokio::spawn(async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            barrier.wait().await;
            form(&http, &url, &f).await.0
        })
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_hundred_simultaneous_uses_of_one_code_give_one_200() {
    let (_url, s) = three_instances("race").await;
    let http = client();
    let (token, secret, recovery, t) = enrolled(&http, &s[0]).await;
    let code = oathtool(&secret, t + 30);
    let statuses = race(
        &s,
        200,
        vec![
            ("grant_type", MFA_OTP.into()),
            ("client_id", CLIENT.into()),
            ("client_secret", CLIENT_SECRET.into()),
            ("mfa_token", token.clone()),
            ("otp", code),
        ],
    )
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 400 | 429)),
        "{statuses:?}"
    );

    let statuses = race(
        &s,
        200,
        vec![
            ("grant_type", MFA_RECOVERY.into()),
            ("client_id", CLIENT.into()),
            ("client_secret", CLIENT_SECRET.into()),
            ("mfa_token", token),
            ("recovery_code", recovery),
        ],
    )
    .await;
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

#[tokio::test]
async fn postgres_throttling_counts_failures_across_instances() {
    let (_url, s) = three_instances("throttle").await;
    let http = client();
    let (token, secret, _, t) = enrolled(&http, &s[0]).await;
    let right = oathtool(&secret, t + 30);
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    for i in 0..10 {
        let (status, body) = otp_grant(&http, &s[i % 3], &token, &wrong).await;
        assert_eq!(status, 400, "attempt {i}: {body}");
    }
    for server in &s {
        let (status, body) = otp_grant(&http, server, &token, &right).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (429, Some("too_many_attempts")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn postgres_outage_gives_503_json_and_the_server_recovers() {
    let url = fresh_pg_database("outage").await;
    provision(&url);
    let server = Server::start(&url, &[]);
    let http = client();
    let (token, secret, _, t) = enrolled(&http, &server).await;
    let name = url.rsplit_once('/').unwrap().1.to_owned();
    let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
    // The database goes away: no new connections, existing ones killed.
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let code = oathtool(&secret, t + 30);
    let (status, body) = otp_grant(&http, &server, &token, &code).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    let (status, _) = password_grant_status(&http, &server).await;
    assert_eq!(status, 503);
    // It comes back: the same code, never accepted during the outage, now works once.
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    let (status, body) = otp_grant(&http, &server, &token, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(otp_grant(&http, &server, &token, &code).await.0, 400);
}

async fn password_grant_status(http: &reqwest::Client, server: &Server) -> (u16, Value) {
    form(
        http,
        &server.url("/oauth/token"),
        &[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("username", USER),
            ("password", PASSWORD),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_one_refresh_token_raced_over_three_instances_rotates_once() {
    let (url, s) = three_instances("refresh").await;
    let http = client();
    let (_, secret, _, t) = enrolled(&http, &s[0]).await;
    let (mfa_token, _) = password_grant_for(&http, &s[1], None, "openid offline_access").await;
    let (status, tokens) = otp_grant(&http, &s[2], &mfa_token, &oathtool(&secret, t + 30)).await;
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", CLIENT.into()),
            ("client_secret", CLIENT_SECRET.into()),
            ("refresh_token", token),
        ]
    };
    // One rotation on another instance works.
    let (status, body) = form(
        &http,
        &s[0].url("/oauth/token"),
        &refresh(token.clone())
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let live = body["refresh_token"].as_str().unwrap().to_owned();
    // 60 simultaneous uses of the live token over three instances: one
    // rotation; the others find it used and revoke the family.
    let statuses = race(&s, 60, refresh(live)).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 403)),
        "{statuses:?}"
    );
    let db = Db::connect(&url, test_keyring()).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "the family is revoked");
}

#[tokio::test]
async fn postgres_rotate_signing_key_reaches_three_running_instances() {
    let (url, s) = three_instances("rotate").await;
    let http = client();
    let jwks = |i: usize| {
        let http = http.clone();
        let url = s[i].url("/.well-known/jwks.json");
        async move {
            let v: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            v["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    // The current key and the next one.
    let old = jwks(0).await;
    assert_eq!(old.len(), 2, "{old:?}");
    let (ok, out) = cli(&["rotate-signing-key", "--db", &url], "");
    assert!(ok, "{out}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for i in 0..3 {
        loop {
            let kids = jwks(i).await;
            if kids.len() == 3 {
                assert_eq!(
                    kids[..2],
                    [old[1].clone(), old[0].clone()],
                    "the next key signs, the old key is published after it"
                );
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "instance {i}: {kids:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    // A second rotation right after: the first new key retires too.
    let (ok, out) = cli(&["rotate-signing-key", "--db", &url], "");
    assert!(ok, "{out}");
    let db = Db::connect(&url, test_keyring()).await.unwrap();
    let current: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE next_key = 0), count(*) FILTER (WHERE next_key = 1)
         FROM signing_keys WHERE retired_at IS NULL",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(current, (1, 1));
}
