//! The hosted payment page, `/pay/<id>`: what every payer sees.
//!
//! It lives outside the dashboard's session and CSRF machinery: payers have no account, and
//! the page must work inside an iframe on the merchant's own site, where the browser withholds
//! Kassa's cookies. The invoice id in the URL is the capability (whoever has the link may pay);
//! forms are refused when the browser says they came from another site (`Origin`,
//! `Sec-Fetch-Site`), and picking currencies is rate-limited because each pick derives an
//! address.
//!
//! Rendering happens once, on the server, for every state: choose a currency → pay (address,
//! exact amount, QR code, countdown, live status) → paid / expired / cancelled. Without
//! JavaScript everything works except the live refresh, which becomes a "refresh status"
//! link. With it, `pay.js` polls [`status`] every second and, when the fingerprint changes,
//! swaps in the freshly rendered page.
//!
//! Nothing on the page comes from another host: styles, script, icons and logo are Kassa's.

mod live;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine as _;
use kassa_core::Timestamp;
use kassa_core::account::Email;
use kassa_core::currency;
use kassa_core::invoice::{Price, Status};
use kassa_core::money::Amount;
use kassa_store::invoices::{self as store, InvoiceRow, TransferRow};
use kassa_store::projects::{self, ProjectRow};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::http::ClientAddr;
use crate::http::input::{CheckedForm, CheckedQuery};
use crate::state::AppState;
use crate::web::assets;
use crate::web::qr;
use kassa_service::auth::limits::{self, Limit};
use kassa_service::i18n::{Lang, Tr};
use kassa_service::invoices::{self, Bound, InvoiceError, Simulated};
use live::{confirmations_needed, confirming, fingerprint};
use std::fmt::Write as _;

/// How often the page asks for news (the live status must change within 2 s of a payment).
pub const POLL_MS: u32 = 1000;

/// Currency picks per invoice per hour (each derives a deposit address).
const PICKS_PER_INVOICE: Limit = Limit {
    name: "pay-pick-invoice",
    max: 20,
    window: std::time::Duration::from_secs(3600),
};
/// Payment-page form posts per address per ten minutes.
const POSTS_PER_IP: Limit = Limit {
    name: "pay-post-ip",
    max: 120,
    window: std::time::Duration::from_secs(600),
};

/// The payment page's routes (no session, no dashboard CSRF; see the module docs).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/pay/{id}", get(page).post(submit))
        .route("/pay/{id}/simulate", post(simulate))
        .route("/pay/{id}/status", get(status))
}

/// Why a request to the payment page failed.
enum PayError {
    /// No such invoice.
    NotFound,
    /// A form from another site.
    CrossSite,
    /// Too many requests.
    Limited(std::time::Duration),
    /// A form that makes no sense (a tampered post).
    BadRequest,
    /// No fresh exchange rate for the chosen currency right now (a rate source is down).
    RatesUnavailable,
    /// The database or another internal failure (logged, never shown).
    Internal(String),
}

impl From<kassa_store::StoreError> for PayError {
    fn from(e: kassa_store::StoreError) -> Self {
        PayError::Internal(e.to_string())
    }
}

impl From<askama::Error> for PayError {
    fn from(e: askama::Error) -> Self {
        PayError::Internal(e.to_string())
    }
}

#[derive(Template)]
#[template(path = "pay/message.html")]
struct MessagePage<'a> {
    tr: Tr,
    title: &'a str,
    text: &'a str,
    assets: &'static str,
}

impl PayError {
    fn respond(self, lang: Lang) -> Response {
        let tr = Tr::new(lang);
        let (status, title, text) = match &self {
            PayError::NotFound => (
                StatusCode::NOT_FOUND,
                "pay.missing.title",
                "pay.missing.text",
            ),
            PayError::CrossSite => (
                StatusCode::FORBIDDEN,
                "pay.cross_site.title",
                "pay.cross_site.text",
            ),
            PayError::Limited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "pay.limited.title",
                "pay.limited.text",
            ),
            PayError::BadRequest => (
                StatusCode::BAD_REQUEST,
                "pay.bad_request.title",
                "pay.bad_request.text",
            ),
            PayError::RatesUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "pay.rates.title",
                "pay.rates.text",
            ),
            PayError::Internal(e) => {
                tracing::error!(error = %e, "payment page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "pay.internal.title",
                    "pay.internal.text",
                )
            }
        };
        let body = MessagePage {
            tr,
            title: tr.t(title),
            text: tr.t(text),
            assets: assets::version(),
        }
        .render()
        .unwrap_or_else(|_| tr.t(text).to_owned());
        let mut r = (status, body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        if let PayError::Limited(after) = self
            && let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        page_headers(h, "'none'", None);
        r
    }
}

