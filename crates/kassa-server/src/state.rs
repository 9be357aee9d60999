//! What every handler can reach, and how the application is wired: the services' [`Ctx`],
//! the job worker with every handler registered, and what only HTTP needs.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kassa_core::time::Clock;
use kassa_rates::Rates;
use kassa_service::auth::password::Passwords;
use kassa_service::heavy::Heavy;
use kassa_service::invoices::{ExpireHandler, ReminderHandler};
use kassa_service::mail::MailHandler;
use kassa_service::metrics::Metrics;
use kassa_service::postbacks::PostbackHandler;
use kassa_service::pricing::Pricing;
use kassa_service::worker::maintenance::MaintenanceHandler;
use kassa_service::worker::{JobHandler, JobWaker, ProbeHandler, Worker, WorkerConfig};
use kassa_service::{Ctx, ServiceConfig, chains};
use kassa_store::migrate;

use crate::config::{ConfigError, SettingError, Settings};
use crate::web::cookies::CookiePolicy;
use crate::{app, secrets};

/// Exports streaming from one long query at once (see [`AppState::export_readers`]).
const EXPORT_READERS: usize = 4;

/// Shared application state; cloning is cheap. It dereferences to the services' [`Ctx`], so
/// handlers pass `&st` to a service.
#[derive(Clone)]
pub struct AppState {
    /// What the services need.
    pub ctx: Ctx,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// The job worker (tests drive it with `drain`).
    pub worker: Worker,
    /// How cookies are set.
    pub cookies: CookiePolicy,
    /// Spreadsheet exports, off the async threads and at most two at once.
    pub exports: Heavy,
    /// Exports reading a view in one long query (PostgreSQL): each holds a database
    /// connection while it streams, so only a few run at once and the rest wait their turn.
    pub export_readers: Arc<tokio::sync::Semaphore>,
    /// The operator's Telegram bot, when one is configured.
    pub bot: Option<Arc<kassa_service::telegram::BotApi>>,
}

impl Deref for AppState {
    type Target = Ctx;

    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

impl AppState {
    /// Opens what the application needs (data folder, database and migrations, master key,
    /// networks, job handlers) without binding a port. The server and the operator's commands
    /// share it.
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
        kassa_service::net::install_tls_provider();
        let keyring = Arc::new(secrets::load_or_create(&settings)?);
        let rates = Arc::new(
            Rates::from_config(&settings.rates, clock.clone())
                .map_err(|e| ConfigError::option("rates.sources", e))?,
        );
        let chains = chains::load(&settings.chains, &db, clock.now())
            .await
            // A bad option is reported like every other one: key and environment variable.
            .map_err(|e| match e.downcast::<SettingError>() {
                Ok(s) => anyhow::Error::from(ConfigError::from(s)),
                Err(e) => e,
            })?;
        let chains = Arc::new(chains);
        let pricing = Arc::new(Pricing::new(
            rates,
            settings.fees.service_percent().map_err(ConfigError::from)?,
            settings.fees.transfer_usd().map_err(ConfigError::from)?,
            chains.live_currencies(),
        ));
        let outbound = kassa_service::net::guarded_client(
            settings.server.allow_private_targets,
            kassa_service::postbacks::TIMEOUT,
        );
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let jobs = JobWaker::new();
        let ctx = Ctx {
            db: db.clone(),
            clock: clock.clone(),
            keyring: keyring.clone(),
            config: Arc::new(ServiceConfig {
                public_url: public_url.clone(),
                accounts: settings.accounts.clone(),
                mail: settings.mail.clone(),
                data_dir: settings.data_dir.clone(),
                allow_private_targets: settings.server.allow_private_targets,
                withdrawals: settings.withdrawals.clone(),
                telegram: settings.telegram.clone(),
                notifications: settings.notifications.clone(),
            }),
            public_url: public_url.clone().into(),
            passwords: Passwords::new(cores)?,
            pricing,
            chains,
            outbound: outbound.clone(),
            heavy: Heavy::new(1),
            metrics: Arc::new(Metrics::default()),
            jobs: jobs.clone(),
        };
        let bot = if settings.telegram.enabled() {
            // Long polls wait 25 s: every request may take up to 40.
            let http = kassa_rates::http_client(Duration::from_secs(40))
                .map_err(|e| anyhow::anyhow!("the Telegram client: {e}"))?;
            Some(Arc::new(kassa_service::telegram::BotApi::new(
                http,
                settings.telegram.api_url.trim(),
                settings.telegram.bot_token.expose(),
            )))
        } else {
            None
        };
        // Every job kind this process runs, registered here where the application is wired.
        let handlers: Vec<Arc<dyn JobHandler>> = vec![
            Arc::new(ProbeHandler),
            Arc::new(
                MailHandler::new(&settings.mail, &settings.data_dir, keyring)
                    .map_err(ConfigError::from)?,
            ),
            Arc::new(MaintenanceHandler {
                db: db.clone(),
                clock: clock.clone(),
            }),
            Arc::new(ExpireHandler { ctx: ctx.clone() }),
            Arc::new(ReminderHandler { ctx: ctx.clone() }),
            Arc::new(PostbackHandler {
                ctx: ctx.clone(),
                client: outbound,
            }),
            Arc::new(kassa_service::withdrawals::requests::ProcessHandler::new(
                ctx.clone(),
            )),
            Arc::new(kassa_service::withdrawals::rules::RuleHandler::schedules(
                ctx.clone(),
            )),
            Arc::new(kassa_service::withdrawals::rules::RuleHandler::firings(
                ctx.clone(),
            )),
            Arc::new(kassa_service::notify::FanoutHandler::new(ctx.clone())),
            Arc::new(kassa_service::notify::SendHandler::new(
                ctx.clone(),
                bot.clone(),
            )),
            Arc::new(kassa_service::notify::DigestHandler::new(
                ctx.clone(),
                bot.clone(),
            )),
        ];
        let worker = Worker::new(
            db,
            clock,
            ctx.metrics.clone(),
            WorkerConfig {
                // With `jobs.workers = 0` no loop runs, but the step stays usable (tests, CLI).
                concurrency: usize::try_from(settings.jobs.workers.max(1)).unwrap_or(1),
                poll_interval: Duration::from_millis(settings.jobs.poll_interval_ms),
                lease: Duration::from_secs(settings.jobs.lease_secs),
                instance: settings.jobs.instance_id.clone(),
                per_lane: usize::try_from(settings.jobs.per_destination).unwrap_or(usize::MAX),
            },
            handlers,
            jobs,
        );
        Ok(AppState {
            ctx,
            cookies: CookiePolicy::for_public_url(&public_url),
            settings: Arc::new(settings),
            worker,
            exports: Heavy::new(2),
            export_readers: Arc::new(tokio::sync::Semaphore::new(EXPORT_READERS)),
            bot,
        })
    }
}
