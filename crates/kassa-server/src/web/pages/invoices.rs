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
use kassa_core::money::{Amount, AmountError, parse_decimal};
use kassa_core::{Decimal, ProjectId, Timestamp};
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
    self as svc, ActionError, InvoiceError, NewInvoiceRequest, Price, Simulated,
};

/// Invoices per page of the list.
const PAGE_SIZE: i64 = 50;
/// Fiat prices at or above this are refused (as the API does): far above any real invoice,
/// and small enough that conversions cannot overflow.
const MAX_FIAT: i64 = 1_000_000_000_000_000;
/// Characters of a postback answer shown on the invoice page.
const EXCERPT_CHARS: usize = 200;

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

// ---------------------------------------------------------------------------------------------
// Creation

/// The creation form as submitted (kept as typed to show it again).
#[derive(Clone, Debug, Default)]
pub struct NewInput {
    amount: String,
    currency: String,
    order_id: String,
    email: String,
    lifetime: String,
    allowed: Vec<String>,
    description: String,
    send_link: bool,
}

impl NewInput {
    /// Reads the form's pairs (checkboxes repeat a key).
    fn parse(form: FormPairs) -> Self {
        let mut f = NewInput::default();
        for (k, v) in form.0 {
            match k.as_str() {
                "amount" => f.amount = v,
                "currency" => f.currency = v,
                "order_id" => f.order_id = v,
                "email" => f.email = v,
                "lifetime" => f.lifetime = v,
                "allowed" => f.allowed.push(v),
                "description" => f.description = v,
                "send_link" => f.send_link = true,
                _ => {}
            }
        }
        f
    }

    fn allows(&self, code: &str) -> bool {
        self.allowed.iter().any(|c| c == code)
    }
}

#[derive(Template)]
#[template(path = "invoices/new.html")]
struct NewPage<'a> {
    page: &'a Page,
    project: &'a ProjectRow,
    f: &'a NewInput,
    errors: &'a FieldErrors,
    form_error: Option<String>,
    fiats: Vec<&'static str>,
    offered: Vec<&'static Crypto>,
    lifetime_hint: String,
}

fn new_page(
    st: &AppState,
    ctx: &WebCtx,
    project: &ProjectRow,
    f: &NewInput,
    errors: &FieldErrors,
    form_error: Option<&str>,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, "invoices.new.title");
    let form_error = form_error
        .or(project
            .archived_at
            .is_some()
            .then_some("invoices.new.archived"))
        .map(|k| page.t(k).to_owned());
    let lifetime_hint = page.tr.f1(
        "invoices.field.lifetime_hint",
        "minutes",
        &project.settings.invoice_lifetime_minutes,
    );
    Ok(html(
        NewPage {
            page: &page,
            project,
            f,
            errors,
            form_error,
            fiats: currency::FIATS.iter().map(|f| f.code).collect(),
            offered: svc::offered(st, project),
            lifetime_hint,
        }
        .render()?,
    ))
}

/// `GET /projects/{id}/invoices/new`
pub async fn new_form(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let f = NewInput {
        currency: "USD".into(),
        allowed: svc::offered(&st, &project)
            .iter()
            .map(|c| c.code.to_owned())
            .collect(),
        ..NewInput::default()
    };
    new_page(&st, &ctx, &project, &f, &FieldErrors::new(), None)
}

