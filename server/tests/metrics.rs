//! The Prometheus metrics of a real server process (`--metrics-listen`):
//! `/metrics` is scraped before and after a scripted flow, parsed with a
//! Prometheus text parser (the `prometheus-parse` crate), and every
//! counter the flow moves must have moved by exactly what it did:
//! requests by route and status, latency histogram counts, grant outcomes
//! of every kind, accepted-code offsets; the Argon2 and pool gauges must be
//! there with the configured limits; and no label may hold a user, code or
//! token. Metrics are off without the flag.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    clippy::float_cmp,
    missing_docs
)]

mod common;
mod support {
    pub mod running;
}

use std::time::Duration;

use common::{
    CLIENT, CLIENT_SECRET, MFA_RECOVERY, PASSWORD, USER, associate, db_path, form, oathtool,
    otp_grant, password_grant, provision, temp_dir, unix_now,
};
use prometheus_parse::{Scrape, Value};
use support::running::{Running, spawn};

async fn scrape(http: &reqwest::Client, metrics: &str) -> (String, Scrape) {
    let r = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    (text, scrape)
}

/// The value of `metric` with exactly `labels` (0 if absent).
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| {
            labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)) && s.labels.len() == labels.len()
        })
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map_or(0.0, |b| b.count),
            Value::Summary(_) => panic!("{metric} is a summary"),
        })
        .collect();
    assert!(found.len() <= 1, "{metric}{labels:?}: {found:?}");
    found.first().copied().unwrap_or(0.0)
}

fn moved(before: &Scrape, after: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    value(after, metric, labels) - value(before, metric, labels)
}

async fn recovery_grant(
    http: &reqwest::Client,
    server: &common::Server,
    mfa_token: &str,
    code: &str,
) -> (u16, serde_json::Value) {
    form(
        http,
        &server.url("/oauth/token"),
        &[
            ("grant_type", MFA_RECOVERY),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", mfa_token),
            ("recovery_code", code),
        ],
    )
    .await
}

async fn wrong_password(http: &reqwest::Client, server: &common::Server, user: &str) -> u16 {
    let (status, _) = form(
        http,
        &server.url("/oauth/token"),
        &[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("username", user),
            ("password", "not the password"),
        ],
    )
    .await;
    status
}

