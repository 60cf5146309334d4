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

use mfa_server::admin::{self, BlockRule};
use mfa_server::config::{BlockArgs, Cli, ClientsCommand, Command, DbUrl, Settings, UsersCommand};
use mfa_server::credentials::{self, StoredClientSecret};
use mfa_server::db::Db;
use mfa_server::demo;
use mfa_server::http::{self, App, SharedClock, management};
use mfa_server::jose::ClientKeys;
use mfa_server::lifecycle;
use mfa_server::logging::{self, LogFormat};
use mfa_server::{config, keys, tokens};
use totp_engine::MfaStore;

/// A secret from standard input: prompted for on the terminal without
/// echo when standard input is one, else one line (piped, as in scripts).
fn read_secret(prompt: &str) -> Result<Zeroizing<String>, String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| format!("cannot read from the terminal: {e}"));
    }
    read_line()
}

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

/// The blocking rule of `users list` / `users show`.
fn block_rule(block: BlockArgs) -> BlockRule {
    BlockRule {
        max_failures: block.login_max_failures,
        block_secs: block.login_block_secs,
    }
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
    let metrics_listen = settings.metrics_listen();
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
    let metrics = match metrics_listen {
        None => None,
        Some(addr) => {
            let listener = mfa_server::metrics::bind(addr).await?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            println!("mfa-server metrics on http://{local}/metrics");
            Some((listener, mfa_server::metrics::install()?))
        }
    };
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
    let app = Arc::new(app);
    http::watch_signing_keys(&app, std::time::Duration::from_secs(1));
    lifecycle::run(listener, app, tls, metrics, lifecycle::terminated()).await;
    Ok(())
}

async fn run(command: Command, clock: SharedClock) -> Result<(), String> {
    match command {
        Command::Serve(args) => {
            let settings = Settings::from_args(&args).map_err(|e| e.to_string())?;
            logging::init(settings.log_format());
            serve(settings, clock).await
        }
        Command::AddClient {
            client_id,
            db,
            public: _,
            jwks: Some(path),
            public_key: _,
            management_scopes: None,
            encryption_key_file,
        }
        | Command::AddClient {
            client_id,
            db,
            public: _,
            jwks: None,
            public_key: Some(path),
            management_scopes: None,
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
            jwks: Some(_), ..
        }
        | Command::AddClient {
            public_key: Some(_),
            ..
        } => Err(
            "--management-scopes is for clients with a secret; a private_key_jwt client cannot be given Management API scopes yet".into(),
        ),
        Command::AddClient {
            client_id,
            db,
            public,
            jwks: None,
            public_key: None,
            management_scopes,
            encryption_key_file,
        } => {
            let management_scopes = match management_scopes.as_deref().map(str::trim) {
                None => None,
                Some("") => Some(None),
                Some(_) if public => {
                    return Err("a public client cannot be granted Management API scopes".into());
                }
                Some(scopes) => Some(Some(management::parse_scopes(scopes)?)),
            };
            let secret = if public {
                None
            } else {
                Some(read_secret(&format!("Client secret for {client_id}: "))?)
            };
            let db = connect(&db, encryption_key_file.as_deref(), None).await?;
            add_client(
                &db,
                &client_id,
                secret.as_ref().map(|s| s.as_str()),
                clock.unix_time(),
            )
            .await?;
            match management_scopes {
                None => {}
                Some(None) => {
                    db.remove_client_grant(&client_id, management::GRANT_KEY)
                        .await
                        .map_err(|e| e.to_string())?;
                    println!("client {client_id}: Management API grant withdrawn");
                }
                Some(Some(scopes)) => {
                    db.set_client_grant(
                        &client_id,
                        management::GRANT_KEY,
                        &scopes,
                        clock.unix_time(),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    println!("client {client_id}: Management API scopes {scopes}");
                }
            }
            println!("client {client_id} saved");
            Ok(())
        }
        Command::AddUser {
            username,
            db,
            encryption_key_file,
        } => {
            let password = read_secret(&format!("Password for {username}: "))?;
            let db = connect(&db, encryption_key_file.as_deref(), None).await?;
            let id = add_user(&db, &username, password, clock.unix_time()).await?;
            println!("user {username} saved ({id})");
            Ok(())
        }
        Command::Users(UsersCommand::List {
            db,
            encryption_key_file,
            block,
        }) => {
            let db = connect(&db, encryption_key_file.as_deref(), None).await?;
            print!(
                "{}",
                admin::users_list(&db, block_rule(block), clock.unix_time()).await?
            );
            Ok(())
        }
        Command::Users(UsersCommand::Show {
            username,
            db,
            encryption_key_file,
            block,
        }) => {
            let (db, user) =
                connect_to_user(&db, encryption_key_file.as_deref(), &username).await?;
            print!(
                "{}",
                admin::users_show(&db, &user, block_rule(block), clock.unix_time()).await?
            );
            Ok(())
        }
        Command::Users(UsersCommand::RegenerateRecoveryCode {
            username,
            db,
            encryption_key_file,
        }) => {
            let (db, user) =
                connect_to_user(&db, encryption_key_file.as_deref(), &username).await?;
            let code = Zeroizing::new(admin::regenerate_recovery_code(&db, &user).await?);
            println!(
                "New recovery code for {username} (shown once; the old one no longer works):\n{}",
                code.as_str()
            );
            Ok(())
        }
        Command::Clients(ClientsCommand::List {
            db,
            encryption_key_file,
        }) => {
            let db = connect(&db, encryption_key_file.as_deref(), None).await?;
            print!("{}", admin::clients_list(&db).await?);
            Ok(())
        }
        Command::Clients(ClientsCommand::Remove {
            client_id,
            db,
            encryption_key_file,
        }) => {
            let db = connect(&db, encryption_key_file.as_deref(), None).await?;
            println!("{}", admin::clients_remove(&db, &client_id).await?);
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
            let rotated = db
                .rotate_signing_key(&new, now, now.saturating_sub(config::MAX_TTL))
                .await
                .map_err(|e| e.to_string())?;
            // Without a next key to promote, the new key signs at once; a
            // next key is stored for the rotation after this one.
            let next = match rotated.next {
                Some(next) => next,
                None => {
                    let candidate =
                        tokens::new_signing_key(signing_alg).map_err(|e| e.to_string())?;
                    db.next_signing_key(&candidate, now)
                        .await
                        .map_err(|e| e.to_string())?
                        .kid
                }
            };
            let current = &rotated.current;
            let ahead = if rotated.published_ahead {
                "published in the JWKS since the previous rotation or the first start"
            } else {
                "not published ahead: this database had no next key"
            };
            match rotated.retired {
                Some(old) => println!(
                    "{signing_alg} signing key rotated: {current} signs from now on (every instance within a second; {ahead}); {old} stays in the JWKS until its tokens expire; {next} is the next key, published from now on"
                ),
                None => println!(
                    "{signing_alg} signing key created: {current} (there was none); {next} is the next key, published from now on"
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
    let cli = Cli::parse();
    // `serve` installs its logger once its settings name the format.
    if !matches!(cli.command, Command::Serve(_)) {
        logging::init(LogFormat::Text);
    }
    match run(cli.command, Arc::new(SystemClock)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mfa-server: {e}");
            ExitCode::FAILURE
        }
    }
}
