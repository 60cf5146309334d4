//! The administrator's CLI on SQLite and on PostgreSQL (the test cluster of
//! `scripts/test.sh`), run as the real binary against a database a real
//! server uses: `users list`, `users show` (authenticators, blocked state,
//! never a secret), `users regenerate-recovery-code` (the new code works,
//! the old one no longer), `clients list`, `clients remove` (the client's
//! logins stop); unknown users and clients are errors that change nothing.
//! And a password typed at a terminal is not echoed (`add-user` under a
//! pseudo-terminal, through `script`).

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

use common::{
    BIN, CLIENT, CLIENT_SECRET, MFA_RECOVERY, PASSWORD, Server, USER, cli, client, db_path,
    enrolled, form, password_grant, provision, temp_dir,
};
use mfa_server::db::Db;

/// Runs `args` with `--db DB` appended; returns (success, standard output)
/// on success and (false, the error line of standard error) on failure.
fn admin(db: &str, args: &[&str]) -> (bool, String) {
    let out = common::command(&[])
        .args(args)
        .args(["--db", db])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        (true, String::from_utf8(out.stdout).unwrap())
    } else {
        let error = stderr
            .lines()
            .filter(|l| l.starts_with("mfa-server: "))
            .collect::<Vec<_>>();
        assert!(out.stdout.is_empty(), "{out:?}");
        (false, format!("{}\n", error.join("\n")))
    }
}

async fn wrong_password(http: &reqwest::Client, server: &Server) -> u16 {
    form(
        http,
        &server.url("/oauth/token"),
        &[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("username", USER),
            ("password", "wrong"),
        ],
    )
    .await
    .0
}

async fn recovery(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    code: &str,
) -> (u16, serde_json::Value) {
    form(
        http,
        &server.url("/oauth/token"),
        &[
            ("grant_type", MFA_RECOVERY),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", token),
            ("recovery_code", code),
        ],
    )
    .await
}

