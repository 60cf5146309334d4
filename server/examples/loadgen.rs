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
//! - `grant`: the honest mfa-otp measurement, over a fixture of enrolled
//!   users with mfa_tokens (`provision` writes it): `--count` users spread
//!   over the fixture each send their current code once (the accepted
//!   path: a grant that advances the step and issues tokens), then the same
//!   code again (the replay path). Each phase is its own row, printed as a
//!   tab-separated `ROW` line with the server's CPU per request read from
//!   `/proc/PID/stat` (`--server-pids`) and, with `--postmaster`, the CPU of
//!   that PostgreSQL cluster's processes. `--step-file` remembers the last
//!   time step a run used, so that a repeated run on the same database
//!   first waits for a fresh step.

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
    #[arg(long, default_value_t = 0)]
    users: usize,
    #[arg(long, default_value = "")]
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
    /// `grant`: the fixture (`mfa_token base32-secret` lines).
    #[arg(long)]
    fixture: Option<std::path::PathBuf>,
    /// `grant`: users taken from the fixture, evenly spread.
    #[arg(long, default_value_t = 0)]
    count: usize,
    /// `grant`: comma-separated pids whose CPU is counted as the server's.
    #[arg(long, default_value = "")]
    server_pids: String,
    /// `grant`: a PostgreSQL postmaster pid; its processes' CPU is the database's.
    #[arg(long)]
    postmaster: Option<u32>,
    /// `grant`: clock ticks per second (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// `grant`: the file that remembers the last time step used.
    #[arg(long)]
    step_file: Option<std::path::PathBuf>,
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

/// utime + stime of a process, in clock ticks (0 if it is gone).
fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The fields after the command (which may contain spaces) in `(…)`.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // State is field 3 of the line, i.e. index 0 here; utime 14, stime 15.
    fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0)
}

/// The children of `parent` (a postmaster's backends and workers).
fn children(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
        if rest.split_ascii_whitespace().nth(1) == Some(&parent.to_string()) {
            pids.push(pid);
        }
    }
    pids
}

/// CPU ticks of the server pids and of the database's processes, by pid.
fn cpu_snapshot(args: &Args) -> (u64, BTreeMap<u32, u64>) {
    let server = args
        .server_pids
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| cpu_ticks(p.parse().unwrap()))
        .sum();
    let mut db = BTreeMap::new();
    if let Some(pm) = args.postmaster {
        db.insert(pm, cpu_ticks(pm));
        for child in children(pm) {
            db.insert(child, cpu_ticks(child));
        }
    }
    (server, db)
}

/// A fixture user of `grant`: the mfa_token, the authenticator app, and
/// the code sent in the accepted phase (replayed in the next).
struct GrantUser {
    token: String,
    app: Totp,
    sent: std::sync::Mutex<String>,
}

/// One phase of `grant`: each user sends `code_of(user)`; returns the
/// samples and the elapsed seconds.
async fn run_phase(
    http: &reqwest::Client,
    args: &Arc<Args>,
    targets: &Arc<Vec<String>>,
    users: &Arc<Vec<GrantUser>>,
    replay: bool,
) -> (Vec<(Duration, u16)>, f64) {
    let next = Arc::new(AtomicUsize::new(0));
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
                if i >= users.len() {
                    break;
                }
                let user = &users[i];
                // Accepted: the current code, made as it is sent (a slow
                // run may cross steps); replay: the very code sent then.
                let code = if replay {
                    user.sent.lock().unwrap().clone()
                } else {
                    let code = user.app.generate(SystemClock.unix_time()).unwrap();
                    let code = code.as_str().to_owned();
                    user.sent.lock().unwrap().clone_from(&code);
                    code
                };
                let token = &user.token;
                let url = format!("{}/oauth/token", targets[i % targets.len()]);
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .form(&[
                        ("grant_type", "http://auth0.com/oauth/grant-type/mfa-otp"),
                        ("client_id", args.client_id.as_str()),
                        ("client_secret", args.client_secret.as_str()),
                        ("mfa_token", token.as_str()),
                        ("otp", code.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let _ = r.bytes().await.unwrap();
                samples.push((t.elapsed(), status));
            }
            samples
        })
    });
    let mut samples = Vec::new();
    for w in futures::future::join_all(workers).await {
        samples.extend(w.unwrap());
    }
    (samples, started.elapsed().as_secs_f64())
}

fn report(
    args: &Args,
    path: &str,
    instances: usize,
    samples: &[(Duration, u16)],
    elapsed: f64,
    cpu: (f64, f64),
) {
    let mut latencies: Vec<f64> = samples
        .iter()
        .map(|(d, _)| d.as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let mut statuses = BTreeMap::new();
    for (_, s) in samples {
        *statuses.entry(*s).or_insert(0usize) += 1;
    }
    let mix: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
    println!(
        "ROW\t{}\t{}\t{}\t{}\t{}\t{:.0}\t{:.2}\t{:.2}\t{:.2}\t{}\t{:.0}\t{:.0}",
        args.label,
        path,
        instances,
        samples.len(),
        args.concurrency,
        samples.len() as f64 / elapsed,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        mix.join(" "),
        cpu.0,
        cpu.1,
    );
}

async fn grant(args: Args, http: reqwest::Client, targets: Vec<String>) {
    let text = std::fs::read_to_string(args.fixture.as_ref().expect("--fixture")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let count = if args.count == 0 {
        lines.len()
    } else {
        args.count.min(lines.len())
    };
    let stride = lines.len() / count;
    let params = totp_engine::TotpParams::default();
    let step_of = |t: u64| t / u64::from(params.period().secs());
    // A step this database has not seen yet.
    let last_used = args
        .step_file
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    if let Some(last) = last_used {
        while step_of(SystemClock.unix_time()) <= last {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let users: Vec<GrantUser> = (0..count)
        .map(|k| {
            let (token, secret) = lines[k * stride].split_once(' ').unwrap();
            let secret = totp_engine::Secret::from_base32(secret).unwrap();
            GrantUser {
                token: token.to_owned(),
                app: Totp::new(&secret, params),
                sent: std::sync::Mutex::new(String::new()),
            }
        })
        .collect();
    let users = Arc::new(users);
    let args = Arc::new(args);
    let instances = targets.len();
    let targets = Arc::new(targets);
    let mut last_step = 0;
    for path in ["accepted", "replay"] {
        let (server0, db0) = cpu_snapshot(&args);
        let (samples, elapsed) = run_phase(&http, &args, &targets, &users, path == "replay").await;
        if path == "accepted" {
            last_step = step_of(SystemClock.unix_time());
        }
        let (server1, db1) = cpu_snapshot(&args);
        let ticks_db: u64 = db1
            .iter()
            .map(|(pid, t)| t.saturating_sub(db0.get(pid).copied().unwrap_or(0)))
            .sum();
        let per = |ticks: u64| ticks as f64 * 1e6 / args.clk_tck as f64 / samples.len() as f64;
        report(
            &args,
            path,
            instances,
            &samples,
            elapsed,
            (per(server1.saturating_sub(server0)), per(ticks_db)),
        );
    }
    if let Some(f) = &args.step_file {
        // Codes up to this step were accepted; a later run needs a later one.
        std::fs::write(f, last_step.to_string()).unwrap();
    }
}

#[tokio::main]
async fn main() {
    // reqwest is built without a TLS provider of its own (the tests pick
    // one); plain HTTP still needs one installed.
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = Args::parse();
    if args.scenario == "grant" {
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
        grant(args, http, targets).await;
        return;
    }
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
