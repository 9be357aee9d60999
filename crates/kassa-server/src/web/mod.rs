//! The merchant dashboard: server-rendered pages behind sessions.
//!
//! Every page route is declared once in [`routes`] with the [`Access`] it needs; the router
//! applies one access check per route from that table, and the authorisation test walks the
//! same table. Handlers live in [`pages`], templates in `templates/`.

pub mod assets;
pub mod chart;
pub mod context;
pub mod cookies;
pub mod errors;
pub mod export;
pub mod forms;
pub mod pages;
pub mod pay;
pub mod qr;
pub mod reveal;
pub mod useragent;

use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use kassa_core::account::Section;

use self::context::WebCtx;
use self::errors::WebError;
use crate::state::AppState;

/// Who may open a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (links from e-mails, the language switch, sign-out).
    Anyone,
    /// Only visitors who are not signed in (sign-in, sign-up, password reset); signed-in
    /// users are sent to the dashboard.
    Guest,
    /// A session that passed the password and waits for the second factor.
    SecondFactor,
    /// Any signed-in user (their own account pages).
    SignedIn,
    /// A signed-in user whose role and grants allow the section.
    Section(Section),
    /// A signed-in user whose role and grants allow every one of the sections (exporting
    /// the statement: viewing the balance and exporting data).
    Sections(&'static [Section]),
}

/// One dashboard route.
pub struct PageRoute {
    /// HTTP method.
    pub method: Method,
    /// Path pattern (axum syntax).
    pub path: &'static str,
    /// Who may use it.
    pub access: Access,
    handler: MethodRouter<AppState>,
}

fn route(
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
) -> PageRoute {
    PageRoute {
        method,
        path,
        access,
        handler,
    }
}

