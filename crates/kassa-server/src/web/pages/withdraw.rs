//! Withdrawing from the dashboard: the form (`/balance/withdraw`), saved addresses
//! (`/balance/addresses`) and the withdrawal API key (`/account/withdrawal-key`). Every change
//! is confirmed with the password and, when 2FA is on, a fresh authenticator code; saved
//! addresses and the API key need 2FA to be on. The withdrawal itself is
//! `kassa_service::withdrawals::requests`.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use kassa_core::currency::Crypto;
use kassa_core::money::Amount;
use kassa_core::{Timestamp, WithdrawalAddressId};
use kassa_service::accounts::{self, Confirmation};
use kassa_service::audit::Actor;
use kassa_service::chains::LiveChain;
use kassa_service::withdrawals;
use kassa_service::withdrawals::addresses::{self, SaveError};
use kassa_service::withdrawals::requests::{self, Ask, AskError, Asked, Quote};
use kassa_store::withdrawal_requests::{Source, Stage};
use kassa_store::withdrawal_setup::{self as setup, AddressRow};
use serde::Deserialize;

use super::{FormData, QueryData};
use crate::state::AppState;
use crate::web::context::{Me, Page, Viewer, WebCtx, html, redirect_with_flash};
use crate::web::errors::WebError;
use crate::web::forms::FieldErrors;

/// The networks that can be withdrawn from here, in the catalogue's order.
pub fn withdrawable(st: &AppState) -> Vec<std::sync::Arc<LiveChain>> {
    st.chains
        .all()
        .iter()
        .filter(|c| !withdrawals::currencies(c).is_empty())
        .cloned()
        .collect()
}

/// Every currency that can be withdrawn here, with its network: each network's coin, then
/// the tokens it takes.
fn assets(st: &AppState) -> Vec<(std::sync::Arc<LiveChain>, &'static Crypto)> {
    withdrawable(st)
        .into_iter()
        .flat_map(|c| {
            withdrawals::currencies(&c)
                .into_iter()
                .map(move |x| (c.clone(), x))
        })
        .collect()
}

fn asset_of(st: &AppState, code: &str) -> Option<(std::sync::Arc<LiveChain>, &'static Crypto)> {
    let code = code.trim();
    assets(st)
        .into_iter()
        .find(|(_, c)| c.code.eq_ignore_ascii_case(code))
}

/// A saved address as offered in the form.
struct AddressChoice {
    id: i64,
    label: String,
    address: String,
    usable: bool,
    until: String,
}

#[derive(Template)]
#[template(path = "balance/withdraw.html")]
struct WithdrawPage<'a> {
    page: &'a Page,
    currencies: Vec<&'static str>,
    crypto: Option<&'static Crypto>,
    quote: Option<QuoteView>,
    quote_error: Option<String>,
    saved: Vec<AddressChoice>,
    input: &'a WithdrawInput,
    errors: &'a FieldErrors,
    totp: bool,
    approval: Option<String>,
    amount_hint: String,
    everything_label: String,
}

/// The quote as shown.
struct QuoteView {
    available: String,
    fee: String,
    max: String,
    minimum: String,
    owed: Option<String>,
    watch_only: Option<String>,
    gas_by_service: Option<String>,
}

fn quote_view(tr: kassa_service::i18n::Tr, c: &Crypto, coin: &Crypto, q: &Quote) -> QuoteView {
    let d = |a: Amount| a.to_decimal_string(c.decimals);
    QuoteView {
        available: d(q.available),
        fee: d(q.fee),
        max: d(q.max),
        minimum: d(q.minimum),
        owed: (!q.owed.is_zero())
            .then(|| tr.f("withdraw.owed", &[("owed", &d(q.owed)), ("code", &c.code)])),
        watch_only: q
            .watch_only
            .then(|| tr.f1("withdraw.watch_only", "code", &c.code)),
        gas_by_service: q.gas_by_service.map(|gas| {
            tr.f(
                "withdraw.gas_by_service",
                &[
                    ("gas", &gas.to_decimal_string(coin.decimals)),
                    ("coin", &coin.code),
                ],
            )
        }),
    }
}

