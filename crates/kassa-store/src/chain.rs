//! What the chain watchers keep: each network's cursor (the last block processed, by height
//! and hash), the hashes of recent blocks (to recognise a reorganisation), the lookup of
//! deposit addresses among a block's outputs, and the transfers that still need watching.

use kassa_core::{Amount, Timestamp};

use crate::{AsConn, DbAmount, StoreError, exec, sql};

/// Where a network's watcher stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Height of the last block processed.
    pub height: i64,
    /// Its hash.
    pub hash: String,
}

/// The cursor of `network`, if the watcher ever ran.
pub async fn cursor(conn: &mut impl AsConn, network: &str) -> Result<Option<Cursor>, StoreError> {
    let r: Option<(i64, String)> = sql!(conn, |c| sqlx::query_as(
        "select height, block_hash from chain_cursor where network = $1"
    )
    .bind(network)
    .fetch_optional(c)
    .await)?;
    Ok(r.map(|(height, hash)| Cursor { height, hash }))
}

/// When the first live deposit address of `network` was handed out, if any was.
pub async fn first_live_address_at(
    conn: &mut impl AsConn,
    network: &str,
) -> Result<Option<Timestamp>, StoreError> {
    let at: Option<i64> = sql!(conn, |c| sqlx::query_scalar(
        "select min(created_at) from deposit_address where network = $1 and test = $2"
    )
    .bind(network)
    .bind(false)
    .fetch_one(c)
    .await)?;
    Ok(at.map(Timestamp::from_micros))
}

/// Records block `height`/`hash` as processed and moves the cursor to it.
pub async fn advance(
    conn: &mut impl AsConn,
    network: &str,
    height: i64,
    hash: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into chain_block (network, height, block_hash, created_at) values ($1, $2, $3, $4) \
             on conflict (network, height) do update set block_hash = excluded.block_hash, created_at = excluded.created_at"
        )
        .bind(network)
        .bind(height)
        .bind(hash)
        .bind(now.as_micros())
    )?;
    exec!(
        conn,
        sqlx::query(
            "insert into chain_cursor (network, height, block_hash, updated_at) values ($1, $2, $3, $4) \
             on conflict (network) do update set height = excluded.height, block_hash = excluded.block_hash, \
             updated_at = excluded.updated_at"
        )
        .bind(network)
        .bind(height)
        .bind(hash)
        .bind(now.as_micros())
    )?;
    Ok(())
}

/// The stored hash of block `height`, if it was processed (and not pruned).
pub async fn block_hash(
    conn: &mut impl AsConn,
    network: &str,
    height: i64,
) -> Result<Option<String>, StoreError> {
    Ok(sql!(conn, |c| sqlx::query_scalar(
        "select block_hash from chain_block where network = $1 and height = $2"
    )
    .bind(network)
    .bind(height)
    .fetch_optional(c)
    .await)?)
}

/// Rolls the watcher back to `height` (the last block both chains share): forgets the blocks
/// above it and moves the cursor there.
pub async fn rewind(
    conn: &mut impl AsConn,
    network: &str,
    height: i64,
    hash: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from chain_block where network = $1 and height > $2")
            .bind(network)
            .bind(height)
    )?;
    advance(conn, network, height, hash, now).await
}

/// Forgets block hashes more than `keep` blocks below `tip` (reorganisations deeper than that
/// are not followed).
pub async fn prune_blocks(
    conn: &mut impl AsConn,
    network: &str,
    tip: i64,
    keep: i64,
) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from chain_block where network = $1 and height < $2")
            .bind(network)
            .bind(tip.saturating_sub(keep))
    )?)
}

/// Which of `addresses` are live deposit addresses on `network`. One indexed query per call
/// (the caller passes a block's outputs in chunks), so the cost per output stays flat however
/// many addresses are open. PostgreSQL gets one array parameter (`= any($3)`): with a long
/// `in (…)` list its generic plan gives up the index and scans every address of the network.
pub async fn owned_among(
    conn: &mut impl AsConn,
    network: &str,
    addresses: &[&str],
) -> Result<Vec<String>, StoreError> {
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    let rows = match conn.as_conn() {
        crate::Conn::Postgres(c) => {
            sqlx::query_scalar(
                "select address from deposit_address where network = $1 and test = $2 and address = any($3)",
            )
            .bind(network)
            .bind(false)
            .bind(addresses)
            .fetch_all(c)
            .await?
        }
        crate::Conn::Sqlite(c) => {
            let q = sqlx::AssertSqlSafe(format!(
                "select address from deposit_address where network = $1 and test = $2 and address in ({})",
                crate::placeholders(3, addresses.len())
            ));
            let mut query = sqlx::query_scalar(q).bind(network).bind(false);
            for a in addresses {
                query = query.bind(*a);
            }
            query.fetch_all(c).await?
        }
    };
    Ok(rows)
}

