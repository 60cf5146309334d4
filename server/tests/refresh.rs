//! Refresh tokens (`offline_access`, the `refresh_token` grant), in
//! process on a settable clock: issued only when asked for, rotated on
//! every use, a reused token revokes its family (RFC 9700 §4.14), both
//! lifetimes, scope narrowing, revocation, another client's token, and a
//! race of one token against itself. Every refusal is Auth0's 403
//! `invalid_grant` "Unknown or invalid refresh token.", and a refusal
//! before the rotation leaves the token usable.

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

use std::sync::Arc;

use common::inproc::{Answer, OTHER_CLIENT, OTHER_SECRET, TestServer, call, claims, request};
use common::{CLIENT, CLIENT_SECRET, MFA_RECOVERY, USER};
use mfa_server::config::ConfigValues;
use serde_json::{Value, json};

const INVALID: (u16, Option<&str>, Option<&str>) = (
    403,
    Some("invalid_grant"),
    Some("Unknown or invalid refresh token."),
);
/// Refresh lifetimes of the fixture: absolute 1000 s, idle 300 s.
const TTL: u64 = 1000;
const IDLE: u64 = 300;

/// What the refresh tests add to the fixture.
trait Refresh {
    async fn refresh_as(&self, client: (&str, &str), token: &str, scope: Option<&str>) -> Answer;
    async fn refresh(&self, token: &str) -> Answer;
    async fn rows(&self) -> i64;
}

impl Refresh for TestServer {
    async fn refresh_as(&self, client: (&str, &str), token: &str, scope: Option<&str>) -> Answer {
        let mut fields = vec![
            ("grant_type", "refresh_token"),
            ("client_id", client.0),
            ("client_secret", client.1),
            ("refresh_token", token),
        ];
        if let Some(scope) = scope {
            fields.push(("scope", scope));
        }
        self.form(&fields).await
    }

    async fn refresh(&self, token: &str) -> Answer {
        self.refresh_as((CLIENT, CLIENT_SECRET), token, None).await
    }

    async fn rows(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens")
            .fetch_one(&self.app.db().pool)
            .await
            .unwrap()
    }
}

async fn start() -> TestServer {
    TestServer::start(ConfigValues {
        refresh_token_ttl: Some(TTL),
        refresh_token_idle_ttl: Some(IDLE),
        ..ConfigValues::default()
    })
    .await
}

fn refresh_token(answer: &Value) -> String {
    answer["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh_token in {answer}"))
        .to_owned()
}

#[tokio::test]
async fn offline_access_yields_a_refresh_token_that_rotates_and_keeps_the_login() {
    let s = start().await;
    let (secret, _) = s.enroll().await;
    // Without offline_access: no refresh token, and none stored.
    let plain = s.tokens(&secret, "openid").await;
    assert!(plain.get("refresh_token").is_none(), "{plain}");
    assert_eq!(s.rows().await, 0);

    let login = s.tokens(&secret, "openid profile offline_access").await;
    assert_eq!(login["scope"], "openid profile offline_access");
    let first = refresh_token(&login);
    assert_eq!(first.len(), 43, "32 random bytes, base64url");
    s.advance(10);
    let a = s.refresh(&first).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.header("cache-control"), Some("no-store"));
    let second = refresh_token(&a.json);
    assert_ne!(second, first);
    assert_eq!(a.json["token_type"], "Bearer");
    assert_eq!(a.json["scope"], "openid profile offline_access");
    assert_eq!(a.json["expires_in"], 86_400);
    let access = claims(a.json["access_token"].as_str().unwrap());
    assert_eq!(access["iat"], s.now());
    assert_eq!(access["sub"], format!("auth0|{USER}"));
    assert_eq!(access["azp"], CLIENT);
    assert_eq!(access["amr"], json!(["pwd", "otp"]));
    let id = claims(a.json["id_token"].as_str().unwrap());
    assert_eq!(
        (&id["aud"], &id["amr"]),
        (&json!(CLIENT), &json!(["pwd", "otp"]))
    );
    // The access token works where access tokens are taken.
    let userinfo = call(
        &s.router,
        request(
            "GET",
            "/userinfo",
            &[(
                "authorization",
                &format!("Bearer {}", a.json["access_token"].as_str().unwrap()),
            )],
            Vec::new(),
        ),
    )
    .await;
    assert_eq!(userinfo.status, 200, "{}", userinfo.json);
    // The child rotates again.
    let third = s.refresh(&second).await;
    assert_eq!(third.status, 200, "{}", third.json);
    assert_ne!(refresh_token(&third.json), second);
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_whole_family() {
    let s = start().await;
    let (secret, _) = s.enroll().await;
    let first = refresh_token(&s.tokens(&secret, "offline_access").await);
    // Another family of the same user, untouched by the reuse below.
    let other = refresh_token(&s.tokens(&secret, "offline_access").await);
    let a = s.refresh(&first).await;
    assert_eq!(a.status, 200, "{}", a.json);
    let second = refresh_token(&a.json);
    // The rotated token again: refused, and the family is gone.
    assert_eq!(s.refresh(&first).await.error(), INVALID);
    assert_eq!(s.refresh(&second).await.error(), INVALID);
    assert_eq!(s.refresh(&first).await.error(), INVALID);
    let a = s.refresh(&other).await;
    assert_eq!(a.status, 200, "the other family lives: {}", a.json);
}

