//! Reading untrusted input within bounds, for every surface: bodies are read up to a limit
//! (never buffered whole first), flat forms and query strings are checked by
//! [`kassa_core::input`] before `serde_urlencoded` turns them into a handler's struct. Each
//! surface maps the errors to its own answer (the API's error shape, a page's 400).

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::Uri;
use axum::http::request::Parts;
use kassa_core::input::{self, InputError, Limits};
use serde::de::DeserializeOwned;

/// Why flat input was refused.
#[derive(Debug)]
pub enum FlatError {
    /// A limit was broken.
    Input(InputError),
    /// Within the limits, but not the fields the handler reads (a value of the wrong type).
    Shape,
}

impl From<InputError> for FlatError {
    fn from(e: InputError) -> Self {
        FlatError::Input(e)
    }
}

/// Reads the body, refusing it as soon as it passes `max` bytes.
pub async fn read_body(req: Request, max: usize) -> Result<Bytes, InputError> {
    axum::body::to_bytes(req.into_body(), max)
        .await
        .map_err(|_| InputError::TooLarge { max })
}

/// A flat URL-encoded form within `limits`, as `T`.
pub fn flat<T: DeserializeOwned>(bytes: &[u8], limits: &Limits) -> Result<T, FlatError> {
    input::check_pairs(bytes, limits)?;
    serde_urlencoded::from_bytes(bytes).map_err(|_| FlatError::Shape)
}

/// The query string of `uri` within [`Limits::QUERY`], as `T` (an absent query reads as empty).
pub fn query<T: DeserializeOwned>(uri: &Uri) -> Result<T, FlatError> {
    flat(uri.query().unwrap_or_default().as_bytes(), &Limits::QUERY)
}

/// Reads a flat form body within `limits`, as `T`.
pub async fn form<T: DeserializeOwned>(req: Request, limits: &Limits) -> Result<T, FlatError> {
    let bytes = read_body(req, limits.max_bytes).await?;
    flat(&bytes, limits)
}

/// A query string within [`Limits::QUERY`] as `T`, or why not; the handler decides how to
/// answer (each surface has its own error page or shape).
pub struct CheckedQuery<T>(pub Result<T, FlatError>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for CheckedQuery<T> {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(CheckedQuery(query(&parts.uri)))
    }
}

/// A flat form body within [`Limits::PAGE_FORM`] as `T`, or why not.
pub struct CheckedForm<T>(pub Result<T, FlatError>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for CheckedForm<T> {
    type Rejection = Infallible;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(CheckedForm(form(req, &Limits::PAGE_FORM).await))
    }
}

/// The pairs of a flat form body within [`Limits::PAGE_FORM`] (for forms whose checkboxes
/// repeat a key, which `serde_urlencoded` cannot collect), or why not.
pub struct CheckedPairs(pub Result<Vec<(String, String)>, InputError>);

impl<S: Send + Sync> FromRequest<S> for CheckedPairs {
    type Rejection = Infallible;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let limits = Limits::PAGE_FORM;
        let pairs = match read_body(req, limits.max_bytes).await {
            Ok(bytes) => input::pairs(&bytes, &limits),
            Err(e) => Err(e),
        };
        Ok(CheckedPairs(pairs))
    }
}
