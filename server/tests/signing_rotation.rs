//! `rotate-signing-key`: the new key signs at once (on every instance
//! within the poll period, without a restart), the old key stays in the
//! JWKS and keeps verifying until every token it signed has expired, and
//! a switch of `--signing-alg` keeps the other algorithm's tokens valid.
//! In process on a settable clock, and with the real binary: two
//! processes on one database and the CLI between them.

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

use std::time::{Duration, Instant};

use common::inproc::{Answer, TestServer, call, claims, request};
use common::*;
use mfa_server::config::ConfigValues;
use mfa_server::tokens::{SigningAlg, new_signing_key};
use serde_json::Value;

/// Access tokens live 1000 s in these tests.
const TTL: u64 = 1000;

async fn start(alg: SigningAlg) -> TestServer {
    TestServer::start(ConfigValues {
        access_token_ttl: Some(TTL),
        signing_alg: Some(alg),
        ..ConfigValues::default()
    })
    .await
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn jwks(s: &TestServer) -> Value {
    call(
        &s.router,
        request("GET", "/.well-known/jwks.json", &[], Vec::new()),
    )
    .await
    .json
}

async fn userinfo(s: &TestServer, token: &str) -> Answer {
    call(
        &s.router,
        request(
            "GET",
            "/userinfo",
            &[("authorization", &format!("Bearer {token}"))],
            Vec::new(),
        ),
    )
    .await
}

/// A fresh access token (scope openid) and the kid in its header.
async fn token(s: &TestServer, secret: &str) -> (String, String) {
    let answer = s.tokens(secret, "openid").await;
    let token = answer["access_token"].as_str().unwrap().to_owned();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    (token, header.kid.unwrap())
}

async fn rotate(s: &TestServer, alg: SigningAlg) -> String {
    let new = new_signing_key(alg).unwrap();
    let now = s.now();
    s.app
        .db()
        .rotate_signing_key(&new, now, now.saturating_sub(315_360_000))
        .await
        .unwrap();
    new.kid
}

#[tokio::test]
async fn a_rotated_key_signs_after_the_next_poll_and_the_old_one_verifies_until_its_tokens_expire()
{
    let s = start(SigningAlg::Rs256).await;
    let (secret, _) = s.enroll().await;
    let (old_token, old_kid) = token(&s, &secret).await;
    assert_eq!(kids(&jwks(&s).await), vec![old_kid.clone()]);
    assert!(
        !s.app.refresh_signing_keys().await.unwrap(),
        "nothing changed"
    );

    let new_kid = rotate(&s, SigningAlg::Rs256).await;
    let retired_at = s.now();
    assert_ne!(new_kid, old_kid);
    // Until the poll, the old key still signs (every instance polls each second).
    assert_eq!(token(&s, &secret).await.1, old_kid);
    assert!(s.app.refresh_signing_keys().await.unwrap());
    let (new_token, kid) = token(&s, &secret).await;
    assert_eq!(kid, new_kid);
    // The signing key first, then the others.
    assert_eq!(kids(&jwks(&s).await), [new_kid.clone(), old_kid.clone()]);
    // Tokens of both keys verify.
    assert_eq!(userinfo(&s, &old_token).await.status, 200);
    assert_eq!(userinfo(&s, &new_token).await.status, 200);

    // A token lifetime after the retirement the old key leaves the JWKS.
    s.time
        .store(retired_at + TTL - 1, std::sync::atomic::Ordering::SeqCst);
    assert!(!s.app.refresh_signing_keys().await.unwrap());
    assert_eq!(kids(&jwks(&s).await).len(), 2);
    s.time
        .store(retired_at + TTL, std::sync::atomic::Ordering::SeqCst);
    assert!(s.app.refresh_signing_keys().await.unwrap());
    assert_eq!(kids(&jwks(&s).await), vec![new_kid.clone()]);
    // Its tokens are expired by now; one signed by it and valid otherwise
    // would not verify either (no published key has its kid).
    assert_eq!(userinfo(&s, &old_token).await.status, 401);
    let (fresh, kid) = token(&s, &secret).await;
    assert_eq!(kid, new_kid);
    assert_eq!(userinfo(&s, &fresh).await.status, 200);
    assert_eq!(claims(&fresh)["iss"], ISSUER_URL);
}

#[tokio::test]
async fn switching_the_algorithm_keeps_the_other_algorithms_tokens_valid() {
    let eddsa = start(SigningAlg::EdDsa).await;
    let (secret, _) = eddsa.enroll().await;
    let (ed_token, ed_kid) = token(&eddsa, &secret).await;
    // The same database served with RS256: a new RSA key signs, and the
    // Ed25519 key (current for its algorithm) stays published.
    let settings = mfa_server::config::Settings::from_values(&ConfigValues {
        issuer: Some("ACME".to_owned()),
        issuer_url: Some(ISSUER_URL.parse().unwrap()),
        access_token_ttl: Some(TTL),
        ..ConfigValues::default()
    })
    .unwrap();
    let rsa = mfa_server::http::App::new(
        eddsa.app.db().clone(),
        settings,
        std::sync::Arc::new(common::inproc::TestClock(eddsa.time.clone())),
    )
    .await
    .unwrap();
    let rsa_kid = rsa.signer().kid();
    assert_ne!(rsa_kid, ed_kid);
    let jwks = rsa.signer().jwks();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, ["RS256", "EdDSA"]);
    assert!(rsa.signer().verify(&ed_token, eddsa.now()).is_some());
}

