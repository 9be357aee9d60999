//! Withdrawals from the hot wallet (`withdrawal`): one row per signed transaction, written in
//! the transaction that also posts its ledger entries, before it is broadcast. The service
//! (`kassa_server::withdrawals`) decides; this module only stores.
//!
//! States: `broadcast` (handed to the node, or about to be: its inputs count as spent; also
//! "processing": in the mempool or a block short of the confirmations), `confirmed` (buried
//! under the network's confirmation rule in the best chain) and `failed` (refused by the node,
//! or its inputs consumed by another transaction with the network's confirmations). The
//! watcher works the state out again every round from the best chain; the ledger follows by
//! difference, so a state that moves back and forth never charges twice.

use kassa_core::{Amount, MerchantId, Timestamp, WithdrawalId};

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
    /// What the transaction consumes (`txid:vout` outpoints; `address:nonce` on account
    /// networks).
    pub consumes: &'a [String],
    /// Kassa's change address, if the transaction has change.
    pub change_address: Option<&'a str>,
}

/// A stored withdrawal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WithdrawalRow {
    /// Id.
    pub id: WithdrawalId,
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
    /// What it consumes.
    pub consumes: Vec<String>,
    /// The best-chain block holding it: height and hash.
    pub block: Option<(i64, String)>,
    /// Another transaction of the best chain that consumed the same: its id, height and hash.
    pub conflict: Option<(String, i64, String)>,
    /// When a payment it spends left the best chain.
    pub funding_reversed_at: Option<Timestamp>,
}

const COLUMNS: &str = "withdrawal_id, merchant_id, network, currency, destination, amount, fee, vsize, \
     txid, raw_hex, inputs, change_address, state, error, confirmations, created_at, consumes, \
     block_height, block_hash, conflict_txid, conflict_height, conflict_hash, funding_reversed_at";

/// Reads a withdrawal from a row of either engine (too many columns for a tuple).
macro_rules! withdrawal_from_row {
    ($r:expr) => {{
        use sqlx::Row as _;
        let r = &$r;
        let state: String = r.try_get("state")?;
        let state = WithdrawalState::parse(&state).ok_or_else(|| StoreError::Corrupt {
            column: "withdrawal.state",
            reason: format!("unknown state {state:?}"),
        })?;
        let consumes: String = r.try_get("consumes")?;
        let consumes: Vec<String> =
            serde_json::from_str(&consumes).map_err(|e| StoreError::Corrupt {
                column: "withdrawal.consumes",
                reason: e.to_string(),
            })?;
        let block_height: Option<i64> = r.try_get("block_height")?;
        let block_hash: Option<String> = r.try_get("block_hash")?;
        let conflict_txid: Option<String> = r.try_get("conflict_txid")?;
        let conflict_height: Option<i64> = r.try_get("conflict_height")?;
        let conflict_hash: Option<String> = r.try_get("conflict_hash")?;
        WithdrawalRow {
            id: WithdrawalId::new(r.try_get("withdrawal_id")?),
            merchant: MerchantId::new(r.try_get("merchant_id")?),
            network: r.try_get("network")?,
            currency: r.try_get("currency")?,
            destination: r.try_get("destination")?,
            amount: r.try_get::<DbAmount, _>("amount")?.0,
            fee: r.try_get::<DbAmount, _>("fee")?.0,
            vsize: r.try_get("vsize")?,
            txid: r.try_get("txid")?,
            raw_hex: r.try_get("raw_hex")?,
            inputs: r.try_get("inputs")?,
            change_address: r.try_get("change_address")?,
            state,
            error: r.try_get("error")?,
            confirmations: r.try_get("confirmations")?,
            created_at: Timestamp::from_micros(r.try_get("created_at")?),
            consumes,
            block: block_height.zip(block_hash),
            conflict: match (conflict_txid, conflict_height, conflict_hash) {
                (Some(t), Some(h), Some(x)) => Some((t, h, x)),
                _ => None,
            },
            funding_reversed_at: r
                .try_get::<Option<i64>, _>("funding_reversed_at")?
                .map(Timestamp::from_micros),
        }
    }};
}

