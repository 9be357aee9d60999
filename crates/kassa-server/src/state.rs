//! What every handler can reach.

use std::sync::Arc;

use kassa_core::secret::Keyring;
use kassa_core::time::Clock;
use kassa_store::Db;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::worker::Worker;

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
}
