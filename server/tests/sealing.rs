//! Secrets sealed at rest, against the real binary: after a whole flow no
//! TOTP secret (raw, hex or base32), recovery code or signing-key private
//! byte string is anywhere in the database files (SQLite file, WAL, SHM) or
//! in any PostgreSQL table; a first start on SQLite makes the key file (mode
//! 0600) beside the database; a database sealed under another key refuses
//! to start; a database from before sealing is sealed on first start; the
//! key rotates with `rotate-encryption-key`.

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

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mfa_server::db::Db;
use mfa_server::tokens::SigningAlg;
use sqlx::Row as _;
use totp_engine::{Mfa, MfaConfig, ParsedKeyUri, Totp};
use totp_engine_sqlx::{SqlxStore, StoreOptions, connect_pool};
use zeroize::Zeroizing;

/// The binary with no `MFA_SERVER_*` variable at all (no test key either).
fn bare(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MFA_SERVER_") {
            command.env_remove(name);
        }
    }
    command.args(args);
    command
}

/// Runs a command that must exit within 20 s; returns (success, output).
fn run_to_exit(mut command: Command) -> (bool, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (status.success(), text);
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{command:?} did not exit: it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `serve` from a prepared command; returns the child and base URL.
fn serve(mut command: Command) -> (std::process::Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(addr) = line.strip_prefix("mfa-server listening on ") {
            break addr.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every form a secret could be written in.
struct Needles(Vec<(String, Vec<u8>)>);

impl Needles {
    fn new() -> Self {
        Self(Vec::new())
    }
    fn totp_secret(&mut self, base32: &str) {
        let secret = totp_engine::Secret::from_base32(base32).unwrap();
        let raw = secret.expose_bytes().to_vec();
        self.0
            .push(("secret (base32)".into(), base32.as_bytes().to_vec()));
        self.0.push(("secret (raw)".into(), raw.clone()));
        self.0
            .push(("secret (hex)".into(), hex::encode(&raw).into_bytes()));
    }
    fn text(&mut self, what: &str, text: &str) {
        self.0.push((what.into(), text.as_bytes().to_vec()));
    }
    fn signing_key(&mut self, pkcs8: &[u8]) {
        self.0.push(("signing key (PKCS#8)".into(), pkcs8.to_vec()));
        // RSA (the default): an RSAPrivateKey starts with its version 0
        // and a 2048-bit modulus (02 01 00 02 82 01 01 00), which no public
        // key encoding does; the private exponent d follows n and e.
        if let Some(header) = pkcs8
            .windows(8)
            .position(|w| w == [0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x01, 0x00])
        {
            let e = header
                + pkcs8[header..]
                    .windows(5)
                    .position(|w| w == [0x02, 0x03, 0x01, 0x00, 0x01])
                    .expect("e = 65537");
            // d: an INTEGER after e. Its DER length takes one byte (short
            // form) or 0x81/0x82 and one or two bytes: a d below 2^2040,
            // about one key in 256, is 255 bytes long or less (02 81 LL).
            assert_eq!(pkcs8[e + 5], 0x02, "d is an INTEGER");
            let body = match pkcs8[e + 6] {
                0x81 => e + 8,
                0x82 => e + 9,
                short if short < 0x80 => e + 7,
                other => panic!("unexpected DER length byte {other:#04x} for d"),
            };
            let d = pkcs8[body..body + 32].to_vec();
            self.0.push((
                "signing key (RSAPrivateKey header)".into(),
                pkcs8[header..header + 8].to_vec(),
            ));
            self.0
                .push(("signing key (hex d)".into(), hex::encode(&d).into_bytes()));
            self.0.push(("signing key (d)".into(), d));
            return;
        }
        // Ed25519 (`--signing-alg EdDSA`): the seed follows the OCTET
        // STRING header 04 22 04 20 (the public key, stored in the clear on
        // purpose, may follow it).
        let at = pkcs8
            .windows(4)
            .position(|w| w == [0x04, 0x22, 0x04, 0x20])
            .expect("an RSA or Ed25519 PKCS#8 document")
            + 4;
        let seed = pkcs8[at..at + 32].to_vec();
        self.0.push((
            "signing key (hex seed)".into(),
            hex::encode(&seed).into_bytes(),
        ));
        self.0.push(("signing key (seed)".into(), seed));
    }
    fn assert_absent(&self, place: &str, content: &[u8]) {
        for (what, needle) in &self.0 {
            assert!(!contains(content, needle), "{what} found in {place}");
        }
    }
}

/// The signing key as the server stores it, opened with the test key.
async fn signing_key(db_url: &str) -> Zeroizing<Vec<u8>> {
    let db = Db::connect(db_url, test_keyring()).await.unwrap();
    db.find_signing_key(SigningAlg::Rs256)
        .await
        .unwrap()
        .expect("an RS256 key")
        .private_pkcs8
}

/// The flow through HTTP: enroll, confirm, use the recovery code, delete
/// the authenticator, enroll again. Returns what must not be on disk.
async fn full_flow(server: &Server) -> Needles {
    let http = client();
    let mut needles = Needles::new();
    let (token, secret, recovery, t) = enrolled(&http, server).await;
    needles.totp_secret(&secret);
    needles.text("recovery code", &recovery);
    let (status, body) = form(
        &http,
        &server.url("/oauth/token"),
        &[
            ("grant_type", MFA_RECOVERY),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", &token),
            ("recovery_code", &recovery),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    needles.text("new recovery code", body["recovery_code"].as_str().unwrap());
    // A later login with a fresh code.
    let (token2, _) = password_grant(&http, server).await;
    let (status, body) = otp_grant(&http, server, &token2, &oathtool(&secret, t + 30)).await;
    assert_eq!(status, 200, "{body}");
    needles
}

#[tokio::test]
async fn sqlite_first_start_makes_a_key_and_nothing_secret_reaches_the_files() {
    let dir = temp_dir("seal-sqlite");
    let db = db_path(&dir);
    let key_path = format!("{db}.key");
    // add-client on a fresh database creates the key beside it and says so.
    let mut add = bare(&["add-client", CLIENT, "--db", &db]);
    add.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = add.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        format!("{CLIENT_SECRET}\n").as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("generated the encryption key") && said.contains(&key_path),
        "{said}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key_text = std::fs::read_to_string(&key_path).unwrap();
    assert_eq!(key_text.trim().len(), 64);
    let env_key = [("MFA_SERVER_ENCRYPTION_KEY_FILE", key_path.as_str())];
    let (ok, out) = cli_env(
        &["add-user", USER, "--db", &db],
        &env_key,
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "{out}");

    // serve without naming the key: it finds the one beside the database.
    let mut cmd = bare(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--db",
        &db,
        "--issuer",
        "ACME",
    ]);
    cmd.stdin(Stdio::null());
    let (child, base) = serve(cmd);
    let server = Server::from_child(child, base);
    let mut needles = full_flow(&server).await;
    drop(server);

    // The signing key, opened with the generated key.
    let key = mfa_server::keys::read_key_file(Path::new(&key_path)).unwrap();
    let db_conn = Db::connect(&db, totp_engine_sqlx::Keyring::new(key))
        .await
        .unwrap();
    let pkcs8 = db_conn
        .find_signing_key(SigningAlg::Rs256)
        .await
        .unwrap()
        .expect("an RS256 key")
        .private_pkcs8;
    needles.signing_key(&pkcs8);
    drop(db_conn);
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".key") {
            continue;
        }
        needles.assert_absent(&path.display().to_string(), &std::fs::read(&path).unwrap());
        checked += 1;
    }
    assert!(checked >= 2, "database file and WAL checked");

    // Another key: the server refuses to start, and says why.
    let other = dir.join("other.key");
    std::fs::write(&other, format!("{}\n", hex::encode([9u8; 32]))).unwrap();
    let (ok, out) = run_to_exit(bare(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--db",
        &db,
        "--encryption-key-file",
        &other.to_string_lossy(),
    ]));
    assert!(!ok);
    assert!(out.contains("sealed under a key"), "{out}");
}

#[tokio::test]
async fn a_database_from_before_sealing_is_sealed_on_first_start_and_keys_rotate() {
    let dir = temp_dir("seal-upgrade");
    let db = db_path(&dir);
    // Before sealing: the store without a keyring writes plain secrets.
    let (pool, _) = connect_pool(&db).await.unwrap();
    let plain = SqlxStore::new(pool.clone(), StoreOptions::default())
        .await
        .unwrap();
    let mfa = Mfa::new(plain, MfaConfig::new("ACME").unwrap());
    let user = "auth0|jane@example.com";
    let now = unix_now();
    let association = {
        let mut rng = rand::rng();
        mfa.associate(user, USER, &mut rng, now)
    }
    .await
    .unwrap();
    let uri = ParsedKeyUri::parse(&association.barcode_uri).unwrap();
    let totp = Totp::new(uri.secret(), uri.totp_params());
    mfa.verify_otp(user, totp.generate(now).unwrap().as_str(), now)
        .await
        .unwrap();
    let raw = uri.secret().expose_bytes().to_vec();
    let row = sqlx::query("SELECT secret, secret_key_id FROM otp_authenticators")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.try_get::<Vec<u8>, _>(0).unwrap(), raw);
    pool.close().await;

    // First start with the key: sealed.
    provision(&db);
    let server = Server::start(&db, &[]);
    let (pool, _) = connect_pool(&db).await.unwrap();
    let (sealed, key_id): (Vec<u8>, Option<i64>) =
        sqlx::query_as("SELECT secret, secret_key_id FROM otp_authenticators")
            .fetch_one(&pool)
            .await
            .unwrap();
    let test_id = i64::from(mfa_server::keys::key_id(&TEST_KEY));
    assert_eq!(key_id, Some(test_id));
    assert!(!contains(&sealed, &raw));
    let (_, signing_id): (Vec<u8>, Option<i64>) =
        sqlx::query_as("SELECT private_pkcs8, private_key_id FROM signing_keys")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(signing_id, Some(test_id));
    // The user's codes still verify through the server.
    let opened = SqlxStore::new(
        pool.clone(),
        StoreOptions::default().with_keyring(test_keyring()),
    )
    .await
    .unwrap();
    let loaded = totp_engine::MfaStore::load(&opened, user)
        .await
        .unwrap()
        .otp
        .unwrap();
    assert_eq!(
        loaded.secret.expose_bytes(),
        &raw[..],
        "the sealed secret opens to the original"
    );
    let http = client();
    let (token, _) = password_grant(&http, &server).await;
    // The next step's code (the enrollment used this one).
    let code = totp.generate(now + 30).unwrap();
    let (status, body) = otp_grant(&http, &server, &token, code.as_str()).await;
    assert_eq!(status, 200, "{body}");

    // Rotation: re-seal under a new key while the server keeps serving.
    let new_key = dir.join("new.key");
    std::fs::write(&new_key, format!("{}\n", hex::encode([0x17u8; 32]))).unwrap();
    let (ok, out) = cli(
        &[
            "rotate-encryption-key",
            "--db",
            &db,
            "--new-key-file",
            &new_key.to_string_lossy(),
        ],
        "",
    );
    assert!(ok, "{out}");
    let new_id = i64::from(mfa_server::keys::key_id(&[0x17; 32]));
    assert!(out.contains(&format!("{:#010x}", new_id)), "{out}");
    for (table, column) in [
        ("otp_authenticators", "secret_key_id"),
        ("signing_keys", "private_key_id"),
    ] {
        let ids: Vec<Option<i64>> = sqlx::query_scalar(&format!("SELECT {column} FROM {table}"))
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(ids.iter().all(|id| *id == Some(new_id)), "{table}: {ids:?}");
    }
    drop(server);
    // The old key alone no longer opens the database; the new one does.
    let (ok, out) = run_to_exit({
        let mut c = command(&[]);
        c.args(["serve", "--listen", "127.0.0.1:0", "--db", &db]);
        c
    });
    assert!(!ok && out.contains("sealed under a key"), "{out}");
    let server = Server::spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            &db,
            "--issuer",
            "ACME",
        ],
        &[("MFA_SERVER_ENCRYPTION_KEY_FILE", &new_key.to_string_lossy())],
    );
    // Both steps of the window are used up: the login shows the enrolled
    // authenticator (its sealed secret opened under the new key) and a
    // replayed code is refused as such, not as a storage failure.
    let (token, body) = password_grant(&http, &server).await;
    assert_eq!(
        body["mfa_requirements"]["challenge"][0]["type"], "otp",
        "{body}"
    );
    let (status, body) = otp_grant(&http, &server, &token, code.as_str()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let opened = SqlxStore::new(
        pool.clone(),
        StoreOptions::default().with_keyring(totp_engine_sqlx::Keyring::new(
            mfa_server::keys::read_key_file(&new_key).unwrap(),
        )),
    )
    .await
    .unwrap();
    let loaded = totp_engine::MfaStore::load(&opened, user)
        .await
        .unwrap()
        .otp
        .unwrap();
    assert_eq!(loaded.secret.expose_bytes(), &raw[..]);
}

