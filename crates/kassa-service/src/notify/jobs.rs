//! The notification jobs: `notify.fanout` (an event to its people), `notify.send` (one
//! delivery by e-mail or Telegram) and `notify.digest` (a burst's summary).

use std::sync::Arc;
use std::time::Duration;

use kassa_core::retry::RetryPolicy;
use kassa_core::{Timestamp, UserId};
use kassa_store::StoreError;
use kassa_store::accounts as users;
use kassa_store::notifications as store;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Channel, Rendered, render, tell_in_center};
use crate::Ctx;
use crate::i18n::Tr;
use crate::mail::{self, Letter};
use crate::telegram::{BotApi, BotError, escape_html};
use crate::worker::{BoxFuture, Job, JobContext, JobError, JobHandler, parse_payload};

fn retry(e: StoreError) -> JobError {
    JobError::Retry(e.to_string())
}

/// Fans an event out.
#[derive(Debug, Serialize, Deserialize)]
pub struct FanoutJob {
    /// The event.
    pub event: i64,
}

impl Job for FanoutJob {
    const KIND: &'static str = "notify.fanout";
}

/// Runs [`FanoutJob`]s.
pub struct FanoutHandler {
    st: Ctx,
}

impl FanoutHandler {
    /// A handler over the services' context.
    pub fn new(st: Ctx) -> Self {
        Self { st }
    }
}

impl JobHandler for FanoutHandler {
    fn kind(&self) -> &'static str {
        FanoutJob::KIND
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let job: FanoutJob = parse_payload(payload)?;
            super::fanout(&self.st, job.event)
                .await
                .map(drop)
                .map_err(retry)
        })
    }
}

/// Sends one delivery.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendJob {
    /// The delivery.
    pub delivery: i64,
}

impl Job for SendJob {
    const KIND: &'static str = "notify.send";
}

/// Runs [`SendJob`]s; Telegram through `bot` when one is configured.
pub struct SendHandler {
    st: Ctx,
    bot: Option<Arc<BotApi>>,
}

impl SendHandler {
    /// A handler over the services' context and the operator's bot.
    pub fn new(st: Ctx, bot: Option<Arc<BotApi>>) -> Self {
        Self { st, bot }
    }
}

/// The e-mail of a notification.
fn letter(st: &Ctx, tr: Tr, text: &Rendered, link: Option<&str>) -> Letter {
    Letter {
        subject: text.title.clone(),
        paragraphs: vec![text.body.clone()],
        action: link.map(|l| {
            (
                tr.t("notify.open").to_owned(),
                format!("{}{l}", st.public_url),
            )
        }),
        footer: tr.t("notify.footer").to_owned(),
    }
}

/// The Telegram message of a notification (HTML, escaped).
fn message(st: &Ctx, text: &Rendered, link: Option<&str>) -> String {
    let mut m = format!(
        "<b>{}</b>\n{}",
        escape_html(&text.title),
        escape_html(&text.body)
    );
    if let Some(l) = link {
        m.push_str(&format!(
            "\n{}",
            escape_html(&format!("{}{l}", st.public_url))
        ));
    }
    m
}

/// Sends `html` to `user`'s chat. A chat that refuses (the bot blocked) is unlinked and the
/// person told in their center; what else goes wrong is the job's to retry.
async fn telegram(
    st: &Ctx,
    bot: Option<&BotApi>,
    user: UserId,
    html: &str,
) -> Result<Result<(), String>, JobError> {
    let Some(bot) = bot else {
        return Ok(Err("no Telegram bot is configured".into()));
    };
    let Some(chat) = store::chat_of(&mut st.db.conn().await.map_err(retry)?, user)
        .await
        .map_err(retry)?
    else {
        return Ok(Err("no chat is linked".into()));
    };
    match bot.send_message(chat, html).await {
        Ok(()) => Ok(Ok(())),
        Err(BotError::RetryAfter(wait)) => Err(JobError::RetryAfter(
            wait,
            format!("Telegram asked to wait {} s", wait.as_secs()),
        )),
        Err(BotError::Blocked(why)) => {
            let now = st.clock.now();
            let mut tx = st.db.begin().await.map_err(retry)?;
            store::unlink_user(&mut tx, user).await.map_err(retry)?;
            tell_in_center(&mut tx, user, "telegram_unlinked", now)
                .await
                .map_err(retry)?;
            tx.commit().await.map_err(retry)?;
            tracing::info!(user = %user, "Telegram refused a notification; the chat was unlinked");
            Ok(Err(format!("refused: {why}")))
        }
        Err(BotError::Rejected(why)) => Ok(Err(why)),
        Err(BotError::Transport(why)) => Err(JobError::Retry(why)),
    }
}

