//! The demo page's sentences: every error the MFA API can answer the page
//! with (the engine's table and the server's own), as a sentence a person
//! understands. The page gets the table from `GET /demo/config.json` and
//! looks an answer up the way [`sentence_for`] does: the exact
//! (`error`, `error_description`), else a description that starts with
//! the entry's, else the entry for the `error` alone, else a generic
//! sentence quoting the description.
//!
//! Descriptions are taken from the engine's [`MfaError`] and the server's
//! [`ApiError`] themselves, so the table cannot drift from what the API
//! sends. `{retry}` in a sentence is replaced by the page with when to try
//! again, from the answer's `Retry-After` ("in 6 minutes, at 14:03"), and
//! `{block}` by how long a login block lasts (`--login-block-secs`, "30
//! days"), which that answer has no header for.

use std::convert::Infallible;

use serde::Serialize;
use totp_engine::{MfaError, UriError};

use crate::http::ApiError;

/// How an entry matches an answer's `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// The description is exactly the entry's.
    Exact,
    /// The description starts with the entry's (it quotes a value after it).
    Prefix,
    /// Any description with this `error`.
    AnyDescription,
}

/// One sentence of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The OAuth `error`.
    pub error: &'static str,
    /// The `error_description` (empty for [`Match::AnyDescription`]).
    pub description: String,
    /// How `description` is compared.
    #[serde(rename = "match")]
    pub matching: Match,
    /// What the page shows.
    pub sentence: &'static str,
}

/// What the page shows for an answer that is in no entry; `{description}`
/// is the answer's `error_description`.
pub const GENERIC: &str = "The server refused this: {description}";

fn engine(e: &MfaError<Infallible>) -> (&'static str, String) {
    (e.error_code(), e.error_description().to_owned())
}

fn server(e: &ApiError) -> (&'static str, String) {
    (e.error(), e.description().to_owned())
}

/// The table, most specific entries first.
#[must_use]
pub fn messages() -> Vec<Message> {
    use MfaError as E;
    let exact = |(error, description): (&'static str, String), sentence| Message {
        error,
        description,
        matching: Match::Exact,
        sentence,
    };
    let prefix = |(error, description): (&'static str, String), cut: &str, sentence| Message {
        error,
        description: description
            .split_once(cut)
            .map_or(description.clone(), |(head, _)| format!("{head}{cut}")),
        matching: Match::Prefix,
        sentence,
    };
    let any = |error, sentence| Message {
        error,
        description: String::new(),
        matching: Match::AnyDescription,
        sentence,
    };
    vec![
        // The password grant.
        exact(
            server(&ApiError::wrong_password()),
            "The username or the password is wrong.",
        ),
        exact(
            server(&ApiError::login_blocked()),
            "This account is blocked here after too many failed sign-ins. The block ends {block} after the last failed attempt, or sooner if an administrator lifts it (mfa-server users unblock) or the password is changed.",
        ),
        exact(
            server(&ApiError::suspicious_address(1)),
            "Too many failed sign-ins came from your network. Try again {retry}.",
        ),
        exact(
            server(&ApiError::invalid_client()),
            "The server does not know this page's client (demo-page). Start the server with --demo.",
        ),
        prefix(
            server(&ApiError::service_not_found("x")),
            ": ",
            "The server does not issue tokens for the MFA API this page asks for: check --issuer-url.",
        ),
        // Codes and recovery codes (the mfa-otp and mfa-recovery-code grants).
        exact(
            engine(&E::InvalidOtp),
            "That code is not right, or it was already used. Wait for the next code in your app and enter it.",
        ),
        exact(
            engine(&E::InvalidRecoveryCode),
            "That recovery code is not right, or it was already used.",
        ),
        exact(
            engine(&E::NotEnrolled),
            "This account has no authenticator app yet. Sign in again to set one up.",
        ),
        exact(
            engine(&E::NoRecoveryCode),
            "This account has no recovery code. Use the code from your authenticator app.",
        ),
        exact(
            server(&ApiError::missing("otp")),
            "Enter the code your authenticator app shows.",
        ),
        exact(
            server(&ApiError::missing("recovery_code")),
            "Enter your recovery code.",
        ),
        any(
            "too_many_attempts",
            "Too many wrong codes. For your safety, codes are refused for a while: try again {retry}.",
        ),
        // The sign-in session (mfa_token) and the access token.
        exact(
            server(&ApiError::malformed_mfa_token()),
            "This sign-in is not valid any more. Sign in again.",
        ),
        exact(
            server(&ApiError::expired_mfa_token()),
            "This sign-in took too long and has expired. Sign in again.",
        ),
        exact(
            server(&ApiError::invalid_token()),
            "Your session has expired. Sign in again.",
        ),
        prefix(
            server(&ApiError::wrong_audience("x")),
            ": ",
            "Your session is not valid for the MFA API. Sign in again.",
        ),
        prefix(
            server(&ApiError::insufficient_scope("x")),
            ": ",
            "Your session is not allowed to do this. Sign in again.",
        ),
        exact(
            server(&ApiError::missing_bearer()),
            "You are not signed in. Sign in first.",
        ),
        // Enrollment (/mfa/associate).
        exact(
            engine(&E::AlreadyEnrolled),
            "This account already has an authenticator. Sign in with a code from it, or with your recovery code.",
        ),
        exact(
            engine(&E::InvalidAccountLabel(UriError::MissingLabel)),
            "This username cannot be used as the account name in an authenticator app. Ask an administrator.",
        ),
        exact(
            server(&ApiError::unsupported_authenticator_type()),
            "This server can only set up authenticator apps (one-time codes).",
        ),
        // The challenge (/mfa/challenge).
        exact(
            engine(&E::AssociationRequired),
            "This account has no authenticator yet. Sign in again to set one up.",
        ),
        exact(
            engine(&E::UnsupportedChallengeType),
            "This account has no authenticator this page can use.",
        ),
        exact(
            engine(&E::UnknownAuthenticator),
            "That authenticator does not belong to this account.",
        ),
        // The authenticator list (/mfa/authenticators).
        exact(
            engine(&E::AuthenticatorNotFound),
            "That authenticator was already removed.",
        ),
        // The service.
        exact(
            engine(&E::Contention),
            "Several requests for this account crossed. Try again.",
        ),
        exact(
            server(&ApiError::busy()),
            "The server is busy. Try again in a moment.",
        ),
        any(
            "temporarily_unavailable",
            "The server cannot reach its database just now. Try again in a moment.",
        ),
    ]
}

