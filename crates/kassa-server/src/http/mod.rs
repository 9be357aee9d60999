//! The HTTP surface: the router and the layers every request passes through.

pub mod input;
mod observe;
pub mod ops;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::state::AppState;
use crate::web;

/// The id of the current request (as logged and returned in `X-Request-Id`).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The real client of a request, decided once by `observe` and read by everything that asks
/// (rate limits, login history, `/metrics`): the socket peer, or — when
/// `server.trust_forwarded_for` says a proxy in front appends it — the last `X-Forwarded-For`
/// entry, the one that proxy wrote. `None` only for requests that did not come over a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// Decides the client address from the socket peer and the headers.
    pub fn decide(
        trust_forwarded_for: bool,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Self {
        let forwarded = trust_forwarded_for
            .then(|| headers.get_all("x-forwarded-for").iter().next_back())
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        ClientAddr(forwarded.or_else(|| peer.map(|p| p.ip())))
    }

    /// Whether the client is this machine.
    pub fn is_loopback(&self) -> bool {
        self.0.is_some_and(|ip| match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        })
    }

    /// The address as text (`unknown` without one), for logs and rate-limit keys.
    pub fn text(&self) -> String {
        self.0
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }
}

/// Builds the router with every route and layer.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/assets/{name}", get(web::assets::serve))
        .route("/assets/icons/{kind}/{name}", get(web::assets::icon))
        .route("/favicon.ico", get(web::assets::favicon))
        .route("/logos/{file}", get(web::pages::projects::logo))
        .merge(crate::api::router())
        .merge(web::pay::router())
        .merge(web::router(state.clone()))
        // Layers run outside-in in reverse order of addition: `observe` sees every response,
        // including the 500 that CatchPanicLayer makes of a panic and the timeout's 503.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::custom(observe::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}
