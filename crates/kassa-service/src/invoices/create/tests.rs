//! The whole catalogue with the rates test invoices use and the default fees: every fiat ×
//! every crypto × who pays each fee × prices from one minor unit to the largest (and a
//! deterministic spread between). Each invoice is either refused by a stated bound (worth
//! under a cent, under the network's smallest payment, above the crypto's largest amount)
//! or quoted so that it never under-asks, states one number, and pays as quoted.

use std::sync::Arc;

use kassa_core::currency::{CRYPTOS, FIATS, Fiat};
use kassa_core::invoice::{InvoiceState, Payment, Standing, Status, Terms};
use kassa_core::money::MAX_DIGITS;
use kassa_core::time::{Clock, SystemClock};
use kassa_rates::{Rates, RatesConfig};

use super::*;
use crate::config::FeeSettings;
use crate::objects::usd_value;

fn pricing() -> Pricing {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rates = Arc::new(Rates::from_config(&RatesConfig::default(), clock).unwrap());
    let fees = FeeSettings::default();
    Pricing::new(
        rates,
        fees.service_percent().unwrap(),
        fees.transfer_usd().unwrap(),
        Vec::new(),
    )
}

/// Prices to try in a fiat: the smallest, the edges of a cent, everyday ones, the largest,
/// and a deterministic spread over every magnitude.
fn prices(f: &'static Fiat) -> Vec<Price> {
    let mut texts: Vec<String> = ["0.01", "0.3", "1", "99.99", "123456.78", "999999.99"]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    texts.push(Price::max_fiat(f).to_string());
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(f.code.as_bytes()[0]);
    for digits in 1..=MAX_DIGITS {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let lo = 10u64.pow(digits - 1);
        let minor = lo + (seed >> 11) % (lo * 9);
        texts.push(Decimal::new(i64::try_from(minor).unwrap(), f.decimals).to_string());
    }
    texts
        .iter()
        .filter_map(|t| Price::fiat(f, t).ok())
        .collect()
}

fn exact(d: Decimal) -> Exact {
    Exact::decimal(d).unwrap()
}

#[test]
fn every_currency_pair_is_quoted_exactly_or_refused_by_a_bound() {
    let pricing = pricing();
    let now = SystemClock.now();
    let sides = [Side::Merchant, Side::Client];
    let cent = exact(Decimal::new(1, 2));
    let (mut quoted, mut refused) = (0u32, 0u32);
    for f in FIATS {
        for price in prices(f) {
            let Price::Fiat(_, amount) = price else {
                unreachable!()
            };
            let fiat_usd = pricing.usd(f.code, true, now).unwrap().usd;
            let usd_exact = exact(amount).times(&exact(fiat_usd));
            let usd = match price_in_usd(&pricing, &price, true, now) {
                Ok(usd) => usd,
                Err(InvoiceError::Bound(Bound::BelowCent { .. })) => {
                    assert!(usd_exact < cent, "{price}");
                    refused += 1;
                    continue;
                }
                Err(e) => panic!("{price}: {e}"),
            };
            assert!(usd_exact >= cent, "{price}");
            assert_eq!(
                usd_exact.to_decimal(2, Rounding::HalfUp),
                Some(usd),
                "{price}"
            );
            for c in CRYPTOS {
                let rate = pricing.usd(c.symbol, true, now).unwrap().usd;
                for service_side in sides {
                    for transfer_side in sides {
                        let basis = QuoteBasis {
                            price,
                            test: true,
                            service_side,
                            transfer_side,
                            tolerance: Tolerance::None,
                            arrived: false,
                        };
                        let case = format!(
                            "{price} in {} ({service_side:?}, {transfer_side:?})",
                            c.code
                        );
                        let q = match quote_for(&pricing, &basis, c, now) {
                            Ok((q, r, _)) => {
                                assert_eq!(r, rate);
                                q
                            }
                            Err(InvoiceError::Bound(Bound::AboveMaximum { .. })) => {
                                // About 10^15 whole units of the coin or more.
                                let units = usd_exact.per(&exact(rate)).unwrap();
                                assert!(
                                    units >= exact(Decimal::from(999_999_999_999_000_i64)),
                                    "{case}"
                                );
                                refused += 1;
                                continue;
                            }
                            Err(InvoiceError::Bound(Bound::BelowNetworkMinimum { .. })) => {
                                assert!(c.network.dust > 1, "{case}");
                                refused += 1;
                                continue;
                            }
                            Err(e) => panic!("{case}: {e}"),
                        };
                        // Never under-asks: the price part alone is worth the invoice.
                        let worth = Exact::amount(q.price, c.decimals).times(&exact(rate));
                        assert!(worth >= usd_exact, "{case}");
                        // One number, at any size.
                        assert!(q.due.is_quotable(c.decimals), "{case}: {}", q.due);
                        // USD figures within a cent of amount × rate, never clamped.
                        let shown = usd_value(q.due, c, rate).unwrap();
                        let true_usd = Exact::amount(q.due, c.decimals).times(&exact(rate));
                        let c01 = Decimal::new(1, 2);
                        assert!(exact(shown + c01) >= true_usd, "{case}: {shown}");
                        assert!(
                            shown < c01 || exact(shown - c01) <= true_usd,
                            "{case}: {shown}"
                        );
                        // Paying it is paid, a unit less partial.
                        let terms = Terms {
                            quote: Some(q),
                            expires_at: now.saturating_add(LIFETIME_RANGE.0),
                            canceled_at: None,
                            accepted: false,
                        };
                        let pay = |a: u128| {
                            let p = Payment {
                                amount: Amount::from_base(a),
                                standing: Standing::Counted,
                                seen_at: now,
                            };
                            InvoiceState::evaluate(&terms, &[p], now).status
                        };
                        assert_eq!(pay(q.due.base()), Status::Paid, "{case}");
                        assert_eq!(pay(q.due.base() - 1), Status::Partial, "{case}");
                        quoted += 1;
                    }
                }
            }
        }
    }
    // Most of the catalogue is payable; the refusals are the stated bounds.
    assert!(
        quoted > 50_000 && refused < quoted / 5,
        "quoted {quoted}, refused {refused}"
    );
}
