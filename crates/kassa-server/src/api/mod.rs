//! The merchant APIs: the CryptoCloud v2 (and legacy v1) compatible API that existing shops
//! integrate with, and Kassa's native test helpers. One error type decides every status code
//! and body; internal errors are logged and answered without detail.

pub mod cryptocloud;
pub mod helpers;
pub mod input;
pub mod withdraw;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use kassa_store::projects::{self, ProjectRow};
use serde_json::json;

use crate::state::AppState;
use kassa_service::auth::token;

/// An API request that cannot be served as asked.
#[derive(Debug)]
pub enum ApiError {
    /// No or a wrong API key (v2 style: `{"detail": …}`).
    Unauthorized(&'static str),
    /// No or a wrong API key on a v1 endpoint (`{"message":"Unauthenticated."}`).
    V1Unauthorized,
    /// A field is missing or invalid: `400 {"status":"error","result":{field: message}}`.
    Field(String, String),
    /// Not found: `404 {"detail":"Not found."}`.
    NotFound,
    /// Too many requests: `429 {"status":"error","result":{key: message}}` with Retry-After.
    RateLimited(&'static str, String, std::time::Duration),
    /// Kassa failed: logged, answered with a generic 500.
    Internal(String),
}

impl ApiError {
    /// A field error.
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        ApiError::Field(name.to_owned(), message.into())
    }
}

impl From<kassa_store::StoreError> for ApiError {
    fn from(e: kassa_store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<kassa_service::accounts::ServiceError> for ApiError {
    fn from(e: kassa_service::accounts::ServiceError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthorized(detail) => (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"detail": detail})),
            )
                .into_response(),
            ApiError::V1Unauthorized => (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "Unauthenticated."})),
            )
                .into_response(),
            ApiError::Field(field, message) => (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"status": "error", "result": {field: message}})),
            )
                .into_response(),
            ApiError::RateLimited(key, message, wait) => {
                let secs = wait.as_secs().max(1).to_string();
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, secs)],
                    axum::Json(json!({"status": "error", "result": {key: message}})),
                )
                    .into_response()
            }
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"detail": "Not found."})),
            )
                .into_response(),
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "API request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"status": "error", "result": {"detail": "Internal error. Please retry later."}})))
                    .into_response()
            }
        }
    }
}

/// The project whose API key authenticates the request (`Authorization: Token <key>`;
/// `Bearer` is accepted too).
pub struct ApiProject(pub Arc<ProjectRow>);

async fn project_of(parts: &Parts, st: &AppState) -> Result<Option<ProjectRow>, ApiError> {
    let Some(value) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let key = value
        .strip_prefix("Token ")
        .or_else(|| value.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim();
    if key.is_empty() || key.len() > 200 {
        return Ok(None);
    }
    let mut c = st.db.conn().await?;
    Ok(projects::by_api_key(&mut c, &token::hash(key)).await?)
}

impl FromRequestParts<AppState> for ApiProject {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        match project_of(parts, st).await? {
            Some(p) => Ok(ApiProject(Arc::new(p))),
            None if parts.headers.contains_key(header::AUTHORIZATION) => {
                Err(ApiError::Unauthorized("Invalid token."))
            }
            None => Err(ApiError::Unauthorized(
                "Authentication credentials were not provided.",
            )),
        }
    }
}

/// The same, for v1 endpoints (their own error body).
pub struct V1Project(pub Arc<ProjectRow>);

impl FromRequestParts<AppState> for V1Project {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        project_of(parts, st)
            .await?
            .map(|p| V1Project(Arc::new(p)))
            .ok_or(ApiError::V1Unauthorized)
    }
}

/// The API routes.
pub fn router() -> Router<AppState> {
    use cryptocloud as cc;
    Router::new()
        .route("/v2/invoice/create", post(cc::create))
        .route("/v2/invoice/merchant/canceled", post(cc::cancel))
        .route("/v2/invoice/merchant/list", post(cc::list))
        .route("/v2/invoice/merchant/info", post(cc::info))
        .route("/v2/invoice/merchant/statistics", post(cc::statistics))
        .route("/v2/merchant/statistics", post(cc::statistics))
        .route("/v2/merchant/wallet/balance/all", post(cc::balance))
        .route("/v2/invoice/static/create", post(cc::static_create))
        .route("/v2/invoice/api/out/create", post(withdraw::create))
        .route("/v1/invoice/create", post(cc::v1_create))
        .route("/v1/invoice/info", get(cc::v1_info))
        .route(
            "/api/v1/test-helpers/invoices/{uuid}/pay",
            post(helpers::pay),
        )
        // Unknown API paths answer 404 here, before the dashboard's fallback (which would
        // refuse a POST without a CSRF token with 403).
        .route("/v1/{*rest}", any(not_found))
        .route("/v2/{*rest}", any(not_found))
        .route("/api/{*rest}", any(not_found))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}
