//! The CryptoCloud v2 (and legacy v1) compatible endpoints. Error texts and envelopes follow
//! the contract (`../shared/spec/cryptocloud-api-v2.md`); input is read leniently
//! ([`super::input`]).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use kassa_core::Timestamp;
use kassa_core::account::Email;
use kassa_core::currency::{self, Crypto};
use kassa_core::invoice::Status;
use kassa_store::invoices::{self, ListFilter};
use kassa_store::projects::ProjectRow;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::{Date, Month, OffsetDateTime, Time};

use super::input::{self, ApiQuery, Body, object, text};
use super::{ApiError, ApiProject, V1Project};
use crate::state::AppState;
use kassa_service::i18n::Lang;
use kassa_service::invoices::{InvoiceError, NewInvoiceRequest, Price, PriceError};
use kassa_service::{objects, read};

type ApiResult = Result<Json<Value>, ApiError>;

fn success(result: Value) -> ApiResult {
    Ok(Json(json!({"status": "success", "result": result})))
}

/// `?locale=`
#[derive(Deserialize, Default)]
pub struct LocaleQuery {
    #[serde(default)]
    locale: Option<String>,
}

fn required(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    text(body, key)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field(key, format!("{key} not passed.")))
}

fn check_shop(body: &Map<String, Value>, p: &ProjectRow) -> Result<(), ApiError> {
    let shop = required(body, "shop_id")?;
    if shop != p.shop_id {
        return Err(ApiError::field("shop_id", "Shop not found."));
    }
    Ok(())
}

fn fiat_list() -> String {
    currency::FIATS
        .iter()
        .map(|f| f.code)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A crypto code of the catalogue, refusing retired and unknown ones.
fn crypto_code(field: &str, code: &str) -> Result<&'static Crypto, ApiError> {
    let code = code.trim();
    if currency::RETIRED
        .iter()
        .any(|r| r.eq_ignore_ascii_case(code))
    {
        return Err(ApiError::field(
            field,
            format!(
                "Currency {} is no longer supported.",
                code.to_ascii_uppercase()
            ),
        ));
    }
    currency::crypto(code)
        .ok_or_else(|| ApiError::field(field, format!("Unsupported currency: {code}.")))
}

/// An invoice id as stored: upper case, without `INV-`.
pub(super) fn normalise_uuid(u: &str) -> String {
    let u = u.trim().to_ascii_uppercase();
    u.strip_prefix("INV-").map_or(u.clone(), str::to_owned)
}

fn invoice_error(e: InvoiceError) -> ApiError {
    match e {
        InvoiceError::Archived => ApiError::field("shop_id", "The shop is archived."),
        InvoiceError::CurrencyUnavailable(c) | InvoiceError::CurrencyNotAllowed(c) => {
            ApiError::field(
                "cryptocurrency",
                format!("Currency {c} is not available for this shop."),
            )
        }
        InvoiceError::NoRate(a) => ApiError::field(
            "currency",
            format!("The exchange rate for {a} is temporarily unavailable. Try again later."),
        ),
        InvoiceError::Bound(b) => ApiError::field("amount", format!("Invalid value amount: {b}.")),
        InvoiceError::Quote(_) => ApiError::field("amount", "Invalid value amount."),
        InvoiceError::Lifetime => ApiError::field(
            "time_to_pay",
            "The lifetime must be between 1 minute and 31 days.",
        ),
        InvoiceError::Transition(t) => ApiError::field("validate_error", t.to_string()),
        InvoiceError::Service(s) => ApiError::Internal(s.to_string()),
    }
}

fn whole(v: Option<String>, field: &str) -> Result<u64, ApiError> {
    match v {
        None => Ok(0),
        Some(s) if s.trim().is_empty() => Ok(0),
        Some(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| ApiError::field(field, "Must be a whole number of hours and minutes.")),
    }
}

struct AddFields {
    lifetime: Option<Duration>,
    send_to: Option<String>,
    allowed: Vec<&'static Crypto>,
    preselect: Option<&'static Crypto>,
    period: Option<Duration>,
}

