//! An axum application whose state holds `Mfa<SqlxStore>`: enroll a user
//! (the `otpauth://` URI for a QR code), confirm and verify codes. The user
//! name stands in for whatever your session layer authenticated.
//!
//! ```text
//! cargo run -p totp-engine-sqlx --example axum_app -- sqlite://app.db 127.0.0.1:3000
//! curl -d user=jane http://127.0.0.1:3000/enroll
//! curl -d user=jane -d code=123456 http://127.0.0.1:3000/verify
//! ```
//!
//! With `--check` it serves nothing: it opens the database, enrolls and
//! verifies one user in-process, and exits (CI runs it this way).

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serde::Deserialize;
use totp_engine::{Clock, Mfa, MfaConfig, MfaError, SystemClock, Totp};
use totp_engine_sqlx::{SqlxStore, StoreError, StoreOptions, connect_pool};

struct AppState {
    mfa: Mfa<SqlxStore>,
}

#[derive(Deserialize)]
struct EnrollForm {
    user: String,
}

#[derive(Deserialize)]
struct VerifyForm {
    user: String,
    code: String,
}

/// An engine error as Auth0's JSON error shape.
struct ApiError(MfaError<StoreError>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            MfaError::Storage(_) | MfaError::Contention => StatusCode::SERVICE_UNAVAILABLE,
            MfaError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            MfaError::AlreadyEnrolled => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = serde_json::json!({
            "error": self.0.error_code(),
            "error_description": self.0.error_description(),
        });
        (status, Json(body)).into_response()
    }
}

async fn enroll(
    State(app): State<Arc<AppState>>,
    Form(form): Form<EnrollForm>,
) -> Result<Json<Vec<String>>, ApiError> {
    let now = SystemClock.unix_time();
    // Draw the randomness before awaiting: the returned future holds none,
    // so the handler stays `Send` although `rand::rng()` is not.
    let association = {
        let mut rng = rand::rng();
        app.mfa.associate(&form.user, &form.user, &mut rng, now)
    }
    .await
    .map_err(ApiError)?;
    let mut out = vec![association.barcode_uri.as_str().to_owned()];
    out.extend(
        association
            .recovery_codes
            .iter()
            .map(|c| c.as_str().to_owned()),
    );
    Ok(Json(out))
}

async fn verify(
    State(app): State<Arc<AppState>>,
    Form(form): Form<VerifyForm>,
) -> Result<&'static str, ApiError> {
    let now = SystemClock.unix_time();
    app.mfa
        .verify_otp(&form.user, &form.code, now)
        .await
        .map_err(ApiError)?;
    Ok("verified\n")
}

fn router(app: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route("/enroll", post(enroll))
        .route("/verify", post(verify))
        .with_state(app)
}

/// Enrolls and verifies one user without HTTP: what `--check` runs.
async fn check(app: &AppState) -> Result<(), Box<dyn std::error::Error>> {
    let now = SystemClock.unix_time();
    let user = format!("check-{now}-{}", std::process::id());
    let association = {
        let mut rng = rand::rng();
        app.mfa.associate(&user, &user, &mut rng, now)
    }
    .await?;
    let secret = totp_engine::ParsedKeyUri::parse(association.barcode_uri.as_str())?;
    let code = Totp::new(secret.secret(), secret.totp_params()).generate(now)?;
    let verified = app.mfa.verify_otp(&user, code.as_str(), now).await?;
    println!("enrolled and verified {user} (step {})", verified.step);
    // The same code again is a replay.
    match app.mfa.verify_otp(&user, code.as_str(), now).await {
        Err(MfaError::InvalidOtp) => println!("replay refused"),
        other => return Err(format!("replay was not refused: {other:?}").into()),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--check");
    let check_only = std::env::args().any(|a| a == "--check");
    let url = args.next().unwrap_or_else(|| "sqlite://axum-app.db".into());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3000".into());

    // One pool for the application's tables and the store's; the store's
    // tables get a prefix so they sit beside yours.
    let (pool, _backend) = connect_pool(&url).await?;
    let store = SqlxStore::new(pool, StoreOptions::default().with_table_prefix("mfa_")?).await?;
    let app = Arc::new(AppState {
        mfa: Mfa::new(store, MfaConfig::new("Example App")?),
    });
    if check_only {
        return check(&app).await;
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{listen}");
    axum::serve(listener, router(app)).await?;
    Ok(())
}
