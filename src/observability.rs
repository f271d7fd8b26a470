//! Request tracing: every request gets an id (the client's `X-Request-Id` when it sends a
//! sane one), a span carrying it on every log line, and one summary line at info level.
//! Only the method, the path without its query (which may hold names) and the status are logged.
use axum::body::Body;
use axum::http::{HeaderValue, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

const HEADER: &str = "x-request-id";

fn request_id(req: &Request<Body>) -> String {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub async fn trace_request(mut req: Request<Body>, next: Next) -> Response {
    let id = request_id(&req);
    // The handlers (the audit record) see the same id.
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(HEADER, v);
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", id = %id);
    let started = std::time::Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(%method, %path, status = resp.status().as_u16(), ms = started.elapsed().as_secs_f64() * 1000.0, "handled");
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}

/// Logging inside Lambda: JSON lines to stdout (CloudWatch), level from `HEARTH_LOG`.
pub fn init_lambda_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HEARTH_LOG").unwrap_or_else(|_| "info".into()))
        .with_current_span(true)
        .without_time()
        .init();
}
