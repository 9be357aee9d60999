//! `POST /v2/invoice/api/out/create`: CryptoCloud's withdrawal API (contract §9). Authorised by
//! the merchant's withdrawal key (not a project's API key), at most one request per 12 seconds
//! per key. Errors name the contract's keys: `required_parameter`, `currency_code`, `network`
//! (an address the network does not know), `uncorrected_amount`, `rate_limit` and
//! `validate_error`. The withdrawal is a request like one made in the dashboard, marked "API".

use axum::Json;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, header};
use kassa_core::currency;
use kassa_core::money::Amount;
use kassa_service::audit::Actor;
use kassa_service::auth::{limits, token};
use kassa_service::objects;
use kassa_service::withdrawals::api_key;
use kassa_service::withdrawals::requests::{self, Ask, AskError, Asked};
use kassa_store::withdrawal_requests::Source;
use serde_json::{Value, json};

use super::ApiError;
use super::input::{Body, text};
use crate::state::AppState;

/// The body fields, all required.
const FIELDS: [&str; 3] = ["currency_code", "to_address", "amount"];

fn key_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let key = value
        .strip_prefix("Token ")
        .or_else(|| value.strip_prefix("Bearer "))?
        .trim();
    (!key.is_empty() && key.len() <= 200).then(|| key.to_owned())
}

/// `POST /v2/invoice/api/out/create`
pub async fn create(
    State(st): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Body(b): Body,
) -> Result<Json<Value>, ApiError> {
    let Some(key) = key_of(&headers) else {
        return Err(ApiError::Unauthorized(
            "Authentication credentials were not provided.",
        ));
    };
    let Some(merchant) = api_key::merchant_of(&st, &key).await? else {
        return Err(ApiError::Unauthorized("Invalid token."));
    };
    let now = st.clock.now();
    if let Err(wait) = limits::WITHDRAW_API_PER_KEY
        .hit(&st.db, &token::hash(&key), now)
        .await?
    {
        return Err(ApiError::RateLimited(
            "rate_limit",
            "At most one withdrawal request per 12 seconds.".into(),
            wait.0,
        ));
    }
    let missing: Vec<&str> = FIELDS
        .into_iter()
        .filter(|f| text(&b, f).is_none_or(|v| v.trim().is_empty()))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::field(
            "required_parameter",
            format!("Required parameters not passed: {}.", missing.join(", ")),
        ));
    }
    let code = text(&b, "currency_code").unwrap_or_default();
    let Some(crypto) = currency::crypto(code.trim()) else {
        return Err(ApiError::field(
            "currency_code",
            format!("Unknown currency {}.", code.trim()),
        ));
    };
    let Some(chain) = st
        .chains
        .get(crypto.network)
        .filter(|c| {
            kassa_service::withdrawals::currencies(c)
                .iter()
                .any(|x| x.code == crypto.code)
        })
        .cloned()
    else {
        return Err(ApiError::field(
            "currency_code",
            format!("Withdrawals in {} are not available.", crypto.code),
        ));
    };
    let to = text(&b, "to_address").unwrap_or_default();
    if let Err(e) = requests::check_destination(&chain, &to) {
        return Err(ApiError::field("network", capital(&e.to_string())));
    }
    let amount = text(&b, "amount").unwrap_or_default();
    let amount = match Amount::parse(amount.trim(), crypto.decimals) {
        Ok(a) if !a.is_zero() => a,
        _ => {
            return Err(ApiError::field(
                "uncorrected_amount",
                format!(
                    "The amount must be a positive number of {} with at most {} decimals.",
                    crypto.code, crypto.decimals
                ),
            ));
        }
    };
    let client = crate::web::context::client_info(&extensions, &headers);
    let actor = Actor::of(None, &client);
    let ask = Ask {
        merchant,
        network: chain.network,
        currency: crypto,
        destination: to.trim(),
        amount: Asked::Exact(amount),
        source: Source::Api,
        actor: &actor,
        rule: None,
        address: None,
    };
    let r = match requests::ask(&st, &ask).await {
        Ok(r) => r,
        Err(AskError::Failed(e)) => return Err(ApiError::Internal(e.to_string())),
        Err(e @ AskError::Address { .. }) => {
            return Err(ApiError::field("network", capital(&e.to_string())));
        }
        Err(
            e @ (AskError::ZeroAmount
            | AskError::BelowMinimum { .. }
            | AskError::Insufficient { .. }),
        ) => {
            return Err(ApiError::field(
                "uncorrected_amount",
                capital(&e.to_string()),
            ));
        }
        Err(e) => return Err(ApiError::field("validate_error", capital(&e.to_string()))),
    };
    let result = json!({
        "invoice_id": format!("INV-{}", r.public_id),
        "status": requests::Shown::of(&r).as_str(),
        "currency": crypto.code,
        "amount": objects::crypto_number(r.amount, crypto),
    });
    Ok(Json(
        json!({"status": "success", "result": result.clone(), "data": result}),
    ))
}

/// A message as the API writes them: capitalised, with a full stop.
fn capital(s: &str) -> String {
    let mut c = s.chars();
    let mut out: String = c
        .next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
