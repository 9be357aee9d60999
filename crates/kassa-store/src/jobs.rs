//! The durable job queue ("outbox").
//!
//! A job is a row: a kind, a JSON payload and the time it may run. Callers enqueue inside
//! the transaction that causes the job, so the job exists exactly when the change does.
//! Workers claim due jobs atomically (`FOR UPDATE SKIP LOCKED` on PostgreSQL; a single
//! `UPDATE … RETURNING` on SQLite, whose writers are serialised), holding a lease they renew
//! while the job runs. Every finished attempt is recorded in `job_attempt` with its error.
//! A job whose worker died is put back in the queue when its lease runs out, so it runs
//! again: handlers must tolerate running more than once (at-least-once delivery).

use kassa_core::{JobId, Timestamp};

use crate::{AsConn, Db, Engine, StoreError, exec, sql};

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for its `run_at`.
    Queued,
    /// Claimed by a worker holding a lease.
    Running,
    /// Finished successfully.
    Done,
    /// Gave up for good; kept for the operator to see and retry.
    Failed,
}

impl JobState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }
}

/// A job to add to the queue.
#[derive(Clone, Debug)]
pub struct NewJob<'a> {
    /// The handler that will run it, e.g. `mail.send`.
    pub kind: &'a str,
    /// JSON payload for the handler.
    pub payload: &'a str,
    /// Earliest time it may run.
    pub run_at: Timestamp,
    /// The destination it talks to, when the worker should bound how many such jobs run at
    /// once (a postback's host); `None`: no bound.
    pub lane: Option<&'a str>,
}

/// A job a worker has claimed and must finish.
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    /// The row.
    pub id: JobId,
    /// Handler name.
    pub kind: String,
    /// JSON payload.
    pub payload: String,
    /// 1 for the first run, 2 for the first retry, …
    pub attempt: i64,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// Its lane (see [`NewJob::lane`]).
    pub lane: Option<String>,
}

/// A job as the operator sees it.
#[derive(Clone, Debug)]
pub struct JobRow {
    /// The row.
    pub id: JobId,
    /// Handler name.
    pub kind: String,
    /// Current state.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i64,
    /// Next (or last) time it may run.
    pub run_at: Timestamp,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// One recorded attempt.
#[derive(Clone, Debug)]
pub struct AttemptRow {
    /// 1-based attempt number.
    pub attempt: i64,
    /// Worker that ran it.
    pub worker: String,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// `None` when it succeeded.
    pub error: Option<String>,
}

/// Adds a job. Call it with the transaction of the change that causes the job.
pub async fn enqueue(
    conn: &mut impl AsConn,
    job: &NewJob<'_>,
    now: Timestamp,
) -> Result<JobId, StoreError> {
    let id: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into job (kind, payload, state, attempts, run_at, created_at, updated_at, lane) \
         values ($1, $2, 'queued', 0, $3, $4, $4, $5) returning job_id"
    )
    .bind(job.kind)
    .bind(job.payload)
    .bind(job.run_at.as_micros())
    .bind(now.as_micros())
    .bind(job.lane)
    .fetch_one(c)
    .await
    })?;
    Ok(JobId::new(id))
}

type ClaimRow = (i64, String, String, i64, i64, Option<String>);

/// What a worker claims: the kinds it can run, and the lanes it already has enough of in
/// flight (their jobs are passed over, left queued and uncounted).
#[derive(Clone, Copy, Debug)]
pub struct Claim<'a> {
    /// Job kinds this worker has handlers for.
    pub kinds: &'a [&'a str],
    /// Lanes not to take more jobs from now.
    pub full_lanes: &'a [&'a str],
    /// At most this many jobs.
    pub limit: i64,
}

