//! The invoice jobs: expiry and payment reminders.

use std::time::Duration;

use kassa_core::invoice::Status;
use kassa_core::{InvoiceId, Timestamp};
use kassa_store::invoices::{self, InvoiceRow};
use kassa_store::projects::ProjectRow;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Ctx;
use crate::i18n::Tr;
use crate::mail::{self, Letter};
use crate::worker::{self, BoxFuture, Job, JobContext, JobError, JobHandler};

use super::*;

/// The `invoice.expire` job: at the invoice's expiry, cancel it if nobody started paying.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Expire {
    /// The invoice.
    pub invoice_id: InvoiceId,
}

impl Job for Expire {
    const KIND: &'static str = "invoice.expire";
}

/// Runs `invoice.expire` jobs.
pub struct ExpireHandler {
    /// The services.
    pub ctx: Ctx,
}

impl ExpireHandler {
    async fn expire(&self, payload: &str) -> Result<(), JobError> {
        let job: Expire = worker::parse_payload(payload)?;
        let st = &self.ctx;
        let now = st.clock.now();
        let mut tx = st.db.begin().await?;
        let row = invoices::lock(&mut tx, job.invoice_id).await?;
        // Expiry is a fact of time: the invoice is worked out again now, and nobody having
        // started paying, it is cancelled (one with a payment in flight waits for it).
        crate::payments::reevaluate(&mut tx, st, &row, now, |c, _| {
            if c.to == Status::Canceled && c.from != Status::Canceled {
                vec![event("expired", json!({}))]
            } else {
                Vec::new()
            }
        })
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
        tx.commit().await?;
        Ok(())
    }
}

impl JobHandler for ExpireHandler {
    fn kind(&self) -> &'static str {
        Expire::KIND
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self.expire(payload))
    }
}

/// The `invoice.remind` job: e-mails the payment link again every `period` while the invoice
/// waits for payment (`add_fields.period` of the API).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Remind {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// Recipient.
    pub to: String,
    /// Seconds between reminders.
    pub period_secs: u64,
}

impl Job for Remind {
    const KIND: &'static str = "invoice.remind";
}

/// The payment-request e-mail for invoice `uuid` of `amount` `currency`.
pub(crate) fn invoice_letter(
    st: &Ctx,
    project: &ProjectRow,
    uuid: &str,
    price: &Price,
    tr: Tr,
) -> Letter {
    let (amount, currency) = (price.amount_text(), price.code());
    Letter {
        subject: tr.f1("mail.invoice.subject", "shop", &project.settings.name),
        paragraphs: vec![tr.f(
            "mail.invoice.body",
            &[
                ("shop", &project.settings.name),
                ("amount", &amount),
                ("currency", &currency),
            ],
        )],
        action: Some((
            tr.t("mail.invoice.action").to_owned(),
            format!("{}/pay/{uuid}", st.public_url),
        )),
        footer: tr.t("mail.invoice.footer").to_owned(),
    }
}

/// Whether an invoice still waits for payment: open, unconfirmed and not expired.
pub fn waits_for_payment(row: &InvoiceRow, now: Timestamp) -> bool {
    matches!(row.status, Status::Created | Status::Partial)
        && row.confirmed.is_none()
        && now < row.expires_at
}

/// Runs `invoice.remind` jobs.
pub struct ReminderHandler {
    /// The services.
    pub ctx: Ctx,
}

impl ReminderHandler {
    async fn remind(&self, payload: &str) -> Result<(), JobError> {
        let job: Remind = worker::parse_payload(payload)?;
        let st = &self.ctx;
        let now = st.clock.now();
        let mut tx = st.db.begin().await?;
        let row = invoices::by_id(&mut tx, job.invoice_id).await?;
        let waiting = matches!(row.status, Status::Created | Status::Partial)
            && row.confirmed.is_none()
            && now < row.expires_at;
        if waiting {
            let project = kassa_store::projects::by_id(&mut tx, row.project_id).await?;
            let tr = Tr::new(row.locale.unwrap_or_else(|| project_lang(&project)));
            let m = invoice_letter(st, &project, &row.uuid, &row.price, tr).render(&job.to, tr);
            mail::enqueue(&mut tx, &st.keyring, &m, now).await?;
            worker::enqueue(
                &mut tx,
                &job,
                now.saturating_add(Duration::from_secs(job.period_secs.max(3600))),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl JobHandler for ReminderHandler {
    fn kind(&self) -> &'static str {
        Remind::KIND
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self.remind(payload))
    }
}
