//! The transactions Kassa sends on EVM networks (sweeps and the gas sent ahead of token
//! sweeps): written before they are handed to the node, followed until confirmed (migration
//! 0021). A sender's nonces are never reused: a replacement is another row with the same
//! sender and nonce.

use kassa_core::{Amount, Timestamp};

use crate::{AsConn, DbAmount, StoreError, exec, sql};

/// Why it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A deposit address's coin or token, into the treasury.
    Sweep,
    /// The coin, from the treasury to a deposit address, to pay for sweeping a token.
    Gas,
    /// A merchant's withdrawal, from the treasury (followed for the merchant by
    /// `withdrawal`; here for the treasury's nonces and what it has promised).
    Withdrawal,
}

impl Purpose {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Sweep => "sweep",
            Purpose::Gas => "gas",
            Purpose::Withdrawal => "withdrawal",
        }
    }
}

/// A transaction to record.
#[derive(Clone, Debug)]
pub struct NewEvmTx<'a> {
    /// The network.
    pub network: &'a str,
    /// Why.
    pub purpose: Purpose,
    /// The sender's address.
    pub sender: &'a str,
    /// The sender's key: branch (0 deposits, 1 the treasury) and index.
    pub sender_key: (u32, u32),
    /// Its nonce.
    pub nonce: u64,
    /// Where it sends.
    pub recipient: &'a str,
    /// What it moves (the coin or a token).
    pub currency: &'a str,
    /// How much.
    pub amount: Amount,
    /// Its hash.
    pub txid: &'a str,
    /// The signed bytes (hex).
    pub raw: &'a str,
    /// Gas limit.
    pub gas_limit: u64,
    /// The price per gas offered (cap and tip).
    pub max_fee: u128,
    /// The node's height when handed over.
    pub sent_height: u64,
}

/// A recorded transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvmTxRow {
    /// Row id.
    pub id: i64,
    /// Why.
    pub purpose: String,
    /// The sender.
    pub sender: String,
    /// The sender's key (branch, index).
    pub sender_key: (u32, u32),
    /// Its nonce.
    pub nonce: u64,
    /// Where it sends.
    pub recipient: String,
    /// What it moves.
    pub currency: String,
    /// How much.
    pub amount: Amount,
    /// Its hash.
    pub txid: String,
    /// The signed bytes (hex).
    pub raw: String,
    /// Gas limit.
    pub gas_limit: u64,
    /// The price per gas offered.
    pub max_fee: u128,
    /// `sent`, `mined`, `confirmed`, `failed` (mined, reverted) or `dropped` (another
    /// transaction took its nonce).
    pub state: String,
    /// The node's height when handed over.
    pub sent_height: u64,
    /// What it cost, once mined.
    pub fee_paid: Option<Amount>,
}

type Tuple = (
    i64,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    String,
    DbAmount,
    String,
    String,
    i64,
    DbAmount,
    String,
    i64,
    Option<DbAmount>,
);

const COLUMNS: &str = "evm_tx_id, purpose, sender, sender_branch, sender_index, nonce, recipient, \
     currency, amount, txid, raw, gas_limit, max_fee, state, sent_height, fee_paid";

fn row(t: Tuple) -> EvmTxRow {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let k = |v: i64| u32::try_from(v).unwrap_or(0);
    EvmTxRow {
        id: t.0,
        purpose: t.1,
        sender: t.2,
        sender_key: (k(t.3), k(t.4)),
        nonce: n(t.5),
        recipient: t.6,
        currency: t.7,
        amount: t.8.0,
        txid: t.9,
        raw: t.10,
        gas_limit: n(t.11),
        max_fee: t.12.0.base(),
        state: t.13,
        sent_height: n(t.14),
        fee_paid: t.15.map(|a| a.0),
    }
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Records `t` as sent; its id.
pub async fn insert(
    conn: &mut impl AsConn,
    t: &NewEvmTx<'_>,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let id: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
            "insert into evm_tx (network, purpose, sender, sender_branch, sender_index, nonce, \
             recipient, currency, amount, txid, raw, gas_limit, max_fee, state, sent_height, \
             created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, 'sent', $14, $15, $15) returning evm_tx_id",
        )
        .bind(t.network)
        .bind(t.purpose.as_str())
        .bind(t.sender)
        .bind(i64::from(t.sender_key.0))
        .bind(i64::from(t.sender_key.1))
        .bind(int(t.nonce))
        .bind(t.recipient)
        .bind(t.currency)
        .bind(DbAmount(t.amount))
        .bind(t.txid)
        .bind(t.raw)
        .bind(int(t.gas_limit))
        .bind(DbAmount(Amount::from_base(t.max_fee)))
        .bind(int(t.sent_height))
        .bind(now.as_micros())
        .fetch_one(c)
        .await
    })?;
    Ok(id)
}

