//! What every handler can reach, and how it is put together.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kassa_core::secret::Keyring;
use kassa_core::time::Clock;
use kassa_store::{Db, migrate};

use std::sync::OnceLock;

use kassa_rates::Rates;

use crate::auth::password::Passwords;
use crate::chains::{self, Chains};
use crate::config::{ConfigError, Settings};
use crate::heavy::Heavy;
use crate::invoices::{ExpireHandler, ReminderHandler};
use crate::mail::MailHandler;
use crate::metrics::Metrics;
use crate::postbacks::PostbackHandler;
use crate::pricing::Pricing;
use crate::web::cookies::CookiePolicy;
use crate::worker::maintenance::MaintenanceHandler;
use crate::worker::{JobHandler, ProbeHandler, Worker, WorkerConfig};
use crate::{app, secrets};

/// Shared application state; cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Base of links handed out, without a trailing slash.
    pub public_url: Arc<str>,
    /// Master keys for secrets at rest.
    pub keyring: Arc<Keyring>,
    /// Metric registry.
    pub metrics: Arc<Metrics>,
    /// Source of "now".
    pub clock: Arc<dyn Clock>,
    /// The job worker (to wake it after enqueueing).
    pub worker: Worker,
    /// Password hashing (bounded concurrency).
    pub passwords: Passwords,
    /// How cookies are set.
    pub cookies: CookiePolicy,
    /// Exchange rates and fees.
    pub pricing: Arc<Pricing>,
    /// The SSRF-guarded HTTP client for merchant URLs (postbacks).
    pub outbound: reqwest::Client,
    /// Image decoding and other heavy work, off the async threads and bounded.
    pub heavy: Heavy,
    /// The UTXO networks that take live payments: configured (`[chains.<network>]`) and with
    /// a wallet. Their deposit addresses and watchers come from here.
    pub chains: Arc<Chains>,
}

impl AppState {
    /// Opens what the application needs (data folder, database and migrations, master key,
    /// job handlers) without binding a port. The server and the operator's commands share it.
    pub async fn open(
        settings: Settings,
        clock: Arc<dyn Clock>,
        public_url: String,
    ) -> anyhow::Result<AppState> {
        settings.validate()?;
        app::prepare_data_dir(&settings.data_dir)?;
        let url = settings.database_url()?;
        let db = app::connect(&settings, &url).await?;
        let applied = migrate::run(&db)
            .await
            .context("applying database migrations")?;
        if !applied.is_empty() {
            tracing::info!(versions = ?applied, "applied database migrations");
        }
        crate::net::install_tls_provider();
        let keyring = Arc::new(secrets::load_or_create(&settings)?);
        let rates = Arc::new(
            Rates::from_config(&settings.rates, clock.clone())
                .map_err(|e| ConfigError::option("rates.sources", e))?,
        );
        let chains = Arc::new(chains::load(&settings, &db, clock.now()).await?);
        let pricing = Arc::new(Pricing::new(
            rates,
            settings.fees.service_percent()?,
            settings.fees.transfer_usd()?,
            chains.live_networks(),
        ));
        let outbound = crate::net::guarded_client(
            settings.server.allow_private_targets,
            crate::postbacks::TIMEOUT,
        );
        // Handlers that need the whole state get it once it exists.
        let late: Arc<OnceLock<AppState>> = Arc::new(OnceLock::new());
        let metrics = Arc::new(Metrics::default());
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let passwords = Passwords::new(cores)?;
        let handlers: Vec<Arc<dyn JobHandler>> = vec![
            Arc::new(ProbeHandler),
            Arc::new(MailHandler::new(&settings, keyring.clone())?),
            Arc::new(MaintenanceHandler {
                db: db.clone(),
                clock: clock.clone(),
            }),
            Arc::new(ExpireHandler {
                state: late.clone(),
            }),
            Arc::new(ReminderHandler {
                state: late.clone(),
            }),
            Arc::new(PostbackHandler {
                state: late.clone(),
                client: outbound.clone(),
            }),
        ];
        let worker = Worker::new(
            db.clone(),
            clock.clone(),
            metrics.clone(),
            WorkerConfig {
                // With `jobs.workers = 0` no loop runs, but the step stays usable (tests, CLI).
                concurrency: usize::try_from(settings.jobs.workers.max(1)).unwrap_or(1),
                poll_interval: Duration::from_millis(settings.jobs.poll_interval_ms),
                lease: Duration::from_secs(settings.jobs.lease_secs),
            },
            handlers,
        );
        let cookies = CookiePolicy::for_public_url(&public_url);
        let state = AppState {
            db,
            settings: Arc::new(settings),
            public_url: public_url.into(),
            keyring,
            metrics,
            clock,
            worker,
            passwords,
            cookies,
            pricing,
            outbound,
            heavy: Heavy::new(1),
            chains,
        };
        let _ = late.set(state.clone());
        Ok(state)
    }
}