/// Claims up to `what.limit` due jobs of the given kinds, outside the full lanes, for
/// `worker`, leasing them until `lease_until`. Jobs of other kinds are left for workers that
/// can run them.
pub async fn claim(
    db: &Db,
    worker: &str,
    what: Claim<'_>,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Vec<ClaimedJob>, StoreError> {
    // The inner select picks the due jobs; on PostgreSQL, SKIP LOCKED makes concurrent
    // claimers pass over rows another transaction is claiming instead of waiting for them or
    // taking them too. SQLite runs one writer at a time, so the statement alone is atomic.
    const PG: &str = "update job set state = 'running', attempts = attempts + 1, locked_by = $1, \
        locked_until = $2, updated_at = $3 \
        where job_id in (select job_id from job where state = 'queued' and run_at <= $3 \
                         and kind in (select jsonb_array_elements_text($5::jsonb)) \
                         and (lane is null or lane not in (select jsonb_array_elements_text($6::jsonb))) \
                         order by run_at, job_id limit $4 for update skip locked) \
        returning job_id, kind, payload, attempts, created_at, lane";
    const SQLITE: &str = "update job set state = 'running', attempts = attempts + 1, locked_by = $1, \
        locked_until = $2, updated_at = $3 \
        where job_id in (select job_id from job where state = 'queued' and run_at <= $3 \
                         and kind in (select value from json_each($5)) \
                         and (lane is null or lane not in (select value from json_each($6))) \
                         order by run_at, job_id limit $4) \
        returning job_id, kind, payload, attempts, created_at, lane";
    let statement = match db.engine() {
        Engine::Sqlite => SQLITE,
        Engine::Postgres => PG,
    };
    let json = |v: &[&str], column| {
        serde_json::to_string(v).map_err(|e| StoreError::Corrupt {
            column,
            reason: e.to_string(),
        })
    };
    let kinds = json(what.kinds, "job.kind")?;
    let full = json(what.full_lanes, "job.lane")?;
    let mut conn = db.write().await?;
    let rows: Vec<ClaimRow> = sql!(&mut conn, |c| sqlx::query_as(statement)
        .bind(worker)
        .bind(lease_until.as_micros())
        .bind(now.as_micros())
        .bind(what.limit)
        .bind(&kinds)
        .bind(&full)
        .fetch_all(c)
        .await)?;
    let mut jobs: Vec<ClaimedJob> = rows
        .into_iter()
        .map(
            |(id, kind, payload, attempt, created_at, lane)| ClaimedJob {
                id: JobId::new(id),
                kind,
                payload,
                attempt,
                created_at: Timestamp::from_micros(created_at),
                lane,
            },
        )
        .collect();
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

/// Extends the lease of a running job. Returns false if the worker no longer holds it.
pub async fn heartbeat(
    db: &Db,
    id: JobId,
    worker: &str,
    lease_until: Timestamp,
) -> Result<bool, StoreError> {
    let mut conn = db.write().await?;
    let done = exec!(&mut conn, sqlx::query(
        "update job set locked_until = $1 where job_id = $2 and locked_by = $3 and state = 'running'"
    )
    .bind(lease_until.as_micros())
    .bind(id.get())
    .bind(worker))?;
    Ok(done == 1)
}

/// How a finished attempt ended.
#[derive(Clone, Debug)]
pub enum Outcome<'a> {
    /// Success: the job is done.
    Done,
    /// Failed; run again at the given time.
    Retry {
        /// The error, for the attempt log.
        error: &'a str,
        /// When to try again.
        at: Timestamp,
    },
    /// Failed for good.
    Failed {
        /// The error, for the attempt log.
        error: &'a str,
    },
    /// Not run: its lane was full when it was claimed. Back in the queue for `at`, the
    /// attempt not counted and not logged.
    Deferred {
        /// When it may run.
        at: Timestamp,
    },
}

/// Records the end of an attempt and moves the job on. Returns false (and changes nothing)
/// if `worker` no longer holds the job's lease.
pub async fn finish(
    db: &Db,
    job: &ClaimedJob,
    worker: &str,
    started_at: Timestamp,
    now: Timestamp,
    outcome: &Outcome<'_>,
) -> Result<bool, StoreError> {
    let (state, run_at, error) =
        match outcome {
            Outcome::Done => (JobState::Done, None, None),
            Outcome::Retry { error, at } => (JobState::Queued, Some(*at), Some(*error)),
            Outcome::Failed { error } => (JobState::Failed, None, Some(*error)),
            Outcome::Deferred { at } => {
                let mut conn = db.write().await?;
                let updated =
                    exec!(&mut conn, sqlx::query(
                "update job set state = 'queued', attempts = attempts - 1, run_at = $1, \
                 locked_by = null, locked_until = null, updated_at = $2 \
                 where job_id = $3 and locked_by = $4 and state = 'running'"
            )
            .bind(at.as_micros())
            .bind(now.as_micros())
            .bind(job.id.get())
            .bind(worker))?;
                return Ok(updated == 1);
            }
        };
    let mut tx = db.begin().await?;
    let updated = exec!(&mut tx, sqlx::query(
        "update job set state = $1, run_at = coalesce($2, run_at), last_error = coalesce($3, last_error), \
         locked_by = null, locked_until = null, updated_at = $4 \
         where job_id = $5 and locked_by = $6 and state = 'running'"
    )
    .bind(state.as_str())
    .bind(run_at.map(Timestamp::as_micros))
    .bind(error)
    .bind(now.as_micros())
    .bind(job.id.get())
    .bind(worker))?;
    if updated != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    insert_attempt(&mut tx, job.id, job.attempt, worker, started_at, now, error).await?;
    tx.commit().await?;
    Ok(true)
}

