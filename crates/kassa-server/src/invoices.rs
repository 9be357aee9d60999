//! Invoice services. Every change to an invoice happens here, in one transaction with its
//! timeline event, its ledger postings and the jobs it causes (expiry, postback, e-mail):
//!
//! - [`create`]: a new invoice, with its quote and deposit address when the currency is
//!   preset;
//! - [`choose_currency`]: the payer picks a currency; the rate is locked;
//! - [`record_transfer`]: the one path every incoming transfer takes — simulated ones in test
//!   mode and, later, those the chain watchers find;
//! - expiry (a job), [`cancel`], [`confirm_partial`], and static wallets;
//! - the dashboard's actions ([`create_as`], [`cancel_as`], [`confirm_partial_as`],
//!   [`simulate_as`], [`resend_postback`], [`send_link`]): the same changes, named on the
//!   timeline and written to the activity log in the transaction of the change.

use std::time::Duration;

use kassa_core::account::Email;
use kassa_core::currency::{self, Crypto, Fiat, Network};
use kassa_core::invoice::{
    Change, InvoiceState, Quote, QuoteError, QuoteInput, Side, Status, Tolerance,
};
use kassa_core::money::{Amount, Rounding, parse_decimal};
use kassa_core::{Decimal, InvoiceId, MerchantId, StaticWalletId, Timestamp, UserId};
use kassa_store::audit::{self, Activity};
use kassa_store::invoices::{
    self, InvoiceRow, LockedQuote, NewInvoice, NewTransfer, Owner, StateUpdate, StaticWalletRow,
    TransferState,
};
use kassa_store::ledger::{self, Account, Kind, LedgerError};
use kassa_store::projects::ProjectRow;
use kassa_store::{StoreError, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::accounts::{Client, ServiceError};
use crate::i18n::{Lang, Tr};
use crate::mail::{self, Letter};
use crate::state::AppState;
use crate::worker::{self, BoxFuture, Job, JobContext, JobError, JobHandler};

const UUID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Shortest and longest invoice lifetimes.
pub const LIFETIME_RANGE: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(31 * 24 * 3600));

/// What an invoice is priced in.
#[derive(Clone, Copy, Debug)]
pub enum Price {
    /// A fiat amount.
    Fiat(&'static Fiat, Decimal),
    /// An exact crypto amount.
    Crypto(&'static Crypto, Amount),
}

/// A request to create an invoice.
#[derive(Clone, Debug)]
pub struct NewInvoiceRequest {
    /// The price.
    pub price: Price,
    /// Merchant's order id.
    pub order_id: String,
    /// Payer e-mail.
    pub email: String,
    /// Description shown on the payment page.
    pub description: String,
    /// Lifetime; `None`: the project's default.
    pub lifetime: Option<Duration>,
    /// Currencies the payer may choose from; empty: the project's.
    pub allowed: Vec<&'static Crypto>,
    /// The currency to lock now (host-to-host integrations).
    pub preselect: Option<&'static Crypto>,
    /// Payment page language; `None`: the payer's browser decides (then the project's).
    pub locale: Option<Lang>,
    /// E-mail the payment link here.
    pub send_link_to: Option<String>,
    /// And again every this long while it waits for payment (needs `send_link_to`).
    pub remind_every: Option<Duration>,
}

impl NewInvoiceRequest {
    /// A request for `price` with nothing else set: no order id, e-mail or description, the
    /// project's lifetime and currencies, the payer's language, no e-mail to send.
    pub fn priced(price: Price) -> Self {
        Self {
            price,
            order_id: String::new(),
            email: String::new(),
            description: String::new(),
            lifetime: None,
            allowed: Vec::new(),
            preselect: None,
            locale: None,
            send_link_to: None,
            remind_every: None,
        }
    }
}

/// Why an invoice could not be created or a currency not chosen.
#[derive(Debug, thiserror::Error)]
pub enum InvoiceError {
    /// The project is archived.
    #[error("the project is archived")]
    Archived,
    /// The currency is not accepted by the project, or not enabled for live payments.
    #[error("the currency {0} is not available")]
    CurrencyUnavailable(String),
    /// The payer chose a currency the invoice does not allow.
    #[error("the currency {0} is not allowed for this invoice")]
    CurrencyNotAllowed(String),
    /// No rate for an asset.
    #[error("no exchange rate for {0}")]
    NoRate(String),
    /// The quote failed.
    #[error(transparent)]
    Quote(#[from] QuoteError),
    /// The currency can no longer change, or the action does not apply.
    #[error(transparent)]
    Transition(#[from] kassa_core::invoice::InvalidTransition),
    /// The lifetime is outside 1 minute … 31 days.
    #[error("the lifetime must be between 1 minute and 31 days")]
    Lifetime,
    /// Internal.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for InvoiceError {
    fn from(e: StoreError) -> Self {
        InvoiceError::Service(e.into())
    }
}

impl From<LedgerError> for InvoiceError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Store(s) => s.into(),
            other => InvoiceError::Service(ServiceError::Store(StoreError::Corrupt {
                column: "ledger",
                reason: other.to_string(),
            })),
        }
    }
}

/// A signed-in user acting on invoices from the dashboard. Their actions are named on the
/// invoice's timeline and written to the activity log in the transaction of the change; API
/// calls have no actor and no activity entry.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    /// The user.
    pub user: UserId,
    /// Their e-mail, as the timeline names them.
    pub email: &'a str,
    /// Where the request came from.
    pub client: &'a Client,
}

impl Actor<'_> {
    /// Who did it, for a timeline event's details.
    fn sign(&self, details: &mut serde_json::Value) {
        if let Some(m) = details.as_object_mut() {
            m.insert("by".into(), json!("dashboard"));
            m.insert("user".into(), json!(self.email));
        }
    }

    /// Timeline details naming the actor.
    fn timeline(&self) -> serde_json::Value {
        let mut d = json!({});
        self.sign(&mut d);
        d
    }
}

/// Why a dashboard action on an invoice was refused, beyond what [`InvoiceError`] says.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// A postback is only sent for a confirmed invoice.
    #[error("the invoice is not confirmed")]
    NotConfirmed,
    /// The project has no notification URL to send a postback to.
    #[error("the project has no notification URL")]
    NoNotifyUrl,
    /// The invoice no longer waits for payment (paid, cancelled or expired).
    #[error("the invoice no longer waits for payment")]
    NotPayable,
    /// Payments are only simulated for test invoices.
    #[error("only test invoices can be confirmed without payment")]
    NotTest,
    /// What the invoice services refuse.
    #[error(transparent)]
    Invoice(#[from] InvoiceError),
}

impl From<StoreError> for ActionError {
    fn from(e: StoreError) -> Self {
        ActionError::Invoice(e.into())
    }
}

impl From<ServiceError> for ActionError {
    fn from(e: ServiceError) -> Self {
        ActionError::Invoice(e.into())
    }
}

/// Writes a dashboard action on invoice `uuid` to the activity log, inside the transaction of
/// the change. The details name the invoice as people see it (`INV-…`).
async fn log_action(
    tx: &mut Tx,
    actor: &Actor<'_>,
    merchant: MerchantId,
    uuid: &str,
    action: &str,
    mut details: serde_json::Value,
    now: Timestamp,
) -> Result<(), StoreError> {
    if let Some(m) = details.as_object_mut() {
        m.insert("invoice".into(), json!(format!("INV-{uuid}")));
    }
    audit::record_activity(
        tx,
        &Activity {
            merchant_id: merchant,
            actor: Some(actor.user),
            action,
            target_type: "invoice",
            target_id: uuid,
            details: &details,
            ip: &actor.client.ip,
        },
        now,
    )
    .await
}