/// Parses the price: the amount exactly, in the chosen currency's precision.
fn parse_price(
    tr: Tr,
    e: &mut FieldErrors,
    input: &NewInput,
    offered: &[&'static Crypto],
) -> Option<Price> {
    let amount = input.amount.trim();
    let code = input.currency.trim();
    if let Some(fiat) = currency::fiat(code) {
        let Some(d) = parse_decimal(amount).filter(|d| *d > Decimal::ZERO) else {
            e.add(tr, "amount", "invoices.form.bad_amount");
            return None;
        };
        if d >= Decimal::from(MAX_FIAT) {
            e.add(tr, "amount", "invoices.form.too_large");
            return None;
        }
        if d.normalize().scale() > fiat.decimals {
            let msg = tr.f1("invoices.form.too_precise", "decimals", &fiat.decimals);
            e.add_text("amount", msg);
            return None;
        }
        let price = svc::fiat_price(fiat, d.normalize());
        if price.is_none() {
            e.add(tr, "amount", "invoices.form.bad_amount");
        }
        price
    } else if let Some(c) = currency::crypto(code) {
        if !offered.iter().any(|o| o.code == c.code) {
            let msg = tr.f1("invoices.form.not_offered", "currency", &c.code);
            e.add_text("currency", msg);
        }
        match Amount::parse(amount, c.decimals) {
            Ok(a) if !a.is_zero() => Some(Price::Crypto(c, a)),
            Err(AmountError::TooPrecise) => {
                let msg = tr.f1("invoices.form.too_precise", "decimals", &c.decimals);
                e.add_text("amount", msg);
                None
            }
            Err(AmountError::TooLarge) => {
                e.add(tr, "amount", "invoices.form.too_large");
                None
            }
            Ok(_) | Err(AmountError::NotANumber | AmountError::Negative) => {
                e.add(tr, "amount", "invoices.form.bad_amount");
                None
            }
        }
    } else {
        e.add(tr, "currency", "invoices.form.bad_currency");
        None
    }
}

/// Validates the creation form into a request, or errors next to the fields.
fn parse_new(
    tr: Tr,
    input: &NewInput,
    offered: &[&'static Crypto],
) -> Result<NewInvoiceRequest, FieldErrors> {
    let mut e = FieldErrors::new();
    let price = parse_price(tr, &mut e, input, offered);
    let order_id = input.order_id.trim();
    if order_id.chars().count() > 200 {
        e.add(tr, "order_id", "invoices.form.order_id_long");
    }
    let description = input.description.trim();
    if description.chars().count() > 1000 {
        e.add(tr, "description", "invoices.form.description_long");
    }
    let email = match input.email.trim() {
        "" => {
            if input.send_link {
                e.add(tr, "email", "invoices.form.email_needed");
            }
            None
        }
        text => match Email::parse(text) {
            Ok(m) => Some(m),
            Err(err) => {
                e.add(tr, "email", email_error_key(err));
                None
            }
        },
    };
    let lifetime = match input.lifetime.trim() {
        "" => None,
        text => {
            let d = text
                .parse::<u64>()
                .ok()
                .and_then(|m| m.checked_mul(60))
                .map(Duration::from_secs)
                .filter(|d| (svc::LIFETIME_RANGE.0..=svc::LIFETIME_RANGE.1).contains(d));
            if d.is_none() {
                e.add(tr, "lifetime", "invoices.form.bad_lifetime");
            }
            d
        }
    };
    let mut allowed = Vec::new();
    for code in &input.allowed {
        match offered.iter().find(|c| c.code == code.as_str()) {
            Some(c) => allowed.push(*c),
            None => e.add(tr, "allowed", "invoices.form.bad_allowed"),
        }
    }
    if matches!(price, Some(Price::Fiat(..))) || currency::fiat(input.currency.trim()).is_some() {
        if offered.is_empty() {
            e.add(tr, "allowed", "invoices.form.none_offered");
        } else if input.allowed.is_empty() {
            e.add(tr, "allowed", "invoices.form.no_allowed");
        }
    }
    let Some(price) = price.filter(|_| e.is_empty()) else {
        return Err(e);
    };
    // Every currency ticked means "the project's", including ones it accepts later.
    if allowed.len() == offered.len() {
        allowed.clear();
    }
    let email = email.map(|m| m.as_str().to_owned());
    Ok(NewInvoiceRequest {
        price,
        order_id: order_id.to_owned(),
        email: email.clone().unwrap_or_default(),
        description: description.to_owned(),
        lifetime,
        allowed,
        preselect: None,
        locale: None,
        send_link_to: email.filter(|_| input.send_link),
        remind_every: None,
    })
}

/// `POST /projects/{id}/invoices/new`
pub async fn create(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<ProjectId>,
    form: FormPairs,
) -> Result<Response, WebError> {
    let project = visible_project(&st, &me, id).await?;
    let tr = Tr::new(ctx.lang);
    let input = NewInput::parse(form);
    if project.archived_at.is_some() {
        return new_page(&st, &ctx, &project, &input, &FieldErrors::new(), None);
    }
    let offered = svc::offered(&st, &project);
    let req = match parse_new(tr, &input, &offered) {
        Ok(r) => r,
        Err(errors) => return new_page(&st, &ctx, &project, &input, &errors, None),
    };
    let mut errors = FieldErrors::new();
    let form_error = match svc::create_as(&st, &project, req, Some(&ctx.actor(&me))).await {
        Ok(row) => return Ok(back(&st, &project, &row, 's', "invoices.flash.created")),
        Err(InvoiceError::Archived) => "invoices.new.archived",
        Err(InvoiceError::CurrencyUnavailable(c) | InvoiceError::CurrencyNotAllowed(c)) => {
            errors.add_text(
                "currency",
                tr.f1("invoices.form.not_offered", "currency", &c),
            );
            "invoices.form.failed"
        }
        Err(InvoiceError::NoRate(_)) => "invoices.form.no_rate",
        Err(InvoiceError::Quote(_)) => {
            errors.add(tr, "amount", "invoices.form.too_large");
            "invoices.form.failed"
        }
        Err(InvoiceError::Lifetime) => {
            errors.add(tr, "lifetime", "invoices.form.bad_lifetime");
            "invoices.form.failed"
        }
        Err(InvoiceError::Transition(_)) => "invoices.form.failed",
        Err(InvoiceError::Service(e)) => return Err(e.into()),
    };
    new_page(&st, &ctx, &project, &input, &errors, Some(form_error))
}

// ---------------------------------------------------------------------------------------------
// The invoice page

/// The locked quote, in words.
struct QuoteView {
    price: String,
    service_fee: String,
    service_side: String,
    transfer_fee: String,
    transfer_side: String,
    due: String,
    tolerance: String,
    received: String,
    processing: String,
    remaining: String,
}

struct TransferView {
    txid: String,
    /// The transaction's page on a public explorer (live transfers on a real chain).
    explorer: Option<String>,
    amount: String,
    confirmations: i64,
    block: String,
    state: String,
    state_code: &'static str,
    seen: String,
    confirmed: String,
}

struct AttemptView {
    at: String,
    url: String,
    status: String,
    ok: bool,
    excerpt: String,
    latency: String,
    error: String,
}

/// What the viewer may do with the invoice now.
#[derive(Default)]
struct Actions {
    cancel: bool,
    confirm_partial: bool,
    resend: bool,
    resend_no_url: bool,
    simulate: bool,
    /// Currencies to choose from first when simulating on an invoice without one.
    simulate_currencies: Vec<&'static Crypto>,
    send_link: bool,
}

impl Actions {
    fn any(&self) -> bool {
        self.cancel
            || self.confirm_partial
            || self.resend
            || self.resend_no_url
            || self.simulate
            || self.send_link
    }
}

#[derive(Template)]
#[template(path = "invoices/show.html")]
struct ShowPage<'a> {
    page: &'a Page,
    project: &'a ProjectRow,
    inv: &'a InvoiceRow,
    status: StatusView,
    confirmed: String,
    chosen: String,
    rate: String,
    rate_locked: String,
    quote: Option<QuoteView>,
    allowed: String,
    language: String,
    expires: String,
    finished: String,
    link: String,
    qr: String,
    transfers: Vec<TransferView>,
    timeline: Vec<(String, String)>,
    attempts: Vec<AttemptView>,
    acts: Actions,
}

fn side_key(s: kassa_core::invoice::Side) -> &'static str {
    match s {
        kassa_core::invoice::Side::Client => "invoices.side.client",
        kassa_core::invoice::Side::Merchant => "invoices.side.merchant",
    }
}

