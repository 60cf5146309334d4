//! The `client_credentials` grant of `POST /oauth/token`: a machine client
//! (authenticated with its secret) gets an access token for the Management
//! API, `audience=<issuer_url>api/v2/`, with the scopes it asks for among
//! those its client grant allows (all of them if it names none).
//!
//! Refusals, as Auth0 answers them (403 `access_denied`): no audience; an
//! audience this server does not know ("Service not found: AUD"); a known
//! audience the client has no grant for ("Client is not authorized to
//! access …"); a scope outside the grant ("Client has not been granted
//! scopes: …"). A public client never has a grant.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::audience;
use crate::http::error::{ApiError, printable};
use crate::http::{App, no_store};
use crate::tokens::Claims;

/// What the `client_credentials` grant asks for.
#[derive(Debug, Clone)]
pub struct ClientCredentialsGrant {
    /// The API: `<issuer_url>api/v2/`.
    pub audience: Option<String>,
    /// Space-separated scopes; all granted ones if absent or empty.
    pub scope: Option<String>,
}

fn access_denied(description: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "access_denied", description)
}

/// Issues the Management API token of `client_id`.
pub(crate) async fn client_credentials(
    app: &App,
    client_id: &str,
    grant: ClientCredentialsGrant,
    now: u64,
) -> Result<Response, ApiError> {
    let management = audience(app.settings().issuer_url());
    let Some(requested) = grant.audience.filter(|a| !a.is_empty()) else {
        return Err(access_denied(
            "No audience parameter was provided, and no default audience has been configured"
                .to_owned(),
        ));
    };
    let known = requested == management
        || requested == app.settings().audiences().mfa()
        || app
            .settings()
            .audiences()
            .grant(Some(&requested), "")
            .is_ok();
    if !known {
        return Err(ApiError::service_not_found(&requested));
    }
    let not_authorized = || {
        access_denied(format!(
            "Client is not authorized to access \"{}\". You need to create a \"client-grant\" associated to this API.",
            printable(&requested)
        ))
    };
    if requested != management {
        return Err(not_authorized());
    }
    let Some(allowed) = app.db().client_grant(client_id, super::GRANT_KEY).await? else {
        return Err(not_authorized());
    };
    let allowed: Vec<&str> = allowed.split_ascii_whitespace().collect();
    let scope = match grant
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => allowed.join(" "),
        Some(asked) => {
            let missing: Vec<&str> = asked
                .split_ascii_whitespace()
                .filter(|s| !allowed.contains(s))
                .collect();
            if !missing.is_empty() {
                return Err(access_denied(format!(
                    "Client has not been granted scopes: {}",
                    printable(&missing.join(" "))
                )));
            }
            let mut kept: Vec<&str> = Vec::new();
            for s in asked.split_ascii_whitespace() {
                if !kept.contains(&s) {
                    kept.push(s);
                }
            }
            kept.join(" ")
        }
    };
    let ttl = app.settings().access_token_ttl();
    let claims = Claims {
        iss: app.signer().issuer().to_owned(),
        sub: format!("{client_id}@clients"),
        aud: management,
        iat: now,
        exp: now.saturating_add(ttl),
        scope: scope.clone(),
        amr: Vec::new(),
        azp: Some(client_id.to_owned()),
        jti: Some(crate::credentials::new_token_id()),
        cnf: None,
        profile: serde_json::Map::new(),
    };
    let token = app
        .signer()
        .sign(&claims)
        .map_err(|e| ApiError::unavailable(&e))?;
    let body = json!({
        "access_token": token,
        "expires_in": ttl,
        "scope": scope,
        "token_type": "Bearer",
    });
    Ok(no_store((StatusCode::OK, axum::Json(body)).into_response()))
}