/// The entry the page shows for an answer with `error` and `description`:
/// see the module documentation. `None`: the generic sentence.
#[must_use]
pub fn sentence_for<'a>(
    table: &'a [Message],
    error: &str,
    description: &str,
) -> Option<&'a Message> {
    let of_error = || table.iter().filter(move |m| m.error == error);
    of_error()
        .find(|m| m.matching == Match::Exact && m.description == description)
        .or_else(|| {
            of_error().find(|m| {
                m.matching == Match::Prefix && description.starts_with(m.description.as_str())
            })
        })
        .or_else(|| of_error().find(|m| m.matching == Match::AnyDescription))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every error of the engine's table, and every error of the server's
    /// a page can meet, has its own sentence (not the generic one).
    #[test]
    fn every_error_of_the_table_has_a_sentence() {
        let table = messages();
        let answers: Vec<(&str, String)> = vec![
            engine(&MfaError::AlreadyEnrolled),
            engine(&MfaError::NotEnrolled),
            engine(&MfaError::NoRecoveryCode),
            engine(&MfaError::AssociationRequired),
            engine(&MfaError::UnsupportedChallengeType),
            engine(&MfaError::UnknownAuthenticator),
            engine(&MfaError::AuthenticatorNotFound),
            engine(&MfaError::InvalidOtp),
            engine(&MfaError::InvalidRecoveryCode),
            (
                "too_many_attempts",
                "Too many failed attempts. Wait and try again later.".to_owned(),
            ),
            engine(&MfaError::InvalidAccountLabel(UriError::TooLong)),
            engine(&MfaError::Contention),
            (
                MfaError::<&str>::Storage("x").error_code(),
                MfaError::<&str>::Storage("x")
                    .error_description()
                    .to_owned(),
            ),
            server(&ApiError::wrong_password()),
            server(&ApiError::login_blocked()),
            server(&ApiError::suspicious_address(60)),
            server(&ApiError::invalid_client()),
            server(&ApiError::service_not_found("https://elsewhere.example/")),
            server(&ApiError::malformed_mfa_token()),
            server(&ApiError::expired_mfa_token()),
            server(&ApiError::invalid_token()),
            server(&ApiError::wrong_audience("https://auth.example.com/mfa/")),
            server(&ApiError::insufficient_scope("remove:authenticators")),
            server(&ApiError::missing_bearer()),
            server(&ApiError::missing("otp")),
            server(&ApiError::busy()),
            server(&ApiError::unavailable(&"db down")),
        ];
        for (error, description) in &answers {
            let found = sentence_for(&table, error, description)
                .unwrap_or_else(|| panic!("no sentence for {error} / {description}"));
            assert!(!found.sentence.contains(description.as_str()));
        }
        // The lockouts say when to retry; the three too_many_attempts differ.
        let lock = |d: &str| {
            sentence_for(&table, "too_many_attempts", d)
                .unwrap()
                .sentence
        };
        let code = lock("Too many failed attempts. Wait and try again later.");
        assert!(code.contains("{retry}"));
        assert!(lock(ApiError::suspicious_address(1).description()).contains("{retry}"));
        assert_ne!(code, lock(ApiError::login_blocked().description()));
        assert!(lock(ApiError::login_blocked().description()).contains("{block}"));
        // An unknown answer falls back to the generic sentence.
        assert!(sentence_for(&table, "invalid_request", "connection not found").is_none());
    }
}
