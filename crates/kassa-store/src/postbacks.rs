//! Postback attempts: each delivery of an invoice's status to the merchant's URL, as it
//! went, and the invoices whose latest delivery failed (what the home page asks to look at).

use kassa_core::{InvoiceId, MerchantId, ProjectId, Timestamp};

use crate::{AsConn, StoreError, exec, sql};

/// A postback attempt to record.
#[derive(Clone, Debug)]
pub struct PostbackAttempt<'a> {
    /// Invoice.
    pub invoice_id: InvoiceId,
    /// The delivering job.
    pub job_id: Option<i64>,
    /// Attempt number.
    pub attempt: i64,
    /// Target.
    pub url: &'a str,
    /// HTTP status, when a response came.
    pub http_status: Option<i64>,
    /// The first bytes of the response.
    pub response_excerpt: &'a str,
    /// Latency in milliseconds.
    pub latency_ms: i64,
    /// Error, when it failed.
    pub error: Option<&'a str>,
}

/// A recorded postback attempt.
#[derive(Clone, Debug)]
pub struct PostbackAttemptRow {
    /// Attempt number.
    pub attempt: i64,
    /// Target.
    pub url: String,
    /// HTTP status.
    pub http_status: Option<i64>,
    /// Response excerpt.
    pub response_excerpt: String,
    /// Latency.
    pub latency_ms: i64,
    /// Error.
    pub error: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// Records a postback attempt.
pub async fn record_postback(
    conn: &mut impl AsConn,
    a: &PostbackAttempt<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into postback_attempt (invoice_id, job_id, attempt, url, http_status, response_excerpt, latency_ms, error, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
        .bind(a.invoice_id.get())
        .bind(a.job_id)
        .bind(a.attempt)
        .bind(a.url)
        .bind(a.http_status)
        .bind(a.response_excerpt)
        .bind(a.latency_ms)
        .bind(a.error)
        .bind(now.as_micros())
    )?;
    Ok(())
}

/// attempt, url, http_status, response_excerpt, latency_ms, error, created_at
type AttemptTuple = (i64, String, Option<i64>, String, i64, Option<String>, i64);

/// An invoice's postback attempts, oldest first.
pub async fn postbacks_of(
    conn: &mut impl AsConn,
    invoice: InvoiceId,
) -> Result<Vec<PostbackAttemptRow>, StoreError> {
    let rows: Vec<AttemptTuple> = sql!(conn, |c| {
        sqlx::query_as(
        "select attempt, url, http_status, response_excerpt, latency_ms, error, created_at from postback_attempt \
         where invoice_id = $1 order by postback_attempt_id"
    )
    .bind(invoice.get())
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(
            |(attempt, url, http_status, response_excerpt, latency_ms, error, at)| {
                PostbackAttemptRow {
                    attempt,
                    url,
                    http_status,
                    response_excerpt,
                    latency_ms,
                    error,
                    at: Timestamp::from_micros(at),
                }
            },
        )
        .collect())
}

/// An invoice whose latest postback failed.
#[derive(Clone, Debug)]
pub struct FailingPostback {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// Its public id.
    pub uuid: String,
    /// Its project.
    pub project_id: ProjectId,
    /// The attempt number of the failed delivery.
    pub attempt: i64,
    /// Its HTTP status, when the shop answered.
    pub http_status: Option<i64>,
    /// What went wrong.
    pub error: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// The invoices of `merchant` (within `projects` when given) whose latest postback attempt
/// since `since` failed — no answer, or not a 2xx — newest first, at most `limit`; and how
/// many there are in all.
pub async fn failing(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    projects: Option<&[ProjectId]>,
    since: Timestamp,
    limit: i64,
) -> Result<(Vec<FailingPostback>, i64), StoreError> {
    let scope = match projects {
        None => String::new(),
        Some([]) => return Ok((Vec::new(), 0)),
        Some(ps) => format!(
            " and i.project_id in ({})",
            ps.iter()
                .map(|p| p.get().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let from = format!(
        "from postback_attempt pa join invoice i on i.invoice_id = pa.invoice_id \
         where pa.created_at >= $2 and i.merchant_id = $1{scope} \
         and (pa.http_status is null or pa.http_status < 200 or pa.http_status > 299) \
         and not exists (select 1 from postback_attempt later \
         where later.invoice_id = pa.invoice_id and later.postback_attempt_id > pa.postback_attempt_id)"
    );
    let list = sqlx::AssertSqlSafe(format!(
        "select i.invoice_id, i.uuid, i.project_id, pa.attempt, pa.http_status, pa.error, pa.created_at \
         {from} order by pa.postback_attempt_id desc limit $3"
    ));
    let count = sqlx::AssertSqlSafe(format!("select count(*) {from}"));
    type Tuple = (i64, String, i64, i64, Option<i64>, Option<String>, i64);
    let rows: Vec<Tuple> = sql!(conn, |c| {
        sqlx::query_as(list)
            .bind(merchant.get())
            .bind(since.as_micros())
            .bind(limit)
            .fetch_all(&mut *c)
            .await
    })?;
    let total: i64 = sql!(conn, |c| {
        sqlx::query_scalar(count)
            .bind(merchant.get())
            .bind(since.as_micros())
            .fetch_one(&mut *c)
            .await
    })?;
    Ok((
        rows.into_iter()
            .map(
                |(id, uuid, project, attempt, http_status, error, at)| FailingPostback {
                    invoice_id: InvoiceId::new(id),
                    uuid,
                    project_id: ProjectId::new(project),
                    attempt,
                    http_status,
                    error,
                    at: Timestamp::from_micros(at),
                },
            )
            .collect(),
        total,
    ))
}

/// Where the latest postback job of an invoice stands: its state (`queued`, `running`,
/// `done`, `failed`), attempts so far and when it runs next.
pub async fn delivery_of(
    conn: &mut impl AsConn,
    invoice: InvoiceId,
) -> Result<Option<(String, i64, Timestamp)>, StoreError> {
    let payload = format!("{{\"invoice_id\":{}}}", invoice.get());
    let row: Option<(String, i64, i64)> = sql!(conn, |c| sqlx::query_as(
        "select state, attempts, run_at from job where kind = 'postback.send' and payload = $1 \
         order by job_id desc limit 1"
    )
    .bind(&payload)
    .fetch_optional(c)
    .await)?;
    Ok(row.map(|(s, a, r)| (s, a, Timestamp::from_micros(r))))
}

/// Closes the failed postback jobs of an invoice once a later delivery was accepted; how many.
pub async fn close_failed(
    conn: &mut impl AsConn,
    invoice: InvoiceId,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let payload = format!("{{\"invoice_id\":{}}}", invoice.get());
    Ok(exec!(
        conn,
        sqlx::query(
            "update job set state = 'done', last_error = 'superseded: a later delivery was accepted', \
             updated_at = $1 where kind = 'postback.send' and payload = $2 and state = 'failed'"
        )
        .bind(now.as_micros())
        .bind(&payload)
    )?)
}

/// A postback of a project not delivered yet, or given up on.
#[derive(Clone, Debug)]
pub struct PendingPostback {
    /// The invoice's public id.
    pub uuid: String,
    /// The job's state: `queued`, `running` or `failed` (gave up).
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When it runs next (queued), or last ran.
    pub run_at: Timestamp,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When it was first queued.
    pub created_at: Timestamp,
    /// When Kassa gave up (failed) or last changed it.
    pub updated_at: Timestamp,
}

/// The postbacks of `project` still on their way (queued, being sent, being retried) or given
/// up on, newest first, at most `limit`; and how many there are in all.
pub async fn pending_of_project(
    conn: &mut impl AsConn,
    project: ProjectId,
    limit: i64,
) -> Result<(Vec<PendingPostback>, i64), StoreError> {
    // The job names its invoice only in its payload (`{"invoice_id":N}`).
    let invoice_of_job = match conn.as_conn().engine() {
        crate::Engine::Sqlite => "json_extract(j.payload, '$.invoice_id')",
        crate::Engine::Postgres => "(j.payload::jsonb ->> 'invoice_id')::bigint",
    };
    let from = format!(
        "from job j join invoice i on i.invoice_id = {invoice_of_job} \
         where j.kind = 'postback.send' and j.state in ('queued', 'running', 'failed') \
         and i.project_id = $1"
    );
    let list = sqlx::AssertSqlSafe(format!(
        "select i.uuid, j.state, j.attempts, j.run_at, j.last_error, j.created_at, j.updated_at \
         {from} order by j.job_id desc limit $2"
    ));
    let count = sqlx::AssertSqlSafe(format!("select count(*) {from}"));
    type Tuple = (String, String, i64, i64, Option<String>, i64, i64);
    let rows: Vec<Tuple> = sql!(conn, |c| sqlx::query_as(list)
        .bind(project.get())
        .bind(limit)
        .fetch_all(&mut *c)
        .await)?;
    let total: i64 = sql!(conn, |c| sqlx::query_scalar(count)
        .bind(project.get())
        .fetch_one(&mut *c)
        .await)?;
    Ok((
        rows.into_iter()
            .map(
                |(uuid, state, attempts, run_at, last_error, created_at, updated_at)| {
                    PendingPostback {
                        uuid,
                        state,
                        attempts,
                        run_at: Timestamp::from_micros(run_at),
                        last_error,
                        created_at: Timestamp::from_micros(created_at),
                        updated_at: Timestamp::from_micros(updated_at),
                    }
                },
            )
            .collect(),
        total,
    ))
}