/// The form as typed (kept to show it again).
#[derive(Deserialize, Default)]
pub struct WithdrawInput {
    #[serde(default)]
    currency: String,
    #[serde(default)]
    address_id: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    everything: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

async fn render_form(
    st: &AppState,
    ctx: &WebCtx,
    me: &Viewer,
    input: &WithdrawInput,
    errors: &FieldErrors,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, "withdraw.title");
    let tr = page.tr;
    let assets = assets(st);
    let chosen = if input.currency.trim().is_empty() {
        assets.first().cloned()
    } else {
        asset_of(st, &input.currency)
    };
    let (mut quote, mut quote_error, mut saved) = (None, None, Vec::new());
    if let Some((chain, crypto)) = &chosen {
        match requests::quote(st, me.user.merchant_id, chain.network, crypto).await {
            Ok(q) => quote = Some(quote_view(tr, crypto, chain.currency, &q)),
            Err(e) => quote_error = Some(e.to_string()),
        }
        let now = st.clock.now();
        saved = setup::addresses(&mut st.db.conn().await?, me.user.merchant_id)
            .await?
            .into_iter()
            .filter(|a| a.network == chain.network.code)
            .map(|a| AddressChoice {
                id: a.id.get(),
                usable: a.usable_at <= now,
                until: tr.f1("withdraw.cooling", "until", &tr.datetime(a.usable_at)),
                label: a.label,
                address: a.address,
            })
            .collect();
    }
    let approval = st
        .config
        .withdrawals
        .approval_above_usd()
        .ok()
        .flatten()
        .map(|usd| {
            tr.f1(
                "withdraw.approval",
                "usd",
                &super::statistics::usd_text(usd),
            )
        });
    let code = chosen.as_ref().map_or("", |(_, c)| c.code);
    let (minimum, available) = quote
        .as_ref()
        .map(|q| (q.minimum.clone(), q.available.clone()))
        .unwrap_or_default();
    let amount_hint = tr.f(
        "withdraw.amount_hint",
        &[("minimum", &minimum), ("code", &code)],
    );
    let everything_label = tr.f(
        "withdraw.everything",
        &[("available", &available), ("code", &code)],
    );
    Ok(html(
        WithdrawPage {
            page: &page,
            currencies: assets.iter().map(|(_, c)| c.code).collect(),
            crypto: chosen.map(|(_, c)| c),
            quote,
            quote_error,
            saved,
            input,
            errors,
            totp: me.user.totp_secret.is_some(),
            approval,
            amount_hint,
            everything_label,
        }
        .render()?,
    ))
}

/// `GET /balance/withdraw`
pub async fn form(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    QueryData(q): QueryData<WithdrawInput>,
) -> Result<Response, WebError> {
    let input = WithdrawInput {
        currency: q.currency,
        ..WithdrawInput::default()
    };
    render_form(&st, &ctx, &me, &input, &FieldErrors::new()).await
}

/// Which field an [`AskError`] belongs next to.
fn ask_field(e: &AskError) -> &'static str {
    match e {
        AskError::NotLive(_) | AskError::Unavailable(_) => "currency",
        AskError::Address { .. } | AskError::CoolingOff { .. } => "address",
        _ => "amount",
    }
}

/// Adds the outcome of a sensitive action's confirmation to `errors`; true when confirmed.
pub fn confirmed(
    page_tr: kassa_service::i18n::Tr,
    c: Confirmation,
    errors: &mut FieldErrors,
) -> bool {
    match c {
        Confirmation::Confirmed => true,
        Confirmation::WrongPassword => {
            errors.add(page_tr, "password", "withdraw.error.password");
            false
        }
        Confirmation::WrongCode => {
            errors.add(page_tr, "code", "withdraw.error.code");
            false
        }
        Confirmation::CodeJustUsed => {
            errors.add(page_tr, "code", "twofactor.code_just_used");
            false
        }
        Confirmation::NeedsTwoFactor => {
            errors.add(page_tr, "code", "withdraw.error.needs_2fa");
            false
        }
    }
}