/// The transactions of `network` not settled yet (sent or mined), oldest first.
pub async fn open(conn: &mut impl AsConn, network: &str) -> Result<Vec<EvmTxRow>, StoreError> {
    let q = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from evm_tx where network = $1 and state in ('sent', 'mined') \
         order by evm_tx_id"
    ));
    let rows: Vec<Tuple> = sql!(conn, |c| sqlx::query_as(q).bind(network).fetch_all(c).await)?;
    Ok(rows.into_iter().map(row).collect())
}

/// Every transaction of `network`, newest first (at most `limit`).
pub async fn recent(
    conn: &mut impl AsConn,
    network: &str,
    limit: i64,
) -> Result<Vec<EvmTxRow>, StoreError> {
    let q = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from evm_tx where network = $1 order by evm_tx_id desc limit $2"
    ));
    let rows: Vec<Tuple> = sql!(conn, |c| sqlx::query_as(q)
        .bind(network)
        .bind(limit)
        .fetch_all(c)
        .await)?;
    Ok(rows.into_iter().map(row).collect())
}

/// Moves `id` to `state`, with the block that holds it and what it cost (`None`s when it
/// left its block).
pub async fn set_state(
    conn: &mut impl AsConn,
    id: i64,
    state: &str,
    block: Option<(u64, &str)>,
    fee_paid: Option<Amount>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update evm_tx set state = $1, block_height = $2, block_hash = $3, fee_paid = $4, \
             updated_at = $5 where evm_tx_id = $6"
        )
        .bind(state)
        .bind(block.map(|b| int(b.0)))
        .bind(block.map(|b| b.1))
        .bind(fee_paid.map(DbAmount))
        .bind(now.as_micros())
        .bind(id)
    )?;
    Ok(())
}

/// The highest nonce recorded for `sender` on `network`, leaving out transactions dropped (their
/// nonce went to another, which the node counts, or to none: it is free again).
pub async fn max_nonce(
    conn: &mut impl AsConn,
    network: &str,
    sender: &str,
) -> Result<Option<u64>, StoreError> {
    let n: Option<i64> = sql!(conn, |c| {
        sqlx::query_scalar(
        "select max(nonce) from evm_tx where network = $1 and sender = $2 and state <> 'dropped'"
    )
    .bind(network)
    .bind(sender)
    .fetch_one(c)
    .await
    })?;
    Ok(n.and_then(|n| u64::try_from(n).ok()))
}

/// Which of `txids` Kassa sent itself on `network` (its gas sent to deposit addresses is no
/// payment). Looked up like [`crate::chain::owned_among`]: an array on PostgreSQL, a list of
/// placeholders on SQLite.
pub async fn sent_among(
    conn: &mut impl AsConn,
    network: &str,
    txids: &[&str],
) -> Result<Vec<String>, StoreError> {
    if txids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(match conn.as_conn() {
        crate::Conn::Postgres(c) => {
            sqlx::query_scalar("select txid from evm_tx where network = $1 and txid = any($2)")
                .bind(network)
                .bind(txids)
                .fetch_all(c)
                .await?
        }
        crate::Conn::Sqlite(c) => {
            let q = sqlx::AssertSqlSafe(format!(
                "select txid from evm_tx where network = $1 and txid in ({})",
                crate::placeholders(2, txids.len())
            ));
            let mut query = sqlx::query_scalar(q).bind(network);
            for t in txids {
                query = query.bind(*t);
            }
            query.fetch_all(c).await?
        }
    })
}

/// A deposit address that may hold something to sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The address.
    pub address: String,
    /// Its receive index.
    pub index: u32,
    /// The currency paid to it.
    pub currency: String,
}

/// Deposit addresses of `network` with a counted payment of a currency that no confirmed
/// sweep of that currency from them has taken yet — one whose balance was read at a height
/// below the payment's block (so they may hold it), those waiting longest first, at most
/// `limit`.
pub async fn candidates(
    conn: &mut impl AsConn,
    network: &str,
    limit: i64,
) -> Result<Vec<Candidate>, StoreError> {
    let rows: Vec<(String, i64, Option<String>)> = sql!(conn, |c| sqlx::query_as(
        "select t.address, d.derivation_index, t.currency from chain_transfer t \
         join deposit_address d on d.network = t.network and d.address = t.address \
         where t.network = $1 and t.test = $2 and t.state = 'confirmed' and not exists ( \
           select 1 from evm_tx s where s.network = t.network and s.sender = t.address \
           and s.purpose = 'sweep' and s.currency = t.currency and s.state = 'confirmed' \
           and s.sent_height >= t.block_height) \
         group by t.address, d.derivation_index, t.currency \
         order by min(t.confirmed_at) limit $3"
    )
    .bind(network)
    .bind(false)
    .bind(limit)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(address, index, currency)| {
            Some(Candidate {
                address,
                index: u32::try_from(index).ok()?,
                currency: currency?,
            })
        })
        .collect())
}
