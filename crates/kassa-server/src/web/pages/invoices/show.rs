//! The invoice page: everything about one invoice, its payments, timeline and postbacks.

use super::*;

/// The locked quote, in words.
struct QuoteView {
    price: String,
    service_fee: String,
    service_side: String,
    transfer_fee: String,
    transfer_side: String,
    due: String,
    tolerance: String,
    received: String,
    processing: String,
    remaining: String,
}

struct TransferView {
    txid: String,
    /// The transaction's page on a public explorer (live transfers on a real chain).
    explorer: Option<String>,
    amount: String,
    confirmations: i64,
    block: String,
    state: String,
    state_code: &'static str,
    seen: String,
    confirmed: String,
}

struct AttemptView {
    at: String,
    url: String,
    status: String,
    ok: bool,
    excerpt: String,
    latency: String,
    error: String,
}

/// What the viewer may do with the invoice now.
#[derive(Default)]
struct Actions {
    cancel: bool,
    confirm_partial: bool,
    resend: bool,
    resend_no_url: bool,
    simulate: bool,
    /// Currencies to choose from first when simulating on an invoice without one.
    simulate_currencies: Vec<&'static Crypto>,
    send_link: bool,
}

impl Actions {
    fn any(&self) -> bool {
        self.cancel
            || self.confirm_partial
            || self.resend
            || self.resend_no_url
            || self.simulate
            || self.send_link
    }
}

#[derive(Template)]
#[template(path = "invoices/show.html")]
struct ShowPage<'a> {
    page: &'a Page,
    project: &'a ProjectRow,
    inv: &'a InvoiceRow,
    status: StatusView,
    confirmed: String,
    chosen: String,
    rate: String,
    rate_locked: String,
    quote: Option<QuoteView>,
    allowed: String,
    language: String,
    expires: String,
    finished: String,
    link: String,
    qr: String,
    transfers: Vec<TransferView>,
    /// Token transfers of contracts not on the allowlist: (txid, what).
    ignored: Vec<(String, String)>,
    timeline: Vec<(String, String)>,
    attempts: Vec<AttemptView>,
    delivery: Option<String>,
    acts: Actions,
}

fn side_key(s: kassa_core::invoice::Side) -> &'static str {
    match s {
        kassa_core::invoice::Side::Client => "invoices.side.client",
        kassa_core::invoice::Side::Merchant => "invoices.side.merchant",
    }
}

fn quote_view(tr: Tr, row: &InvoiceRow, c: &Crypto) -> Option<QuoteView> {
    let q = row.quote?;
    Some(QuoteView {
        price: crypto_text(q.price, c),
        service_fee: crypto_text(q.service_fee, c),
        service_side: tr.t(side_key(row.service_fee_side)).to_owned(),
        transfer_fee: crypto_text(q.transfer_fee, c),
        transfer_side: tr.t(side_key(row.transfer_fee_side)).to_owned(),
        due: crypto_text(q.due, c),
        tolerance: crypto_text(q.tolerance, c),
        received: crypto_text(row.received, c),
        processing: crypto_text(row.processing, c),
        remaining: match (row.confirmed, q.remaining(row.received)) {
            // Confirmed (by the merchant or within tolerance): nothing is due any more, even
            // if less than the quote arrived.
            (Some(_), short) if !short.is_zero() => tr.f1(
                "invoices.show.settled_short",
                "short",
                &crypto_text(short, c),
            ),
            (_, left) => crypto_text(left, c),
        },
    })
}

fn transfer_view(st: &AppState, tr: Tr, t: &TransferRow, c: Option<&Crypto>) -> TransferView {
    let explorer = kassa_core::currency::network(&t.network)
        .filter(|_| !t.test)
        .and_then(|n| st.chains.get(n)?.transfer_url(&t.txid, t.output_index));
    let (state, state_code) = match t.state {
        TransferState::Seen => ("invoices.transfer.seen_state", "seen"),
        TransferState::Confirmed => ("invoices.transfer.confirmed_state", "confirmed"),
        TransferState::Orphaned => ("invoices.transfer.orphaned_state", "orphaned"),
    };
    TransferView {
        txid: t.txid.clone(),
        explorer,
        amount: c.map_or_else(|| t.amount.to_string(), |c| crypto_text(t.amount, c)),
        confirmations: t.confirmations,
        block: t.block_height.map_or_else(String::new, |h| h.to_string()),
        state: tr.t(state).to_owned(),
        state_code,
        seen: tr.datetime(t.seen_at),
        confirmed: t
            .confirmed_at
            .map_or_else(String::new, |at| tr.datetime(at)),
    }
}

fn attempt_view(tr: Tr, a: &PostbackAttemptRow) -> AttemptView {
    let mut excerpt: String = a.response_excerpt.chars().take(EXCERPT_CHARS).collect();
    if a.response_excerpt.chars().count() > EXCERPT_CHARS {
        excerpt.push('…');
    }
    AttemptView {
        at: tr.datetime(a.at),
        url: a.url.clone(),
        status: a.http_status.map_or_else(String::new, |s| s.to_string()),
        ok: a.error.is_none(),
        excerpt,
        latency: format!("{} ms", a.latency_ms),
        error: a.error.clone().unwrap_or_default(),
    }
}

