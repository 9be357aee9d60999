//! Per-request observability: a request id (kept from `X-Request-Id` when the caller sends a
//! sane one, otherwise generated) on the request's log span and in the response, a log line
//! per request, and the request counters and latency histograms.

use std::any::Any;
use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::middleware::Next;
use tracing::Instrument as _;

use crate::state::AppState;

const REQUEST_ID: &str = "x-request-id";

/// The middleware.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response<Body> {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map_or_else(|| format!("{:016x}", rand::random::<u64>()), str::to_owned);
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = super::ClientAddr::decide(
        state.settings.server.trust_forwarded_for,
        peer,
        req.headers(),
    );
    let mut req = req;
    req.extensions_mut().insert(super::RequestId(id.clone()));
    req.extensions_mut().insert(client);
    let mut response = next.run(req).instrument(span.clone()).await;
    let elapsed = start.elapsed();
    let status = response.status();
    state
        .metrics
        .observe_request(method.as_str(), &route, status.as_u16(), elapsed);
    let latency_ms = elapsed.as_micros() as f64 / 1000.0;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), latency_ms, "request failed");
        } else if matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics") {
            tracing::debug!(status = status.as_u16(), latency_ms, "request");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    if state.public_url.starts_with("https://") {
        // Browsers that reached Kassa over HTTPS keep to it for a year (subdomains are the
        // operator's business, so they are not included).
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// What a handler panic becomes: a plain 500, with the panic logged (never sent).
pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    let mut response = Response::new(Body::from("internal error\n"));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}