#[tokio::test]
async fn a_scripted_flow_moves_each_counter_by_exactly_what_it_did() {
    let dir = temp_dir("metrics");
    let db = db_path(&dir);
    provision(&db);
    let log = dir.join("stderr.log");
    let (child, addr, metrics) = spawn(
        &db,
        &[
            "--issuer",
            "ACME",
            "--metrics-listen",
            "127.0.0.1:0",
            "--throttle-attempts",
            "3",
            "--login-max-failures",
            "2",
            "--hash-queue",
            "7",
        ],
        &log,
    );
    let metrics = metrics.expect("no metrics address printed");
    let server = common::Server::from_child(child, format!("http://{addr}"));
    let http = common::client();
    let (_, before) = scrape(&http, &metrics).await;

    // Not at the end of a time step: the offsets below are exact.
    while unix_now() % 30 > 22 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Password: 2 wrong for another user (then blocked once), 3 right.
    assert_eq!(wrong_password(&http, &server, "mallory").await, 403);
    assert_eq!(wrong_password(&http, &server, "mallory").await, 403);
    assert_eq!(wrong_password(&http, &server, "mallory").await, 429);
    // Enroll, confirmed by the previous step's code (offset -1).
    let (token, _) = password_grant(&http, &server).await;
    let (status, a) = associate(&http, &server, &token).await;
    assert_eq!(status, 200, "{a}");
    let secret = a["secret"].as_str().unwrap().to_owned();
    let recovery = a["recovery_codes"][0].as_str().unwrap().to_owned();
    let t = unix_now();
    let (status, body) = otp_grant(&http, &server, &token, &oathtool(&secret, t - 30)).await;
    assert_eq!(status, 200, "{body}");
    // Log in again with this step's code (offset 0), replay it, then three
    // wrong codes and a throttled one (3 attempts per bucket).
    let (token, _) = password_grant(&http, &server).await;
    let code = oathtool(&secret, t);
    assert_eq!(otp_grant(&http, &server, &token, &code).await.0, 200);
    assert_eq!(otp_grant(&http, &server, &token, &code).await.0, 400);
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    assert_eq!(otp_grant(&http, &server, &token, &wrong).await.0, 400);
    // A malformed code is refused before the bucket is charged.
    assert_eq!(otp_grant(&http, &server, &token, "12345").await.0, 400);
    assert_eq!(otp_grant(&http, &server, &token, &wrong).await.0, 400);
    assert_eq!(otp_grant(&http, &server, &token, &wrong).await.0, 429);
    // Recovery: one right (rotated), then three wrong, then throttled.
    let (token, _) = password_grant(&http, &server).await;
    let (status, body) = recovery_grant(&http, &server, &token, &recovery).await;
    assert_eq!(status, 200, "{body}");
    for _ in 0..3 {
        assert_eq!(
            recovery_grant(&http, &server, &token, &recovery).await.0,
            400
        );
    }
    assert_eq!(
        recovery_grant(&http, &server, &token, &recovery).await.0,
        429
    );
    // Two unauthenticated probes.
    assert_eq!(
        http.get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(server.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(server.url("/nope/123"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let (text, after) = scrape(&http, &metrics).await;
    let grants = |grant, outcome| {
        moved(
            &before,
            &after,
            "mfa_server_grants_total",
            &[("grant", grant), ("outcome", outcome)],
        )
    };
    assert_eq!(grants("password", "wrong"), 2.0);
    assert_eq!(grants("password", "blocked"), 1.0);
    assert_eq!(grants("password", "throttled"), 0.0);
    assert_eq!(grants("password", "ok"), 3.0);
    assert_eq!(grants("otp", "accepted"), 2.0);
    assert_eq!(grants("otp", "replayed"), 1.0);
    assert_eq!(grants("otp", "invalid"), 3.0);
    assert_eq!(grants("otp", "throttled"), 1.0);
    assert_eq!(grants("recovery", "accepted"), 1.0);
    assert_eq!(grants("recovery", "invalid"), 3.0);
    assert_eq!(grants("recovery", "throttled"), 1.0);
    let offset = |o| {
        moved(
            &before,
            &after,
            "mfa_server_otp_accepted_offset_total",
            &[("offset", o)],
        )
    };
    assert_eq!((offset("-1"), offset("0"), offset("1")), (1.0, 1.0, 0.0));

    let requests = |method, route, status| {
        moved(
            &before,
            &after,
            "mfa_server_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    // 403: 2 wrong passwords, 3 mfa_required; 400: 1 replay, 3 wrong
    // otps, 3 wrong recovery codes.
    assert_eq!(requests("POST", "/oauth/token", "403"), 5.0);
    assert_eq!(requests("POST", "/oauth/token", "400"), 7.0);
    assert_eq!(requests("POST", "/oauth/token", "429"), 3.0);
    assert_eq!(requests("POST", "/oauth/token", "200"), 3.0);
    assert_eq!(requests("POST", "/mfa/associate", "200"), 1.0);
    assert_eq!(requests("GET", "/health", "200"), 1.0);
    assert_eq!(requests("GET", "/ready", "200"), 1.0);
    assert_eq!(requests("GET", "unmatched", "404"), 1.0);
    let latency = |route| {
        moved(
            &before,
            &after,
            "mfa_server_http_request_duration_seconds_count",
            &[("method", "POST"), ("route", route)],
        )
    };
    assert_eq!(latency("/oauth/token"), 18.0);
    assert_eq!(latency("/mfa/associate"), 1.0);
    // The histogram's +Inf bucket agrees with its count.
    assert_eq!(
        value(
            &after,
            "mfa_server_http_request_duration_seconds",
            &[("method", "POST"), ("route", "/oauth/token")]
        ),
        value(
            &after,
            "mfa_server_http_request_duration_seconds_count",
            &[("method", "POST"), ("route", "/oauth/token")]
        )
    );

    // Gauges: idle now, with the configured limits.
    assert_eq!(value(&after, "mfa_server_argon2_queue_depth", &[]), 0.0);
    assert_eq!(value(&after, "mfa_server_argon2_running", &[]), 0.0);
    assert_eq!(value(&after, "mfa_server_argon2_queue_capacity", &[]), 7.0);
    let max = value(&after, "mfa_server_db_pool_max_connections", &[]);
    let in_use = value(
        &after,
        "mfa_server_db_pool_connections",
        &[("state", "in_use")],
    );
    let idle = value(
        &after,
        "mfa_server_db_pool_connections",
        &[("state", "idle")],
    );
    assert!(
        max >= 1.0 && in_use + idle >= 1.0 && in_use + idle <= max,
        "{max} {in_use} {idle}"
    );
    assert!(
        moved(
            &before,
            &after,
            "mfa_server_db_pool_acquire_wait_seconds_count",
            &[]
        ) >= 1.0,
        "{text}"
    );

    // No user, code or token anywhere in the exposition.
    for secret in [
        USER,
        "auth0|",
        "mallory",
        &secret,
        &recovery,
        &code,
        &token,
        CLIENT_SECRET,
    ] {
        assert!(!text.contains(secret), "{secret:?} in /metrics");
    }
    // Every label value is one of a fixed set.
    for sample in &after.samples {
        if let Some(route) = sample.labels.get("route") {
            assert!(route == "unmatched" || route.starts_with('/'), "{route}");
            assert!(!route.contains("123"), "{route}");
        }
    }
}

#[tokio::test]
async fn without_the_flag_there_is_no_metrics_listener() {
    let dir = temp_dir("metrics-off");
    let db = db_path(&dir);
    provision(&db);
    let log = dir.join("stderr.log");
    let running = Running::start(&db, &[], &log);
    assert_eq!(running.metrics, None);
    // The API does not serve them either.
    let http = common::client();
    let r = http
        .get(format!("http://{}/metrics", running.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let _ = PASSWORD;
}