/// A live transfer the watcher still follows.
#[derive(Clone, Debug)]
pub struct OpenTransfer {
    /// Transaction id.
    pub txid: String,
    /// Output index.
    pub output_index: i64,
    /// Receiving address.
    pub address: String,
    /// Amount.
    pub amount: Amount,
    /// `seen` or `confirmed`.
    pub state: String,
    /// The block it was mined in, once known.
    pub block_height: Option<i64>,
    /// That block's hash.
    pub block_hash: Option<String>,
    /// Confirmations last recorded.
    pub confirmations: i64,
    /// The currency it is in (earlier rows: none).
    pub currency: Option<String>,
}

type OpenTuple = (
    String,
    i64,
    String,
    DbAmount,
    String,
    Option<i64>,
    Option<String>,
    i64,
    Option<String>,
);

/// Live transfers on `network` that are seen but not confirmed, and confirmed ones mined at or
/// above `from_height` or whose block left the chain (those whose standing can still change).
pub async fn open_transfers(
    conn: &mut impl AsConn,
    network: &str,
    from_height: i64,
) -> Result<Vec<OpenTransfer>, StoreError> {
    let rows: Vec<OpenTuple> = sql!(conn, |c| {
        sqlx::query_as(
        "select txid, output_index, address, amount, state, block_height, block_hash, confirmations, currency from chain_transfer \
         where network = $1 and test = $2 and (state = 'seen' or (state = 'confirmed' and (block_height is null or block_height >= $3))) \
         order by chain_transfer_id"
    )
    .bind(network)
    .bind(false)
    .bind(from_height)
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|t| OpenTransfer {
            txid: t.0,
            output_index: t.1,
            address: t.2,
            amount: t.3.0,
            state: t.4,
            block_height: t.5,
            block_hash: t.6,
            confirmations: t.7,
            currency: t.8,
        })
        .collect())
}

/// Notes the block a transfer was mined in and its confirmations so far.
pub async fn set_mined(
    conn: &mut impl AsConn,
    network: &str,
    txid: &str,
    output_index: i64,
    block: Option<(i64, &str)>,
    confirmations: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update chain_transfer set block_height = $1, block_hash = $2, confirmations = $3, updated_at = $4 \
             where network = $5 and txid = $6 and output_index = $7"
        )
        .bind(block.map(|b| b.0))
        .bind(block.map(|b| b.1))
        .bind(confirmations)
        .bind(now.as_micros())
        .bind(network)
        .bind(txid)
        .bind(output_index)
    )?;
    Ok(())
}

/// The right to run a network's watcher, held for as long as this value lives. On
/// PostgreSQL it is a session advisory lock on a connection taken out of the pool: dropping
/// the value closes that connection (releasing the lock), and when the process dies the
/// server releases it, so another process takes over. SQLite databases are served by one
/// process (a lock file), so there it is always granted.
pub struct WatchLock {
    _conn: Option<sqlx::PgConnection>,
}

/// Takes the watcher lock of `network`, or `None` when another process holds it.
pub async fn try_lock_watcher(
    db: &crate::Db,
    network: &str,
) -> Result<Option<WatchLock>, StoreError> {
    match db {
        crate::Db::Sqlite(..) => Ok(Some(WatchLock { _conn: None })),
        crate::Db::Postgres(pool) => {
            // Out of the pool for good: a pooled connection would keep the lock after use.
            let mut conn = pool.acquire().await?.detach();
            let key = format!("kassa watcher {network}");
            let got: bool =
                sqlx::query_scalar("select pg_try_advisory_lock(hashtextextended($1, 0))")
                    .bind(&key)
                    .fetch_one(&mut conn)
                    .await?;
            Ok(got.then_some(WatchLock { _conn: Some(conn) }))
        }
    }
}

/// Forgets the blocks above `height` of the transfers on `network` (a reorganisation dropped
/// them): their state is worked out again from where the best chain has them now.
pub async fn unmine_above(
    conn: &mut impl AsConn,
    network: &str,
    height: i64,
    now: Timestamp,
) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update chain_transfer set block_height = null, block_hash = null, confirmations = 0, \
             updated_at = $1 where network = $2 and test = $3 and block_height > $4"
        )
        .bind(now.as_micros())
        .bind(network)
        .bind(false)
        .bind(height)
    )?)
}
