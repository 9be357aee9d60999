//! Kassa's storage layer.
//!
//! One code base over two engines: SQLite (the embedded default) and PostgreSQL (for scale).
//! SQL text is written once wherever the dialects agree (sqlx accepts `$1` placeholders on
//! SQLite too) and the [`sql!`] macro compiles each query body once per engine, so both are
//! type-checked. Where the dialects differ (claiming jobs, for one) the repository matches on
//! the engine explicitly.
//!
//! Rules every repository follows:
//! - functions take `&mut impl AsConn` (a transaction or a pooled connection) and contain SQL
//!   only; the service above owns the transaction and decides when it commits;
//! - write transactions start with [`Db::begin`], which on SQLite is `BEGIN IMMEDIATE` so two
//!   writers never deadlock upgrading a read lock;
//! - times are [`kassa_core::Timestamp`] stored as 64-bit microseconds, ids are typed.

pub mod accounts;
mod amount;
pub mod audit;
pub mod chain;
mod db;
mod error;
pub mod evm_txs;
pub mod group;
pub mod ignored;
mod invoice_days;
pub mod invoices;
pub mod jobs;
pub mod ledger;
pub mod migrate;
pub mod notifications;
pub mod payment_list;
mod payment_row;
pub mod postbacks;
pub mod projects;
pub mod rate_limit;
pub mod sessions;
pub mod statement;
pub mod static_wallets;
pub mod tokens;
pub mod transfers;
pub mod user_settings;
pub mod wallets;
pub mod withdrawal_requests;
pub mod withdrawal_setup;
pub mod withdrawals;

pub use amount::DbAmount;
pub use db::{AsConn, Conn, DatabaseUrl, Db, Engine, PoolConn, Tx, UrlError, WriteConn};
pub use error::StoreError;
pub use group::UnitFuture;

/// Runs `body` with `c` bound to the engine's concrete connection type
/// (`&mut SqliteConnection` or `&mut PgConnection`), compiling it once per engine.
///
/// ```ignore
/// let n: i64 = sql!(conn, |c| sqlx::query_scalar("select count(*) from job").fetch_one(c).await)?;
/// ```
#[macro_export]
macro_rules! sql {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $crate::AsConn::as_conn($conn) {
            $crate::Conn::Sqlite($c) => $body,
            $crate::Conn::Postgres($c) => $body,
        }
    };
}

/// `$first, $first+1, …` for `n` values: a SQLite `in (…)` list whose statement text
/// depends only on how many values there are, never on them.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Executes a statement on either engine and yields the number of rows it affected:
/// `exec!(conn, sqlx::query("delete …").bind(x))` is a `Result<u64, sqlx::Error>`.
#[macro_export]
macro_rules! exec {
    ($conn:expr, $query:expr) => {
        match $crate::AsConn::as_conn($conn) {
            $crate::Conn::Sqlite(c) => $query.execute(c).await.map(|r| r.rows_affected()),
            $crate::Conn::Postgres(c) => $query.execute(c).await.map(|r| r.rows_affected()),
        }
    };
}
