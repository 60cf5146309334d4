//! Process tests of running the server for real (issue 14): the graceful
//! shutdown on SIGTERM (a slow request in flight completes, new connections
//! are refused, the pool closes, exit code 0, the shutdown log lines), its
//! bound (`--shutdown-timeout-secs`), and the log lines in both formats
//! (`--log-format text|json`): one per request with the matched route,
//! status and whole milliseconds, one per grant with its outcome class,
//! and never a secret.

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
mod support {
    pub mod running;
}

use std::time::{Duration, Instant};

use common::{CLIENT, CLIENT_SECRET, PASSWORD, USER, db_path, provision, temp_dir};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use support::running::Running;

/// The password grant's form body.
fn password_body() -> String {
    serde_urlencoded::to_string([
        ("grant_type", "password"),
        ("client_id", CLIENT),
        ("client_secret", CLIENT_SECRET),
        ("username", USER),
        ("password", PASSWORD),
    ])
    .unwrap()
}

/// Opens a connection and sends a password grant's head and all but the
/// last 10 bytes of its body: a request in flight.
async fn start_slow_request(addr: &str) -> (TcpStream, Vec<u8>) {
    let body = password_body().into_bytes();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() - 10);
    stream.write_all(first).await.unwrap();
    stream.flush().await.unwrap();
    (stream, rest.to_vec())
}

