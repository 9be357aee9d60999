//! CryptoCloud-compatible postbacks to a project's notification URL.
//!
//! A postback is a `postback.send` job, enqueued in the transaction that confirms the invoice.
//! Each attempt builds the body afresh (a new JWT valid for five minutes, the invoice as it is
//! now), sends it as JSON or as form fields per the project's setting through the
//! SSRF-guarded client, and records the attempt (time, HTTP status, the first bytes of the
//! response, latency). A 2xx answer ends delivery; anything else is retried with exponential
//! backoff (from about a minute up to an hour apart) for three days.
//!
//! Each job is in its shop's lane (the URL's host and port): the worker keeps only
//! `jobs.per_destination` of one lane in flight, so a shop whose endpoint hangs delays only its
//! own postbacks.

use std::time::{Duration, Instant};

use kassa_core::currency;
use kassa_core::project::PostbackFormat;
use kassa_core::retry::RetryPolicy;
use kassa_core::{Decimal, InvoiceId, Timestamp};
use kassa_store::invoices::{self, InvoiceRow, PostbackAttempt, TransferState};
use kassa_store::projects::{self, ProjectRow};
use kassa_store::{AsConn, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Ctx;
use crate::objects;
use crate::worker::{self, BoxFuture, Job, JobContext, JobError, JobHandler};

/// Bytes of the receiver's answer kept in the attempt log.
const EXCERPT: usize = 512;
/// How long the receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The header that names a delivery: the same on every retry of one postback job.
pub const DELIVERY_HEADER: &str = "X-Kassa-Delivery";

/// The delivery id of postback job `job` for invoice `uuid`.
pub fn delivery_id(uuid: &str, job: kassa_core::JobId) -> String {
    format!("{uuid}-{job}")
}

/// The `postback.send` job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Postback {
    /// The invoice.
    pub invoice_id: InvoiceId,
}

impl Job for Postback {
    const KIND: &'static str = "postback.send";
}

/// Enqueues a postback for `row` if its project has a notification URL.
pub async fn enqueue(
    conn: &mut impl AsConn,
    _st: &Ctx,
    row: &InvoiceRow,
    now: Timestamp,
) -> Result<(), StoreError> {
    let project = projects::by_id(conn, row.project_id).await?;
    let url = project.settings.notify_url.trim();
    if url.is_empty() {
        return Ok(());
    }
    let lane = lane(url);
    let job = Postback { invoice_id: row.id };
    worker::enqueue_in_lane(conn, &job, lane.as_deref(), now, now).await?;
    invoices::add_event(conn, row.id, "postback_queued", &json!({"url": url}), now).await
}

/// The worker's lane for postbacks to `url`: its host and port, so that a shop whose endpoint
/// hangs holds up only its own postbacks. `None` for a URL that does not parse (the attempt
/// will say why).
pub fn lane(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port_or_known_default() {
        Some(port) => format!("postback:{host}:{port}"),
        None => format!("postback:{host}"),
    })
}

/// The postback fields for an invoice (without `token`).
pub fn fields(
    st: &Ctx,
    project: &ProjectRow,
    row: &InvoiceRow,
    tx_list: &[String],
) -> Map<String, Value> {
    let crypto = row.currency.as_deref().and_then(currency::crypto);
    let rate = row.rate_usd.unwrap_or(Decimal::ZERO);
    let (amount_crypto, amount_usd) = match crypto {
        Some(c) => (
            objects::crypto_number(row.received, c),
            objects::usd_number(row.received, c, rate),
        ),
        None => (json!(0.0), json!(0.0)),
    };
    let mut m = Map::new();
    m.insert("status".into(), json!("success"));
    m.insert("invoice_id".into(), json!(row.uuid));
    m.insert("amount_crypto".into(), amount_crypto);
    m.insert("currency".into(), json!(crypto.map_or("", |c| c.code)));
    m.insert("order_id".into(), json!(row.order_id));
    m.insert("amount_usdt".into(), amount_usd);
    m.insert(
        "invoice_info".into(),
        objects::invoice(st, project, row, tx_list),
    );
    m
}

/// What one delivery attempt got.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// HTTP status, if an answer came.
    pub status: Option<u16>,
    /// The first bytes of the answer.
    pub excerpt: String,
    /// Time to the answer.
    pub latency: Duration,
    /// Why it failed (none for a 2xx).
    pub error: Option<String>,
}

