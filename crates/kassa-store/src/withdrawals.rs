//! Withdrawals from the hot wallet (`withdrawal`): one row per signed transaction, written in
//! the transaction that also posts its ledger entries, before it is broadcast. The service
//! (`kassa_server::withdrawals`) decides; this module only stores.
//!
//! States: `broadcast` (handed to the node, or about to be: its inputs count as spent),
//! `confirmed` (buried under the network's confirmation rule) and `failed` (refused by the
//! node or vanished; its ledger entries were reversed). Only a `broadcast` row moves on, and
//! every change of state is guarded by `state = 'broadcast'`, so two processes never settle
//! the same withdrawal twice.

use kassa_core::{Amount, MerchantId, Timestamp};

use crate::{AsConn, DbAmount, StoreError, exec, sql};

/// Where a withdrawal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WithdrawalState {
    /// Handed to the node; not yet confirmed.
    Broadcast,
    /// Confirmed under the network's rule.
    Confirmed,
    /// Refused or vanished; the funds went back to the merchant.
    Failed,
}

impl WithdrawalState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawalState::Broadcast => "broadcast",
            WithdrawalState::Confirmed => "confirmed",
            WithdrawalState::Failed => "failed",
        }
    }

    /// The state of a stored name.
    pub fn parse(s: &str) -> Option<WithdrawalState> {
        [
            WithdrawalState::Broadcast,
            WithdrawalState::Confirmed,
            WithdrawalState::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A withdrawal to store (always in state `broadcast`).
#[derive(Clone, Debug)]
pub struct NewWithdrawal<'a> {
    /// The merchant whose balance pays.
    pub merchant: MerchantId,
    /// The network code (`LTC_NET`).
    pub network: &'a str,
    /// The ledger currency (`LTC`).
    pub currency: &'a str,
    /// The destination address.
    pub destination: &'a str,
    /// What the destination receives, in base units.
    pub amount: Amount,
    /// The network fee, in base units.
    pub fee: Amount,
    /// The transaction's virtual size.
    pub vsize: i64,
    /// The transaction id.
    pub txid: &'a str,
    /// The signed transaction (hex).
    pub raw_hex: &'a str,
    /// The outputs spent, as JSON text `[{"txid": …, "vout": …}]`.
    pub inputs: &'a str,
    /// Kassa's change address, if the transaction has change.
    pub change_address: Option<&'a str>,
}

/// A stored withdrawal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WithdrawalRow {
    /// Id.
    pub id: i64,
    /// The merchant whose balance paid.
    pub merchant: MerchantId,
    /// The network code.
    pub network: String,
    /// The ledger currency.
    pub currency: String,
    /// The destination address.
    pub destination: String,
    /// What the destination receives.
    pub amount: Amount,
    /// The network fee.
    pub fee: Amount,
    /// The virtual size.
    pub vsize: i64,
    /// The transaction id.
    pub txid: String,
    /// The signed transaction (hex).
    pub raw_hex: String,
    /// The outputs spent (JSON text).
    pub inputs: String,
    /// The change address.
    pub change_address: Option<String>,
    /// Where it stands.
    pub state: WithdrawalState,
    /// Why it failed.
    pub error: Option<String>,
    /// Confirmations last seen.
    pub confirmations: i64,
    /// Created.
    pub created_at: Timestamp,
}

const COLUMNS: &str = "withdrawal_id, merchant_id, network, currency, destination, amount, fee, vsize, \
     txid, raw_hex, inputs, change_address, state, error, confirmations, created_at";

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    DbAmount,
    DbAmount,
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    i64,
    i64,
);

fn row(r: Row) -> Result<WithdrawalRow, StoreError> {
    let (
        id,
        merchant,
        network,
        currency,
        destination,
        amount,
        fee,
        vsize,
        txid,
        raw_hex,
        inputs,
        change_address,
        state,
        error,
        confirmations,
        created,
    ) = r;
    let state = WithdrawalState::parse(&state).ok_or_else(|| StoreError::Corrupt {
        column: "withdrawal.state",
        reason: format!("unknown state {state:?}"),
    })?;
    Ok(WithdrawalRow {
        id,
        merchant: MerchantId::new(merchant),
        network,
        currency,
        destination,
        amount: amount.0,
        fee: fee.0,
        vsize,
        txid,
        raw_hex,
        inputs,
        change_address,
        state,
        error,
        confirmations,
        created_at: Timestamp::from_micros(created),
    })
}

