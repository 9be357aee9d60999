//! The actions on the invoice page: cancel, confirm a partial payment, resend the postback, simulate a payment, e-mail the link.

use super::*;

/// The flash message for an action the invoice services refused; internal failures stay
/// errors.
fn refusal(e: InvoiceError) -> Result<&'static str, WebError> {
    Ok(match e {
        InvoiceError::Transition(t) => match t {
            InvalidTransition::NotCancellable => "invoices.flash.not_cancellable",
            InvalidTransition::NotPartial => "invoices.flash.not_partial",
            InvalidTransition::CurrencyLocked => "invoices.flash.currency_locked",
            InvalidTransition::NoCurrency => "invoices.flash.no_currency",
            InvalidTransition::NothingDue => "invoices.flash.nothing_due",
        },
        InvoiceError::Archived => "invoices.flash.archived",
        InvoiceError::CurrencyUnavailable(_) | InvoiceError::CurrencyNotAllowed(_) => {
            "invoices.flash.currency_unavailable"
        }
        InvoiceError::NoRate(_) => "invoices.flash.no_rate",
        InvoiceError::Quote(_) | InvoiceError::Bound(_) | InvoiceError::Lifetime => {
            "invoices.flash.refused"
        }
        InvoiceError::Service(s) => return Err(s.into()),
    })
}

fn action_refusal(e: ActionError) -> Result<&'static str, WebError> {
    match e {
        ActionError::NotConfirmed => Ok("invoices.flash.not_confirmed"),
        ActionError::NoNotifyUrl => Ok("invoices.flash.no_notify_url"),
        ActionError::NotPayable => Ok("invoices.flash.not_payable"),
        ActionError::NotTest => Ok("invoices.flash.not_test"),
        ActionError::Invoice(e) => refusal(e),
    }
}

/// `POST /projects/{id}/invoices/{uuid}/cancel`
pub async fn cancel(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
) -> Result<Response, WebError> {
    let (project, row) = visible_invoice(&st, &me, id, &uuid).await?;
    Ok(match svc::cancel_as(&st, row.id, &ctx.actor(&me)).await {
        Ok(_) => back(&st, &project, &row, 's', "invoices.flash.canceled"),
        Err(e) => back(&st, &project, &row, 'e', refusal(e)?),
    })
}

/// `POST /projects/{id}/invoices/{uuid}/confirm-partial`
pub async fn confirm_partial(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
) -> Result<Response, WebError> {
    let (project, row) = visible_invoice(&st, &me, id, &uuid).await?;
    Ok(
        match svc::confirm_partial_as(&st, row.id, &ctx.actor(&me)).await {
            Ok(_) => back(&st, &project, &row, 's', "invoices.flash.partial_confirmed"),
            Err(e) => back(&st, &project, &row, 'e', refusal(e)?),
        },
    )
}

/// Where the resend button was pressed.
#[derive(Deserialize, Default)]
pub struct ResendInput {
    /// `integration`: the project's integration page; otherwise the invoice page.
    #[serde(default)]
    back: String,
}

/// `POST /projects/{id}/invoices/{uuid}/resend-postback`
pub async fn resend_postback(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
    FormData(input): FormData<ResendInput>,
) -> Result<Response, WebError> {
    let (project, row) = visible_invoice(&st, &me, id, &uuid).await?;
    let (kind, key) = match svc::resend_postback(&st, row.id, &ctx.actor(&me)).await {
        Ok(()) => ('s', "invoices.flash.postback_resent"),
        Err(e) => ('e', action_refusal(e)?),
    };
    Ok(if input.back == "integration" {
        redirect_with_flash(
            &st,
            &format!("/projects/{}/integration#postbacks", project.id),
            kind,
            key,
        )
    } else {
        back(&st, &project, &row, kind, key)
    })
}

/// The simulation form.
#[derive(Deserialize, Default)]
pub struct SimulateInput {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    currency: String,
}

/// `POST /projects/{id}/invoices/{uuid}/simulate`: confirms a test invoice without payment
/// (choosing its currency first when the payer has not).
pub async fn simulate(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
    FormData(input): FormData<SimulateInput>,
) -> Result<Response, WebError> {
    let (project, row) = visible_invoice(&st, &me, id, &uuid).await?;
    let Some(outcome) = Simulated::parse(&input.outcome) else {
        return Ok(back(&st, &project, &row, 'e', "invoices.flash.bad_outcome"));
    };
    if !row.test {
        return Ok(back(&st, &project, &row, 'e', "invoices.flash.not_test"));
    }
    let row = match (&row.currency, currency::crypto(&input.currency)) {
        (Some(_), _) => row,
        (None, None) => return Ok(back(&st, &project, &row, 'e', "invoices.flash.no_currency")),
        (None, Some(c)) => match svc::choose_currency(&st, &project, row.id, c).await {
            Ok(chosen) => chosen,
            Err(e) => return Ok(back(&st, &project, &row, 'e', refusal(e)?)),
        },
    };
    Ok(
        match svc::simulate_as(&st, &row, outcome, &ctx.actor(&me)).await {
            Ok(_) => back(&st, &project, &row, 's', "invoices.flash.simulated"),
            Err(e) => back(&st, &project, &row, 'e', action_refusal(e)?),
        },
    )
}

/// The "send by e-mail" form.
#[derive(Deserialize, Default)]
pub struct SendLinkInput {
    #[serde(default)]
    email: String,
}

/// `POST /projects/{id}/invoices/{uuid}/send-link`
pub async fn send_link(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
    FormData(input): FormData<SendLinkInput>,
) -> Result<Response, WebError> {
    let (project, row) = visible_invoice(&st, &me, id, &uuid).await?;
    let Ok(to) = Email::parse(&input.email) else {
        return Ok(back(&st, &project, &row, 'e', "invoices.flash.bad_email"));
    };
    Ok(
        match svc::send_link(&st, &project, row.id, &to, &ctx.actor(&me)).await {
            Ok(()) => back(&st, &project, &row, 's', "invoices.flash.link_sent"),
            Err(e) => back(&st, &project, &row, 'e', action_refusal(e)?),
        },
    )
}
