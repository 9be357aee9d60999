//! Invoices and what hangs off them: deposit addresses, chain transfers, static wallets, the
//! timeline of events and postback attempts.

use kassa_core::Decimal;
use kassa_core::invoice::{Confirmation, Price, Quote, Settlement, Side, Status, Tolerance};
use kassa_core::lang::Lang;
use kassa_core::money::parse_decimal;
use kassa_core::{Amount, InvoiceId, MerchantId, ProjectId, StaticWalletId, Timestamp};

pub use crate::postbacks::{PostbackAttempt, PostbackAttemptRow, postbacks_of, record_postback};
pub use crate::transfers::{
    NewTransfer, TransferRow, TransferState, insert_transfer, set_position, transfer, transfers_of,
};
use crate::{AsConn, DbAmount, Engine, StoreError, exec, invoice_days, sql};

/// An invoice as stored.
#[derive(Clone, Debug)]
pub struct InvoiceRow {
    /// Id.
    pub id: InvoiceId,
    /// Public id: 8 characters `A-Z0-9` (the API adds `INV-`).
    pub uuid: String,
    /// Project.
    pub project_id: ProjectId,
    /// Merchant.
    pub merchant_id: MerchantId,
    /// API status.
    pub status: Status,
    /// How it was confirmed.
    pub confirmed: Option<Confirmation>,
    /// A payment arrived after expiry or cancellation.
    pub paid_late: bool,
    /// Test invoice (simulated payments, no balances).
    pub test: bool,
    /// The price, in fiat or exactly in a crypto currency.
    pub price: Price,
    /// The price in US dollars at creation (rounded to cents).
    pub amount_usd: Decimal,
    /// Crypto codes the payer may choose from; empty: the project's.
    pub allowed_currencies: Vec<String>,
    /// Chosen crypto code.
    pub currency: Option<String>,
    /// Deposit address.
    pub address: Option<String>,
    /// Locked quote.
    pub quote: Option<Quote>,
    /// USD per unit of the chosen currency at locking.
    pub rate_usd: Option<Decimal>,
    /// Where the rate came from.
    pub rate_source: Option<String>,
    /// When the rate was locked.
    pub rate_locked_at: Option<Timestamp>,
    /// Who pays the service fee.
    pub service_fee_side: Side,
    /// Who pays the transfer fee.
    pub transfer_fee_side: Side,
    /// The underpayment accepted (copied from the project at creation).
    pub tolerance: Tolerance,
    /// Σ confirmed payments.
    pub received: Amount,
    /// Σ payments seen, not confirmed.
    pub processing: Amount,
    /// What has been settled so far.
    pub settled: Settlement,
    /// Merchant's order id.
    pub order_id: String,
    /// Payer e-mail.
    pub email: String,
    /// Description.
    pub description: String,
    /// Payment page language; `None`: the project's.
    pub locale: Option<Lang>,
    /// For static wallet payments.
    pub static_wallet_id: Option<StaticWalletId>,
    /// Expiry.
    pub expires_at: Timestamp,
    /// When it was confirmed or cancelled.
    pub finished_at: Option<Timestamp>,
    /// When the merchant (or the API) cancelled it, unpaid.
    pub canceled_at: Option<Timestamp>,
    /// When the merchant accepted a partial payment.
    pub accepted_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
}

const COLUMNS: &str = "invoice_id, uuid, project_id, merchant_id, status, confirmed, paid_late, test, price_currency, \
     price_amount, amount_usd, allowed_currencies, currency, address, quote_price, quote_service_fee, quote_transfer_fee, \
     quote_due, quote_tolerance, quote_service_ppm, rate_usd, rate_source, rate_locked_at, service_fee_side, \
     transfer_fee_side, tolerance_kind, tolerance_value, received, processing, settled_credit, settled_service_fee, \
     settled_transfer_fee, order_id, email, description, locale, static_wallet_id, expires_at, finished_at, created_at, \
     canceled_at, accepted_at";

fn corrupt(column: &'static str, v: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("{column}: unexpected value {v:?}").into())
}

fn decimal(column: &'static str, v: &str) -> Result<Decimal, sqlx::Error> {
    parse_decimal(v).ok_or_else(|| corrupt(column, v))
}

