//! The job worker: claims due jobs from the durable queue, runs each with its handler, and
//! records the outcome (done, retry with backoff, or failed for good).
//!
//! A process runs up to `jobs.workers` jobs at once. While a job runs, its lease is renewed so
//! that other processes sharing a PostgreSQL database leave it alone; if this process dies,
//! the lease runs out and another worker takes the job over. On shutdown the worker stops
//! claiming and lets the jobs it holds finish.
//!
//! A worker claims only the kinds it has handlers for, so an instance of an older version
//! leaves newer kinds for the instances that know them.
//!
//! A job may name a lane, the destination it talks to (a postback's host). A worker keeps at
//! most `per_lane` jobs of one lane in flight and claims past a full lane, so a destination
//! that hangs or is slow holds up only its own jobs, never a slot that others' need. A job
//! claimed beyond its lane's bound goes back to the queue uncounted (deferred).
//!
//! Tests call [`Worker::run_due`] (one step) or [`Worker::drain`] instead of sleeping.

pub mod maintenance;
mod probe;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use kassa_core::retry::RetryPolicy;
use kassa_core::time::Clock;
use kassa_core::{JobId, Timestamp};
use kassa_store::jobs::{self, ClaimedJob, Outcome};
use kassa_store::{AsConn, Db, Engine, StoreError};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::metrics::{JobOutcome, Metrics};

pub use probe::{Probe, ProbeHandler};

/// A boxed future, as job handlers return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a job attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (a remote server was down, a timeout).
    #[error("{0}")]
    Retry(String),
    /// Worth trying again, not before this long (the remote said when: a 429's
    /// `retry_after`); still counted against the handler's attempts.
    #[error("{1}")]
    RetryAfter(Duration, String),
    /// Will never succeed (bad payload, the target no longer exists).
    #[error("{0}")]
    Permanent(String),
}

/// Reads a job's JSON payload; one that does not parse never will, so it fails for good.
pub fn parse_payload<T: serde::de::DeserializeOwned>(payload: &str) -> Result<T, JobError> {
    serde_json::from_str(payload).map_err(|e| JobError::Permanent(format!("bad payload: {e}")))
}

/// Wakes the worker when a job was enqueued for now, instead of waiting for its next poll.
/// The services hold one (in [`crate::Ctx`]); the [`Worker`] listens on the same.
#[derive(Clone, Default)]
pub struct JobWaker(Arc<Notify>);

impl JobWaker {
    /// A waker nobody listens to yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes the worker (a no-op when none runs).
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Retry(e.to_string())
    }
}

/// What a handler knows about the attempt it is running.
#[derive(Clone, Debug)]
pub struct JobContext {
    /// The job.
    pub id: JobId,
    /// 1 for the first run.
    pub attempt: i64,
    /// When it was enqueued.
    pub created_at: Timestamp,
}

/// Runs one kind of job.
pub trait JobHandler: Send + Sync + 'static {
    /// The kind this handler runs, e.g. `mail.send`.
    fn kind(&self) -> &'static str;

    /// When to retry after a failure.
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::default()
    }

    /// How long one attempt may take before it counts as failed.
    fn timeout(&self) -> Duration {
        Duration::from_secs(60)
    }

    /// Runs the job. It may run more than once (after a crash), so it must be idempotent.
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>>;

    /// Called once the worker has decided to give up on the job (before the failure is
    /// recorded, so a crash in between calls it again rather than never): a place to tell
    /// someone. The default does nothing.
    fn gave_up<'a>(
        &'a self,
        _ctx: &'a JobContext,
        _payload: &'a str,
        _error: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// A job payload type with its kind, for typed enqueueing.
pub trait Job: serde::Serialize {
    /// The handler kind.
    const KIND: &'static str;
}

/// Enqueues `job` in the caller's transaction, to run at `run_at`.
pub async fn enqueue<J: Job>(
    conn: &mut impl AsConn,
    job: &J,
    run_at: Timestamp,
    now: Timestamp,
) -> Result<JobId, StoreError> {
    enqueue_in_lane(conn, job, None, run_at, now).await
}

