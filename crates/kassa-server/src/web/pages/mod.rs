//! Dashboard page handlers, one module per area.

pub mod account;
pub mod activity;
pub mod auth;
pub mod home;
pub mod invoices;
pub mod projects;
pub mod staff;

use askama::Template;
use axum::extract::{FromRequest, Request};
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::context::{Page, WebCtx, html};
use super::errors::WebError;

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    page: &'a Page,
    paragraphs: Vec<String>,
    action: Option<(String, String)>,
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

/// A URL-encoded form body. A body that does not parse is a 400 page, not a bare rejection.
pub struct FormData<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for FormData<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|f| FormData(f.0))
            .map_err(|_| WebError::BadRequest)
    }
}
