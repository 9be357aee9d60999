//! The objects the CryptoCloud-compatible API returns, field for field. Amounts are exact
//! inside Kassa; only here do they become JSON numbers (floats), as the contract requires.

use kassa_core::currency::{self, Crypto};
use kassa_core::invoice::{Price, Quote, Status};
use kassa_core::money::{Amount, Exact, Rounding};
use kassa_core::{Decimal, Timestamp};
use kassa_store::invoices::InvoiceRow;
use kassa_store::projects::ProjectRow;
use serde_json::{Value, json};

use crate::Ctx;
use crate::invoices;

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC.
pub fn datetime(t: Timestamp) -> String {
    let d = t.to_datetime();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.microsecond()
    )
}

/// A decimal as a JSON number (the float nearest to it).
pub fn number(d: Decimal) -> Value {
    d.normalize()
        .to_string()
        .parse::<f64>()
        .map_or(Value::Null, |f| json!(f))
}

/// A crypto amount as a JSON number.
pub fn crypto_number(a: Amount, c: &Crypto) -> Value {
    a.to_decimal_string(c.decimals)
        .parse::<f64>()
        .map_or(Value::Null, |f| json!(f))
}

/// A crypto amount in US dollars at `rate` USD per unit, exactly, rounded to cents (half up);
/// `None` only beyond a decimal's range (more dollars than exist).
pub fn usd_value(a: Amount, c: &Crypto, rate: Decimal) -> Option<Decimal> {
    usd_exact(a, c, rate)?.to_decimal(2, Rounding::HalfUp)
}

fn usd_exact(a: Amount, c: &Crypto, rate: Decimal) -> Option<Exact> {
    Some(Exact::amount(a, c.decimals).times(&Exact::decimal(rate)?))
}

/// A crypto amount in US dollars as a JSON number (the float nearest the exact value rounded
/// to cents): any size, never clamped; `null` for a negative rate.
pub fn usd_number(a: Amount, c: &Crypto, rate: Decimal) -> Value {
    usd_exact(a, c, rate)
        .and_then(|u| u.to_text(2, Rounding::HalfUp).parse::<f64>().ok())
        .map_or(Value::Null, |f| json!(f))
}

fn icon(st: &Ctx, kind: &str, name: &str) -> String {
    format!(
        "{}/assets/icons/{kind}/{}.svg",
        st.public_url,
        name.to_ascii_lowercase()
    )
}

fn network(st: &Ctx, c: &Crypto) -> Value {
    json!({"code": c.network.code, "id": c.network.id, "icon": icon(st, "network", c.network.code), "fullname": c.network.fullname})
}

/// The invoice currency object.
pub fn invoice_currency(st: &Ctx, c: &Crypto, email_required: bool) -> Value {
    json!({
        "id": c.id,
        "code": c.symbol,
        "fullcode": c.code,
        "network": network(st, c),
        "name": c.name,
        "is_email_required": email_required,
        "stablecoin": c.stablecoin,
        "icon_base": icon(st, "coin", c.symbol),
        "icon_network": icon(st, "network", c.network.code),
        "icon_qr": icon(st, "coin", c.symbol),
        "order": c.order,
    })
}

/// The balance-style currency object (balances and static wallets).
pub fn balance_currency(st: &Ctx, c: &Crypto, enabled: bool) -> Value {
    json!({
        "id": c.id,
        "code": c.code,
        "short_code": c.symbol,
        "name": c.name,
        "is_email_required": false,
        "stablecoin": c.stablecoin,
        "icon_base": icon(st, "coin", c.symbol),
        "icon_network": icon(st, "network", c.network.code),
        "icon_qr": icon(st, "coin", c.symbol),
        "order": c.order,
        "obj_network": network(st, c),
        "enable": enabled,
        "enabled": enabled,
    })
}

/// The project object.
pub fn project(st: &Ctx, p: &ProjectRow) -> Value {
    let logo = (p.logo_version > 0).then(|| {
        format!(
            "{}/logos/{}.png?v={}",
            st.public_url, p.shop_id, p.logo_version
        )
    });
    json!({
        "id": p.id.get(),
        "name": p.settings.name,
        "fail": p.settings.fail_url,
        "success": p.settings.success_url,
        "logo": logo,
    })
}

