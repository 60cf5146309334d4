//! Logging: the format of the process's log ([`LogFormat`], `serve
//! --log-format`), the subscriber that writes it to standard error
//! ([`init`]), and the request log of the router ([`request_log`]).
//!
//! What is logged, and what never is:
//! - one line per request, written by [`request_log`] when the response is
//!   ready: in the request's span the method, the matched route
//!   (`/mfa/authenticators/{id}`, not the path: no ids; `unmatched` for
//!   unknown paths) and, for a grant, its outcome class (`grant="password"
//!   outcome="wrong_password"`, …; see `http/outcome.rs`); in the line the
//!   status and the duration in whole milliseconds. A request dropped
//!   before its response (the client went away, or a shutdown cut it)
//!   still gets its line, `request dropped`, with the span's fields and
//!   the milliseconds it ran, so a grant's outcome is never missing from
//!   the log. Never the query string, a header, a body, a username, a
//!   code or a token.
//! - a line at start (`listening`) and one at shutdown.
//!
//! `RUST_LOG` filters as usual (default `info,sqlx=warn`).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use axum::middleware::Next;
use serde::Deserialize;
use tracing::{Instrument, Span};

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

/// The span of one request: its method and matched route, and the
/// grant's outcome once [`record_grant`] has set it.
fn request_span(request: &Request<Body>) -> Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route_of(request),
        grant = tracing::field::Empty,
        outcome = tracing::field::Empty,
    )
}

/// Records a grant's outcome class in the current request's span, to be
/// written with the request's line. Outside a request's span (a caller
/// that is not a request) it writes a line of its own.
pub fn record_grant(grant: &'static str, outcome: &'static str) {
    let span = Span::current();
    // Only the request span has an `outcome` field (a disabled span has none).
    if span.has_field("outcome") {
        span.record("grant", grant);
        span.record("outcome", outcome);
    } else {
        tracing::info!(grant, outcome, "grant");
    }
}

/// `duration` in whole milliseconds, rounded to the nearest.
fn rounded_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros().saturating_add(500) / 1000).unwrap_or(u64::MAX)
}

/// A request's line: `request` with the status once the response is
/// ready ([`RequestLine::answered`]), `request dropped` if the request's
/// future is dropped before that.
struct RequestLine {
    span: Span,
    start: Instant,
    status: Option<u16>,
}

impl RequestLine {
    fn answered(mut self, status: u16) {
        self.status = Some(status);
    }
}

impl Drop for RequestLine {
    fn drop(&mut self) {
        let ms = rounded_ms(self.start.elapsed());
        self.span.in_scope(|| match self.status {
            Some(status) => tracing::info!(status, ms, "request"),
            None => tracing::info!(ms, "request dropped"),
        });
    }
}

/// The request-log middleware, outermost in the router (inside routing,
/// so the matched route is known): runs the request in its span and
/// writes the request's one line, status and duration, when the response
/// is ready (see the module docs).
pub async fn request_log(request: Request<Body>, next: Next) -> Response<Body> {
    let span = request_span(&request);
    let line = RequestLine {
        span: span.clone(),
        start: Instant::now(),
        status: None,
    };
    let response = next.run(request).instrument(span).await;
    line.answered(response.status().as_u16());
    response
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