/// Enqueues `job` in the caller's transaction, in `lane` (see the module's notes).
pub async fn enqueue_in_lane<J: Job>(
    conn: &mut impl AsConn,
    job: &J,
    lane: Option<&str>,
    run_at: Timestamp,
    now: Timestamp,
) -> Result<JobId, StoreError> {
    let payload = serde_json::to_string(job).map_err(|e| StoreError::Corrupt {
        column: "job.payload",
        reason: e.to_string(),
    })?;
    jobs::enqueue(
        conn,
        &jobs::NewJob {
            kind: J::KIND,
            payload: &payload,
            run_at,
            lane,
        },
        now,
    )
    .await
}

/// Worker settings.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Jobs run at once.
    pub concurrency: usize,
    /// How often to look for due jobs when idle.
    pub poll_interval: Duration,
    /// Lease length; renewed every third of it while a job runs.
    pub lease: Duration,
    /// The instance's name across restarts (`jobs.instance_id`); empty: none.
    pub instance: String,
    /// Jobs of one lane in flight at once (`jobs.per_destination`); 0: no bound.
    pub per_lane: usize,
}

/// Jobs in flight per lane in this process.
#[derive(Default)]
struct Lanes(std::sync::Mutex<HashMap<String, usize>>);

impl Lanes {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A lane had its bound of jobs in flight.
struct Full;

/// A job's place in its lane, given back when dropped.
struct LaneSlot {
    lanes: Arc<Lanes>,
    lane: String,
}

impl Drop for LaneSlot {
    fn drop(&mut self) {
        let mut counts = self.lanes.counts();
        if let Some(n) = counts.get_mut(&self.lane) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.lane);
            }
        }
    }
}

/// What starts a worker id of a named instance (`jobs.instance_id`), so a restarted instance
/// finds its own leases.
pub const INSTANCE_MARK: &str = "instance=";

/// Claims and runs jobs. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    id: String,
    config: WorkerConfig,
    wake: JobWaker,
    lanes: Arc<Lanes>,
}

