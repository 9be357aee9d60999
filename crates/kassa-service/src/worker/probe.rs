//! `kassa.probe`: a diagnostic job an operator enqueues with `kassa jobs probe` to check that
//! workers are alive and to measure how quickly a queued job gets picked up. It waits for the
//! time its payload asks (to simulate work) and succeeds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{BoxFuture, Job, JobContext, JobError, JobHandler};

/// Payload of a probe job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Probe {
    /// Simulated work, in milliseconds (at most a minute).
    pub work_ms: u64,
}

impl Job for Probe {
    const KIND: &'static str = "kassa.probe";
}

/// Runs probe jobs.
pub struct ProbeHandler;

impl JobHandler for ProbeHandler {
    fn kind(&self) -> &'static str {
        Probe::KIND
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let probe: Probe = serde_json::from_str(payload)
                .map_err(|e| JobError::Permanent(format!("bad probe payload: {e}")))?;
            tokio::time::sleep(Duration::from_millis(probe.work_ms.min(60_000))).await;
            Ok(())
        })
    }
}