/// A string detail of a timeline event.
fn detail(d: &Value, key: &str) -> String {
    match d.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The price an event names, written as prices are everywhere (`15.50 EUR`).
fn price_detail(d: &Value) -> String {
    let (amount, code) = (detail(d, "price"), detail(d, "currency"));
    kassa_core::invoice::Price::from_stored(&code, &amount)
        .map_or_else(|| format!("{amount} {code}"), |p| p.to_string())
}

/// A timeline event as a sentence in the viewer's language.
pub(super) fn event_text(tr: Tr, kind: &str, d: &Value) -> String {
    let user = detail(d, "user");
    let by = detail(d, "by");
    let who = if !user.is_empty() {
        user.clone()
    } else if by == "api" {
        tr.t("invoices.by.api").to_owned()
    } else if by.is_empty() {
        tr.t("invoices.by.system").to_owned()
    } else {
        by.clone()
    };
    let amount_args = |late_key: &str, key: &str| {
        let k = if d.get("late").and_then(Value::as_bool) == Some(true) {
            late_key
        } else {
            key
        };
        tr.f(
            k,
            &[
                ("amount", &detail(d, "amount")),
                ("currency", &detail(d, "currency")),
                ("txid", &detail(d, "txid")),
            ],
        )
    };
    let status_text = |key: &str| {
        let code = detail(d, key);
        Status::parse(&code).map_or(code, |s| tr.t(status_key(s)).to_owned())
    };
    match kind {
        "created" if d.get("static_wallet").is_some() => tr.f1(
            "invoices.event.created_static",
            "customer",
            &detail(d, "identify"),
        ),
        "created" if !user.is_empty() => tr.f(
            "invoices.event.created_by",
            &[("price", &price_detail(d)), ("user", &user)],
        ),
        "created" => tr.f1("invoices.event.created", "price", &price_detail(d)),
        "currency_chosen" => tr.f(
            "invoices.event.currency_chosen",
            &[
                ("currency", &detail(d, "currency")),
                ("amount", &detail(d, "amount")),
                ("address", &detail(d, "address")),
                ("rate", &detail(d, "rate_usd")),
                ("source", &detail(d, "rate_source")),
            ],
        ),
        "payment_seen" => amount_args("invoices.event.payment_seen", "invoices.event.payment_seen"),
        "other_currency_seen" => amount_args(
            "invoices.event.other_currency_seen",
            "invoices.event.other_currency_seen",
        ),
        "payment_dropped" => amount_args(
            "invoices.event.payment_dropped",
            "invoices.event.payment_dropped",
        ),
        "payment_reversed" => amount_args(
            "invoices.event.payment_reversed",
            "invoices.event.payment_reversed",
        ),
        "reversal_shortfall" => amount_args(
            "invoices.event.reversal_shortfall",
            "invoices.event.reversal_shortfall",
        ),
        "other_currency_gone" => amount_args(
            "invoices.event.other_currency_gone",
            "invoices.event.other_currency_gone",
        ),
        "other_currency_confirmed" => amount_args(
            "invoices.event.other_currency_confirmed",
            "invoices.event.other_currency_confirmed",
        ),
        "payment_confirmed" => amount_args(
            "invoices.event.payment_confirmed_late",
            "invoices.event.payment_confirmed",
        ),
        "status_changed" => tr.f(
            "invoices.event.status_changed",
            &[("from", &status_text("from")), ("to", &status_text("to"))],
        ),
        "confirmed" => match Confirmation::parse(&by) {
            Some(Confirmation::Tolerance) => tr.t("invoices.event.confirmed_tolerance").to_owned(),
            Some(Confirmation::Merchant) => tr.t("invoices.event.confirmed_merchant").to_owned(),
            _ => tr.t("invoices.event.confirmed_payment").to_owned(),
        },
        "postback_queued" => tr.f1("invoices.event.postback_queued", "url", &detail(d, "url")),
        "postback_resent" => tr.f1("invoices.event.postback_resent", "user", &who),
        "canceled" | "partial_confirmed" => {
            let (api, by_user, other) = if kind == "canceled" {
                (
                    "invoices.event.canceled_api",
                    "invoices.event.canceled_by",
                    "invoices.event.canceled",
                )
            } else {
                (
                    "invoices.event.partial_confirmed_api",
                    "invoices.event.partial_confirmed_by",
                    "invoices.event.partial_confirmed",
                )
            };
            if !user.is_empty() {
                tr.f1(by_user, "user", &user)
            } else if by == "api" {
                tr.t(api).to_owned()
            } else {
                tr.f1(other, "by", &who)
            }
        }
        "expired" => tr.t("invoices.event.expired").to_owned(),
        "link_sent" if !user.is_empty() => tr.f(
            "invoices.event.link_sent_by",
            &[("to", &detail(d, "to")), ("user", &user)],
        ),
        "link_sent" => tr.f1("invoices.event.link_sent", "to", &detail(d, "to")),
        other => tr.f(
            "invoices.event.other",
            &[
                ("kind", &other),
                ("details", &crate::web::pages::activity::describe(d)),
            ],
        ),
    }
}

fn actions(
    st: &AppState,
    me: &Viewer,
    project: &ProjectRow,
    row: &InvoiceRow,
    now: Timestamp,
) -> Actions {
    let act = me.grants.allows(Section::InvoiceActions);
    let create = me.grants.allows(Section::CreateInvoices);
    let open = row.confirmed.is_none() && matches!(row.status, Status::Created | Status::Partial);
    let has_url = !project.settings.notify_url.trim().is_empty();
    let simulate = act && row.test && open;
    Actions {
        cancel: act
            && row.status == Status::Created
            && row.received.is_zero()
            && row.processing.is_zero(),
        confirm_partial: act && row.status == Status::Partial && row.confirmed.is_none(),
        resend: act && row.confirmed.is_some() && has_url,
        resend_no_url: act && row.confirmed.is_some() && !has_url,
        simulate,
        simulate_currencies: if simulate && row.currency.is_none() {
            svc::allowed_for(st, project, row)
        } else {
            Vec::new()
        },
        send_link: create && svc::waits_for_payment(row, now),
    }
}

/// `GET /projects/{id}/invoices/{uuid}`
pub async fn show(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path((id, uuid)): Path<(ProjectId, String)>,
) -> Result<Response, WebError> {
    let (project, inv) = visible_invoice(&st, &me, id, &uuid).await?;
    let mut c = st.db.conn().await?;
    let transfers = store::transfers_of(&mut c, inv.id).await?;
    let ignored = kassa_store::ignored::of_invoice(&mut c, inv.id).await?;
    let events = store::events(&mut c, inv.id).await?;
    let attempts = store::postbacks_of(&mut c, inv.id).await?;
    let job = kassa_store::postbacks::delivery_of(&mut c, inv.id).await?;
    drop(c);
    let page = Page::new(&ctx, "invoices.invoice");
    let tr = page.tr;
    // Where the postback stands: being retried (and when next), or given up.
    let delivery = job.and_then(|(state, tries, next)| match state.as_str() {
        "queued" if tries > 0 => Some(tr.f(
            "invoices.show.postback_retrying",
            &[("tries", &tries), ("next", &tr.datetime(next))],
        )),
        "queued" => Some(tr.t("invoices.show.postback_queued").to_owned()),
        "running" => Some(tr.t("invoices.show.postback_sending").to_owned()),
        "failed" => Some(tr.f1("invoices.show.postback_gave_up", "tries", &tries)),
        _ => None,
    });
    let crypto = crypto_of(&inv);
    let link = format!("{}/pay/{}", st.public_url, inv.uuid);
    let qr = qr::svg(&link, tr.t("invoices.show.qr"));
    let rate = match (crypto, inv.rate_usd) {
        (Some(c), Some(r)) => format!("1 {} = {r} USD", c.symbol),
        _ => String::new(),
    };
    // An empty list is "whatever the project accepts", which may change later.
    let allowed = if inv.allowed_currencies.is_empty() {
        tr.t("invoices.show.all_currencies").to_owned()
    } else {
        svc::allowed_for(&st, &project, &inv)
            .iter()
            .map(|c| c.code)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let body = ShowPage {
        page: &page,
        project: &project,
        inv: &inv,
        status: status_view(tr, &inv),
        confirmed: inv
            .confirmed
            .map_or_else(String::new, |c| tr.t(confirmation_key(c)).to_owned()),
        chosen: crypto.map_or_else(String::new, |c| {
            format!("{} · {} ({})", c.symbol, c.network.fullname, c.code)
        }),
        rate,
        rate_locked: inv
            .rate_locked_at
            .map_or_else(String::new, |t| tr.datetime(t)),
        quote: crypto.and_then(|c| quote_view(tr, &inv, c)),
        allowed,
        language: inv.locale.map_or_else(
            || tr.t("invoices.show.any_language").to_owned(),
            |l| l.native_name().to_owned(),
        ),
        expires: tr.datetime(inv.expires_at),
        finished: inv.finished_at.map_or_else(String::new, |t| tr.datetime(t)),
        link,
        qr,
        transfers: transfers
            .iter()
            .map(|t| transfer_view(&st, tr, t, crypto))
            .collect(),
        ignored: ignored
            .iter()
            .map(|i| {
                let amount = i.amount.map_or_else(|| "?".to_owned(), |a| a.to_string());
                let what = tr.f(
                    "invoices.show.ignored_line",
                    &[
                        ("amount", &amount),
                        ("contract", &i.contract),
                        ("block", &i.block_height),
                    ],
                );
                (i.txid.clone(), what)
            })
            .collect(),
        timeline: events
            .iter()
            .map(|(kind, d, at)| (tr.datetime(*at), event_text(tr, kind, d)))
            .collect(),
        attempts: attempts.iter().map(|a| attempt_view(tr, a)).collect(),
        delivery,
        acts: actions(&st, &me, &project, &inv, st.clock.now()),
    }
    .render()?;
    Ok(html(body))
}