fn quote_view(tr: Tr, row: &InvoiceRow, c: &Crypto) -> Option<QuoteView> {
    let q = row.quote?;
    Some(QuoteView {
        price: crypto_text(q.price, c),
        service_fee: crypto_text(q.service_fee, c),
        service_side: tr.t(side_key(row.service_fee_side)).to_owned(),
        transfer_fee: crypto_text(q.transfer_fee, c),
        transfer_side: tr.t(side_key(row.transfer_fee_side)).to_owned(),
        due: crypto_text(q.due, c),
        tolerance: crypto_text(q.tolerance, c),
        received: crypto_text(row.received, c),
        processing: crypto_text(row.processing, c),
        remaining: crypto_text(q.due.saturating_sub(row.received), c),
    })
}

fn transfer_view(st: &AppState, tr: Tr, t: &TransferRow, c: Option<&Crypto>) -> TransferView {
    let explorer = kassa_core::currency::network(&t.network)
        .filter(|_| !t.test)
        .and_then(|n| {
            let chain = st.chains.get(n).map(|c| c.chain)?;
            kassa_chain::explorer::transaction_url(n, chain, &t.txid)
        });
    let (state, state_code) = match t.state {
        TransferState::Seen => ("invoices.transfer.seen_state", "seen"),
        TransferState::Confirmed => ("invoices.transfer.confirmed_state", "confirmed"),
        TransferState::Orphaned => ("invoices.transfer.orphaned_state", "orphaned"),
    };
    TransferView {
        txid: t.txid.clone(),
        explorer,
        amount: c.map_or_else(|| t.amount.to_string(), |c| crypto_text(t.amount, c)),
        confirmations: t.confirmations,
        block: t.block_height.map_or_else(String::new, |h| h.to_string()),
        state: tr.t(state).to_owned(),
        state_code,
        seen: tr.datetime(t.seen_at),
        confirmed: t
            .confirmed_at
            .map_or_else(String::new, |at| tr.datetime(at)),
    }
}

