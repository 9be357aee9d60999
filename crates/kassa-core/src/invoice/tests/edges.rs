//! Money at the edges, by property: every fiat and crypto of the catalogue, both fee sides,
//! prices from one minor unit to the largest, rates from a hundred-millionth of a dollar to a
//! million dollars with up to 16 digits. The quote never under-asks, states its amount in 15
//! significant digits (so the API's float is the same decimal), paying it is `paid` and one
//! base unit less `partial`, and nothing overflows: a refusal is a bound, never an accident.

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::super::*;
use super::T0;
use crate::currency::{CRYPTOS, FIATS};
use crate::money::{Exact, MAX_DIGITS, Rounding};

/// A positive decimal of `digits` significant digits at magnitude 10^`exp`.
fn decimal(mantissa: u64, scale: u32) -> Decimal {
    Decimal::from_i128_with_scale(i128::from(mantissa.max(1)), scale)
}

/// A fiat price in minor units, spread evenly over its number of digits.
fn minor_units() -> impl Strategy<Value = i64> {
    (1u32..=MAX_DIGITS).prop_flat_map(|d| {
        let lo = 10i64.pow(d - 1);
        lo..(lo * 10)
    })
}

/// A rate with 1..16 significant digits between about 10^-8 and 10^6 dollars.
fn rate() -> impl Strategy<Value = Decimal> {
    (1u32..=16, 0u32..=14).prop_flat_map(|(digits, shift)| {
        let lo = 10u64.pow(digits - 1);
        (lo..lo * 10).prop_map(move |m| decimal(m, (digits - 1 + 8).saturating_sub(shift).min(28)))
    })
}

