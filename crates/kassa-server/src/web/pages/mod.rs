//! Dashboard page handlers, one module per area.

pub mod account;
pub mod activity;
pub mod auth;
pub mod balance;
pub mod home;
pub mod integration;
pub mod invoices;
pub mod notifications;
pub mod payments;
pub mod projects;
pub mod staff;
pub mod statistics;
pub mod wallets;
pub mod withdraw;
pub mod withdraw_rules;

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::context::{Page, WebCtx, html};
use super::errors::WebError;
use crate::http::input::{CheckedForm, CheckedPairs, CheckedQuery};

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    page: &'a Page,
    paragraphs: Vec<String>,
    action: Option<(String, String)>,
}

/// The query string of `pairs` then `extra` (links that keep a view's filters), `?` included
/// when not empty.
pub fn query_string(pairs: &[(&str, &str)], extra: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.extend_pairs(pairs.iter().copied());
    s.extend_pairs(extra.iter().copied());
    let s = s.finish();
    if s.is_empty() { s } else { format!("?{s}") }
}

/// A simple page: a title, paragraphs (translation keys) and an optional button.
pub fn message(
    ctx: &WebCtx,
    title: &str,
    paragraphs: &[&str],
    action: Option<(&str, &str)>,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, title);
    let paragraphs = paragraphs.iter().map(|k| page.t(k).to_owned()).collect();
    let action = action.map(|(label, href)| (page.t(label).to_owned(), href.to_owned()));
    Ok(html(
        MessagePage {
            page: &page,
            paragraphs,
            action,
        }
        .render()?,
    ))
}

/// A URL-encoded form body within [`Limits::PAGE_FORM`](kassa_core::input::Limits). A body
/// that breaks a limit or does not parse is a 400 page, not a bare rejection.
pub struct FormData<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for FormData<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(CheckedForm(form)) = CheckedForm::<T>::from_request(req, state).await;
        form.map(FormData).map_err(|_| WebError::BadRequest)
    }
}

/// The pairs of a URL-encoded form body, for forms whose checkboxes repeat a key.
pub struct FormPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for FormPairs {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(CheckedPairs(pairs)) = CheckedPairs::from_request(req, state).await;
        pairs.map(FormPairs).map_err(|_| WebError::BadRequest)
    }
}

impl FormPairs {
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A query string within [`Limits::QUERY`](kassa_core::input::Limits); one that breaks a
/// limit or does not parse is a 400 page.
pub struct QueryData<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryData<T> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(CheckedQuery(q)) = CheckedQuery::<T>::from_request_parts(parts, state).await;
        q.map(QueryData).map_err(|_| WebError::BadRequest)
    }
}
