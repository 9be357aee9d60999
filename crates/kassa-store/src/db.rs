//! Connection pools for both engines, write transactions, and the [`AsConn`] abstraction that
//! lets a repository function run on either.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::StoreError;
pub use crate::group::{BUSY_TIMEOUT, WriteLock};
use crate::group::{GroupStats, GroupWriter, UnitFuture};
use futures_util::FutureExt as _;

/// The two supported database engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// SQLite in WAL mode, the embedded default.
    Sqlite,
    /// PostgreSQL, for scale and several Kassa processes.
    Postgres,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        })
    }
}

/// A parsed `database.url`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://<path>`: a database file (created if missing).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

/// Why a database URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// The scheme names an engine Kassa does not support.
    #[error(
        "unknown database engine {0:?}: use sqlite://<file> or postgres://<user>@<host>/<database>"
    )]
    UnknownEngine(String),
    /// No scheme at all.
    #[error("not a database URL: use sqlite://<file> or postgres://<user>@<host>/<database>")]
    NoScheme,
    /// `sqlite://` without a file.
    #[error("sqlite URL has no file path")]
    EmptyPath,
    /// The PostgreSQL URL does not parse.
    #[error("invalid postgres URL: {0}")]
    BadPostgres(String),
}

impl DatabaseUrl {
    /// Parses `sqlite://path`, `sqlite:path` or `postgres://…`.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let url = url.trim();
        let (scheme, rest) = url.split_once(':').ok_or(UrlError::NoScheme)?;
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() {
                    return Err(UrlError::EmptyPath);
                }
                Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
            }
            "postgres" | "postgresql" => {
                PgConnectOptions::from_str(url)
                    .map_err(|e| UrlError::BadPostgres(redact_sqlx(&e.to_string())))?;
                Ok(DatabaseUrl::Postgres(url.to_owned()))
            }
            "" => Err(UrlError::NoScheme),
            other => Err(UrlError::UnknownEngine(other.to_owned())),
        }
    }

    /// The engine this URL selects.
    pub fn engine(&self) -> Engine {
        match self {
            DatabaseUrl::Sqlite(_) => Engine::Sqlite,
            DatabaseUrl::Postgres(_) => Engine::Postgres,
        }
    }
}

