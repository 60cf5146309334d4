//! The shape of every knob (flag, environment variable, documented
//! default, file key) and the range checks of the numeric ones.

use std::net::SocketAddrV4;

use super::*;

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
            "refresh_token_ttl",
            "refresh_token_idle_ttl",
            "signing_alg",
            "connection",
            "demo",
            "encryption_key_file",
            "previous_encryption_key_file",
            "tls_cert",
            "tls_key",
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
            "request_timeout_secs",
            "dpop_proof_window_secs",
            "dpop_nonce_secs",
            "allowed_origin",
            "log_format",
            "shutdown_timeout_secs",
            "metrics_listen"
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
         previous_encryption_key_file = \"p\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n\
         refresh_token_ttl = 14\nrefresh_token_idle_ttl = 15\nthrottle_attempts = 3\nthrottle_refill_secs = 4\n\
         login_max_failures = 5\nlogin_block_secs = 6\nip_throttle_attempts = 7\n\
         ip_throttle_refill_secs = 8\ntrust_forwarded_for = true\nhash_concurrency = 9\n\
         hash_queue = 10\nmax_connections = 11\nheader_read_timeout_secs = 12\n\
         request_timeout_secs = 13\ndpop_proof_window_secs = 14\ndpop_nonce_secs = 15\n\
         allowed_origin = [\"https://app.example.com\", \"http://127.0.0.1:3000\"]\n\
         log_format = \"json\"\nshutdown_timeout_secs = 14\n\
         metrics_listen = \"127.0.0.1:9100\"\n",
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
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            refresh_token_ttl: Some(14),
            refresh_token_idle_ttl: Some(15),
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
            dpop_proof_window_secs: Some(14),
            dpop_nonce_secs: Some(15),
            allowed_origin: Some(vec![
                "https://app.example.com".parse().unwrap(),
                "http://127.0.0.1:3000".parse().unwrap()
            ]),
            log_format: Some(crate::logging::LogFormat::Json),
            shutdown_timeout_secs: Some(14),
            metrics_listen: Some(SocketAddrV4::new([127, 0, 0, 1].into(), 9100).into()),
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
    assert_eq!((s.dpop_proof_window_secs(), s.dpop_nonce_secs()), (300, 0));
    assert!(s.allowed_origins().is_empty());
    assert_eq!(limits.header_read_timeout.as_secs(), 10);
    assert_eq!(limits.request_timeout.as_secs(), 10);
    assert_eq!(limits.shutdown_timeout.as_secs(), 30);
    assert_eq!(s.log_format(), crate::logging::LogFormat::Text);
    assert_eq!(s.metrics_listen(), None);

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
                "--shutdown-timeout-secs",
                "3600",
                "--log-format",
                "JSON",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s.login_policy().max_failures, 3);
    assert!(s.trust_forwarded_for());
    assert_eq!((s.hash_concurrency(), s.hash_queue()), (2, 0));
    assert_eq!(s.serve_limits().header_read_timeout.as_secs(), 1);
    assert_eq!(s.serve_limits().shutdown_timeout.as_secs(), 3600);
    assert_eq!(s.log_format(), crate::logging::LogFormat::Json);
    assert_eq!(s.metrics_listen().map(|a| a.port()), Some(0));
    for (flag, value, reason) in [
        ("--shutdown-timeout-secs", "0", "must be"),
        ("--shutdown-timeout-secs", "3601", "must be"),
        ("--log-format", "xml", "expected text or json"),
        ("--metrics-listen", "localhost", "invalid socket address"),
    ] {
        let e = parse(&[], &[flag, value])
            .map_err(|e| e.to_string())
            .and_then(|a| Settings::from_args(&a).map_err(|e| e.to_string()))
            .unwrap_err();
        assert!(e.contains(reason), "{flag} {value}: {e}");
    }

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
