//! The front door and the dashboard home.

use askama::Template;
use axum::response::{IntoResponse, Redirect, Response};

use crate::web::context::{Me, Page, WebCtx, html};
use crate::web::errors::WebError;

/// `GET /`: the dashboard when signed in, otherwise the sign-in page.
pub async fn root(ctx: WebCtx) -> Response {
    Redirect::to(if ctx.signed_in().is_some() {
        "/dashboard"
    } else {
        "/login"
    })
    .into_response()
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    page: &'a Page,
    greeting: String,
    email_confirmed: bool,
    two_factor: bool,
}

/// `GET /dashboard`
pub async fn dashboard(ctx: WebCtx, Me(me): Me) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "dashboard.title");
    let role = page
        .t(&format!("role.{}", me.user.role.as_str()))
        .to_owned();
    let greeting = page.tr.f(
        "dashboard.greeting",
        &[("business", &me.business), ("role", &role)],
    );
    let body = DashboardPage {
        page: &page,
        greeting,
        email_confirmed: me.user.email_confirmed_at.is_some(),
        two_factor: me.user.totp_secret.is_some(),
    }
    .render()?;
    Ok(html(body))
}
