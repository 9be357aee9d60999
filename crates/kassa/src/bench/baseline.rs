//! The in-run baselines of `kassa bench invoice-create`, so its figure means the same on any
//! machine: measured in the same run, on the same disk and cores, with the same load shape.
//!
//! - **HTTP ceiling**: a server that answers every creation with a fixed success and does
//!   nothing else, driven by the same client at the same concurrency — what the load
//!   generator and the HTTP stack allow here.
//! - **SQLite group commit**: a minimal in-process writer on its own file (WAL,
//!   `synchronous=FULL`, as Kassa's), writing per invoice the rows Kassa writes — the next
//!   derivation index, the invoice, the day's totals, its deposit address, its event, its
//!   expiry job — one statement each through the same driver; one writer
//!   commits up to [`GROUP`] units per transaction, a savepoint per unit, and answers each
//!   unit only after the commit that holds it. What the disk allows.
//! - **PostgreSQL raw transaction**: the same rows, one transaction per unit, from 8 clients
//!   (as pgbench would run it).
//!
//! The tables are the baseline's own (`baseline_*`), created in the scratch database next to
//! Kassa's and dropped with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::{Connection as _, Executor as _};
use tokio::sync::{mpsc, oneshot};

/// The most units one group transaction holds: as Kassa's group writer.
use kassa_store::group::GROUP;

/// PostgreSQL clients of the raw-transaction baseline.
const PG_CLIENTS: usize = 8;

/// The rows of one invoice, as the baseline writes them.
struct Unit {
    n: u64,
}

/// The derivation index as Kassa takes it: SQLite, a counter row updated in the transaction
/// (a rollback gives it back); PostgreSQL, a sequence.
const COUNTER_SQLITE: [&str; 2] = [
    "create table baseline_counter (name text primary key, value bigint not null)",
    "insert into baseline_counter (name, value) values ('derivation_index', 0)",
];
const COUNTER_PG: [&str; 1] = ["create sequence baseline_index"];
const NEXT_INDEX_SQLITE: &str =
    "update baseline_counter set value = value + 1 where name = 'derivation_index' returning value";
const NEXT_INDEX_PG: &str = "select nextval('baseline_index')";

const CREATE: [&str; 5] = [
    "create table baseline_day (day bigint not null, status text not null, count bigint not null, cents bigint not null, primary key (day, status))",
    "create table baseline_invoice (id bigint primary key, uuid text not null unique, project_id bigint not null, status text not null, price_amount text not null, crypto text not null, address text not null, created_at bigint not null)",
    "create table baseline_address (network text not null, address text not null, derivation_index bigint not null, invoice_id bigint not null, primary key (network, address))",
    "create table baseline_event (invoice_id bigint not null, kind text not null, details text not null, created_at bigint not null)",
    "create table baseline_job (kind text not null, payload text not null, run_at bigint not null, state text not null)",
];

