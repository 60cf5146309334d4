//! Helpers for the process tests of issue 13 (`limits.rs`,
//! `hardening_postgres.rs`): the server binary with its standard error
//! kept in a file, a lower open-file limit when asked, its peak memory,
//! and provisioning through the same binary.
//!
//! `MFA_TEST_SERVER_BIN` runs these tests against another build of the
//! binary (an older commit, say) to see each finding reproduce there:
//! settings go in through `MFA_SERVER_*` environment variables, which an
//! older build ignores, rather than through flags it would refuse.

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

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary under test.
pub fn bin() -> String {
    std::env::var("MFA_TEST_SERVER_BIN").unwrap_or_else(|_| super::common::BIN.to_owned())
}

/// The binary (under `ulimit -n open_files` if given) with none of the
/// caller's `MFA_SERVER_*` variables, the test encryption key, and `env`.
pub fn command(env: &[(&str, &str)], open_files: Option<u32>) -> Command {
    let mut command = match open_files {
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(bin());
            c
        }
        None => Command::new(bin()),
    };
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MFA_SERVER_") {
            command.env_remove(name);
        }
    }
    command.env(
        "MFA_SERVER_ENCRYPTION_KEY_FILE",
        super::common::test_key_file(),
    );
    command.envs(env.iter().copied());
    command
}

/// Runs a subcommand of the binary with `stdin`; panics unless it succeeds.
pub fn cli(args: &[&str], stdin: &str) {
    let mut child = command(&[], None)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that ends without reading its input is reported by the
    // assertion below, with its output, not as a closed pipe.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The seed client and `users` (all with the seed password) in `db`.
pub fn provision(db: &str, users: &[&str]) {
    use super::common::{CLIENT, CLIENT_SECRET, PASSWORD};
    cli(
        &["add-client", CLIENT, "--db", db],
        &format!("{CLIENT_SECRET}\n"),
    );
    for user in users {
        cli(&["add-user", user, "--db", db], &format!("{PASSWORD}\n"));
    }
}

/// A running server, killed on drop; its standard error goes to a file.
pub struct Proc {
    child: Child,
    pub base: String,
    pub addr: std::net::SocketAddr,
    /// The database it serves.
    pub db: String,
    log: PathBuf,
}

impl Proc {
    /// `serve --listen 127.0.0.1:0 --db DB` with `env` (and `ulimit -n
    /// open_files`), once it prints its address.
    pub fn serve(db: &str, env: &[(&str, &str)], open_files: Option<u32>, log: &Path) -> Self {
        let mut child = command(env, open_files)
            .args(["serve", "--listen", "127.0.0.1:0", "--db", db])
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| {
                    panic!(
                        "server exited: {}",
                        std::fs::read_to_string(log).unwrap_or_default()
                    )
                })
                .unwrap();
            if let Some(addr) = line.strip_prefix("mfa-server listening on ") {
                break addr.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let addr = base.trim_start_matches("http://").parse().unwrap();
        Self {
            child,
            base,
            addr,
            db: db.to_owned(),
            log: log.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the server wrote to standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Peak resident memory in KiB (`VmHWM` of /proc/PID/status).
    pub fn peak_rss_kib(&self) -> u64 {
        status_kib(self.child.id(), "VmHWM:")
    }

    /// Resident memory now in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        status_kib(self.child.id(), "VmRSS:")
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads from `stream` until the server closes it (or `limit` passes);
/// returns what it sent and how long it took to close (`None`: still open).
pub async fn until_closed(
    stream: &mut tokio::net::TcpStream,
    limit: Duration,
) -> (Vec<u8>, Option<Duration>) {
    use tokio::io::AsyncReadExt as _;
    let started = tokio::time::Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return (received, None),
            Ok(Ok(0) | Err(_)) => return (received, Some(started.elapsed())),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}
