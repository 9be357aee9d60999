//! One error type for dashboard handlers. It decides the status code; the page itself is
//! rendered by the context middleware, which knows the visitor's language and session.
//! Internal errors are logged in full and shown only as a reference id.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::context::{Page, WebCtx, html};
use crate::state::AppState;
use kassa_service::accounts::ServiceError;
use kassa_service::auth::limits::RetryAfter;

/// A dashboard request that cannot be served as asked.
#[derive(Debug)]
pub enum WebError {
    /// Missing, or another merchant's (never 403 for those: existence is not revealed).
    NotFound,
    /// Signed in, but the role or the owner's grants do not allow it.
    Forbidden,
    /// A form without a valid CSRF token (usually an expired page).
    Csrf,
    /// A request that does not parse.
    BadRequest,
    /// A request body over the limit.
    TooLarge,
    /// A rate limit was reached.
    RateLimited(RetryAfter),
    /// Anything else: logged, answered with a reference.
    Internal(String),
}

/// What the middleware renders; attached to the response as an extension.
#[derive(Clone, Debug)]
pub enum ErrorKind {
    /// 404.
    NotFound,
    /// 403.
    Forbidden,
    /// 403 for CSRF.
    Csrf,
    /// 400.
    BadRequest,
    /// 413.
    TooLarge,
    /// 429, retry after so many seconds.
    RateLimited(u64),
    /// 500.
    Internal,
}

impl From<ServiceError> for WebError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Limited(r) => WebError::RateLimited(r),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<kassa_store::StoreError> for WebError {
    fn from(e: kassa_store::StoreError) -> Self {
        match e {
            kassa_store::StoreError::NotFound => WebError::NotFound,
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("template: {e}"))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, kind) = match &self {
            WebError::NotFound => (StatusCode::NOT_FOUND, ErrorKind::NotFound),
            WebError::Forbidden => (StatusCode::FORBIDDEN, ErrorKind::Forbidden),
            WebError::Csrf => (StatusCode::FORBIDDEN, ErrorKind::Csrf),
            WebError::BadRequest => (StatusCode::BAD_REQUEST, ErrorKind::BadRequest),
            WebError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ErrorKind::TooLarge),
            WebError::RateLimited(r) => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorKind::RateLimited(r.0.as_secs().max(1)),
            ),
            WebError::Internal(detail) => {
                tracing::error!(error = %detail, "dashboard request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal)
            }
        };
        let mut r = (status, "").into_response();
        if let ErrorKind::RateLimited(secs) = kind
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r.extensions_mut().insert(kind);
        r
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: &'a Page,
    message: String,
    reference: String,
    signed_in: bool,
}

/// Replaces the body of an error response with the full page.
pub fn render_error_page(
    _st: &AppState,
    ctx: &WebCtx,
    kind: &ErrorKind,
    original: Response,
) -> Response {
    let (title, message) = match kind {
        ErrorKind::NotFound => ("error.not_found.title", "error.not_found.text".to_owned()),
        ErrorKind::Forbidden => ("error.forbidden.title", "error.forbidden.text".to_owned()),
        ErrorKind::Csrf => ("error.csrf.title", "error.csrf.text".to_owned()),
        ErrorKind::BadRequest => (
            "error.bad_request.title",
            "error.bad_request.text".to_owned(),
        ),
        ErrorKind::TooLarge => ("error.too_large.title", "error.too_large.text".to_owned()),
        ErrorKind::RateLimited(_) => (
            "error.rate_limited.title",
            "error.rate_limited.text".to_owned(),
        ),
        ErrorKind::Internal => ("error.internal.title", "error.internal.text".to_owned()),
    };
    let page = Page::new(ctx, title);
    let message = match kind {
        ErrorKind::RateLimited(secs) => page.tr.f1(&message, "minutes", &secs.div_ceil(60)),
        _ => page.t(&message).to_owned(),
    };
    let reference = match kind {
        ErrorKind::Internal => ctx.request_id.clone(),
        _ => String::new(),
    };
    let body = ErrorPage {
        page: &page,
        message,
        reference,
        signed_in: page.viewer.is_some(),
    }
    .render()
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "error page failed to render");
        "error".into()
    });
    let (mut parts, _) = original.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut r = html(body);
    *r.status_mut() = parts.status;
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE {
            r.headers_mut().append(k, v.clone());
        }
    }
    r
}