/// Runs a `select {COLUMNS} …` with one or two binds and reads every row.
macro_rules! select_rows {
    ($conn:expr, $q:expr, $($bind:expr),+) => {{
        let q = $q;
        let out: Result<Vec<WithdrawalRow>, StoreError> = match $crate::AsConn::as_conn($conn) {
            $crate::Conn::Sqlite(c) => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(q.clone()))$(.bind($bind))+.fetch_all(c).await?;
                (|| {
                    let mut v = Vec::with_capacity(rows.len());
                    for r in rows {
                        v.push(withdrawal_from_row!(r));
                    }
                    Ok(v)
                })()
            }
            $crate::Conn::Postgres(c) => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(q.clone()))$(.bind($bind))+.fetch_all(c).await?;
                (|| {
                    let mut v = Vec::with_capacity(rows.len());
                    for r in rows {
                        v.push(withdrawal_from_row!(r));
                    }
                    Ok(v)
                })()
            }
        };
        out
    }};
}

/// Stores a withdrawal in state `broadcast`; returns its id.
pub async fn insert(
    conn: &mut impl AsConn,
    w: &NewWithdrawal<'_>,
    now: Timestamp,
) -> Result<WithdrawalId, StoreError> {
    let id: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into withdrawal (merchant_id, network, currency, destination, amount, fee, vsize, \
         txid, raw_hex, inputs, change_address, state, confirmations, created_at, updated_at, consumes) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'broadcast', 0, $12, $12, $13) \
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
    .bind(serde_json::to_string(w.consumes).unwrap_or_else(|_| "[]".into()))
    .fetch_one(c)
    .await
    })?;
    Ok(WithdrawalId::new(id))
}

/// One withdrawal.
pub async fn by_id(
    conn: &mut impl AsConn,
    id: WithdrawalId,
) -> Result<Option<WithdrawalRow>, StoreError> {
    let q = format!("select {COLUMNS} from withdrawal where withdrawal_id = $1");
    Ok(select_rows!(conn, q, id.get())?.into_iter().next())
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
    select_rows!(conn, q, network, state.map_or("", WithdrawalState::as_str))
}

/// A merchant's withdrawals, newest first, at most `limit`.
pub async fn of_merchant(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    limit: i64,
) -> Result<Vec<WithdrawalRow>, StoreError> {
    let q = format!(
        "select {COLUMNS} from withdrawal where merchant_id = $1 \
         order by withdrawal_id desc limit $2"
    );
    select_rows!(conn, q, merchant.get(), limit.clamp(1, 1000))
}

/// What a merchant's withdrawals still in flight (`broadcast`) take, per currency: amount and
/// network fee.
pub async fn in_flight_of(
    conn: &mut impl AsConn,
    merchant: MerchantId,
) -> Result<std::collections::BTreeMap<String, Amount>, StoreError> {
    let rows: Vec<(String, DbAmount, DbAmount)> = sql!(conn, |c| {
        sqlx::query_as(
        "select currency, amount, fee from withdrawal where merchant_id = $1 and state = 'broadcast'"
    )
    .bind(merchant.get())
    .fetch_all(c)
    .await
    })?;
    let mut out = std::collections::BTreeMap::new();
    for (currency, amount, fee) in rows {
        let sum: &mut Amount = out.entry(currency).or_insert(Amount::ZERO);
        *sum = sum
            .checked_add(amount.0)
            .and_then(|s| s.checked_add(fee.0))
            .ok_or_else(|| StoreError::Corrupt {
                column: "withdrawal.amount",
                reason: "withdrawals in flight beyond any amount".into(),
            })?;
    }
    Ok(out)
}

