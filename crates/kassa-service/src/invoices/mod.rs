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

mod actions;
mod create;
mod jobs;

use std::time::Duration;

use crate::audit::Target;
use kassa_core::currency::Crypto;
use kassa_core::invoice::{InvoiceState, QuoteError};
use kassa_core::{MerchantId, Timestamp};
use kassa_store::invoices::InvoiceRow;
use kassa_store::ledger::LedgerError;
use kassa_store::projects::ProjectRow;
use kassa_store::{StoreError, Tx};
use serde_json::json;

use crate::Ctx;
use crate::accounts::ServiceError;
use crate::i18n::Lang;

pub use actions::*;
pub use create::*;
pub use jobs::*;

const UUID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Shortest and longest invoice lifetimes.
pub const LIFETIME_RANGE: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(31 * 24 * 3600));

pub use kassa_core::invoice::{Price, PriceError};

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

/// An amount outside what can be invoiced or paid in a currency, with the limit written as a
/// merchant or payer reads it (`"0.0000294 LTC"`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Bound {
    /// Worth less than one US cent; `min` is a cent in the price's currency.
    #[error("the smallest invoice is worth 0.01 USD ({min})")]
    BelowCent {
        /// One cent in the price's currency, rounded up.
        min: String,
    },
    /// Below the smallest payment the network carries (its dust limit).
    #[error("the smallest payment in {code} is {min}")]
    BelowNetworkMinimum {
        /// The crypto currency.
        code: &'static str,
        /// Its smallest payment.
        min: String,
    },
    /// At or above 10^15 whole units of the crypto currency.
    #[error("the largest amount payable in {code} is {max}")]
    AboveMaximum {
        /// The crypto currency.
        code: &'static str,
        /// The largest amount.
        max: String,
    },
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
    /// An amount outside what can be invoiced or paid.
    #[error(transparent)]
    Bound(#[from] Bound),
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

impl From<crate::withdrawals::WithdrawError> for InvoiceError {
    fn from(e: crate::withdrawals::WithdrawError) -> Self {
        use crate::withdrawals::WithdrawError as W;
        match e {
            W::Store(s) => s.into(),
            W::Ledger(l) => l.into(),
            other => InvoiceError::Service(ServiceError::Store(StoreError::Corrupt {
                column: "withdrawal",
                reason: other.to_string(),
            })),
        }
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

/// Who acts on invoices: a signed-in user from the dashboard is named on the invoice's
/// timeline and written to the activity log in the transaction of the change; API calls have
/// no actor and no activity entry.
pub use crate::audit::Actor;

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
pub(crate) async fn log_action(
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
    actor
        .record(tx, merchant, action, Target::Invoice(uuid), details, now)
        .await
}

/// A dashboard action to write to the activity log with the change it causes.
pub(crate) struct Logged<'a> {
    pub(crate) actor: &'a Actor<'a>,
    pub(crate) action: &'static str,
    pub(crate) details: serde_json::Value,
}

/// The project's default payment-page language.
pub fn project_lang(project: &ProjectRow) -> Lang {
    project.settings.page_language
}

/// A new public invoice id: 8 characters `A-Z0-9`.
pub fn new_uuid() -> String {
    crate::projects::random_string(UUID_ALPHABET, 8)
}

/// The crypto currencies a project offers for invoices of its current mode.
pub fn offered(st: &Ctx, project: &ProjectRow) -> Vec<&'static Crypto> {
    offered_in_mode(st, project, project.test_mode)
}

pub use crate::projects::offered_in_mode;

/// The currencies a given invoice offers the payer.
pub fn allowed_for(st: &Ctx, project: &ProjectRow, invoice: &InvoiceRow) -> Vec<&'static Crypto> {
    let offered = offered_in_mode(st, project, invoice.test);
    let allowed = &invoice.allowed_currencies;
    if allowed.is_empty() {
        offered
    } else {
        offered
            .into_iter()
            .filter(|c| allowed.iter().any(|a| a == c.code))
            .collect()
    }
}

pub(crate) fn event(
    kind: &'static str,
    details: serde_json::Value,
) -> (&'static str, serde_json::Value) {
    (kind, details)
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
