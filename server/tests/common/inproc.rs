//! In-process requests through the router (`tower::ServiceExt::oneshot`)
//! on a clock the test sets: what `router.rs` and `hardening.rs` share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use serde_json::Value;
use totp_engine::Clock;
use tower::ServiceExt as _;

/// A clock the test sets.
pub struct TestClock(pub Arc<AtomicU64>);

impl Clock for TestClock {
    fn unix_time(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// An answer: status, headers and the JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Answer {
    /// (status, `error`, `error_description`).
    pub fn error(&self) -> (u16, Option<&str>, Option<&str>) {
        (
            self.status,
            self.json["error"].as_str(),
            self.json["error_description"].as_str(),
        )
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Builds a request from its method, path, headers and body.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::from(body)).unwrap()
}

/// Sends `request` through `router` and reads the whole answer.
pub async fn call(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {bytes:?}"))
    };
    Answer {
        status,
        headers,
        json,
    }
}
