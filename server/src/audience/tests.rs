//! Unit tests of the issuer URL, the `--api` specs and the registry's
//! grants.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn url(s: &str) -> IssuerUrl {
    s.parse().unwrap()
}

#[test]
fn issuer_urls() {
    for (ok, host) in [
        ("http://127.0.0.1:8080/", "127.0.0.1"),
        ("https://auth.example.com/", "auth.example.com"),
        ("https://auth.example.com:8443/tenant/", "auth.example.com"),
        ("http://[::1]:8080/", "::1"),
        ("https://localhost/", "localhost"),
    ] {
        let parsed = url(ok);
        assert_eq!((parsed.as_str(), parsed.host()), (ok, host));
    }
    for (bad, says) in [
        ("https://auth.example.com", "must end with '/'"),
        ("auth.example.com/", "starting with https://"),
        ("ftp://auth.example.com/", "starting with https://"),
        ("HTTPS://auth.example.com/", "starting with https://"),
        ("https:///", "must name a host"),
        ("https://user@auth.example.com/", "user information"),
        ("https://auth.example.com/?a=1/", "query"),
        ("https://auth.example.com/#x/", "fragment"),
        ("https://auth example.com/", "invalid host"),
        ("https://auth.example.com:0/", "invalid port"),
        ("https://auth.example.com:99999/", "invalid port"),
        ("https://auth.example.com:/", "invalid port"),
        ("https://[::1/", "unclosed"),
        ("https://[zz]/", "IPv6"),
        ("https://a.example.com/\u{0}/", "query"),
    ] {
        let e = bad.parse::<IssuerUrl>().unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
    let long = format!("https://{}.example.com/", "a".repeat(300));
    assert!(long.parse::<IssuerUrl>().is_err());
    assert_eq!(
        IssuerUrl::default(),
        url("http://127.0.0.1:8080/"),
        "the default is what parsing it gives"
    );
}

#[test]
fn api_specs() {
    let api: ApiSpec = "https://payments.example.com/=read:payments,write:payments,read:payments"
        .parse()
        .unwrap();
    assert_eq!(api.audience(), "https://payments.example.com/");
    assert_eq!(api.scopes(), ["read:payments", "write:payments"]);
    let bare: ApiSpec = "urn:billing=".parse().unwrap();
    assert!(bare.scopes().is_empty());
    for bad in [
        "no-equals-sign",
        "=read",
        "a b=read",
        "api=read \"x\"",
        "api=re\\ad",
        "api=caf\u{e9}",
    ] {
        assert!(bad.parse::<ApiSpec>().is_err(), "{bad}");
    }
}

fn registry() -> Audiences {
    Audiences::new(
        &url("https://auth.example.com/"),
        vec![
            "https://payments.example.com/=read:payments,admin:all"
                .parse()
                .unwrap(),
        ],
        None,
    )
    .unwrap()
}

#[test]
fn grants_filter_scopes_to_the_audience() {
    let a = registry();
    assert_eq!(a.mfa(), "https://auth.example.com/mfa/");
    let g = a
        .grant(
            Some("https://auth.example.com/mfa/"),
            "openid enroll admin:all read:authenticators offline_access enroll remove:authenticators",
        )
        .unwrap();
    assert_eq!(
        (g.audience.as_str(), g.scope.as_str(), g.kind),
        (
            "https://auth.example.com/mfa/",
            "openid enroll read:authenticators offline_access remove:authenticators",
            AudienceKind::Mfa
        )
    );
    assert!(g.has_scope("enroll") && !g.has_scope("admin:all"));
    // Without the final slash: the same API, the canonical audience.
    let g = a
        .grant(Some("https://auth.example.com/mfa"), "enroll")
        .unwrap();
    assert_eq!(g.audience, "https://auth.example.com/mfa/");
    let g = a
        .grant(
            Some("https://payments.example.com/"),
            "openid admin:all delete:users enroll profile",
        )
        .unwrap();
    assert_eq!(g.scope, "openid admin:all profile");
    assert_eq!(g.kind, AudienceKind::Api);
    // No audience: the userinfo audience, OpenID Connect scopes only.
    let g = a.grant(None, "openid email enroll read:payments").unwrap();
    assert_eq!(
        (g.audience.as_str(), g.scope.as_str(), g.kind),
        (
            "https://auth.example.com/userinfo",
            "openid email",
            AudienceKind::Userinfo
        )
    );
    for unknown in [
        "https://other.example.com/",
        "seed-app",
        "https://auth.example.com/",
        "",
    ] {
        assert_eq!(
            a.grant(Some(unknown), "openid"),
            Err(UnknownAudience(unknown.to_owned()))
        );
    }
}

#[test]
fn the_default_audience_must_be_known() {
    let issuer = url("https://auth.example.com/");
    let apis = || {
        vec![
            "https://payments.example.com/=read:payments"
                .parse()
                .unwrap(),
        ]
    };
    let a = Audiences::new(
        &issuer,
        apis(),
        Some("https://payments.example.com/".into()),
    )
    .unwrap();
    let g = a.grant(None, "read:payments openid").unwrap();
    assert_eq!(
        (g.audience.as_str(), g.scope.as_str()),
        ("https://payments.example.com/", "read:payments openid")
    );
    let a = Audiences::new(&issuer, apis(), Some("https://auth.example.com/mfa".into())).unwrap();
    assert_eq!(a.default_audience(), Some("https://auth.example.com/mfa/"));
    for bad in [
        "https://unknown.example.com/",
        "https://auth.example.com/userinfo",
    ] {
        assert!(matches!(
            Audiences::new(&issuer, apis(), Some(bad.into())),
            Err(AudiencesError::DefaultAudience(_))
        ));
    }
}

#[test]
fn apis_cannot_shadow_the_built_in_audiences() {
    let issuer = url("https://auth.example.com/");
    for api in [
        "https://auth.example.com/mfa/=admin",
        "https://auth.example.com/mfa=admin",
        "https://auth.example.com/userinfo=admin",
    ] {
        assert!(matches!(
            Audiences::new(&issuer, vec![api.parse().unwrap()], None),
            Err(AudiencesError::Api(_))
        ));
    }
    let twice = vec!["a=x".parse().unwrap(), "a=y".parse().unwrap()];
    assert!(matches!(
        Audiences::new(&issuer, twice, None),
        Err(AudiencesError::Api(_))
    ));
}