fn attempt_view(tr: Tr, a: &PostbackAttemptRow) -> AttemptView {
    let mut excerpt: String = a.response_excerpt.chars().take(EXCERPT_CHARS).collect();
    if a.response_excerpt.chars().count() > EXCERPT_CHARS {
        excerpt.push('…');
    }
    AttemptView {
        at: tr.datetime(a.at),
        url: a.url.clone(),
        status: a.http_status.map_or_else(String::new, |s| s.to_string()),
        ok: a.error.is_none(),
        excerpt,
        latency: format!("{} ms", a.latency_ms),
        error: a.error.clone().unwrap_or_default(),
    }
}

/// A string detail of a timeline event.
fn detail(d: &Value, key: &str) -> String {
    match d.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A timeline event as a sentence in the viewer's language.
fn event_text(tr: Tr, kind: &str, d: &Value) -> String {
    let user = detail(d, "user");
    let by = detail(d, "by");
    let who = if !user.is_empty() {
        user.clone()
    } else if by == "api" {
        tr.t("invoices.by.api").to_owned()
    } else if by.is_empty() {
        tr.t("invoices.by.system").to_owned()
    } else {
        by.clone()
    };
    let amount_args = |late_key: &str, key: &str| {
        let k = if d.get("late").and_then(Value::as_bool) == Some(true) {
            late_key
        } else {
            key
        };
        tr.f(
            k,
            &[
                ("amount", &detail(d, "amount")),
                ("currency", &detail(d, "currency")),
                ("txid", &detail(d, "txid")),
            ],
        )
    };
    let status_text = |key: &str| {
        let code = detail(d, key);
        Status::parse(&code).map_or(code, |s| tr.t(status_key(s)).to_owned())
    };
    match kind {
        "created" if d.get("static_wallet").is_some() => tr.f1(
            "invoices.event.created_static",
            "customer",
            &detail(d, "identify"),
        ),
        "created" if !user.is_empty() => tr.f(
            "invoices.event.created_by",
            &[
                ("amount", &detail(d, "price")),
                ("currency", &detail(d, "currency")),
                ("user", &user),
            ],
        ),
        "created" => tr.f(
            "invoices.event.created",
            &[
                ("amount", &detail(d, "price")),
                ("currency", &detail(d, "currency")),
            ],
        ),
        "currency_chosen" => tr.f(
            "invoices.event.currency_chosen",
            &[
                ("currency", &detail(d, "currency")),
                ("amount", &detail(d, "amount")),
                ("address", &detail(d, "address")),
                ("rate", &detail(d, "rate_usd")),
                ("source", &detail(d, "rate_source")),
            ],
        ),
        "payment_seen" => amount_args("invoices.event.payment_seen", "invoices.event.payment_seen"),
        "other_currency_seen" => amount_args(
            "invoices.event.other_currency_seen",
            "invoices.event.other_currency_seen",
        ),
        "payment_dropped" => amount_args(
            "invoices.event.payment_dropped",
            "invoices.event.payment_dropped",
        ),
        "payment_reversed" => amount_args(
            "invoices.event.payment_reversed",
            "invoices.event.payment_reversed",
        ),
        "reversal_shortfall" => amount_args(
            "invoices.event.reversal_shortfall",
            "invoices.event.reversal_shortfall",
        ),
        "other_currency_gone" => amount_args(
            "invoices.event.other_currency_gone",
            "invoices.event.other_currency_gone",
        ),
        "other_currency_confirmed" => amount_args(
            "invoices.event.other_currency_confirmed",
            "invoices.event.other_currency_confirmed",
        ),
        "payment_confirmed" => amount_args(
            "invoices.event.payment_confirmed_late",
            "invoices.event.payment_confirmed",
        ),
        "status_changed" => tr.f(
            "invoices.event.status_changed",
            &[("from", &status_text("from")), ("to", &status_text("to"))],
        ),
        "confirmed" => match Confirmation::parse(&by) {
            Some(Confirmation::Tolerance) => tr.t("invoices.event.confirmed_tolerance").to_owned(),
            Some(Confirmation::Merchant) => tr.t("invoices.event.confirmed_merchant").to_owned(),
            _ => tr.t("invoices.event.confirmed_payment").to_owned(),
        },
        "postback_queued" => tr.f1("invoices.event.postback_queued", "url", &detail(d, "url")),
        "postback_resent" => tr.f1("invoices.event.postback_resent", "user", &who),
        "canceled" | "partial_confirmed" => {
            let (api, by_user, other) = if kind == "canceled" {
                (
                    "invoices.event.canceled_api",
                    "invoices.event.canceled_by",
                    "invoices.event.canceled",
                )
            } else {
                (
                    "invoices.event.partial_confirmed_api",
                    "invoices.event.partial_confirmed_by",
                    "invoices.event.partial_confirmed",
                )
            };
            if !user.is_empty() {
                tr.f1(by_user, "user", &user)
            } else if by == "api" {
                tr.t(api).to_owned()
            } else {
                tr.f1(other, "by", &who)
            }
        }
        "expired" => tr.t("invoices.event.expired").to_owned(),
        "link_sent" if !user.is_empty() => tr.f(
            "invoices.event.link_sent_by",
            &[("to", &detail(d, "to")), ("user", &user)],
        ),
        "link_sent" => tr.f1("invoices.event.link_sent", "to", &detail(d, "to")),
        other => tr.f(
            "invoices.event.other",
            &[("kind", &other), ("details", &super::activity::describe(d))],
        ),
    }
}

fn actions(
    st: &AppState,
    me: &Viewer,
    project: &ProjectRow,
    row: &InvoiceRow,
    now: Timestamp,
) -> Actions {
    let act = me.grants.allows(Section::InvoiceActions);
    let create = me.grants.allows(Section::CreateInvoices);
    let open = row.confirmed.is_none() && matches!(row.status, Status::Created | Status::Partial);
    let has_url = !project.settings.notify_url.trim().is_empty();
    let simulate = act && row.test && open;
    Actions {
        cancel: act
            && row.status == Status::Created
            && row.received.is_zero()
            && row.processing.is_zero(),
        confirm_partial: act && row.status == Status::Partial && row.confirmed.is_none(),
        resend: act && row.confirmed.is_some() && has_url,
        resend_no_url: act && row.confirmed.is_some() && !has_url,
        simulate,
        simulate_currencies: if simulate && row.currency.is_none() {
            svc::allowed_for(st, project, row)
        } else {
            Vec::new()
        },
        send_link: create && svc::waits_for_payment(row, now),
    }
}

/// `GET /projects/{id}/invoices/{uuid}`
pub async fn show(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
) -> Result<Response, WebError> {
    let (project, inv) = visible_invoice(&st, &me, id, &uuid).await?;
    let mut c = st.db.conn().await?;
    let transfers = store::transfers_of(&mut c, inv.id).await?;
    let events = store::events(&mut c, inv.id).await?;
    let attempts = store::postbacks_of(&mut c, inv.id).await?;
    drop(c);
    let page = Page::new(&ctx, "invoices.invoice");
    let tr = page.tr;
    let crypto = crypto_of(&inv);
    let link = format!("{}/pay/{}", st.public_url, inv.uuid);
    let qr = qr::svg(&link, tr.t("invoices.show.qr"));
    let rate = match (crypto, inv.rate_usd) {
        (Some(c), Some(r)) => format!("1 {} = {r} USD", c.symbol),
        _ => String::new(),
    };
    // An empty list is "whatever the project accepts", which may change later.
    let allowed = if inv.allowed_currencies.is_empty() {
        tr.t("invoices.show.all_currencies").to_owned()
    } else {
        svc::allowed_for(&st, &project, &inv)
            .iter()
            .map(|c| c.code)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let body = ShowPage {
        page: &page,
        project: &project,
        inv: &inv,
        status: status_view(tr, &inv),
        confirmed: inv
            .confirmed
            .map_or_else(String::new, |c| tr.t(confirmation_key(c)).to_owned()),
        chosen: crypto.map_or_else(String::new, |c| {
            format!("{} · {} ({})", c.symbol, c.network.fullname, c.code)
        }),
        rate,
        rate_locked: inv
            .rate_locked_at
            .map_or_else(String::new, |t| tr.datetime(t)),
        quote: crypto.and_then(|c| quote_view(tr, &inv, c)),
        allowed,
        language: inv.locale.map_or_else(
            || tr.t("invoices.show.any_language").to_owned(),
            |l| l.native_name().to_owned(),
        ),
        expires: tr.datetime(inv.expires_at),
        finished: inv.finished_at.map_or_else(String::new, |t| tr.datetime(t)),
        link,
        qr,
        transfers: transfers
            .iter()
            .map(|t| transfer_view(&st, tr, t, crypto))
            .collect(),
        timeline: events
            .iter()
            .map(|(kind, d, at)| (tr.datetime(*at), event_text(tr, kind, d)))
            .collect(),
        attempts: attempts.iter().map(|a| attempt_view(tr, a)).collect(),
        acts: actions(&st, &me, &project, &inv, st.clock.now()),
    }
    .render()?;
    Ok(html(body))
}

// ---------------------------------------------------------------------------------------------
// Actions

/// The flash message for an action the invoice services refused; internal failures stay
/// errors.
fn refusal(e: InvoiceError) -> Result<&'static str, WebError> {
    Ok(match e {
        InvoiceError::Transition(t) => match t {
            InvalidTransition::NotCancellable => "invoices.flash.not_cancellable",
            InvalidTransition::NotPartial => "invoices.flash.not_partial",
            InvalidTransition::CurrencyLocked => "invoices.flash.currency_locked",
            InvalidTransition::NoCurrency => "invoices.flash.no_currency",
            InvalidTransition::NothingDue => "invoices.flash.nothing_due",
        },
        InvoiceError::Archived => "invoices.flash.archived",
        InvoiceError::CurrencyUnavailable(_) | InvoiceError::CurrencyNotAllowed(_) => {
            "invoices.flash.currency_unavailable"
        }
        InvoiceError::NoRate(_) => "invoices.flash.no_rate",
        InvoiceError::Quote(_) | InvoiceError::Lifetime => "invoices.flash.refused",
        InvoiceError::Service(s) => return Err(s.into()),
    })
}

fn action_refusal(e: ActionError) -> Result<&'static str, WebError> {
    match e {
        ActionError::NotConfirmed => Ok("invoices.flash.not_confirmed"),
        ActionError::NoNotifyUrl => Ok("invoices.flash.no_notify_url"),
        ActionError::NotPayable => Ok("invoices.flash.not_payable"),
        ActionError::NotTest => Ok("invoices.flash.not_test"),
        ActionError::Invoice(e) => refusal(e),
    }
}

