//! `rotate-signing-key`: the next key, published in the JWKS since the
//! previous rotation (or the first start), signs at once (on every
//! instance within the poll period, without a restart) and a new next key
//! is published; the old key stays in the JWKS and keeps verifying until
//! every token it signed has expired, and a switch of `--signing-alg`
//! keeps the other algorithm's tokens valid.
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
use mfa_server::db::Rotated;
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

/// Rotates `alg`'s key at the test's time; what the rotation did and the
/// kid of the new next key.
async fn rotate(s: &TestServer, alg: SigningAlg) -> Rotated {
    let new = new_signing_key(alg).unwrap();
    let now = s.now();
    let rotated = s
        .app
        .db()
        .rotate_signing_key(&new, now, now.saturating_sub(315_360_000))
        .await
        .unwrap();
    assert_eq!(rotated.next.as_deref(), Some(new.kid.as_str()));
    rotated
}

#[tokio::test]
async fn the_next_key_is_published_before_it_signs_and_the_old_one_verifies_until_its_tokens_expire()
 {
    let s = start(SigningAlg::Rs256).await;
    let (secret, _) = s.enroll().await;
    let (old_token, old_kid) = token(&s, &secret).await;
    // The signing key first, then the next key: published, not signing.
    let before = kids(&jwks(&s).await);
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!(before[0], old_kid);
    let next_kid = before[1].clone();
    assert_ne!(next_kid, old_kid);
    assert!(
        !s.app.refresh_signing_keys().await.unwrap(),
        "nothing changed"
    );

    let rotated = rotate(&s, SigningAlg::Rs256).await;
    let retired_at = s.now();
    // The key published ahead is the one that signs now.
    assert_eq!(rotated.retired.as_deref(), Some(old_kid.as_str()));
    assert_eq!(rotated.current, next_kid);
    assert!(rotated.published_ahead);
    let new_next = rotated.next.clone().unwrap();
    // Until the poll, the old key still signs (every instance polls each second).
    assert_eq!(token(&s, &secret).await.1, old_kid);
    assert!(s.app.refresh_signing_keys().await.unwrap());
    let (new_token, kid) = token(&s, &secret).await;
    assert_eq!(kid, next_kid);
    // A verifier holding the JWKS fetched before the rotation has the kid
    // of every token signed after it.
    assert!(before.contains(&kid));
    // The signing key first, then the others by age: the retired one and
    // the new next key.
    assert_eq!(
        kids(&jwks(&s).await),
        [next_kid.clone(), old_kid.clone(), new_next.clone()]
    );
    // Tokens of both keys verify.
    assert_eq!(userinfo(&s, &old_token).await.status, 200);
    assert_eq!(userinfo(&s, &new_token).await.status, 200);

    // A token lifetime after the retirement the old key leaves the JWKS.
    s.time
        .store(retired_at + TTL - 1, std::sync::atomic::Ordering::SeqCst);
    assert!(!s.app.refresh_signing_keys().await.unwrap());
    assert_eq!(kids(&jwks(&s).await).len(), 3);
    s.time
        .store(retired_at + TTL, std::sync::atomic::Ordering::SeqCst);
    assert!(s.app.refresh_signing_keys().await.unwrap());
    assert_eq!(kids(&jwks(&s).await), [next_kid.clone(), new_next]);
    // Its tokens are expired by now; one signed by it and valid otherwise
    // would not verify either (no published key has its kid).
    assert_eq!(userinfo(&s, &old_token).await.status, 401);
    let (fresh, kid) = token(&s, &secret).await;
    assert_eq!(kid, next_kid);
    assert_eq!(userinfo(&s, &fresh).await.status, 200);
    assert_eq!(claims(&fresh)["iss"], ISSUER_URL);
}