impl Worker {
    /// A worker with the given handlers. Its id names the host and process, so the attempt
    /// log shows who ran what.
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        config: WorkerConfig,
        handlers: Vec<Arc<dyn JobHandler>>,
        wake: JobWaker,
    ) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let name = if config.instance.trim().is_empty() {
            host.trim().to_owned()
        } else {
            format!("{}{}", INSTANCE_MARK, config.instance.trim())
        };
        let id = format!(
            "{name}:{}:{:04x}",
            std::process::id(),
            rand::random::<u16>()
        );
        let handlers = handlers.into_iter().map(|h| (h.kind(), h)).collect();
        Self {
            inner: Arc::new(Inner {
                db,
                clock,
                metrics,
                handlers,
                id,
                config,
                wake,
                lanes: Arc::default(),
            }),
        }
    }

    /// This worker's id as recorded in attempts and leases.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Wakes an idle worker loop, e.g. right after committing a new job.
    pub fn wake(&self) {
        self.inner.wake.wake();
    }

    /// Puts back jobs abandoned by a previous run. On SQLite only one process serves the
    /// database, so at start-up every `running` job is abandoned.
    pub async fn recover_at_startup(&self) -> Result<u64, StoreError> {
        let now = self.inner.clock.now();
        if self.inner.db.engine() == Engine::Sqlite {
            return jobs::recover_abandoned(&self.inner.db, now, jobs::Abandoned::EveryRunning)
                .await;
        }
        // PostgreSQL: this instance's own jobs from before the restart, at once (when it has
        // a name across restarts); the others' when their leases run out.
        let instance = self.inner.config.instance.trim();
        let own = if instance.is_empty() {
            0
        } else {
            let prefix = format!("{INSTANCE_MARK}{instance}:");
            jobs::recover_abandoned(&self.inner.db, now, jobs::Abandoned::HeldBy(&prefix)).await?
        };
        Ok(own
            + jobs::recover_abandoned(&self.inner.db, now, jobs::Abandoned::LeaseExpired).await?)
    }

    /// One step: recovers expired leases, claims up to `concurrency` due jobs, runs them to
    /// completion and returns how many ran.
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        let claimed = self.claim(self.inner.config.concurrency).await?;
        let n = claimed.len();
        let mut set = JoinSet::new();
        for (job, slot) in claimed {
            let me = self.clone();
            set.spawn(async move {
                me.execute(job).await;
                drop(slot);
            });
        }
        while set.join_next().await.is_some() {}
        Ok(n)
    }

    /// Runs steps until no job is due.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let n = self.run_due().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Runs until `stop` is cancelled, then stops claiming and waits for the jobs in hand.
    pub async fn run(self, stop: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.inner.config.concurrency.max(1)));
        let mut running = JoinSet::new();
        loop {
            if stop.is_cancelled() {
                break;
            }
            while running.try_join_next().is_some() {}
            let free = slots.available_permits();
            let claimed = if free == 0 {
                Ok(Vec::new())
            } else {
                self.claim(free).await
            };
            let idle = match claimed {
                Ok(jobs) => {
                    let idle = jobs.is_empty();
                    for (job, slot) in jobs {
                        let Ok(permit) = slots.clone().acquire_owned().await else {
                            break;
                        };
                        let me = self.clone();
                        running.spawn(async move {
                            me.execute(job).await;
                            drop((slot, permit));
                        });
                    }
                    idle
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming jobs failed; retrying after the poll interval");
                    true
                }
            };
            if idle || slots.available_permits() == 0 {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = self.inner.wake.0.notified() => {}
                    () = tokio::time::sleep(self.inner.config.poll_interval) => {}
                    Some(_) = running.join_next(), if !running.is_empty() => {}
                }
            }
        }
        let in_hand = running.len();
        if in_hand > 0 {
            tracing::info!(
                jobs = in_hand,
                "worker stopping; finishing the jobs in hand"
            );
        }
        while running.join_next().await.is_some() {}
    }

    /// Claims up to `limit` due jobs and takes a lane slot for each: a job whose lane filled
    /// up meanwhile (several of one lane in one claim) goes back to the queue uncounted and is
    /// not returned.
    async fn claim(&self, limit: usize) -> Result<Vec<(ClaimedJob, Option<LaneSlot>)>, StoreError> {
        let bound = self.inner.config.per_lane;
        let full: Vec<String> = if bound == 0 {
            Vec::new()
        } else {
            self.inner
                .lanes
                .counts()
                .iter()
                .filter(|(_, n)| **n >= bound)
                .map(|(lane, _)| lane.clone())
                .collect()
        };
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        let claimed = self.claim_outside(limit, &full).await?;
        let mut admitted = Vec::with_capacity(claimed.len());
        for job in claimed {
            let slot = match &job.lane {
                Some(lane) if bound > 0 => self.take_slot(lane, bound),
                _ => Ok(None),
            };
            match slot {
                Ok(slot) => admitted.push((job, slot)),
                Err(Full) => self.defer(&job).await,
            }
        }
        Ok(admitted)
    }

    /// A place in `lane`, unless `bound` jobs of it are in flight.
    fn take_slot(&self, lane: &str, bound: usize) -> Result<Option<LaneSlot>, Full> {
        let mut counts = self.inner.lanes.counts();
        let n = counts.entry(lane.to_owned()).or_default();
        if *n >= bound {
            return Err(Full);
        }
        *n += 1;
        Ok(Some(LaneSlot {
            lanes: self.inner.lanes.clone(),
            lane: lane.to_owned(),
        }))
    }

    /// Puts a claimed job back in the queue without running it or counting the attempt.
    async fn defer(&self, job: &ClaimedJob) {
        let inner = &self.inner;
        let now = inner.clock.now();
        inner.metrics.observe_job(&job.kind, JobOutcome::Deferred);
        let outcome = Outcome::Deferred { at: now };
        if let Err(e) = jobs::finish(&inner.db, job, &inner.id, now, now, &outcome).await {
            // The lease runs out and the job runs later: nothing is lost.
            tracing::warn!(job = %job.id, error = %e, "could not put a deferred job back");
        }
    }

    async fn claim_outside(
        &self,
        limit: usize,
        full_lanes: &[&str],
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        if inner.db.engine() == Engine::Postgres {
            // Other processes may have died holding jobs; SQLite recovers at start-up instead.
            let recovered =
                jobs::recover_abandoned(&inner.db, now, jobs::Abandoned::LeaseExpired).await?;
            if recovered > 0 {
                tracing::warn!(
                    jobs = recovered,
                    "re-queued jobs whose worker stopped before finishing"
                );
            }
        }
        let lease_until = now.saturating_add(inner.config.lease);
        let kinds: Vec<&str> = inner.handlers.keys().copied().collect();
        let what = jobs::Claim {
            kinds: &kinds,
            full_lanes,
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        };
        jobs::claim(&inner.db, &inner.id, what, now, lease_until).await
    }

    async fn execute(&self, job: ClaimedJob) {
        let span =
            tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempt);
        self.execute_in_span(job).instrument(span).await;
    }

    async fn execute_in_span(&self, job: ClaimedJob) {
        let inner = &self.inner;
        let started = inner.clock.now();
        let handler = inner.handlers.get(job.kind.as_str()).cloned();
        let policy = handler
            .as_ref()
            .map(|h| h.retry_policy())
            .unwrap_or_default();
        let result = match &handler {
            // A newer version may have enqueued a kind this binary does not know: leave it for
            // an instance that does, as a retry rather than a permanent failure.
            None => Err(JobError::Retry(format!(
                "no handler for job kind {:?} in this version",
                job.kind
            ))),
            Some(_) if job.attempt > i64::from(policy.max_attempts) => Err(JobError::Permanent(
                format!("gave up after {} attempts", policy.max_attempts),
            )),
            Some(h) => self.run_with_lease(h.as_ref(), &job).await,
        };
        let now = inner.clock.now();
        let (outcome, counted) = match &result {
            Ok(()) => (Outcome::Done, JobOutcome::Ok),
            Err(JobError::Permanent(e)) => (Outcome::Failed { error: e }, JobOutcome::Failed),
            Err(JobError::Retry(e)) => {
                let attempt = u32::try_from(job.attempt).unwrap_or(u32::MAX);
                match policy.next_run(attempt, job.created_at, now, rand::random_range(0..=1000)) {
                    Some(at) => (Outcome::Retry { error: e, at }, JobOutcome::Retry),
                    None => (Outcome::Failed { error: e }, JobOutcome::Failed),
                }
            }
            Err(JobError::RetryAfter(wait, e)) => {
                let attempt = u32::try_from(job.attempt).unwrap_or(u32::MAX);
                match policy.next_run(attempt, job.created_at, now, 0) {
                    // The remote's time, or the policy's if that is later.
                    Some(at) => (
                        Outcome::Retry {
                            error: e,
                            at: at.max(now.saturating_add(*wait)),
                        },
                        JobOutcome::Retry,
                    ),
                    None => (Outcome::Failed { error: e }, JobOutcome::Failed),
                }
            }
        };
        if let (Outcome::Failed { error }, Some(h)) = (&outcome, &handler) {
            let ctx = JobContext {
                id: job.id,
                attempt: job.attempt,
                created_at: job.created_at,
            };
            h.gave_up(&ctx, &job.payload, error).await;
        }
        match &outcome {
            Outcome::Done => tracing::debug!("job done"),
            Outcome::Retry { error, at } => {
                tracing::warn!(%error, retry_at = %at, "job failed; will retry")
            }
            Outcome::Failed { error } => tracing::error!(%error, "job failed for good"),
            Outcome::Deferred { .. } => {}
        }
        inner.metrics.observe_job(&job.kind, counted);
        match jobs::finish(&inner.db, &job, &inner.id, started, now, &outcome).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("lost the job's lease before finishing; another worker owns it now")
            }
            // The lease will run out and the job will run again: at-least-once.
            Err(e) => tracing::error!(error = %e, "could not record the job's outcome"),
        }
    }

    async fn run_with_lease(
        &self,
        handler: &dyn JobHandler,
        job: &ClaimedJob,
    ) -> Result<(), JobError> {
        let inner = &self.inner;
        let ctx = JobContext {
            id: job.id,
            attempt: job.attempt,
            created_at: job.created_at,
        };
        let heartbeat = async {
            let every = inner.config.lease / 3;
            loop {
                tokio::time::sleep(every).await;
                let until = inner.clock.now().saturating_add(inner.config.lease);
                match jobs::heartbeat(&inner.db, job.id, &inner.id, until).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("job lease was taken over while running"),
                    Err(e) => tracing::warn!(error = %e, "could not renew the job lease"),
                }
            }
        };
        let run = tokio::time::timeout(handler.timeout(), handler.run(&ctx, &job.payload));
        tokio::select! {
            result = run => match result {
                Ok(r) => r,
                Err(_) => Err(JobError::Retry(format!("timed out after {} s", handler.timeout().as_secs()))),
            },
            () = heartbeat => Err(JobError::Retry("heartbeat stopped".into())),
        }
    }
}
