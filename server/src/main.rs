//! mfa-server: the reference Auth0-compatible MFA authorization server built
//! on totp-engine. See the repository README for the walk-through.

#![forbid(unsafe_code)]
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs,
    unreachable_pub
)]

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use totp_engine::{Mfa, MfaConfig, ThrottlePolicy};

use mfa_server::credentials::{self, StoredClientSecret};
use mfa_server::db::Db;
use mfa_server::http::{self, App, Settings};
use mfa_server::tokens::Signer;
use totp_engine::Clock as _;

#[derive(Debug, Parser)]
#[command(
    name = "mfa-server",
    version,
    about = "Auth0-compatible MFA authorization server (TOTP) on totp-engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on (port 0 picks a free port; the chosen address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// SQLite file (or sqlite://PATH), or postgres://USER@HOST:PORT/DB.
        #[arg(long, default_value = "mfa-server.db")]
        db: String,
        /// Issuer: the name shown in authenticator apps and the `iss` of tokens.
        #[arg(long, default_value = "mfa-server")]
        issuer: String,
        /// mfa_token lifetime in seconds.
        #[arg(long, default_value_t = 600)]
        mfa_token_ttl: u64,
        /// Access token lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        access_token_ttl: u64,
        /// Create (or reset) a demo client and user and print how to use them.
        #[arg(long)]
        demo: bool,
        /// Failed attempts allowed per authenticator before lockout (Auth0: 10).
        #[arg(long, default_value_t = 10)]
        throttle_attempts: u32,
        /// Seconds until one more attempt is allowed (Auth0: 360).
        #[arg(long, default_value_t = 360)]
        throttle_refill_secs: u64,
    },
    /// Create or update a client; reads its secret from standard input (one line).
    AddClient {
        client_id: String,
        #[arg(long, default_value = "mfa-server.db")]
        db: String,
        /// A public client: no secret is read or required.
        #[arg(long)]
        public: bool,
    },
    /// Create or update a user; reads the password from standard input (one line).
    AddUser {
        username: String,
        #[arg(long, default_value = "mfa-server.db")]
        db: String,
    },
}

fn read_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn add_client(db: &Db, client_id: &str, secret: Option<&str>) -> Result<(), String> {
    if client_id.is_empty() || client_id.len() > 128 || client_id.chars().any(char::is_control) {
        return Err("client id must be 1 to 128 printable characters".into());
    }
    let stored = match secret {
        None => StoredClientSecret::Public,
        Some("") => {
            return Err(
                "client secret must not be empty (use --public for a public client)".into(),
            );
        }
        Some(secret) => {
            if secret.chars().count() < credentials::STRONG_CLIENT_SECRET_LEN {
                eprintln!(
                    "mfa-server: warning: client secrets shorter than {} characters are hashed with \
                     Argon2id, which makes every request of this client as slow as a password check",
                    credentials::STRONG_CLIENT_SECRET_LEN
                );
            }
            let secret = secret.to_owned();
            tokio::task::spawn_blocking(move || StoredClientSecret::new(&secret))
                .await
                .map_err(|e| e.to_string())??
        }
    };
    db.upsert_client(client_id, &stored, totp_engine::SystemClock.unix_time())
        .await
        .map_err(|e| e.to_string())
}

async fn add_user(db: &Db, username: &str, password: String) -> Result<String, String> {
    if username.is_empty()
        || username.len() > 256
        || username.contains(':')
        || username.chars().any(char::is_control)
    {
        return Err("username must be 1 to 256 printable characters without ':'".into());
    }
    if password.is_empty() || password.len() > 1024 {
        return Err("password must be 1 to 1024 bytes".into());
    }
    let hash = tokio::task::spawn_blocking(move || credentials::hash_password(&password))
        .await
        .map_err(|e| e.to_string())??;
    db.upsert_user(username, &hash, totp_engine::SystemClock.unix_time())
        .await
        .map_err(|e| e.to_string())
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    listen: SocketAddr,
    db_url: &str,
    issuer: String,
    mfa_token_ttl: u64,
    access_token_ttl: u64,
    demo: bool,
    throttle: ThrottlePolicy,
) -> Result<(), String> {
    let db = Db::connect(db_url)
        .await
        .map_err(|e| format!("database {db_url}: {e}"))?;
    let signer = Signer::load_or_create(&db, &issuer, totp_engine::SystemClock.unix_time())
        .await
        .map_err(|e| e.to_string())?;
    let config = MfaConfig::new(issuer.clone())
        .map_err(|e| format!("--issuer: {e}"))?
        .with_throttle(throttle);
    let dummy_hash =
        tokio::task::spawn_blocking(|| credentials::hash_password("not a real password"))
            .await
            .map_err(|e| e.to_string())??;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    if demo {
        let secret = credentials::random_secret(32);
        let password = credentials::random_secret(16);
        add_client(&db, "demo-client", Some(&secret)).await?;
        add_user(&db, "demo", password.clone()).await?;
        println!(
            "Demo client: client_id=demo-client client_secret={secret}\n\
             Demo user:   username=demo password={password}\n\
             First step (password grant; answers 403 mfa_required with an mfa_token):\n\n  \
             curl --request POST --url 'http://{local}/oauth/token' \\\n    \
             --header 'content-type: application/x-www-form-urlencoded' \\\n    \
             --data grant_type=password --data client_id=demo-client \\\n    \
             --data 'client_secret={secret}' --data username=demo --data 'password={password}'\n"
        );
    }
    let app = Arc::new(App {
        mfa: Mfa::new(db.store(), config),
        db,
        signer,
        settings: Settings {
            mfa_token_ttl,
            access_token_ttl,
            default_audience: issuer,
        },
        dummy_hash,
    });
    println!("mfa-server listening on http://{local}");
    let _ = std::io::stdout().flush();
    tracing::info!(%local, "listening");
    axum::serve(listener, http::router(app))
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| e.to_string())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            listen,
            db,
            issuer,
            mfa_token_ttl,
            access_token_ttl,
            demo,
            throttle_attempts,
            throttle_refill_secs,
        } => match ThrottlePolicy::new(throttle_attempts, throttle_refill_secs) {
            Ok(throttle) => {
                serve(
                    listen,
                    &db,
                    issuer,
                    mfa_token_ttl,
                    access_token_ttl,
                    demo,
                    throttle,
                )
                .await
            }
            Err(e) => Err(format!("--throttle-attempts/--throttle-refill-secs: {e}")),
        },
        Command::AddClient {
            client_id,
            db,
            public,
        } => {
            async {
                let secret = if public { None } else { Some(read_line()?) };
                let db = Db::connect(&db).await.map_err(|e| e.to_string())?;
                add_client(&db, &client_id, secret.as_deref()).await?;
                println!("client {client_id} saved");
                Ok(())
            }
            .await
        }
        Command::AddUser { username, db } => {
            async {
                let password = read_line()?;
                let db = Db::connect(&db).await.map_err(|e| e.to_string())?;
                let id = add_user(&db, &username, password).await?;
                println!("user {username} saved ({id})");
                Ok(())
            }
            .await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mfa-server: {e}");
            ExitCode::FAILURE
        }
    }
}