impl JobHandler for SendHandler {
    fn kind(&self) -> &'static str {
        SendJob::KIND
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 20,
            deadline: Some(Duration::from_secs(24 * 3600)),
            ..RetryPolicy::default()
        }
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let job: SendJob = parse_payload(payload)?;
            let st = &self.st;
            let mut conn = st.db.conn().await.map_err(retry)?;
            let Some(d) = store::delivery(&mut conn, job.delivery)
                .await
                .map_err(retry)?
            else {
                return Ok(());
            };
            if d.state != "queued" {
                return Ok(());
            }
            let Some(event) = store::event(&mut conn, d.event).await.map_err(retry)? else {
                return Ok(());
            };
            let user = users::user_by_id(&mut conn, d.user).await.map_err(retry)?;
            drop(conn);
            let tr = Tr::new(user.locale);
            let params: Value = serde_json::from_str(&event.params).unwrap_or(Value::Null);
            let text = render(tr, &event.kind, &params);
            let now = st.clock.now();
            match Channel::parse(&d.channel) {
                Some(Channel::Email) => {
                    let mut tx = st.db.begin().await.map_err(retry)?;
                    if store::set_delivery(&mut tx, d.id, "queued", "sent", None, now)
                        .await
                        .map_err(retry)?
                    {
                        let mail =
                            letter(st, tr, &text, event.link.as_deref()).render(&user.email, tr);
                        mail::enqueue(&mut tx, &st.keyring, &mail, now)
                            .await
                            .map_err(retry)?;
                    }
                    tx.commit().await.map_err(retry)?;
                    st.jobs.wake();
                }
                Some(Channel::Telegram) => {
                    let html = message(st, &text, event.link.as_deref());
                    let outcome = telegram(st, self.bot.as_deref(), user.id, &html).await?;
                    let (to, error) = match &outcome {
                        Ok(()) => ("sent", None),
                        Err(why) => ("failed", Some(why.as_str())),
                    };
                    store::set_delivery(
                        &mut st.db.write().await.map_err(retry)?,
                        d.id,
                        "queued",
                        to,
                        error,
                        now,
                    )
                    .await
                    .map_err(retry)?;
                }
                Some(Channel::App) | None => {}
            }
            Ok(())
        })
    }
}

/// Sends the summary of a burst.
#[derive(Debug, Serialize, Deserialize)]
pub struct DigestJob {
    /// The person.
    pub user: i64,
    /// `email` or `telegram`.
    pub channel: String,
    /// The minute.
    pub bucket: i64,
}

impl Job for DigestJob {
    const KIND: &'static str = "notify.digest";
}

/// Runs [`DigestJob`]s.
pub struct DigestHandler {
    st: Ctx,
    bot: Option<Arc<BotApi>>,
}

impl DigestHandler {
    /// A handler over the services' context and the operator's bot.
    pub fn new(st: Ctx, bot: Option<Arc<BotApi>>) -> Self {
        Self { st, bot }
    }
}

/// The summary of `grouped` events.
fn digest(tr: Tr, grouped: &[(String, String)]) -> Rendered {
    let mut invoices: Vec<String> = grouped
        .iter()
        .filter_map(|(_, p)| {
            serde_json::from_str::<Value>(p)
                .ok()?
                .get("invoice")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let more = invoices.len().saturating_sub(5);
    invoices.truncate(5);
    let mut list = invoices.join(", ");
    if more > 0 {
        list.push_str(&format!(", +{more}"));
    }
    let params = serde_json::json!({"count": grouped.len(), "list": list});
    render(tr, "digest", &params)
}

impl JobHandler for DigestHandler {
    fn kind(&self) -> &'static str {
        DigestJob::KIND
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let job: DigestJob = parse_payload(payload)?;
            let st = &self.st;
            let user_id = UserId::new(job.user);
            let mut conn = st.db.conn().await.map_err(retry)?;
            let user = users::user_by_id(&mut conn, user_id).await.map_err(retry)?;
            let grouped = store::grouped(&mut conn, user_id, &job.channel, job.bucket)
                .await
                .map_err(retry)?;
            drop(conn);
            if grouped.is_empty() {
                return Ok(());
            }
            let tr = Tr::new(user.locale);
            let text = digest(tr, &grouped);
            let now: Timestamp = st.clock.now();
            match Channel::parse(&job.channel) {
                Some(Channel::Email) => {
                    let mut tx = st.db.begin().await.map_err(retry)?;
                    if store::digest_sent(&mut tx, user_id, &job.channel, job.bucket, now)
                        .await
                        .map_err(retry)?
                    {
                        let mail = letter(st, tr, &text, Some("/payments")).render(&user.email, tr);
                        mail::enqueue(&mut tx, &st.keyring, &mail, now)
                            .await
                            .map_err(retry)?;
                    }
                    tx.commit().await.map_err(retry)?;
                    st.jobs.wake();
                }
                Some(Channel::Telegram) => {
                    if !store::digest_open(
                        &mut st.db.conn().await.map_err(retry)?,
                        user_id,
                        &job.channel,
                        job.bucket,
                    )
                    .await
                    .map_err(retry)?
                    {
                        return Ok(());
                    }
                    let html = message(st, &text, Some("/payments"));
                    // Sent, then marked: a retry after a 429 sends it once.
                    let outcome = telegram(st, self.bot.as_deref(), user_id, &html).await?;
                    if let Err(why) = outcome {
                        tracing::warn!(user = %user_id, why, "a Telegram summary was not delivered");
                    }
                    store::digest_sent(
                        &mut st.db.write().await.map_err(retry)?,
                        user_id,
                        &job.channel,
                        job.bucket,
                        now,
                    )
                    .await
                    .map_err(retry)?;
                }
                Some(Channel::App) | None => {}
            }
            Ok(())
        })
    }
}