/// A dashboard action to write to the activity log with the change it causes.
struct Logged<'a> {
    actor: &'a Actor<'a>,
    action: &'static str,
    details: serde_json::Value,
}

/// The project's default payment-page language.
pub fn project_lang(project: &ProjectRow) -> Lang {
    Lang::parse(&project.settings.page_language).unwrap_or(Lang::En)
}

/// A new public invoice id: 8 characters `A-Z0-9`.
pub fn new_uuid() -> String {
    crate::projects::random_string(UUID_ALPHABET, 8)
}

/// The crypto currencies a project offers for invoices of its current mode.
pub fn offered(st: &AppState, project: &ProjectRow) -> Vec<&'static Crypto> {
    offered_in_mode(st, project, project.test_mode)
}

/// The crypto currencies a project offers for test (`test`) or live invoices: its accepted
/// list (or everything), restricted for live invoices to networks the operator runs. An
/// invoice keeps the mode it was made in, whatever the project switches to later.
pub fn offered_in_mode(st: &AppState, project: &ProjectRow, test: bool) -> Vec<&'static Crypto> {
    let accepted: Vec<&str> = project
        .settings
        .currencies
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    currency::cryptos_in_order()
        .into_iter()
        .filter(|c| accepted.is_empty() || accepted.iter().any(|a| a.eq_ignore_ascii_case(c.code)))
        .filter(|c| test || st.pricing.live_network(c.network))
        .collect()
}

/// The currencies a given invoice offers the payer.
pub fn allowed_for(
    st: &AppState,
    project: &ProjectRow,
    invoice: &InvoiceRow,
) -> Vec<&'static Crypto> {
    let offered = offered_in_mode(st, project, invoice.test);
    let allowed: Vec<&str> = invoice
        .allowed_currencies
        .split(',')
        .filter(|c| !c.is_empty())
        .collect();
    if allowed.is_empty() {
        offered
    } else {
        offered
            .into_iter()
            .filter(|c| allowed.contains(&c.code))
            .collect()
    }
}

fn tolerance_of(kind: &str, value: &str) -> Tolerance {
    let v = parse_decimal(value).unwrap_or(Decimal::ZERO);
    match kind {
        "percent" => Tolerance::Percent(v),
        "usd" => Tolerance::Usd(v),
        _ => Tolerance::None,
    }
}

/// The USD value of an invoice price (rounded to cents), and the price in USD exactly.
fn price_in_usd(
    st: &AppState,
    price: &Price,
    test: bool,
    now: Timestamp,
) -> Result<(Decimal, String), InvoiceError> {
    let exact = match price {
        Price::Fiat(f, amount) => {
            let rate = st
                .pricing
                .usd(f.code, test, now)
                .map_err(|_| InvoiceError::NoRate(f.code.into()))?
                .usd;
            amount.checked_mul(rate)
        }
        Price::Crypto(c, amount) => {
            let rate = st
                .pricing
                .usd(c.symbol, test, now)
                .map_err(|_| InvoiceError::NoRate(c.symbol.into()))?
                .usd;
            amount
                .to_decimal(c.decimals)
                .and_then(|a| a.checked_mul(rate))
        }
    }
    .ok_or(QuoteError::TooLarge)?;
    let cents =
        exact.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    Ok((exact, cents.to_string()))
}

/// What a quote is computed from: an invoice's price and fee settings.
struct QuoteBasis<'a> {
    price_currency: &'a str,
    price_amount: &'a str,
    test: bool,
    service_side: Side,
    transfer_side: Side,
    tolerance_kind: &'a str,
    tolerance_value: &'a str,
}

impl<'a> QuoteBasis<'a> {
    fn of(row: &'a InvoiceRow) -> Self {
        QuoteBasis {
            price_currency: &row.price_currency,
            price_amount: &row.price_amount,
            test: row.test,
            service_side: row.service_fee_side,
            transfer_side: row.transfer_fee_side,
            tolerance_kind: &row.tolerance_kind,
            tolerance_value: &row.tolerance_value,
        }
    }
}

/// Computes the quote of an invoice in `crypto` at today's rate: the quote, the rate and its
/// source.
fn quote_for(
    st: &AppState,
    b: &QuoteBasis<'_>,
    crypto: &'static Crypto,
    now: Timestamp,
) -> Result<(Quote, Decimal, &'static str), InvoiceError> {
    let rate = st
        .pricing
        .usd(crypto.symbol, b.test, now)
        .map_err(|_| InvoiceError::NoRate(crypto.symbol.into()))?;
    let (price_usd, price_crypto) = if let Some(c) = currency::crypto(b.price_currency) {
        if c.code != crypto.code {
            return Err(InvoiceError::CurrencyNotAllowed(crypto.code.into()));
        }
        (
            None,
            Some(Amount::parse(b.price_amount, c.decimals).map_err(|_| QuoteError::NoPrice)?),
        )
    } else {
        let fiat = currency::fiat(b.price_currency).ok_or(QuoteError::NoPrice)?;
        let amount = parse_decimal(b.price_amount).ok_or(QuoteError::NoPrice)?;
        let fiat_usd = st
            .pricing
            .usd(fiat.code, b.test, now)
            .map_err(|_| InvoiceError::NoRate(fiat.code.into()))?
            .usd;
        (
            Some(amount.checked_mul(fiat_usd).ok_or(QuoteError::TooLarge)?),
            None,
        )
    };
    let quote = Quote::compute(&QuoteInput {
        price_usd,
        price_crypto,
        crypto_usd: rate.usd,
        decimals: crypto.decimals,
        service_percent: st.pricing.service_percent,
        transfer_fee_usd: st.pricing.transfer_usd(crypto.network),
        service_side: b.service_side,
        transfer_side: b.transfer_side,
        tolerance: tolerance_of(b.tolerance_kind, b.tolerance_value),
    })?;
    Ok((quote, rate.usd, rate.source))
}

/// Takes the next derivation index and derives the deposit address on `network`, inside the
/// transaction that records it (a rollback gives the index back; a commit uses it up, so no
/// address is handed out twice).
///
/// - Test addresses come from the simulated network, indexed by a global counter.
/// - Live addresses come from the operator's wallet of the network: the wallet's next receive
///   index `i` (`chain_wallet.next_index`, taken atomically) and the BIP84 address
///   `m/84'/coin'/0'/0/i` of its account key. The index returned is `i`. A network that does
///   not take live payments (not configured, or without a wallet) is unavailable.
async fn derive_address(
    tx: &mut Tx,
    st: &AppState,
    network: &'static Network,
    test: bool,
) -> Result<(i64, String), InvoiceError> {
    if !test {
        let chain = st
            .chains
            .get(network)
            .ok_or_else(|| InvoiceError::CurrencyUnavailable(network.code.into()))?;
        let index = kassa_store::wallets::take_next_index(tx, network.code, st.clock.now())
            .await?
            .ok_or(StoreError::NotFound)?;
        let address = chain
            .receive_address(index)
            .map_err(|e| StoreError::Corrupt {
                column: "chain_wallet.next_index",
                reason: format!("{} receive index {index}: {e}", network.code),
            })?;
        return Ok((index, address));
    }
    let index = invoices::next_derivation_index(tx).await?;
    let seed = st.keyring.derive_key("simulated-network");
    let address =
        kassa_chain::simulated::deposit_address(&seed, network, u64::try_from(index).unwrap_or(0));
    Ok((index, address))
}

