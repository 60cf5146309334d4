//! Replay across instances on PostgreSQL: 200 simultaneous token requests
//! over three `mfa-server` processes on one database, all carrying one
//! client assertion (or, separately, one DPoP proof): exactly one is
//! accepted, because a jti's use is one unique insert in the shared
//! database (`used_jtis`).
//!
//! Needs `MFA_TEST_POSTGRES_URL` (a superuser URL); these tests do not skip
//! (`-- --skip postgres` leaves them out).

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
mod procs;

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{PASSWORD, USER, fresh_pg_database, temp_dir, unix_now};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use procs::{Proc, cli, provision};
use serde_json::{Value, json};

const ISSUER_URL: &str = "https://auth.example.com/";
const TOKEN_URL: &str = "https://auth.example.com/oauth/token";
const JWT_CLIENT: &str = "jwt-app";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const REQUESTS: usize = 200;

struct Key {
    encoding: EncodingKey,
    jwk: Value,
}

fn p256() -> Key {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    Key {
        encoding: EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref()),
        jwk: json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        }),
    }
}

fn assertion(key: &Key, jti: &str) -> String {
    let now = unix_now();
    jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &json!({
            "iss": JWT_CLIENT, "sub": JWT_CLIENT, "aud": TOKEN_URL,
            "iat": now, "exp": now + 120, "jti": jti,
        }),
        &key.encoding,
    )
    .unwrap()
}

fn dpop_proof(key: &Key) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("dpop+jwt".to_owned());
    header.jwk = Some(serde_json::from_value(key.jwk.clone()).unwrap());
    jsonwebtoken::encode(
        &header,
        &json!({ "htm": "POST", "htu": TOKEN_URL, "iat": unix_now(), "jti": "one-proof" }),
        &key.encoding,
    )
    .unwrap()
}

/// Three instances on a fresh database with the user and a key client.
async fn three_instances(tag: &str, client_key: &Key) -> Vec<Proc> {
    let url = fresh_pg_database(tag).await;
    provision(&url, &[USER]);
    let dir = temp_dir(tag);
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, json!({ "keys": [client_key.jwk] }).to_string()).unwrap();
    cli(
        &[
            "add-client",
            JWT_CLIENT,
            "--db",
            &url,
            "--jwks",
            jwks.to_str().unwrap(),
        ],
        "",
    );
    (0..3)
        .map(|i| {
            Proc::serve(
                &url,
                &[("MFA_SERVER_ISSUER_URL", ISSUER_URL)],
                None,
                &dir.join(format!("server{i}.log")),
            )
        })
        .collect()
}

/// `REQUESTS` password grants at once over `servers`, request `i` with
/// `assertion(i)` and `proof(i)`.
async fn storm(
    servers: &[Proc],
    assertion: impl Fn(usize) -> String,
    proof: impl Fn(usize) -> Option<String>,
) -> Vec<(u16, Value)> {
    let http = common::client_builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(REQUESTS));
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let (http, barrier) = (http.clone(), barrier.clone());
            let url = servers[i % servers.len()].url("/oauth/token");
            let (assertion, proof) = (assertion(i), proof(i));
            tokio::spawn(async move {
                let mut request = http.post(url).form(&[
                    ("grant_type", "password"),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &assertion),
                    ("username", USER),
                    ("password", PASSWORD),
                ]);
                if let Some(proof) = proof {
                    request = request.header("DPoP", proof);
                }
                barrier.wait().await;
                let r = request.send().await.unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn count(answers: &[(u16, Value)], status: u16, error: &str, description: Option<&str>) -> usize {
    answers
        .iter()
        .filter(|(s, b)| {
            *s == status
                && b["error"] == error
                && description.is_none_or(|d| b["error_description"] == d)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_one_client_assertion_over_three_instances_is_accepted_once() {
    let key = p256();
    let servers = three_instances("pkjwt_assertion", &key).await;
    let one = assertion(&key, "the-one-jti");
    let answers = storm(&servers, |_| one.clone(), |_| None).await;
    let accepted = count(&answers, 403, "mfa_required", None);
    let replays = count(
        &answers,
        401,
        "invalid_client",
        Some("client_assertion jti has already been used"),
    );
    assert_eq!((accepted, replays), (1, REQUESTS - 1), "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_one_dpop_proof_over_three_instances_is_accepted_once() {
    let (client_key, proof_key) = (p256(), p256());
    let servers = three_instances("pkjwt_dpop", &client_key).await;
    let proof = dpop_proof(&proof_key);
    let answers = storm(
        &servers,
        |i| assertion(&client_key, &format!("jti-{i}")),
        |_| Some(proof.clone()),
    )
    .await;
    let accepted = count(&answers, 403, "mfa_required", None);
    let replays = count(
        &answers,
        400,
        "invalid_dpop_proof",
        Some("DPoP proof jti has already been used"),
    );
    assert_eq!((accepted, replays), (1, REQUESTS - 1), "{answers:?}");
}