impl Delivery {
    /// Whether the receiver accepted it.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Sends one postback: signs a fresh token for `uuid` with the project's secret and posts the
/// fields as JSON or as a form.
pub async fn send(
    st: &Ctx,
    client: &reqwest::Client,
    project: &ProjectRow,
    uuid: &str,
    delivery: &str,
    mut body: Map<String, Value>,
) -> Delivery {
    let started = Instant::now();
    let failed = |error: String| Delivery {
        status: None,
        excerpt: String::new(),
        latency: started.elapsed(),
        error: Some(error),
    };
    let url = match reqwest::Url::parse(project.settings.notify_url.trim()) {
        Ok(u) => u,
        Err(e) => return failed(format!("invalid notification URL: {e}")),
    };
    if let Err(e) = crate::net::check_url(&url, st.config.allow_private_targets) {
        return failed(format!("refused: {e}"));
    }
    let secret = match crate::projects::secret_key(st, project) {
        Ok(s) => s,
        Err(e) => return failed(format!("cannot read the project's secret key: {e}")),
    };
    let now = st.clock.now().as_secs();
    let token = crate::jwt::sign_hs256(
        secret.as_bytes(),
        &json!({"id": uuid, "exp": now + 300, "iat": now}),
    );
    body.insert("token".into(), json!(token));
    let request = if project.settings.postback_format == PostbackFormat::Form {
        let pairs: Vec<(String, String)> = body
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect();
        client.post(url).form(&pairs)
    } else {
        client.post(url).json(&Value::Object(body))
    };
    // The same for every retry of one delivery, different for each: a shop can tell a repeat
    // (after a timeout or a crash) from a new event. The body stays CryptoCloud's.
    let request = request.header(DELIVERY_HEADER, delivery);
    match request.send().await {
        Err(e) => {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                source = s.source();
            }
            failed(msg)
        }
        Ok(mut resp) => {
            let status = resp.status();
            // Only the start of the answer is kept; the rest is not read (a shop's answer
            // can be anything, of any size).
            let mut bytes: Vec<u8> = Vec::new();
            while bytes.len() < EXCERPT {
                match resp.chunk().await {
                    Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                    Ok(None) | Err(_) => break,
                }
            }
            let excerpt = String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT)]).into_owned();
            let error = (!status.is_success()).then(|| format!("HTTP {}", status.as_u16()));
            Delivery {
                status: Some(status.as_u16()),
                excerpt,
                latency: started.elapsed(),
                error,
            }
        }
    }
}

/// Delivers `postback.send` jobs.
pub struct PostbackHandler {
    /// The services.
    pub ctx: Ctx,
    /// The SSRF-guarded client.
    pub client: reqwest::Client,
}

impl PostbackHandler {
    async fn deliver(&self, ctx: &JobContext, payload: &str) -> Result<(), JobError> {
        let job: Postback = worker::parse_payload(payload)?;
        let st = &self.ctx;
        let mut c = st.db.conn().await?;
        let row = invoices::by_id(&mut c, job.invoice_id).await?;
        let project = projects::by_id(&mut c, row.project_id).await?;
        let txs: Vec<String> = invoices::transfers_of(&mut c, row.id)
            .await?
            .into_iter()
            .filter(|t| t.state != TransferState::Orphaned)
            .map(|t| t.txid)
            .collect();
        drop(c);
        if project.settings.notify_url.trim().is_empty() {
            return Err(JobError::Permanent(
                "the project no longer has a notification URL".into(),
            ));
        }
        let delivery = send(
            st,
            &self.client,
            &project,
            &row.uuid,
            &delivery_id(&row.uuid, ctx.id),
            fields(st, &project, &row, &txs),
        )
        .await;
        let mut c = st.db.write().await?;
        invoices::record_postback(
            &mut c,
            &PostbackAttempt {
                invoice_id: row.id,
                job_id: Some(ctx.id.get()),
                attempt: ctx.attempt,
                url: project.settings.notify_url.trim(),
                http_status: delivery.status.map(i64::from),
                response_excerpt: &delivery.excerpt,
                latency_ms: i64::try_from(delivery.latency.as_millis()).unwrap_or(i64::MAX),
                error: delivery.error.as_deref(),
            },
            st.clock.now(),
        )
        .await?;
        match delivery.error {
            None => {
                // Delivered: an earlier delivery of this invoice that gave up is closed.
                kassa_store::postbacks::close_failed(&mut c, row.id, st.clock.now()).await?;
                Ok(())
            }
            Some(e) => {
                self.tell_failing(&mut c, ctx, &project, &row, delivery.status, &e)
                    .await?;
                Err(JobError::Retry(e))
            }
        }
    }

    /// Tells the project's people when its postback for `row` has failed for more than an
    /// hour (once). Giving up is told by [`PostbackHandler::tell_given_up`], when the worker
    /// has decided it.
    async fn tell_failing(
        &self,
        conn: &mut kassa_store::WriteConn,
        ctx: &JobContext,
        project: &ProjectRow,
        row: &invoices::InvoiceRow,
        status: Option<u16>,
        error: &str,
    ) -> Result<(), JobError> {
        let st = &self.ctx;
        let now = st.clock.now();
        let link = postback_link(row);
        if now.duration_since(ctx.created_at) < Duration::from_secs(3600)
            || kassa_store::notifications::event_exists(
                conn,
                row.merchant_id,
                "postbacks.failing",
                &link,
            )
            .await?
        {
            return Ok(());
        }
        let answer = status.map_or_else(
            || error.chars().take(120).collect(),
            |s| format!("HTTP {s}"),
        );
        self.emit(conn, "postbacks.failing", ctx, project, row, &answer)
            .await
    }