/// `?lang=` and `?change=` on page URLs.
#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    change: Option<String>,
}

/// The currency-choice form.
#[derive(Deserialize, Default)]
pub struct ChoiceForm {
    #[serde(default)]
    currency: String,
    #[serde(default)]
    email: String,
}

/// The test panel's form.
#[derive(Deserialize, Default)]
pub struct SimulateForm {
    #[serde(default)]
    outcome: String,
}

/// The invoice of a page URL (`ABCD1234` or `INV-ABCD1234`) and its project.
async fn load(st: &AppState, id: &str) -> Result<(InvoiceRow, ProjectRow), PayError> {
    let uuid = id.strip_prefix("INV-").unwrap_or(id);
    let well_formed = uuid.len() == 8
        && uuid
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !well_formed {
        return Err(PayError::NotFound);
    }
    let mut c = st.db.conn().await?;
    let Some(row) = store::by_uuid(&mut c, uuid).await? else {
        return Err(PayError::NotFound);
    };
    let project = projects::by_id(&mut c, row.project_id).await?;
    Ok((row, project))
}

/// The page language: `?lang=`, else the invoice's `locale`, else the browser's, else the
/// project's default.
fn choose_lang(
    q: Option<&str>,
    row: Option<&InvoiceRow>,
    headers: &HeaderMap,
    project: Option<&ProjectRow>,
) -> Lang {
    q.and_then(Lang::parse)
        .or_else(|| row.and_then(|r| r.locale))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .or_else(|| project.map(invoices::project_lang))
        .unwrap_or(Lang::En)
}

/// What the payer is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Choose a currency (and give an e-mail).
    Choose,
    /// Send the money.
    Pay,
    /// Paid (or the merchant accepted what arrived).
    Paid,
    /// Expired before being paid.
    Expired,
    /// Cancelled by the merchant.
    Canceled,
}

impl Phase {
    /// `email_needed`: the project requires the payer's e-mail and the invoice has none yet
    /// (asked for even when the currency was preset).
    fn of(row: &InvoiceRow, now: Timestamp, change: bool, email_needed: bool) -> Phase {
        if row.confirmed.is_some() {
            return Phase::Paid;
        }
        let expired = now >= row.expires_at;
        match row.status {
            Status::Canceled if expired => Phase::Expired,
            Status::Canceled => Phase::Canceled,
            _ if expired => Phase::Expired,
            _ if row.currency.is_none() => Phase::Choose,
            Status::Created
                if email_needed && row.received.is_zero() && row.processing.is_zero() =>
            {
                Phase::Choose
            }
            Status::Created if change && row.received.is_zero() && row.processing.is_zero() => {
                Phase::Choose
            }
            _ => Phase::Pay,
        }
    }

    fn is_final(self) -> bool {
        matches!(self, Phase::Paid | Phase::Expired | Phase::Canceled)
    }
}

fn email_needed(project: &ProjectRow, row: &InvoiceRow) -> bool {
    project.settings.email_required && row.email.is_empty()
}

/// One currency the payer may pick.
pub struct Choice {
    /// Full code (`USDT_TRC20`).
    pub code: &'static str,
    /// Symbol (`USDT`).
    pub symbol: &'static str,
    /// Name (`Tether`).
    pub name: &'static str,
    /// Network name (`Tron`).
    pub network: &'static str,
    /// Network code (`TRC20`).
    pub network_code: &'static str,
    /// Coin icon path.
    pub icon: String,
    /// Whether it is the currently selected one.
    pub selected: bool,
}