#[tokio::test]
async fn postgres_needs_a_named_key_and_holds_no_secret_in_any_table() {
    let url = fresh_pg_database("seal").await;
    // No key named: refused, with the reason.
    let (ok, out) = run_to_exit(bare(&["serve", "--listen", "127.0.0.1:0", "--db", &url]));
    assert!(!ok && out.contains("--encryption-key-file"), "{out}");

    provision(&url);
    let server = Server::start(&url, &[]);
    let mut needles = full_flow(&server).await;
    needles.signing_key(&signing_key(&url).await);
    drop(server);
    let mut pg = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut pg)
    .await
    .unwrap();
    assert!(
        tables.contains(&"otp_authenticators".to_owned()),
        "{tables:?}"
    );
    for table in &tables {
        // Every row as text (bytea as \x-hex): raw bytes are checked as hex.
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                .fetch_all(&mut pg)
                .await
                .unwrap();
        let text = rows.join("\n");
        needles.assert_absent(table, text.as_bytes());
        for (what, needle) in &needles.0 {
            assert!(
                !text.contains(&hex::encode(needle)),
                "{what} (as hex bytea) found in {table}"
            );
        }
    }
}

#[tokio::test]
async fn a_signing_key_whose_public_half_was_replaced_refuses_to_start() {
    let dir = temp_dir("seal-pubkey");
    let db = db_path(&dir);
    provision(&db);
    drop(Server::start(&db, &["--signing-alg", "EdDSA"]));
    let (pool, _) = connect_pool(&db).await.unwrap();
    let changed =
        sqlx::query("UPDATE signing_keys SET public_key = $1 WHERE alg = 'EdDSA' AND next_key = 0")
            .bind(vec![9u8; 32])
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected();
    assert_eq!(changed, 1);
    pool.close().await;
    let (ok, out) = run_to_exit({
        let mut c = command(&[]);
        c.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            &db,
            "--signing-alg",
            "EdDSA",
        ]);
        c
    });
    assert!(
        !ok && out.contains("does not verify its own signature"),
        "{out}"
    );
}