/// `POST /balance/withdraw`
pub async fn create(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    FormData(input): FormData<WithdrawInput>,
) -> Result<Response, WebError> {
    let tr = kassa_service::i18n::Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    let merchant = me.user.merchant_id;
    let Some((chain, crypto)) = asset_of(&st, &input.currency) else {
        errors.add(tr, "currency", "withdraw.error.currency");
        return render_form(&st, &ctx, &me, &input, &errors).await;
    };
    // The destination: a saved address, or the one typed.
    let mut address_id = None;
    let destination = match input.address_id.trim().parse::<i64>() {
        Ok(id) => {
            match setup::address_by_id(
                &mut st.db.conn().await?,
                merchant,
                WithdrawalAddressId::new(id),
            )
            .await?
            .filter(|a| a.network == chain.network.code)
            {
                Some(a) => {
                    address_id = Some(id);
                    a.address
                }
                None => {
                    errors.add(tr, "address", "withdraw.error.address");
                    String::new()
                }
            }
        }
        Err(_) => {
            if input.address.trim().is_empty() {
                errors.add(tr, "address", "withdraw.error.address");
            } else if let Err(e) = requests::check_destination(&chain, &input.address) {
                errors.add_text("address", e.to_string());
            }
            input.address.trim().to_owned()
        }
    };
    let everything = !input.everything.is_empty();
    let amount = if everything {
        Some(Asked::Everything)
    } else {
        match Amount::parse(input.amount.trim(), crypto.decimals) {
            Ok(a) if !a.is_zero() => Some(Asked::Exact(a)),
            _ => {
                errors.add_text(
                    "amount",
                    tr.f1("withdraw.error.amount", "decimals", &crypto.decimals),
                );
                None
            }
        }
    };
    if input.password.is_empty() {
        errors.add(tr, "password", "withdraw.error.password");
    }
    if !errors.is_empty() {
        return render_form(&st, &ctx, &me, &input, &errors).await;
    }
    let confirmation =
        accounts::confirm_sensitive(&st, &me.user, &input.password, &input.code, false).await?;
    if !confirmed(tr, confirmation, &mut errors) {
        return render_form(&st, &ctx, &me, &input, &errors).await;
    }
    let actor = Actor::user(me.user.id, &me.user.email, &ctx.client);
    let asked = Ask {
        merchant,
        network: chain.network,
        currency: crypto,
        destination: &destination,
        amount: amount.unwrap_or(Asked::Everything),
        source: Source::Dashboard,
        actor: &actor,
        rule: None,
        address: address_id,
    };
    match requests::ask(&st, &asked).await {
        Ok(r) => {
            let key = if r.stage == Stage::Approval {
                "flash.withdrawal_waits_approval"
            } else {
                "flash.withdrawal_created"
            };
            Ok(redirect_with_flash(
                &st,
                &format!("/balance#wd-{}", r.public_id),
                's',
                key,
            ))
        }
        Err(AskError::Failed(e)) => Err(WebError::Internal(e.to_string())),
        Err(e) => {
            errors.add_text(ask_field(&e), e.to_string());
            render_form(&st, &ctx, &me, &input, &errors).await
        }
    }
}

/// A saved address as listed.
struct AddressView {
    id: i64,
    label: String,
    network: String,
    address: String,
    usable: String,
    in_use: bool,
}

#[derive(Template)]
#[template(path = "balance/addresses.html")]
struct AddressesPage<'a> {
    page: &'a Page,
    rows: Vec<AddressView>,
    networks: Vec<(&'static str, &'static str)>,
    input: &'a AddressInput,
    errors: &'a FieldErrors,
    totp: bool,
    hours: u64,
}

/// The address form as typed.
#[derive(Deserialize, Default)]
pub struct AddressInput {
    #[serde(default)]
    label: String,
    #[serde(default)]
    network: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

async fn render_addresses(
    st: &AppState,
    ctx: &WebCtx,
    me: &Viewer,
    input: &AddressInput,
    errors: &FieldErrors,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, "addresses.title");
    let tr = page.tr;
    let now = st.clock.now();
    let mut conn = st.db.conn().await?;
    let rules = setup::rules(&mut conn, me.user.merchant_id).await?;
    let rows = setup::addresses(&mut conn, me.user.merchant_id)
        .await?
        .into_iter()
        .map(|a: AddressRow| AddressView {
            id: a.id.get(),
            in_use: rules.iter().any(|r| r.address == a.id),
            usable: if a.usable_at <= now {
                tr.t("addresses.usable_now").to_owned()
            } else {
                tr.datetime(a.usable_at)
            },
            label: a.label,
            network: a.network,
            address: a.address,
        })
        .collect();
    drop(conn);
    Ok(html(
        AddressesPage {
            page: &page,
            rows,
            networks: withdrawable(st)
                .iter()
                .map(|c| (c.network.code, c.network.fullname))
                .collect(),
            input,
            errors,
            totp: me.user.totp_secret.is_some(),
            hours: st.config.withdrawals.new_address_delay_hours,
        }
        .render()?,
    ))
}

/// `GET /balance/addresses`
pub async fn addresses_page(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    render_addresses(
        &st,
        &ctx,
        &me,
        &AddressInput::default(),
        &FieldErrors::new(),
    )
    .await
}