/// The payment link of an invoice.
pub fn link(st: &Ctx, uuid: &str) -> String {
    format!("{}/pay/{uuid}", st.public_url)
}

/// The figures an invoice shows in its currency: the locked quote, or, before the payer
/// chose, an indicative quote in the currency shown.
struct Shown {
    crypto: &'static Crypto,
    quote: Option<Quote>,
    rate: Option<Decimal>,
    chosen: bool,
}

fn shown(st: &Ctx, p: &ProjectRow, inv: &InvoiceRow) -> Option<Shown> {
    if let (Some(code), Some(q)) = (inv.currency.as_deref(), inv.quote)
        && let Some(c) = currency::crypto(code)
    {
        let rate = inv.rate_usd;
        return Some(Shown {
            crypto: c,
            quote: Some(q),
            rate,
            chosen: true,
        });
    }
    let allowed = invoices::allowed_for(st, p, inv);
    let c = allowed
        .iter()
        .find(|c| c.code == "USDT_TRC20")
        .or_else(|| allowed.first())
        .copied()?;
    let (quote, rate) =
        invoices::indicative_quote(st, inv, c).map_or((None, None), |(q, r)| (Some(q), Some(r)));
    Some(Shown {
        crypto: c,
        quote,
        rate,
        chosen: false,
    })
}

/// Fields shared by the create response and the invoice object.
fn common(
    st: &Ctx,
    p: &ProjectRow,
    inv: &InvoiceRow,
    s: Option<&Shown>,
) -> serde_json::Map<String, Value> {
    let amount_usd = inv.amount_usd;
    // A price in crypto shows its dollar value as the fiat side.
    let (fiat_currency, amount_in_fiat) = match inv.price {
        Price::Fiat(f, a) => (f.code, a),
        Price::Crypto(..) => ("USD", amount_usd),
    };
    let (fee, fee_usd, service_fee, service_fee_usd, amount) = match s {
        Some(Shown {
            crypto: c,
            quote: Some(q),
            rate,
            chosen,
        }) => {
            let rate = rate.unwrap_or(Decimal::ZERO);
            let amount = if *chosen {
                crypto_number(q.due, c)
            } else {
                number(amount_in_fiat)
            };
            (
                crypto_number(q.transfer_fee, c),
                usd_number(q.transfer_fee, c, rate),
                crypto_number(q.service_fee, c),
                usd_number(q.service_fee, c, rate),
                amount,
            )
        }
        _ => (
            json!(0.0),
            json!(0.0),
            json!(0.0),
            json!(0.0),
            number(amount_in_fiat),
        ),
    };
    let mut m = serde_json::Map::new();
    m.insert("uuid".into(), json!(format!("INV-{}", inv.uuid)));
    m.insert("created".into(), json!(datetime(inv.created_at)));
    m.insert(
        "address".into(),
        json!(inv.address.clone().unwrap_or_default()),
    );
    m.insert("expiry_date".into(), json!(datetime(inv.expires_at)));
    m.insert(
        "side_commission".into(),
        json!(inv.transfer_fee_side.as_str()),
    );
    m.insert(
        "side_commission_cc".into(),
        json!(inv.service_fee_side.as_str()),
    );
    m.insert("type_payments".into(), json!("crypto"));
    m.insert("amount".into(), amount);
    m.insert("amount_usd".into(), number(amount_usd));
    m.insert("amount_in_fiat".into(), number(amount_in_fiat));
    m.insert("fee".into(), fee);
    m.insert("fee_usd".into(), fee_usd);
    m.insert("service_fee".into(), service_fee);
    m.insert("service_fee_usd".into(), service_fee_usd);
    m.insert("fiat_currency".into(), json!(fiat_currency));
    m.insert("status".into(), json!(inv.status.as_str()));
    m.insert("is_email_required".into(), json!(p.settings.email_required));
    m.insert("link".into(), json!(link(st, &inv.uuid)));
    m.insert("invoice_id".into(), Value::Null);
    m.insert(
        "currency".into(),
        s.map_or(Value::Null, |s| {
            invoice_currency(st, s.crypto, p.settings.email_required)
        }),
    );
    m.insert("project".into(), project(st, p));
    m.insert("test_mode".into(), json!(inv.test));
    m
}