/// Derives a new deposit address for `owner` on `network` and records it.
async fn new_address(
    tx: &mut Tx,
    st: &AppState,
    network: &'static Network,
    test: bool,
    owner: Owner,
    now: Timestamp,
) -> Result<String, InvoiceError> {
    let (index, address) = derive_address(tx, st, network, test).await?;
    invoices::insert_address(tx, network.code, &address, index, test, owner, now).await?;
    Ok(address)
}

fn event(kind: &'static str, details: serde_json::Value) -> (&'static str, serde_json::Value) {
    (kind, details)
}

/// Creates an invoice for `project`.
pub async fn create(
    st: &AppState,
    project: &ProjectRow,
    req: NewInvoiceRequest,
) -> Result<InvoiceRow, InvoiceError> {
    create_as(st, project, req, None).await
}

/// Creates an invoice for `project`; made from the dashboard by `actor`, it is named on the
/// timeline and written to the activity log in the same transaction.
pub async fn create_as(
    st: &AppState,
    project: &ProjectRow,
    req: NewInvoiceRequest,
    actor: Option<&Actor<'_>>,
) -> Result<InvoiceRow, InvoiceError> {
    if project.archived_at.is_some() {
        return Err(InvoiceError::Archived);
    }
    let now = st.clock.now();
    let lifetime = req.lifetime.unwrap_or(Duration::from_secs(
        u64::try_from(project.settings.invoice_lifetime_minutes).unwrap_or(1440) * 60,
    ));
    if lifetime < LIFETIME_RANGE.0 || lifetime > LIFETIME_RANGE.1 {
        return Err(InvoiceError::Lifetime);
    }
    let offered = offered(st, project);
    for c in req.allowed.iter().chain(req.preselect.iter()) {
        if !offered.iter().any(|o| o.code == c.code) {
            return Err(InvoiceError::CurrencyUnavailable(c.code.into()));
        }
    }
    let (price_currency, price_amount) = match &req.price {
        Price::Fiat(f, a) => (f.code, a.to_string()),
        Price::Crypto(c, a) => (c.code, a.to_decimal_string(c.decimals)),
    };
    let (_, amount_usd) = price_in_usd(st, &req.price, project.test_mode, now)?;
    let allowed = match &req.price {
        Price::Crypto(c, _) => c.code.to_owned(),
        Price::Fiat(..) => req
            .allowed
            .iter()
            .map(|c| c.code)
            .collect::<Vec<_>>()
            .join(","),
    };
    let preselect = match &req.price {
        Price::Crypto(c, _) => Some(*c),
        Price::Fiat(..) => req.preselect,
    };
    let service_side = Side::parse(&project.settings.service_fee_side).unwrap_or(Side::Merchant);
    let transfer_side = Side::parse(&project.settings.transfer_fee_side).unwrap_or(Side::Merchant);
    // Everything that needs no database is worked out before the write transaction, which
    // then only writes: the invoice with its quote, its address, its events and jobs.
    let locked = match preselect {
        None => None,
        Some(c) => {
            let basis = QuoteBasis {
                price_currency,
                price_amount: &price_amount,
                test: project.test_mode,
                service_side,
                transfer_side,
                tolerance_kind: &project.settings.tolerance_kind,
                tolerance_value: &project.settings.tolerance_value,
            };
            let (quote, rate, source) = quote_for(st, &basis, c, now)?;
            Some((c, quote, rate.to_string(), source))
        }
    };
    let expire_at = now.saturating_add(lifetime);
    for _ in 0..5 {
        let uuid = new_uuid();
        let letter = match &req.send_link_to {
            None => None,
            Some(to) => {
                let tr = Tr::new(req.locale.unwrap_or_else(|| project_lang(project)));
                let letter = invoice_letter(st, project, &uuid, &price_amount, price_currency, tr);
                Some(letter.render(to, tr).map_err(ServiceError::from)?)
            }
        };
        let mut tx = st.db.begin().await?;
        let address = match &locked {
            Some((c, ..)) => Some(derive_address(&mut tx, st, c.network, project.test_mode).await?),
            None => None,
        };
        let inserted = invoices::insert(
            &mut tx,
            &NewInvoice {
                uuid: &uuid,
                project_id: project.id,
                merchant_id: project.merchant_id,
                test: project.test_mode,
                price_currency,
                price_amount: &price_amount,
                amount_usd: &amount_usd,
                allowed_currencies: &allowed,
                service_fee_side: service_side,
                transfer_fee_side: transfer_side,
                tolerance_kind: &project.settings.tolerance_kind,
                tolerance_value: &project.settings.tolerance_value,
                order_id: &req.order_id,
                email: &req.email,
                description: &req.description,
                locale: req.locale.map_or("", Lang::code),
                static_wallet_id: None,
                expires_at: expire_at,
                locked: match (&locked, &address) {
                    (Some((c, quote, rate, source)), Some((_, address))) => Some(LockedQuote {
                        currency: c.code,
                        address,
                        quote: *quote,
                        rate_usd: rate,
                        rate_source: source,
                    }),
                    _ => None,
                },
            },
            now,
        )
        .await;
        let id = match inserted {
            Ok(id) => id,
            Err(e) if e.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        };
        let mut created = json!({"price": price_amount, "currency": price_currency});
        if let Some(a) = actor {
            a.sign(&mut created);
        }
        let mut events = vec![("created", created)];
        if let (Some((c, quote, rate, source)), Some((index, address))) = (&locked, &address) {
            invoices::insert_address(
                &mut tx,
                c.network.code,
                address,
                *index,
                project.test_mode,
                Owner::Invoice(id),
                now,
            )
            .await?;
            events.push((
                "currency_chosen",
                json!({"currency": c.code, "address": address, "amount": quote.due.to_decimal_string(c.decimals), "rate_usd": rate, "rate_source": source}),
            ));
        }
        if let (Some(_), Some(to)) = (&letter, &req.send_link_to) {
            events.push(("link_sent", json!({"to": to})));
        }
        invoices::add_events(&mut tx, id, &events, now).await?;
        if let Some(a) = actor {
            let mut details = json!({"price": format!("{price_amount} {price_currency}")});
            if let (Some(m), Some(to)) = (details.as_object_mut(), &req.send_link_to) {
                m.insert("link_sent_to".into(), json!(to));
            }
            log_action(
                &mut tx,
                a,
                project.merchant_id,
                &uuid,
                "invoice.created",
                details,
                now,
            )
            .await?;
        }
        worker::enqueue(
            &mut tx,
            &Expire {
                invoice_id: id.get(),
            },
            expire_at,
            now,
        )
        .await?;
        if let Some(m) = &letter {
            mail::enqueue(&mut tx, &st.keyring, m, now).await?;
        }
        if let (Some(period), Some(to)) = (req.remind_every, &req.send_link_to) {
            let remind = Remind {
                invoice_id: id.get(),
                to: to.clone(),
                period_secs: period.as_secs(),
            };
            worker::enqueue(&mut tx, &remind, now.saturating_add(period), now).await?;
        }
        tx.commit().await?;
        if letter.is_some() {
            st.worker.wake();
        }
        return Ok(invoices::by_id(&mut st.db.conn().await?, id).await?);
    }
    Err(StoreError::Corrupt {
        column: "invoice.uuid",
        reason: "could not find a free invoice id".into(),
    }
    .into())
}

