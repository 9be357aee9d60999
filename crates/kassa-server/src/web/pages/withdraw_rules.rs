//! Automatic withdrawals (`/balance/rules`): one rule per currency, to a saved address, by
//! threshold or schedule, with its recent runs. Creating, changing or deleting one needs the
//! password and a fresh 2FA code (2FA must be on). The rules themselves are
//! `kassa_service::withdrawals::rules`.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use kassa_core::WithdrawalAddressId;
use kassa_core::currency;
use kassa_service::accounts;
use kassa_service::audit::Actor;
use kassa_service::withdrawals::rules::{self, RuleError};
use kassa_store::withdrawal_setup::{self as setup, Period, Trigger};
use serde::Deserialize;

use super::FormData;
use super::withdraw::{confirmed, withdrawable};
use crate::state::AppState;
use crate::web::context::{Me, Page, Viewer, WebCtx, html, redirect_with_flash};
use crate::web::errors::WebError;
use crate::web::forms::FieldErrors;

/// A rule as listed.
struct RuleView {
    network: String,
    address: String,
    when: String,
    next: Option<String>,
    last: Option<String>,
    runs: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "balance/rules.html")]
struct RulesPage<'a> {
    page: &'a Page,
    rules: Vec<RuleView>,
    networks: Vec<(&'static str, &'static str)>,
    addresses: Vec<(i64, String)>,
    input: &'a RuleInput,
    errors: &'a FieldErrors,
    totp: bool,
}

/// The rule form as typed.
#[derive(Deserialize, Default)]
pub struct RuleInput {
    #[serde(default)]
    network: String,
    #[serde(default)]
    address_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    offset: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

async fn render(
    st: &AppState,
    ctx: &WebCtx,
    me: &Viewer,
    input: &RuleInput,
    errors: &FieldErrors,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, "rules.title");
    let tr = page.tr;
    let merchant = me.user.merchant_id;
    let mut conn = st.db.conn().await?;
    let saved = setup::addresses(&mut conn, merchant).await?;
    let mut rules = Vec::new();
    for r in setup::rules(&mut conn, merchant).await? {
        let address = saved
            .iter()
            .find(|a| a.id == r.address)
            .map_or_else(String::new, |a| format!("{} — {}", a.label, a.address));
        let when = match &r.trigger {
            Trigger::Threshold(usd) => tr.f1("rules.threshold_short", "usd", usd),
            Trigger::Schedule(s) => {
                let sign = if s.utc_offset_minutes < 0 { '-' } else { '+' };
                let off = s.utc_offset_minutes.unsigned_abs();
                let time = format!(
                    "{:02}:{:02} UTC{sign}{:02}:{:02}",
                    s.minute_of_day / 60,
                    s.minute_of_day % 60,
                    off / 60,
                    off % 60
                );
                match s.period {
                    Period::Daily => format!("{} {time}", tr.t("rules.daily")),
                    Period::Weekly | Period::Monthly => format!(
                        "{} ({}) {time}",
                        tr.t(&format!("rules.{}", s.period.as_str())),
                        s.day
                    ),
                }
            }
        };
        let runs = setup::runs(&mut conn, r.id, 10)
            .await?
            .into_iter()
            .map(|(_, outcome, at)| (tr.datetime(at), outcome))
            .collect();
        rules.push(RuleView {
            network: r.network.clone(),
            address,
            when,
            next: r.next_run_at.map(|t| tr.datetime(t)),
            last: r.last_run_at.map(|t| tr.datetime(t)),
            runs,
        });
    }
    drop(conn);
    Ok(html(
        RulesPage {
            page: &page,
            rules,
            networks: withdrawable(st)
                .iter()
                .map(|c| (c.network.code, c.network.fullname))
                .collect(),
            addresses: saved
                .into_iter()
                .map(|a| {
                    (
                        a.id.get(),
                        format!("{} ({}) — {}", a.label, a.network, a.address),
                    )
                })
                .collect(),
            input,
            errors,
            totp: me.user.totp_secret.is_some(),
        }
        .render()?,
    ))
}

