//! Helpers for the server tests: start the real `mfa-server` binary on a
//! loopback port with a fresh database, run its CLI, and compute codes with
//! `oathtool` (an implementation independent of the engine).

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects
)]

pub mod inproc;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_mfa-server");
pub const CLIENT: &str = "seed-app";
pub const CLIENT_SECRET: &str = "a-very-secret-client-secret";
pub const USER: &str = "jane@example.com";
pub const PASSWORD: &str = "correct horse battery staple";
pub const MFA_OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
pub const MFA_RECOVERY: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";
/// The `--issuer-url` of [`Server::start`]: the `iss` of its tokens.
pub const ISSUER_URL: &str = "https://auth.example.com/";
/// The MFA API's audience under [`ISSUER_URL`].
pub const MFA_AUDIENCE: &str = "https://auth.example.com/mfa/";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh directory for one test's database.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mfa-server-test-{}-{}-{}",
        std::process::id(),
        name,
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The encryption key every test database is sealed with (processes read
/// it from [`test_key_file`], in-process tests use [`test_keyring`]).
pub const TEST_KEY: [u8; 32] = [0x42; 32];

/// A key file holding [`TEST_KEY`], shared by the processes of this test run.
pub fn test_key_file() -> PathBuf {
    let path = std::env::temp_dir().join(format!("mfa-server-test-{}.key", std::process::id()));
    if !path.exists() {
        let tmp = path.with_extension(format!("tmp{}", NEXT.fetch_add(1, Ordering::SeqCst)));
        std::fs::write(&tmp, format!("{}\n", hex::encode(TEST_KEY))).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// The keyring of [`TEST_KEY`], as the server derives it from the file.
pub fn test_keyring() -> totp_engine_sqlx::Keyring {
    totp_engine_sqlx::Keyring::new(totp_engine::SealingKey::new(
        mfa_server::keys::key_id(&TEST_KEY),
        &TEST_KEY,
    ))
}

/// The binary, with none of the caller's `MFA_SERVER_*` variables and
/// with `env` set; unless `env` names one, the encryption key is
/// [`test_key_file`].
pub fn command(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MFA_SERVER_") {
            command.env_remove(name);
        }
    }
    if !env
        .iter()
        .any(|(k, _)| *k == "MFA_SERVER_ENCRYPTION_KEY_FILE")
    {
        command.env("MFA_SERVER_ENCRYPTION_KEY_FILE", test_key_file());
    }
    command.envs(env.iter().copied());
    command
}

/// Runs a CLI subcommand with `stdin`; returns (success, stdout + stderr).
pub fn cli(args: &[&str], stdin: &str) -> (bool, String) {
    cli_env(args, &[], stdin)
}

/// [`cli`] with environment variables.
pub fn cli_env(args: &[&str], env: &[(&str, &str)], stdin: &str) -> (bool, String) {
    let mut child = command(env)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command may end without reading its input (one refused before it
    // asks for a secret): its status and output then say what happened,
    // so a closed pipe is not the harness's error.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Creates the seed client and user in `db`.
pub fn provision(db: &str) {
    let (ok, out) = cli(
        &["add-client", CLIENT, "--db", db],
        &format!("{CLIENT_SECRET}\n"),
    );
    assert!(ok, "{out}");
    let (ok, out) = cli(&["add-user", USER, "--db", db], &format!("{PASSWORD}\n"));
    assert!(ok, "{out}");
}

/// A running server process, killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// `serve` on a free loopback port with `db`, issuer ACME (the name in
    /// authenticator apps), issuer URL [`ISSUER_URL`], and `extra`
    /// arguments.
    pub fn start(db: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            db,
            "--issuer",
            "ACME",
            "--issuer-url",
            ISSUER_URL,
        ];
        args.extend_from_slice(extra);
        Self::spawn(&args, &[])
    }

    /// The binary with `args` and `env`, once it prints its address.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = command(env)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .unwrap();
            if let Some(addr) = line.strip_prefix("mfa-server listening on ") {
                break addr.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, base }
    }

    /// A server started by the caller (with its own command), once it
    /// printed its address; killed on drop like the others.
    pub fn from_child(child: Child, base: String) -> Self {
        Self { child, base }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn db_path(dir: &Path) -> String {
    dir.join("mfa.db").to_string_lossy().into_owned()
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The TOTP code of a base32 secret at `t`, from oathtool.
pub fn oathtool(secret: &str, t: u64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "--base32", &format!("--now=@{t}"), secret])
        .output()
        .expect("oathtool is required (apt-get install oathtool); this test does not skip");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A reqwest client builder. reqwest is built with rustls but no crypto
/// provider of its own (for tests/tls.rs): this gives it aws-lc-rs, the
/// server's provider, before any client is built.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
}

pub fn client() -> reqwest::Client {
    client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// POSTs a form; returns (status, JSON body).
pub async fn form(http: &reqwest::Client, url: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let body = serde_urlencoded::to_string(fields).unwrap();
    let r = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    status_json(r).await
}

pub async fn status_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
    };
    (status, json)
}

