//! The durable job queue: transactional enqueue, due times, retries with backoff, permanent
//! failures, recovery of abandoned jobs, and exactly-once claiming across worker pools.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kassa_core::JobId;
use kassa_core::retry::RetryPolicy;
use kassa_core::time::Clock;
use kassa_service::metrics::Metrics;
use kassa_service::worker::{
    self, BoxFuture, Job, JobContext, JobError, JobHandler, Probe, Worker, WorkerConfig,
};
use kassa_store::jobs::{self, JobState, NewJob};
use kassa_store::{Db, Engine};

use crate::engine_test;
use crate::support::TestApp;

/// What the test handler does on each run.
#[derive(Clone, Copy)]
enum Behaviour {
    Succeed,
    AlwaysRetry,
    Permanent,
}

/// A handler for `test.record` that counts runs per job.
struct Recorder {
    behaviour: Behaviour,
    runs: Mutex<HashMap<JobId, u32>>,
    policy: RetryPolicy,
}

impl Recorder {
    fn new(behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Self {
            behaviour,
            runs: Mutex::default(),
            policy: RetryPolicy {
                base: Duration::from_secs(60),
                cap: Duration::from_secs(3600),
                max_attempts: 3,
                deadline: None,
            },
        })
    }
}

#[derive(serde::Serialize)]
struct Record {
    seq: usize,
}

impl Job for Record {
    const KIND: &'static str = "test.record";
}

impl JobHandler for Recorder {
    fn kind(&self) -> &'static str {
        Record::KIND
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.policy
    }

    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        _payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            *self.runs.lock().unwrap().entry(ctx.id).or_default() += 1;
            // Give the other pool a chance to try to claim the same row while this one runs.
            tokio::task::yield_now().await;
            match self.behaviour {
                Behaviour::Succeed => Ok(()),
                Behaviour::AlwaysRetry => Err(JobError::Retry("receiver answered 503".into())),
                Behaviour::Permanent => Err(JobError::Permanent("target no longer exists".into())),
            }
        })
    }
}

/// A worker pool of its own (own connection pool, own id) running `handler`.
async fn pool(app: &TestApp, db: Db, concurrency: usize, handler: Arc<Recorder>) -> Worker {
    named_pool(app, db, concurrency, handler, "").await
}

/// [`pool`] of a named instance (`jobs.instance_id`).
async fn named_pool(
    app: &TestApp,
    db: Db,
    concurrency: usize,
    handler: Arc<Recorder>,
    instance: &str,
) -> Worker {
    let clock: Arc<dyn Clock> = app.clock.clone();
    Worker::new(
        db,
        clock,
        Arc::new(Metrics::default()),
        WorkerConfig {
            concurrency,
            poll_interval: Duration::from_millis(10),
            lease: Duration::from_secs(60),
            instance: instance.to_owned(),
            per_lane: 2,
        },
        vec![handler],
        kassa_service::worker::JobWaker::new(),
    )
}

/// The job's current row (a connection is taken and given back).
async fn job_row(app: &TestApp, id: JobId) -> jobs::JobRow {
    let mut c = app.state.db.conn().await.unwrap();
    jobs::get(&mut c, id).await.unwrap()
}

/// Every attempt of the job.
async fn attempts(app: &TestApp, id: JobId) -> Vec<jobs::AttemptRow> {
    let mut c = app.state.db.conn().await.unwrap();
    jobs::attempts(&mut c, id).await.unwrap()
}

async fn enqueue_records(app: &TestApp, n: usize) -> Vec<JobId> {
    let now = app.now();
    let mut tx = app.state.db.begin().await.unwrap();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(
            worker::enqueue(&mut tx, &Record { seq: i }, now, now)
                .await
                .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    ids
}

engine_test!(
    async fn enqueue_is_part_of_the_callers_transaction(engine) {
        let app = TestApp::spawn(engine).await;
        let now = app.now();
        let new = NewJob { kind: "kassa.probe", payload: r#"{"work_ms":0}"#, run_at: now, lane: None };

        let mut tx = app.state.db.begin().await.unwrap();
        jobs::enqueue(&mut tx, &new, now).await.unwrap();
        tx.rollback().await.unwrap();
        let probes = |rows: Vec<jobs::JobRow>| rows.into_iter().filter(|j| j.kind == "kassa.probe").count();
        assert_eq!(probes(jobs::list(&app.state.db, None, 10).await.unwrap()), 0, "a rolled-back job must not exist");

        let mut tx = app.state.db.begin().await.unwrap();
        let id = jobs::enqueue(&mut tx, &new, now).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(job_row(&app, id).await.state, JobState::Queued);
        app.stop().await;
    }
);

engine_test!(
    async fn due_jobs_run_and_future_ones_wait(engine) {
        let app = TestApp::spawn(engine).await;
        let now = app.now();
        let mut tx = app.state.db.begin().await.unwrap();
        let soon = worker::enqueue(&mut tx, &Probe { work_ms: 0 }, now, now).await.unwrap();
        let later = worker::enqueue(&mut tx, &Probe { work_ms: 0 }, now.saturating_add(Duration::from_secs(3600)), now).await.unwrap();
        tx.commit().await.unwrap();

        app.drain_jobs().await;
        assert_eq!(job_row(&app, soon).await.state, JobState::Done);
        assert_eq!(job_row(&app, later).await.state, JobState::Queued);

        app.clock.advance(Duration::from_secs(3599));
        app.drain_jobs().await;
        assert_eq!(job_row(&app, later).await.state, JobState::Queued, "one second early");
        app.clock.advance(Duration::from_secs(1));
        app.drain_jobs().await;
        assert_eq!(job_row(&app, later).await.state, JobState::Done);
        let attempts = attempts(&app, later).await;
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].error, None);
        app.stop().await;
    }
);