/// A stablecoin, coin or token amount, written without trailing zeros.
pub fn plain(amount: Amount, decimals: u32) -> String {
    let s = amount.to_decimal_string(decimals);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The price as the merchant set it: fiat with at least two decimals (`25.00 USD`), crypto
/// without trailing zeros (`0.5 BTC`).
fn price_text(row: &InvoiceRow) -> String {
    match row.price {
        // The payer reads the symbol (`USDT`), not the network code.
        Price::Crypto(c, a) => format!("{} {}", plain(a, c.decimals), c.symbol),
        Price::Fiat(..) => row.price.to_string(),
    }
}

/// Appends `invoice_uuid` and `order_id` to a merchant's return URL.
pub fn return_url(base: &str, row: &InvoiceRow) -> Option<String> {
    let base = base.trim();
    if base.is_empty() {
        return None;
    }
    let (head, fragment) = match base.split_once('#') {
        Some((h, f)) => (h, Some(f)),
        None => (base, None),
    };
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("invoice_uuid", &format!("INV-{}", row.uuid));
    if !row.order_id.is_empty() {
        q.append_pair("order_id", &row.order_id);
    }
    let sep = if head.contains('?') { '&' } else { '?' };
    let mut url = format!("{head}{sep}{}", q.finish());
    if let Some(f) = fragment {
        let _ = write!(url, "#{f}");
    }
    Some(url)
}

/// The `scheme://host[:port]` of a URL, for `frame-ancestors`; `None` unless it is a plain
/// http(s) origin.
fn site_origin(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    let ok = !host.is_empty()
        && !host.contains('@')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    ok.then(|| format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// The page.
#[derive(Template)]
#[template(path = "pay/page.html")]
struct PayPage {
    tr: Tr,
    assets: &'static str,
    /// `?lang=xx` when the payer chose a language, else empty (kept on every link and form).
    lang_q: String,
    lang_code: &'static str,
    other_langs: Vec<(&'static str, &'static str)>,
    uuid: String,
    shop: String,
    logo: Option<String>,
    brand_style: String,
    description: String,
    order_id: String,
    test: bool,
    phase: Phase,
    fingerprint: String,
    /// The price as the merchant set it (`12.50 USD`).
    price: String,
    // Choosing.
    choices: Vec<Choice>,
    email: String,
    email_required: bool,
    email_error: Option<String>,
    currency_error: Option<String>,
    // Paying.
    coin: Option<PayCoin>,
    expires_at_ms: i64,
    expires_text: String,
    remaining_text: String,
    can_change: bool,
    // Outcome.
    success_url: Option<String>,
    fail_url: Option<String>,
}

/// What the payer sends, once a currency is chosen.
struct PayCoin {
    code: &'static str,
    symbol: &'static str,
    name: &'static str,
    icon: String,
    address: String,
    /// What to send now (the remaining amount when partly paid).
    amount: String,
    qr: String,
    uri: String,
    /// The URI differs from the bare address (a wallet link is worth offering).
    has_uri: bool,
    /// Partly paid: something confirmed, something still missing.
    partial: bool,
    /// Payments seen but not confirmed.
    seen: bool,
    /// What arrived (confirmed or not) covers what is due: nothing more to send.
    covered: bool,
    /// "X received, nothing more to send" (when covered).
    covered_text: String,
    overpaid: bool,
    paid_late: bool,
    confirm_text: Option<String>,
    partial_text: String,
    network_text: String,
    address_label: String,
    network_warning: String,
    received_text: String,
    expired_text: String,
}

impl PayPage {
    fn choosing(&self) -> bool {
        self.phase == Phase::Choose
    }
    fn paying(&self) -> bool {
        self.phase == Phase::Pay
    }
    fn paid(&self) -> bool {
        self.phase == Phase::Paid
    }
    fn expired(&self) -> bool {
        self.phase == Phase::Expired
    }
    fn canceled(&self) -> bool {
        self.phase == Phase::Canceled
    }
    fn live(&self) -> bool {
        !self.phase.is_final()
    }
    /// Paying, and what arrived covers the invoice: no instructions, no second payment.
    fn covered(&self) -> bool {
        self.paying() && self.coin.as_ref().is_some_and(|c| c.covered)
    }
}

struct Rendered {
    html: String,
    style_hash: String,
}

#[allow(clippy::too_many_arguments)]
fn render(
    st: &AppState,
    row: &InvoiceRow,
    project: &ProjectRow,
    transfers: &[TransferRow],
    lang: Lang,
    lang_q: &str,
    change: bool,
    form: Option<(&ChoiceForm, Option<String>, Option<String>)>,
) -> Result<Rendered, PayError> {
    let tr = Tr::new(lang);
    let now = st.clock.now();
    let phase = Phase::of(row, now, change, email_needed(project, row));
    let price = price_text(row);
    let chosen = row.currency.as_deref().and_then(currency::crypto);
    let allowed = invoices::allowed_for(st, project, row);
    let choices = if phase == Phase::Choose {
        let picked = form
            .as_ref()
            .map(|(f, _, _)| f.currency.as_str())
            .filter(|c| !c.is_empty())
            .or(row.currency.as_deref());
        allowed
            .iter()
            .map(|c| Choice {
                code: c.code,
                symbol: c.symbol,
                name: c.name,
                network: c.network.fullname,
                network_code: c.network.code,
                icon: format!("/assets/icons/coin/{}.svg", c.symbol.to_ascii_lowercase()),
                selected: picked == Some(c.code),
            })
            .collect()
    } else {
        Vec::new()
    };
    let coin = match (chosen, &row.address, &row.quote) {
        (Some(c), Some(address), Some(q)) => {
            // What is left, rounded up as a quote is: paying it is never short.
            let arrived = row.received.checked_add(row.processing).unwrap_or(q.due);
            let missing = q.remaining(arrived);
            let to_send = if row.received.is_zero() && row.processing.is_zero() {
                q.due
            } else {
                missing
            };
            let seed = st.keyring.derive_key("simulated-network");
            let (chain_id, contract) = if row.test {
                (
                    kassa_chain::uri::evm_chain_id(c.network, true),
                    kassa_chain::simulated::token_contract(&seed, c),
                )
            } else {
                // The operator's chain and allowlisted contract.
                let live = st.chains.get(c.network);
                (
                    live.and_then(|l| l.chain_id()),
                    live.and_then(|l| l.token_contract(c)),
                )
            };
            let uri =
                kassa_chain::uri::payment_uri(c, address, to_send, chain_id, contract.as_deref());
            let qr = qr::svg(&uri, tr.t("pay.qr_label"));
            let with = |a: Amount| format!("{} {}", plain(a, c.decimals), c.symbol);
            let received = row
                .received
                .checked_add(row.processing)
                .unwrap_or(row.received);
            let confirmations = confirming(transfers, confirmations_needed(st, c, row.test));
            Some(PayCoin {
                code: c.code,
                symbol: c.symbol,
                name: c.name,
                icon: format!("/assets/icons/coin/{}.svg", c.symbol.to_ascii_lowercase()),
                address: address.clone(),
                amount: plain(to_send, c.decimals),
                has_uri: uri != *address,
                uri,
                qr,
                partial: !row.received.is_zero() && row.received < q.due,
                seen: !row.processing.is_zero(),
                covered: !arrived.is_zero() && missing.is_zero(),
                covered_text: tr.f1("pay.covered", "amount", &with(received)),
                confirm_text: confirmations.map(|(n, needed)| {
                    tr.f("pay.status.confirming", &[("n", &n), ("needed", &needed)])
                }),
                partial_text: tr.f(
                    "pay.partial_notice",
                    &[
                        ("received", &with(row.received)),
                        ("due", &with(q.due)),
                        ("remaining", &with(missing)),
                    ],
                ),
                network_text: tr.f1("pay.network", "network", &c.network.fullname),
                address_label: tr.f1("pay.address", "network", &c.network.code),
                network_warning: tr.f1("pay.network_warning", "network", &c.network.fullname),
                received_text: tr.f1("pay.paid.received", "amount", &with(row.received)),
                expired_text: tr.f1("pay.expired.received", "amount", &with(received)),
                overpaid: row.status == Status::Overpaid,
                paid_late: row.paid_late,
            })
        }
        _ => None,
    };
    let left = row.expires_at.duration_since(now).as_secs();
    let remaining_text = if left >= 3600 {
        format!("{}:{:02}:{:02}", left / 3600, (left / 60) % 60, left % 60)
    } else {
        format!("{:02}:{:02}", left / 60, left % 60)
    };
    let brand = valid_color(&project.settings.brand_color).unwrap_or("#3b5bdb");
    let brand_style = format!(":root{{--brand:{brand}}}");
    let style_hash =
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(brand_style.as_bytes()));
    let (email, email_error, currency_error) = match form {
        Some((f, e, c)) => (f.email.clone(), e, c),
        None => (row.email.clone(), None, None),
    };
    let page = PayPage {
        tr,
        assets: assets::version(),
        lang_q: lang_q.to_owned(),
        lang_code: lang.code(),
        other_langs: Lang::ALL
            .into_iter()
            .filter(|l| *l != lang)
            .map(|l| (l.code(), l.native_name()))
            .collect(),
        uuid: row.uuid.clone(),
        shop: project.settings.name.clone(),
        logo: (project.logo_version > 0)
            .then(|| format!("/logos/{}.png?v={}", project.shop_id, project.logo_version)),
        brand_style,
        description: row.description.clone(),
        order_id: row.order_id.clone(),
        test: row.test,
        phase,
        fingerprint: fingerprint(row, transfers, phase),
        price,
        choices,
        email,
        email_required: project.settings.email_required,
        email_error,
        currency_error,
        can_change: row.status == Status::Created
            && row.received.is_zero()
            && row.processing.is_zero()
            && allowed.len() > 1,
        coin,
        expires_at_ms: row.expires_at.as_micros() / 1000,
        expires_text: tr.datetime(row.expires_at),
        remaining_text,
        success_url: return_url(&project.settings.success_url, row),
        fail_url: return_url(&project.settings.fail_url, row),
    };
    Ok(Rendered {
        html: page.render()?,
        style_hash,
    })
}

fn valid_color(c: &str) -> Option<&str> {
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some(c)
}

/// Security headers of every payment-page response. `frame_ancestors` is the CSP source list
/// of sites that may frame the page.
fn page_headers(h: &mut HeaderMap, frame_ancestors: &str, style_hash: Option<&str>) {
    let style = match style_hash {
        Some(hash) => format!("style-src 'self' 'sha256-{hash}'"),
        None => "style-src 'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; img-src 'self' data:; {style}; script-src 'self'; connect-src 'self'; \
         form-action 'self'; base-uri 'none'; frame-ancestors {frame_ancestors}"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if frame_ancestors == "'none'" {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: with it, browsers send `Origin: null` on the page's own forms.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The sites that may show the page in an iframe: Kassa itself and the project's own site.
fn frame_ancestors(project: &ProjectRow) -> String {
    match site_origin(&project.settings.site_url) {
        Some(o) => format!("'self' {o}"),
        None => "'self'".to_owned(),
    }
}

fn html_response(status: StatusCode, r: Rendered, project: &ProjectRow) -> Response {
    let mut resp = (status, r.html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    page_headers(h, &frame_ancestors(project), Some(&r.style_hash));
    resp
}

fn lang_query(q: Option<&str>) -> String {
    match q.and_then(Lang::parse) {
        Some(l) => format!("?lang={}", l.code()),
        None => String::new(),
    }
}

/// `GET /pay/{id}`.
async fn page(
    State(st): State<AppState>,
    Path(id): Path<String>,
    CheckedQuery(q): CheckedQuery<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let Ok(q) = q else {
        return PayError::BadRequest.respond(choose_lang(None, None, &headers, None));
    };
    let fallback = choose_lang(q.lang.as_deref(), None, &headers, None);
    match page_inner(&st, &id, &q, &headers).await {
        Ok(r) => r,
        Err(e) => e.respond(fallback),
    }
}

async fn page_inner(
    st: &AppState,
    id: &str,
    q: &PageQuery,
    headers: &HeaderMap,
) -> Result<Response, PayError> {
    let (row, project) = load(st, id).await?;
    let transfers = store::transfers_of(&mut st.db.conn().await?, row.id).await?;
    let lang = choose_lang(q.lang.as_deref(), Some(&row), headers, Some(&project));
    let lang_q = lang_query(q.lang.as_deref());
    let change = q.change.as_deref() == Some("1");
    let r = render(st, &row, &project, &transfers, lang, &lang_q, change, None)?;
    Ok(html_response(StatusCode::OK, r, &project))
}

/// Refuses form posts the browser marks as coming from another site.
fn same_site(st: &AppState, headers: &HeaderMap) -> Result<(), PayError> {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if matches!(fetch_site, "cross-site" | "same-site") {
        return Err(PayError::CrossSite);
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ours = site_origin(&st.public_url);
        let host_origin = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.to_ascii_lowercase());
        let origin = origin.to_str().unwrap_or("null").to_ascii_lowercase();
        let matches_host = host_origin
            .is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"));
        if ours.as_deref() != Some(origin.as_str()) && !matches_host {
            return Err(PayError::CrossSite);
        }
    }
    Ok(())
}

async fn limit(st: &AppState, l: &Limit, key: &str) -> Result<(), PayError> {
    match l.hit(&st.db, key, st.clock.now()).await? {
        Ok(()) => Ok(()),
        Err(limits::RetryAfter(after)) => Err(PayError::Limited(after)),
    }
}

/// `POST /pay/{id}`: the payer picks a currency (and gives an e-mail).
async fn submit(
    State(st): State<AppState>,
    Path(id): Path<String>,
    CheckedQuery(q): CheckedQuery<PageQuery>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<ChoiceForm>,
) -> Response {
    let Ok(q) = q else {
        return PayError::BadRequest.respond(choose_lang(None, None, &headers, None));
    };
    let fallback = choose_lang(q.lang.as_deref(), None, &headers, None);
    match submit_inner(&st, &id, &q, client, &headers, form.ok()).await {
        Ok(r) => r,
        Err(e) => e.respond(fallback),
    }
}

async fn submit_inner(
    st: &AppState,
    id: &str,
    q: &PageQuery,
    client: ClientAddr,
    headers: &HeaderMap,
    form: Option<ChoiceForm>,
) -> Result<Response, PayError> {
    same_site(st, headers)?;
    let form = form.ok_or(PayError::BadRequest)?;
    let (row, project) = load(st, id).await?;
    let ip = client.text();
    limit(st, &POSTS_PER_IP, &ip).await?;
    let lang = choose_lang(q.lang.as_deref(), Some(&row), headers, Some(&project));
    let lang_q = lang_query(q.lang.as_deref());
    let tr = Tr::new(lang);
    let back = format!("/pay/{}{lang_q}", row.uuid);

    let parsed = Email::parse(&form.email);
    let email = parsed.as_ref().map_or("", Email::as_str);
    let email_error = if form.email.trim().is_empty() {
        (project.settings.email_required && row.email.is_empty())
            .then(|| tr.t("pay.error.email_required").to_owned())
    } else if parsed.is_err() {
        Some(tr.t("pay.error.email_invalid").to_owned())
    } else {
        None
    };
    let allowed = invoices::allowed_for(st, &project, &row);
    let crypto = allowed
        .iter()
        .find(|c| c.code == form.currency.trim())
        .copied();
    let mut currency_error = crypto
        .is_none()
        .then(|| tr.t("pay.error.choose_currency").to_owned());
    if email_error.is_none()
        && let Some(crypto) = crypto
    {
        if row.currency.as_deref() != Some(crypto.code) {
            limit(st, &PICKS_PER_INVOICE, &row.uuid).await?;
        }
        let email = (!email.is_empty()).then_some(email);
        match invoices::choose_currency_for(st, &project, row.id, crypto, email).await {
            // Too late to change (paid meanwhile, expired): the page shows where it stands.
            Ok(_)
            | Err(InvoiceError::Transition(_))
            | Err(InvoiceError::CurrencyNotAllowed(_))
            | Err(InvoiceError::CurrencyUnavailable(_)) => {
                return Ok(Redirect::to(&back).into_response());
            }
            Err(InvoiceError::NoRate(_)) => return Err(PayError::RatesUnavailable),
            // The invoice cannot be paid in this currency: say why, offer the others.
            Err(InvoiceError::Bound(b)) => {
                currency_error = Some(match b {
                    Bound::BelowNetworkMinimum { code, min } => tr.f(
                        "pay.error.below_minimum",
                        &[("currency", &code), ("min", &min)],
                    ),
                    Bound::AboveMaximum { code, .. } => {
                        tr.f1("pay.error.above_maximum", "currency", &code)
                    }
                    Bound::BelowCent { min } => tr.f1("invoices.form.below_cent", "min", &min),
                });
            }
            Err(e) => return Err(PayError::Internal(e.to_string())),
        }
    }
    // Something to correct: the page again, with the errors next to the fields.
    let transfers = store::transfers_of(&mut st.db.conn().await?, row.id).await?;
    let r = render(
        st,
        &row,
        &project,
        &transfers,
        lang,
        &lang_q,
        true,
        Some((&form, email_error, currency_error)),
    )?;
    Ok(html_response(StatusCode::UNPROCESSABLE_ENTITY, r, &project))
}

/// `POST /pay/{id}/simulate`: the test panel (test invoices only).
async fn simulate(
    State(st): State<AppState>,
    Path(id): Path<String>,
    CheckedQuery(q): CheckedQuery<PageQuery>,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<SimulateForm>,
) -> Response {
    let Ok(q) = q else {
        return PayError::BadRequest.respond(choose_lang(None, None, &headers, None));
    };
    let fallback = choose_lang(q.lang.as_deref(), None, &headers, None);
    match simulate_inner(&st, &id, &q, &headers, form.ok()).await {
        Ok(r) => r,
        Err(e) => e.respond(fallback),
    }
}

async fn simulate_inner(
    st: &AppState,
    id: &str,
    q: &PageQuery,
    headers: &HeaderMap,
    form: Option<SimulateForm>,
) -> Result<Response, PayError> {
    same_site(st, headers)?;
    let form = form.ok_or(PayError::BadRequest)?;
    let (row, _) = load(st, id).await?;
    if !row.test {
        return Err(PayError::BadRequest);
    }
    let outcome = match form.outcome.as_str() {
        "full" => Simulated::Full,
        "partial" => Simulated::Partial,
        "over" => Simulated::Over,
        _ => return Err(PayError::BadRequest),
    };
    match invoices::simulate(st, &row, outcome).await {
        Ok(_) | Err(InvoiceError::Transition(_)) => {}
        Err(e) => return Err(PayError::Internal(e.to_string())),
    }
    let back = format!("/pay/{}{}", row.uuid, lang_query(q.lang.as_deref()));
    Ok(Redirect::to(&back).into_response())
}

/// `GET /pay/{id}/status`: the fingerprint the page polls, and whether it is final.
async fn status(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    let result = async {
        let (row, project) = load(&st, &id).await?;
        let transfers = store::transfers_of(&mut st.db.conn().await?, row.id).await?;
        let phase = Phase::of(&row, st.clock.now(), false, email_needed(&project, &row));
        Ok::<_, PayError>(serde_json::json!({
            "v": fingerprint(&row, &transfers, phase),
            "final": phase.is_final(),
        }))
    }
    .await;
    let (code, body) = match result {
        Ok(v) => (StatusCode::OK, v),
        Err(PayError::NotFound) => (
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "not found"}),
        ),
        Err(e) => {
            if let PayError::Internal(msg) = &e {
                tracing::error!(error = %msg, "payment status failed");
            }
            (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"error": "unavailable"}),
            )
        }
    };
    let mut r = (code, axum::Json(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_urls() {
        assert_eq!(
            site_origin("https://Shop.example/checkout?x=1").as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(
            site_origin("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(site_origin("javascript:alert(1)"), None);
        assert_eq!(site_origin("https://a@b.example/"), None);
        assert_eq!(site_origin("https://x'; script-src *"), None);
        assert_eq!(site_origin(""), None);
    }

    #[test]
    fn colours_are_checked() {
        assert_eq!(valid_color("#A1b2C3"), Some("#A1b2C3"));
        assert_eq!(valid_color("red"), None);
        assert_eq!(valid_color("#12345}"), None);
    }

    #[test]
    fn amounts_lose_trailing_zeros() {
        assert_eq!(plain(Amount::from_base(12_500_000), 6), "12.5");
        assert_eq!(plain(Amount::from_base(2_000_000), 6), "2");
        assert_eq!(plain(Amount::from_base(1), 8), "0.00000001");
    }
}
