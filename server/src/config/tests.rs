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
    assert_eq!(s.issuer_url(), "http://127.0.0.1:8080/");
    assert_eq!(s.issuer(), "127.0.0.1", "the issuer URL's host");
    assert_eq!(s.audiences().mfa(), "http://127.0.0.1:8080/mfa/");
    assert_eq!(s.audiences().userinfo(), "http://127.0.0.1:8080/userinfo");
    assert!(s.audiences().apis().is_empty());
    assert_eq!(s.audiences().default_audience(), None);
    assert_eq!((s.mfa_token_ttl(), s.access_token_ttl()), (600, 86_400));
    assert!(!s.demo());
    let throttle = s.mfa_config().throttle();
    assert_eq!((throttle.capacity(), throttle.refill_secs()), (10, 360));
    assert_eq!(s.mfa_config().issuer(), "127.0.0.1");
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
            "issuer_url",
            "api",
            "default_audience",
            "mfa_token_ttl",
            "access_token_ttl",
            "signing_alg",
            "connection",
            "demo",
            "encryption_key_file",
            "previous_encryption_key_file",
            "throttle_attempts",
            "throttle_refill_secs",
            "login_max_failures",
            "login_block_secs",
            "ip_throttle_attempts",
            "ip_throttle_refill_secs",
            "trust_forwarded_for",
            "hash_concurrency",
            "hash_queue",
            "max_connections",
            "header_read_timeout_secs",
            "request_timeout_secs"
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
        "listen = \"127.0.0.1:1\"\ndb = \"x.db\"\nissuer = \"X\"\n\
         issuer_url = \"https://auth.example.com/\"\napi = [\"https://api.example.com/=read:items\"]\n\
         default_audience = \"https://api.example.com/\"\nmfa_token_ttl = 1\n\
         access_token_ttl = 2\nsigning_alg = \"EdDSA\"\nconnection = \"db\"\ndemo = true\nencryption_key_file = \"k\"\n\
         previous_encryption_key_file = \"p\"\nthrottle_attempts = 3\nthrottle_refill_secs = 4\n\
         login_max_failures = 5\nlogin_block_secs = 6\nip_throttle_attempts = 7\n\
         ip_throttle_refill_secs = 8\ntrust_forwarded_for = true\nhash_concurrency = 9\n\
         hash_queue = 10\nmax_connections = 11\nheader_read_timeout_secs = 12\n\
         request_timeout_secs = 13\n",
    )
    .unwrap();
    assert_eq!(
        all,
        ConfigValues {
            listen: Some(SocketAddrV4::new([127, 0, 0, 1].into(), 1).into()),
            db: Some(DbUrl::new("x.db")),
            issuer: Some("X".to_owned()),
            issuer_url: Some("https://auth.example.com/".parse().unwrap()),
            api: Some(vec!["https://api.example.com/=read:items".parse().unwrap()]),
            default_audience: Some("https://api.example.com/".to_owned()),
            mfa_token_ttl: Some(1),
            access_token_ttl: Some(2),
            signing_alg: Some(crate::tokens::SigningAlg::EdDsa),
            connection: Some("db".to_owned()),
            demo: Some(true),
            encryption_key_file: Some("k".into()),
            previous_encryption_key_file: Some("p".into()),
            throttle_attempts: Some(3),
            throttle_refill_secs: Some(4),
            login_max_failures: Some(5),
            login_block_secs: Some(6),
            ip_throttle_attempts: Some(7),
            ip_throttle_refill_secs: Some(8),
            trust_forwarded_for: Some(true),
            hash_concurrency: Some(9),
            hash_queue: Some(10),
            max_connections: Some(11),
            header_read_timeout_secs: Some(12),
            request_timeout_secs: Some(13),
        }
    );
}

