//! Provisions a load-test fixture fast, through public APIs and never
//! through a path the server takes in production: a client (`add-client`'s
//! hashing), N users imported with one Argon2id hash of the load-test
//! password ([`Db::import_users`]), each enrolled with a fresh TOTP secret
//! as an *active* authenticator ([`SqlxStore::import`]), and one mfa_token
//! per user ([`Db::import_mfa_tokens`]), as the password grant would have
//! stored it. Writes the fixture file the load generator and the floor
//! read: one `mfa_token base32-secret` line per user.
//!
//! ```text
//! MFA_SERVER_ENCRYPTION_KEY_FILE=mfa.key cargo run --release -p mfa-server --example provision -- \
//!   --db load.db --users 20000 --out fixture.txt --client-id load-client --client-secret …
//! ```
//!
//! [`SqlxStore::import`]: totp_engine_sqlx::SqlxStore::import

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use mfa_server::credentials::{self, StoredClientSecret};
use mfa_server::db::{Db, MfaTokenRow};
use totp_engine::{
    Attempts, AuthenticatorId, AuthenticatorKind, Clock, OtpAuthenticator, OtpProgress, Secret,
    SystemClock, TotpParams,
};

#[derive(Debug, Parser)]
struct Args {
    /// The database (as `serve --db`).
    #[arg(long)]
    db: String,
    /// The encryption key file (as `serve --encryption-key-file`).
    #[arg(long, env = "MFA_SERVER_ENCRYPTION_KEY_FILE")]
    encryption_key_file: Option<PathBuf>,
    /// Users to enroll: PREFIX0 … PREFIX{N-1}.
    #[arg(long)]
    users: usize,
    #[arg(long, default_value = "load")]
    prefix: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    #[arg(long, default_value = "load test password")]
    password: String,
    /// The audience the mfa_tokens record (the password grant's default:
    /// `<issuer-url>userinfo`).
    #[arg(long)]
    audience: String,
    /// The scope the mfa_tokens record.
    #[arg(long, default_value = "")]
    scope: String,
    /// Lifetime of the mfa_tokens, seconds.
    #[arg(long, default_value_t = 86_400)]
    ttl: u64,
    /// The fixture file to write.
    #[arg(long)]
    out: PathBuf,
}

/// Users per transaction.
const BATCH: usize = 10_000;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let started = Instant::now();
    let now = SystemClock.unix_time();
    let (keyring, _) =
        mfa_server::keys::keyring(&args.db, args.encryption_key_file.as_deref(), None).unwrap();
    let db = Db::connect(&args.db, keyring).await.unwrap();
    let store = db.store();
    let secret = StoredClientSecret::new(&args.client_secret).unwrap();
    db.upsert_client(&args.client_id, &secret, now)
        .await
        .unwrap();
    // One hash for every user: the fixture's users share a password.
    let phc = credentials::hash_password(&args.password).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args.out).unwrap());
    let mut rng = rand::rng();
    let mut first = 0;
    while first < args.users {
        let last = (first + BATCH).min(args.users);
        let users: Vec<(String, String)> = (first..last)
            .map(|i| (format!("{}{i}", args.prefix), phc.clone()))
            .collect();
        let ids = db.import_users(&users, now).await.unwrap();
        let mut enrollments = Vec::with_capacity(ids.len());
        let mut tokens = Vec::with_capacity(ids.len());
        for id in &ids {
            let secret = Box::new(Secret::generate(&mut rng));
            let (token, token_hash) = credentials::new_mfa_token();
            writeln!(out, "{} {}", token.as_str(), secret.to_base32().as_str()).unwrap();
            enrollments.push((
                id.clone(),
                OtpAuthenticator {
                    id: AuthenticatorId::generate(AuthenticatorKind::Otp, &mut rng),
                    secret,
                    params: TotpParams::default(),
                    progress: OtpProgress {
                        active: true,
                        ..OtpProgress::default()
                    },
                    attempts: Attempts::default(),
                    created_at: now,
                },
            ));
            tokens.push(MfaTokenRow {
                token_hash,
                user_id: id.clone(),
                client_id: args.client_id.clone(),
                scope: args.scope.clone(),
                audience: args.audience.clone(),
                expires_at: now + args.ttl,
            });
        }
        store.import(&enrollments).await.unwrap();
        db.import_mfa_tokens(&tokens).await.unwrap();
        first = last;
    }
    out.flush().unwrap();
    eprintln!(
        "provisioned {} enrolled users in {:.1} s",
        args.users,
        started.elapsed().as_secs_f64()
    );
}
