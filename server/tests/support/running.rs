//! A server process for the tests of issue 14 (`lifecycle.rs`,
//! `metrics.rs`): `serve` on a free loopback port, its standard error in a
//! file, its metrics address if it prints one; signalled and awaited.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::super::common;

/// Starts `serve --listen 127.0.0.1:0 --db DB EXTRA…` with `RUST_LOG`
/// `info,sqlx=warn` and standard error into `log`; returns the child, its
/// address (HOST:PORT) and its metrics address (HOST:PORT) if it prints
/// one, once it listens.
pub fn spawn(db: &str, extra: &[&str], log: &Path) -> (Child, String, Option<String>) {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--db", db];
    args.extend_from_slice(extra);
    let mut child = common::command(&[])
        .args(&args)
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut metrics = None;
    let addr = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("server exited: {}", std::fs::read_to_string(log).unwrap()))
            .unwrap();
        if let Some(m) = line.strip_prefix("mfa-server metrics on http://") {
            metrics = Some(m.trim_end_matches("/metrics").to_owned());
        }
        if let Some(a) = line.strip_prefix("mfa-server listening on http://") {
            break a.trim().to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr, metrics)
}

/// A server process, killed on drop.
pub struct Running {
    pub child: Child,
    pub addr: String,
    pub metrics: Option<String>,
    pub log: PathBuf,
}

impl Running {
    /// [`spawn`], kept.
    pub fn start(db: &str, extra: &[&str], log: &Path) -> Self {
        let (child, addr, metrics) = spawn(db, extra, log);
        Self {
            child,
            addr,
            metrics,
            log: log.to_owned(),
        }
    }

    /// What it wrote to standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Sends it SIGTERM.
    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits at most `limit` for the process to exit; its status and how
    /// long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some((status, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