#[test]
fn login_throttle_hash_pool_and_connection_limits() {
    let s = Settings::from_args(&parse(&[], &[]).unwrap()).unwrap();
    assert_eq!(s.login_policy(), crate::db::LoginPolicy::default());
    assert_eq!(
        (
            s.login_policy().max_failures,
            s.login_policy().block_secs,
            s.login_policy().address_capacity,
            s.login_policy().address_refill_secs
        ),
        (10, 2_592_000, 100, 864)
    );
    assert!(!s.trust_forwarded_for());
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(s.hash_concurrency(), cores);
    assert_eq!(s.hash_queue(), 32 * cores);
    let limits = s.serve_limits();
    assert_eq!(limits.max_connections, 1024);
    assert_eq!(limits.header_read_timeout.as_secs(), 10);
    assert_eq!(limits.request_timeout.as_secs(), 10);

    let s = Settings::from_args(
        &parse(
            &[],
            &[
                "--login-max-failures",
                "3",
                "--trust-forwarded-for",
                "--hash-concurrency",
                "2",
                "--hash-queue",
                "0",
                "--header-read-timeout-secs",
                "1",
            ],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s.login_policy().max_failures, 3);
    assert!(s.trust_forwarded_for());
    assert_eq!((s.hash_concurrency(), s.hash_queue()), (2, 0));
    assert_eq!(s.serve_limits().header_read_timeout.as_secs(), 1);

    for (flag, value, range) in [
        ("login-max-failures", "0", "1 to 1000"),
        ("login-max-failures", "1001", "1 to 1000"),
        ("login-block-secs", "0", "1 to 315360000"),
        ("ip-throttle-attempts", "0", "1 to 1000000"),
        ("ip-throttle-refill-secs", "86401", "1 to 86400"),
        ("hash-concurrency", "0", "1 to 1024"),
        ("hash-queue", "100001", "0 to 100000"),
        ("max-connections", "0", "1 to 1000000"),
        ("header-read-timeout-secs", "0", "1 to 3600"),
        ("request-timeout-secs", "3601", "1 to 3600"),
    ] {
        let e =
            Settings::from_args(&parse(&[], &[&format!("--{flag}"), value]).unwrap()).unwrap_err();
        let key = flag.replace('-', "_");
        assert_eq!(
            e.to_string(),
            format!("invalid {key} from --{flag}: must be {range}"),
        );
    }
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

#[test]
fn issuer_url_apis_and_the_default_audience() {
    // The issuer URL is the `iss` as written; --issuer only names the
    // service in authenticator apps, and defaults to the URL's host.
    let args = parse(
        &[],
        &["--issuer-url", "https://auth.example.com:8443/tenant/"],
    )
    .unwrap();
    let s = Settings::from_args(&args).unwrap();
    assert_eq!(s.issuer_url(), "https://auth.example.com:8443/tenant/");
    assert_eq!(s.issuer(), "auth.example.com");
    assert_eq!(
        s.audiences().mfa(),
        "https://auth.example.com:8443/tenant/mfa/"
    );
    let args = parse(
        &[],
        &[
            "--issuer-url",
            "https://auth.example.com/",
            "--issuer",
            "ACME",
        ],
    )
    .unwrap();
    let s = Settings::from_args(&args).unwrap();
    assert_eq!((s.issuer(), s.mfa_config().issuer()), ("ACME", "ACME"));

    // A missing final slash is refused (not completed), naming the origin.
    let e = parse(&[], &["--issuer-url", "https://auth.example.com"]).unwrap_err();
    assert!(
        e.to_string()
            .contains("invalid issuer_url from --issuer-url: must end with '/'"),
        "{e}"
    );
    let file = config_file("issuer_url = \"ftp://auth.example.com/\"\n");
    let args = parse(&[], &["--config", &file.to_string_lossy()]).unwrap();
    let e = Settings::from_args(&args).unwrap_err();
    assert!(
        matches!(&e, ConfigError::File { .. }) && e.to_string().contains("issuer_url"),
        "{e}"
    );
    // An IPv6 host cannot be the authenticator-app name: say what to set.
    let args = parse(&[], &["--issuer-url", "http://[::1]:8080/"]).unwrap();
    let e = Settings::from_args(&args).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid issuer from the default: the host of issuer_url"),
        "{e}"
    );

    // --api repeats; the environment separates APIs with spaces; the file
    // takes a list; flag beats env beats file for the whole list.
    let args = parse(
        &[],
        &[
            "--api",
            "https://payments.example.com/=read:payments,write:payments",
            "--api",
            "urn:billing=",
            "--default-audience",
            "urn:billing",
        ],
    )
    .unwrap();
    let s = Settings::from_args(&args).unwrap();
    let apis = s.audiences().apis();
    assert_eq!(
        apis.iter().map(|a| a.audience()).collect::<Vec<_>>(),
        ["https://payments.example.com/", "urn:billing"]
    );
    assert_eq!(apis[0].scopes(), ["read:payments", "write:payments"]);
    assert!(apis[1].scopes().is_empty());
    assert_eq!(s.audiences().default_audience(), Some("urn:billing"));
    let file = config_file("api = [\"urn:from-file=x\"]\n");
    let file_arg = file.to_string_lossy().into_owned();
    let from_file = Settings::from_args(&parse(&[], &["--config", &file_arg]).unwrap()).unwrap();
    assert_eq!(from_file.audiences().apis()[0].audience(), "urn:from-file");
    let over = parse(&[], &["--config", &file_arg, "--api", "urn:flag=y"]).unwrap();
    let over = Settings::from_args(&over).unwrap();
    assert_eq!(
        over.audiences()
            .apis()
            .iter()
            .map(|a| a.audience())
            .collect::<Vec<_>>(),
        ["urn:flag"]
    );
    let cmd = command(&[("api", "PATH")]);
    let api = cmd
        .find_subcommand("serve")
        .unwrap()
        .get_arguments()
        .find(|a| a.get_id() == "api")
        .unwrap()
        .clone();
    assert_eq!(api.get_value_delimiter(), Some(' '));
    // The same splitting applies to a flag's value.
    let split = parse(&[], &["--api", "urn:a=x urn:b=y,z"]).unwrap();
    assert_eq!(split.values.api.map(|a| a.len()), Some(2));

    // Bad values name the key and origin.
    let e = parse(&[], &["--api", "no-scopes-separator"]).unwrap_err();
    assert!(
        e.to_string()
            .contains("invalid api from --api: expected AUDIENCE=SCOPE"),
        "{e}"
    );
    for (flags, says) in [
        (
            vec!["--api", "http://127.0.0.1:8080/mfa/=admin"],
            "invalid api from --api: http://127.0.0.1:8080/mfa/ is the MFA API",
        ),
        (
            vec!["--api", "a=x", "--api", "a=y"],
            "invalid api from --api: a is given twice",
        ),
        (
            vec!["--default-audience", "https://unknown.example.com/"],
            "invalid default_audience from --default-audience: https://unknown.example.com/ is neither",
        ),
    ] {
        let e = Settings::from_args(&parse(&[], &flags).unwrap()).unwrap_err();
        assert!(e.to_string().starts_with(says), "{flags:?}: {e}");
    }
    // The MFA API may be the default audience.
    let s = Settings::from_args(
        &parse(&[], &["--default-audience", "http://127.0.0.1:8080/mfa/"]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        s.audiences().default_audience(),
        Some("http://127.0.0.1:8080/mfa/")
    );
}

#[test]
fn signing_alg_and_connection() {
    use crate::tokens::SigningAlg;
    let s = Settings::from_args(&parse(&[], &[]).unwrap()).unwrap();
    assert_eq!(s.signing_alg(), SigningAlg::Rs256);
    assert_eq!(s.connection(), "Username-Password-Authentication");
    let s = Settings::from_args(
        &parse(
            &[],
            &["--signing-alg", "EdDSA", "--connection", "employees"],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (s.signing_alg(), s.connection()),
        (SigningAlg::EdDsa, "employees")
    );
    let err = parse(&[], &["--signing-alg", "HS256"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid signing_alg from --signing-alg: expected RS256 or EdDSA"),
        "{err}"
    );
    let err = Settings::from_args(&parse(&[], &["--connection", ""]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid connection from --connection"),
        "{err}"
    );
}