    /// Tells the project's people that Kassa gave up on the postback of the job's invoice.
    async fn tell_given_up(
        &self,
        ctx: &JobContext,
        payload: &str,
        error: &str,
    ) -> Result<(), JobError> {
        let job: Postback = worker::parse_payload(payload)?;
        let st = &self.ctx;
        let mut c = st.db.write().await?;
        let row = invoices::by_id(&mut c, job.invoice_id).await?;
        let project = projects::by_id(&mut c, row.project_id).await?;
        if project.settings.notify_url.trim().is_empty() {
            // Not a delivery that failed: the shop stopped asking for postbacks.
            return Ok(());
        }
        let answer: String = error.chars().take(120).collect();
        self.emit(&mut c, "postbacks.failed", ctx, &project, &row, &answer)
            .await
    }

    async fn emit(
        &self,
        conn: &mut kassa_store::WriteConn,
        kind: &'static str,
        ctx: &JobContext,
        project: &ProjectRow,
        row: &invoices::InvoiceRow,
        answer: &str,
    ) -> Result<(), JobError> {
        let st = &self.ctx;
        let link = postback_link(row);
        crate::notify::emit(
            conn,
            &crate::notify::Event {
                merchant: row.merchant_id,
                kind,
                project: Some(row.project_id),
                user: None,
                params: json!({
                    "project": project.settings.name,
                    "invoice": format!("INV-{}", row.uuid),
                    "attempts": ctx.attempt,
                    "answer": answer,
                }),
                link: Some(&link),
            },
            st.clock.now(),
        )
        .await?;
        st.jobs.wake();
        Ok(())
    }
}

/// Where a notification about an invoice's postbacks points: its page, at the postbacks.
fn postback_link(row: &invoices::InvoiceRow) -> String {
    format!(
        "/projects/{}/invoices/{}#postbacks",
        row.project_id, row.uuid
    )
}

impl JobHandler for PostbackHandler {
    fn kind(&self) -> &'static str {
        Postback::KIND
    }

    /// From about a minute apart, doubling up to an hour, for three days.
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(60),
            cap: Duration::from_secs(3600),
            max_attempts: u32::MAX,
            deadline: Some(Duration::from_secs(3 * 24 * 3600)),
        }
    }

    fn timeout(&self) -> Duration {
        TIMEOUT + Duration::from_secs(20)
    }

    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self.deliver(ctx, payload))
    }

    /// "Postbacks failed for good", once the worker gave up (three days of attempts).
    fn gave_up<'a>(
        &'a self,
        ctx: &'a JobContext,
        payload: &'a str,
        error: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.tell_given_up(ctx, payload, error).await {
                tracing::warn!(error = %e, "could not tell that a postback was given up");
            }
        })
    }
}

/// A sample postback body for the "send test postback" button: a made-up paid test invoice
/// of 1 USDT, marked as a test.
pub fn sample_fields(st: &Ctx, project: &ProjectRow) -> Map<String, Value> {
    let now = st.clock.now();
    let mut m = Map::new();
    m.insert("status".into(), json!("success"));
    m.insert("invoice_id".into(), json!("TESTTEST"));
    m.insert("amount_crypto".into(), json!(1.0));
    m.insert("currency".into(), json!("USDT_TRC20"));
    m.insert("order_id".into(), json!("test-postback"));
    m.insert("amount_usdt".into(), json!(1.0));
    m.insert(
        "invoice_info".into(),
        json!({
            "uuid": "INV-TESTTEST", "created": objects::datetime(now), "date_finished": objects::datetime(now),
            "status": "paid", "invoice_status": "success", "amount": 1.0, "amount_usd": 1.0, "currency": "USDT_TRC20",
            "order_id": "test-postback", "test_mode": true, "project": objects::project(st, project),
        }),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::lane;

    #[test]
    fn a_postback_lane_is_the_urls_host_and_port() {
        assert_eq!(
            lane("https://Shop.Example/kassa?x=1").as_deref(),
            Some("postback:shop.example:443")
        );
        assert_eq!(
            lane("http://127.0.0.1:8080/cb").as_deref(),
            Some("postback:127.0.0.1:8080")
        );
        // Two shops on one host share its lane; another port is another destination.
        assert_eq!(
            lane("https://shop.example/a"),
            lane("https://shop.example/b")
        );
        assert_ne!(
            lane("https://shop.example/"),
            lane("https://shop.example:8443/")
        );
        assert_eq!(lane("not a url"), None);
    }
}