/// `POST /projects/{id}/invoices/{uuid}/cancel`
pub async fn cancel(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
) -> Result<Response, WebError> {
    let (project, row) = visible_invoice(&st, &me, id, &uuid).await?;
    Ok(match svc::cancel_as(&st, row.id, &ctx.actor(&me)).await {
        Ok(_) => back(&st, &project, &row, 's', "invoices.flash.canceled"),
        Err(e) => back(&st, &project, &row, 'e', refusal(e)?),
    })
}

/// `POST /projects/{id}/invoices/{uuid}/confirm-partial`
pub async fn confirm_partial(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
) -> Result<Response, WebError> {
    let (project, row) = visible_invoice(&st, &me, id, &uuid).await?;
    Ok(
        match svc::confirm_partial_as(&st, row.id, &ctx.actor(&me)).await {
            Ok(_) => back(&st, &project, &row, 's', "invoices.flash.partial_confirmed"),
            Err(e) => back(&st, &project, &row, 'e', refusal(e)?),
        },
    )
}

/// `POST /projects/{id}/invoices/{uuid}/resend-postback`
pub async fn resend_postback(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
) -> Result<Response, WebError> {
    let (project, row) = visible_invoice(&st, &me, id, &uuid).await?;
    Ok(
        match svc::resend_postback(&st, row.id, &ctx.actor(&me)).await {
            Ok(()) => back(&st, &project, &row, 's', "invoices.flash.postback_resent"),
            Err(e) => back(&st, &project, &row, 'e', action_refusal(e)?),
        },
    )
}

