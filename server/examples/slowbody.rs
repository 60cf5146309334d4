//! A bounded slow-body flood for mfa-server on loopback (used by
//! `scripts/hardening-load.sh`): opens a fixed number of connections, sends
//! each a request head announcing a body, then one body byte a second for
//! at most `--seconds`; meanwhile a probe request measures whether the
//! server still answers. Prints how many connections got an answer (and
//! which), how long the server took to close them, and the probe's latency.

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
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
struct Args {
    /// The server's address, e.g. 127.0.0.1:8080.
    #[arg(long)]
    target: SocketAddr,
    /// Slow connections to open.
    #[arg(long, default_value_t = 200)]
    connections: usize,
    /// How long each keeps trickling at most, in seconds.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
}

/// Trickles one slow body; returns the answer's status line (if any) and
/// when the server closed the connection (None: still open at the end).
async fn slow(target: SocketAddr, seconds: u64) -> (Option<String>, Option<Duration>) {
    let started = Instant::now();
    let Ok(mut stream) = TcpStream::connect(target).await else {
        return (Some("connect failed".into()), Some(started.elapsed()));
    };
    let head = b"POST /oauth/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{";
    if stream.write_all(head).await.is_err() {
        return (None, Some(started.elapsed()));
    }
    let (mut read, mut write) = stream.split();
    let mut received = Vec::new();
    let deadline = started + Duration::from_secs(seconds);
    let mut buf = [0u8; 4096];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let closed = loop {
        tokio::select! {
            _ = tick.tick() => {
                if Instant::now() >= deadline {
                    break None;
                }
                let _ = write.write_all(b" ").await;
            }
            r = read.read(&mut buf) => match r {
                Ok(0) | Err(_) => break Some(started.elapsed()),
                Ok(n) => received.extend_from_slice(&buf[..n]),
            },
        }
    };
    let status = String::from_utf8_lossy(&received)
        .lines()
        .next()
        .map(str::to_owned)
        .filter(|l| !l.is_empty());
    (status, closed)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let flood: Vec<_> = (0..args.connections)
        .map(|_| tokio::spawn(slow(args.target, args.seconds)))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.seconds))
        .build()
        .unwrap();
    let probe = Instant::now();
    let answered = http
        .get(format!("http://{}/.well-known/jwks.json", args.target))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let probe = probe.elapsed();
    let mut statuses = BTreeMap::new();
    let mut open = 0usize;
    let mut slowest = Duration::ZERO;
    for f in flood {
        let (status, closed) = f.await.unwrap();
        *statuses
            .entry(status.unwrap_or_else(|| "no answer".into()))
            .or_insert(0usize) += 1;
        match closed {
            Some(d) => slowest = slowest.max(d),
            None => open += 1,
        }
    }
    let mix: Vec<String> = statuses.iter().map(|(s, n)| format!("{s} ×{n}")).collect();
    println!(
        "slow bodies: {} connections for up to {} s: {}; closed by the server within {:.1} s: {}; still open at the end: {open}; a request meanwhile: {} in {:.1} ms",
        args.connections,
        args.seconds,
        mix.join(", "),
        slowest.as_secs_f64(),
        args.connections - open,
        answered.map_or_else(|e| format!("failed ({e})"), |s| s.to_string()),
        probe.as_secs_f64() * 1000.0,
    );
}
