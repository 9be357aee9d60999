//! The operator's wallets of the UTXO networks (`chain_wallet`): one per network, hot (a
//! sealed BIP39 phrase) or watch-only (an account xpub), and the counter of its receive
//! addresses.
//!
//! The recovery phrase only ever reaches this module sealed by the caller (the keyring, with
//! a context naming the network); nothing here can open it, and [`WalletRow`]'s `Debug` leaves
//! it out all the same.

use std::fmt;

use kassa_core::Timestamp;

use crate::{AsConn, StoreError, exec, sql};

/// How a network's wallet holds its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalletKind {
    /// The recovery phrase is stored (sealed): Kassa can sign withdrawals.
    Hot,
    /// Only the account's extended public key: Kassa derives addresses, signs nothing.
    Watch,
}

impl WalletKind {
    /// The stored spelling: `hot` or `watch`.
    pub fn as_str(self) -> &'static str {
        match self {
            WalletKind::Hot => "hot",
            WalletKind::Watch => "watch",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hot" => Some(WalletKind::Hot),
            "watch" => Some(WalletKind::Watch),
            _ => None,
        }
    }
}

/// A stored wallet.
#[derive(Clone)]
pub struct WalletRow {
    /// The network's code (`BTC`, `LTC`).
    pub network: String,
    /// `mainnet`, `testnet` or `regtest`.
    pub chain: String,
    /// Hot or watch-only.
    pub kind: WalletKind,
    /// The recovery phrase sealed with the master key (hot wallets only).
    pub sealed_mnemonic: Option<String>,
    /// The account key `m/84'/coin'/0'` in the chain's plain format (`xpub`/`tpub`).
    pub account_xpub: String,
    /// The first receive index not yet handed out.
    pub next_index: i64,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed (an index taken).
    pub updated_at: Timestamp,
}

impl fmt::Debug for WalletRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletRow")
            .field("network", &self.network)
            .field("chain", &self.chain)
            .field("kind", &self.kind)
            .field("account_xpub", &self.account_xpub)
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

/// A wallet to store.
#[derive(Clone, Copy)]
pub struct NewWallet<'a> {
    /// The network's code.
    pub network: &'a str,
    /// `mainnet`, `testnet` or `regtest`.
    pub chain: &'a str,
    /// Hot or watch-only.
    pub kind: WalletKind,
    /// The sealed recovery phrase: `Some` exactly for hot wallets.
    pub sealed_mnemonic: Option<&'a str>,
    /// The account key in the chain's plain format.
    pub account_xpub: &'a str,
}

impl fmt::Debug for NewWallet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewWallet")
            .field("network", &self.network)
            .field("chain", &self.chain)
            .field("kind", &self.kind)
            .field("account_xpub", &self.account_xpub)
            .finish_non_exhaustive()
    }
}

/// Stores the wallet of a network, its receive counter at 0. A network that already has one
/// is a unique violation ([`StoreError::is_unique_violation`]): a wallet is never replaced.
pub async fn insert(
    conn: &mut impl AsConn,
    w: &NewWallet<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into chain_wallet \
             (network, chain, kind, sealed_mnemonic, account_xpub, next_index, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, 0, $6, $6)"
        )
        .bind(w.network)
        .bind(w.chain)
        .bind(w.kind.as_str())
        .bind(w.sealed_mnemonic)
        .bind(w.account_xpub)
        .bind(now.as_micros())
    )?;
    Ok(())
}

type Row = (
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
    i64,
);

fn row(r: Row) -> Result<WalletRow, StoreError> {
    let (network, chain, kind, sealed_mnemonic, account_xpub, next_index, created, updated) = r;
    let kind = WalletKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
        column: "chain_wallet.kind",
        reason: format!("unknown kind {kind:?}"),
    })?;
    Ok(WalletRow {
        network,
        chain,
        kind,
        sealed_mnemonic,
        account_xpub,
        next_index,
        created_at: Timestamp::from_micros(created),
        updated_at: Timestamp::from_micros(updated),
    })
}

/// The wallet of `network` (its code), if one was stored.
pub async fn get(conn: &mut impl AsConn, network: &str) -> Result<Option<WalletRow>, StoreError> {
    let r: Option<Row> = sql!(conn, |c| {
        sqlx::query_as(
        "select network, chain, kind, sealed_mnemonic, account_xpub, next_index, created_at, updated_at \
         from chain_wallet where network = $1"
    )
    .bind(network)
    .fetch_optional(c)
    .await
    })?;
    r.map(row).transpose()
}

/// Every stored wallet, by network code.
pub async fn all(conn: &mut impl AsConn) -> Result<Vec<WalletRow>, StoreError> {
    let rows: Vec<Row> = sql!(conn, |c| {
        sqlx::query_as(
        "select network, chain, kind, sealed_mnemonic, account_xpub, next_index, created_at, updated_at \
         from chain_wallet order by network"
    )
    .fetch_all(c)
    .await
    })?;
    rows.into_iter().map(row).collect()
}

/// Locks `network`'s wallet row until the caller's transaction ends (PostgreSQL; on SQLite
/// the write itself holds the database): what is taken from the wallet in that transaction —
/// an EVM sender's next nonce — is taken by one transaction at a time. False when the network
/// has no wallet.
pub async fn lock(
    conn: &mut impl AsConn,
    network: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("update chain_wallet set updated_at = $2 where network = $1")
            .bind(network)
            .bind(now.as_micros())
    )? == 1)
}

/// Takes the next receive index of `network`'s wallet: one atomic `update … returning`, so
/// two transactions never get the same index. Call it inside the transaction that records
/// the address: a rollback gives the index back, a commit uses it up. `None` when the network
/// has no wallet. On PostgreSQL the wallet row stays locked until that transaction ends.
pub async fn take_next_index(
    conn: &mut impl AsConn,
    network: &str,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    Ok(sql!(conn, |c| sqlx::query_scalar(
        "update chain_wallet set next_index = next_index + 1, updated_at = $2 \
         where network = $1 returning next_index - 1"
    )
    .bind(network)
    .bind(now.as_micros())
    .fetch_optional(c)
    .await)?)
}