async fn insert_attempt(
    conn: &mut impl AsConn,
    id: JobId,
    attempt: i64,
    worker: &str,
    started_at: Timestamp,
    now: Timestamp,
    error: Option<&str>,
) -> Result<(), StoreError> {
    exec!(conn, sqlx::query(
        "insert into job_attempt (job_id, attempt, worker, started_at, finished_at, error, created_at) \
         values ($1, $2, $3, $4, $5, $6, $5)"
    )
    .bind(id.get())
    .bind(attempt)
    .bind(worker)
    .bind(started_at.as_micros())
    .bind(now.as_micros())
    .bind(error))?;
    Ok(())
}

/// Which running jobs count as abandoned.
#[derive(Clone, Copy, Debug)]
pub enum Abandoned<'a> {
    /// All of them (SQLite at start-up: only one process serves a SQLite database, so nothing
    /// else can hold a lease).
    EveryRunning,
    /// Those whose lease has run out.
    LeaseExpired,
    /// Those held by a worker whose id starts with this (a named instance restarting: its
    /// own leases, whatever their time).
    HeldBy(&'a str),
}

/// Puts back in the queue the jobs whose worker stopped before finishing them (see
/// [`Abandoned`]), recording the lost attempt. Returns how many were put back.
pub async fn recover_abandoned(
    db: &Db,
    now: Timestamp,
    which: Abandoned<'_>,
) -> Result<u64, StoreError> {
    const ABANDONED: &str = "the worker stopped before finishing (process ended or lease expired)";
    let (cutoff, prefix) = match which {
        Abandoned::EveryRunning => (i64::MAX, String::new()),
        Abandoned::LeaseExpired => (now.as_micros(), String::new()),
        Abandoned::HeldBy(p) => (i64::MAX, p.to_owned()),
    };
    let lock = if db.engine() == Engine::Postgres {
        " for update skip locked"
    } else {
        ""
    };
    let select = format!(
        "select job_id, attempts, locked_by from job where state = 'running' and locked_until < $1 \
         and ($2 = '' or substr(locked_by, 1, length($2)) = $2){lock}"
    );
    let mut tx = db.begin().await?;
    let rows: Vec<(i64, i64, Option<String>)> = sql!(&mut tx, |c| sqlx::query_as(
        sqlx::AssertSqlSafe(select.clone())
    )
    .bind(cutoff)
    .bind(&prefix)
    .fetch_all(c)
    .await)?;
    for (id, attempt, worker) in &rows {
        exec!(
            &mut tx,
            sqlx::query(
                "update job set state = 'queued', locked_by = null, locked_until = null, run_at = $1, \
                 last_error = $2, updated_at = $1 where job_id = $3"
            )
            .bind(now.as_micros())
            .bind(ABANDONED)
            .bind(id)
        )?;
        let worker = worker.as_deref().unwrap_or("unknown");
        insert_attempt(
            &mut tx,
            JobId::new(*id),
            *attempt,
            worker,
            now,
            now,
            Some(ABANDONED),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// Number of jobs per (state, kind), leaving out finished ones.
pub async fn pending_counts(db: &Db) -> Result<Vec<(JobState, String, i64)>, StoreError> {
    let mut conn = db.conn().await?;
    let mut out = Vec::new();
    for state in [JobState::Queued, JobState::Running, JobState::Failed] {
        let rows: Vec<(String, i64)> = sql!(&mut conn, |c| sqlx::query_as(
            "select kind, count(*) from job where state = $1 group by kind order by kind"
        )
        .bind(state.as_str())
        .fetch_all(c)
        .await)?;
        out.extend(rows.into_iter().map(|(kind, n)| (state, kind, n)));
    }
    Ok(out)
}

type JobTuple = (i64, String, String, i64, i64, Option<String>, i64, i64);

fn job_row(t: JobTuple) -> Result<JobRow, StoreError> {
    let (id, kind, state, attempts, run_at, last_error, created_at, updated_at) = t;
    Ok(JobRow {
        id: JobId::new(id),
        kind,
        state: JobState::parse(&state).ok_or_else(|| StoreError::Corrupt {
            column: "job.state",
            reason: format!("unknown state {state:?}"),
        })?,
        attempts,
        run_at: Timestamp::from_micros(run_at),
        last_error,
        created_at: Timestamp::from_micros(created_at),
        updated_at: Timestamp::from_micros(updated_at),
    })
}

/// The newest jobs, optionally only those in `state`.
pub async fn list(db: &Db, state: Option<JobState>, limit: i64) -> Result<Vec<JobRow>, StoreError> {
    let mut conn = db.conn().await?;
    let rows: Vec<JobTuple> = sql!(&mut conn, |c| {
        sqlx::query_as(
        "select job_id, kind, state, attempts, run_at, last_error, created_at, updated_at from job \
         where ($1 is null or state = $1) order by job_id desc limit $2"
    )
    .bind(state.map(JobState::as_str))
    .bind(limit)
    .fetch_all(c)
    .await
    })?;
    rows.into_iter().map(job_row).collect()
}

/// One job.
pub async fn get(conn: &mut impl AsConn, id: JobId) -> Result<JobRow, StoreError> {
    let row: Option<JobTuple> = sql!(conn, |c| {
        sqlx::query_as(
        "select job_id, kind, state, attempts, run_at, last_error, created_at, updated_at from job where job_id = $1"
    )
    .bind(id.get())
    .fetch_optional(c)
    .await
    })?;
    job_row(row.ok_or(StoreError::NotFound)?)
}

/// Every recorded attempt of a job, oldest first.
pub async fn attempts(conn: &mut impl AsConn, id: JobId) -> Result<Vec<AttemptRow>, StoreError> {
    let rows: Vec<(i64, String, i64, i64, Option<String>)> = sql!(conn, |c| sqlx::query_as(
        "select attempt, worker, started_at, finished_at, error from job_attempt \
         where job_id = $1 order by job_attempt_id"
    )
    .bind(id.get())
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(
            |(attempt, worker, started_at, finished_at, error)| AttemptRow {
                attempt,
                worker,
                started_at: Timestamp::from_micros(started_at),
                finished_at: Timestamp::from_micros(finished_at),
                error,
            },
        )
        .collect())
}

/// Puts a failed job back in the queue with a fresh attempt budget. Returns false if the job
/// does not exist or has not failed.
pub async fn retry(db: &Db, id: JobId, now: Timestamp) -> Result<bool, StoreError> {
    let mut conn = db.write().await?;
    let done = exec!(
        &mut conn,
        sqlx::query(
            "update job set state = 'queued', attempts = 0, run_at = $1, updated_at = $1 \
         where job_id = $2 and state = 'failed'"
        )
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    Ok(done == 1)
}

/// Deletes finished jobs (and their attempts) last changed before `before`.
pub async fn prune_done(db: &Db, before: Timestamp) -> Result<u64, StoreError> {
    let mut conn = db.write().await?;
    let done = exec!(
        &mut conn,
        sqlx::query("delete from job where state = 'done' and updated_at < $1")
            .bind(before.as_micros())
    )?;
    Ok(done)
}

/// Unfinished (queued or running) jobs of `kind`.
pub async fn unfinished_of_kind(conn: &mut impl AsConn, kind: &str) -> Result<i64, StoreError> {
    Ok(sql!(conn, |c| sqlx::query_scalar(
        "select count(*) from job where kind = $1 and state in ('queued', 'running')"
    )
    .bind(kind)
    .fetch_one(c)
    .await)?)
}