/// The password grant; returns the mfa_token and the whole answer.
pub async fn password_grant(http: &reqwest::Client, server: &Server) -> (String, Value) {
    password_grant_for(http, server, None, "openid profile").await
}

/// The password grant asking for `audience` (none: the default) and
/// `scope`; returns the mfa_token and the whole answer.
pub async fn password_grant_for(
    http: &reqwest::Client,
    server: &Server,
    audience: Option<&str>,
    scope: &str,
) -> (String, Value) {
    let mut fields = vec![
        ("grant_type", "password"),
        ("client_id", CLIENT),
        ("client_secret", CLIENT_SECRET),
        ("username", USER),
        ("password", PASSWORD),
        ("scope", scope),
    ];
    if let Some(audience) = audience {
        fields.push(("audience", audience));
    }
    let (status, body) = form(http, &server.url("/oauth/token"), &fields).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "mfa_required");
    (body["mfa_token"].as_str().unwrap().to_owned(), body)
}

pub async fn associate(http: &reqwest::Client, server: &Server, mfa_token: &str) -> (u16, Value) {
    let r = http
        .post(server.url("/mfa/associate"))
        .header("authorization", format!("Bearer {mfa_token}"))
        .header("content-type", "application/json")
        .body(r#"{ "authenticator_types": ["otp"] }"#)
        .send()
        .await
        .unwrap();
    status_json(r).await
}

pub async fn otp_grant(
    http: &reqwest::Client,
    server: &Server,
    mfa_token: &str,
    otp: &str,
) -> (u16, Value) {
    form(
        http,
        &server.url("/oauth/token"),
        &[
            ("grant_type", MFA_OTP),
            ("client_id", CLIENT),
            ("mfa_token", mfa_token),
            ("client_secret", CLIENT_SECRET),
            ("otp", otp),
        ],
    )
    .await
}

/// Enrolls and confirms; returns (mfa_token, secret, recovery code, time used).
pub async fn enrolled(http: &reqwest::Client, server: &Server) -> (String, String, String, u64) {
    let (token, _) = password_grant(http, server).await;
    let (status, a) = associate(http, server, &token).await;
    assert_eq!(status, 200, "{a}");
    let secret = a["secret"].as_str().unwrap().to_owned();
    let recovery = a["recovery_codes"][0].as_str().unwrap().to_owned();
    let t = unix_now();
    let (status, body) = otp_grant(http, server, &token, &oathtool(&secret, t)).await;
    assert_eq!(status, 200, "{body}");
    (token, secret, recovery, t)
}

/// The PostgreSQL superuser URL of the test cluster (`scripts/test.sh`
/// starts one and sets it); the PostgreSQL tests fail, never skip, without.
pub fn pg_admin_url() -> String {
    std::env::var("MFA_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "MFA_TEST_POSTGRES_URL is not set. Run the suite with scripts/test.sh, which starts a \
             throwaway PostgreSQL cluster, or skip these tests with `-- --skip postgres`."
        )
    })
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// A fresh database on the test cluster; returns its URL.
pub async fn fresh_pg_database(tag: &str) -> String {
    use sqlx::Connection as _;
    let admin = pg_admin_url();
    let name = format!(
        "mfa_{tag}_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}
