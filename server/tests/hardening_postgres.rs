//! Issue 13 on PostgreSQL, with three `mfa-server` processes on one
//! database: the login throttle holds across instances (F5: 50 concurrent
//! wrong passwords charge exactly what they should, and an 11th password
//! check never happens), and NUL bytes are a 400 with no ERROR line (F10).
//!
//! Needs `MFA_TEST_POSTGRES_URL` (a superuser URL); these tests do not skip
//! (`-- --skip postgres` leaves them out). `MFA_TEST_SERVER_BIN` runs them
//! against another build (see `procs/mod.rs`).

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
mod procs;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::{CLIENT, CLIENT_SECRET, PASSWORD, USER, client_builder, fresh_pg_database, temp_dir};
use procs::{Proc, provision};
use serde_json::Value;
use sqlx::Connection as _;

/// Three instances on a fresh, provisioned database, with `env`.
async fn three_instances(tag: &str, env: &[(&str, &str)]) -> (String, Vec<Proc>) {
    let url = fresh_pg_database(tag).await;
    provision(&url, &[USER]);
    let dir = temp_dir(tag);
    let servers = (0..3)
        .map(|i| Proc::serve(&url, env, None, &dir.join(format!("server{i}.log"))))
        .collect();
    (url, servers)
}

fn http() -> reqwest::Client {
    client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn login(http: &reqwest::Client, server: &Proc, password: &str) -> (u16, Value) {
    let r = http
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("username", USER),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// 50 wrong passwords for the seed user at once, spread over `servers`.
async fn fifty_wrong(servers: &[Proc]) -> Vec<(u16, Value)> {
    let http = http();
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (http, barrier) = (http.clone(), barrier.clone());
            let url = servers[i % servers.len()].url("/oauth/token");
            tokio::spawn(async move {
                barrier.wait().await;
                let r = http
                    .post(url)
                    .form(&[
                        ("grant_type", "password"),
                        ("client_id", CLIENT),
                        ("client_secret", CLIENT_SECRET),
                        ("username", USER),
                        ("password", "not the password"),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// The stored failure counts (one row per user and address).
async fn stored_failures(url: &str) -> Vec<i64> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT failures FROM login_failures")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

fn count(answers: &[(u16, Value)], status: u16, description: &str) -> usize {
    answers
        .iter()
        .filter(|(s, b)| *s == status && b["error_description"] == description)
        .count()
}

const WRONG: &str = "Wrong email or password.";
const BLOCKED: &str = "Your account has been blocked after multiple consecutive login attempts.";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_fifty_concurrent_wrong_passwords_are_charged_exactly_across_instances_f5() {
    // The default threshold: exactly 10 checked, the other 40 refused
    // unchecked, on whichever instance they landed.
    let (url, s) = three_instances("f5ten", &[]).await;
    let answers = fifty_wrong(&s).await;
    assert_eq!(count(&answers, 403, WRONG), 10, "{answers:?}");
    assert_eq!(count(&answers, 429, BLOCKED), 40, "{answers:?}");
    assert_eq!(stored_failures(&url).await, [10]);
    // The block holds on every instance, even for the right password.
    let http = http();
    for server in &s {
        let (status, body) = login(&http, server, PASSWORD).await;
        assert_eq!(
            (status, body["error_description"].as_str()),
            (429, Some(BLOCKED))
        );
    }
    assert_eq!(stored_failures(&url).await, [10]);
    // Until it is lifted, for all of them.
    procs::cli(&["users", "unblock", USER, "--db", &url], "");
    for server in &s {
        let (status, body) = login(&http, server, PASSWORD).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("mfa_required"))
        );
    }
    assert_eq!(stored_failures(&url).await, Vec::<i64>::new());

    // Room for all 50: each is charged once, none lost across instances.
    let (url, s) = three_instances("f5all", &[("MFA_SERVER_LOGIN_MAX_FAILURES", "100")]).await;
    let answers = fifty_wrong(&s).await;
    assert_eq!(count(&answers, 403, WRONG), 50, "{answers:?}");
    assert_eq!(stored_failures(&url).await, [50]);
}

#[tokio::test]
async fn postgres_nul_bytes_are_invalid_requests_without_error_lines_f10() {
    let url = fresh_pg_database("f10").await;
    provision(&url, &[USER]);
    let dir = temp_dir("f10");
    let server = Proc::serve(&url, &[], None, &dir.join("server.log"));
    let http = http();
    let base = [
        ("grant_type", "password"),
        ("client_id", CLIENT),
        ("client_secret", CLIENT_SECRET),
        ("username", USER),
        ("password", PASSWORD),
    ];
    let mut statuses = Vec::new();
    for round in 0..5 {
        for (field, value) in [
            ("username", "jane\0@example.com"),
            ("client_id", "seed\0app"),
            ("scope", "openid\0"),
            ("audience", "https://api\0.example.com/"),
        ] {
            let mut fields: Vec<(&str, &str)> =
                base.iter().copied().filter(|(k, _)| *k != field).collect();
            fields.push((field, value));
            let r = if round % 2 == 0 {
                http.post(server.url("/oauth/token")).form(&fields)
            } else {
                let object: serde_json::Map<String, Value> = fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                    .collect();
                http.post(server.url("/oauth/token")).json(&object)
            };
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            assert_eq!(
                (
                    status,
                    body["error"].as_str(),
                    body["error_description"].as_str()
                ),
                (
                    400,
                    Some("invalid_request"),
                    Some(format!("Parameter {field} must not contain NUL characters").as_str())
                ),
                "{field}"
            );
            statuses.push(status);
        }
    }
    // In HTTP Basic, too.
    let basic = base64::engine::general_purpose::STANDARD.encode("seed%00app:secret");
    let r = http
        .post(server.url("/oauth/token"))
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "password"),
            ("username", USER),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(statuses.len(), 20);
    // The server is fine and said nothing alarming.
    let (status, body) = login(&http, &server, PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("mfa_required"))
    );
    let log = server.log();
    assert!(!log.contains(" ERROR "), "{log}");
    assert!(!log.contains("status=503"), "{log}");
}