/// Every dashboard route with its access rule. Adding a route here is the only way to add a
/// page, so none can skip the check.
pub fn routes() -> Vec<PageRoute> {
    use Access::*;
    use kassa_core::account::Section as S;
    use pages::{
        account, activity, auth, balance, home, integration, invoices, notifications, payments,
        projects, staff, statistics, wallets, withdraw, withdraw_rules,
    };
    let (g, p) = (Method::GET, Method::POST);
    vec![
        route(g.clone(), "/", Anyone, get(home::root)),
        route(g.clone(), "/login", Guest, get(auth::login_form)),
        route(p.clone(), "/login", Guest, post(auth::login)),
        route(
            g.clone(),
            "/login/2fa",
            SecondFactor,
            get(auth::second_factor_form),
        ),
        route(
            p.clone(),
            "/login/2fa",
            SecondFactor,
            post(auth::second_factor),
        ),
        route(p.clone(), "/logout", Anyone, post(auth::logout)),
        route(g.clone(), "/signup", Guest, get(auth::signup_form)),
        route(p.clone(), "/signup", Guest, post(auth::signup)),
        route(g.clone(), "/signup/sent", Anyone, get(auth::signup_sent)),
        route(
            g.clone(),
            "/confirm-email/{token}",
            Anyone,
            get(auth::confirm_email),
        ),
        route(g.clone(), "/reset", Guest, get(auth::reset_request_form)),
        route(p.clone(), "/reset", Guest, post(auth::reset_request)),
        route(g.clone(), "/reset/sent", Anyone, get(auth::reset_sent)),
        route(g.clone(), "/reset/{token}", Anyone, get(auth::reset_form)),
        route(p.clone(), "/reset/{token}", Anyone, post(auth::reset)),
        route(g.clone(), "/invite/{token}", Anyone, get(auth::invite_form)),
        route(
            p.clone(),
            "/invite/{token}",
            Anyone,
            post(auth::accept_invite),
        ),
        route(p.clone(), "/language", Anyone, post(auth::set_language)),
        route(g.clone(), "/dashboard", SignedIn, get(home::dashboard)),
        route(
            g.clone(),
            "/notifications",
            SignedIn,
            get(notifications::list),
        ),
        route(
            g.clone(),
            "/notifications/count",
            SignedIn,
            get(notifications::count),
        ),
        route(
            p.clone(),
            "/notifications/read",
            SignedIn,
            post(notifications::read),
        ),
        route(
            g.clone(),
            "/account/notifications",
            SignedIn,
            get(notifications::prefs),
        ),
        route(
            p.clone(),
            "/account/notifications",
            SignedIn,
            post(notifications::save_prefs),
        ),
        route(
            p.clone(),
            "/account/notifications/telegram",
            SignedIn,
            post(notifications::telegram_link),
        ),
        route(
            p.clone(),
            "/account/notifications/telegram/unlink",
            SignedIn,
            post(notifications::telegram_unlink),
        ),
        route(g.clone(), "/account", SignedIn, get(account::profile_form)),
        route(p.clone(), "/account", SignedIn, post(account::profile)),
        route(
            g.clone(),
            "/account/password",
            SignedIn,
            get(account::password_form),
        ),
        route(
            p.clone(),
            "/account/password",
            SignedIn,
            post(account::password),
        ),
        route(
            g.clone(),
            "/account/email",
            SignedIn,
            get(account::email_form),
        ),
        route(p.clone(), "/account/email", SignedIn, post(account::email)),
        route(
            g.clone(),
            "/account/email/sent",
            SignedIn,
            get(account::email_sent),
        ),
        route(
            g.clone(),
            "/account/email/confirm/{token}",
            Anyone,
            get(account::email_confirm),
        ),
        route(
            g.clone(),
            "/account/2fa",
            SignedIn,
            get(account::two_factor),
        ),
        route(
            p.clone(),
            "/account/2fa/setup",
            SignedIn,
            post(account::two_factor_setup),
        ),
        route(
            p.clone(),
            "/account/2fa/confirm",
            SignedIn,
            post(account::two_factor_confirm),
        ),
        route(
            p.clone(),
            "/account/2fa/disable",
            SignedIn,
            post(account::two_factor_disable),
        ),
        route(
            g.clone(),
            "/account/2fa/recovery-codes",
            SignedIn,
            get(account::recovery_codes_page),
        ),
        route(
            p.clone(),
            "/account/2fa/recovery-codes",
            SignedIn,
            post(account::recovery_codes),
        ),
        route(
            g.clone(),
            "/account/reauth",
            SignedIn,
            get(account::reauth_form),
        ),
        route(
            p.clone(),
            "/account/reauth",
            SignedIn,
            post(account::reauth),
        ),
        route(
            g.clone(),
            "/account/sessions",
            SignedIn,
            get(account::sessions),
        ),
        route(
            p.clone(),
            "/account/sessions/{id}/end",
            SignedIn,
            post(account::end_session),
        ),
        route(
            p.clone(),
            "/account/sessions/end-others",
            SignedIn,
            post(account::end_other_sessions),
        ),
        route(
            g.clone(),
            "/account/history",
            SignedIn,
            get(account::history),
        ),
        route(
            g.clone(),
            "/staff",
            Section(S::ManageStaff),
            get(staff::list),
        ),
        route(
            p.clone(),
            "/staff/invite",
            Section(S::ManageStaff),
            post(staff::invite),
        ),
        route(
            g.clone(),
            "/staff/{id}",
            Section(S::ManageStaff),
            get(staff::edit_form),
        ),
        route(
            p.clone(),
            "/staff/{id}",
            Section(S::ManageStaff),
            post(staff::edit),
        ),
        route(
            p.clone(),
            "/staff/{id}/revoke",
            Section(S::ManageStaff),
            post(staff::revoke),
        ),
        route(
            g.clone(),
            "/activity",
            Section(S::ViewActivity),
            get(activity::list),
        ),
        route(
            g.clone(),
            "/projects",
            Section(S::ViewProjects),
            get(projects::list),
        ),
        route(
            g.clone(),
            "/projects/new",
            Section(S::EditProjects),
            get(projects::new_form),
        ),
        route(
            p.clone(),
            "/projects/new",
            Section(S::EditProjects),
            post(projects::create),
        ),
        route(
            g.clone(),
            "/projects/{id}",
            Section(S::ViewProjects),
            get(projects::show),
        ),
        route(
            p.clone(),
            "/projects/{id}",
            Section(S::EditProjects),
            post(projects::update),
        ),
        route(
            p.clone(),
            "/projects/{id}/logo",
            Section(S::EditProjects),
            post(projects::upload_logo)
                .layer(axum::extract::DefaultBodyLimit::max(3 * 1024 * 1024)),
        ),
        route(
            p.clone(),
            "/projects/{id}/logo/delete",
            Section(S::EditProjects),
            post(projects::delete_logo),
        ),
        route(
            p.clone(),
            "/projects/{id}/mode",
            Section(S::EditProjects),
            post(projects::set_mode),
        ),
        route(
            p.clone(),
            "/projects/{id}/archive",
            Section(S::EditProjects),
            post(projects::archive),
        ),
        route(
            g.clone(),
            "/projects/{id}/integration",
            Section(S::ApiKeys),
            get(integration::integration),
        ),
        route(
            p.clone(),
            "/projects/{id}/api-key",
            Section(S::ApiKeys),
            post(integration::regenerate_key),
        ),
        route(
            g.clone(),
            "/projects/{id}/keys",
            Section(S::ViewProjects),
            get(integration::keys),
        ),
        route(
            p.clone(),
            "/projects/{id}/secret",
            Section(S::ApiKeys),
            post(integration::regenerate_secret),
        ),
        route(
            p.clone(),
            "/projects/{id}/test-postback",
            Section(S::ApiKeys),
            post(integration::test_postback),
        ),
        route(
            g.clone(),
            "/payments",
            Section(S::ViewPayments),
            get(payments::list),
        ),
        route(
            p.clone(),
            "/payments/columns",
            Section(S::ViewPayments),
            post(payments::save_columns),
        ),
        route(
            g.clone(),
            "/statistics",
            Section(S::ViewPayments),
            get(statistics::show),
        ),
        route(
            g.clone(),
            "/payments/export",
            Section(S::Export),
            get(payments::export),
        ),
        route(
            g.clone(),
            "/balance",
            Section(S::ViewBalance),
            get(balance::show),
        ),
        route(
            g.clone(),
            "/balance/ledger",
            Section(S::ViewBalance),
            get(balance::ledger),
        ),
        route(
            g.clone(),
            "/balance/ledger/export",
            Sections(&[S::ViewBalance, S::Export]),
            get(balance::export),
        ),
        route(
            g.clone(),
            "/balance/withdraw",
            Section(S::Withdraw),
            get(withdraw::form),
        ),
        route(
            p.clone(),
            "/balance/withdraw",
            Section(S::Withdraw),
            post(withdraw::create),
        ),
        route(
            g.clone(),
            "/balance/addresses",
            Section(S::Withdraw),
            get(withdraw::addresses_page),
        ),
        route(
            p.clone(),
            "/balance/addresses",
            Section(S::Withdraw),
            post(withdraw::add_address),
        ),
        route(
            p.clone(),
            "/balance/addresses/{id}/delete",
            Section(S::Withdraw),
            post(withdraw::delete_address),
        ),
        route(
            g.clone(),
            "/balance/rules",
            Section(S::Withdraw),
            get(withdraw_rules::page),
        ),
        route(
            p.clone(),
            "/balance/rules",
            Section(S::Withdraw),
            post(withdraw_rules::save),
        ),
        route(
            p.clone(),
            "/balance/rules/{network}/delete",
            Section(S::Withdraw),
            post(withdraw_rules::delete),
        ),
        route(
            g.clone(),
            "/account/withdrawal-key",
            Section(S::Withdraw),
            get(withdraw::key_page),
        ),
        route(
            p.clone(),
            "/account/withdrawal-key",
            Section(S::Withdraw),
            post(withdraw::make_key),
        ),
        route(
            g.clone(),
            "/projects/{id}/invoices",
            Section(S::ViewPayments),
            get(invoices::list),
        ),
        route(
            g.clone(),
            "/projects/{id}/invoices/new",
            Section(S::CreateInvoices),
            get(invoices::new_form),
        ),
        route(
            p.clone(),
            "/projects/{id}/invoices/new",
            Section(S::CreateInvoices),
            post(invoices::create),
        ),
        route(
            g.clone(),
            "/projects/{id}/wallets",
            Section(S::ViewPayments),
            get(wallets::list),
        ),
        route(
            p.clone(),
            "/projects/{id}/wallets",
            Section(S::CreateInvoices),
            post(wallets::create),
        ),
        route(
            g.clone(),
            "/projects/{id}/wallets/{uuid}",
            Section(S::ViewPayments),
            get(wallets::show),
        ),
        route(
            g.clone(),
            "/projects/{id}/invoices/{uuid}",
            Section(S::ViewPayments),
            get(invoices::show),
        ),
        route(
            p.clone(),
            "/projects/{id}/invoices/{uuid}/cancel",
            Section(S::InvoiceActions),
            post(invoices::cancel),
        ),
        route(
            p.clone(),
            "/projects/{id}/invoices/{uuid}/confirm-partial",
            Section(S::InvoiceActions),
            post(invoices::confirm_partial),
        ),
        route(
            p.clone(),
            "/projects/{id}/invoices/{uuid}/resend-postback",
            Section(S::InvoiceActions),
            post(invoices::resend_postback),
        ),
        route(
            p.clone(),
            "/projects/{id}/invoices/{uuid}/simulate",
            Section(S::InvoiceActions),
            post(invoices::simulate),
        ),
        route(
            p.clone(),
            "/projects/{id}/invoices/{uuid}/send-link",
            Section(S::CreateInvoices),
            post(invoices::send_link),
        ),
    ]
}

