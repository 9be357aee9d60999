//! Start-up and shutdown: [`Application::build`] checks the configuration, binds the port,
//! opens and migrates the database and loads the master key, failing with a message that
//! names the option at fault; [`Application::run_until_stopped`] serves until the shutdown
//! signal, then lets in-flight requests and the jobs in hand finish.

use std::fs::{self, File};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kassa_core::time::{Clock, SystemClock};
use kassa_store::{DatabaseUrl, Db};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, Settings};
use crate::http;
use crate::state::AppState;
use kassa_service::worker::maintenance;

/// A built, not yet running server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// Held for the life of the process: only one `kassa serve` may use a SQLite database.
    _sqlite_lock: Option<File>,
}

impl Application {
    /// Builds the application with the system clock.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the application with the given clock (tests move time by hand).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        settings.validate()?;
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .map_err(|e| {
                ConfigError::option(
                    "server.listen",
                    format!("cannot listen on {}: {e}", settings.server.listen),
                )
            })?;
        prepare_data_dir(&settings.data_dir)?;
        let sqlite_lock = match settings.database_url()? {
            DatabaseUrl::Sqlite(path) => Some(lock_sqlite(&path)?),
            DatabaseUrl::Postgres(_) => None,
        };
        // Derived from the bound address, so that port 0 shows the real port.
        let public_url = if settings.server.public_url.trim().is_empty() {
            format!(
                "http://{}",
                listener
                    .local_addr()
                    .map_err(|e| ConfigError::option("server.listen", e.to_string()))?
            )
        } else {
            settings.public_url()?
        };
        let state = AppState::open(settings, clock, public_url).await?;
        let recovered = state
            .worker
            .recover_at_startup()
            .await
            .context("recovering abandoned jobs")?;
        if recovered > 0 {
            tracing::warn!(
                jobs = recovered,
                "re-queued jobs that were running when the previous process stopped"
            );
        }
        let now = state.clock.now();
        maintenance::schedule(&state.db, now, now)
            .await
            .context("scheduling maintenance")?;
        Ok(Self {
            listener,
            state,
            _sqlite_lock: sqlite_lock,
        })
    }

    /// The bound address (the real port when `server.listen` asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state, for tests and start-up tasks.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes. Then stops accepting connections, waits up to 30 s
    /// for in-flight requests, stops the worker claiming and waits for the jobs it holds.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            _sqlite_lock,
        } = self;
        let stop = CancellationToken::new();
        let worker = (state.settings.jobs.workers > 0)
            .then(|| tokio::spawn(state.worker.clone().run(stop.child_token())));
        // Rates are fetched in the background; requests only read the cache.
        let rates = tokio::spawn(state.pricing.rates.clone().run(stop.child_token()));
        // One watcher per network that takes live payments (on PostgreSQL one process
        // watches a network at a time; the others stand by).
        let watchers: Vec<_> = state
            .chains
            .all()
            .iter()
            .map(|c| {
                let w = kassa_service::watcher::Watcher::new(state.ctx.clone(), c.clone());
                tokio::spawn(w.run(stop.child_token()))
            })
            .collect();
        // The Telegram bot's updates (people linking chats), one process at a time.
        let poller = state.bot.clone().map(|bot| {
            let p = kassa_service::notify::link::Poller::new(state.ctx.clone(), bot);
            tokio::spawn(p.run(stop.child_token()))
        });
        let router = http::router(state.clone());
        let signal = {
            let stop = stop.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight requests and jobs");
                stop.cancel();
            }
        };
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal);
        let grace = async {
            stop.cancelled().await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        };
        tokio::select! {
            result = serve => result.context("serving HTTP")?,
            () = grace => tracing::warn!("requests still open after 30 s; closing them"),
        }
        stop.cancel();
        let _ = rates.await;
        for w in watchers {
            let _ = w.await;
        }
        if let Some(p) = poller {
            let _ = p.await;
        }
        if let Some(worker) = worker
            && let Err(e) = worker.await
        {
            tracing::error!(error = %e, "worker task failed");
        }
        // Every task that used the pool has ended; do not wait forever on a stray borrower.
        if tokio::time::timeout(Duration::from_secs(10), state.db.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections still in use after 10 s; exiting anyway");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Creates the data folder if needed and checks that it is a writable directory.
pub fn prepare_data_dir(dir: &Path) -> Result<(), ConfigError> {
    let fail = |what: String| {
        ConfigError::option(
            "data_dir",
            format!("cannot use {} as the data folder: {what}", dir.display()),
        )
    };
    fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    if !dir.is_dir() {
        return Err(fail("it is not a directory".into()));
    }
    let probe = dir.join(format!(".write-test-{}", std::process::id()));
    fs::write(&probe, b"").map_err(|e| fail(format!("it is not writable: {e}")))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Opens the database pool, naming the option when that fails.
pub async fn connect(settings: &Settings, url: &DatabaseUrl) -> Result<Db, ConfigError> {
    if let DatabaseUrl::Sqlite(path) = url
        && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
    {
        fs::create_dir_all(parent).map_err(|e| {
            ConfigError::option(
                "database.url",
                format!("cannot create the folder {}: {e}", parent.display()),
            )
        })?;
    }
    Db::connect(url, settings.database.max_connections)
        .await
        .map_err(|e| ConfigError::option("database.url", format!("cannot open {url}: {e}")))
}

fn lock_sqlite(db_path: &Path) -> Result<File, ConfigError> {
    let lock_path = db_path.with_extension("db.lock");
    if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = fs::create_dir_all(parent);
    }
    let file = File::create(&lock_path).map_err(|e| {
        ConfigError::option(
            "database.url",
            format!("cannot create the lock file {}: {e}", lock_path.display()),
        )
    })?;
    file.try_lock().map_err(|_| {
        ConfigError::option(
            "database.url",
            format!(
                "another kassa serve is already using {}; a SQLite database is served by one process (use PostgreSQL for several)",
                db_path.display()
            ),
        )
    })?;
    Ok(file)
}