#[tokio::test]
async fn a_rotation_prunes_keys_retired_longer_ago_than_any_token_lives() {
    let s = start(SigningAlg::Rs256).await;
    let first = s.app.signer().kid();
    let second = rotate(&s, SigningAlg::Rs256).await;
    s.advance(100);
    let new = new_signing_key(SigningAlg::Rs256).unwrap();
    // Prune what was retired before now: the first key goes, the one
    // this rotation retires stays.
    let retired = s
        .app
        .db()
        .rotate_signing_key(&new, s.now(), s.now() - 1)
        .await
        .unwrap();
    assert_eq!(retired.as_deref(), Some(second.as_str()));
    let kids: Vec<String> = sqlx::query_scalar("SELECT kid FROM signing_keys ORDER BY slot")
        .fetch_all(&s.app.db().pool)
        .await
        .unwrap();
    assert_eq!(kids, [second, new.kid]);
    assert!(!kids.contains(&first));
}

/// The kids of a running server's JWKS.
async fn served_kids(http: &reqwest::Client, server: &Server) -> Vec<String> {
    let jwks: Value = http
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    kids(&jwks)
}

#[tokio::test]
async fn the_cli_rotates_the_key_of_two_running_instances_without_a_restart() {
    let dir = temp_dir("rotate-cli");
    let db = db_path(&dir);
    provision(&db);
    let servers = [Server::start(&db, &[]), Server::start(&db, &[])];
    let http = client();
    let old = served_kids(&http, &servers[0]).await;
    assert_eq!(old.len(), 1);
    assert_eq!(served_kids(&http, &servers[1]).await, old);
    let (_, secret, _, t) = enrolled(&http, &servers[0]).await;

    let (ok, out) = cli(&["rotate-signing-key", "--db", &db], "");
    assert!(ok, "{out}");
    assert!(out.contains("RS256 signing key rotated"), "{out}");
    // Both instances publish and sign with the new key within a few polls.
    let deadline = Instant::now() + Duration::from_secs(10);
    for server in &servers {
        loop {
            let kids = served_kids(&http, server).await;
            if kids.len() == 2 {
                assert_eq!(kids[1], old[0]);
                break;
            }
            assert!(Instant::now() < deadline, "no rotation seen: {kids:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (mfa_token, _) = password_grant(&http, &servers[1]).await;
    let (status, tokens) =
        otp_grant(&http, &servers[1], &mfa_token, &oathtool(&secret, t + 30)).await;
    assert_eq!(status, 200, "{tokens}");
    let kid = jsonwebtoken::decode_header(tokens["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    assert_ne!(kid, old[0]);
    assert_eq!(served_kids(&http, &servers[0]).await[0], kid);
}
