//! Daily totals of invoices (`invoice_day`): per merchant, UTC day of creation, project,
//! status, chosen currency and mode, how many invoices and their USD value in cents. Every
//! store function that moves an invoice between totals — [`crate::invoices::insert`],
//! [`crate::invoices::set_quote`], [`crate::invoices::save_state`] — calls [`created`], [`moved`] or
//! [`added`] in its own transaction, so the totals are always the sums of the invoices
//! (the integration suite checks them against the raw sums). A total is spread over
//! [`SHARDS`] rows so concurrent changes to one project's day do not wait on one row lock.

use kassa_core::money::{Exact, Rounding};
use kassa_core::{Decimal, InvoiceId, MerchantId, ProjectId, Timestamp};

use crate::{AsConn, StoreError, exec, sql};

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// Shards per total (see migration 0011).
const SHARDS: u8 = 16;

/// Where an invoice counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bucket {
    pub(crate) merchant: i64,
    pub(crate) project: i64,
    pub(crate) day: i64,
    pub(crate) status: String,
    pub(crate) currency: String,
    pub(crate) test: bool,
    pub(crate) cents: i64,
}

impl Bucket {
    /// The day of a creation time.
    pub(crate) fn day_of(created_micros: i64) -> i64 {
        created_micros.div_euclid(DAY_MICROS)
    }
}

/// Where invoice `id` counts now.
pub(crate) async fn bucket_of(conn: &mut impl AsConn, id: InvoiceId) -> Result<Bucket, StoreError> {
    let (merchant, project, created, status, currency, test, cents): (
        i64,
        i64,
        i64,
        String,
        Option<String>,
        bool,
        i64,
    ) = sql!(conn, |c| sqlx::query_as(
        "select merchant_id, project_id, created_at, status, currency, test, amount_usd_cents \
         from invoice where invoice_id = $1"
    )
    .bind(id.get())
    .fetch_one(c)
    .await)?;
    Ok(Bucket {
        merchant,
        project,
        day: Bucket::day_of(created),
        status,
        currency: currency.unwrap_or_default(),
        test,
        cents,
    })
}

/// Adds an invoice to its totals (`sign` 1) or takes it out (`sign` -1).
pub(crate) async fn added(conn: &mut impl AsConn, b: &Bucket, sign: i64) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into invoice_day (merchant_id, project_id, day, status, currency, test, shard, count, cents) \
             values ($1, $2, $3, $4, $5, $6, $9, $7, $8) \
             on conflict (merchant_id, day, project_id, status, currency, test, shard) do update \
             set count = invoice_day.count + excluded.count, cents = invoice_day.cents + excluded.cents"
        )
        .bind(b.merchant)
        .bind(b.project)
        .bind(b.day)
        .bind(&b.status)
        .bind(&b.currency)
        .bind(b.test)
        .bind(sign)
        .bind(sign * b.cents)
        // Any shard will do: the totals are the sums over them.
        .bind(i16::from(rand::random::<u8>() % SHARDS))
    )?;
    Ok(())
}

/// Adds a new invoice (status `created`) to its totals.
pub(crate) async fn created(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    project: ProjectId,
    currency: &str,
    test: bool,
    cents: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    let b = Bucket {
        merchant: merchant.get(),
        project: project.get(),
        day: Bucket::day_of(now.as_micros()),
        status: "created".to_owned(),
        currency: currency.to_owned(),
        test,
        cents,
    };
    added(conn, &b, 1).await
}

/// A USD amount in whole cents (rounded half up), if it fits 64 bits.
pub fn usd_cents(usd: Decimal) -> Option<i64> {
    let cents = Exact::decimal(usd)?.to_amount(2, Rounding::HalfUp).ok()?;
    i64::try_from(cents.base()).ok()
}

/// Moves an invoice from the totals of `before` to those of `after` (nothing when they are
/// the same).
pub(crate) async fn moved(
    conn: &mut impl AsConn,
    before: &Bucket,
    after: &Bucket,
) -> Result<(), StoreError> {
    if before != after {
        added(conn, before, -1).await?;
        added(conn, after, 1).await?;
    }
    Ok(())
}