/// Locks the quote of `row` in `crypto` with a new deposit address (inside `tx`).
async fn lock_quote(
    tx: &mut Tx,
    st: &AppState,
    row: &InvoiceRow,
    crypto: &'static Crypto,
    now: Timestamp,
) -> Result<(), InvoiceError> {
    let (quote, rate, source) = quote_for(st, &QuoteBasis::of(row), crypto, now)?;
    let mut state = state_of(row);
    state.choose_currency(quote, now)?;
    let address = new_address(
        tx,
        st,
        crypto.network,
        row.test,
        Owner::Invoice(row.id),
        now,
    )
    .await?;
    invoices::set_quote(
        tx,
        row.id,
        crypto.code,
        &address,
        &quote,
        &rate.to_string(),
        source,
        now,
    )
    .await?;
    invoices::add_event(
        tx,
        row.id,
        "currency_chosen",
        &json!({"currency": crypto.code, "address": address, "amount": quote.due.to_decimal_string(crypto.decimals), "rate_usd": rate.to_string(), "rate_source": source}),
        now,
    )
    .await?;
    Ok(())
}

/// The payer picks `crypto` for the invoice: the rate is locked and an address derived.
/// Picking another currency is allowed until something is paid.
pub async fn choose_currency(
    st: &AppState,
    project: &ProjectRow,
    invoice: InvoiceId,
    crypto: &'static Crypto,
) -> Result<InvoiceRow, InvoiceError> {
    choose_currency_for(st, project, invoice, crypto, None).await
}

/// [`choose_currency`], storing the e-mail the payer gave on the payment page in the same
/// transaction.
pub async fn choose_currency_for(
    st: &AppState,
    project: &ProjectRow,
    invoice: InvoiceId,
    crypto: &'static Crypto,
    payer_email: Option<&str>,
) -> Result<InvoiceRow, InvoiceError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let row = invoices::lock(&mut tx, invoice).await?;
    if !allowed_for(st, project, &row)
        .iter()
        .any(|c| c.code == crypto.code)
    {
        return Err(InvoiceError::CurrencyNotAllowed(crypto.code.into()));
    }
    if row.currency.as_deref() != Some(crypto.code) {
        lock_quote(&mut tx, st, &row, crypto, now).await?;
    }
    if let Some(email) = payer_email.filter(|e| *e != row.email) {
        invoices::set_email(&mut tx, invoice, email, now).await?;
    }
    let row = invoices::by_id(&mut tx, invoice).await?;
    tx.commit().await?;
    Ok(row)
}

/// The rules' view of a stored invoice.
pub fn state_of(row: &InvoiceRow) -> InvoiceState {
    InvoiceState {
        status: row.status,
        quote: row.quote,
        expires_at: row.expires_at,
        confirmed: row.confirmed,
        paid_late: row.paid_late,
        received: row.received,
        processing: row.processing,
    }
}

/// A transition of an invoice, to persist with [`apply`].
struct Transition<'a> {
    /// The state after.
    state: &'a InvoiceState,
    /// What changed.
    change: &'a Change,
    /// A payment confirmed by this transition (moves from custody to the merchant's pending).
    received_now: Amount,
    /// Timeline events to add.
    events: Vec<(&'static str, serde_json::Value)>,
}

/// Persists a transition: state, ledger postings (live invoices only), timeline events and
/// the postback when the invoice is confirmed or its confirmed status changes.
async fn apply(
    tx: &mut Tx,
    st: &AppState,
    row: &InvoiceRow,
    t: Transition<'_>,
    now: Timestamp,
) -> Result<(), InvoiceError> {
    let Transition {
        state,
        change,
        received_now,
        events,
    } = t;
    let finished = if change.confirmed_now
        || (change.to == Status::Canceled && change.from != Status::Canceled)
    {
        Some(now)
    } else {
        row.finished_at
    };
    invoices::save_state(
        tx,
        row.id,
        &StateUpdate {
            status: state.status,
            confirmed: state.confirmed,
            paid_late: state.paid_late,
            received: state.received,
            processing: state.processing,
            settled: state.settled(),
            finished_at: finished,
        },
        now,
    )
    .await?;
    if !row.test
        && let Some(code) = row.currency.as_deref()
    {
        let merchant = Some(row.merchant_id);
        let journal = format!("invoice {}", row.uuid);
        let acct = |kind, merchant| Account {
            kind,
            merchant,
            currency: code,
        };
        // Every confirmed payment is first the merchant's pending money...
        ledger::post(
            tx,
            &journal,
            Some(row.id),
            &acct(Kind::Custody, None),
            &acct(Kind::MerchantPending, merchant),
            received_now,
            now,
        )
        .await?;
        // ...and moves to their available balance, less fees, when the invoice is confirmed.
        let s = change.settle;
        for (to, amount) in [
            (acct(Kind::MerchantAvailable, merchant), s.credit),
            (acct(Kind::ServiceFees, None), s.service_fee),
            (acct(Kind::NetworkFees, None), s.transfer_fee),
        ] {
            ledger::post(
                tx,
                &journal,
                Some(row.id),
                &acct(Kind::MerchantPending, merchant),
                &to,
                amount,
                now,
            )
            .await?;
        }
    }
    let mut timeline = events;
    if change.from != change.to {
        timeline.push((
            "status_changed",
            json!({"from": change.from.as_str(), "to": change.to.as_str()}),
        ));
    }
    if change.confirmed_now {
        timeline.push((
            "confirmed",
            json!({"by": state.confirmed.map(|c| c.as_str())}),
        ));
    }
    invoices::add_events(tx, row.id, &timeline, now).await?;
    let confirmed_status_changed = state.confirmed.is_some() && change.from != change.to;
    if change.confirmed_now || confirmed_status_changed {
        crate::postbacks::enqueue(tx, st, row, now).await?;
    }
    Ok(())
}

/// A transfer to an address, as a watcher (or the simulator) reports it.
#[derive(Clone, Debug)]
pub struct TransferReport<'a> {
    /// Network.
    pub network: &'static Network,
    /// Transaction id.
    pub txid: &'a str,
    /// Output or log index.
    pub index: i64,
    /// Receiving address.
    pub address: &'a str,
    /// Amount in base units of `currency`.
    pub amount: Amount,
    /// The currency the transfer is in (native coin or allowlisted token).
    pub currency: &'static Crypto,
    /// Whether it reached the network's confirmation rule.
    pub confirmed: bool,
    /// Confirmations counted.
    pub confirmations: i64,
    /// Simulated transfer (test mode).
    pub test: bool,
}

/// What recording a transfer did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The address is not one of ours: nothing recorded.
    UnknownAddress,
    /// Already recorded in this state (a repeated report).
    Duplicate,
    /// Recorded for this invoice.
    Invoice(InvoiceId),
}

/// Records a transfer: once per (network, txid, index), whatever reports it and however
/// often. A payment that is seen is "processing"; a confirmed one counts.
pub async fn record_transfer(
    st: &AppState,
    t: &TransferReport<'_>,
) -> Result<Recorded, InvoiceError> {
    record_transfer_logged(st, t, None).await
}

