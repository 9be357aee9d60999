//! An invoice as the Payments table, its export and the home page show it: the fields they
//! read and no more (21, not the invoice's 45), its currency resolved once. A million-row
//! export reads a million of these. On SQLite a page travels from the engine as one value — a
//! JSON array of rows — instead of row by row: each result row would cross a thread and copy
//! every column, which cost more than everything else the export does. PostgreSQL sends rows
//! cheaply; both end as the same [`Wire`] form.

use kassa_core::currency::{self, Crypto};
use kassa_core::invoice::{Price, Status};
use kassa_core::money::parse_decimal;
use kassa_core::{Amount, Decimal, InvoiceId, ProjectId, Timestamp};

use crate::StoreError;

/// The fields of a [`PaymentRow`] as one JSON array per invoice, the same on both engines:
/// amounts as text, flags as 0/1 (see [`Wire`]); the page adds the transaction hashes.
pub(crate) const PAYMENT_FIELDS: &str = "invoice_id, uuid, project_id, status, \
     case when paid_late then 1 else 0 end, case when test then 1 else 0 end, price_currency, \
     price_amount, currency, address, cast(quote_due as text), rate_usd, rate_source, \
     cast(received as text), cast(processing as text), cast(settled_service_fee as text), \
     cast(settled_transfer_fee as text), order_id, email, finished_at, created_at";

/// The invoice columns [`PAYMENT_FIELDS`] reads (a page's inner query selects only these).
pub(crate) const PAYMENT_SOURCE: &str = "invoice_id, uuid, project_id, status, paid_late, test, \
     price_currency, price_amount, currency, address, quote_due, rate_usd, rate_source, received, \
     processing, settled_service_fee, settled_transfer_fee, order_id, email, finished_at, created_at";

/// One invoice in the Payments view.
#[derive(Clone, Debug)]
pub struct PaymentRow {
    /// Id.
    pub id: InvoiceId,
    /// Public id (the API adds `INV-`).
    pub uuid: String,
    /// Project.
    pub project_id: ProjectId,
    /// API status.
    pub status: Status,
    /// A payment arrived after expiry or cancellation.
    pub paid_late: bool,
    /// Test invoice.
    pub test: bool,
    /// The price as asked.
    pub price: Price,
    /// The chosen crypto code, as stored.
    pub currency: Option<String>,
    /// That currency in the catalogue (`None` before the payer chose, or for a code the
    /// catalogue no longer lists: its amounts then show empty rather than wrong).
    pub crypto: Option<&'static Crypto>,
    /// Deposit address.
    pub address: Option<String>,
    /// The amount due, once quoted.
    pub due: Option<Amount>,
    /// USD per unit of the chosen currency, locked with the quote.
    pub rate_usd: Option<Decimal>,
    /// Where that rate came from.
    pub rate_source: Option<String>,
    /// Σ confirmed payments.
    pub received: Amount,
    /// Σ payments seen, not yet confirmed.
    pub processing: Amount,
    /// Service and transfer fees kept so far.
    pub fees: Amount,
    /// The merchant's order id.
    pub order_id: String,
    /// The payer's e-mail.
    pub email: String,
    /// When it was confirmed or cancelled.
    pub finished_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// The transaction hashes paying it, in the order they were seen (read only when the
    /// page asks for [`Detail::Txids`](crate::payment_list::Detail::Txids)).
    pub txids: Vec<String>,
}

/// One invoice as the engine sends it: the JSON array of [`PAYMENT_FIELDS`] and its
/// transaction hashes (`null` when not asked for).
#[derive(serde::Deserialize)]
pub(crate) struct Wire(
    i64,
    String,
    i64,
    String,
    u8,
    u8,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    i64,
    Option<Vec<String>>,
);

fn corrupt(column: &'static str, v: &str) -> StoreError {
    StoreError::Corrupt {
        column,
        reason: format!("unexpected value {v:?}"),
    }
}

fn amount(column: &'static str, v: &str) -> Result<Amount, StoreError> {
    v.parse::<u128>()
        .map(Amount::from_base)
        .map_err(|_| corrupt(column, v))
}

impl Wire {
    /// The same fields from a PostgreSQL result row.
    pub(crate) fn of_pg(r: &sqlx::postgres::PgRow) -> Result<Wire, sqlx::Error> {
        use sqlx::Row as _;
        let flag =
            |i: usize| -> Result<u8, sqlx::Error> { Ok(u8::from(r.try_get::<i32, _>(i)? != 0)) };
        Ok(Wire(
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get(3)?,
            flag(4)?,
            flag(5)?,
            r.try_get(6)?,
            r.try_get(7)?,
            r.try_get(8)?,
            r.try_get(9)?,
            r.try_get(10)?,
            r.try_get(11)?,
            r.try_get(12)?,
            r.try_get(13)?,
            r.try_get(14)?,
            r.try_get(15)?,
            r.try_get(16)?,
            r.try_get(17)?,
            r.try_get(18)?,
            r.try_get(19)?,
            r.try_get(20)?,
            r.try_get(21)?,
        ))
    }

    /// The row it describes.
    pub(crate) fn row(self) -> Result<PaymentRow, StoreError> {
        let Wire(
            id,
            uuid,
            project,
            status,
            paid_late,
            test,
            price_currency,
            price_amount,
            currency,
            address,
            due,
            rate_usd,
            rate_source,
            received,
            processing,
            service_fee,
            transfer_fee,
            order_id,
            email,
            finished_at,
            created_at,
            txids,
        ) = self;
        let mut txids = txids.unwrap_or_default();
        // One transaction may pay an invoice in several outputs: each hash once.
        let mut seen = std::collections::HashSet::new();
        txids.retain(|t| seen.insert(t.clone()));
        let service_fee = amount("invoice.settled_service_fee", &service_fee)?;
        let transfer_fee = amount("invoice.settled_transfer_fee", &transfer_fee)?;
        Ok(PaymentRow {
            id: InvoiceId::new(id),
            uuid,
            project_id: ProjectId::new(project),
            status: Status::parse(&status).ok_or_else(|| corrupt("invoice.status", &status))?,
            paid_late: paid_late != 0,
            test: test != 0,
            price: Price::from_stored(&price_currency, &price_amount).ok_or_else(|| {
                corrupt("invoice.price", &format!("{price_amount} {price_currency}"))
            })?,
            crypto: currency.as_deref().and_then(currency::crypto),
            currency,
            address,
            due: due.map(|d| amount("invoice.quote_due", &d)).transpose()?,
            rate_usd: rate_usd
                .map(|t| parse_decimal(&t).ok_or_else(|| corrupt("invoice.rate_usd", &t)))
                .transpose()?,
            rate_source,
            received: amount("invoice.received", &received)?,
            processing: amount("invoice.processing", &processing)?,
            fees: service_fee.checked_add(transfer_fee).ok_or_else(|| {
                corrupt(
                    "invoice.settled_fees",
                    &format!("{service_fee:?} + {transfer_fee:?}"),
                )
            })?,
            order_id,
            email,
            finished_at: finished_at.map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(created_at),
            txids,
        })
    }
}