engine_test!(
    async fn failures_back_off_then_fail_for_good_and_can_be_retried(engine) {
        let app = TestApp::spawn(engine).await;
        let handler = Recorder::new(Behaviour::AlwaysRetry);
        let w = pool(&app, app.state.db.clone(), 4, handler.clone()).await;
        let id = enqueue_records(&app, 1).await[0];

        // Attempt 1 fails: the next run is 30–60 s away (base 60 s, jitter ½–1).
        let t0 = app.now();
        assert_eq!(w.run_due().await.unwrap(), 1);
        let job = job_row(&app, id).await;
        assert_eq!((job.state, job.attempts), (JobState::Queued, 1));
        assert_eq!(job.last_error.as_deref(), Some("receiver answered 503"));
        let wait = job.run_at.duration_since(t0);
        assert!((Duration::from_secs(30)..=Duration::from_secs(60)).contains(&wait), "{wait:?}");
        assert_eq!(w.run_due().await.unwrap(), 0, "not due yet");

        // Attempt 2, after the first delay: the next one is 60–120 s away.
        app.clock.advance(Duration::from_secs(61));
        let t1 = app.now();
        assert_eq!(w.run_due().await.unwrap(), 1);
        let job = job_row(&app, id).await;
        let wait = job.run_at.duration_since(t1);
        assert!((Duration::from_secs(60)..=Duration::from_secs(120)).contains(&wait), "{wait:?}");

        // Attempt 3 is the last one the policy allows.
        app.clock.advance(Duration::from_secs(121));
        assert_eq!(w.run_due().await.unwrap(), 1);
        let job = job_row(&app, id).await;
        assert_eq!((job.state, job.attempts), (JobState::Failed, 3));
        let failed = jobs::list(&app.state.db, Some(JobState::Failed), 10).await.unwrap();
        assert_eq!(failed.iter().map(|j| j.id).collect::<Vec<_>>(), [id], "failed jobs stay visible");
        let attempts = attempts(&app, id).await;
        assert_eq!(attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(attempts.iter().all(|a| a.error.as_deref() == Some("receiver answered 503") && a.worker == w.id()));

        // The operator retries it: a fresh budget, due at once.
        assert!(jobs::retry(&app.state.db, id, app.now()).await.unwrap());
        assert!(!jobs::retry(&app.state.db, id, app.now()).await.unwrap(), "only failed jobs can be retried");
        assert_eq!(w.run_due().await.unwrap(), 1);
        assert_eq!(handler.runs.lock().unwrap()[&id], 4);
        app.stop().await;
    }
);

engine_test!(
    async fn permanent_errors_fail_at_once_and_unknown_kinds_wait(engine) {
        let app = TestApp::spawn(engine).await;
        let w = pool(&app, app.state.db.clone(), 4, Recorder::new(Behaviour::Permanent)).await;
        let id = enqueue_records(&app, 1).await[0];
        assert_eq!(w.run_due().await.unwrap(), 1);
        let job = job_row(&app, id).await;
        assert_eq!((job.state, job.attempts), (JobState::Failed, 1));
        assert_eq!(job.last_error.as_deref(), Some("target no longer exists"));

        // The app's own worker has no handler for test.record: it leaves the job queued and
        // untouched for a worker that has one.
        let other = enqueue_records(&app, 1).await[0];
        app.drain_jobs().await;
        let job = job_row(&app, other).await;
        assert_eq!((job.state, job.attempts, job.last_error), (JobState::Queued, 0, None));
        app.stop().await;
    }
);

engine_test!(
    async fn a_named_instance_takes_back_its_own_jobs_at_once_when_it_restarts(engine) {
        let app = TestApp::spawn(engine).await;
        let handler = Recorder::new(Behaviour::Succeed);
        let ids = enqueue_records(&app, 2).await;
        let now = app.now();
        let lease = now.saturating_add(Duration::from_secs(60));
        // Instance "eu_1" claims one job and is killed; instance "eu_2" holds the other.
        let mark = kassa_service::worker::INSTANCE_MARK;
        let mine = jobs::claim(&app.state.db, &format!("{mark}eu_1:4242:beef"), jobs::Claim { kinds: &[Record::KIND], full_lanes: &[], limit: 1 }, now, lease).await.unwrap();
        let theirs = jobs::claim(&app.state.db, &format!("{mark}eu_2:77:cafe"), jobs::Claim { kinds: &[Record::KIND], full_lanes: &[], limit: 1 }, now, lease).await.unwrap();
        assert_eq!((mine.len(), theirs.len()), (1, 1));
        let restarted = named_pool(&app, app.state.db.clone(), 4, handler.clone(), "eu_1").await;
        let back = restarted.recover_at_startup().await.unwrap();
        match engine {
            // Its own job at once, the other instance's left to its lease.
            Engine::Postgres => assert_eq!(back, 1),
            // SQLite: one process, everything running was its own.
            Engine::Sqlite => assert_eq!(back, 2),
        }
        assert_eq!(restarted.run_due().await.unwrap(), usize::try_from(back).unwrap());
        let done = |id| job_row(&app, id);
        assert_eq!(done(mine[0].id).await.state, JobState::Done);
        if engine == Engine::Postgres {
            assert_eq!(done(theirs[0].id).await.state, JobState::Running, "the other instance's lease holds");
        }
        assert!(ids.contains(&mine[0].id));
        app.stop().await;
    }
);

engine_test!(
    async fn abandoned_jobs_run_again(engine) {
        let app = TestApp::spawn(engine).await;
        let handler = Recorder::new(Behaviour::Succeed);
        let id = enqueue_records(&app, 1).await[0];
        // A worker that claims the job and dies without finishing it.
        let now = app.now();
        let claimed =
            jobs::claim(&app.state.db, "ghost:1", jobs::Claim { kinds: &[Record::KIND], full_lanes: &[], limit: 10 }, now, now.saturating_add(Duration::from_secs(60))).await.unwrap();
        assert_eq!(claimed.len(), 1);

        let w = pool(&app, app.state.db.clone(), 4, handler.clone()).await;
        assert_eq!(w.run_due().await.unwrap(), 0, "a leased job is left alone");
        match engine {
            // PostgreSQL: any process takes the job over once the lease runs out.
            Engine::Postgres => {
                app.clock.advance(Duration::from_secs(30));
                assert_eq!(w.run_due().await.unwrap(), 0, "the lease still holds");
                app.clock.advance(Duration::from_secs(31));
            }
            // SQLite: one process serves the database, so a restart recovers at once.
            Engine::Sqlite => {
                let restarted = pool(&app, app.state.db.clone(), 4, handler.clone()).await;
                assert_eq!(restarted.recover_at_startup().await.unwrap(), 1);
            }
        }
        assert_eq!(w.run_due().await.unwrap(), 1);
        let job = job_row(&app, id).await;
        assert_eq!((job.state, job.attempts), (JobState::Done, 2));
        let attempts = attempts(&app, id).await;
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0].worker, "ghost:1");
        assert!(attempts[0].error.as_deref().unwrap().contains("stopped before finishing"));
        assert_eq!(attempts[1].error, None);
        assert_eq!(handler.runs.lock().unwrap()[&id], 1);
        app.stop().await;
    }
);

