//! The front door and the dashboard home.

use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use kassa_core::account::Section;
use kassa_core::invoice::Status;
use kassa_service::payment_view::{self as view, Extras};
use kassa_store::payment_list::{self, Detail, Mode, PaymentQuery, StatusFilter};

use super::statistics::{overview_of, period_days, turnover_chart, usd_of, usd_text, visible};
use crate::state::AppState;
use crate::web::context::{Me, Page, Viewer, WebCtx, html};
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

/// The money on the home page, for people who may see payments.
struct Money {
    today: String,
    week: String,
    month: String,
    chart: String,
    latest: Vec<Latest>,
    balances: Vec<(String, String, String)>,
    partial: i64,
    expiring: i64,
    /// Invoices whose latest postback failed (the newest few) and how many in all.
    postbacks: Vec<Latest>,
    postbacks_failing: i64,
}

/// A recent invoice.
struct Latest {
    href: String,
    id: String,
    when: String,
    price: String,
    status: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    page: &'a Page,
    greeting: String,
    email_confirmed: bool,
    two_factor: bool,
    money: Option<Money>,
}

/// Turnover today / 7 / 30 days with the 30-day chart, the latest live payments, balances and
/// what needs attention: partial payments waiting for a decision, invoices about to expire,
/// postbacks failing (the latest delivery of the last 7 days not accepted by the shop).
async fn money(st: &AppState, page: &Page, me: &Viewer) -> Result<Money, WebError> {
    let tr = page.tr;
    let now = st.clock.now();
    let (projects, all_visible) = visible(st, me).await?;
    let month = overview_of(
        st,
        me,
        &projects,
        all_visible,
        None,
        Mode::Live,
        period_days(now, 30),
    )
    .await?;
    let since = |days: usize| {
        let n = month.days.len();
        month.days[n.saturating_sub(days)..]
            .iter()
            .fold(kassa_core::Decimal::ZERO, |acc, (_, l)| acc + l.turnover)
    };
    let mut q = PaymentQuery::of(me.user.merchant_id);
    if !all_visible {
        q.projects = Some(projects.iter().map(|p| p.id).collect());
    }
    let mut c = st.db.conn().await?;
    let (rows, _) = payment_list::page(&mut c, &q, None, 5, Detail::Plain).await?;
    let extras = Extras::of(&projects);
    let latest = rows
        .iter()
        .map(|r| Latest {
            href: format!("/projects/{}/invoices/{}", r.project_id, r.uuid),
            id: format!("INV-{}", r.uuid),
            when: tr.datetime(r.created_at),
            price: view::cell(view::Column::Price, r, &extras),
            status: tr
                .t(&format!("payments.status.{}", view::status_key(r)))
                .to_owned(),
        })
        .collect();
    let partial = payment_list::count(
        &mut c,
        &PaymentQuery {
            status: Some(StatusFilter::Is(Status::Partial)),
            ..q.clone()
        },
    )
    .await?;
    let expiring = payment_list::expiring(
        &mut c,
        &q,
        now,
        now.saturating_add(Duration::from_secs(3600)),
    )
    .await?;
    let (failing, postbacks_failing) = kassa_store::postbacks::failing(
        &mut c,
        me.user.merchant_id,
        q.projects.as_deref(),
        now.saturating_sub(Duration::from_secs(7 * 86_400)),
        5,
    )
    .await?;
    drop(c);
    let postbacks = failing
        .iter()
        .map(|f| Latest {
            href: format!("/projects/{}/invoices/{}#postbacks", f.project_id, f.uuid),
            id: format!("INV-{}", f.uuid),
            when: tr.datetime(f.at),
            price: match f.http_status {
                Some(code) => format!("HTTP {code}"),
                None => tr.t("dashboard.postback_no_answer").to_owned(),
            },
            status: tr.f1("dashboard.postback_attempt", "count", &f.attempt),
        })
        .collect();
    let balances = if me.grants.allows(Section::ViewBalance) {
        kassa_service::read::balances(st, me.user.merchant_id)
            .await?
            .into_iter()
            .filter(|b| !b.total.is_zero())
            .map(|b| {
                let usd = usd_of(b.total, b.crypto, b.rate_usd);
                (
                    b.crypto.code.to_owned(),
                    b.total.to_decimal_string(b.crypto.decimals),
                    usd,
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Money {
        today: usd_text(since(1)),
        week: usd_text(since(7)),
        month: usd_text(month.total.turnover),
        chart: turnover_chart(tr, &month, true),
        latest,
        balances,
        partial,
        expiring,
        postbacks,
        postbacks_failing,
    })
}

/// `GET /dashboard`
pub async fn dashboard(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
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
        money: if me.grants.allows(Section::ViewPayments) {
            Some(money(&st, &page, &me).await?)
        } else {
            None
        },
    }
    .render()?;
    Ok(html(body))
}