/// The simulation form.
#[derive(Deserialize, Default)]
pub struct SimulateInput {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    currency: String,
}

/// `POST /projects/{id}/invoices/{uuid}/simulate`: confirms a test invoice without payment
/// (choosing its currency first when the payer has not).
pub async fn simulate(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
    FormData(input): FormData<SimulateInput>,
) -> Result<Response, WebError> {
    let (project, row) = visible_invoice(&st, &me, id, &uuid).await?;
    let Some(outcome) = Simulated::parse(&input.outcome) else {
        return Ok(back(&st, &project, &row, 'e', "invoices.flash.bad_outcome"));
    };
    if !row.test {
        return Ok(back(&st, &project, &row, 'e', "invoices.flash.not_test"));
    }
    let row = match (&row.currency, currency::crypto(&input.currency)) {
        (Some(_), _) => row,
        (None, None) => return Ok(back(&st, &project, &row, 'e', "invoices.flash.no_currency")),
        (None, Some(c)) => match svc::choose_currency(&st, &project, row.id, c).await {
            Ok(chosen) => chosen,
            Err(e) => return Ok(back(&st, &project, &row, 'e', refusal(e)?)),
        },
    };
    Ok(
        match svc::simulate_as(&st, &row, outcome, &ctx.actor(&me)).await {
            Ok(_) => back(&st, &project, &row, 's', "invoices.flash.simulated"),
            Err(e) => back(&st, &project, &row, 'e', action_refusal(e)?),
        },
    )
}