/// The dashboard router, with the access check on every route and the context middleware
/// around all of them.
pub fn router(state: AppState) -> Router<AppState> {
    let mut router = Router::new();
    for r in routes() {
        let access = r.access;
        let handler =
            r.handler
                .route_layer(middleware::from_fn(move |req: Request, next: Next| {
                    check_access(access, req, next)
                }));
        router = router.route(r.path, handler);
    }
    router
        .fallback(|| async { WebError::NotFound })
        .layer(middleware::from_fn_with_state(state, context::web_context))
}

/// The one access check every dashboard route goes through.
async fn check_access(access: Access, req: Request, next: Next) -> Response {
    let Some(ctx) = req.extensions().get::<WebCtx>() else {
        return WebError::Internal("web context missing".into()).into_response();
    };
    let to_login = || {
        let next = if req.method() == Method::GET {
            format!("?next={}", urlencode(&ctx.path))
        } else {
            String::new()
        };
        Redirect::to(&format!("/login{next}")).into_response()
    };
    match access {
        Access::Anyone => {}
        Access::Guest => {
            if ctx.signed_in().is_some() {
                return Redirect::to("/dashboard").into_response();
            }
        }
        Access::SecondFactor => {
            if ctx.viewer.as_ref().is_none_or(|v| v.is_active()) {
                return Redirect::to("/login").into_response();
            }
        }
        Access::SignedIn => {
            if ctx.signed_in().is_none() {
                return to_login();
            }
        }
        Access::Section(section) => match ctx.signed_in() {
            None => return to_login(),
            Some(v) if !v.grants.allows(section) => return WebError::Forbidden.into_response(),
            Some(_) => {}
        },
        Access::Sections(sections) => match ctx.signed_in() {
            None => return to_login(),
            Some(v) if !sections.iter().all(|s| v.grants.allows(*s)) => {
                return WebError::Forbidden.into_response();
            }
            Some(_) => {}
        },
    }
    next.run(req).await
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