/// Inserts a unit's rows: the same statements for both drivers.
macro_rules! insert_fn {
    ($name:ident, $conn:ty, $next_index:expr) => {
        async fn $name(conn: &mut $conn, u: &Unit) -> Result<(), sqlx::Error> {
            let n = i64::try_from(u.n).unwrap_or(i64::MAX);
            let address = format!("TBaseline{n:026}");
            // The next derivation index, as Kassa takes it in the transaction.
            let _index: i64 = sqlx::query_scalar($next_index)
                .fetch_one(&mut *conn)
                .await?;
            sqlx::query("insert into baseline_invoice (id, uuid, project_id, status, price_amount, crypto, address, created_at) values ($1, $2, 1, 'created', '100', 'USDT_TRC20', $3, $4)")
                .bind(n)
                .bind(format!("{n:032x}"))
                .bind(&address)
                .bind(n)
                .execute(&mut *conn)
                .await?;
            // The day's totals, as Kassa's statistics keep them.
            sqlx::query("insert into baseline_day (day, status, count, cents) values ($1, 'created', 1, 2500) on conflict (day, status) do update set count = baseline_day.count + 1, cents = baseline_day.cents + 2500")
                .bind(n / 86_400)
                .execute(&mut *conn)
                .await?;
            sqlx::query("insert into baseline_address (network, address, derivation_index, invoice_id) values ('TRC20', $1, $2, $2)")
                .bind(&address)
                .bind(n)
                .execute(&mut *conn)
                .await?;
            sqlx::query("insert into baseline_event (invoice_id, kind, details, created_at) values ($1, 'created', '{}', $2)")
                .bind(n)
                .bind(n)
                .execute(&mut *conn)
                .await?;
            sqlx::query("insert into baseline_job (kind, payload, run_at, state) values ('invoice.expire', $1, $2, 'queued')")
                .bind(format!("{{\"invoice_id\":{n}}}"))
                .bind(n)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
    };
}

insert_fn!(insert_sqlite, sqlx::SqliteConnection, NEXT_INDEX_SQLITE);
insert_fn!(insert_pg, sqlx::PgConnection, NEXT_INDEX_PG);

/// Units per second of `total` units made by `clients` producers calling `one`.
async fn drive<F, Fut>(total: u64, clients: usize, one: F) -> anyhow::Result<f64>
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (next, one) = (next.clone(), one.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(());
                }
                one(i).await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a baseline task failed")??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// The SQLite group-commit baseline on a new file in `dir`: units per second.
pub async fn sqlite_group_commit(
    dir: &std::path::Path,
    total: u64,
    clients: usize,
) -> anyhow::Result<f64> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("baseline.db"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .context("opening the baseline's SQLite file")?;
    for sql in COUNTER_SQLITE.iter().chain(&CREATE) {
        conn.execute(*sql).await?;
    }
    let (send, mut units) = mpsc::channel::<(Unit, oneshot::Sender<Result<(), String>>)>(GROUP * 2);
    let writer = tokio::spawn(async move {
        while let Some(first) = units.recv().await {
            let mut batch = vec![first];
            while batch.len() < GROUP {
                match units.try_recv() {
                    Ok(u) => batch.push(u),
                    Err(_) => break,
                }
            }
            let mut outcomes = Vec::with_capacity(batch.len());
            let committed = async {
                // As Kassa's group writer: the savepoint statements between two units are
                // one call, and the commit keeps the last unit's savepoint.
                conn.execute("begin immediate").await?;
                let mut next = "savepoint unit";
                for (u, _) in &batch {
                    conn.execute(next).await?;
                    match insert_sqlite(&mut conn, u).await {
                        Ok(()) => {
                            next = "release unit; savepoint unit";
                            outcomes.push(Ok(()));
                        }
                        Err(e) => {
                            next = "rollback to unit; release unit; savepoint unit";
                            outcomes.push(Err(e.to_string()));
                        }
                    }
                }
                if next.starts_with("rollback") {
                    conn.execute("rollback to unit; release unit").await?;
                }
                conn.execute("commit").await?;
                Ok::<_, sqlx::Error>(())
            }
            .await;
            for (i, (_, ack)) in batch.into_iter().enumerate() {
                let outcome = match &committed {
                    Ok(()) => outcomes.get(i).cloned().unwrap_or(Err("not run".into())),
                    Err(e) => Err(e.to_string()),
                };
                let _ = ack.send(outcome);
            }
            if committed.is_err() {
                let _ = conn.execute("rollback").await;
            }
        }
        conn.close().await
    });
    let rate = drive(total, clients, move |n| {
        let send = send.clone();
        async move {
            let (ack, done) = oneshot::channel();
            send.send((Unit { n }, ack))
                .await
                .map_err(|_| anyhow::anyhow!("the baseline writer stopped"))?;
            done.await
                .context("the baseline writer dropped a unit")?
                .map_err(|e| anyhow::anyhow!("baseline unit {n}: {e}"))
        }
    })
    .await?;
    writer.await.context("the baseline writer")??;
    Ok(rate)
}

/// The PostgreSQL raw-transaction baseline in database `url`: units per second.
pub async fn postgres_raw(url: &str, total: u64) -> anyhow::Result<f64> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(u32::try_from(PG_CLIENTS).unwrap_or(8))
        .connect(url)
        .await
        .context("connecting the baseline to PostgreSQL")?;
    for sql in COUNTER_PG.iter().chain(&CREATE) {
        pool.execute(*sql).await?;
    }
    let rate = {
        let pool = pool.clone();
        drive(total, PG_CLIENTS, move |n| {
            let pool = pool.clone();
            async move {
                let mut tx = pool.begin().await?;
                insert_pg(&mut tx, &Unit { n }).await?;
                tx.commit().await?;
                Ok(())
            }
        })
        .await?
    };
    for table in [
        "baseline_invoice",
        "baseline_address",
        "baseline_event",
        "baseline_job",
    ] {
        pool.execute(sqlx::AssertSqlSafe(format!("drop table {table}")))
            .await?;
    }
    pool.close().await;
    Ok(rate)
}

/// A server that answers `POST /v2/invoice/create` with a fixed success for `currency` and
/// does nothing else; its address and a handle that stops it when dropped.
pub async fn null_server(
    currency: &'static str,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let body = serde_json::json!({
        "status": "success",
        "result": {"address": "TBaselineAddress", "currency": {"fullcode": currency}},
    })
    .to_string();
    let app = axum::Router::new().route(
        "/v2/invoice/create",
        axum::routing::post(move || {
            let body = body.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the null server")?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

/// How long a baseline may take before the run gives up on it.
pub const TIMEOUT: Duration = Duration::from_secs(600);
