//! `kassa.maintenance`: hourly housekeeping. Deletes finished jobs after two weeks, sessions a
//! month after they ended, e-mailed tokens a week after they expired, and old rate-limit
//! counters; then schedules its next run. At most one is ever queued.

use std::sync::Arc;
use std::time::Duration;

use kassa_core::Timestamp;
use kassa_core::time::Clock;
use kassa_store::{Db, StoreError, jobs, rate_limit, sessions, tokens};
use serde::{Deserialize, Serialize};

use super::{BoxFuture, Job, JobContext, JobError, JobHandler};

const EVERY: Duration = Duration::from_secs(3600);
const DAY: u64 = 24 * 3600;

/// Payload (empty).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Maintenance {}

impl Job for Maintenance {
    const KIND: &'static str = "kassa.maintenance";
}

/// Queues a maintenance run at `at` unless one is already queued or running.
pub async fn schedule(db: &Db, at: Timestamp, now: Timestamp) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    if jobs::unfinished_of_kind(&mut tx, Maintenance::KIND).await? == 0 {
        super::enqueue(&mut tx, &Maintenance {}, at, now).await?;
    }
    tx.commit().await
}

/// Runs maintenance.
pub struct MaintenanceHandler {
    /// The database.
    pub db: Db,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl MaintenanceHandler {
    async fn run_once(&self) -> Result<(), StoreError> {
        let now = self.clock.now();
        let ago = |days: u64| now.saturating_sub(Duration::from_secs(days * DAY));
        let jobs_pruned = jobs::prune_done(&self.db, ago(14)).await?;
        let mut c = self.db.write().await?;
        let sessions_pruned = sessions::prune(&mut c, ago(30)).await?;
        let tokens_pruned = tokens::prune(&mut c, ago(7)).await?;
        // A bucket whose arrival time has passed admits as if it had never been hit.
        let counters_pruned = rate_limit::prune(&mut c, now).await?;
        drop(c);
        tracing::info!(
            jobs_pruned,
            sessions_pruned,
            tokens_pruned,
            counters_pruned,
            "maintenance done"
        );
        // This run is still "running", so count the others only.
        let mut tx = self.db.begin().await?;
        if jobs::unfinished_of_kind(&mut tx, Maintenance::KIND).await? <= 1 {
            super::enqueue(&mut tx, &Maintenance {}, now.saturating_add(EVERY), now).await?;
        }
        tx.commit().await
    }
}

impl JobHandler for MaintenanceHandler {
    fn kind(&self) -> &'static str {
        Maintenance::KIND
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a JobContext,
        _payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move { self.run_once().await.map_err(JobError::from) })
    }
}