/// `POST /balance/addresses`
pub async fn add_address(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    FormData(input): FormData<AddressInput>,
) -> Result<Response, WebError> {
    let tr = kassa_service::i18n::Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    let chain = withdrawable(&st)
        .into_iter()
        .find(|c| c.network.code == input.network.trim());
    let Some(chain) = chain else {
        errors.add(tr, "network", "withdraw.error.currency");
        return render_addresses(&st, &ctx, &me, &input, &errors).await;
    };
    let label = input.label.trim();
    if label.is_empty() || label.chars().count() > addresses::MAX_LABEL {
        errors.add(tr, "label", "withdraw.error.label");
    }
    if let Err(e) = requests::check_destination(&chain, &input.address) {
        errors.add_text("address", e.to_string());
    }
    if input.password.is_empty() {
        errors.add(tr, "password", "withdraw.error.password");
    }
    if errors.is_empty() {
        let c =
            accounts::confirm_sensitive(&st, &me.user, &input.password, &input.code, true).await?;
        if confirmed(tr, c, &mut errors) {
            let actor = Actor::user(me.user.id, &me.user.email, &ctx.client);
            match addresses::save(
                &st,
                me.user.merchant_id,
                chain.network,
                &input.address,
                label,
                &actor,
            )
            .await
            {
                Ok(_) => {
                    return Ok(redirect_with_flash(
                        &st,
                        "/balance/addresses",
                        's',
                        "flash.address_saved",
                    ));
                }
                Err(SaveError::Store(e)) => return Err(e.into()),
                Err(SaveError::Label) => errors.add(tr, "label", "withdraw.error.label"),
                Err(e) => errors.add_text("address", e.to_string()),
            }
        }
    }
    render_addresses(&st, &ctx, &me, &input, &errors).await
}

/// `POST /balance/addresses/{id}/delete`
pub async fn delete_address(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let actor = Actor::user(me.user.id, &me.user.email, &ctx.client);
    if !addresses::delete(
        &st,
        me.user.merchant_id,
        WithdrawalAddressId::new(id),
        &actor,
    )
    .await?
    {
        return Err(WebError::NotFound);
    }
    Ok(redirect_with_flash(
        &st,
        "/balance/addresses",
        's',
        "flash.address_deleted",
    ))
}

#[derive(Template)]
#[template(path = "balance/withdrawal_key.html")]
struct KeyPage<'a> {
    page: &'a Page,
    made: Option<String>,
    key: Option<String>,
    errors: &'a FieldErrors,
    totp: bool,
}

/// The key form.
#[derive(Deserialize, Default)]
pub struct KeyInput {
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

async fn render_key(
    st: &AppState,
    ctx: &WebCtx,
    me: &Viewer,
    key: Option<String>,
    errors: &FieldErrors,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, "withdrawal_key.title");
    let made = setup::key_made_at(&mut st.db.conn().await?, me.user.merchant_id)
        .await?
        .map(|t: Timestamp| page.tr.datetime(t));
    Ok(html(
        KeyPage {
            page: &page,
            made,
            key,
            errors,
            totp: me.user.totp_secret.is_some(),
        }
        .render()?,
    ))
}

/// `GET /account/withdrawal-key` (with the key just made, once, after the POST's redirect)
pub async fn key_page(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    headers: axum::http::HeaderMap,
) -> Result<Response, WebError> {
    let key = crate::web::reveal::take::<String>(&st, &me, &headers, "withdrawal_key");
    let shown = key.is_some();
    let page = render_key(&st, &ctx, &me, key, &FieldErrors::new()).await?;
    Ok(if shown {
        crate::web::reveal::shown(&st, page)
    } else {
        page
    })
}

/// `POST /account/withdrawal-key`: a new key, shown once.
pub async fn make_key(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    FormData(input): FormData<KeyInput>,
) -> Result<Response, WebError> {
    let tr = kassa_service::i18n::Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    if input.password.is_empty() {
        errors.add(tr, "password", "withdraw.error.password");
    } else {
        let c =
            accounts::confirm_sensitive(&st, &me.user, &input.password, &input.code, true).await?;
        if confirmed(tr, c, &mut errors) {
            let actor = Actor::user(me.user.id, &me.user.email, &ctx.client);
            let key =
                kassa_service::withdrawals::api_key::regenerate(&st, me.user.merchant_id, &actor)
                    .await?;
            return Ok(crate::web::reveal::redirect(
                &st,
                &me,
                "withdrawal_key",
                &key,
                "/account/withdrawal-key",
            ));
        }
    }
    render_key(&st, &ctx, &me, None, &errors).await
}