fn add_fields(body: &Map<String, Value>) -> Result<AddFields, ApiError> {
    let mut out = AddFields {
        lifetime: None,
        send_to: None,
        allowed: Vec::new(),
        preselect: None,
        period: None,
    };
    let Some(add) = object(body, "add_fields") else {
        return Ok(out);
    };
    if let Some(t) = object(add, "time_to_pay") {
        let hours = whole(text(t, "hours"), "time_to_pay")?;
        let minutes = whole(text(t, "minutes"), "time_to_pay")?;
        let secs = hours
            .checked_mul(3600)
            .and_then(|h| h.checked_add(minutes.checked_mul(60)?))
            .ok_or_else(|| ApiError::field("time_to_pay", "Too long."))?;
        let d = Duration::from_secs(secs);
        if d < kassa_service::invoices::LIFETIME_RANGE.0
            || d > kassa_service::invoices::LIFETIME_RANGE.1
        {
            return Err(ApiError::field(
                "time_to_pay",
                "The lifetime must be between 1 minute and 31 days.",
            ));
        }
        out.lifetime = Some(d);
    }
    if let Some(to) = text(add, "email_to_send").filter(|s| !s.trim().is_empty()) {
        let e = Email::parse(&to)
            .map_err(|_| ApiError::field("email_to_send", "Enter a valid email address."))?;
        out.send_to = Some(e.as_str().to_owned());
    }
    if let Some(codes) = input::list(add, "available_currencies") {
        for c in codes.iter().filter(|c| !c.is_empty()) {
            out.allowed.push(crypto_code("available_currencies", c)?);
        }
    }
    if let Some(c) = text(add, "cryptocurrency").filter(|s| !s.trim().is_empty()) {
        let c = crypto_code("cryptocurrency", &c)?;
        if !out.allowed.is_empty() && !out.allowed.iter().any(|a| a.code == c.code) {
            return Err(ApiError::field(
                "cryptocurrency",
                format!("Currency {} is not among available_currencies.", c.code),
            ));
        }
        out.preselect = Some(c);
    }
    if let Some(p) = text(add, "period").filter(|s| !s.trim().is_empty()) {
        out.period = Some(match p.trim() {
            "day" => Duration::from_secs(86_400),
            "week" => Duration::from_secs(7 * 86_400),
            "month" => Duration::from_secs(30 * 86_400),
            _ => return Err(ApiError::field("period", "Use day, week or month.")),
        });
        if out.send_to.is_none() {
            return Err(ApiError::field("period", "period needs email_to_send."));
        }
    }
    Ok(out)
}

/// Refuses an invoice nobody could pay: when the project offers no cryptocurrency at all (a
/// live project while no network takes live payments), the invoice would have no currency.
/// Invoices that name their currencies are checked one by one when created, and an archived
/// project is refused as such when creating.
fn check_payable(st: &AppState, p: &ProjectRow) -> Result<(), ApiError> {
    if p.archived_at.is_none() && kassa_service::invoices::offered(st, p).is_empty() {
        return Err(ApiError::field(
            "shop_id",
            "No cryptocurrency is available for this shop yet.",
        ));
    }
    Ok(())
}

/// Reads amount, currency, order id and e-mail shared by v2 and v1 creation.
fn price_fields(
    b: &Map<String, Value>,
) -> Result<(kassa_service::invoices::Price, String, String), ApiError> {
    let amount_text = required(b, "amount")?;
    let code = text(b, "currency")
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "USD".into());
    let fiat = currency::fiat(&code).ok_or_else(|| {
        ApiError::field(
            "currency",
            format!(
                "Invalid account currency specified. Available currencies: {}",
                fiat_list()
            ),
        )
    })?;
    // A JSON number keeps the digits the client wrote, so a number and a string of the same
    // value meet the same bounds.
    let price = Price::fiat(fiat, &amount_text).map_err(|e| match e {
        PriceError::NotANumber => ApiError::field("amount", "Invalid value amount."),
        e => ApiError::field("amount", format!("Invalid value amount: {e}.")),
    })?;
    let order_id = text(b, "order_id").unwrap_or_default();
    if order_id.chars().count() > 200 {
        return Err(ApiError::field(
            "order_id",
            "Ensure this field has no more than 200 characters.",
        ));
    }
    let email = match text(b, "email").unwrap_or_default().trim() {
        "" => String::new(),
        given => Email::parse(given)
            .map_err(|_| ApiError::field("email", "Enter a valid email address."))?
            .as_str()
            .to_owned(),
    };
    Ok((price, order_id, email))
}

/// `POST /v2/invoice/create`
pub async fn create(
    State(st): State<AppState>,
    ApiProject(p): ApiProject,
    ApiQuery(q): ApiQuery<LocaleQuery>,
    Body(b): Body,
) -> ApiResult {
    check_shop(&b, &p)?;
    let (price, order_id, email) = price_fields(&b)?;
    let add = add_fields(&b)?;
    if add.preselect.is_none() && add.allowed.is_empty() {
        check_payable(&st, &p)?;
    }
    // No locale: the payer's browser decides on the page; an unknown one: English.
    let locale = q
        .locale
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| Lang::parse(l).unwrap_or(Lang::En));
    let req = NewInvoiceRequest {
        price,
        order_id,
        email,
        description: String::new(),
        lifetime: add.lifetime,
        allowed: add.allowed,
        preselect: add.preselect,
        locale,
        send_link_to: add.send_to,
        remind_every: add.period,
    };
    let row = kassa_service::invoices::create(&st, &p, req)
        .await
        .map_err(invoice_error)?;
    success(objects::created(&st, &p, &row))
}

