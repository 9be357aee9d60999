//! Operations endpoints: liveness, readiness and metrics.

use std::time::Duration;

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

/// How long a node may fail to answer before its network counts as down.
const NODE_DOWN_AFTER: Duration = Duration::from_secs(60);
/// Blocks a watcher may be behind its node and still count as keeping up.
const MAX_LAG: u64 = 2;

/// One configured network's health, by the rules `/readyz` documents: `down` when its node has
/// not answered for a minute; `degraded` when the node is syncing, behind the watcher (waiting
/// for a re-index or a restored backup), the watcher lags more than two blocks, or no round
/// succeeded for ten poll intervals (at least a minute); `starting` before the first round;
/// `ok` otherwise.
fn network_health(
    h: Option<&kassa_service::metrics::ChainHealth>,
    poll: Duration,
    now: kassa_core::Timestamp,
) -> (&'static str, Vec<&'static str>) {
    let Some(h) = h else {
        return ("starting", vec!["no watcher round yet"]);
    };
    let mut reasons = Vec::new();
    let failing = h
        .failing_since
        .is_some_and(|t| now.duration_since(t) >= NODE_DOWN_AFTER);
    if failing && !h.reachable {
        return ("down", vec!["node unreachable"]);
    }
    if h.syncing {
        reasons.push("node syncing");
    }
    if h.waiting {
        reasons.push("node behind the watcher");
    }
    if h.lag().is_some_and(|l| l > MAX_LAG) {
        reasons.push("watcher behind the node");
    }
    let stale = (poll * 10).max(Duration::from_secs(60));
    if h.last_success
        .is_none_or(|t| now.duration_since(t) >= stale)
        || failing
    {
        reasons.push("no recent successful round");
    }
    (if reasons.is_empty() { "ok" } else { "degraded" }, reasons)
}

/// `GET /readyz`: the database answers and its schema is the one this binary expects (else
/// 503); and how each configured network stands (`ok`, `degraded`, `down`, `starting`, see
/// [`network_health`]). A network in trouble makes the answer `degraded`, still 200: the
/// instance serves everything else, and the other networks.
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
        Ok(true) => {}
        Ok(false) => return unready("database migrations are not current").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: cannot read migrations");
            return unready("cannot read database migrations").into_response();
        }
    }
    let now = state.clock.now();
    let mut networks = serde_json::Map::new();
    let mut all_ok = true;
    for chain in state.chains.all() {
        let h = state.metrics.chain(chain.network.code);
        let (status, reasons) = network_health(h.as_ref(), chain.poll_interval, now);
        all_ok &= status == "ok";
        networks.insert(
            chain.network.code.to_owned(),
            json!({
                "status": status,
                "reasons": reasons,
                "node_height": h.as_ref().and_then(|h| h.node_height),
                "watcher_height": h.as_ref().and_then(|h| h.watcher_height),
                "lag": h.as_ref().and_then(kassa_service::metrics::ChainHealth::lag),
                "last_error": h.as_ref().and_then(|h| h.last_error.clone()),
            }),
        );
    }
    let status = if all_ok { "ready" } else { "degraded" };
    Json(json!({"status": status, "networks": networks})).into_response()
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