macro_rules! invoice_from_row {
    ($r:expr) => {{
        use sqlx::Row as _;
        let r = &$r;
        let status: String = r.try_get("status")?;
        let confirmed: Option<String> = r.try_get("confirmed")?;
        let service_side: String = r.try_get("service_fee_side")?;
        let price_currency: String = r.try_get("price_currency")?;
        let price_amount: String = r.try_get("price_amount")?;
        let amount_usd: String = r.try_get("amount_usd")?;
        let allowed: String = r.try_get("allowed_currencies")?;
        let rate_usd: Option<String> = r.try_get("rate_usd")?;
        let tolerance_kind: String = r.try_get("tolerance_kind")?;
        let tolerance_value: String = r.try_get("tolerance_value")?;
        let locale: String = r.try_get("locale")?;
        let transfer_side: String = r.try_get("transfer_fee_side")?;
        let due: Option<DbAmount> = r.try_get("quote_due")?;
        let quote = match due {
            None => None,
            Some(due) => Some(Quote {
                price: r
                    .try_get::<Option<DbAmount>, _>("quote_price")?
                    .unwrap_or_default()
                    .0,
                service_fee: r
                    .try_get::<Option<DbAmount>, _>("quote_service_fee")?
                    .unwrap_or_default()
                    .0,
                transfer_fee: r
                    .try_get::<Option<DbAmount>, _>("quote_transfer_fee")?
                    .unwrap_or_default()
                    .0,
                due: due.0,
                tolerance: r
                    .try_get::<Option<DbAmount>, _>("quote_tolerance")?
                    .unwrap_or_default()
                    .0,
                service_ppm: u32::try_from(
                    r.try_get::<Option<i64>, _>("quote_service_ppm")?
                        .unwrap_or(0),
                )
                .unwrap_or(0),
            }),
        };
        InvoiceRow {
            id: InvoiceId::new(r.try_get("invoice_id")?),
            uuid: r.try_get("uuid")?,
            project_id: ProjectId::new(r.try_get("project_id")?),
            merchant_id: MerchantId::new(r.try_get("merchant_id")?),
            status: Status::parse(&status).ok_or_else(|| corrupt("invoice.status", &status))?,
            confirmed: match confirmed {
                Some(c) => {
                    Some(Confirmation::parse(&c).ok_or_else(|| corrupt("invoice.confirmed", &c))?)
                }
                None => None,
            },
            paid_late: r.try_get("paid_late")?,
            test: r.try_get("test")?,
            price: Price::from_stored(&price_currency, &price_amount).ok_or_else(|| {
                corrupt("invoice.price", &format!("{price_amount} {price_currency}"))
            })?,
            amount_usd: decimal("invoice.amount_usd", &amount_usd)?,
            allowed_currencies: crate::projects::code_list(&allowed),
            currency: r.try_get("currency")?,
            address: r.try_get("address")?,
            quote,
            rate_usd: match rate_usd {
                Some(t) => Some(decimal("invoice.rate_usd", &t)?),
                None => None,
            },
            rate_source: r.try_get("rate_source")?,
            rate_locked_at: r
                .try_get::<Option<i64>, _>("rate_locked_at")?
                .map(Timestamp::from_micros),
            service_fee_side: Side::parse(&service_side)
                .ok_or_else(|| corrupt("invoice.service_fee_side", &service_side))?,
            transfer_fee_side: Side::parse(&transfer_side)
                .ok_or_else(|| corrupt("invoice.transfer_fee_side", &transfer_side))?,
            tolerance: parse_decimal(&tolerance_value)
                .and_then(|v| Tolerance::from_parts(&tolerance_kind, v))
                .ok_or_else(|| {
                    corrupt(
                        "invoice.tolerance",
                        &format!("{tolerance_kind} {tolerance_value}"),
                    )
                })?,
            received: r.try_get::<DbAmount, _>("received")?.0,
            processing: r.try_get::<DbAmount, _>("processing")?.0,
            settled: Settlement {
                credit: r.try_get::<DbAmount, _>("settled_credit")?.0,
                service_fee: r.try_get::<DbAmount, _>("settled_service_fee")?.0,
                transfer_fee: r.try_get::<DbAmount, _>("settled_transfer_fee")?.0,
            },
            order_id: r.try_get("order_id")?,
            email: r.try_get("email")?,
            description: r.try_get("description")?,
            locale: match locale.as_str() {
                "" => None,
                code => Some(Lang::parse(code).ok_or_else(|| corrupt("invoice.locale", code))?),
            },
            static_wallet_id: r
                .try_get::<Option<i64>, _>("static_wallet_id")?
                .map(StaticWalletId::new),
            expires_at: Timestamp::from_micros(r.try_get("expires_at")?),
            finished_at: r
                .try_get::<Option<i64>, _>("finished_at")?
                .map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(r.try_get("created_at")?),
            canceled_at: r
                .try_get::<Option<i64>, _>("canceled_at")?
                .map(Timestamp::from_micros),
            accepted_at: r
                .try_get::<Option<i64>, _>("accepted_at")?
                .map(Timestamp::from_micros),
        }
    }};
}