/// [`record_transfer`], writing `logged` to the activity log with the change (a payment
/// simulated from the dashboard).
async fn record_transfer_logged(
    st: &AppState,
    t: &TransferReport<'_>,
    logged: Option<&Logged<'_>>,
) -> Result<Recorded, InvoiceError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some((owner, test)) = invoices::owner_of(&mut tx, t.network.code, t.address).await? else {
        return Ok(Recorded::UnknownAddress);
    };
    if test != t.test {
        // A simulated transfer never counts for a live address, nor a real one for a test address.
        return Ok(Recorded::UnknownAddress);
    }
    let existing = invoices::transfer(&mut tx, t.network.code, t.txid, t.index).await?;
    if let Some(e) = &existing
        && (e.state == TransferState::Confirmed || (e.state == TransferState::Seen && !t.confirmed))
    {
        return Ok(Recorded::Duplicate);
    }
    let wallet = match owner {
        Owner::StaticWallet(w) => Some(w),
        Owner::Invoice(_) => None,
    };
    let (invoice_id, transfer_id, was_seen, seen_at) = match (&existing, owner) {
        (Some(e), _) => {
            let id = e.invoice_id.ok_or_else(|| StoreError::Corrupt {
                column: "chain_transfer.invoice_id",
                reason: "missing".into(),
            })?;
            (id, e.id, e.state == TransferState::Seen, e.seen_at)
        }
        (None, owner) => {
            let invoice_id = match owner {
                Owner::Invoice(id) => id,
                Owner::StaticWallet(w) => static_wallet_invoice(&mut tx, st, w, t, now).await?,
            };
            let new = NewTransfer {
                network: t.network.code,
                txid: t.txid,
                output_index: t.index,
                address: t.address,
                amount: t.amount,
                test: t.test,
                invoice_id,
                static_wallet_id: wallet,
            };
            // Recorded concurrently by another report: that one wins, this one changes nothing.
            let Some(id) = invoices::insert_transfer(&mut tx, &new, now).await? else {
                return Ok(Recorded::Duplicate);
            };
            (invoice_id, id, false, now)
        }
    };
    let row = invoices::lock(&mut tx, invoice_id).await?;
    let amount_text = t.amount.to_decimal_string(t.currency.decimals);
    if row.currency.as_deref() != Some(t.currency.code) {
        // Another coin or token than the invoice asks for (sent to an address of a currency
        // the payer switched away from, or a token the address was not given out for). It is
        // recorded and shown, never dropped, but it cannot count towards a quote in another
        // currency: the merchant settles it by hand.
        if t.confirmed {
            invoices::set_transfer_state(
                &mut tx,
                transfer_id,
                TransferState::Confirmed,
                t.confirmations,
                None,
                now,
            )
            .await?;
        }
        let kind = if t.confirmed {
            "other_currency_confirmed"
        } else {
            "other_currency_seen"
        };
        invoices::add_event(
            &mut tx,
            row.id,
            kind,
            &json!({"txid": t.txid, "index": t.index, "amount": amount_text, "currency": t.currency.code, "address": t.address}),
            now,
        )
        .await?;
        tx.commit().await?;
        return Ok(Recorded::Invoice(invoice_id));
    }
    let mut state = state_of(&row);
    let (change, received_now, event_kind) = if t.confirmed {
        invoices::set_transfer_state(
            &mut tx,
            transfer_id,
            TransferState::Confirmed,
            t.confirmations,
            None,
            now,
        )
        .await?;
        (
            state.payment_confirmed(t.amount, seen_at, was_seen)?,
            t.amount,
            "payment_confirmed",
        )
    } else {
        if existing
            .as_ref()
            .is_some_and(|e| e.state == TransferState::Orphaned)
        {
            // Seen again after its block left the chain: it is back in the mempool.
            invoices::set_transfer_state(
                &mut tx,
                transfer_id,
                TransferState::Seen,
                t.confirmations,
                None,
                now,
            )
            .await?;
        }
        (state.payment_seen(t.amount)?, Amount::ZERO, "payment_seen")
    };
    let details = json!({"txid": t.txid, "index": t.index, "amount": amount_text, "currency": t.currency.code, "late": state.paid_late});
    apply(
        &mut tx,
        st,
        &row,
        Transition {
            state: &state,
            change: &change,
            received_now,
            events: vec![event(event_kind, details)],
        },
        now,
    )
    .await?;
    if let Some(l) = logged {
        log_action(
            &mut tx,
            l.actor,
            row.merchant_id,
            &row.uuid,
            l.action,
            l.details.clone(),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    st.worker.wake();
    Ok(Recorded::Invoice(invoice_id))
}

/// The invoice made for a static-wallet transfer: priced at what arrived, created when the
/// transfer is first reported, in the transaction that records it.
async fn static_wallet_invoice(
    tx: &mut Tx,
    st: &AppState,
    wallet: StaticWalletId,
    t: &TransferReport<'_>,
    now: Timestamp,
) -> Result<InvoiceId, InvoiceError> {
    let w = invoices::static_wallet_by_id(tx, wallet).await?;
    let project = kassa_store::projects::by_id(tx, w.project_id).await?;
    let crypto = currency::crypto(&w.currency)
        .ok_or_else(|| InvoiceError::CurrencyUnavailable(w.currency.clone()))?;
    let rate = st
        .pricing
        .usd(crypto.symbol, w.test, now)
        .map_err(|_| InvoiceError::NoRate(crypto.symbol.into()))?;
    let usd = crate::api::objects::usd_of(t.amount, crypto, rate.usd).to_string();
    let price = t.amount.to_decimal_string(crypto.decimals);
    // A top-up is whatever arrives: the merchant carries the fees.
    let service_side = Side::parse(&project.settings.service_fee_side).unwrap_or(Side::Merchant);
    let transfer_side = Side::parse(&project.settings.transfer_fee_side).unwrap_or(Side::Merchant);
    let merchant_side = |s: Side| if s == Side::Client { Side::Merchant } else { s };
    let basis = QuoteBasis {
        price_currency: crypto.code,
        price_amount: &price,
        test: w.test,
        service_side: merchant_side(service_side),
        transfer_side: merchant_side(transfer_side),
        tolerance_kind: "none",
        tolerance_value: "0",
    };
    let (quote, rate_usd, source) = quote_for(st, &basis, crypto, now)?;
    let rate_usd = rate_usd.to_string();
    let uuid = new_uuid();
    let id = invoices::insert(
        tx,
        &NewInvoice {
            uuid: &uuid,
            project_id: project.id,
            merchant_id: project.merchant_id,
            test: w.test,
            price_currency: crypto.code,
            price_amount: &price,
            amount_usd: &usd,
            allowed_currencies: crypto.code,
            service_fee_side: basis.service_side,
            transfer_fee_side: basis.transfer_side,
            tolerance_kind: basis.tolerance_kind,
            tolerance_value: basis.tolerance_value,
            order_id: &w.identify,
            email: "",
            description: "",
            locale: "",
            static_wallet_id: Some(wallet),
            expires_at: now.saturating_add(LIFETIME_RANGE.1),
            locked: Some(LockedQuote {
                currency: crypto.code,
                address: &w.address,
                quote,
                rate_usd: &rate_usd,
                rate_source: source,
            }),
        },
        now,
    )
    .await?;
    invoices::add_event(
        tx,
        id,
        "created",
        &json!({"static_wallet": w.uuid, "identify": w.identify}),
        now,
    )
    .await?;
    Ok(id)
}

/// A recorded transfer no longer stands: its block left the chain (a reorganisation), or,
/// never confirmed, it was replaced or evicted from the mempool. In one transaction: the
/// transfer is marked orphaned, the invoice gives the payment back (a seen one stops
/// processing; a confirmed one stops counting, with the settlement and ledger postings undone
/// in the opposite direction), the timeline says so, and the activity log tells the merchant.
/// Idempotent: a transfer already orphaned, or never recorded, changes nothing (`None`).
pub async fn transfer_gone(
    st: &AppState,
    network: &Network,
    txid: &str,
    index: i64,
) -> Result<Option<InvoiceId>, InvoiceError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(t) = invoices::transfer(&mut tx, network.code, txid, index).await? else {
        return Ok(None);
    };
    let Some(invoice_id) = t.invoice_id.filter(|_| t.state != TransferState::Orphaned) else {
        return Ok(None);
    };
    invoices::set_transfer_state(&mut tx, t.id, TransferState::Orphaned, 0, None, now).await?;
    let row = invoices::lock(&mut tx, invoice_id).await?;
    let crypto = row.currency.as_deref().and_then(currency::crypto);
    let amount_text = crypto.map_or_else(
        || t.amount.base().to_string(),
        |c| t.amount.to_decimal_string(c.decimals),
    );
    let counted = crypto.is_some_and(|c| c.network.code == network.code);
    let details =
        json!({"txid": txid, "index": index, "amount": amount_text, "currency": row.currency});
    if !counted {
        // Coins of another currency were never counted; they only leave the timeline.
        invoices::add_event(&mut tx, row.id, "other_currency_gone", &details, now).await?;
        tx.commit().await?;
        return Ok(Some(invoice_id));
    }
    let mut state = state_of(&row);
    let mut events: Vec<(&'static str, serde_json::Value)> = Vec::new();
    let finished_at;
    if t.state == TransferState::Seen {
        state.payment_dropped(t.amount);
        events.push(("payment_dropped", details.clone()));
        finished_at = row.finished_at;
    } else {
        let r = state.payment_reversed(t.amount, now);
        // Still confirmed or cancelled: it stays finished; otherwise it waits for payment again.
        finished_at = if state.confirmed.is_some() || state.status == Status::Canceled {
            row.finished_at.or(Some(now))
        } else {
            None
        };
        if !row.test {
            let code = row.currency.as_deref().unwrap_or_default();
            let merchant = Some(row.merchant_id);
            let journal = format!("invoice {} reversal", row.uuid);
            let acct = |kind, merchant| Account {
                kind,
                merchant,
                currency: code,
            };
            // Undo the settlement (credit and fees back to pending), then the payment. The
            // merchant may have withdrawn the credit meanwhile: only what is still available
            // comes back, and the shortfall stays in custody (which the chain no longer backs)
            // with a loud event and activity entry for the operator to settle with the
            // merchant. The watcher never stalls on it.
            let balances = ledger::balances(&mut tx, row.merchant_id).await?;
            let available = balances
                .get(&(Kind::MerchantAvailable, code.to_owned()))
                .copied()
                .unwrap_or(Amount::ZERO);
            let from_available = r.unsettle.credit.min(available);
            let shortfall = r.unsettle.credit.saturating_sub(from_available);
            for (from, amount) in [
                (acct(Kind::MerchantAvailable, merchant), from_available),
                (acct(Kind::ServiceFees, None), r.unsettle.service_fee),
                (acct(Kind::NetworkFees, None), r.unsettle.transfer_fee),
            ] {
                ledger::post(
                    &mut tx,
                    &journal,
                    Some(row.id),
                    &from,
                    &acct(Kind::MerchantPending, merchant),
                    amount,
                    now,
                )
                .await?;
            }
            ledger::post(
                &mut tx,
                &journal,
                Some(row.id),
                &acct(Kind::MerchantPending, merchant),
                &acct(Kind::Custody, None),
                r.amount.saturating_sub(shortfall),
                now,
            )
            .await?;
            if !shortfall.is_zero() {
                let short_text = crypto.map_or_else(
                    || shortfall.base().to_string(),
                    |c| shortfall.to_decimal_string(c.decimals),
                );
                tracing::error!(invoice = %row.uuid, shortfall = %short_text, currency = code, "a reversed payment was already withdrawn: the merchant owes the shortfall");
                events.push((
                    "reversal_shortfall",
                    json!({"txid": txid, "amount": short_text, "currency": code}),
                ));
                audit::record_activity(
                    &mut tx,
                    &Activity {
                        merchant_id: row.merchant_id,
                        actor: None,
                        action: "invoice.reversal_shortfall",
                        target_type: "invoice",
                        target_id: &row.uuid,
                        details: &json!({"invoice": format!("INV-{}", row.uuid), "txid": txid, "amount": short_text, "currency": code}),
                        ip: "",
                    },
                    now,
                )
                .await?;
            }
        }
        events.push(("payment_reversed", details.clone()));
        if r.from != r.to {
            events.push((
                "status_changed",
                json!({"from": r.from.as_str(), "to": r.to.as_str()}),
            ));
        }
        audit::record_activity(
            &mut tx,
            &Activity {
                merchant_id: row.merchant_id,
                actor: None,
                action: "invoice.payment_reversed",
                target_type: "invoice",
                target_id: &row.uuid,
                details: &json!({"invoice": format!("INV-{}", row.uuid), "txid": txid, "amount": amount_text, "currency": row.currency, "status": r.to.as_str()}),
                ip: "",
            },
            now,
        )
        .await?;
    }
    invoices::save_state(
        &mut tx,
        row.id,
        &StateUpdate {
            status: state.status,
            confirmed: state.confirmed,
            paid_late: state.paid_late,
            received: state.received,
            processing: state.processing,
            settled: state.settled(),
            finished_at,
        },
        now,
    )
    .await?;
    invoices::add_events(&mut tx, row.id, &events, now).await?;
    tx.commit().await?;
    Ok(Some(invoice_id))
}

/// Simulates a payment (test invoices only): the same path a chain transfer takes, with a
/// made-up transaction id. `confirmed: false` leaves it seen but unconfirmed.
pub async fn simulate_payment(
    st: &AppState,
    row: &InvoiceRow,
    amount: Amount,
    confirmed: bool,
) -> Result<Recorded, InvoiceError> {
    simulate_payment_logged(st, row, amount, confirmed, None).await
}

/// [`simulate_payment`], writing `logged` to the activity log with the payment's last step.
async fn simulate_payment_logged(
    st: &AppState,
    row: &InvoiceRow,
    amount: Amount,
    confirmed: bool,
    logged: Option<&Logged<'_>>,
) -> Result<Recorded, InvoiceError> {
    let (Some(code), Some(address)) = (row.currency.as_deref(), row.address.as_deref()) else {
        return Err(kassa_core::invoice::InvalidTransition::NoCurrency.into());
    };
    let crypto =
        currency::crypto(code).ok_or_else(|| InvoiceError::CurrencyUnavailable(code.into()))?;
    let seed = st.keyring.derive_key("simulated-network");
    let counter: u64 = rand::random();
    let txid = kassa_chain::simulated::transaction_id(&seed, crypto.network, counter);
    let mut report = TransferReport {
        network: crypto.network,
        txid: &txid,
        index: 0,
        address,
        amount,
        currency: crypto,
        confirmed: false,
        confirmations: 0,
        test: true,
    };
    if confirmed {
        record_transfer(st, &report).await?;
        report.confirmed = true;
        report.confirmations = 1;
        return record_transfer_logged(st, &report, logged).await;
    }
    record_transfer_logged(st, &report, logged).await?;
    Ok(Recorded::Invoice(row.id))
}

/// What "confirm without payment" simulates on a test invoice (the dashboard and the payment
/// page offer all three).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simulated {
    /// Exactly what is still due.
    Full,
    /// Half of what is still due (at least one base unit short of it).
    Partial,
    /// What is still due plus a tenth of the amount due.
    Over,
}