engine_test!(
    async fn two_worker_pools_run_each_of_1000_jobs_exactly_once(engine) {
        let app = TestApp::spawn(engine).await;
        let handler = Recorder::new(Behaviour::Succeed);
        let ids = enqueue_records(&app, 1000).await;
        // Two pools, each with its own connections, as two `kassa serve` processes would be.
        let a = pool(&app, app.db.connect().await, 8, handler.clone()).await;
        let b = pool(&app, app.db.connect().await, 8, handler.clone()).await;
        let count = |w: Worker| async move {
            let mut mine = 0;
            loop {
                let n = w.run_due().await.unwrap();
                if n == 0 {
                    return mine;
                }
                mine += n;
            }
        };
        let (ran_a, ran_b) = tokio::join!(count(a), count(b));
        assert_eq!(ran_a + ran_b, 1000, "a ran {ran_a}, b ran {ran_b}");
        assert!(ran_a > 0 && ran_b > 0, "both pools must have competed: a ran {ran_a}, b ran {ran_b}");

        let runs = handler.runs.lock().unwrap().clone();
        assert_eq!(runs.len(), 1000);
        assert!(ids.iter().all(|id| runs[id] == 1), "some job ran twice or never");
        let done = jobs::list(&app.state.db, Some(JobState::Done), 2000).await.unwrap();
        assert_eq!(done.len(), 1000);
        assert!(done.iter().all(|j| j.attempts == 1));
        let mut c = app.state.db.conn().await.unwrap();
        let attempts: i64 = kassa_store::sql!(&mut c, |c| sqlx::query_scalar("select count(*) from job_attempt").fetch_one(c).await).unwrap();
        drop(c);
        assert_eq!(attempts, 1000);
        app.stop().await;
    }
);