/// An invoice to create.
#[derive(Clone, Debug)]
pub struct NewInvoice<'a> {
    /// Public id.
    pub uuid: &'a str,
    /// Project.
    pub project_id: ProjectId,
    /// Merchant.
    pub merchant_id: MerchantId,
    /// Test invoice.
    pub test: bool,
    /// The price.
    pub price: Price,
    /// Price in USD.
    pub amount_usd: Decimal,
    /// Allowed crypto codes (may be empty: the project's).
    pub allowed_currencies: &'a [String],
    /// Fee sides.
    pub service_fee_side: Side,
    /// Fee sides.
    pub transfer_fee_side: Side,
    /// The underpayment accepted.
    pub tolerance: Tolerance,
    /// Merchant's order id.
    pub order_id: &'a str,
    /// Payer e-mail.
    pub email: &'a str,
    /// Description.
    pub description: &'a str,
    /// Payment page language (`None`: the project's).
    pub locale: Option<Lang>,
    /// Static wallet, for its payments.
    pub static_wallet_id: Option<StaticWalletId>,
    /// Expiry.
    pub expires_at: Timestamp,
    /// The quote, when the currency is known at creation.
    pub locked: Option<LockedQuote<'a>>,
}

/// A quote locked in a currency, with its deposit address and rate.
#[derive(Clone, Copy, Debug)]
pub struct LockedQuote<'a> {
    /// Crypto code.
    pub currency: &'a str,
    /// Deposit address.
    pub address: &'a str,
    /// The quote.
    pub quote: Quote,
    /// USD per unit.
    pub rate_usd: Decimal,
    /// Where the rate came from.
    pub rate_source: &'a str,
}

/// The invoice insert, returning the row as read (built once: the text never changes).
static INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "insert into invoice (uuid, project_id, merchant_id, status, test, price_currency, price_amount, amount_usd, \
         allowed_currencies, service_fee_side, transfer_fee_side, tolerance_kind, tolerance_value, order_id, email, \
         description, locale, static_wallet_id, expires_at, created_at, updated_at, \
         currency, address, quote_price, quote_service_fee, quote_transfer_fee, quote_due, quote_tolerance, \
         quote_service_ppm, rate_usd, rate_source, rate_locked_at, amount_usd_cents) \
         values ($1, $2, $3, 'created', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, \
         $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31) \
         returning {COLUMNS}"
    )
});

/// Inserts an invoice (status `created`), with its quote when [`NewInvoice::locked`]; the
/// row as stored (no second read). A taken uuid is a unique violation.
pub async fn insert(
    conn: &mut impl AsConn,
    i: &NewInvoice<'_>,
    now: Timestamp,
) -> Result<InvoiceRow, StoreError> {
    let l = i.locked.as_ref();
    let amount = |f: fn(&Quote) -> Amount| l.map(|l| DbAmount(f(&l.quote)));
    let cents = invoice_days::usd_cents(i.amount_usd).ok_or_else(|| StoreError::Corrupt {
        column: "invoice.amount_usd",
        reason: format!("{} USD is beyond what statistics can sum", i.amount_usd),
    })?;
    let row = sql!(conn, |c| {
        let r = sqlx::query(sqlx::AssertSqlSafe(INSERT.as_str()))
            .bind(i.uuid)
            .bind(i.project_id.get())
            .bind(i.merchant_id.get())
            .bind(i.test)
            .bind(i.price.code())
            .bind(i.price.amount_text())
            .bind(i.amount_usd.to_string())
            .bind(i.allowed_currencies.join(","))
            .bind(i.service_fee_side.as_str())
            .bind(i.transfer_fee_side.as_str())
            .bind(i.tolerance.kind())
            .bind(i.tolerance.value().to_string())
            .bind(i.order_id)
            .bind(i.email)
            .bind(i.description)
            .bind(i.locale.map_or("", Lang::code))
            .bind(i.static_wallet_id.map(StaticWalletId::get))
            .bind(i.expires_at.as_micros())
            .bind(now.as_micros())
            .bind(l.map(|l| l.currency))
            .bind(l.map(|l| l.address))
            .bind(amount(|q| q.price))
            .bind(amount(|q| q.service_fee))
            .bind(amount(|q| q.transfer_fee))
            .bind(amount(|q| q.due))
            .bind(amount(|q| q.tolerance))
            .bind(l.map(|l| i64::from(l.quote.service_ppm)))
            .bind(l.map(|l| l.rate_usd.to_string()))
            .bind(l.map(|l| l.rate_source))
            .bind(l.map(|_| now.as_micros()))
            .bind(cents)
            .fetch_one(c)
            .await?;
        Ok::<_, sqlx::Error>(invoice_from_row!(r))
    })?;
    let currency = l.map_or("", |l| l.currency);
    invoice_days::created(
        conn,
        i.merchant_id,
        i.project_id,
        currency,
        i.test,
        cents,
        now,
    )
    .await?;
    Ok(row)
}

