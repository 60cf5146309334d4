//! mfa-server: the reference Auth0-compatible MFA authorization server built
//! on totp-engine. See server/README.md for the operator's guide.
//!
//! This file runs the subcommands; their command line and the server's
//! configuration are defined and validated in `mfa_server::config`.

#![forbid(unsafe_code)]
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    unreachable_pub
)]

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use totp_engine::SystemClock;
use zeroize::Zeroizing;

use mfa_server::config::{Cli, Command, DbUrl, Settings, UsersCommand};
use mfa_server::credentials::{self, StoredClientSecret};
use mfa_server::db::Db;
use mfa_server::demo;
use mfa_server::http::{self, App, SharedClock};
use mfa_server::jose::ClientKeys;
use mfa_server::{config, keys, tokens};
use totp_engine::MfaStore;

/// One line of standard input, without its line ending.
fn read_line() -> Result<Zeroizing<String>, String> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    let len = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(len);
    Ok(line)
}

/// Opens the database and finds `username` (an error names a missing user).
async fn connect_to_user(
    db: &DbUrl,
    key_file: Option<&Path>,
    username: &str,
) -> Result<(Db, mfa_server::db::UserRow), String> {
    let db = connect(db, key_file, None).await?;
    let user = db
        .user(username)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user {username}"))?;
    Ok((db, user))
}

/// Removes every authenticator of `user_id` through the store; returns how
/// many there were.
async fn remove_authenticators(db: &Db, user_id: &str) -> Result<usize, String> {
    let store = db.store();
    let found = MfaStore::load(&store, user_id)
        .await
        .map_err(|e| e.to_string())?;
    let ids: Vec<_> = found
        .otp
        .map(|o| o.id)
        .into_iter()
        .chain(found.recovery.map(|r| r.id))
        .collect();
    for id in &ids {
        MfaStore::remove(&store, user_id, id)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(ids.len())
}

/// Opens the database with the keyring its secrets are sealed with.
async fn connect(
    db: &DbUrl,
    key_file: Option<&Path>,
    previous: Option<&Path>,
) -> Result<Db, String> {
    let (keyring, note) = keys::keyring(db.as_str(), key_file, previous)?;
    if let Some(note) = note {
        eprintln!("{note}");
    }
    Db::connect(db.as_str(), keyring)
        .await
        .map_err(|e| format!("database {}: {e}", db.redacted()))
}

fn check_client_id(client_id: &str) -> Result<(), String> {
    if client_id.is_empty() || client_id.len() > 128 || client_id.chars().any(char::is_control) {
        return Err("client id must be 1 to 128 printable characters".into());
    }
    Ok(())
}

async fn add_client(
    db: &Db,
    client_id: &str,
    secret: Option<&str>,
    now: u64,
) -> Result<(), String> {
    check_client_id(client_id)?;
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
            let secret = Zeroizing::new(secret.to_owned());
            tokio::task::spawn_blocking(move || StoredClientSecret::new(&secret))
                .await
                .map_err(|e| e.to_string())??
        }
    };
    db.upsert_client(client_id, &stored, now)
        .await
        .map_err(|e| e.to_string())
}

async fn add_user(
    db: &Db,
    username: &str,
    password: Zeroizing<String>,
    now: u64,
) -> Result<String, String> {
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
    let id = db
        .upsert_user(username, &hash, now)
        .await
        .map_err(|e| e.to_string())?;
    // A new password lifts the user's login blocks (as on Auth0).
    db.clear_login_failures(username)
        .await
        .map_err(|e| e.to_string())?;
    Ok(id)
}

