//! Logging: the format of the process's log ([`LogFormat`], `serve
//! --log-format`), the subscriber that writes it to standard error
//! ([`init`]), and the request log line of the router ([`trace_layer`]).
//!
//! What is logged, and what never is:
//! - one line per request, from `tower_http`'s trace layer: method, the
//!   matched route (`/mfa/authenticators/{id}`, not the path: no ids;
//!   `unmatched` for unknown paths), status and duration in whole
//!   milliseconds. Never the query string, a header, a body, a code or a
//!   token.
//! - one line per grant with its outcome class (`grant="password"
//!   outcome="wrong_password"`, …; see `http/outcome.rs`), inside the
//!   request's span: no username, code or token.
//! - a line at start (`listening`) and one at shutdown.
//!
//! `RUST_LOG` filters as usual (default `info,sqlx=warn`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use serde::Deserialize;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (`tracing_subscriber`'s default format),
    /// colored when standard error is a terminal.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`,
    /// `fields` (the event's, `message` included) and `span` (the
    /// request's `method` and `route`).
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("expected text or json".to_owned()),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

/// Installs the process's subscriber: `format` lines on standard error,
/// filtered by `RUST_LOG` (default `info,sqlx=warn`). A second call does
/// nothing.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// The route a request matched, as written in the router
/// (`/mfa/authenticators/{id}`), or `unmatched`: never the path itself.
#[must_use]
pub fn route_of<B>(request: &Request<B>) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
}

/// The span of one request: its method and matched route.
fn request_span(request: &Request<Body>) -> Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route_of(request),
    )
}

/// The request's one line: status and duration in milliseconds, rounded.
fn request_done(response: &Response<Body>, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        ms = rounded_ms(latency),
        "request"
    );
}

/// `duration` in whole milliseconds, rounded to the nearest.
fn rounded_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros().saturating_add(500) / 1000).unwrap_or(u64::MAX)
}

/// The request-log layer: one line when the response is ready, nothing
/// when the request arrives or fails (the status says it).
pub type RequestLog = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request<Body>) -> Span,
    (),
    fn(&Response<Body>, Duration, &Span),
    (),
    (),
    (),
>;

/// The layer of [`RequestLog`], for the router (inside routing, so the
/// matched route is known).
#[must_use]
pub fn trace_layer() -> RequestLog {
    TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request<Body>) -> Span)
        .on_request(())
        .on_response(request_done as fn(&Response<Body>, Duration, &Span))
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_to_the_nearest_millisecond() {
        for (micros, ms) in [
            (0, 0),
            (499, 0),
            (500, 1),
            (1_499, 1),
            (1_500, 2),
            (62_700, 63),
        ] {
            assert_eq!(rounded_ms(Duration::from_micros(micros)), ms, "{micros}");
        }
        assert_eq!(rounded_ms(Duration::MAX), u64::MAX);
    }

    #[test]
    fn log_formats_parse_case_insensitively() {
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert_eq!(
            "xml".parse::<LogFormat>(),
            Err("expected text or json".to_owned())
        );
        assert_eq!(LogFormat::Json.to_string(), "json");
    }
}