async fn one(
    conn: &mut impl AsConn,
    filter: &str,
    key: Key<'_>,
    lock: bool,
) -> Result<Option<InvoiceRow>, StoreError> {
    let engine = conn.as_conn().engine();
    let for_update = if lock && engine == Engine::Postgres {
        " for update"
    } else {
        ""
    };
    let q = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from invoice where {filter}{for_update}"
    ));
    let row = sql!(conn, |c| {
        let query = sqlx::query(q);
        let query = match key {
            Key::Id(id) => query.bind(id.get()),
            Key::Uuid(u) => query.bind(u),
            Key::ProjectUuid(p, u) => query.bind(p.get()).bind(u),
        };
        match query.fetch_optional(c).await? {
            Some(r) => Ok::<_, sqlx::Error>(Some(invoice_from_row!(r))),
            None => Ok(None),
        }
    })?;
    Ok(row)
}

enum Key<'a> {
    Id(InvoiceId),
    Uuid(&'a str),
    ProjectUuid(ProjectId, &'a str),
}

/// The invoice with this id.
pub async fn by_id(conn: &mut impl AsConn, id: InvoiceId) -> Result<InvoiceRow, StoreError> {
    one(conn, "invoice_id = $1", Key::Id(id), false)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The invoice with this id, locked for the rest of the transaction (PostgreSQL; SQLite
/// write transactions are exclusive already). Every status change goes through this.
pub async fn lock(conn: &mut impl AsConn, id: InvoiceId) -> Result<InvoiceRow, StoreError> {
    one(conn, "invoice_id = $1", Key::Id(id), true)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The invoice with this public id.
pub async fn by_uuid(conn: &mut impl AsConn, uuid: &str) -> Result<Option<InvoiceRow>, StoreError> {
    one(conn, "uuid = $1", Key::Uuid(uuid), false).await
}

/// The invoice with this public id in `project` (another project's is `None`).
pub async fn by_uuid_in_project(
    conn: &mut impl AsConn,
    project: ProjectId,
    uuid: &str,
) -> Result<Option<InvoiceRow>, StoreError> {
    one(
        conn,
        "project_id = $1 and uuid = $2",
        Key::ProjectUuid(project, uuid),
        false,
    )
    .await
}

/// Stores the payer's e-mail (given on the payment page).
pub async fn set_email(
    conn: &mut impl AsConn,
    id: InvoiceId,
    email: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update invoice set email = $1, updated_at = $2 where invoice_id = $3")
            .bind(email)
            .bind(now.as_micros())
            .bind(id.get())
    )?;
    Ok(())
}

/// Stores the chosen currency, deposit address and locked quote.
#[allow(clippy::too_many_arguments)]
pub async fn set_quote(
    conn: &mut impl AsConn,
    id: InvoiceId,
    currency: &str,
    address: &str,
    quote: &Quote,
    rate_usd: Decimal,
    rate_source: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let before = invoice_days::bucket_of(conn, id).await?;
    exec!(
        conn,
        sqlx::query(
            "update invoice set currency = $1, address = $2, quote_price = $3, quote_service_fee = $4, \
             quote_transfer_fee = $5, quote_due = $6, quote_tolerance = $7, quote_service_ppm = $8, rate_usd = $9, \
             rate_source = $10, rate_locked_at = $11, updated_at = $11 where invoice_id = $12"
        )
        .bind(currency)
        .bind(address)
        .bind(DbAmount(quote.price))
        .bind(DbAmount(quote.service_fee))
        .bind(DbAmount(quote.transfer_fee))
        .bind(DbAmount(quote.due))
        .bind(DbAmount(quote.tolerance))
        .bind(i64::from(quote.service_ppm))
        .bind(rate_usd.to_string())
        .bind(rate_source)
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    let after = invoice_days::Bucket {
        currency: currency.to_owned(),
        ..before.clone()
    };
    invoice_days::moved(conn, &before, &after).await
}

/// Records that the merchant (or the API) cancelled the invoice.
pub async fn set_canceled(
    conn: &mut impl AsConn,
    id: InvoiceId,
    at: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update invoice set canceled_at = $1, updated_at = $1 where invoice_id = $2")
            .bind(at.as_micros())
            .bind(id.get())
    )?;
    Ok(())
}

/// Records that the merchant accepted a partial payment.
pub async fn set_accepted(
    conn: &mut impl AsConn,
    id: InvoiceId,
    at: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update invoice set accepted_at = $1, updated_at = $1 where invoice_id = $2")
            .bind(at.as_micros())
            .bind(id.get())
    )?;
    Ok(())
}

/// The state a transition changes.
#[derive(Clone, Debug)]
pub struct StateUpdate {
    /// Status.
    pub status: Status,
    /// Confirmation.
    pub confirmed: Option<Confirmation>,
    /// Late flag.
    pub paid_late: bool,
    /// Σ confirmed.
    pub received: Amount,
    /// Σ processing.
    pub processing: Amount,
    /// Settled so far.
    pub settled: Settlement,
    /// Confirmed or cancelled at.
    pub finished_at: Option<Timestamp>,
}

/// Saves the state after a transition.
pub async fn save_state(
    conn: &mut impl AsConn,
    id: InvoiceId,
    s: &StateUpdate,
    now: Timestamp,
) -> Result<(), StoreError> {
    let before = invoice_days::bucket_of(conn, id).await?;
    exec!(
        conn,
        sqlx::query(
            "update invoice set status = $1, confirmed = $2, paid_late = $3, received = $4, processing = $5, \
             settled_credit = $6, settled_service_fee = $7, settled_transfer_fee = $8, finished_at = $9, updated_at = $10 \
             where invoice_id = $11"
        )
        .bind(s.status.as_str())
        .bind(s.confirmed.map(Confirmation::as_str))
        .bind(s.paid_late)
        .bind(DbAmount(s.received))
        .bind(DbAmount(s.processing))
        .bind(DbAmount(s.settled.credit))
        .bind(DbAmount(s.settled.service_fee))
        .bind(DbAmount(s.settled.transfer_fee))
        .bind(s.finished_at.map(Timestamp::as_micros))
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    let after = invoice_days::Bucket {
        status: s.status.as_str().to_owned(),
        ..before.clone()
    };
    invoice_days::moved(conn, &before, &after).await
}

/// Filters for listing a project's invoices.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Created at or after.
    pub from: Option<Timestamp>,
    /// Created before.
    pub until: Option<Timestamp>,
    /// Only this status.
    pub status: Option<Status>,
    /// Only this chosen currency.
    pub currency: Option<String>,
    /// Only the payments to this static wallet.
    pub static_wallet: Option<StaticWalletId>,
}

/// A project's invoices matching `f`, newest first, and how many match in all.
pub async fn list(
    conn: &mut impl AsConn,
    project: ProjectId,
    f: &ListFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<InvoiceRow>, i64), StoreError> {
    let filter = "project_id = $1 and ($2 is null or created_at >= $2) and ($3 is null or created_at < $3) \
                  and ($4 is null or status = $4) and ($5 is null or currency = $5) \
                  and ($6 is null or static_wallet_id = $6)";
    let q = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from invoice where {filter} order by created_at desc, invoice_id desc limit $7 offset $8"
    ));
    let count_q = sqlx::AssertSqlSafe(format!("select count(*) from invoice where {filter}"));
    let status = f.status.map(Status::as_str);
    let rows = sql!(conn, |c| {
        let rows = sqlx::query(q)
            .bind(project.get())
            .bind(f.from.map(Timestamp::as_micros))
            .bind(f.until.map(Timestamp::as_micros))
            .bind(status)
            .bind(f.currency.as_deref())
            .bind(f.static_wallet.map(StaticWalletId::get))
            .bind(limit)
            .bind(offset)
            .fetch_all(&mut *c)
            .await?;
        rows.iter()
            .map(|r| Ok::<_, sqlx::Error>(invoice_from_row!(r)))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let total: i64 = sql!(conn, |c| sqlx::query_scalar(count_q)
        .bind(project.get())
        .bind(f.from.map(Timestamp::as_micros))
        .bind(f.until.map(Timestamp::as_micros))
        .bind(status)
        .bind(f.currency.as_deref())
        .bind(f.static_wallet.map(StaticWalletId::get))
        .fetch_one(c)
        .await)?;
    Ok((rows, total))
}

/// The next derivation index for a deposit address (never repeats; gaps are harmless).
pub async fn next_derivation_index(conn: &mut impl AsConn) -> Result<i64, StoreError> {
    let engine = conn.as_conn().engine();
    let q = match engine {
        Engine::Postgres => "select nextval('derivation_index')",
        Engine::Sqlite => {
            "update counter set value = value + 1 where name = 'derivation_index' returning value"
        }
    };
    Ok(sql!(conn, |c| sqlx::query_scalar(q).fetch_one(c).await)?)
}

/// What a deposit address belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// An invoice.
    Invoice(InvoiceId),
    /// A static wallet.
    StaticWallet(StaticWalletId),
}

/// Records a deposit address. A taken (network, address) is a unique violation: addresses are
/// never reused.
pub async fn insert_address(
    conn: &mut impl AsConn,
    network: &str,
    address: &str,
    index: i64,
    test: bool,
    owner: Owner,
    now: Timestamp,
) -> Result<(), StoreError> {
    insert_addresses(conn, network, &[(address, index)], test, owner, now).await
}

/// Records deposit addresses of one owner, `(address, derivation index)` each, 1,000 rows per
/// statement (bulk loading: pre-derived pools, benchmarks).
pub async fn insert_addresses(
    conn: &mut impl AsConn,
    network: &str,
    addresses: &[(&str, i64)],
    test: bool,
    owner: Owner,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (invoice, wallet) = match owner {
        Owner::Invoice(i) => (Some(i.get()), None),
        Owner::StaticWallet(w) => (None, Some(w.get())),
    };
    for chunk in addresses.chunks(1000) {
        // Placeholders only: the statement text depends on the number of rows, never on data.
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, ${}, ${}, $2, $3, $4, $5)", 6 + 2 * i, 7 + 2 * i))
            .collect();
        let q = sqlx::AssertSqlSafe(format!(
            "insert into deposit_address (network, address, derivation_index, test, invoice_id, static_wallet_id, created_at) values {}",
            rows.join(", ")
        ));
        exec!(conn, {
            let mut query = sqlx::query(q)
                .bind(network)
                .bind(test)
                .bind(invoice)
                .bind(wallet)
                .bind(now.as_micros());
            for (address, index) in chunk {
                query = query.bind(*address).bind(*index);
            }
            query
        })?;
    }
    Ok(())
}