/// The "send by e-mail" form.
#[derive(Deserialize, Default)]
pub struct SendLinkInput {
    #[serde(default)]
    email: String,
}

/// `POST /projects/{id}/invoices/{uuid}/send-link`
pub async fn send_link(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
    FormData(input): FormData<SendLinkInput>,
) -> Result<Response, WebError> {
    let (project, row) = visible_invoice(&st, &me, id, &uuid).await?;
    let Ok(to) = Email::parse(&input.email) else {
        return Ok(back(&st, &project, &row, 'e', "invoices.flash.bad_email"));
    };
    Ok(
        match svc::send_link(&st, &project, row.id, &to, &ctx.actor(&me)).await {
            Ok(()) => back(&st, &project, &row, 's', "invoices.flash.link_sent"),
            Err(e) => back(&st, &project, &row, 'e', action_refusal(e)?),
        },
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use kassa_service::i18n::{Lang, catalog};

    #[test]
    fn every_status_and_event_reads_as_a_sentence() {
        for lang in Lang::ALL {
            let tr = Tr::new(lang);
            for s in STATUSES {
                assert!(catalog(Lang::En).contains_key(status_key(s)), "{s:?}");
            }
            for c in [
                Confirmation::Payment,
                Confirmation::Tolerance,
                Confirmation::Merchant,
            ] {
                assert!(catalog(Lang::En).contains_key(confirmation_key(c)));
            }
            let events = [
                ("created", json!({"price": "15", "currency": "EUR"})),
                (
                    "created",
                    json!({"price": "15", "currency": "EUR", "by": "dashboard", "user": "o@x.example"}),
                ),
                ("created", json!({"static_wallet": "W", "identify": "c1"})),
                (
                    "currency_chosen",
                    json!({"currency": "BTC", "address": "bc1q", "amount": "0.1", "rate_usd": "97000", "rate_source": "fixed"}),
                ),
                (
                    "payment_seen",
                    json!({"txid": "ab", "amount": "1", "currency": "BTC", "late": false}),
                ),
                (
                    "payment_confirmed",
                    json!({"txid": "ab", "amount": "1", "currency": "BTC", "late": true}),
                ),
                (
                    "payment_dropped",
                    json!({"txid": "ef", "amount": "2", "currency": "LTC"}),
                ),
                (
                    "payment_reversed",
                    json!({"txid": "ef", "amount": "2", "currency": "LTC"}),
                ),
                (
                    "reversal_shortfall",
                    json!({"txid": "ef", "amount": "2", "currency": "LTC"}),
                ),
                (
                    "other_currency_gone",
                    json!({"txid": "ef", "amount": "2", "currency": "LTC"}),
                ),
                (
                    "other_currency_seen",
                    json!({"txid": "cd", "amount": "2", "currency": "LTC", "late": false}),
                ),
                (
                    "other_currency_confirmed",
                    json!({"txid": "cd", "amount": "2", "currency": "LTC", "late": false}),
                ),
                (
                    "status_changed",
                    json!({"from": "created", "to": "partial"}),
                ),
                ("confirmed", json!({"by": "merchant"})),
                ("confirmed", json!({"by": "tolerance"})),
                ("confirmed", json!({"by": "payment"})),
                ("postback_queued", json!({"url": "https://x.example/pb"})),
                (
                    "postback_resent",
                    json!({"by": "dashboard", "user": "o@x.example"}),
                ),
                ("canceled", json!({"by": "api"})),
                (
                    "canceled",
                    json!({"by": "dashboard", "user": "o@x.example"}),
                ),
                ("canceled", json!({"by": "test"})),
                ("partial_confirmed", json!({"by": "api"})),
                (
                    "partial_confirmed",
                    json!({"by": "dashboard", "user": "o@x.example"}),
                ),
                ("expired", json!({})),
                ("link_sent", json!({"to": "p@x.example"})),
                (
                    "link_sent",
                    json!({"to": "p@x.example", "by": "dashboard", "user": "o@x.example"}),
                ),
                ("something_new", json!({"a": "b"})),
            ];
            for (kind, d) in events {
                let text = event_text(tr, kind, &d);
                assert!(
                    !text.contains('{') && !text.contains("invoices."),
                    "{}: {kind} reads {text:?}",
                    lang.code()
                );
            }
        }
        let tr = Tr::new(Lang::En);
        assert_eq!(
            event_text(
                tr,
                "status_changed",
                &json!({"from": "created", "to": "paid"})
            ),
            "Status changed from “Waiting for payment” to “Paid”."
        );
        assert_eq!(
            event_text(
                tr,
                "canceled",
                &json!({"by": "dashboard", "user": "o@x.example"})
            ),
            "Cancelled by o@x.example."
        );
    }

    #[test]
    fn invoice_ids_in_paths_are_checked() {
        assert_eq!(normalise_uuid("inv-ab12cd34").as_deref(), Some("AB12CD34"));
        assert_eq!(normalise_uuid("AB12CD34").as_deref(), Some("AB12CD34"));
        assert_eq!(normalise_uuid("AB12CD3"), None);
        assert_eq!(normalise_uuid("AB12CD3%"), None);
    }

    #[test]
    fn the_form_refuses_inexact_amounts() {
        let tr = Tr::new(Lang::En);
        let usdt = currency::crypto("USDT_TRC20")
            .into_iter()
            .collect::<Vec<_>>();
        let form = |amount: &str, code: &str| NewInput {
            amount: amount.into(),
            currency: code.into(),
            allowed: vec!["USDT_TRC20".into()],
            ..NewInput::default()
        };
        for (amount, code) in [
            ("12.345", "USD"),
            ("1.5", "JPY"),
            ("-1", "USD"),
            ("0", "USD"),
            ("1e3", "USD"),
            ("0.0000001", "USDT_TRC20"),
            ("abc", "USDT_TRC20"),
        ] {
            let e = parse_new(tr, &form(amount, code), &usdt).unwrap_err();
            assert!(e.has("amount"), "{amount} {code}");
        }
        let ok = parse_new(tr, &form("12.50", "USD"), &usdt).unwrap();
        assert!(
            matches!(ok.price, Price::Fiat(f, d) if f.code == "USD" && d.to_string() == "12.5")
        );
        assert!(
            ok.allowed.is_empty(),
            "every offered currency ticked means the project's"
        );
        let ok = parse_new(tr, &form("0.000001", "USDT_TRC20"), &usdt).unwrap();
        assert!(
            matches!(ok.price, Price::Crypto(c, a) if c.code == "USDT_TRC20" && a == Amount::from_base(1))
        );
        assert!(
            parse_new(tr, &form("1", "XYZ"), &usdt)
                .unwrap_err()
                .has("currency")
        );
        assert!(
            parse_new(tr, &form("1", "BTC"), &usdt)
                .unwrap_err()
                .has("currency")
        );
    }
}