fn exact(d: Decimal) -> Exact {
    Exact::decimal(d).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn quotes_never_under_ask_and_state_one_number(
        fiat in 0..FIATS.len(),
        crypto in 0..CRYPTOS.len(),
        service_client in any::<bool>(),
        transfer_client in any::<bool>(),
        minor in minor_units(),
        fiat_usd in rate(),
        crypto_usd in rate(),
        service_tenths in 0u32..=50,
        transfer_cents in 0u32..=500,
    ) {
        let (f, c) = (&FIATS[fiat], &CRYPTOS[crypto]);
        let side = |client: bool| if client { Side::Client } else { Side::Merchant };
        let amount = Decimal::new(minor, f.decimals);
        let input = QuoteInput {
            price: Priced::Fiat { amount, usd: fiat_usd },
            crypto_usd,
            decimals: c.decimals,
            service_percent: Decimal::new(i64::from(service_tenths), 1),
            transfer_fee_usd: Decimal::new(i64::from(transfer_cents), 2),
            service_side: side(service_client),
            transfer_side: side(transfer_client),
            tolerance: Tolerance::None,
            minimum: Some(c.min_payment()),
        };
        // What is owed, exactly, in base units: the price, its service fee, the transfer fee.
        let rate = exact(crypto_usd);
        let price = exact(amount).times(&exact(fiat_usd)).per(&rate).unwrap();
        let ppm = Exact::decimal(Decimal::new(i64::from(service_tenths) * 1000, 6)).unwrap();
        let transfer = exact(input.transfer_fee_usd).per(&rate).unwrap();
        let scale = Exact::amount(Amount::from_base(1), c.decimals);
        let owed_units = |x: &Exact| x.per(&scale).unwrap();
        match Quote::compute(&input) {
            Ok(q) => {
                let units = |a: Amount| Exact::amount(a, 0);
                prop_assert!(units(q.price) >= owed_units(&price), "price short");
                prop_assert!(units(q.service_fee) >= exact_of(q.price).times(&ppm), "service fee short");
                prop_assert!(units(q.transfer_fee) >= owed_units(&transfer), "transfer fee short");
                let mut due = q.price.base();
                if service_client { due += q.service_fee.base(); }
                if transfer_client { due += q.transfer_fee.base(); }
                prop_assert_eq!(q.due.base(), due);
                // One number: at most 8 fraction digits and 15 significant ones, so the float
                // the API prints reads back as the same decimal.
                prop_assert!(q.due.is_quotable(c.decimals), "{} not quotable", q.due);
                let text = q.due.to_decimal_string(c.decimals);
                let float: f64 = text.parse().unwrap();
                let printed = serde_json::to_string(&float).unwrap();
                let back = Decimal::from_scientific(&printed).or_else(|_| printed.parse::<Decimal>()).unwrap();
                prop_assert_eq!(Amount::from_decimal(back, c.decimals, Rounding::Down), Ok(q.due), "{} printed as {}", text, printed);
                // Bounds.
                prop_assert!(q.due >= c.min_payment());
                prop_assert!(q.due.base() < 10u128.pow(MAX_DIGITS + c.decimals));
                // Paying it is paid; a unit less is partial.
                let t = Terms { quote: Some(q), expires_at: T0.saturating_add(std::time::Duration::from_secs(60)), canceled_at: None, accepted: false };
                let pay = |a: u128| InvoiceState::evaluate(&t, &[Payment { amount: Amount::from_base(a), standing: Standing::Counted, seen_at: T0 }], T0).status;
                prop_assert_eq!(pay(q.due.base()), Status::Paid);
                if q.due.base() > 1 {
                    prop_assert_eq!(pay(q.due.base() - 1), Status::Partial);
                }
                // Settling never loses or makes a unit.
                prop_assert_eq!(q.settle(q.due).total(), q.due);
            }
            Err(QuoteError::TooLarge) => {
                // Only an amount due at 10^15 whole units (or beyond 128 bits) is too large.
                let limit = Exact::amount(Amount::from_base(10u128.pow(MAX_DIGITS)), 0);
                let mut owed = price.per(&Exact::amount(Amount::from_base(1), 0)).unwrap();
                if service_client { owed = owed.times(&exact(Decimal::ONE + Decimal::new(i64::from(service_tenths), 3))); }
                prop_assert!(owed.times(&exact(Decimal::new(1_000_001, 6))) >= limit, "refused as too large");
            }
            Err(QuoteError::BelowMinimum(min)) => {
                prop_assert_eq!(min, c.min_payment());
                prop_assert!(Exact::amount(c.min_payment(), 0) > owed_units(&price), "refused as too small");
            }
            Err(e) => prop_assert!(false, "unexpected refusal {e}"),
        }
    }

    /// A crypto price accepted by [`Price::crypto`] is quoted as it is, its fees added in the
    /// same step, and the whole stays one number.
    #[test]
    fn crypto_prices_stay_as_given(
        crypto in 0..CRYPTOS.len(),
        digits in 1u32..=15,
        mantissa in any::<u64>(),
        places in 0u32..=8,
        service_client in any::<bool>(),
    ) {
        let c = &CRYPTOS[crypto];
        let m = u128::from(mantissa) % 10u128.pow(digits);
        let text = Exact::amount(Amount::from_base(m.max(1)), places.min(c.decimals)).to_text(places.min(c.decimals), Rounding::Down);
        let Ok(Price::Crypto(_, a)) = Price::crypto(c, &text) else {
            return Ok(());
        };
        let input = QuoteInput {
            price: Priced::Crypto(a),
            crypto_usd: Decimal::new(123_456, 2),
            decimals: c.decimals,
            service_percent: Decimal::new(19, 1),
            transfer_fee_usd: Decimal::new(14, 1),
            service_side: if service_client { Side::Client } else { Side::Merchant },
            transfer_side: Side::Merchant,
            tolerance: Tolerance::None,
            minimum: Some(c.min_payment()),
        };
        match Quote::compute(&input) {
            Ok(q) => {
                prop_assert_eq!(q.price, a);
                prop_assert!(q.due.significant_digits() <= MAX_DIGITS);
            }
            Err(QuoteError::TooPrecise) => prop_assert!(service_client, "only added fees can add digits"),
            // A price just under 10^15 units plus the payer's fee reaches the bound.
            Err(QuoteError::TooLarge) => prop_assert!(
                service_client && a.base() >= 10u128.pow(MAX_DIGITS + c.decimals) / 100 * 98,
                "refused as too large"
            ),
            Err(QuoteError::BelowMinimum(_)) => prop_assert!(a < c.min_payment()),
            Err(e) => prop_assert!(false, "unexpected refusal {e}"),
        }
    }
}

fn exact_of(a: Amount) -> Exact {
    Exact::amount(a, 0)
}
