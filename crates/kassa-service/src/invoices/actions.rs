//! What the merchant (or the test panel) does to an invoice: simulated payments, cancel,
//! confirm a partial payment, resend the postback, e-mail the payment link.

use kassa_core::InvoiceId;
use kassa_core::account::Email;
use kassa_core::currency::{self};
use kassa_core::money::Amount;
use kassa_store::invoices::{self, InvoiceRow};
use kassa_store::projects::ProjectRow;
use serde_json::json;

use crate::Ctx;
use crate::i18n::Tr;
use crate::mail::{self};

use super::*;
use crate::payments::{Recorded, TransferReport, record_transfer, record_transfer_logged};

/// Simulates a payment (test invoices only): the same path a chain transfer takes, with a
/// made-up transaction id. `confirmed: false` leaves it seen but unconfirmed.
pub async fn simulate_payment(
    st: &Ctx,
    row: &InvoiceRow,
    amount: Amount,
    confirmed: bool,
) -> Result<Recorded, InvoiceError> {
    simulate_payment_logged(st, row, amount, confirmed, None).await
}

/// [`simulate_payment`], writing `logged` to the activity log with the payment's last step.
async fn simulate_payment_logged(
    st: &Ctx,
    row: &InvoiceRow,
    amount: Amount,
    confirmed: bool,
    logged: Option<&Logged<'_>>,
) -> Result<Recorded, InvoiceError> {
    let (Some(code), Some(address)) = (row.currency.as_deref(), row.address.as_deref()) else {
        return Err(kassa_core::invoice::InvalidTransition::NoCurrency.into());
    };
    let crypto =
        currency::crypto(code).ok_or_else(|| InvoiceError::CurrencyUnavailable(code.into()))?;
    let seed = st.keyring.derive_key("simulated-network");
    let counter: u64 = rand::random();
    let txid = kassa_chain::simulated::transaction_id(&seed, crypto.network, counter);
    let mut report = TransferReport {
        network: crypto.network,
        txid: &txid,
        index: 0,
        address,
        amount,
        currency: crypto,
        confirmed: false,
        confirmations: 0,
        test: true,
    };
    if confirmed {
        record_transfer(st, &report).await?;
        report.confirmed = true;
        report.confirmations = 1;
        return record_transfer_logged(st, &report, logged).await;
    }
    record_transfer_logged(st, &report, logged).await?;
    Ok(Recorded::Invoice(row.id))
}

/// What "confirm without payment" simulates on a test invoice (the dashboard and the payment
/// page offer all three).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simulated {
    /// Exactly what is still due.
    Full,
    /// Half of what is still due (at least one base unit short of it).
    Partial,
    /// What is still due plus a tenth of the amount due.
    Over,
}

impl Simulated {
    /// The form value: `full`, `partial` or `over`.
    pub fn as_str(self) -> &'static str {
        match self {
            Simulated::Full => "full",
            Simulated::Partial => "partial",
            Simulated::Over => "over",
        }
    }

    /// Parses the form value.
    pub fn parse(s: &str) -> Option<Simulated> {
        [Simulated::Full, Simulated::Partial, Simulated::Over]
            .into_iter()
            .find(|o| o.as_str() == s.trim())
    }
}

/// The payment `outcome` needs on `row`, which must have a locked quote; `None` when nothing
/// is due any more and a full or partial payment makes no sense.
pub fn simulated_amount(row: &InvoiceRow, outcome: Simulated) -> Option<Amount> {
    let due = row.quote?.due;
    let missing = due.saturating_sub(row.received);
    match outcome {
        Simulated::Full => (!missing.is_zero()).then_some(missing),
        Simulated::Partial => {
            let half = Amount::from_base(missing.base() / 2);
            (!half.is_zero()).then_some(half)
        }
        Simulated::Over => missing.checked_add(Amount::from_base((due.base() / 10).max(1))),
    }
}

/// Confirms a test invoice without a payment: simulates the payment `outcome` needs, through
/// the same path as any transfer.
pub async fn simulate(
    st: &Ctx,
    row: &InvoiceRow,
    outcome: Simulated,
) -> Result<Recorded, InvoiceError> {
    simulate_logged(st, row, outcome, None).await
}

/// [`simulate`] from the dashboard: test invoices only, written to the activity log with the
/// confirming payment.
pub async fn simulate_as(
    st: &Ctx,
    row: &InvoiceRow,
    outcome: Simulated,
    actor: &Actor<'_>,
) -> Result<Recorded, ActionError> {
    if !row.test {
        return Err(ActionError::NotTest);
    }
    Ok(simulate_logged(st, row, outcome, Some(actor)).await?)
}

async fn simulate_logged(
    st: &Ctx,
    row: &InvoiceRow,
    outcome: Simulated,
    actor: Option<&Actor<'_>>,
) -> Result<Recorded, InvoiceError> {
    if row.quote.is_none() {
        return Err(kassa_core::invoice::InvalidTransition::NoCurrency.into());
    }
    let amount =
        simulated_amount(row, outcome).ok_or(kassa_core::invoice::InvalidTransition::NothingDue)?;
    let logged = actor.map(|a| {
        let code = row.currency.as_deref().unwrap_or_default();
        let decimals = currency::crypto(code).map_or(0, |c| c.decimals);
        Logged {
            actor: a,
            action: "invoice.simulated",
            details: json!({
                "outcome": outcome.as_str(),
                "amount": format!("{} {code}", amount.to_decimal_string(decimals)),
            }),
        }
    });
    simulate_payment_logged(st, row, amount, true, logged.as_ref()).await
}