#[tokio::test]
async fn a_database_without_a_next_key_gets_one_at_start_and_its_first_rotation_signs_at_once() {
    let s = start(SigningAlg::EdDsa).await;
    let current = s.app.signer().kid();
    // As a database migrated from before next keys: no next key.
    sqlx::query("DELETE FROM signing_keys WHERE next_key = 1")
        .execute(&s.app.db().pool)
        .await
        .unwrap();
    let new = new_signing_key(SigningAlg::EdDsa).unwrap();
    let rotated = s
        .app
        .db()
        .rotate_signing_key(&new, s.now(), 0)
        .await
        .unwrap();
    assert_eq!(
        rotated,
        mfa_server::db::Rotated {
            retired: Some(current.clone()),
            current: new.kid.clone(),
            published_ahead: false,
            next: None,
        }
    );
    // A server opening it stores a next key, once.
    let app = |s: &TestServer| {
        let settings = mfa_server::config::Settings::from_values(&ConfigValues {
            issuer: Some("ACME".to_owned()),
            issuer_url: Some(ISSUER_URL.parse().unwrap()),
            signing_alg: Some(SigningAlg::EdDsa),
            ..ConfigValues::default()
        })
        .unwrap();
        mfa_server::http::App::new(
            s.app.db().clone(),
            settings,
            std::sync::Arc::new(common::inproc::TestClock(s.time.clone())),
        )
    };
    let first = app(&s).await.unwrap();
    assert_eq!(first.signer().kid(), new.kid);
    let next: Vec<String> =
        sqlx::query_scalar("SELECT kid FROM signing_keys WHERE next_key = 1 AND alg = 'EdDSA'")
            .fetch_all(&s.app.db().pool)
            .await
            .unwrap();
    assert_eq!(next.len(), 1);
    let second = app(&s).await.unwrap();
    let again: Vec<String> =
        sqlx::query_scalar("SELECT kid FROM signing_keys WHERE next_key = 1 AND alg = 'EdDSA'")
            .fetch_all(&s.app.db().pool)
            .await
            .unwrap();
    assert_eq!(again, next);
    // The signing key, then the retired one (its tokens may be alive) and
    // the next key.
    assert_eq!(
        kids(&second.signer().jwks()),
        [new.kid, current, next[0].clone()]
    );
}

#[tokio::test]
async fn switching_the_algorithm_keeps_the_other_algorithms_tokens_valid() {
    let eddsa = start(SigningAlg::EdDsa).await;
    let (secret, _) = eddsa.enroll().await;
    let (ed_token, ed_kid) = token(&eddsa, &secret).await;
    // The same database served with RS256: a new RSA key signs, and the
    // Ed25519 keys (current and next for their algorithm) stay published.
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
    // The signing key, then by age: Ed25519's current and next, RSA's next.
    assert_eq!(algs, ["RS256", "EdDSA", "EdDSA", "RS256"]);
    assert_eq!(kids(&jwks)[1], ed_kid);
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
    let rotated = s
        .app
        .db()
        .rotate_signing_key(&new, s.now(), s.now() - 1)
        .await
        .unwrap();
    assert_eq!(rotated.retired.as_deref(), Some(second.current.as_str()));
    let next = second.next.unwrap();
    assert_eq!(rotated.current, next);
    let kids: Vec<String> = sqlx::query_scalar("SELECT kid FROM signing_keys ORDER BY slot")
        .fetch_all(&s.app.db().pool)
        .await
        .unwrap();
    assert_eq!(kids, [second.current, next, new.kid]);
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
    // The current key and the next one.
    assert_eq!(old.len(), 2, "{old:?}");
    assert_eq!(served_kids(&http, &servers[1]).await, old);
    let (_, secret, _, t) = enrolled(&http, &servers[0]).await;

    let (ok, out) = cli(&["rotate-signing-key", "--db", &db], "");
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "RS256 signing key rotated: {} signs from now on",
            old[1]
        )),
        "{out}"
    );
    assert!(
        out.contains("published in the JWKS since the previous rotation"),
        "{out}"
    );
    // Both instances sign with the next key within a few polls, and
    // publish it first, then the retired key and a new next key.
    let deadline = Instant::now() + Duration::from_secs(10);
    for server in &servers {
        loop {
            let kids = served_kids(&http, server).await;
            if kids.len() == 3 {
                assert_eq!(kids[..2], [old[1].clone(), old[0].clone()]);
                assert!(!old.contains(&kids[2]), "{kids:?}");
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
    // The kid a verifier had before the rotation.
    assert_eq!(kid, old[1]);
    assert_eq!(served_kids(&http, &servers[0]).await[0], kid);
}
