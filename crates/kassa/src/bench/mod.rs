//! `kassa bench`: benchmarks against a real server, one file per benchmark.
//!
//! Each starts the server in-process exactly as `kassa serve` does (same [`Application`], job
//! worker running) on a throwaway database — a fresh SQLite file in a temporary folder, or a new
//! database on a PostgreSQL server that is dropped afterwards — and measures over real TCP.
//! Performance targets live here, never in timed tests.

mod baseline;
mod chain_match;
mod chain_seen;
mod crash;
mod invoice_create;
mod logo_upload;
mod payments;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use kassa_core::account::Email;
use kassa_core::secret::SecretString;
use kassa_server::app::Application;
use kassa_server::config::Settings;
use kassa_server::state::AppState;
use kassa_service::accounts;
use kassa_store::Engine;
use sqlx::{Connection as _, Executor as _, PgConnection};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// `kassa bench …`
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Benchmark `POST /v2/invoice/create` with `add_fields.cryptocurrency` (a deposit
    /// address is derived for every invoice) against an in-process server on a throwaway
    /// database. Build with `--release` for meaningful figures.
    InvoiceCreate(invoice_create::InvoiceCreateArgs),
    /// Benchmark the chain watcher's matching of block outputs against the deposit
    /// addresses (`--addresses` of them, one million by default) on a throwaway database:
    /// outputs looked up per second, as the watcher does it (one indexed query per 400).
    /// `--network eth`: ERC-20 Transfer logs fetched and parsed by the EVM source from a local
    /// JSON-RPC server, then matched — logs per second.
    ChainMatch(chain_match::ChainMatchArgs),
    /// Measure the time from broadcasting a payment to the invoice showing it as "seen",
    /// against a `litecoind -regtest` this command starts (Debian's `litecoind` must be
    /// installed), or an `anvil` with `--network eth`, with the watcher running as in
    /// `kassa serve`.
    ChainSeen(chain_seen::ChainSeenArgs),
    /// Upload eight large logos at once (a 16-bit 4096 × 4096 PNG "bomb" and the largest
    /// accepted image) while probing `/healthz`: its latency and the process's memory growth
    /// show that image decoding stays off the async threads and bounded.
    LogoUpload(logo_upload::LogoUploadArgs),
    /// Seed `--invoices` invoices (10 million by default) over two years in 20 projects on a
    /// throwaway database and time the Payments and Statistics reads: the first page, each
    /// filter, filters combined, the searches, a deep keyset page, statistics over 30 and 365
    /// days, and a CSV export of `--export-rows` rows (time and memory growth).
    Payments(payments::PaymentsArgs),
    /// Create invoices under load while `kassa serve` (this binary, as a child process on a
    /// throwaway database) is killed with SIGKILL `--kills` times at random moments, one in
    /// ten while it starts; then check that every acknowledged invoice is stored exactly once
    /// with its address and expiry job, no order twice, and that every restart came up.
    Crash(crash::CrashArgs),
}

/// Where a benchmark's throwaway databases go: `--engine` and `--postgres-url`.
#[derive(Args, Debug)]
pub struct Databases {
    /// The database engine(s) to run on.
    #[arg(long, value_enum, default_value_t = EngineChoice::Sqlite)]
    engine: EngineChoice,
    /// The PostgreSQL server (any database on it): a database `kassa_bench_…` is created there
    /// and dropped afterwards. The user needs CREATEDB.
    #[arg(
        long,
        value_name = "URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
}

/// Which engines to benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// A fresh SQLite database in a temporary folder.
    Sqlite,
    /// A throwaway database on the PostgreSQL server of `--postgres-url`.
    Postgres,
    /// SQLite, then PostgreSQL.
    Both,
}

impl EngineChoice {
    fn engines(self) -> &'static [Engine] {
        match self {
            EngineChoice::Sqlite => &[Engine::Sqlite],
            EngineChoice::Postgres => &[Engine::Postgres],
            EngineChoice::Both => &[Engine::Sqlite, Engine::Postgres],
        }
    }
}

/// Runs a benchmark. `base` is the loaded configuration: tuning such as
/// `database.max_connections` and `jobs.workers` applies; where the server listens and which
/// database it uses are the benchmark's own.
pub async fn run(base: Settings, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::InvoiceCreate(args) => invoice_create::run(base, args).await,
        BenchCommand::ChainMatch(args) => chain_match::run(base, args).await,
        BenchCommand::ChainSeen(args) => chain_seen::run(base, args).await,
        BenchCommand::LogoUpload(args) => logo_upload::run(base, args).await,
        BenchCommand::Payments(args) => payments::run(base, args).await,
        BenchCommand::Crash(args) => crash::run(base, args).await,
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// The exact nearest-rank percentile of a sorted list: the smallest value with at least
/// `p` of the values at or below it.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (p.clamp(0.0, 1.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

/// A temporary folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("kassa-bench-{}", unique_suffix()));
        std::fs::create_dir(&path)
            .with_context(|| format!("creating the temporary folder {}", path.display()))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `<unix seconds>_<random hex>`: unique enough for folder and database names.
fn unique_suffix() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{now}_{:08x}", rand::random::<u32>())
}

