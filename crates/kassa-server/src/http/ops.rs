//! Operations endpoints: liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use kassa_store::{jobs, migrate};
use serde_json::json;

use kassa_service::auth::token::constant_time_eq;

use super::ClientAddr;
use crate::state::AppState;

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and its schema is the one this binary expects.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let unready = |reason: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": reason})),
        )
    };
    if let Err(e) = state.db.ping().await {
        tracing::warn!(error = %e, "readiness: database unreachable");
        return unready("database unreachable").into_response();
    }
    match migrate::is_current(&state.db).await {
        Ok(true) => Json(json!({"status": "ready"})).into_response(),
        Ok(false) => unready("database migrations are not current").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: cannot read migrations");
            unready("cannot read database migrations").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text. Answered for loopback clients (the real client: behind a
/// trusted proxy, the address it forwards, not the proxy's own), and for anyone presenting
/// `Authorization: Bearer <server.metrics_token>` when one is configured; 404 otherwise, so
/// business volumes do not leak to the internet.
pub async fn metrics(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
) -> Response {
    let token = state.settings.server.metrics_token.expose();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = client.is_loopback()
        || (!token.is_empty()
            && presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes())));
    if !allowed {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    let queue = match jobs::pending_counts(&state.db).await {
        Ok(q) => q,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the job queue");
            Vec::new()
        }
    };
    let queue: Vec<(&str, &str, i64)> = queue
        .iter()
        .map(|(s, k, n)| (s.as_str(), k.as_str(), *n))
        .collect();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&queue),
    )
        .into_response()
}