/// `POST /v2/invoice/merchant/canceled`
pub async fn cancel(
    State(st): State<AppState>,
    ApiProject(p): ApiProject,
    Body(b): Body,
) -> ApiResult {
    let uuid = text(&b, "uuid")
        .map(|u| normalise_uuid(&u))
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::field("validate_error", "uuid is required"))?;
    let mut c = st.db.conn().await?;
    let row = invoices::by_uuid_in_project(&mut c, p.id, &uuid)
        .await?
        .ok_or_else(|| ApiError::field("validate_error", "Invoice not found"))?;
    drop(c);
    if row.status != Status::Created {
        return Err(ApiError::field("validate_error", "Invoice is not created"));
    }
    match kassa_service::invoices::cancel(&st, row.id, "api").await {
        Ok(_) => success(json!(["ok"])),
        Err(InvoiceError::Transition(_)) => {
            Err(ApiError::field("validate_error", "Invoice is not created"))
        }
        Err(e) => Err(invoice_error(e)),
    }
}

/// `dd.mm.yyyy` as the start of that UTC day.
fn parse_day(field: &str, body: &Map<String, Value>) -> Result<Timestamp, ApiError> {
    let s = required(body, field)?;
    let bad = || ApiError::field(field, "Invalid date format. Use dd.mm.yyyy.");
    let mut parts = s.split('.');
    let (d, m, y) = (
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
    );
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|c| c.is_ascii_digit());
    if parts.next().is_some() || !digits(d, 2) || !digits(m, 2) || !digits(y, 4) {
        return Err(bad());
    }
    let date = Date::from_calendar_date(
        y.parse().map_err(|_| bad())?,
        Month::try_from(m.parse::<u8>().map_err(|_| bad())?).map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    )
    .map_err(|_| bad())?;
    Ok(Timestamp::from_datetime(OffsetDateTime::new_utc(
        date,
        Time::MIDNIGHT,
    )))
}

/// `[start, end]` inclusive days as `[from, until)`.
fn period(body: &Map<String, Value>) -> Result<(Timestamp, Timestamp), ApiError> {
    let from = parse_day("start", body)?;
    let end = parse_day("end", body)?;
    if end < from {
        return Err(ApiError::field(
            "end",
            "end must not be earlier than start.",
        ));
    }
    Ok((from, end.saturating_add(Duration::from_secs(86_400))))
}

/// `POST /v2/invoice/merchant/list`
pub async fn list(
    State(st): State<AppState>,
    ApiProject(p): ApiProject,
    Body(b): Body,
) -> Result<Json<Value>, ApiError> {
    let (from, until) = period(&b)?;
    let offset = match text(&b, "offset").filter(|s| !s.trim().is_empty()) {
        None => 0,
        Some(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(|| ApiError::field("offset", "Must be a whole number, 0 or more."))?,
    };
    let limit = match text(&b, "limit").filter(|s| !s.trim().is_empty()) {
        None => 10,
        Some(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| ApiError::field("limit", "Must be between 1 and 100."))?,
    };
    let status = match text(&b, "status").filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(s) => Some(
            Status::parse(s.trim()).ok_or_else(|| ApiError::field("status", "Invalid status."))?,
        ),
    };
    let currency = match text(&b, "currency").filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(c) => Some(crypto_code("currency", &c)?.code.to_owned()),
    };
    let filter = ListFilter {
        from: Some(from),
        until: Some(until),
        status,
        currency,
        static_wallet: None,
    };
    let (page, total) = read::invoice_page(&st, p.id, &filter, offset, limit).await?;
    let result: Vec<Value> = page
        .iter()
        .map(|(row, txs)| objects::invoice(&st, &p, row, txs))
        .collect();
    Ok(Json(
        json!({"status": "success", "result": result, "all_count": total}),
    ))
}

/// `POST /v2/invoice/merchant/info`
pub async fn info(
    State(st): State<AppState>,
    ApiProject(p): ApiProject,
    Body(b): Body,
) -> ApiResult {
    let uuids = input::list(&b, "uuids").unwrap_or_default();
    let uuids: Vec<String> = uuids
        .iter()
        .map(|u| normalise_uuid(u))
        .filter(|u| !u.is_empty())
        .collect();
    if uuids.is_empty() {
        return Err(ApiError::field("validate_error", "uuids is required"));
    }
    if uuids.len() > 100 {
        return Err(ApiError::field("validate_error", "Max 100 uuids"));
    }
    let mut result = Vec::new();
    for u in &uuids {
        let row = invoices::by_uuid_in_project(&mut st.db.conn().await?, p.id, u).await?;
        if let Some(row) = row {
            result.push(objects::invoice(
                &st,
                &p,
                &row,
                &read::tx_list(&st, &row).await?,
            ));
        }
    }
    success(Value::Array(result))
}