/// Who owns a deposit address on a network.
pub async fn owner_of(
    conn: &mut impl AsConn,
    network: &str,
    address: &str,
) -> Result<Option<(Owner, bool)>, StoreError> {
    let r: Option<(Option<i64>, Option<i64>, bool)> = sql!(conn, |c| {
        sqlx::query_as(
        "select invoice_id, static_wallet_id, test from deposit_address where network = $1 and address = $2"
    )
    .bind(network)
    .bind(address)
    .fetch_optional(c)
    .await
    })?;
    Ok(r.and_then(|(i, w, test)| match (i, w) {
        (Some(i), _) => Some((Owner::Invoice(InvoiceId::new(i)), test)),
        (None, Some(w)) => Some((Owner::StaticWallet(StaticWalletId::new(w)), test)),
        _ => None,
    }))
}

/// Appends an event to an invoice's timeline.
pub async fn add_event(
    conn: &mut impl AsConn,
    invoice: InvoiceId,
    kind: &str,
    details: &serde_json::Value,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("insert into invoice_event (invoice_id, kind, details, created_at) values ($1, $2, $3, $4)")
            .bind(invoice.get())
            .bind(kind)
            .bind(details.to_string())
            .bind(now.as_micros())
    )?;
    Ok(())
}

/// Appends events to an invoice's timeline in one statement, in order.
pub async fn add_events(
    conn: &mut impl AsConn,
    invoice: InvoiceId,
    events: &[(&str, serde_json::Value)],
    now: Timestamp,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    // Placeholders only: the statement text depends on the number of events, never on data.
    let rows: Vec<String> = (0..events.len())
        .map(|i| format!("($1, ${}, ${}, $2)", 3 + 2 * i, 4 + 2 * i))
        .collect();
    let q = sqlx::AssertSqlSafe(format!(
        "insert into invoice_event (invoice_id, kind, details, created_at) values {}",
        rows.join(", ")
    ));
    exec!(conn, {
        let mut query = sqlx::query(q).bind(invoice.get()).bind(now.as_micros());
        for (kind, details) in events {
            query = query.bind(*kind).bind(details.to_string());
        }
        query
    })?;
    Ok(())
}