/// `url` with its database name replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A throwaway database for one run: a SQLite file in a temporary folder, or a new database on
/// the PostgreSQL server of `postgres_url`, dropped by [`Scratch::finish`] (or, if the run is
/// abandoned, when dropped).
struct Scratch {
    /// The temporary folder (the data folder of the server; the SQLite file is in it).
    dir: TempDir,
    /// The database URL.
    url: String,
    /// What to call it in reports: the SQLite file or the PostgreSQL database name.
    name: String,
    guard: Option<DropDatabase>,
}

impl Scratch {
    async fn new(engine: Engine, postgres_url: &str) -> anyhow::Result<Scratch> {
        let dir = TempDir::new()?;
        match engine {
            Engine::Sqlite => {
                let file = dir.path().join("kassa.db").display().to_string();
                Ok(Scratch {
                    url: format!("sqlite://{file}"),
                    name: file,
                    dir,
                    guard: None,
                })
            }
            Engine::Postgres => {
                let server = kassa_store::DatabaseUrl::parse(postgres_url)
                    .map_err(|e| anyhow::anyhow!("--postgres-url: {e}"))?;
                let name = format!("kassa_bench_{}", unique_suffix());
                let mut admin = PgConnection::connect(postgres_url)
                    .await
                    .with_context(|| format!("connecting to PostgreSQL at {server}"))?;
                admin
                    .execute(sqlx::AssertSqlSafe(format!("create database \"{name}\"")))
                    .await
                    .with_context(|| format!("creating the database {name} on {server}"))?;
                let _ = admin.close().await;
                Ok(Scratch {
                    url: with_database(postgres_url, &name),
                    guard: Some(DropDatabase {
                        admin_url: postgres_url.to_owned(),
                        name: Some(name.clone()),
                    }),
                    name,
                    dir,
                })
            }
        }
    }

    /// Drops the PostgreSQL database now (the folder goes when `self` is dropped).
    async fn finish(mut self) {
        if let Some(guard) = self.guard.take() {
            guard.drop_now().await;
        }
    }
}

/// Drops the throwaway PostgreSQL database: explicitly after the run, or (on a separate
/// thread with its own runtime) if the run is abandoned.
struct DropDatabase {
    admin_url: String,
    name: Option<String>,
}

impl DropDatabase {
    async fn drop_now(mut self) {
        if let Some(name) = self.name.take() {
            drop_database(&self.admin_url, &name).await;
        }
    }
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else {
            return;
        };
        let admin_url = self.admin_url.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&admin_url, &name));
            }
        })
        .join();
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    let result = match PgConnection::connect(admin_url).await {
        Ok(mut c) => {
            let r = c
                .execute(sqlx::AssertSqlSafe(format!(
                    "drop database if exists \"{name}\" with (force)"
                )))
                .await;
            let _ = c.close().await;
            r.map(|_| ())
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("warning: could not drop the benchmark database {name}: {e}");
    }
}

/// A server started in-process on port 0, as `kassa serve` starts it.
struct InProcess {
    addr: SocketAddr,
    state: AppState,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    /// `base` with the benchmark's own listener, data folder and database.
    fn settings(base: &Settings, data_dir: &Path, database_url: &str) -> Settings {
        let mut settings = base.clone();
        settings.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.server.public_url = String::new();
        settings.data_dir = data_dir.to_owned();
        settings.database.url = SecretString::new(database_url);
        settings
    }

    async fn start(settings: Settings) -> anyhow::Result<InProcess> {
        let app = Application::build(settings)
            .await
            .context("starting the server")?;
        let addr = app.local_addr()?;
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Ok(InProcess {
            addr,
            state,
            stop,
            task,
        })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: the server stopped with an error: {e:#}"),
            Err(e) => eprintln!("warning: the server task failed: {e}"),
        }
    }
}

/// Resident memory of this process, in KiB.
pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The owner and project a benchmark works with.
struct BenchShop {
    shop_id: String,
    api_key: String,
    email: Email,
    password: String,
}

/// Creates a merchant owner and a (test-mode) project through the services, as
/// `kassa admin create-user` and `create-project` do.
async fn merchant_project(state: &AppState) -> anyhow::Result<BenchShop> {
    let email = Email::parse("bench@kassa.invalid").map_err(|e| anyhow::anyhow!("e-mail: {e}"))?;
    let password = format!("bench-{:032x}", rand::random::<u128>());
    accounts::create_owner(state, &email, &password, "Benchmark")
        .await?
        .context("the benchmark owner exists already in a fresh database")?;
    let mut c = state.db.conn().await?;
    let user = kassa_store::accounts::user_by_email(&mut c, &email)
        .await?
        .context("the benchmark owner was not stored")?;
    drop(c);
    let client = accounts::Client {
        ip: "cli".into(),
        user_agent: "kassa bench".into(),
    };
    let created = kassa_service::projects::create(
        state,
        user.merchant_id,
        &kassa_service::audit::Actor::of(None, &client),
        &kassa_service::projects::default_settings("Benchmark"),
    )
    .await?;
    Ok(BenchShop {
        shop_id: created.shop_id,
        api_key: created.api_key,
        email,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::{percentile, with_database};

    #[test]
    fn percentiles_are_exact_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), Some(50));
        assert_eq!(percentile(&v, 0.99), Some(99));
        assert_eq!(percentile(&v, 1.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 0.99), Some(7));
        assert_eq!(percentile(&[1, 2, 3], 0.5), Some(2));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
    }
}
