//! `--tls-cert` / `--tls-key`: the server terminates TLS itself. A
//! throwaway CA made here signs the server's certificate; a client that
//! trusts that CA walks the seed flow over HTTPS, and everything else is
//! refused: plain HTTP on the TLS port, a client that does not trust the
//! CA, a handshake that never comes, and bad certificate or key files at
//! start.

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

use std::io::Read as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio_rustls::rustls;

/// A CA and a server certificate for 127.0.0.1 and localhost, as PEM files
/// in `dir`: (ca.pem, server chain, server key).
fn throwaway_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    (
        write("ca.pem", ca.pem()),
        write("server.pem", cert.pem()),
        write("server.key", key.serialize_pem()),
    )
}

/// A reqwest client trusting only the CA in `ca_pem` (none if `None`).
fn https_client(ca_pem: Option<&Path>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca_pem {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client_builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn tls_server(dir: &Path, extra: &[&str]) -> (Server, PathBuf) {
    let db = db_path(dir);
    provision(&db);
    let (ca, cert, key) = throwaway_pki(dir);
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    let mut args = vec!["--tls-cert", &cert, "--tls-key", &key];
    args.extend_from_slice(extra);
    (Server::start(&db, &args), ca)
}

#[tokio::test]
async fn the_seed_flow_runs_over_https_for_a_client_trusting_the_ca() {
    let dir = temp_dir("tls-flow");
    let (server, ca) = tls_server(&dir, &[]);
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let http = https_client(Some(&ca));
    let discovery = http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
    let (_, secret, _recovery, _t) = enrolled(&http, &server).await;
    // A later login with a fresh code, over the same TLS listener.
    let (mfa_token, answer) = password_grant(&http, &server).await;
    assert_eq!(answer["error"], "mfa_required", "{answer}");
    let t = unix_now() + 30;
    let (status, tokens) = otp_grant(&http, &server, &mfa_token, &oathtool(&secret, t)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
}

#[tokio::test]
async fn plain_http_and_untrusting_clients_are_refused_on_the_tls_port() {
    let dir = temp_dir("tls-refused");
    let (server, _ca) = tls_server(&dir, &[]);
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = server.base.replacen("https://", "http://", 1);
    let result = client()
        .get(format!("{plain}/.well-known/openid-configuration"))
        .send()
        .await;
    assert!(result.is_err(), "plain HTTP was answered: {result:?}");
    // A client that does not trust the throwaway CA refuses the server.
    let result = https_client(None)
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await;
    let error = result.expect_err("an untrusted certificate was accepted");
    assert!(error.is_connect(), "{error:?}");
}

#[test]
fn a_connection_that_never_handshakes_is_closed_after_the_header_timeout() {
    let dir = temp_dir("tls-idle");
    let (server, _ca) = tls_server(&dir, &["--header-read-timeout-secs", "1"]);
    let addr = server.base.trim_start_matches("https://").to_owned();
    let mut socket = TcpStream::connect(&addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    // The server closes the socket (EOF) without a byte sent.
    let read = socket.read(&mut buf).unwrap();
    assert_eq!(read, 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn bad_tls_files_stop_the_start_with_the_file_named() {
    let dir = temp_dir("tls-bad");
    let db = db_path(&dir);
    let (_ca, cert, key) = throwaway_pki(&dir);
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.join("missing.pem");
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    let (garbage, missing) = (garbage.to_string_lossy(), missing.to_string_lossy());
    let cases: [(&[&str], &str); 5] = [
        (
            &["--tls-cert", &cert],
            "invalid tls_cert from --tls-cert: needs tls_key as well",
        ),
        (
            &["--tls-key", &key],
            "invalid tls_key from --tls-key: needs tls_cert as well",
        ),
        (
            &["--tls-cert", &garbage, "--tls-key", &key],
            "no PEM certificate in the file",
        ),
        (&["--tls-cert", &missing, "--tls-key", &key], "missing.pem"),
        // A certificate given as the key.
        (&["--tls-cert", &cert, "--tls-key", &cert], "TLS key"),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--db", &db];
        args.extend_from_slice(extra);
        let (ok, out) = cli(&args, "");
        assert!(!ok, "{extra:?} started: {out}");
        assert!(out.contains(expected), "{extra:?}: {out}");
    }
}