/// An invoice's timeline, oldest first: (kind, details, when).
pub async fn events(
    conn: &mut impl AsConn,
    invoice: InvoiceId,
) -> Result<Vec<(String, serde_json::Value, Timestamp)>, StoreError> {
    let rows: Vec<(String, String, i64)> = sql!(conn, |c| {
        sqlx::query_as(
        "select kind, details, created_at from invoice_event where invoice_id = $1 order by invoice_event_id"
    )
    .bind(invoice.get())
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(k, d, t)| {
            (
                k,
                serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
                Timestamp::from_micros(t),
            )
        })
        .collect())
}

/// A static wallet as stored.
#[derive(Clone, Debug)]
pub struct StaticWalletRow {
    /// Id.
    pub id: StaticWalletId,
    /// Public id (32 characters).
    pub uuid: String,
    /// Project.
    pub project_id: ProjectId,
    /// Crypto code.
    pub currency: String,
    /// The merchant's customer id.
    pub identify: String,
    /// Deposit address.
    pub address: String,
    /// Simulated.
    pub test: bool,
}

type WalletTuple = (i64, String, i64, String, String, String, bool);

fn wallet_row(t: WalletTuple) -> StaticWalletRow {
    StaticWalletRow {
        id: StaticWalletId::new(t.0),
        uuid: t.1,
        project_id: ProjectId::new(t.2),
        currency: t.3,
        identify: t.4,
        address: t.5,
        test: t.6,
    }
}