impl Simulated {
    /// The form value: `full`, `partial` or `over`.
    pub fn as_str(self) -> &'static str {
        match self {
            Simulated::Full => "full",
            Simulated::Partial => "partial",
            Simulated::Over => "over",
        }
    }

    /// Parses the form value.
    pub fn parse(s: &str) -> Option<Simulated> {
        [Simulated::Full, Simulated::Partial, Simulated::Over]
            .into_iter()
            .find(|o| o.as_str() == s.trim())
    }
}

/// The payment `outcome` needs on `row`, which must have a locked quote; `None` when nothing
/// is due any more and a full or partial payment makes no sense.
pub fn simulated_amount(row: &InvoiceRow, outcome: Simulated) -> Option<Amount> {
    let due = row.quote?.due;
    let missing = due.saturating_sub(row.received);
    match outcome {
        Simulated::Full => (!missing.is_zero()).then_some(missing),
        Simulated::Partial => {
            let half = Amount::from_base(missing.base() / 2);
            (!half.is_zero()).then_some(half)
        }
        Simulated::Over => missing.checked_add(Amount::from_base((due.base() / 10).max(1))),
    }
}

/// Confirms a test invoice without a payment: simulates the payment `outcome` needs, through
/// the same path as any transfer.
pub async fn simulate(
    st: &AppState,
    row: &InvoiceRow,
    outcome: Simulated,
) -> Result<Recorded, InvoiceError> {
    simulate_logged(st, row, outcome, None).await
}

