//! The floor of `scripts/load-test.sh`: the least an mfa-otp grant can cost
//! on axum + sqlx with mfa-server's database settings. Per request, exactly:
//! parse the form, one `SELECT` by primary key (the mfa_token's SHA-256),
//! the TOTP window check (to learn the code's step), one conditional
//! `UPDATE` of the last step, one JWT signed with the algorithm and key
//! type the server uses (`--signing-alg`, RS256 or EdDSA through aws-lc-rs,
//! the key parsed once), and a JSON answer. A replay
//! is the same `UPDATE` changing no row, answered 400. Both statements run
//! on one pooled connection; the pool is the store crate's
//! (`connect_pool`: the same PRAGMAs, sizes and acquire settings).
//!
//! No client authentication, no throttle, no sealing, no mfa_token expiry:
//! everything the server adds on top is what the load test's ratio shows.
//! With `--replay-charges` a refused code costs one conditional `UPDATE` of
//! an attempt counter instead (a real write, as the server's throttle must
//! charge every refusal): a replay seen in the row just read is charged at
//! once (`SELECT` + one write, the least a charged refusal can cost); one
//! that loses the step's `UPDATE` to a concurrent request is charged after
//! it.
//!
//! ```text
//! floor --db load-floor.db --fixture fixture.txt --signing-alg EdDSA --listen 127.0.0.1:0
//! floor --bench-sign 2000      # µs per signature, RS256 and EdDSA
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{Ed25519KeyPair, RSA_PKCS1_SHA256};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use serde::Deserialize;
use sha2::Digest as _;
use sqlx::{AnyPool, Row as _};
use totp_engine::{Clock, Secret, SubmittedCode, SystemClock, Totp, TotpParams};

#[derive(Debug, Parser)]
struct Args {
    /// The database (a path or `sqlite://…`, or `postgres://…`).
    #[arg(long)]
    db: Option<String>,
    /// The fixture (`mfa_token base32-secret` lines) to load into the
    /// floor's table, if it is empty.
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// `RS256` or `EdDSA`.
    #[arg(long, default_value = "RS256")]
    signing_alg: String,
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Print the cost of N signatures of each algorithm and exit.
    #[arg(long)]
    bench_sign: Option<u32>,
    /// Charge a refused code as mfa-server must (its throttle): one
    /// conditional `UPDATE` of an attempt counter, a real write, where the
    /// plain floor's refusal is an `UPDATE` that changes no row (a replay
    /// seen in the row read is charged without that `UPDATE`). For
    /// measuring what that write costs (server/README.md § Load).
    #[arg(long)]
    replay_charges: bool,
}

enum Key {
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Key {
    fn new(alg: &str) -> Self {
        match alg {
            "RS256" => Self::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap()),
            "EdDSA" => {
                let key = ed25519_dalek::SigningKey::from_bytes(&rand::random());
                Self::Ed(
                    Ed25519KeyPair::from_pkcs8_maybe_unchecked(
                        key.to_pkcs8_der().unwrap().as_bytes(),
                    )
                    .unwrap(),
                )
            }
            other => panic!("unknown signing algorithm {other}"),
        }
    }

    fn sign(&self, claims: &serde_json::Value) -> String {
        let alg = match self {
            Self::Ed(_) => "EdDSA",
            Self::Rsa(_) => "RS256",
        };
        let header = serde_json::json!({ "typ": "JWT", "alg": alg, "kid": "floor" });
        let mut jwt = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()));
        match self {
            Self::Ed(pair) => {
                let signature = pair.sign(jwt.as_bytes());
                jwt.push('.');
                jwt.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
                jwt
            }
            Self::Rsa(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    jwt.as_bytes(),
                    &mut signature,
                )
                .unwrap();
                jwt.push('.');
                jwt.push_str(&URL_SAFE_NO_PAD.encode(&signature));
                jwt
            }
        }
    }
}

struct Floor {
    pool: AnyPool,
    key: Key,
    replay_charges: bool,
}

#[derive(Deserialize)]
struct Form {
    #[allow(dead_code)]
    grant_type: String,
    client_id: String,
    #[allow(dead_code)]
    client_secret: Option<String>,
    mfa_token: String,
    otp: String,
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": code }))).into_response()
}

/// A refused code's charge (`--replay-charges`): one conditional `UPDATE`
/// of the attempt counter read in `row`; answered 400.
async fn charge(
    conn: &mut sqlx::AnyConnection,
    row: &sqlx::any::AnyRow,
    hash: &[u8; 32],
) -> Response {
    let attempts: i64 = row.get("attempts");
    let charged = sqlx::query(
        "UPDATE floor_grants SET attempts = $1 WHERE token_hash = $2 AND attempts = $3",
    )
    .bind(attempts + 1)
    .bind(hash.to_vec())
    .bind(attempts)
    .execute(conn)
    .await;
    match charged {
        Ok(_) => error(StatusCode::BAD_REQUEST, "invalid_grant"),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
    }
}