/// `POST /v2/invoice/merchant/statistics` (also `/v2/merchant/statistics`)
pub async fn statistics(
    State(st): State<AppState>,
    ApiProject(p): ApiProject,
    Body(b): Body,
) -> ApiResult {
    let (from, until) = period(&b)?;
    let stats = read::statistics(&st, p.merchant_id, p.id, from, until).await?;
    let count: Map<String, Value> = stats
        .count
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let amount: Map<String, Value> = stats
        .amount
        .into_iter()
        .map(|(k, v)| (k.to_owned(), objects::number(v)))
        .collect();
    success(json!({"count": count, "amount": amount}))
}

/// `POST /v2/merchant/wallet/balance/all`
pub async fn balance(State(st): State<AppState>, ApiProject(p): ApiProject) -> ApiResult {
    let result: Vec<Value> = read::balances(&st, p.merchant_id)
        .await?
        .into_iter()
        .map(|b| {
            let c = b.crypto;
            json!({
                "currency": objects::balance_currency(&st, c, b.live),
                "balance_crypto": objects::crypto_number(b.total, c),
                "balance_usd": objects::usd_number(b.total, c, b.rate_usd),
                "available_balance": objects::crypto_number(b.available, c),
                "available_balance_usd": objects::usd_number(b.available, c, b.rate_usd),
            })
        })
        .collect();
    success(Value::Array(result))
}

/// `POST /v2/invoice/static/create`
pub async fn static_create(
    State(st): State<AppState>,
    ApiProject(p): ApiProject,
    Body(b): Body,
) -> ApiResult {
    check_shop(&b, &p)?;
    let code = required(&b, "currency")?;
    let crypto = crypto_code("currency", &code)?;
    let identify = required(&b, "identify")?;
    if identify.chars().count() > 200 {
        return Err(ApiError::field(
            "identify",
            "Ensure this field has no more than 200 characters.",
        ));
    }
    let w = kassa_service::invoices::static_wallet(&st, &p, crypto, &identify)
        .await
        .map_err(|e| match e {
            InvoiceError::CurrencyUnavailable(c) => ApiError::field(
                "currency",
                format!("Currency {c} is not available for this shop."),
            ),
            other => invoice_error(other),
        })?;
    success(
        json!({"currency": objects::balance_currency(&st, crypto, true), "address": w.address, "uuid": w.uuid}),
    )
}

/// `POST /v1/invoice/create`
pub async fn v1_create(
    State(st): State<AppState>,
    V1Project(p): V1Project,
    Body(b): Body,
) -> Result<Json<Value>, ApiError> {
    check_shop(&b, &p)?;
    let (price, order_id, email) = price_fields(&b)?;
    check_payable(&st, &p)?;
    let code = match price {
        kassa_service::invoices::Price::Fiat(f, _) => f.code,
        kassa_service::invoices::Price::Crypto(c, _) => c.code,
    };
    let req = NewInvoiceRequest {
        order_id,
        email,
        ..NewInvoiceRequest::priced(price)
    };
    let row = kassa_service::invoices::create(&st, &p, req)
        .await
        .map_err(invoice_error)?;
    Ok(Json(
        json!({"status": "success", "pay_url": objects::link(&st, &row.uuid), "currency": code, "invoice_id": row.uuid}),
    ))
}

/// `?uuid=` of v1 info.
#[derive(Deserialize, Default)]
pub struct V1InfoQuery {
    #[serde(default)]
    uuid: String,
}

/// `GET /v1/invoice/info`
pub async fn v1_info(
    State(st): State<AppState>,
    V1Project(p): V1Project,
    ApiQuery(q): ApiQuery<V1InfoQuery>,
) -> Result<Json<Value>, ApiError> {
    let uuid = normalise_uuid(&q.uuid);
    if uuid.is_empty() {
        return Err(ApiError::field("uuid", "uuid not passed."));
    }
    let row = invoices::by_uuid_in_project(&mut st.db.conn().await?, p.id, &uuid)
        .await?
        .ok_or(ApiError::NotFound)?;
    let status = match row.status {
        Status::Overpaid => "paid",
        s => s.as_str(),
    };
    Ok(Json(json!({"status": "success", "status_invoice": status})))
}