/// What the merchant does to an invoice besides its payments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Cancel it (`created`, nothing paid or in flight).
    Cancel,
    /// Accept the partial payment that arrived.
    Accept,
}

/// Cancels a `created` invoice without payments.
pub async fn cancel(st: &Ctx, invoice: InvoiceId, by: &str) -> Result<InvoiceRow, InvoiceError> {
    merchant_action(st, invoice, Action::Cancel, by, None).await
}

/// [`cancel`] from the dashboard, written to the activity log.
pub async fn cancel_as(
    st: &Ctx,
    invoice: InvoiceId,
    actor: &Actor<'_>,
) -> Result<InvoiceRow, InvoiceError> {
    merchant_action(st, invoice, Action::Cancel, "dashboard", Some(actor)).await
}

/// The merchant accepts a partial payment.
pub async fn confirm_partial(
    st: &Ctx,
    invoice: InvoiceId,
    by: &str,
) -> Result<InvoiceRow, InvoiceError> {
    merchant_action(st, invoice, Action::Accept, by, None).await
}

/// [`confirm_partial`] from the dashboard, written to the activity log.
pub async fn confirm_partial_as(
    st: &Ctx,
    invoice: InvoiceId,
    actor: &Actor<'_>,
) -> Result<InvoiceRow, InvoiceError> {
    merchant_action(st, invoice, Action::Accept, "dashboard", Some(actor)).await
}

/// Runs an action of the merchant's (`by` names who; a dashboard `actor` is also written to the
/// activity log as `invoice.<kind>`): the fact is stored, and the invoice is re-evaluated with
/// it, with its event, in one transaction.
async fn merchant_action(
    st: &Ctx,
    invoice: InvoiceId,
    action: Action,
    by: &str,
    actor: Option<&Actor<'_>>,
) -> Result<InvoiceRow, InvoiceError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let row = invoices::lock(&mut tx, invoice).await?;
    let state = state_of(&row);
    let kind = match action {
        Action::Cancel => {
            state.check_cancel()?;
            invoices::set_canceled(&mut tx, invoice, now).await?;
            "canceled"
        }
        Action::Accept => {
            state.check_accept()?;
            invoices::set_accepted(&mut tx, invoice, now).await?;
            "partial_confirmed"
        }
    };
    let row = invoices::lock(&mut tx, invoice).await?;
    let who = actor.map_or_else(|| json!({"by": by}), Actor::timeline);
    let change =
        crate::payments::reevaluate(&mut tx, st, &row, now, |_, _| vec![(kind, who)]).await?;
    if let Some(a) = actor {
        let details = json!({
            "before": {"status": change.from.as_str()},
            "after": {"status": change.to.as_str()},
        });
        let name = format!("invoice.{kind}");
        log_action(&mut tx, a, row.merchant_id, &row.uuid, &name, details, now).await?;
    }
    tx.commit().await?;
    st.jobs.wake();
    Ok(invoices::by_id(&mut st.db.conn().await?, invoice).await?)
}

/// Sends the postback of a confirmed invoice again (from the dashboard): a fresh
/// `postback.send` job, in one transaction with a timeline event and the activity entry.
pub async fn resend_postback(
    st: &Ctx,
    invoice: InvoiceId,
    actor: &Actor<'_>,
) -> Result<(), ActionError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let row = invoices::lock(&mut tx, invoice).await?;
    if row.confirmed.is_none() {
        return Err(ActionError::NotConfirmed);
    }
    let project = kassa_store::projects::by_id(&mut tx, row.project_id).await?;
    let url = project.settings.notify_url.trim();
    if url.is_empty() {
        return Err(ActionError::NoNotifyUrl);
    }
    invoices::add_event(&mut tx, row.id, "postback_resent", &actor.timeline(), now).await?;
    crate::postbacks::enqueue(&mut tx, st, &row, now).await?;
    log_action(
        &mut tx,
        actor,
        row.merchant_id,
        &row.uuid,
        "invoice.postback_resent",
        json!({"url": url}),
        now,
    )
    .await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(())
}

/// E-mails the payment link of an invoice that waits for payment to `to` (from the
/// dashboard), in the invoice's language. The letter is a `mail.send` job in one transaction
/// with a timeline event and the activity entry.
pub async fn send_link(
    st: &Ctx,
    project: &ProjectRow,
    invoice: InvoiceId,
    to: &Email,
    actor: &Actor<'_>,
) -> Result<(), ActionError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let row = invoices::lock(&mut tx, invoice).await?;
    if !waits_for_payment(&row, now) {
        return Err(ActionError::NotPayable);
    }
    let tr = Tr::new(row.locale.unwrap_or_else(|| project_lang(project)));
    let m = invoice_letter(st, project, &row.uuid, &row.price, tr).render(to.as_str(), tr);
    mail::enqueue(&mut tx, &st.keyring, &m, now).await?;
    let mut details = json!({"to": to.as_str()});
    actor.sign(&mut details);
    invoices::add_event(&mut tx, row.id, "link_sent", &details, now).await?;
    log_action(
        &mut tx,
        actor,
        row.merchant_id,
        &row.uuid,
        "invoice.link_sent",
        json!({"to": to.as_str()}),
        now,
    )
    .await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(())
}
