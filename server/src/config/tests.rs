//! Precedence (flag > environment > file > default), the file's strictness,
//! validation, and the shape of every knob.
//!
//! The process environment is never modified (that needs `unsafe`): tests
//! point each option's environment variable elsewhere with clap's
//! `mut_arg`, at unset names, or at `PATH` where a value from the
//! environment is wanted.

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use clap::{CommandFactory, FromArgMatches};

use super::*;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A TOML file with `text`.
fn config_file(text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "mfa-server-config-{}-{}.toml",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// The command line with each `serve` option reading the environment
/// variable named in `env` (by key), and an unset one otherwise, so that the
/// caller's own `MFA_SERVER_*` variables do not leak in.
fn command(env: &[(&str, &'static str)]) -> clap::Command {
    Cli::command().mut_subcommand("serve", |mut serve| {
        let ids: Vec<String> = serve
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .filter(|id| id != "help")
            .collect();
        for id in ids {
            let var: &'static str = match env.iter().find(|(key, _)| *key == id) {
                Some((_, var)) => var,
                None => Box::leak(format!("MFA_SERVER_TEST_UNSET_{id}").into_boxed_str()),
            };
            serve = serve.mut_arg(id, |a| a.env(var));
        }
        serve
    })
}

fn parse(env: &[(&str, &'static str)], args: &[&str]) -> Result<ServeArgs, clap::Error> {
    let argv = ["mfa-server", "serve"].iter().chain(args);
    let matches = command(env).try_get_matches_from(argv)?;
    match Cli::from_arg_matches(&matches)?.command {
        Command::Serve(args) => Ok(args),
        other => panic!("parsed {other:?}"),
    }
}

fn path_var() -> String {
    std::env::var("PATH").expect("PATH is set")
}

#[test]
fn defaults_when_nothing_is_given() {
    let s = Settings::from_args(&parse(&[], &[]).unwrap()).unwrap();
    assert_eq!(s.listen().to_string(), "127.0.0.1:8080");
    assert_eq!(s.db().as_str(), "mfa-server.db");
    assert_eq!(s.issuer(), "mfa-server");
    assert_eq!((s.mfa_token_ttl(), s.access_token_ttl()), (600, 86_400));
    assert!(!s.demo());
    let throttle = s.mfa_config().throttle();
    assert_eq!((throttle.capacity(), throttle.refill_secs()), (10, 360));
    assert_eq!(s.mfa_config().issuer(), "mfa-server");
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let file = config_file(
        "db = \"file.db\"\nissuer = \"FileIssuer\"\nmfa_token_ttl = 30\nthrottle_attempts = 7\n",
    );
    let file_arg = file.to_string_lossy().into_owned();
    let args = parse(
        &[("db", "PATH")],
        &[
            "--config",
            &file_arg,
            "--issuer",
            "FlagIssuer",
            "--mfa-token-ttl",
            "40",
        ],
    )
    .unwrap();
    assert_eq!(args.origin("issuer"), Origin::Flag);
    assert_eq!(args.origin("db"), Origin::Env);
    let s = Settings::from_args(&args).unwrap();
    assert_eq!(s.issuer(), "FlagIssuer", "flag beats file");
    assert_eq!(s.mfa_token_ttl(), 40, "flag beats file");
    assert_eq!(s.db().as_str(), path_var(), "env beats file");
    assert_eq!(
        s.mfa_config().throttle().capacity(),
        7,
        "file beats default"
    );
    assert_eq!(s.access_token_ttl(), 86_400, "default");

    // Flag beats env, on the same key.
    let args = parse(&[("db", "PATH")], &["--db", "flag.db"]).unwrap();
    assert_eq!(args.origin("db"), Origin::Flag);
    assert_eq!(Settings::from_args(&args).unwrap().db().as_str(), "flag.db");
}

#[test]
fn a_bad_value_names_its_key_and_origin() {
    let e = parse(&[("throttle_attempts", "PATH")], &[]).unwrap_err();
    assert!(
        e.to_string().contains(
            "invalid throttle_attempts from environment variable MFA_SERVER_THROTTLE_ATTEMPTS"
        ),
        "{e}"
    );
    let e = parse(&[], &["--listen", "nowhere"]).unwrap_err();
    assert!(
        e.to_string().contains("invalid listen from --listen"),
        "{e}"
    );
    let e = Settings::from_args(&parse(&[], &["--issuer", "bad:issuer"]).unwrap()).unwrap_err();
    assert!(
        e.to_string().starts_with("invalid issuer from --issuer: "),
        "{e}"
    );
    let file = config_file("throttle_refill_secs = 0\n");
    let args = parse(&[], &["--config", &file.to_string_lossy()]).unwrap();
    let e = Settings::from_args(&args).unwrap_err();
    assert!(
        matches!(&e, ConfigError::Invalid { key, origin: Origin::File(p), .. }
            if key == "throttle_refill_secs" && *p == file),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with(&format!(
            "invalid throttle_refill_secs from config file {}",
            file.display()
        )),
        "{e}"
    );
}

#[test]
fn the_file_refuses_unknown_keys_and_wrong_types() {
    for (text, mentions) in [
        ("listn = \"127.0.0.1:1\"\n", "unknown field `listn`"),
        ("config = \"other.toml\"\n", "unknown field `config`"),
        ("throttle_attempts = \"ten\"\n", "throttle_attempts"),
        ("listen = \"nowhere\"\n", "listen"),
        ("demo = \"yes\"\n", "demo"),
        ("mfa_token_ttl = -1\n", "mfa_token_ttl"),
        ("issuer = ", "issuer"),
    ] {
        let file = config_file(text);
        let args = parse(&[], &["--config", &file.to_string_lossy()]).unwrap();
        let e = Settings::from_args(&args).unwrap_err();
        assert!(
            matches!(&e, ConfigError::File { path, .. } if *path == file),
            "{text}: {e:?}"
        );
        let message = e.to_string();
        assert!(
            message.contains(mentions) && message.contains(&file.display().to_string()),
            "{text}: {message}"
        );
    }
}

#[test]
fn a_missing_file_names_the_option_that_named_it() {
    let args = parse(&[], &["--config", "/nonexistent/mfa-server.toml"]).unwrap();
    let e = Settings::from_args(&args).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid config from --config: cannot read /nonexistent/mfa-server.toml"),
        "{e}"
    );
}

#[test]
fn lifetimes_and_the_throttle_are_range_checked() {
    let ok = |values: ConfigValues| Settings::from_values(&values);
    for ttl in [0, MAX_TTL + 1] {
        let e = ok(ConfigValues {
            mfa_token_ttl: Some(ttl),
            ..ConfigValues::default()
        })
        .unwrap_err();
        assert!(
            matches!(&e, ConfigError::Invalid { key, origin: Origin::Given, .. } if key == "mfa_token_ttl"),
            "{e:?}"
        );
        let e = ok(ConfigValues {
            access_token_ttl: Some(ttl),
            ..ConfigValues::default()
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("invalid access_token_ttl"), "{e}");
    }
    let s = ok(ConfigValues {
        mfa_token_ttl: Some(MAX_TTL),
        access_token_ttl: Some(1),
        ..ConfigValues::default()
    })
    .unwrap();
    assert_eq!((s.mfa_token_ttl(), s.access_token_ttl()), (MAX_TTL, 1));
    for (attempts, refill, key) in [
        (0, 360, "throttle_attempts"),
        (10, 0, "throttle_refill_secs"),
    ] {
        let e = ok(ConfigValues {
            throttle_attempts: Some(attempts),
            throttle_refill_secs: Some(refill),
            ..ConfigValues::default()
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("invalid {key} from the given values")),
            "{e}"
        );
    }
    let e = ok(ConfigValues {
        db: Some(DbUrl::new("")),
        ..ConfigValues::default()
    })
    .unwrap_err();
    assert!(e.to_string().starts_with("invalid db"), "{e}");
}

#[test]
fn demo_is_a_flag_that_the_file_or_false_can_set() {
    assert_eq!(parse(&[], &["--demo"]).unwrap().values.demo, Some(true));
    assert_eq!(
        parse(&[], &["--demo=false"]).unwrap().values.demo,
        Some(false)
    );
    assert_eq!(parse(&[], &[]).unwrap().values.demo, None);
    assert!(parse(&[], &["--demo=maybe"]).is_err());
    let file = config_file("demo = true\n");
    let file_arg = file.to_string_lossy().into_owned();
    let from_file = parse(&[], &["--config", &file_arg]).unwrap();
    assert!(Settings::from_args(&from_file).unwrap().demo());
    let overridden = parse(&[], &["--config", &file_arg, "--demo=false"]).unwrap();
    assert!(!Settings::from_args(&overridden).unwrap().demo());
}

#[test]
fn every_knob_has_a_flag_an_env_var_a_documented_default_and_a_file_key() {
    let cmd = Cli::command();
    let serve = cmd.find_subcommand("serve").unwrap();
    let keys: Vec<String> = serve
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .filter(|id| id != "help")
        .collect();
    assert_eq!(
        keys,
        [
            "config",
            "listen",
            "db",
            "issuer",
            "mfa_token_ttl",
            "access_token_ttl",
            "demo",
            "throttle_attempts",
            "throttle_refill_secs"
        ]
    );
    for arg in serve.get_arguments().filter(|a| a.get_id() != "help") {
        let key = arg.get_id().as_str();
        assert_eq!(arg.get_long(), Some(key.replace('_', "-").as_str()));
        let env = format!("MFA_SERVER_{}", key.to_ascii_uppercase());
        assert_eq!(arg.get_env(), Some(std::ffi::OsStr::new(&env)), "{key}");
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        assert!(help.contains("Default: "), "{key}: {help}");
        assert!(
            arg.get_default_values().is_empty(),
            "{key}: no clap default"
        );
    }
    // The file takes every key but `config`.
    let all: ConfigValues = toml::from_str(
        "listen = \"127.0.0.1:1\"\ndb = \"x.db\"\nissuer = \"X\"\nmfa_token_ttl = 1\n\
         access_token_ttl = 2\ndemo = true\nthrottle_attempts = 3\nthrottle_refill_secs = 4\n",
    )
    .unwrap();
    assert_eq!(
        all,
        ConfigValues {
            listen: Some(SocketAddrV4::new([127, 0, 0, 1].into(), 1).into()),
            db: Some(DbUrl::new("x.db")),
            issuer: Some("X".to_owned()),
            mfa_token_ttl: Some(1),
            access_token_ttl: Some(2),
            demo: Some(true),
            throttle_attempts: Some(3),
            throttle_refill_secs: Some(4),
        }
    );
}

#[test]
fn db_url_debug_hides_passwords() {
    for (url, shown) in [
        (
            "postgres://app:hunter2@db:5432/mfa",
            "postgres://app:***@db:5432/mfa",
        ),
        (
            "postgres://db/mfa?user=app&password=hunter2",
            "postgres://db/mfa?***",
        ),
        ("postgres://app@db/mfa", "postgres://app@db/mfa"),
        ("mfa-server.db", "mfa-server.db"),
    ] {
        let url = DbUrl::new(url);
        assert_eq!(url.redacted(), shown);
        let debug = format!(
            "{url:?} {:?}",
            Settings::from_values(&ConfigValues {
                db: Some(url.clone()),
                ..ConfigValues::default()
            })
            .unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