/// The static wallet of (project, currency, identify) in test or live mode, if it exists.
pub async fn static_wallet(
    conn: &mut impl AsConn,
    project: ProjectId,
    currency: &str,
    identify: &str,
    test: bool,
) -> Result<Option<StaticWalletRow>, StoreError> {
    let r: Option<WalletTuple> = sql!(conn, |c| {
        sqlx::query_as(
        "select static_wallet_id, uuid, project_id, currency, identify, address, test from static_wallet \
         where project_id = $1 and currency = $2 and identify = $3 and test = $4"
    )
    .bind(project.get())
    .bind(currency)
    .bind(identify)
    .bind(test)
    .fetch_optional(c)
    .await
    })?;
    Ok(r.map(wallet_row))
}

/// A static wallet by id.
pub async fn static_wallet_by_id(
    conn: &mut impl AsConn,
    id: StaticWalletId,
) -> Result<StaticWalletRow, StoreError> {
    let r: Option<WalletTuple> = sql!(conn, |c| {
        sqlx::query_as(
        "select static_wallet_id, uuid, project_id, currency, identify, address, test from static_wallet where static_wallet_id = $1"
    )
    .bind(id.get())
    .fetch_optional(c)
    .await
    })?;
    r.map(wallet_row).ok_or(StoreError::NotFound)
}

/// Creates a static wallet (the address is recorded separately with
/// [`insert_address`]). A taken (project, currency, identify, test) is a unique violation.
#[allow(clippy::too_many_arguments)]
pub async fn insert_static_wallet(
    conn: &mut impl AsConn,
    uuid: &str,
    project: ProjectId,
    currency: &str,
    identify: &str,
    address: &str,
    test: bool,
    now: Timestamp,
) -> Result<StaticWalletId, StoreError> {
    let id: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into static_wallet (uuid, project_id, currency, identify, address, test, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $7) returning static_wallet_id"
    )
    .bind(uuid)
    .bind(project.get())
    .bind(currency)
    .bind(identify)
    .bind(address)
    .bind(test)
    .bind(now.as_micros())
    .fetch_one(c)
    .await
    })?;
    Ok(StaticWalletId::new(id))
}
