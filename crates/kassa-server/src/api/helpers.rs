//! Kassa's native test helpers, for merchants' own CI and for Kassa's tests:
//! `POST /api/v1/test-helpers/invoices/<uuid>/pay` simulates a payment to a test invoice
//! through the same path a chain transfer takes. Live invoices are refused.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kassa_core::currency;
use kassa_core::money::Amount;
use kassa_store::invoices;
use kassa_store::projects::ProjectRow;
use serde_json::{Map, Value, json};

use super::cryptocloud::normalise_uuid;
use super::input::{Body, text};
use super::{ApiError, ApiProject};
use crate::state::AppState;
use kassa_service::invoices::InvoiceError;
use kassa_service::objects;
use kassa_service::payments::Recorded;

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}

/// `confirmed` is true unless sent as `false`, `"false"` or `"0"` (also `0`).
fn confirmed(body: &Map<String, Value>) -> bool {
    !matches!(text(body, "confirmed").as_deref(), Some("false" | "0"))
}

/// `POST /api/v1/test-helpers/invoices/{uuid}/pay` with `{"amount", "currency"?, "confirmed"?}`.
pub async fn pay(
    State(st): State<AppState>,
    ApiProject(p): ApiProject,
    Path(uuid): Path<String>,
    Body(b): Body,
) -> Response {
    pay_inner(&st, &p, &uuid, &b)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The helper proper: `Ok` carries the answer (success or a helper error), `Err` an internal
/// failure.
async fn pay_inner(
    st: &AppState,
    p: &ProjectRow,
    uuid: &str,
    b: &Map<String, Value>,
) -> Result<Response, ApiError> {
    let uuid = normalise_uuid(uuid);
    let row = invoices::by_uuid_in_project(&mut st.db.conn().await?, p.id, &uuid).await?;
    let Some(row) = row else {
        return Ok(error(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such invoice in this project.",
        ));
    };
    if !row.test {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "live_invoice",
            "Payments can only be simulated for test invoices.",
        ));
    }
    let row = match (&row.currency, text(b, "currency")) {
        (Some(_), _) => row,
        (None, None) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "currency_required",
                "The invoice has no payment currency yet: pass \"currency\".",
            ));
        }
        (None, Some(code)) => {
            let Some(c) = currency::crypto(&code) else {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    "unknown_currency",
                    format!("Unknown currency {code}."),
                ));
            };
            match kassa_service::invoices::choose_currency(st, p, row.id, c).await {
                Ok(r) => r,
                Err(InvoiceError::Service(e)) => return Err(e.into()),
                Err(e) => {
                    return Ok(error(
                        StatusCode::BAD_REQUEST,
                        "currency_unavailable",
                        e.to_string(),
                    ));
                }
            }
        }
    };
    let Some(crypto) = row.currency.as_deref().and_then(currency::crypto) else {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "currency_required",
            "The invoice has no payment currency.",
        ));
    };
    let Some(amount_text) = text(b, "amount") else {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "amount_required",
            "Pass \"amount\" as a decimal string.",
        ));
    };
    let amount = match Amount::parse(amount_text.trim(), crypto.decimals) {
        Ok(a) if !a.is_zero() => a,
        _ => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "invalid_amount",
                format!(
                    "\"{amount_text}\" is not an amount of {} (at most {} decimals).",
                    crypto.code, crypto.decimals
                ),
            ));
        }
    };
    match kassa_service::invoices::simulate_payment(st, &row, amount, confirmed(b)).await {
        Ok(Recorded::Invoice(_)) => {}
        Ok(other) => {
            return Ok(error(
                StatusCode::CONFLICT,
                "not_recorded",
                format!("{other:?}"),
            ));
        }
        Err(InvoiceError::Service(e)) => return Err(e.into()),
        Err(e) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "invalid_transition",
                e.to_string(),
            ));
        }
    }
    let row = invoices::by_id(&mut st.db.conn().await?, row.id).await?;
    let txs = kassa_service::read::tx_list(st, &row).await?;
    Ok(
        Json(json!({"status": "success", "result": objects::invoice(st, p, &row, &txs)}))
            .into_response(),
    )
}
