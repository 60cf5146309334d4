//! A bounded HTTP load generator for mfa-server (used by
//! `scripts/load-test.sh`). It sends a fixed number of requests with a fixed
//! concurrency to one or more instances on loopback and prints throughput,
//! latency percentiles and the status mix.
//!
//! Scenarios:
//! - `password`: the password grant with the right password (answers 403
//!   mfa_required; Argon2id dominates, on purpose).
//! - `mfa-otp`: the mfa-otp grant with the user's next code. Setup enrolls
//!   every user first (confirming with the current code). The first request
//!   per user is accepted (200); the rest are replays (400) that still take the whole
//!   path: client authentication, mfa_token lookup, authenticator load, the
//!   attempt compare-and-set and the constant-time window check.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Value;
use totp_engine::{Clock, ParsedKeyUri, SystemClock, Totp};

#[derive(Debug, Parser)]
struct Args {
    /// Comma-separated base URLs; requests go round-robin.
    #[arg(long)]
    targets: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    /// Users are PREFIX0 … PREFIX{N-1}, all with --password.
    #[arg(long, default_value = "load")]
    user_prefix: String,
    #[arg(long)]
    users: usize,
    #[arg(long)]
    password: String,
    /// `password` or `mfa-otp`.
    #[arg(long)]
    scenario: String,
    #[arg(long)]
    requests: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// A label for the report (e.g. the database).
    #[arg(long, default_value = "")]
    label: String,
}

struct User {
    name: String,
    mfa_token: String,
    app: Option<Totp>,
}

async fn post(http: &reqwest::Client, url: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let r = http.post(url).form(fields).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn setup(args: &Args, http: &reqwest::Client, targets: &[String]) -> Vec<User> {
    let mut users = Vec::with_capacity(args.users);
    for i in 0..args.users {
        let name = format!("{}{i}", args.user_prefix);
        let target = &targets[i % targets.len()];
        let (status, body) = post(
            http,
            &format!("{target}/oauth/token"),
            &[
                ("grant_type", "password"),
                ("client_id", &args.client_id),
                ("client_secret", &args.client_secret),
                ("username", &name),
                ("password", &args.password),
            ],
        )
        .await;
        assert_eq!(status, 403, "password grant for {name}: {body}");
        let mfa_token = body["mfa_token"].as_str().unwrap().to_owned();
        let mut app = None;
        if args.scenario == "mfa-otp" {
            let r = http
                .post(format!("{target}/mfa/associate"))
                .bearer_auth(&mfa_token)
                .json(&serde_json::json!({ "authenticator_types": ["otp"] }))
                .send()
                .await
                .unwrap();
            let body: Value = r.json().await.unwrap();
            let uri = ParsedKeyUri::parse(body["barcode_uri"].as_str().unwrap()).unwrap();
            let totp = Totp::new(uri.secret(), uri.totp_params());
            let code = totp.generate(SystemClock.unix_time()).unwrap();
            let (status, body) = post(
                http,
                &format!("{target}/oauth/token"),
                &[
                    ("grant_type", "http://auth0.com/oauth/grant-type/mfa-otp"),
                    ("client_id", &args.client_id),
                    ("client_secret", &args.client_secret),
                    ("mfa_token", &mfa_token),
                    ("otp", code.as_str()),
                ],
            )
            .await;
            assert!(
                status == 200 || status == 400,
                "confirming {name}: {status} {body}"
            );
            app = Some(totp);
        }
        users.push(User {
            name,
            mfa_token,
            app,
        });
    }
    users
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    assert!(
        matches!(args.scenario.as_str(), "password" | "mfa-otp"),
        "unknown scenario"
    );
    assert!(args.users > 0 && args.requests > 0 && args.concurrency > 0);
    let targets: Vec<String> = args
        .targets
        .split(',')
        .map(|t| t.trim_end_matches('/').to_owned())
        .collect();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let users = Arc::new(setup(&args, &http, &targets).await);
    let next = Arc::new(AtomicUsize::new(0));
    let args = Arc::new(args);
    let targets = Arc::new(targets);
    let started = Instant::now();
    let workers = (0..args.concurrency).map(|_| {
        let (http, users, next, args, targets) = (
            http.clone(),
            users.clone(),
            next.clone(),
            args.clone(),
            targets.clone(),
        );
        tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= args.requests {
                    break;
                }
                let user = &users[i % users.len()];
                let url = format!("{}/oauth/token", targets[i % targets.len()]);
                let t = Instant::now();
                let status = if args.scenario == "password" {
                    post(
                        &http,
                        &url,
                        &[
                            ("grant_type", "password"),
                            ("client_id", &args.client_id),
                            ("client_secret", &args.client_secret),
                            ("username", &user.name),
                            ("password", &args.password),
                        ],
                    )
                    .await
                    .0
                } else {
                    // The next step's code: accepted once per user (setup used
                    // the current one), a replay after that.
                    let code = user
                        .app
                        .as_ref()
                        .unwrap()
                        .generate(SystemClock.unix_time() + 30)
                        .unwrap();
                    post(
                        &http,
                        &url,
                        &[
                            ("grant_type", "http://auth0.com/oauth/grant-type/mfa-otp"),
                            ("client_id", &args.client_id),
                            ("client_secret", &args.client_secret),
                            ("mfa_token", &user.mfa_token),
                            ("otp", code.as_str()),
                        ],
                    )
                    .await
                    .0
                };
                samples.push((t.elapsed(), status));
            }
            samples
        })
    });
    let mut samples = Vec::new();
    for w in futures::future::join_all(workers).await {
        samples.extend(w.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = samples
        .iter()
        .map(|(d, _)| d.as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let mut statuses = BTreeMap::new();
    for (_, s) in &samples {
        *statuses.entry(*s).or_insert(0usize) += 1;
    }
    let mix: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
    println!(
        "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
        args.label,
        args.scenario,
        targets.len(),
        samples.len(),
        args.concurrency,
        samples.len() as f64 / elapsed,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        mix.join(" "),
    );
}
