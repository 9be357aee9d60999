//! The storage error type. Repositories return it; services map the cases they expect
//! (a missing row, a unique key taken) to domain errors and treat the rest as internal.

/// An error from the database layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row that had to exist does not.
    #[error("row not found")]
    NotFound,
    /// The database failed or refused the statement.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The SQLite write lock was not free within the busy timeout.
    #[error("the database stayed busy for {0:?}")]
    Busy(std::time::Duration),
    /// A unit of work failed outside its own statements: it panicked or ran too long, the
    /// group commit holding it failed, or the writer stopped. Nothing of the unit was kept.
    #[error("the unit of work failed: {0}")]
    Unit(String),
    /// A stored value could not be decoded into its domain type.
    #[error("corrupt stored value in {column}: {reason}")]
    Corrupt {
        /// `table.column` of the value.
        column: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

impl StoreError {
    /// Whether the statement violated a unique constraint (on either engine).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Db(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// Whether this is a connection-level failure (the database is unreachable or the pool
    /// is closed) rather than a problem with the statement.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Db(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }
}