/// `GET /balance/rules`
pub async fn page(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    let input = RuleInput {
        kind: "threshold".into(),
        period: "daily".into(),
        time: "09:00".into(),
        offset: "+00:00".into(),
        ..RuleInput::default()
    };
    render(&st, &ctx, &me, &input, &FieldErrors::new()).await
}

/// `POST /balance/rules`
pub async fn save(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    FormData(input): FormData<RuleInput>,
) -> Result<Response, WebError> {
    let tr = kassa_service::i18n::Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    let chain = withdrawable(&st)
        .into_iter()
        .find(|c| c.network.code == input.network.trim());
    let address = input.address_id.trim().parse::<i64>().ok();
    if chain.is_none() {
        errors.add(tr, "network", "withdraw.error.currency");
    }
    if address.is_none() {
        errors.add(tr, "address_id", "rules.error.address");
    }
    let trigger = if input.kind == "schedule" {
        match rules::parse_schedule(&input.period, &input.time, &input.day, &input.offset) {
            Ok(s) => Some(Trigger::Schedule(s)),
            Err(RuleError::Schedule(field)) => {
                let (name, key) = match field {
                    "day" => ("day", "rules.error.day"),
                    "offset" => ("offset", "rules.error.offset"),
                    "period" => ("period", "rules.error.time"),
                    _ => ("time", "rules.error.time"),
                };
                errors.add(tr, name, key);
                None
            }
            Err(_) => None,
        }
    } else {
        match kassa_core::money::parse_decimal(input.threshold.trim()) {
            Some(d) if d > kassa_core::Decimal::ZERO => {
                Some(Trigger::Threshold(d.normalize().to_string()))
            }
            _ => {
                errors.add(tr, "threshold", "rules.error.threshold");
                None
            }
        }
    };
    if input.password.is_empty() {
        errors.add(tr, "password", "withdraw.error.password");
    }
    if let (true, Some(chain), Some(address), Some(trigger)) =
        (errors.is_empty(), chain, address, trigger)
    {
        let c =
            accounts::confirm_sensitive(&st, &me.user, &input.password, &input.code, true).await?;
        if confirmed(tr, c, &mut errors) {
            let actor = Actor::user(me.user.id, &me.user.email, &ctx.client);
            match rules::save(
                &st,
                me.user.merchant_id,
                chain.network,
                WithdrawalAddressId::new(address),
                &trigger,
                &actor,
            )
            .await
            {
                Ok(_) => {
                    return Ok(redirect_with_flash(
                        &st,
                        "/balance/rules",
                        's',
                        "flash.rule_saved",
                    ));
                }
                Err(RuleError::Store(e)) => return Err(e.into()),
                Err(RuleError::Address) => errors.add(tr, "address_id", "rules.error.address"),
                Err(RuleError::Threshold) => errors.add(tr, "threshold", "rules.error.threshold"),
                Err(e) => errors.add_text("network", e.to_string()),
            }
        }
    }
    render(&st, &ctx, &me, &input, &errors).await
}

/// The delete form: the password and a fresh code.
#[derive(Deserialize, Default)]
pub struct DeleteInput {
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

/// `POST /balance/rules/{network}/delete`
pub async fn delete(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(network): Path<String>,
    FormData(input): FormData<DeleteInput>,
) -> Result<Response, WebError> {
    let tr = kassa_service::i18n::Tr::new(ctx.lang);
    let network = currency::network(network.trim()).ok_or(WebError::NotFound)?;
    let mut errors = FieldErrors::new();
    let c = accounts::confirm_sensitive(&st, &me.user, &input.password, &input.code, true).await?;
    if confirmed(tr, c, &mut errors) {
        let actor = Actor::user(me.user.id, &me.user.email, &ctx.client);
        if !rules::delete(&st, me.user.merchant_id, network, &actor).await? {
            return Err(WebError::NotFound);
        }
        return Ok(redirect_with_flash(
            &st,
            "/balance/rules",
            's',
            "flash.rule_deleted",
        ));
    }
    let form = RuleInput::default();
    render(&st, &ctx, &me, &form, &errors).await
}
