//! A project's static wallets as its page lists them: each with how many payments it took and
//! when the last came. (The wallet rows themselves, and their creation, are in
//! [`crate::invoices`].)

use kassa_core::{ProjectId, StaticWalletId, Timestamp};

use crate::{AsConn, StoreError, sql};

/// A static wallet with its payments summed up.
#[derive(Clone, Debug)]
pub struct WalletSummary {
    /// Id.
    pub id: StaticWalletId,
    /// Public id.
    pub uuid: String,
    /// Crypto code.
    pub currency: String,
    /// The merchant's customer id.
    pub identify: String,
    /// Deposit address.
    pub address: String,
    /// Simulated.
    pub test: bool,
    /// When it was made.
    pub created_at: Timestamp,
    /// Payments (top-up invoices) so far.
    pub payments: i64,
    /// When the last payment came.
    pub last_payment: Option<Timestamp>,
}

const SELECT: &str = "select w.static_wallet_id, w.uuid, w.currency, w.identify, w.address, w.test, w.created_at, \
     (select count(*) from invoice i where i.static_wallet_id = w.static_wallet_id), \
     (select max(i.created_at) from invoice i where i.static_wallet_id = w.static_wallet_id) \
     from static_wallet w where w.project_id = $1";

type Tuple = (
    i64,
    String,
    String,
    String,
    String,
    bool,
    i64,
    i64,
    Option<i64>,
);

fn summary(t: Tuple) -> WalletSummary {
    let (id, uuid, currency, identify, address, test, created, payments, last) = t;
    WalletSummary {
        id: StaticWalletId::new(id),
        uuid,
        currency,
        identify,
        address,
        test,
        created_at: Timestamp::from_micros(created),
        payments,
        last_payment: last.map(Timestamp::from_micros),
    }
}

/// The static wallets of `project`, newest first (at most `limit`), and how many there are.
pub async fn of_project(
    conn: &mut impl AsConn,
    project: ProjectId,
    limit: i64,
) -> Result<(Vec<WalletSummary>, i64), StoreError> {
    let q = sqlx::AssertSqlSafe(format!(
        "{SELECT} order by w.static_wallet_id desc limit $2"
    ));
    let rows: Vec<Tuple> = sql!(conn, |c| sqlx::query_as(q)
        .bind(project.get())
        .bind(limit)
        .fetch_all(&mut *c)
        .await)?;
    let total: i64 = sql!(conn, |c| sqlx::query_scalar(
        "select count(*) from static_wallet where project_id = $1"
    )
    .bind(project.get())
    .fetch_one(&mut *c)
    .await)?;
    Ok((rows.into_iter().map(summary).collect(), total))
}

/// The static wallet of `project` with public id `uuid`.
pub async fn by_uuid(
    conn: &mut impl AsConn,
    project: ProjectId,
    uuid: &str,
) -> Result<WalletSummary, StoreError> {
    let q = sqlx::AssertSqlSafe(format!("{SELECT} and w.uuid = $2"));
    let row: Option<Tuple> = sql!(conn, |c| sqlx::query_as(q)
        .bind(project.get())
        .bind(uuid)
        .fetch_optional(&mut *c)
        .await)?;
    row.map(summary).ok_or(StoreError::NotFound)
}
