//! Precedence (flag > environment > file > default), the file's
//! strictness, and errors that name their key and origin.

use super::*;

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