async fn token(State(floor): State<Arc<Floor>>, body: Bytes) -> Response {
    let now = SystemClock.unix_time();
    let Ok(form) = serde_urlencoded::from_bytes::<Form>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let hash: [u8; 32] = sha2::Sha256::digest(form.mfa_token.as_bytes()).into();
    let Ok(mut conn) = floor.pool.acquire().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    };
    let row = sqlx::query(
        "SELECT user_id, secret, stepped, last_step, attempts FROM floor_grants
         WHERE token_hash = $1",
    )
    .bind(hash.to_vec())
    .fetch_optional(&mut *conn)
    .await;
    let Ok(Some(row)) = row else {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let user: String = row.get("user_id");
    let secret = Secret::from_bytes(&row.get::<Vec<u8>, _>("secret")).unwrap();
    let (stepped, last_step): (i64, i64) = (row.get("stepped"), row.get("last_step"));
    let params = TotpParams::default();
    let Ok(code) = SubmittedCode::parse(&form.otp, params.digits()) else {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    // The step the code is for; the replay rule is the UPDATE's.
    let Ok(verified) =
        Totp::new(&secret, params).verify_code(&code, now, None, totp_engine::Drift::NONE)
    else {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let step = i64::try_from(verified.step()).unwrap();
    // With `--replay-charges`, a replay seen in the row just read is charged
    // at once: one write, the least a charged refusal can cost.
    if floor.replay_charges && stepped != 0 && step <= last_step {
        return charge(&mut conn, &row, &hash).await;
    }
    let updated = sqlx::query(
        "UPDATE floor_grants SET stepped = 1, last_step = $1
         WHERE token_hash = $2 AND stepped = $3 AND last_step = $4 AND (stepped = 0 OR last_step < $1)",
    )
    .bind(step)
    .bind(hash.to_vec())
    .bind(stepped)
    .bind(last_step)
    .execute(&mut *conn)
    .await;
    if floor.replay_charges && matches!(&updated, Ok(done) if done.rows_affected() == 0) {
        // Lost to a concurrent request: refused, and charged.
        return charge(&mut conn, &row, &hash).await;
    }
    drop(conn);
    match updated {
        Ok(done) if done.rows_affected() == 1 => {}
        Ok(_) => return error(StatusCode::BAD_REQUEST, "invalid_grant"),
        Err(_) => return error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
    }
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:8080/",
        "sub": user,
        "aud": "http://127.0.0.1:8080/userinfo",
        "iat": now,
        "exp": now + 86_400,
        "amr": ["pwd", "otp"],
        "azp": form.client_id,
    });
    let access_token = floor.key.sign(&claims);
    let mut response = axum::Json(serde_json::json!({
        "access_token": access_token,
        "expires_in": 86_400,
        "token_type": "Bearer",
    }))
    .into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

async fn load_fixture(pool: &AnyPool, path: &PathBuf) {
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM floor_grants")
        .fetch_one(pool)
        .await
        .unwrap();
    if rows > 0 {
        return;
    }
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let lines: Vec<String> = file.lines().map(Result::unwrap).collect();
    let mut tx = pool.begin().await.unwrap();
    for (n, chunk) in lines.chunks(250).enumerate() {
        let mut sql = String::from(
            "INSERT INTO floor_grants (token_hash, user_id, secret, stepped, last_step) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 3;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${}, ${}, 0, 0)", b + 1, b + 2, b + 3));
        }
        let mut query = sqlx::query(&sql);
        for (i, line) in chunk.iter().enumerate() {
            let (token, secret) = line.split_once(' ').unwrap();
            let hash: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
            let secret = Secret::from_base32(secret).unwrap();
            query = query
                .bind(hash.to_vec())
                .bind(format!("auth0|floor{}", n * 250 + i))
                .bind(secret.expose_bytes().to_vec());
        }
        query.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

fn bench_sign(n: u32) {
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:8080/", "sub": "auth0|load0",
        "aud": "http://127.0.0.1:8080/userinfo", "iat": 1_700_000_000u64,
        "exp": 1_700_086_400u64, "amr": ["pwd", "otp"], "azp": "load-client",
    });
    for alg in ["RS256", "EdDSA"] {
        let key = Key::new(alg);
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(key.sign(&claims));
        }
        println!(
            "{alg}\t{:.1}",
            t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Some(n) = args.bench_sign {
        bench_sign(n);
        return;
    }
    let (pool, _) = totp_engine_sqlx::connect_pool(args.db.as_deref().expect("--db"))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS floor_grants (token_hash BYTEA PRIMARY KEY,
            user_id TEXT NOT NULL, secret BYTEA NOT NULL, stepped BIGINT NOT NULL,
            last_step BIGINT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0)"
            .replace(
                "BYTEA",
                if pool.connect_options().database_url.scheme() == "sqlite" {
                    "BLOB"
                } else {
                    "BYTEA"
                },
            )
            .as_str(),
    )
    .execute(&pool)
    .await
    .unwrap();
    if let Some(path) = &args.fixture {
        load_fixture(&pool, path).await;
    }
    let floor = Arc::new(Floor {
        pool,
        key: Key::new(&args.signing_alg),
        replay_charges: args.replay_charges,
    });
    let app = axum::Router::new()
        .route("/oauth/token", axum::routing::post(token))
        .with_state(floor);
    let listener = tokio::net::TcpListener::bind(&args.listen).await.unwrap();
    println!(
        "floor listening on http://{}",
        listener.local_addr().unwrap()
    );
    std::io::stdout().flush().unwrap();
    axum::serve(listener, app).await.unwrap();
}