/// Where a withdrawal stands now, as the watcher worked it out: state, confirmations and, for
/// a failed one, why (`None` keeps the reason recorded).
pub async fn set_state(
    conn: &mut impl AsConn,
    id: WithdrawalId,
    state: WithdrawalState,
    confirmations: i64,
    error: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update withdrawal set state = $1, confirmations = $2, error = coalesce($3, error), \
             updated_at = $4 where withdrawal_id = $5"
        )
        .bind(state.as_str())
        .bind(confirmations)
        .bind(error)
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    Ok(())
}

/// Notes that transaction `by`, in block `height`/`hash` of the best chain, consumed what
/// withdrawal `id` consumes.
pub async fn note_conflict(
    conn: &mut impl AsConn,
    id: WithdrawalId,
    by: &str,
    height: i64,
    hash: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update withdrawal set conflict_txid = $1, conflict_height = $2, conflict_hash = $3, \
             updated_at = $4 where withdrawal_id = $5"
        )
        .bind(by)
        .bind(height)
        .bind(hash)
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    Ok(())
}

/// Sets (with the time it happened) or clears whether a payment withdrawal `id` spends is no
/// longer counted. True when that changed.
pub async fn set_unfunded(
    conn: &mut impl AsConn,
    id: WithdrawalId,
    unfunded: bool,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let q = if unfunded {
        "update withdrawal set funding_reversed_at = $1, updated_at = $1 \
         where withdrawal_id = $2 and funding_reversed_at is null"
    } else {
        "update withdrawal set funding_reversed_at = null, updated_at = $1 \
         where withdrawal_id = $2 and funding_reversed_at is not null"
    };
    Ok(exec!(conn, sqlx::query(q).bind(now.as_micros()).bind(id.get()))? == 1)
}

/// The withdrawals of `network` that consume `outpoint` (`txid:vout`).
pub async fn consuming(
    conn: &mut impl AsConn,
    network: &str,
    outpoint: &str,
) -> Result<Vec<WithdrawalRow>, StoreError> {
    let q = format!("select {COLUMNS} from withdrawal where network = $1 and consumes like $2");
    let pattern = format!("%\"{}\"%", outpoint.replace(['%', '_'], ""));
    select_rows!(conn, q, network, pattern)
}

/// The withdrawals of `network` the watcher still follows: every one not settled, and settled
/// ones whose block or conflicting transaction is at or above `from_height` (a reorganisation
/// can still undo them).
pub async fn open(
    conn: &mut impl AsConn,
    network: &str,
    from_height: i64,
) -> Result<Vec<WithdrawalRow>, StoreError> {
    let q = format!(
        "select {COLUMNS} from withdrawal where network = $1 and (state = 'broadcast' \
         or block_height is null or block_height >= $2 or conflict_height >= $2) \
         order by withdrawal_id"
    );
    select_rows!(conn, q, network, from_height)
}

/// Notes that the watcher saw withdrawals among `txids` in block `height`/`hash` of the best
/// chain (a failed one too: the facts decide). Returns how many rows it touched.
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
                 where network = $4 and txid = $5"
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

/// Forgets what the blocks above `height` said about withdrawals — that one was mined, that
/// another transaction consumed its inputs (a reorganisation dropped those blocks).
pub async fn unmine_above(
    conn: &mut impl AsConn,
    network: &str,
    height: i64,
    now: Timestamp,
) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update withdrawal set block_height = case when block_height > $3 then null else block_height end, \
             block_hash = case when block_height > $3 then null else block_hash end, \
             conflict_txid = case when conflict_height > $3 then null else conflict_txid end, \
             conflict_hash = case when conflict_height > $3 then null else conflict_hash end, \
             conflict_height = case when conflict_height > $3 then null else conflict_height end, \
             updated_at = $1 where network = $2 and (block_height > $3 or conflict_height > $3)"
        )
        .bind(now.as_micros())
        .bind(network)
        .bind(height)
    )?)
}
