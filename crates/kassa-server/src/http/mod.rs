//! The HTTP surface: the router and the layers every request passes through.

mod observe;
pub mod ops;

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::state::AppState;
use crate::web;

/// The id of the current request (as logged and returned in `X-Request-Id`).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

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
