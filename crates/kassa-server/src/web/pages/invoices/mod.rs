//! A project's invoices in the dashboard: the list (newest first, by status, 50 a page), the
//! creation form, and the invoice page — every field, the payment link with its QR code, the
//! payments, a timeline in words, the postback attempts — with the actions that apply: cancel,
//! confirm a partial payment, resend the postback, confirm a test invoice without payment and
//! e-mail the link. Each action is one service call in [`kassa_service::invoices`], which writes the
//! activity log in the transaction of the change; a refused action is a flash message.

use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use kassa_core::account::{Email, Section};
use kassa_core::currency::{self, Crypto};
use kassa_core::invoice::{Confirmation, InvalidTransition, Status};
use kassa_core::money::Amount;
use kassa_core::{ProjectId, Timestamp};
use kassa_store::invoices::{
    self as store, InvoiceRow, ListFilter, PostbackAttemptRow, TransferRow, TransferState,
};
use kassa_store::projects::ProjectRow;
use serde::Deserialize;
use serde_json::Value;

use super::projects::visible_project;
use super::{FormData, FormPairs, QueryData};
use crate::state::AppState;
use crate::web::context::{Me, Page, Viewer, WebCtx, html, redirect_with_flash};
use crate::web::errors::WebError;
use crate::web::forms::{FieldErrors, email_error_key};
use crate::web::qr;
use kassa_service::i18n::Tr;
use kassa_service::invoices::{
    self as svc, ActionError, Bound, InvoiceError, NewInvoiceRequest, Price, PriceError, Simulated,
};

mod actions;
mod create;
mod show;
#[cfg(test)]
mod tests;

pub use actions::*;
pub use create::*;
pub use show::*;

/// Invoices per page of the list.
const PAGE_SIZE: i64 = 50;
/// Characters of a postback answer shown on the invoice page.
const EXCERPT_CHARS: usize = 200;

/// An amount bound as the merchant reads it, in their language.
pub(crate) fn bound_text(tr: Tr, b: &Bound) -> String {
    match b {
        Bound::BelowCent { min } => tr.f1("invoices.form.below_cent", "min", min),
        Bound::BelowNetworkMinimum { code, min } => tr.f(
            "invoices.form.below_network_minimum",
            &[("currency", code), ("min", min)],
        ),
        Bound::AboveMaximum { code, max } => tr.f(
            "invoices.form.above_maximum",
            &[("currency", code), ("max", max)],
        ),
    }
}

/// The statuses in the order the filter lists them.
const STATUSES: [Status; 5] = [
    Status::Created,
    Status::Partial,
    Status::Paid,
    Status::Overpaid,
    Status::Canceled,
];

fn status_key(s: Status) -> &'static str {
    match s {
        Status::Created => "invoices.status.created",
        Status::Partial => "invoices.status.partial",
        Status::Paid => "invoices.status.paid",
        Status::Overpaid => "invoices.status.overpaid",
        Status::Canceled => "invoices.status.canceled",
    }
}

fn confirmation_key(c: Confirmation) -> &'static str {
    match c {
        Confirmation::Payment => "invoices.confirmation.payment",
        Confirmation::Tolerance => "invoices.confirmation.tolerance",
        Confirmation::Merchant => "invoices.confirmation.merchant",
    }
}

/// A status as the dashboard shows it: the compatible status and the native detail.
pub struct StatusView {
    /// `created`, `paid`, … (a CSS class).
    pub code: &'static str,
    /// In words.
    pub label: String,
    /// Badges: (CSS class, text) for processing, paid late, test.
    pub badges: Vec<(&'static str, String)>,
}

fn status_view(tr: Tr, row: &InvoiceRow) -> StatusView {
    let mut badges = Vec::new();
    if !row.processing.is_zero() {
        badges.push(("processing", tr.t("invoices.badge.processing").to_owned()));
    }
    if row.paid_late {
        badges.push(("late", tr.t("invoices.badge.paid_late").to_owned()));
    }
    if row.test {
        badges.push(("test", tr.t("invoices.badge.test").to_owned()));
    }
    StatusView {
        code: row.status.as_str(),
        label: tr.t(status_key(row.status)).to_owned(),
        badges,
    }
}

/// The invoice's chosen currency, if any.
fn crypto_of(row: &InvoiceRow) -> Option<&'static Crypto> {
    row.currency.as_deref().and_then(currency::crypto)
}