/// Waits until connecting to `addr` is refused; `Some(n)` once it is, `n`
/// being how many probe connections were still accepted before (each one
/// dropped at once; the server may count it as open when it begins to shut
/// down, if it accepted it before it saw the signal).
async fn until_refused(addr: &str, limit: Duration) -> Option<usize> {
    let started = Instant::now();
    let mut accepted = 0;
    while started.elapsed() < limit {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Some(accepted),
            Ok(_) => accepted += 1,
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l:?}")))
        .collect()
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0() {
    let dir = temp_dir("lifecycle");
    let db = db_path(&dir);
    provision(&db);
    let log = dir.join("stderr.log");
    let mut server = Running::start(&db, &["--log-format", "json"], &log);
    let (mut stream, rest) = start_slow_request(&server.addr).await;
    // The head is in (hyper has it) before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.sigterm();
    let probes = until_refused(&server.addr, Duration::from_secs(5))
        .await
        .expect("new connections still accepted after SIGTERM");
    // The process waits for the request in flight.
    assert!(server.child.try_wait().unwrap().is_none());
    stream.write_all(&rest).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the request in flight got no answer")
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{answer}");
    assert!(answer.contains("\"error\":\"mfa_required\""), "{answer}");
    // The connection closes after it: no keep-alive while stopping.
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    let (status, _) = server
        .wait_exit(Duration::from_secs(10))
        .expect("no exit after the last request");
    assert_eq!(status.code(), Some(0));

    let text = server.log();
    let lines = json_lines(&text);
    let stopping = lines
        .iter()
        .position(|l| message(l).starts_with("shutting down"))
        .expect("no shutting-down line");
    let done = lines
        .iter()
        .position(|l| message(l).starts_with("shutdown complete"))
        .expect("no shutdown line");
    assert!(stopping < done);
    // Open when the shutdown began: the request in flight, and any probe
    // of `until_refused` the server accepted before it saw the signal.
    let open = lines[done]["fields"]["connections"].as_u64().unwrap();
    assert!(
        (1..=1 + probes as u64).contains(&open),
        "{open} connections open at shutdown, {probes} probes accepted"
    );
    assert_eq!(lines[done]["fields"]["cut"], 0);
    // The request finished between the two, with its line and its grant's.
    let request = lines
        .iter()
        .position(|l| message(l) == "request")
        .expect("no request line");
    assert!(stopping < request && request < done);
    let line = &lines[request];
    assert_eq!(line["span"]["method"], "POST");
    assert_eq!(line["span"]["route"], "/oauth/token");
    assert_eq!(line["fields"]["status"], 403);
    assert!(line["fields"]["ms"].is_u64(), "{line}");
    // The grant's outcome is in the request's line, which is its only one.
    assert_eq!(line["span"]["grant"], "password", "{line}");
    assert_eq!(line["span"]["outcome"], "mfa_required", "{line}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["span"]["route"] == "/oauth/token")
            .count(),
        1,
        "{text}"
    );
    for secret in [PASSWORD, CLIENT_SECRET, USER] {
        assert!(!text.contains(secret), "{secret:?} in the log:\n{text}");
    }
}

#[tokio::test]
async fn a_request_still_in_flight_at_the_shutdown_timeout_is_cut() {
    let dir = temp_dir("lifecycle-cut");
    let db = db_path(&dir);
    provision(&db);
    let log = dir.join("stderr.log");
    let mut server = Running::start(
        &db,
        &[
            "--log-format",
            "json",
            "--shutdown-timeout-secs",
            "1",
            "--request-timeout-secs",
            "60",
        ],
        &log,
    );
    let (mut stream, _rest) = start_slow_request(&server.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.sigterm();
    let (status, took) = server
        .wait_exit(Duration::from_secs(10))
        .expect("the shutdown did not end at its timeout");
    assert_eq!(status.code(), Some(0));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // The connection was closed without an answer.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .unwrap();
    assert!(read.is_err() || answer.is_empty(), "{answer:?}");
    let lines = json_lines(&server.log());
    let done = lines
        .iter()
        .find(|l| message(l).starts_with("shutdown complete"))
        .expect("no shutdown line");
    assert_eq!(
        (&done["fields"]["connections"], &done["fields"]["cut"]),
        (&1.into(), &1.into())
    );
    // The cut request still has its line, before the shutdown's, with how
    // long it ran (about the shutdown's timeout after it began).
    let dropped: Vec<_> = lines
        .iter()
        .filter(|l| message(l) == "request dropped")
        .collect();
    assert_eq!(dropped.len(), 1, "{lines:?}");
    assert_eq!(dropped[0]["span"]["route"], "/oauth/token");
    assert_eq!(dropped[0]["span"]["method"], "POST");
    let ms = dropped[0]["fields"]["ms"].as_u64().unwrap();
    assert!((900..5_000).contains(&ms), "{ms} ms");
    assert!(!lines.iter().any(|l| message(l) == "request"), "{lines:?}");
}

#[tokio::test]
async fn text_logs_name_the_route_status_and_milliseconds_but_no_secret() {
    let dir = temp_dir("lifecycle-text");
    let db = db_path(&dir);
    provision(&db);
    let log = dir.join("stderr.log");
    let mut server = Running::start(&db, &["--log-format", "text"], &log);
    let http = common::client();
    let base = format!("http://{}", server.addr);
    let r = http
        .get(format!("{base}/health?token=abc123"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .delete(format!("{base}/mfa/authenticators/otp_SECRETID"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{base}/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(password_body().replace("staple", "stapler"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    server.sigterm();
    let (status, _) = server.wait_exit(Duration::from_secs(10)).unwrap();
    assert_eq!(status.code(), Some(0));
    let text = server.log();
    let requests: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" request status="))
        .collect();
    assert_eq!(requests.len(), 3, "{text}");
    assert!(
        requests[0].contains("request{method=GET route=/health}"),
        "{text}"
    );
    assert!(requests[0].contains("status=200 ms="), "{text}");
    assert!(
        requests[1].contains("route=/mfa/authenticators/{id}")
            && requests[1].contains("status=401"),
        "{text}"
    );
    // The grant's outcome is in its request's line.
    assert!(
        requests[2].contains(
            "request{method=POST route=/oauth/token grant=\"password\" outcome=\"wrong_password\"}"
        ) && requests[2].contains("status=403 ms="),
        "{text}"
    );
    assert!(text.contains("shutdown complete"), "{text}");
    for secret in ["abc123", "SECRETID", "stapler", CLIENT_SECRET, USER] {
        assert!(!text.contains(secret), "{secret:?} in the log:\n{text}");
    }
}