#[tokio::test]
async fn refusals_before_the_rotation_leave_the_token_usable() {
    let s = start().await;
    let (secret, _) = s.enroll().await;
    let token = refresh_token(&s.tokens(&secret, "openid offline_access").await);
    let rows = s.rows().await;
    // Another client's refresh token, an unknown one, a broader scope, a
    // missing parameter: refused, nothing changed.
    assert_eq!(
        s.refresh_as((OTHER_CLIENT, OTHER_SECRET), &token, None)
            .await
            .error(),
        INVALID
    );
    assert_eq!(s.refresh(&"A".repeat(43)).await.error(), INVALID);
    assert_eq!(
        s.refresh_as((CLIENT, CLIENT_SECRET), &token, Some("openid enroll"))
            .await
            .error(),
        (
            400,
            Some("invalid_scope"),
            Some("The scope 'enroll' was not granted to this refresh token.")
        )
    );
    let missing = s
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
        ])
        .await;
    assert_eq!(missing.status, 400, "{}", missing.json);
    assert_eq!(missing.json["error"], "invalid_request");
    let wrong_secret = s
        .refresh_as((CLIENT, "not-the-secret-of-this-client"), &token, None)
        .await;
    assert_eq!(wrong_secret.status, 401, "{}", wrong_secret.json);
    assert_eq!(s.rows().await, rows);
    // A narrower scope is fine; the family keeps the login's.
    let narrow = s
        .refresh_as((CLIENT, CLIENT_SECRET), &token, Some("openid"))
        .await;
    assert_eq!(narrow.status, 200, "{}", narrow.json);
    assert_eq!(narrow.json["scope"], "openid");
    let wide = s.refresh(&refresh_token(&narrow.json)).await;
    assert_eq!(wide.status, 200, "{}", wide.json);
    assert_eq!(wide.json["scope"], "openid offline_access");
}

#[tokio::test]
async fn idle_and_absolute_lifetimes_are_enforced() {
    let s = start().await;
    let (secret, _) = s.enroll().await;
    // Idle: refused from exactly IDLE seconds after issue.
    let token = refresh_token(&s.tokens(&secret, "offline_access").await);
    s.advance(IDLE - 1);
    let a = s.refresh(&token).await;
    assert_eq!(a.status, 200, "{}", a.json);
    let token = refresh_token(&a.json);
    s.advance(IDLE);
    assert_eq!(s.refresh(&token).await.error(), INVALID);

    // Absolute: rotations never carry a family past TTL from its login.
    let mut token = refresh_token(&s.tokens(&secret, "offline_access").await);
    let login = s.now();
    while s.now() + 200 < login + TTL {
        s.advance(200);
        let a = s.refresh(&token).await;
        assert_eq!(a.status, 200, "{}", a.json);
        token = refresh_token(&a.json);
    }
    s.advance(login + TTL - s.now());
    assert_eq!(s.refresh(&token).await.error(), INVALID);
}

#[tokio::test]
async fn revoking_the_user_kills_their_refresh_tokens() {
    let s = start().await;
    let (secret, _) = s.enroll().await;
    let token = refresh_token(&s.tokens(&secret, "offline_access").await);
    s.advance(5);
    let user_id = format!("auth0|{USER}");
    assert!(s.app.db().revoke_tokens(&user_id, s.now()).await.unwrap());
    assert_eq!(s.rows().await, 0);
    assert_eq!(s.refresh(&token).await.error(), INVALID);
}

#[tokio::test]
async fn a_recovery_login_keeps_its_amr_through_refreshes() {
    let s = start().await;
    let (_, recovery) = s.enroll().await;
    s.advance(30);
    let mfa_token = s.login("offline_access").await;
    let a = s
        .form(&[
            ("grant_type", MFA_RECOVERY),
            ("client_id", CLIENT),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", &mfa_token),
            ("recovery_code", &recovery),
        ])
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert!(a.json["recovery_code"].is_string());
    let r = s.refresh(&refresh_token(&a.json)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let access = claims(r.json["access_token"].as_str().unwrap());
    assert_eq!(access["amr"], json!(["pwd", "recovery-code"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_raced_against_itself_succeeds_at_most_once() {
    let s = Arc::new(start().await);
    let (secret, _) = s.enroll().await;
    let token = refresh_token(&s.tokens(&secret, "offline_access").await);
    let answers = futures::future::join_all((0..20).map(|_| {
        let s = s.clone();
        let token = token.clone();
        tokio::spawn(async move { s.refresh(&token).await })
    }))
    .await;
    let answers: Vec<Answer> = answers.into_iter().map(Result::unwrap).collect();
    let won: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(won.len(), 1, "successes");
    for a in answers.iter().filter(|a| a.status != 200) {
        assert_eq!(a.error(), INVALID, "{}", a.json);
    }
    // A loser revoked the family: the winner's child is dead too.
    assert_eq!(
        s.refresh(&refresh_token(&won[0].json)).await.error(),
        INVALID
    );
    assert_eq!(s.rows().await, 0);
}
