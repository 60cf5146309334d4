//! The values of particular keys: the database URL's redaction, the
//! issuer URL, the APIs and the default audience, the signing algorithm and
//! the connection name.

use super::*;

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
