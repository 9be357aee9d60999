//! Who writes on SQLite: the fair write lock, units of work and group commit.
//!
//! A *unit* is what one request writes: all of it or none of it ([`crate::Db::unit`]). On
//! PostgreSQL a unit is its own transaction. On SQLite, where one writer runs at a time and
//! every commit waits for the disk (`synchronous=FULL`), one writer task runs the units of
//! many requests in one transaction — a savepoint each, so a failing unit rolls back alone —
//! and commits them together: one fsync for up to [`GROUP`] requests. A unit's caller hears
//! back only after the commit that holds its unit is durable; if that commit fails, every unit
//! in it fails.
//!
//! The writer takes units as they come: it starts a transaction with the first, runs every
//! unit queued meanwhile (and those that arrive while it runs them), and commits when none is
//! waiting or [`GROUP`] ran. Under light load a unit commits alone, as before; under heavy load
//! the transactions grow and the disk's fsyncs stop being the limit. The writer takes the
//! same fair write lock as every other SQLite write transaction, so they queue behind each
//! other in arrival order.
//!
//! A unit runs on the writer's task, not its caller's: a caller that goes away (a client that
//! disconnects) cannot leave the shared transaction half-written. Units must therefore own
//! what they use (`'static`), and must only run statements on the transaction they are given:
//! a unit that starts another write transaction or unit would wait for itself (it fails after
//! [`UNIT_TIMEOUT`], rolled back alone).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt as _;
use sqlx::{Connection as _, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard, mpsc, oneshot};

use crate::{StoreError, Tx};

/// How long a writer waits for the SQLite write lock (as SQLite's own busy timeout).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The in-process SQLite write lock. SQLite runs one writer at a time; left to SQLite, writers
/// on different connections that find the lock taken sleep in its busy handler with growing
/// pauses (up to 100 ms each), which starves some of them for seconds under load. Taking
/// this fair (first come, first served) lock before `BEGIN IMMEDIATE` queues writers instead,
/// so none waits longer than the writers ahead of it.
#[derive(Clone, Debug, Default)]
pub struct WriteLock(Arc<AsyncMutex<()>>);

impl WriteLock {
    pub(crate) async fn acquire(&self) -> Result<OwnedMutexGuard<()>, StoreError> {
        tokio::time::timeout(BUSY_TIMEOUT, self.0.clone().lock_owned())
            .await
            .map_err(|_| StoreError::Busy(BUSY_TIMEOUT))
    }
}

/// The most units one group transaction holds.
pub const GROUP: usize = 512;

/// How long one unit may run before it is rolled back and failed (a unit that waits for
/// something other than its statements holds every writer up).
pub const UNIT_TIMEOUT: Duration = Duration::from_secs(10);

/// A boxed future borrowing the transaction.
pub type UnitFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// A unit as the writer runs it: `true` when it succeeded (its savepoint is kept).
type Work = Box<dyn for<'t> FnOnce(&'t mut Tx) -> UnitFuture<'t, bool> + Send>;

/// A unit on its way to the writer, with the channel that hears whether its commit held.
struct Queued {
    /// Taken when it runs.
    work: Option<Work>,
    done: oneshot::Sender<Result<(), Arc<str>>>,
}

/// The SQLite group writer of a pool: started on first use (and again if the runtime it ran
/// on ended).
#[derive(Clone, Debug, Default)]
pub struct GroupWriter {
    queue: Arc<Mutex<Option<mpsc::Sender<Queued>>>>,
    stats: Arc<Counts>,
}

/// What the group writer has done since the pool opened.
#[derive(Debug, Default)]
struct Counts {
    groups: AtomicU64,
    units: AtomicU64,
}

/// Group commits so far: transactions committed and the units they held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupStats {
    /// Group transactions committed.
    pub groups: u64,
    /// Units they held (each a request's work, kept or rolled back alone).
    pub units: u64,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Queued")
    }
}

impl GroupWriter {
    /// The writer's queue, starting the writer if none runs.
    fn queue(&self, pool: &SqlitePool, lock: &WriteLock) -> mpsc::Sender<Queued> {
        let mut slot = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slot.as_ref().filter(|s| !s.is_closed()) {
            return s.clone();
        }
        let (send, recv) = mpsc::channel(GROUP * 4);
        tokio::spawn(run(pool.clone(), lock.clone(), self.stats.clone(), recv));
        *slot = Some(send.clone());
        send
    }