/// Errors from sqlx may quote the URL; keep passwords out of messages.
fn redact_sqlx(msg: &str) -> String {
    msg.split_whitespace()
        .map(|w| {
            if w.contains("://") && w.contains('@') {
                "<url>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for DatabaseUrl {
    /// Shows the URL with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => {
                // postgres://user:password@host/... → postgres://user:***@host/...
                if let Some((scheme, rest)) = u.split_once("://")
                    && let Some((userinfo, host)) = rest.split_once('@')
                    && let Some((user, _)) = userinfo.split_once(':')
                {
                    return write!(f, "{scheme}://{user}:***@{host}");
                }
                f.write_str(u)
            }
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A pool of connections to one database.
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite, with its write lock and its group writer.
    Sqlite(SqlitePool, WriteLock, GroupWriter),
    /// PostgreSQL.
    Postgres(PgPool),
}

impl Db {
    /// Opens a pool. SQLite databases are created if missing and run in WAL mode with
    /// `synchronous=FULL` (a committed transaction survives power loss) and foreign keys on.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Db, StoreError> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(BUSY_TIMEOUT);
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(15))
                    .connect_with(options)
                    .await?;
                Ok(Db::Sqlite(
                    pool,
                    WriteLock::default(),
                    GroupWriter::default(),
                ))
            }
            DatabaseUrl::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(15))
                    .connect_with(options)
                    .await?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    /// The engine behind this pool.
    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite(..) => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// Starts a write transaction (on SQLite: the write lock, then `BEGIN IMMEDIATE`). Never
    /// start one while holding another on SQLite: it would wait for itself (and fail with
    /// [`StoreError::Busy`]).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite(p, lock, _) => {
                let guard = lock.acquire().await?;
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, guard)
            }
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Runs `f` as one unit of work, all or nothing, and returns its result once it is
    /// durable. On PostgreSQL the unit is its own transaction; on SQLite it joins the next
    /// group commit (see [`crate::group`]): it must own what it uses and only run statements
    /// on the transaction it is given. `f` returning an error rolls back its unit alone.
    ///
    /// ```ignore
    /// let id = db.unit(move |tx| Box::pin(async move { insert(tx, &row).await })).await?;
    /// ```
    pub async fn unit<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> UnitFuture<'t, Result<T, E>> + Send + 'static,
    {
        match self {
            Db::Sqlite(p, lock, group) => group.unit(p, lock, f).await,
            Db::Postgres(_) => {
                let mut tx = self.begin().await?;
                // As on SQLite: a unit that panics or runs too long is rolled back and fails.
                let ran = tokio::time::timeout(
                    crate::group::UNIT_TIMEOUT,
                    std::panic::AssertUnwindSafe(f(&mut tx)).catch_unwind(),
                )
                .await;
                let v = match ran {
                    Ok(Ok(r)) => r?,
                    Ok(Err(_)) => return Err(StoreError::Unit("the unit panicked".into()).into()),
                    Err(_) => return Err(StoreError::Unit("the unit ran too long".into()).into()),
                };
                tx.commit().await?;
                Ok(v)
            }
        }
    }

    /// SQLite's group commits so far (`None` on PostgreSQL, where each unit commits alone).
    pub fn group_stats(&self) -> Option<GroupStats> {
        match self {
            Db::Sqlite(_, _, group) => Some(group.stats()),
            Db::Postgres(_) => None,
        }
    }

    /// Takes a connection from the pool for reads.
    pub async fn conn(&self) -> Result<PoolConn, StoreError> {
        Ok(match self {
            Db::Sqlite(p, ..) => PoolConn::Sqlite(p.acquire().await?),
            Db::Postgres(p) => PoolConn::Postgres(p.acquire().await?),
        })
    }

    /// Takes a connection for single autocommit writes (on SQLite, holding the write lock
    /// until it is dropped).
    pub async fn write(&self) -> Result<WriteConn, StoreError> {
        Ok(match self {
            Db::Sqlite(p, lock, _) => {
                let guard = lock.acquire().await?;
                WriteConn {
                    conn: PoolConn::Sqlite(p.acquire().await?),
                    _guard: Some(guard),
                }
            }
            Db::Postgres(p) => WriteConn {
                conn: PoolConn::Postgres(p.acquire().await?),
                _guard: None,
            },
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let one: i32 = crate::sql!(&mut c, |c| sqlx::query_scalar("select 1")
            .fetch_one(c)
            .await)?;
        debug_assert_eq!(one, 1);
        Ok(())
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        match self {
            Db::Sqlite(p, _, group) => {
                group.close();
                p.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// A write transaction on either engine. Dropping it without [`Tx::commit`] rolls back.
#[derive(Debug)]
pub enum Tx {
    /// SQLite, holding the write lock (released after the transaction ends: fields drop in
    /// order).
    Sqlite(Transaction<'static, Sqlite>, OwnedMutexGuard<()>),
    /// PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
    /// SQLite's group transaction, as a unit of work sees it (see [`crate::group`]): units
    /// only borrow it, the group writer begins and commits it.
    Group(SqliteConnection),
}

impl Tx {
    /// Commits.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t, _guard) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
            Tx::Group(mut c) => {
                sqlx::raw_sql("commit").execute(&mut c).await?;
            }
        }
        Ok(())
    }

    /// Rolls back explicitly (dropping does the same, later).
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t, _guard) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
            Tx::Group(mut c) => {
                sqlx::raw_sql("rollback").execute(&mut c).await?;
            }
        }
        Ok(())
    }
}

/// A connection checked out of the pool.
#[derive(Debug)]
pub enum PoolConn {
    /// SQLite.
    Sqlite(PoolConnection<Sqlite>),
    /// PostgreSQL.
    Postgres(PoolConnection<Postgres>),
}

/// A connection for single writes; see [`Db::write`].
#[derive(Debug)]
pub struct WriteConn {
    conn: PoolConn,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl AsConn for WriteConn {
    fn as_conn(&mut self) -> Conn<'_> {
        self.conn.as_conn()
    }
}

/// A borrowed connection of either engine; what [`crate::sql!`] dispatches on.
pub enum Conn<'a> {
    /// SQLite.
    Sqlite(&'a mut SqliteConnection),
    /// PostgreSQL.
    Postgres(&'a mut PgConnection),
}

impl Conn<'_> {
    /// The engine of this connection.
    pub fn engine(&self) -> Engine {
        match self {
            Conn::Sqlite(_) => Engine::Sqlite,
            Conn::Postgres(_) => Engine::Postgres,
        }
    }
}

/// Anything a repository can run statements on: a [`Tx`] or a [`PoolConn`].
pub trait AsConn: Send {
    /// Borrows the underlying connection.
    fn as_conn(&mut self) -> Conn<'_>;
}

impl AsConn for Tx {
    fn as_conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t, _) => Conn::Sqlite(t),
            Tx::Postgres(t) => Conn::Postgres(t),
            Tx::Group(c) => Conn::Sqlite(c),
        }
    }
}

impl AsConn for PoolConn {
    fn as_conn(&mut self) -> Conn<'_> {
        match self {
            PoolConn::Sqlite(c) => Conn::Sqlite(c),
            PoolConn::Postgres(c) => Conn::Postgres(c),
        }
    }
}

impl<T: AsConn + ?Sized> AsConn for &mut T {
    fn as_conn(&mut self) -> Conn<'_> {
        (**self).as_conn()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engines() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://kassa-data/kassa.db").unwrap(),
            DatabaseUrl::Sqlite("kassa-data/kassa.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/k.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/k.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:k.db").unwrap(),
            DatabaseUrl::Sqlite("k.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap().engine(),
            Engine::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap().engine(),
            Engine::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("mysql://root@localhost/kassa"),
            Err(UrlError::UnknownEngine("mysql".into()))
        );
        assert_eq!(DatabaseUrl::parse("kassa.db"), Err(UrlError::NoScheme));
        assert_eq!(DatabaseUrl::parse("sqlite://"), Err(UrlError::EmptyPath));
    }

    #[test]
    fn display_hides_password() {
        let url = DatabaseUrl::parse("postgres://kassa:s3cret@db.internal:5432/kassa").unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://kassa:***@db.internal:5432/kassa"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
    }
}