/// The create-invoice response (`result`).
pub fn created(st: &Ctx, p: &ProjectRow, inv: &InvoiceRow) -> Value {
    let s = shown(st, p, inv);
    let mut m = common(st, p, inv, s.as_ref());
    m.insert(
        "side_commission_service".into(),
        json!(inv.service_fee_side.as_str()),
    );
    Value::Object(m)
}

/// The invoice object of list and info (and of postbacks, with `tx_list`).
pub fn invoice(st: &Ctx, p: &ProjectRow, inv: &InvoiceRow, tx_list: &[String]) -> Value {
    let s = shown(st, p, inv);
    let mut m = common(st, p, inv, s.as_ref());
    let (
        amount_in_crypto,
        to_pay,
        to_pay_usd,
        paid,
        paid_usd,
        received,
        received_usd,
        surcharge,
        surcharge_usd,
    ) = match &s {
        Some(Shown {
            crypto: c,
            quote: Some(q),
            rate: Some(rate),
            chosen: true,
        }) => {
            let credited = if inv.confirmed.is_some() {
                inv.settled.credit
            } else {
                Amount::ZERO
            };
            let missing = if inv.status == Status::Partial {
                q.remaining(inv.received)
            } else {
                Amount::ZERO
            };
            (
                crypto_number(q.due, c),
                crypto_number(q.due, c),
                usd_number(q.due, c, *rate),
                crypto_number(inv.received, c),
                usd_number(inv.received, c, *rate),
                crypto_number(credited, c),
                usd_number(credited, c, *rate),
                crypto_number(missing, c),
                usd_number(missing, c, *rate),
            )
        }
        _ => {
            let usd = inv.amount_usd;
            (
                Value::Null,
                m.get("amount").cloned().unwrap_or(Value::Null),
                number(usd),
                json!(0.0),
                json!(0.0),
                json!(0.0),
                json!(0.0),
                json!(0.0),
                json!(0.0),
            )
        }
    };
    m.insert(
        "date_finished".into(),
        inv.finished_at.map_or(Value::Null, |t| json!(datetime(t))),
    );
    m.insert("amount_in_crypto".into(), amount_in_crypto);
    m.insert("amount_to_pay".into(), to_pay);
    m.insert("amount_to_pay_usd".into(), to_pay_usd);
    m.insert("amount_paid".into(), paid);
    m.insert("amount_paid_usd".into(), paid_usd);
    m.insert("received".into(), received);
    m.insert("received_usd".into(), received_usd);
    m.insert("to_surcharge".into(), surcharge);
    m.insert("to_surcharge_usd".into(), surcharge_usd);
    let invoice_status = if inv.confirmed.is_some() {
        "success"
    } else {
        inv.status.as_str()
    };
    m.insert("invoice_status".into(), json!(invoice_status));
    m.insert("order_id".into(), json!(inv.order_id));
    m.insert("pay_url".into(), json!(link(st, &inv.uuid)));
    m.insert(
        "user_email".into(),
        if inv.email.is_empty() {
            Value::Null
        } else {
            json!(inv.email)
        },
    );
    m.insert("tx_list".into(), json!(tx_list));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_have_six_fraction_digits() {
        assert_eq!(
            datetime(Timestamp::from_micros(1_737_896_750_381_108)),
            "2025-01-26 13:05:50.381108"
        );
        assert_eq!(
            datetime(Timestamp::from_micros(1_737_896_750_000_000)),
            "2025-01-26 13:05:50.000000"
        );
    }

    #[test]
    fn numbers_are_floats() {
        assert_eq!(number(Decimal::new(10000, 2)), json!(100.0));
        assert_eq!(number(Decimal::new(14, 1)), json!(1.4));
        let usdt = currency::crypto("USDT_TRC20").unwrap();
        assert_eq!(
            crypto_number(Amount::from_base(103_300_000), usdt),
            json!(103.3)
        );
    }
}