    /// Stops the writer: it finishes what is queued, closes its connection and ends.
    pub(crate) fn close(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Group commits so far.
    pub(crate) fn stats(&self) -> GroupStats {
        GroupStats {
            groups: self.stats.groups.load(Ordering::Relaxed),
            units: self.stats.units.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` as a unit in the next group transaction; its result once that commit is
    /// durable.
    pub(crate) async fn unit<T, E, F>(
        &self,
        pool: &SqlitePool,
        lock: &WriteLock,
        f: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> UnitFuture<'t, Result<T, E>> + Send + 'static,
    {
        if pool.is_closed() {
            return Err(StoreError::Db(sqlx::Error::PoolClosed).into());
        }
        let (result_tx, result_rx) = oneshot::channel::<Result<T, E>>();
        let work: Work = Box::new(move |tx| {
            Box::pin(async move {
                let r = f(tx).await;
                let ok = r.is_ok();
                let _ = result_tx.send(r);
                ok
            })
        });
        let (done, committed) = oneshot::channel();
        self.queue(pool, lock)
            .send(Queued {
                work: Some(work),
                done,
            })
            .await
            .map_err(|_| StoreError::Unit("the writer stopped".into()))?;
        let outcome = committed
            .await
            .map_err(|_| StoreError::Unit("the writer stopped".into()))?;
        let result = result_rx.await;
        match (outcome, result) {
            // The unit failed: its own error, whatever happened to the others.
            (_, Ok(Err(e))) => Err(e),
            (Ok(()), Ok(Ok(v))) => Ok(v),
            (Err(why), _) => Err(StoreError::Unit(why.to_string()).into()),
            (Ok(()), Err(_)) => Err(StoreError::Unit("the unit did not finish".into()).into()),
        }
    }
}

/// The writer: takes queued units, runs them in group transactions, answers after each
/// commit. Ends when every sender is gone (the pool was closed).
async fn run(
    pool: SqlitePool,
    lock: WriteLock,
    counts: Arc<Counts>,
    mut queue: mpsc::Receiver<Queued>,
) {
    // The writer's own connection (outside the pool), replaced after any failure so that a
    // broken transaction never leaks into the next group.
    let mut conn: Option<SqliteConnection> = None;
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        let outcome = match lock.acquire().await {
            Err(e) => Err(e),
            Ok(_guard) => {
                let c = match conn.take() {
                    Some(c) => Ok(c),
                    None => SqliteConnection::connect_with(&pool.connect_options()).await,
                };
                match c {
                    Err(e) => Err(e.into()),
                    Ok(c) => {
                        let (c, outcome) = group_transaction(c, &mut group, &mut queue).await;
                        match (c, &outcome) {
                            (Some(c), Ok(())) => conn = Some(c),
                            (Some(c), Err(_)) => {
                                let _ = c.close().await;
                            }
                            (None, _) => {}
                        }
                        outcome
                    }
                }
            }
        };
        let outcome = outcome.map_err(|e| Arc::<str>::from(e.to_string()));
        match &outcome {
            Ok(()) => {
                counts.groups.fetch_add(1, Ordering::Relaxed);
                counts
                    .units
                    .fetch_add(u64::try_from(group.len()).unwrap_or(0), Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, units = group.len(), "a group commit failed"),
        }
        for q in group {
            let _ = q.done.send(outcome.clone());
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

/// One group transaction on `c`: begin, the units, commit. The connection back (to reuse
/// only if the commit held), and whether it held.
async fn group_transaction(
    c: SqliteConnection,
    group: &mut Vec<Queued>,
    queue: &mut mpsc::Receiver<Queued>,
) -> (Option<SqliteConnection>, Result<(), StoreError>) {
    let mut tx = Tx::Group(c);
    let mut outcome = exec(&mut tx, "begin immediate").await;
    if outcome.is_ok() {
        outcome = run_group(&mut tx, group, queue).await;
        outcome = match outcome {
            Ok(()) => exec(&mut tx, "commit").await,
            Err(e) => Err(e),
        };
    }
    match tx {
        Tx::Group(c) => (Some(c), outcome),
        // Units only borrow the transaction; should one ever replace it, the connection is
        // gone and the group must not count as committed.
        _ => (
            None,
            outcome.and(Err(StoreError::Unit(
                "the group transaction was replaced".into(),
            ))),
        ),
    }
}

/// Runs `group`'s units and any that arrive meanwhile (up to [`GROUP`]), each in its own
/// savepoint; `group` ends holding every unit that ran. An error means the transaction
/// itself failed (a savepoint could not be set or undone) and must be rolled back.
async fn run_group(
    tx: &mut Tx,
    group: &mut Vec<Queued>,
    queue: &mut mpsc::Receiver<Queued>,
) -> Result<(), StoreError> {
    // Savepoint statements are folded together so that between two units the writer makes
    // one call to the database, not three.
    let mut next = "savepoint unit";
    let mut i = 0;
    loop {
        if i == group.len() {
            // Full, or nothing waiting: commit. (A full group leaves the rest queued for
            // the next.)
            if group.len() == GROUP {
                break;
            }
            match queue.try_recv() {
                Ok(q) => group.push(q),
                Err(_) => break,
            }
        }
        exec(tx, next).await?;
        let ok = match group[i].work.take() {
            Some(work) => {
                tokio::time::timeout(UNIT_TIMEOUT, AssertUnwindSafe(work(tx)).catch_unwind())
                    .await
                    .unwrap_or(Ok(false))
                    .unwrap_or(false)
            }
            None => false,
        };
        next = if ok {
            "release unit; savepoint unit"
        } else {
            "rollback to unit; release unit; savepoint unit"
        };
        i += 1;
    }
    // The last unit's savepoint: kept by the commit, or undone now.
    if next.starts_with("rollback") {
        exec(tx, "rollback to unit; release unit").await?;
    }
    Ok(())
}

/// Runs savepoint statements (prepared once: the texts are constants).
async fn exec(tx: &mut Tx, sql: &'static str) -> Result<(), StoreError> {
    crate::sql!(tx, |c| sqlx::query(sql).execute(c).await.map(|_| ()))?;
    Ok(())
}
