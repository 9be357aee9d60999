//! Kassa's services: everything the product does, with no HTTP in it.
//!
//! The server (`kassa-server`) parses requests into domain types, calls one function here and
//! renders the answer; the job worker and the chain watchers call the same functions. Each
//! service takes a [`Ctx`] — the database, the clock, the keyring, pricing, the configured
//! chains — and owns its transaction: the change, its ledger entries, its audit row and the
//! jobs it causes commit together.
//!
//! ```text
//! kassa-server ──▶ kassa-service ──▶ kassa-store, kassa-chain, kassa-rates ──▶ kassa-core
//! ```
//!
//! - [`audit`]: who did what (one [`audit::Actor`] for every change in the activity log);
//! - [`accounts`], [`auth`]: sign-up, sessions, second factor, staff, rate limits;
//! - [`projects`]: settings, keys, logos, mode;
//! - [`invoices`]: creation, quotes, static wallets, the merchant's actions, expiry and
//!   reminders; [`payments`]: recording and re-evaluating transfers, the one payment path;
//! - [`withdrawals`], [`chains`], [`watcher`]: the hot wallet, the configured networks and the
//!   generic watcher loop every network family plugs into;
//! - [`postbacks`], [`mail`]: what leaves Kassa, as jobs; [`worker`] runs jobs;
//! - [`read`]: lists, statistics and balances that the API and the pages both show;
//! - [`objects`]: the CryptoCloud API's JSON shapes (responses and postbacks).

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod chains;
pub mod config;
pub mod heavy;
pub mod i18n;
pub mod invoices;
pub mod jwt;
pub mod mail;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod objects;
pub mod payment_view;
pub mod payments;
pub mod postbacks;
pub mod pricing;
pub mod projects;
pub mod read;
pub mod sweeps;
pub mod telegram;
pub mod watcher;
pub mod withdrawals;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;

use kassa_core::secret::Keyring;
use kassa_core::time::Clock;
use kassa_store::Db;

use crate::auth::password::Passwords;
use crate::chains::Chains;
use crate::config::{AccountSettings, MailSettings};
use crate::heavy::Heavy;
use crate::metrics::Metrics;
use crate::pricing::Pricing;
use crate::worker::JobWaker;

/// What the services read from the configuration.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Base of every link Kassa hands out, without a trailing slash.
    pub public_url: String,
    /// Sessions and sign-up.
    pub accounts: AccountSettings,
    /// Outgoing e-mail.
    pub mail: MailSettings,
    /// Folder of the mail outbox (when no SMTP server is set).
    pub data_dir: PathBuf,
    /// Whether postbacks may reach private addresses.
    pub allow_private_targets: bool,
    /// Withdrawal approval and address cooling-off.
    pub withdrawals: config::WithdrawalSettings,
    /// The Telegram bot, if any.
    pub telegram: config::TelegramSettings,
    /// The operator's alerts.
    pub notifications: config::NotificationSettings,
}

/// The services' dependencies, given explicitly. Cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    /// The database.
    pub db: Db,
    /// Source of "now".
    pub clock: Arc<dyn Clock>,
    /// Master keys for secrets at rest.
    pub keyring: Arc<Keyring>,
    /// Configuration the services read.
    pub config: Arc<ServiceConfig>,
    /// Base of links handed out, without a trailing slash.
    pub public_url: Arc<str>,
    /// Password hashing (bounded concurrency).
    pub passwords: Passwords,
    /// Exchange rates and fees.
    pub pricing: Arc<Pricing>,
    /// The networks that take live payments.
    pub chains: Arc<Chains>,
    /// The SSRF-guarded HTTP client for merchant URLs (postbacks).
    pub outbound: reqwest::Client,
    /// Image decoding and other heavy work, off the async threads and bounded.
    pub heavy: Heavy,
    /// Metrics (job outcomes, chain health).
    pub metrics: Arc<Metrics>,
    /// Wakes the job worker after a commit that enqueued work for now.
    pub jobs: JobWaker,
}