/// `amount` of `c` as people read it: `12.5 USDT`.
fn crypto_text(a: Amount, c: &Crypto) -> String {
    format!("{} {}", a.to_decimal_string(c.decimals), c.symbol)
}

/// An invoice id from a path: the 8 characters, with or without `INV-`.
fn normalise_uuid(u: &str) -> Option<String> {
    let u = u.trim().to_ascii_uppercase();
    let u = u.strip_prefix("INV-").unwrap_or(&u);
    (u.len() == 8 && u.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| u.to_owned())
}

/// The invoice `uuid` of project `id`, both visible to the viewer; anything else is 404.
async fn visible_invoice(
    st: &AppState,
    me: &Viewer,
    id: ProjectId,
    uuid: &str,
) -> Result<(ProjectRow, InvoiceRow), WebError> {
    let project = visible_project(st, me, id).await?;
    let uuid = normalise_uuid(uuid).ok_or(WebError::NotFound)?;
    let row = store::by_uuid_in_project(&mut st.db.conn().await?, project.id, &uuid)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok((project, row))
}

fn invoice_path(project: &ProjectRow, row: &InvoiceRow) -> String {
    format!("/projects/{}/invoices/{}", project.id, row.uuid)
}

/// Back to the invoice page with a flash message.
fn back(st: &AppState, project: &ProjectRow, row: &InvoiceRow, kind: char, key: &str) -> Response {
    redirect_with_flash(st, &invoice_path(project, row), kind, key)
}

// ---------------------------------------------------------------------------------------------
// The list

/// The list's query string.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
}

struct ListRow {
    uuid: String,
    created: String,
    price: String,
    currency: String,
    status: StatusView,
    order_id: String,
}

#[derive(Template)]
#[template(path = "invoices/list.html")]
struct ListPage<'a> {
    page: &'a Page,
    project: &'a ProjectRow,
    rows: Vec<ListRow>,
    statuses: Vec<(&'static str, String)>,
    status: &'a str,
    summary: String,
    newer: Option<String>,
    older: Option<String>,
}

/// `GET /projects/{id}/invoices`
pub async fn list(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
    QueryData(q): QueryData<ListQuery>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let page = Page::new(&ctx, "invoices.title");
    let tr = page.tr;
    let status = Status::parse(q.status.trim());
    let page_no = q
        .page
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|p| *p >= 1)
        .unwrap_or(1)
        .min(1_000_000);
    let filter = ListFilter {
        status,
        ..ListFilter::default()
    };
    let (rows, total) = store::list(
        &mut st.db.conn().await?,
        project.id,
        &filter,
        (page_no - 1) * PAGE_SIZE,
        PAGE_SIZE,
    )
    .await?;
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let status_code = status.map_or("", Status::as_str);
    let link = |n: i64| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !status_code.is_empty() {
            q.append_pair("status", status_code);
        }
        q.append_pair("page", &n.to_string());
        format!("/projects/{}/invoices?{}", project.id, q.finish())
    };
    let rows = rows
        .iter()
        .map(|r| ListRow {
            uuid: r.uuid.clone(),
            created: tr.datetime(r.created_at),
            price: r.price.to_string(),
            currency: r.currency.clone().unwrap_or_default(),
            status: status_view(tr, r),
            order_id: r.order_id.clone(),
        })
        .collect();
    let statuses = STATUSES
        .iter()
        .map(|s| (s.as_str(), tr.t(status_key(*s)).to_owned()))
        .collect();
    let summary = tr.f(
        "invoices.list.summary",
        &[("total", &total), ("page", &page_no), ("pages", &pages)],
    );
    Ok(html(
        ListPage {
            page: &page,
            project: &project,
            rows,
            statuses,
            status: status_code,
            summary,
            newer: (page_no > 1).then(|| link(page_no - 1)),
            older: (page_no < pages).then(|| link(page_no + 1)),
        }
        .render()?,
    ))
}