/// Runs the server with validated `settings` until SIGINT or SIGTERM.
async fn serve(settings: Settings, clock: SharedClock) -> Result<(), String> {
    let db = connect(
        settings.db(),
        settings.encryption_key_file(),
        settings.previous_encryption_key_file(),
    )
    .await?;
    let listen = settings.listen();
    let demo = settings.demo();
    // Read before anything is served: a bad certificate stops the start.
    let tls = match settings.tls() {
        Some((cert, key)) => Some(http::tls::acceptor(cert, key).map_err(|e| e.to_string())?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let app = App::new(db.clone(), settings, clock.clone())
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    if demo {
        let secret = Zeroizing::new(credentials::random_secret(32));
        let password = Zeroizing::new(credentials::random_secret(16));
        add_client(&db, "demo-client", Some(&secret), clock.unix_time()).await?;
        add_user(&db, "demo", password.clone(), clock.unix_time()).await?;
        // The demo page's client: public, since a page cannot keep a secret.
        add_client(&db, demo::PAGE_CLIENT_ID, None, clock.unix_time()).await?;
        println!(
            "Demo client: client_id=demo-client client_secret={}\n\
             Demo user:   username=demo password={}\n\
             First step (password grant; answers 403 mfa_required with an mfa_token):\n\n  \
             curl --request POST --url '{scheme}://{local}/oauth/token' \\\n    \
             --header 'content-type: application/x-www-form-urlencoded' \\\n    \
             --data grant_type=password --data client_id=demo-client \\\n    \
             --data 'client_secret={}' --data username=demo --data 'password={}'\n",
            secret.as_str(),
            password.as_str(),
            secret.as_str(),
            password.as_str(),
        );
    }
    if demo {
        println!(
            "Demo page: open {scheme}://{local}/ in a browser, sign in as demo and enroll a phone."
        );
    }
    println!("mfa-server listening on {scheme}://{local}");
    let _ = std::io::stdout().flush();
    tracing::info!(%local, "listening");
    let limits = app.settings().serve_limits();
    let app = Arc::new(app);
    http::watch_signing_keys(&app, std::time::Duration::from_secs(1));
    http::serve::serve(listener, http::router(app), limits, tls, shutdown()).await;
    Ok(())
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

async fn run(command: Command, clock: SharedClock) -> Result<(), String> {
    match command {
        Command::Serve(args) => {
            let settings = Settings::from_args(&args).map_err(|e| e.to_string())?;
            serve(settings, clock).await
        }
        Command::AddClient {
            client_id,
            db,
            public: _,
            jwks: Some(path),
            public_key: _,
            encryption_key_file,
        }
        | Command::AddClient {
            client_id,
            db,
            public: _,
            jwks: None,
            public_key: Some(path),
            encryption_key_file,
        } => {
            check_client_id(&client_id)?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let keys = ClientKeys::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let db = connect(&db, encryption_key_file.as_deref(), None).await?;
            db.upsert_key_client(&client_id, &keys, clock.unix_time())
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "client {client_id} saved (private_key_jwt, {} key(s))",
                keys.len()
            );
            Ok(())
        }
        Command::AddClient {
            client_id,
            db,
            public,
            jwks: None,
            public_key: None,
            encryption_key_file,
        } => {
            let secret = if public { None } else { Some(read_line()?) };
            let db = connect(&db, encryption_key_file.as_deref(), None).await?;
            add_client(
                &db,
                &client_id,
                secret.as_ref().map(|s| s.as_str()),
                clock.unix_time(),
            )
            .await?;
            println!("client {client_id} saved");
            Ok(())
        }
        Command::AddUser {
            username,
            db,
            encryption_key_file,
        } => {
            let password = read_line()?;
            let db = connect(&db, encryption_key_file.as_deref(), None).await?;
            let id = add_user(&db, &username, password, clock.unix_time()).await?;
            println!("user {username} saved ({id})");
            Ok(())
        }
        Command::Users(UsersCommand::Unblock {
            username,
            db,
            encryption_key_file,
        }) => {
            let (db, _) = connect_to_user(&db, encryption_key_file.as_deref(), &username).await?;
            let cleared = db
                .clear_login_failures(&username)
                .await
                .map_err(|e| e.to_string())?;
            println!("user {username} unblocked ({cleared} client addresses cleared)");
            Ok(())
        }
        Command::Users(UsersCommand::ResetMfa {
            username,
            db,
            encryption_key_file,
        }) => {
            let (db, user) =
                connect_to_user(&db, encryption_key_file.as_deref(), &username).await?;
            // Revoke first: an outstanding mfa_token must not associate a new
            // authenticator in the moment between the removal and the revocation.
            db.revoke_tokens(&user.user_id, clock.unix_time())
                .await
                .map_err(|e| e.to_string())?;
            let removed = remove_authenticators(&db, &user.user_id).await?;
            println!(
                "user {username}: {removed} authenticator(s) removed, outstanding tokens revoked; they enroll again at their next login"
            );
            Ok(())
        }
        Command::Users(UsersCommand::Delete {
            username,
            db,
            encryption_key_file,
        }) => {
            let (db, user) =
                connect_to_user(&db, encryption_key_file.as_deref(), &username).await?;
            db.revoke_tokens(&user.user_id, clock.unix_time())
                .await
                .map_err(|e| e.to_string())?;
            remove_authenticators(&db, &user.user_id).await?;
            db.delete_user(&user.user_id)
                .await
                .map_err(|e| e.to_string())?;
            println!("user {username} deleted, with their authenticators and tokens");
            Ok(())
        }
        Command::Qr {
            uri,
            light_background,
        } => {
            let uri = if uri.0.as_str() == "-" {
                read_line()?
            } else {
                uri.0
            };
            let code = demo::qr::BarcodeUri::new(uri).map_err(|e| e.to_string())?;
            println!(
                "{}",
                code.terminal(!light_background)
                    .map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::RotateSigningKey {
            db,
            encryption_key_file,
            signing_alg,
        } => {
            let db = connect(&db, encryption_key_file.as_deref(), None).await?;
            let new = tokens::new_signing_key(signing_alg).map_err(|e| e.to_string())?;
            let now = clock.unix_time();
            // Keys retired longer ago than any token can live are deleted.
            let retired = db
                .rotate_signing_key(&new, now, now.saturating_sub(config::MAX_TTL))
                .await
                .map_err(|e| e.to_string())?;
            match retired {
                Some(old) => println!(
                    "{signing_alg} signing key rotated: {} signs from now on (every instance within a second); {old} stays in the JWKS until its tokens expire",
                    new.kid
                ),
                None => println!(
                    "{signing_alg} signing key created: {} (there was none)",
                    new.kid
                ),
            }
            Ok(())
        }
        Command::RotateEncryptionKey {
            db,
            encryption_key_file,
            new_key_file,
        } => {
            // Opening with the new key as current and the old one as
            // previous re-seals every secret under the new key (each row a
            // compare-and-set, so serving instances are undisturbed).
            let old = match encryption_key_file {
                Some(path) => path,
                None => keys::default_key_path(db.as_str()).ok_or(
                    "name the current key with --encryption-key-file (PostgreSQL has no default)",
                )?,
            };
            if !old.exists() {
                return Err(format!(
                    "encryption key file {} does not exist",
                    old.display()
                ));
            }
            let db = connect(&db, Some(&new_key_file), Some(&old)).await?;
            println!(
                "every secret is sealed under the key in {} (key id {:#010x}); the old key is no longer needed once every instance runs with the new one",
                new_key_file.display(),
                db.keyring().current().id()
            );
            Ok(())
        }
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
    match run(cli.command, Arc::new(SystemClock)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mfa-server: {e}");
            ExitCode::FAILURE
        }
    }
}