/// [`simulate`] from the dashboard: test invoices only, written to the activity log with the
/// confirming payment.
pub async fn simulate_as(
    st: &AppState,
    row: &InvoiceRow,
    outcome: Simulated,
    actor: &Actor<'_>,
) -> Result<Recorded, ActionError> {
    if !row.test {
        return Err(ActionError::NotTest);
    }
    Ok(simulate_logged(st, row, outcome, Some(actor)).await?)
}

async fn simulate_logged(
    st: &AppState,
    row: &InvoiceRow,
    outcome: Simulated,
    actor: Option<&Actor<'_>>,
) -> Result<Recorded, InvoiceError> {
    if row.quote.is_none() {
        return Err(kassa_core::invoice::InvalidTransition::NoCurrency.into());
    }
    let amount =
        simulated_amount(row, outcome).ok_or(kassa_core::invoice::InvalidTransition::NothingDue)?;
    let logged = actor.map(|a| {
        let code = row.currency.as_deref().unwrap_or_default();
        let decimals = currency::crypto(code).map_or(0, |c| c.decimals);
        Logged {
            actor: a,
            action: "invoice.simulated",
            details: json!({
                "outcome": outcome.as_str(),
                "amount": format!("{} {code}", amount.to_decimal_string(decimals)),
            }),
        }
    });
    simulate_payment_logged(st, row, amount, true, logged.as_ref()).await
}

/// Cancels a `created` invoice without payments.
pub async fn cancel(
    st: &AppState,
    invoice: InvoiceId,
    by: &str,
) -> Result<InvoiceRow, InvoiceError> {
    merchant_action(st, invoice, "canceled", by, None, InvoiceState::cancel).await
}

/// [`cancel`] from the dashboard, written to the activity log.
pub async fn cancel_as(
    st: &AppState,
    invoice: InvoiceId,
    actor: &Actor<'_>,
) -> Result<InvoiceRow, InvoiceError> {
    merchant_action(
        st,
        invoice,
        "canceled",
        "dashboard",
        Some(actor),
        InvoiceState::cancel,
    )
    .await
}

/// The merchant accepts a partial payment.
pub async fn confirm_partial(
    st: &AppState,
    invoice: InvoiceId,
    by: &str,
) -> Result<InvoiceRow, InvoiceError> {
    merchant_action(
        st,
        invoice,
        "partial_confirmed",
        by,
        None,
        InvoiceState::confirm_partial,
    )
    .await
}

/// [`confirm_partial`] from the dashboard, written to the activity log.
pub async fn confirm_partial_as(
    st: &AppState,
    invoice: InvoiceId,
    actor: &Actor<'_>,
) -> Result<InvoiceRow, InvoiceError> {
    merchant_action(
        st,
        invoice,
        "partial_confirmed",
        "dashboard",
        Some(actor),
        InvoiceState::confirm_partial,
    )
    .await
}

/// Runs an action of the merchant's (`by` names who; a dashboard `actor` is also written to the
/// activity log as `invoice.<kind>`) on an invoice and persists it with its event.
async fn merchant_action(
    st: &AppState,
    invoice: InvoiceId,
    kind: &'static str,
    by: &str,
    actor: Option<&Actor<'_>>,
    action: fn(&mut InvoiceState) -> Result<Change, kassa_core::invoice::InvalidTransition>,
) -> Result<InvoiceRow, InvoiceError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let row = invoices::lock(&mut tx, invoice).await?;
    let mut state = state_of(&row);
    let change = action(&mut state)?;
    apply(
        &mut tx,
        st,
        &row,
        Transition {
            state: &state,
            change: &change,
            received_now: Amount::ZERO,
            events: vec![event(
                kind,
                actor.map_or_else(|| json!({"by": by}), Actor::timeline),
            )],
        },
        now,
    )
    .await?;
    if let Some(a) = actor {
        let details = json!({
            "before": {"status": change.from.as_str()},
            "after": {"status": change.to.as_str()},
        });
        let name = format!("invoice.{kind}");
        log_action(&mut tx, a, row.merchant_id, &row.uuid, &name, details, now).await?;
    }
    tx.commit().await?;
    st.worker.wake();
    Ok(invoices::by_id(&mut st.db.conn().await?, invoice).await?)
}

/// The static wallet of (project, currency, customer), created on first request.
pub async fn static_wallet(
    st: &AppState,
    project: &ProjectRow,
    crypto: &'static Crypto,
    identify: &str,
) -> Result<StaticWalletRow, InvoiceError> {
    if !offered(st, project).iter().any(|c| c.code == crypto.code) {
        return Err(InvoiceError::CurrencyUnavailable(crypto.code.into()));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let test = project.test_mode;
    if let Some(w) =
        invoices::static_wallet(&mut tx, project.id, crypto.code, identify, test).await?
    {
        return Ok(w);
    }
    let uuid = crate::projects::random_string(UUID_ALPHABET, 32);
    // The address is derived first (it needs no owner row to be computed), then both rows go in.
    let (index, address) = derive_address(&mut tx, st, crypto.network, test).await?;
    let id = match invoices::insert_static_wallet(
        &mut tx,
        &uuid,
        project.id,
        crypto.code,
        identify,
        &address,
        project.test_mode,
        now,
    )
    .await
    {
        Ok(id) => id,
        // Created concurrently by another request: return that one.
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            let mut c = st.db.conn().await?;
            return invoices::static_wallet(&mut c, project.id, crypto.code, identify, test)
                .await?
                .ok_or_else(|| StoreError::NotFound.into());
        }
        Err(e) => return Err(e.into()),
    };
    invoices::insert_address(
        &mut tx,
        crypto.network.code,
        &address,
        index,
        project.test_mode,
        Owner::StaticWallet(id),
        now,
    )
    .await?;
    let w = invoices::static_wallet_by_id(&mut tx, id).await?;
    tx.commit().await?;
    Ok(w)
}

/// The `invoice.expire` job: at the invoice's expiry, cancel it if nobody started paying.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Expire {
    /// The invoice.
    pub invoice_id: i64,
}

impl Job for Expire {
    const KIND: &'static str = "invoice.expire";
}