/// Stores a withdrawal in state `broadcast`; returns its id.
pub async fn insert(
    conn: &mut impl AsConn,
    w: &NewWithdrawal<'_>,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let id: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into withdrawal (merchant_id, network, currency, destination, amount, fee, vsize, \
         txid, raw_hex, inputs, change_address, state, confirmations, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'broadcast', 0, $12, $12) \
         returning withdrawal_id"
    )
    .bind(w.merchant.get())
    .bind(w.network)
    .bind(w.currency)
    .bind(w.destination)
    .bind(DbAmount(w.amount))
    .bind(DbAmount(w.fee))
    .bind(w.vsize)
    .bind(w.txid)
    .bind(w.raw_hex)
    .bind(w.inputs)
    .bind(w.change_address)
    .bind(now.as_micros())
    .fetch_one(c)
    .await
    })?;
    Ok(id)
}

/// One withdrawal.
pub async fn by_id(conn: &mut impl AsConn, id: i64) -> Result<Option<WithdrawalRow>, StoreError> {
    let q = format!("select {COLUMNS} from withdrawal where withdrawal_id = $1");
    let r: Option<Row> = sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(q.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?;
    r.map(row).transpose()
}

/// The withdrawals of `network`, oldest first; only those in `state` when given.
pub async fn list(
    conn: &mut impl AsConn,
    network: &str,
    state: Option<WithdrawalState>,
) -> Result<Vec<WithdrawalRow>, StoreError> {
    let q = format!(
        "select {COLUMNS} from withdrawal where network = $1 and ($2 = '' or state = $2) \
         order by withdrawal_id"
    );
    let rows: Vec<Row> = sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(q.clone()))
        .bind(network)
        .bind(state.map_or("", WithdrawalState::as_str))
        .fetch_all(c)
        .await)?;
    rows.into_iter().map(row).collect()
}

/// Records the confirmations of a `broadcast` withdrawal, and marks it `confirmed` when
/// `confirmed` is set. False when it is no longer `broadcast`.
pub async fn set_confirmations(
    conn: &mut impl AsConn,
    id: i64,
    confirmations: i64,
    confirmed: bool,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let state = if confirmed {
        WithdrawalState::Confirmed
    } else {
        WithdrawalState::Broadcast
    };
    let n = exec!(
        conn,
        sqlx::query(
            "update withdrawal set confirmations = $1, state = $2, updated_at = $3 \
             where withdrawal_id = $4 and state = 'broadcast'"
        )
        .bind(confirmations)
        .bind(state.as_str())
        .bind(now.as_micros())
        .bind(id)
    )?;
    Ok(n == 1)
}

/// Marks a `broadcast` withdrawal `failed` with `error`. False when it is no longer
/// `broadcast` (someone else settled it): then nothing may be reversed.
pub async fn mark_failed(
    conn: &mut impl AsConn,
    id: i64,
    error: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let n = exec!(
        conn,
        sqlx::query(
            "update withdrawal set state = 'failed', error = $1, updated_at = $2 \
             where withdrawal_id = $3 and state = 'broadcast'"
        )
        .bind(error)
        .bind(now.as_micros())
        .bind(id)
    )?;
    Ok(n == 1)
}

/// Notes that the watcher saw withdrawals among `txids` in block `height`/`hash` (failed ones
/// excepted). Returns how many rows it touched.
pub async fn note_mined(
    conn: &mut impl AsConn,
    network: &str,
    txids: &[&str],
    height: i64,
    hash: &str,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let mut touched = 0;
    for txid in txids {
        touched += exec!(
            conn,
            sqlx::query(
                "update withdrawal set block_height = $1, block_hash = $2, updated_at = $3 \
                 where network = $4 and txid = $5 and state <> 'failed'"
            )
            .bind(height)
            .bind(hash)
            .bind(now.as_micros())
            .bind(network)
            .bind(*txid)
        )?;
    }
    Ok(touched)
}

/// Forgets the blocks above `height` of `broadcast` withdrawals (a reorganisation dropped
/// them; the transactions are back in the mempool or will be rebroadcast).
pub async fn unmine_above(
    conn: &mut impl AsConn,
    network: &str,
    height: i64,
    now: Timestamp,
) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update withdrawal set block_height = null, block_hash = null, confirmations = 0, updated_at = $1 \
             where network = $2 and state = 'broadcast' and block_height > $3"
        )
        .bind(now.as_micros())
        .bind(network)
        .bind(height)
    )?)
}

/// The block height the watcher saw withdrawal `id` in, if any.
pub async fn mined_height(conn: &mut impl AsConn, id: i64) -> Result<Option<i64>, StoreError> {
    let h: Option<Option<i64>> = sql!(conn, |c| sqlx::query_scalar(
        "select block_height from withdrawal where withdrawal_id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(h.flatten())
}