async fn admin_commands(db: &str) {
    provision(db);
    let (ok, out) = cli(&["add-user", "bob", "--db", db], "bob's password\n");
    assert!(ok, "{out}");
    let (ok, out) = cli(&["add-client", "spa", "--public", "--db", db], "");
    assert!(ok, "{out}");

    // Before anyone enrolls.
    let (ok, out) = admin(db, &["users", "list"]);
    assert!(ok, "{out}");
    assert_eq!(
        out,
        format!(
            "USERNAME\tUSER_ID\tMFA\tRECOVERY\tBLOCKED_ADDRESSES\n\
             bob\tauth0|bob\tnone\tnone\t0\n\
             {USER}\tauth0|{USER}\tnone\tnone\t0\n"
        )
    );
    let (ok, out) = admin(db, &["users", "show", "bob"]);
    assert!(ok, "{out}");
    assert_eq!(
        out,
        "username: bob\nuser_id: auth0|bob\nmfa: none\nrecovery_code: none\nblocked: no\n\
         authenticators:\n  (none)\nlogin_failures:\n  (none)\n"
    );

    let server = Server::start(db, &[]);
    let http = client();
    let (_, secret, old_code, _) = enrolled(&http, &server).await;
    for _ in 0..3 {
        assert_eq!(wrong_password(&http, &server).await, 403);
    }
    // Three failures: blocked under a threshold of 3, not under the default 10.
    let (ok, out) = admin(db, &["users", "show", USER, "--login-max-failures", "3"]);
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..6],
        &[
            &format!("username: {USER}")[..],
            &format!("user_id: auth0|{USER}"),
            "mfa: otp",
            "recovery_code: active",
            "blocked: yes",
            "authenticators:",
        ]
    );
    assert!(
        lines[6].starts_with("  recovery-code|dev_")
            && lines[6]
                .contains(" recovery-code active=true codes_left=1 failed_attempts=0 created_at="),
        "{out}"
    );
    assert!(lines[7].starts_with("  totp|dev_"), "{out}");
    assert!(
        lines[7].contains(
            " otp active=true algorithm=SHA1 digits=6 period=30 failed_attempts=0 created_at="
        ),
        "{out}"
    );
    assert_eq!(lines[8], "login_failures:");
    assert!(
        lines[9].starts_with("  127.0.0.1 failures=3 last_failed_at=")
            && lines[9].ends_with(" blocked=true"),
        "{out}"
    );
    for secret in [&secret[..], &old_code, PASSWORD, "$argon2"] {
        assert!(!out.contains(secret), "{secret} shown:\n{out}");
    }
    let (ok, out) = admin(db, &["users", "show", USER]);
    assert!(
        ok && out.contains("blocked: no\n") && out.contains(" blocked=false"),
        "{out}"
    );
    let (ok, out) = admin(db, &["users", "list", "--login-max-failures", "3"]);
    assert!(ok, "{out}");
    assert!(
        out.ends_with(&format!("{USER}\tauth0|{USER}\totp\tactive\t1\n")),
        "{out}"
    );

    // A new recovery code: printed once; the old one stops working.
    let (ok, out) = admin(db, &["users", "regenerate-recovery-code", USER]);
    assert!(ok, "{out}");
    let mut printed = out.lines();
    assert_eq!(
        printed.next(),
        Some(
            &format!("New recovery code for {USER} (shown once; the old one no longer works):")[..]
        )
    );
    let new_code = printed.next().unwrap().to_owned();
    assert_eq!(new_code.len(), old_code.len());
    assert_ne!(new_code, old_code);
    let (token, _) = password_grant(&http, &server).await;
    let (status, body) = recovery(&http, &server, &token, &old_code).await;
    assert_eq!(
        (status, &body["error"]),
        (400, &"invalid_grant".into()),
        "{body}"
    );
    let (status, body) = recovery(&http, &server, &token, &new_code).await;
    assert_eq!(status, 200, "{body}");
    // Not enrolled, or unknown: errors, and nothing changed.
    let (ok, out) = admin(db, &["users", "regenerate-recovery-code", "bob"]);
    assert!(!ok);
    assert!(
        out.contains("user bob has no active recovery code (not enrolled); nothing changed"),
        "{out}"
    );
    for args in [
        &["users", "show", "ghost"][..],
        &["users", "regenerate-recovery-code", "ghost"],
    ] {
        let (ok, out) = admin(db, args);
        assert!(!ok);
        assert_eq!(out, "mfa-server: no user ghost\n");
    }

    // Management API grants: validated, refused for a public client.
    let (ok, out) = cli(
        &[
            "add-client",
            "ops",
            "--db",
            db,
            "--management-scopes",
            "read:users delete:users",
        ],
        "an-ops-secret-of-enough-length\n",
    );
    assert!(!ok);
    assert!(
        out.contains("unknown management scope \"delete:users\"; known: read:users update:users"),
        "{out}"
    );
    let (ok, out) = cli(
        &[
            "add-client",
            "spa",
            "--public",
            "--db",
            db,
            "--management-scopes",
            "read:users",
        ],
        "",
    );
    assert!(!ok);
    assert!(
        out.contains("a public client cannot be granted Management API scopes"),
        "{out}"
    );
    let (ok, out) = cli(
        &[
            "add-client",
            "ops",
            "--db",
            db,
            "--management-scopes",
            " read:users  read:users update:users ",
        ],
        "an-ops-secret-of-enough-length\n",
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("client ops: Management API scopes read:users update:users\n"),
        "{out}"
    );
    let (ok, out) = cli(
        &["add-client", "ops", "--db", db, "--management-scopes", ""],
        "an-ops-secret-of-enough-length\n",
    );
    assert!(
        ok && out.contains("client ops: Management API grant withdrawn\n"),
        "{out}"
    );
    let (ok, out) = admin(db, &["clients", "remove", "ops"]);
    assert!(ok, "{out}");

    // Clients.
    let (ok, out) = admin(db, &["clients", "list"]);
    assert!(ok, "{out}");
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0], ["CLIENT_ID", "KIND", "CREATED_AT"]);
    assert_eq!((rows[1][0], rows[1][1]), (CLIENT, "secret"));
    assert_eq!((rows[2][0], rows[2][1]), ("spa", "public"));
    assert_eq!(rows.len(), 3);
    assert!(rows[1][2].parse::<u64>().unwrap() > 1_700_000_000);
    assert!(!out.contains(CLIENT_SECRET));
    let (ok, out) = admin(db, &["clients", "remove", "ghost-app"]);
    assert_eq!((ok, &out[..]), (false, "mfa-server: no client ghost-app\n"));
    let (ok, out) = admin(db, &["clients", "remove", "spa"]);
    assert_eq!(
        (ok, &out[..]),
        (
            true,
            "client spa removed, with its outstanding mfa_tokens\n"
        )
    );
    // Removing the seed client ends its outstanding mfa_tokens and logins.
    let (token, _) = password_grant(&http, &server).await;
    let (ok, out) = admin(db, &["clients", "remove", CLIENT]);
    assert!(ok, "{out}");
    let (ok, out) = admin(db, &["clients", "list"]);
    assert_eq!((ok, &out[..]), (true, "CLIENT_ID\tKIND\tCREATED_AT\n"));
    let (status, body) = recovery(&http, &server, &token, &new_code).await;
    assert_eq!(
        (status, &body["error"]),
        (401, &"invalid_client".into()),
        "{body}"
    );
    drop(server);
    let conn = Db::connect(db, common::test_keyring()).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mfa_tokens WHERE client_id = $1")
        .bind(CLIENT)
        .fetch_one(&conn.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn admin_commands_on_sqlite() {
    let dir = temp_dir("admin");
    admin_commands(&db_path(&dir)).await;
}

#[tokio::test]
async fn admin_commands_on_postgres() {
    let url = common::fresh_pg_database("admin").await;
    admin_commands(&url).await;
}

/// `add-user` and `add-client` on a terminal: the prompt is shown, what is
/// typed is not echoed, and it is stored (the password logs in).
#[tokio::test]
async fn secrets_typed_at_a_terminal_are_not_echoed() {
    let dir = temp_dir("admin-tty");
    let db = db_path(&dir);
    let key = common::test_key_file();
    let run = |args: &str, typed: &str| {
        // `script` gives the command a pseudo-terminal as standard input and
        // output; the line is typed a moment after it starts, once the
        // prompt has turned echo off (typing earlier would be echoed by the
        // terminal before any program could stop it).
        let command = format!(
            "MFA_SERVER_ENCRYPTION_KEY_FILE='{}' '{BIN}' {args} --db '{db}'",
            key.display()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("(sleep 1; printf '%s\\n' \"$TYPED\"; sleep 1) | script -qec \"$CMD\" /dev/null")
            .env("TYPED", typed)
            .env("CMD", command)
            .output()
            .expect("script (util-linux) is required; this test does not skip");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = run("add-user tty-user", "typed password 123");
    assert!(shown.contains("Password for tty-user: "), "{shown:?}");
    assert!(
        shown.contains("user tty-user saved (auth0|tty-user)"),
        "{shown:?}"
    );
    assert!(!shown.contains("typed password 123"), "echoed: {shown:?}");
    let shown = run("add-client tty-app", "a-client-secret-typed-at-a-terminal");
    assert!(shown.contains("Client secret for tty-app: "), "{shown:?}");
    assert!(
        !shown.contains("a-client-secret-typed"),
        "echoed: {shown:?}"
    );

    // What was typed is what was stored.
    let server = Server::start(&db, &[]);
    let (status, body) = form(
        &client(),
        &server.url("/oauth/token"),
        &[
            ("grant_type", "password"),
            ("client_id", "tty-app"),
            ("client_secret", "a-client-secret-typed-at-a-terminal"),
            ("username", "tty-user"),
            ("password", "typed password 123"),
        ],
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (403, &"mfa_required".into()),
        "{body}"
    );
}