/// Runs `invoice.expire` jobs.
pub struct ExpireHandler {
    /// The application (filled in once built).
    pub state: std::sync::Arc<std::sync::OnceLock<AppState>>,
}

impl ExpireHandler {
    async fn expire(&self, payload: &str) -> Result<(), JobError> {
        let job: Expire = worker::parse_payload(payload)?;
        let st = worker::app_state(&self.state)?;
        let now = st.clock.now();
        let mut tx = st.db.begin().await?;
        let row = invoices::lock(&mut tx, InvoiceId::new(job.invoice_id)).await?;
        let mut state = state_of(&row);
        if let Some(change) = state.expire(now) {
            apply(
                &mut tx,
                st,
                &row,
                Transition {
                    state: &state,
                    change: &change,
                    received_now: Amount::ZERO,
                    events: vec![event("expired", json!({}))],
                },
                now,
            )
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl JobHandler for ExpireHandler {
    fn kind(&self) -> &'static str {
        Expire::KIND
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self.expire(payload))
    }
}

/// Converts a fiat amount from the API or a form into a price (rounded to the currency's
/// minor unit, half up).
pub fn fiat_price(fiat: &'static Fiat, amount: Decimal) -> Option<Price> {
    if amount <= Decimal::ZERO {
        return None;
    }
    let rounded = amount.round_dp_with_strategy(
        fiat.decimals,
        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
    );
    (rounded > Decimal::ZERO).then_some(Price::Fiat(fiat, rounded))
}

/// `Rounding` re-exported for callers that convert amounts.
pub const ROUND_UP: Rounding = Rounding::Up;

/// The quote the invoice would get in `crypto` now, without locking anything (what the API
/// shows before the payer chooses): the quote and the USD rate.
pub fn indicative_quote(
    st: &AppState,
    row: &InvoiceRow,
    crypto: &'static Crypto,
) -> Option<(Quote, Decimal)> {
    quote_for(st, &QuoteBasis::of(row), crypto, st.clock.now())
        .ok()
        .map(|(q, r, _)| (q, r))
}

/// The `invoice.remind` job: e-mails the payment link again every `period` while the invoice
/// waits for payment (`add_fields.period` of the API).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Remind {
    /// The invoice.
    pub invoice_id: i64,
    /// Recipient.
    pub to: String,
    /// Seconds between reminders.
    pub period_secs: u64,
}

impl Job for Remind {
    const KIND: &'static str = "invoice.remind";
}

/// The payment-request e-mail for invoice `uuid` of `amount` `currency`.
fn invoice_letter(
    st: &AppState,
    project: &ProjectRow,
    uuid: &str,
    amount: &str,
    currency: &str,
    tr: Tr,
) -> Letter {
    Letter {
        subject: tr.f1("mail.invoice.subject", "shop", &project.settings.name),
        paragraphs: vec![tr.f(
            "mail.invoice.body",
            &[
                ("shop", &project.settings.name),
                ("amount", &amount),
                ("currency", &currency),
            ],
        )],
        action: Some((
            tr.t("mail.invoice.action").to_owned(),
            format!("{}/pay/{uuid}", st.public_url),
        )),
        footer: tr.t("mail.invoice.footer").to_owned(),
    }
}

/// Whether an invoice still waits for payment: open, unconfirmed and not expired.
pub fn waits_for_payment(row: &InvoiceRow, now: Timestamp) -> bool {
    matches!(row.status, Status::Created | Status::Partial)
        && row.confirmed.is_none()
        && now < row.expires_at
}

/// Sends the postback of a confirmed invoice again (from the dashboard): a fresh
/// `postback.send` job, in one transaction with a timeline event and the activity entry.
pub async fn resend_postback(
    st: &AppState,
    invoice: InvoiceId,
    actor: &Actor<'_>,
) -> Result<(), ActionError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let row = invoices::lock(&mut tx, invoice).await?;
    if row.confirmed.is_none() {
        return Err(ActionError::NotConfirmed);
    }
    let project = kassa_store::projects::by_id(&mut tx, row.project_id).await?;
    let url = project.settings.notify_url.trim();
    if url.is_empty() {
        return Err(ActionError::NoNotifyUrl);
    }
    invoices::add_event(&mut tx, row.id, "postback_resent", &actor.timeline(), now).await?;
    crate::postbacks::enqueue(&mut tx, st, &row, now).await?;
    log_action(
        &mut tx,
        actor,
        row.merchant_id,
        &row.uuid,
        "invoice.postback_resent",
        json!({"url": url}),
        now,
    )
    .await?;
    tx.commit().await?;
    st.worker.wake();
    Ok(())
}

/// E-mails the payment link of an invoice that waits for payment to `to` (from the
/// dashboard), in the invoice's language. The letter is a `mail.send` job in one transaction
/// with a timeline event and the activity entry.
pub async fn send_link(
    st: &AppState,
    project: &ProjectRow,
    invoice: InvoiceId,
    to: &Email,
    actor: &Actor<'_>,
) -> Result<(), ActionError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let row = invoices::lock(&mut tx, invoice).await?;
    if !waits_for_payment(&row, now) {
        return Err(ActionError::NotPayable);
    }
    let tr = Tr::new(Lang::parse(&row.locale).unwrap_or_else(|| project_lang(project)));
    let m = invoice_letter(
        st,
        project,
        &row.uuid,
        &row.price_amount,
        &row.price_currency,
        tr,
    )
    .render(to.as_str(), tr)
    .map_err(ServiceError::from)?;
    mail::enqueue(&mut tx, &st.keyring, &m, now).await?;
    let mut details = json!({"to": to.as_str()});
    actor.sign(&mut details);
    invoices::add_event(&mut tx, row.id, "link_sent", &details, now).await?;
    log_action(
        &mut tx,
        actor,
        row.merchant_id,
        &row.uuid,
        "invoice.link_sent",
        json!({"to": to.as_str()}),
        now,
    )
    .await?;
    tx.commit().await?;
    st.worker.wake();
    Ok(())
}

/// Runs `invoice.remind` jobs.
pub struct ReminderHandler {
    /// The application (filled in once built).
    pub state: std::sync::Arc<std::sync::OnceLock<AppState>>,
}

impl ReminderHandler {
    async fn remind(&self, payload: &str) -> Result<(), JobError> {
        let job: Remind = worker::parse_payload(payload)?;
        let st = worker::app_state(&self.state)?;
        let now = st.clock.now();
        let mut tx = st.db.begin().await?;
        let row = invoices::by_id(&mut tx, InvoiceId::new(job.invoice_id)).await?;
        let waiting = matches!(row.status, Status::Created | Status::Partial)
            && row.confirmed.is_none()
            && now < row.expires_at;
        if waiting {
            let project = kassa_store::projects::by_id(&mut tx, row.project_id).await?;
            let tr = Tr::new(Lang::parse(&row.locale).unwrap_or_else(|| project_lang(&project)));
            let m = invoice_letter(
                st,
                &project,
                &row.uuid,
                &row.price_amount,
                &row.price_currency,
                tr,
            )
            .render(&job.to, tr)
            .map_err(|e| JobError::Permanent(e.to_string()))?;
            mail::enqueue(&mut tx, &st.keyring, &m, now).await?;
            worker::enqueue(
                &mut tx,
                &job,
                now.saturating_add(Duration::from_secs(job.period_secs.max(3600))),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl JobHandler for ReminderHandler {
    fn kind(&self) -> &'static str {
        Remind::KIND
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self.remind(payload))
    }
}
