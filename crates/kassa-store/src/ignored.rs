//! Token transfers to deposit addresses from contracts the operator did not allowlist (a
//! look-alike of a real token, or a token Kassa does not take): never credited, kept with the
//! block that holds them so that the invoice page can say why a payment did not count.

use kassa_core::{Amount, InvoiceId, Timestamp};

use crate::{AsConn, DbAmount, StoreError, exec, sql};

/// One to record: a block's log paying `address`.
#[derive(Clone, Debug)]
pub struct NewIgnored<'a> {
    /// The network.
    pub network: &'a str,
    /// The transaction.
    pub txid: &'a str,
    /// The log's index (plus one, as transfers number them).
    pub log_index: i64,
    /// The deposit address it pays.
    pub address: &'a str,
    /// The contract that emitted it (EIP-55).
    pub contract: &'a str,
    /// In the contract's base units, if it fits.
    pub amount: Option<Amount>,
    /// The block's height.
    pub block_height: i64,
    /// The block's hash.
    pub block_hash: &'a str,
}

/// An ignored transfer as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredRow {
    /// The transaction.
    pub txid: String,
    /// The contract that emitted it.
    pub contract: String,
    /// In the contract's base units, if it fits.
    pub amount: Option<Amount>,
    /// The block's height.
    pub block_height: i64,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// Records `t` against the owner of its deposit address (once: a block read again changes
/// nothing). Returns whether it is new; an address that is not a live deposit address
/// records nothing.
pub async fn record(
    conn: &mut impl AsConn,
    t: &NewIgnored<'_>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let n = exec!(
        conn,
        sqlx::query(
            "insert into ignored_transfer (network, txid, log_index, address, contract, amount, \
             block_height, block_hash, invoice_id, static_wallet_id, created_at) \
             select $1, $2, $3, $4, $5, $6, $7, $8, d.invoice_id, d.static_wallet_id, $9 \
             from deposit_address d where d.network = $1 and d.address = $4 and d.test = $10 \
             on conflict do nothing"
        )
        .bind(t.network)
        .bind(t.txid)
        .bind(t.log_index)
        .bind(t.address)
        .bind(t.contract)
        .bind(t.amount.map(DbAmount))
        .bind(t.block_height)
        .bind(t.block_hash)
        .bind(now.as_micros())
        .bind(false)
    )?;
    Ok(n > 0)
}

/// Forgets those above `height` on `network` (a reorganisation dropped their blocks).
pub async fn forget_above(
    conn: &mut impl AsConn,
    network: &str,
    height: i64,
) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from ignored_transfer where network = $1 and block_height > $2")
            .bind(network)
            .bind(height)
    )?)
}

/// Those paying `invoice`'s address, oldest first.
pub async fn of_invoice(
    conn: &mut impl AsConn,
    invoice: InvoiceId,
) -> Result<Vec<IgnoredRow>, StoreError> {
    let rows: Vec<(String, String, Option<DbAmount>, i64, i64)> = sql!(conn, |c| {
        sqlx::query_as(
            "select txid, contract, amount, block_height, created_at from ignored_transfer \
             where invoice_id = $1 order by ignored_transfer_id limit 100",
        )
        .bind(invoice.get())
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(txid, contract, amount, block_height, at)| IgnoredRow {
            txid,
            contract,
            amount: amount.map(Amount::from),
            block_height,
            created_at: Timestamp::from_micros(at),
        })
        .collect())
}

/// The deposit addresses of live invoices still waiting for payment in `currency` (those
/// whose balances the EVM watcher checks for value sent by contract calls).
pub async fn awaiting_addresses(
    conn: &mut impl AsConn,
    currency: &str,
) -> Result<Vec<String>, StoreError> {
    // Literal filters, so that both engines use the partial index `invoice_awaiting`.
    Ok(match conn.as_conn() {
        crate::Conn::Sqlite(c) => {
            sqlx::query_scalar(
                "select address from invoice where currency = $1 and address is not null \
                 and test = 0 and status in ('created', 'partial')",
            )
            .bind(currency)
            .fetch_all(c)
            .await?
        }
        crate::Conn::Postgres(c) => {
            sqlx::query_scalar(
                "select address from invoice where currency = $1 and address is not null \
                 and test = false and status in ('created', 'partial')",
            )
            .bind(currency)
            .fetch_all(c)
            .await?
        }
    })
}
