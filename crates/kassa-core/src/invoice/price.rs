//! What an invoice is priced in, and the one definition of what a price may be — the same for
//! the API (amounts as JSON numbers or strings), the dashboard's form and stored rows:
//!
//! - a plain decimal above zero (an exponent, as a JSON number may carry, is read exactly);
//! - no more fraction digits than the currency has (JPY and VND have none, USD two); for a
//!   crypto price, no more than a quote shows ([`QUOTE_FRACTION_DIGITS`], fewer when the
//!   currency has fewer), never silently rounded;
//! - below 10^15: a fiat price counted in its minor units (USD up to 9,999,999,999,999.99,
//!   JPY up to 999,999,999,999,999), a crypto price in whole units, with at most
//!   [`MAX_DIGITS`] significant digits — so that the JSON float the API prints is the same
//!   decimal.
//!
//! The smallest invoice (worth one US cent, and at least a network's smallest payment) needs a
//! rate and a network and is checked where those are known: by the invoice service and the
//! quote.

use rust_decimal::Decimal;

use crate::currency::{self, Crypto, Fiat};
use crate::money::{Amount, AmountError, MAX_DIGITS, QUOTE_FRACTION_DIGITS, parse_decimal};

/// What an invoice is priced in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Price {
    /// A fiat amount.
    Fiat(&'static Fiat, Decimal),
    /// An exact crypto amount.
    Crypto(&'static Crypto, Amount),
}

/// Why an amount cannot be a price.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Not a plain decimal number.
    #[error("not a number")]
    NotANumber,
    /// Zero or below.
    #[error("must be above zero")]
    NotPositive,
    /// More fraction digits than the currency (or a quote in it) has.
    #[error("{code} amounts have at most {decimals} decimal places")]
    TooPrecise {
        /// The currency.
        code: &'static str,
        /// The fraction digits allowed.
        decimals: u32,
    },
    /// More significant digits than a quote can state exactly.
    #[error("at most {MAX_DIGITS} significant digits")]
    TooManyDigits,
    /// Too large.
    #[error("at most {max} {code}")]
    TooLarge {
        /// The currency.
        code: &'static str,
        /// The largest price, as decimal text.
        max: String,
    },
}

/// Digits with at most one dot, and at least one digit.
fn is_plain_number(t: &str) -> bool {
    let t = t.strip_prefix('+').unwrap_or(t);
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Reads a decimal as a client may write it: plain (`"12.5"`) or, as a JSON number may be
/// written, with an exponent (`1.25e1`), exactly in both cases. `Ok(None)`: a number with more
/// digits than a decimal holds (too large, in the caller's words).
fn read_decimal(text: &str) -> Result<Option<Decimal>, PriceError> {
    let t = text.trim();
    let d = if t.contains(['e', 'E']) {
        // `from_scientific` is exact for what fits; anything else is refused, not rounded.
        Decimal::from_scientific(t).map_err(|_| PriceError::NotANumber)?
    } else {
        match parse_decimal(t) {
            Some(d) => d,
            // Digits a decimal cannot hold: a number, only too large (the caller words it).
            None if is_plain_number(t) => return Ok(None),
            None => return Err(PriceError::NotANumber),
        }
    };
    if d <= Decimal::ZERO {
        return Err(PriceError::NotPositive);
    }
    Ok(Some(d.normalize()))
}

impl Price {
    /// A fiat price from text, checked against the bounds of the module.
    pub fn fiat(fiat: &'static Fiat, text: &str) -> Result<Price, PriceError> {
        let too_large = || PriceError::TooLarge {
            code: fiat.code,
            max: Price::max_fiat(fiat).to_string(),
        };
        let d = read_decimal(text)?.ok_or_else(too_large)?;
        if d.scale() > fiat.decimals {
            return Err(PriceError::TooPrecise {
                code: fiat.code,
                decimals: fiat.decimals,
            });
        }
        // In minor units, below 10^15.
        let limit = Decimal::from(10i64.pow(MAX_DIGITS - fiat.decimals));
        if d >= limit {
            return Err(too_large());
        }
        Ok(Price::Fiat(fiat, d))
    }

    /// The largest fiat price: 10^15 minor units less one (`9999999999999.99` for USD).
    pub fn max_fiat(fiat: &'static Fiat) -> Decimal {
        Decimal::new(10i64.pow(MAX_DIGITS) - 1, fiat.decimals)
    }

    /// A crypto price from text, checked against the bounds of the module.
    pub fn crypto(crypto: &'static Crypto, text: &str) -> Result<Price, PriceError> {
        let places = crypto.decimals.min(QUOTE_FRACTION_DIGITS);
        let too_precise = PriceError::TooPrecise {
            code: crypto.code,
            decimals: places,
        };
        let d = read_decimal(text)?.ok_or_else(|| Price::too_large(crypto))?;
        if d.scale() > places {
            return Err(too_precise);
        }
        let a = match Amount::parse(&d.to_string(), crypto.decimals) {
            Ok(a) => a,
            Err(AmountError::TooPrecise) => return Err(too_precise),
            Err(AmountError::TooLarge) => return Err(Price::too_large(crypto)),
            Err(_) => return Err(PriceError::NotANumber),
        };
        if a.base() >= Price::crypto_limit(crypto) {
            return Err(Price::too_large(crypto));
        }
        if a.significant_digits() > MAX_DIGITS {
            return Err(PriceError::TooManyDigits);
        }
        Ok(Price::Crypto(crypto, a))
    }

    /// 10^15 whole units of `crypto`, in base units: every crypto price and quote is below.
    pub fn crypto_limit(crypto: &Crypto) -> u128 {
        10u128.pow(MAX_DIGITS + crypto.decimals)
    }

    fn too_large(crypto: &'static Crypto) -> PriceError {
        PriceError::TooLarge {
            code: crypto.code,
            max: "999999999999999".into(),
        }
    }

    /// The currency's code.
    pub fn code(self) -> &'static str {
        match self {
            Price::Fiat(f, _) => f.code,
            Price::Crypto(c, _) => c.code,
        }
    }

    /// The amount as decimal text (a crypto amount with its currency's decimals, trailing
    /// zeros dropped).
    pub fn amount_text(self) -> String {
        match self {
            Price::Fiat(_, a) => a.to_string(),
            Price::Crypto(c, a) => a.to_decimal_string(c.decimals),
        }
    }

    /// A price as stored: a currency code and decimal text. `None` when the code is in
    /// neither catalogue or the text is not an amount of it. (Stored prices are read as they
    /// were accepted, also those of static-wallet top-ups, which are whatever arrived.)
    pub fn from_stored(code: &str, text: &str) -> Option<Price> {
        if let Some(c) = currency::crypto(code) {
            return Amount::parse(text, c.decimals)
                .ok()
                .map(|a| Price::Crypto(c, a));
        }
        let f = currency::fiat(code)?;
        parse_decimal(text).map(|a| Price::Fiat(f, a))
    }
}

/// A price as people read it, the same everywhere (lists, the invoice page, the payment page,
/// e-mails): fiat with its currency's minor units (`25.50 USD`, `1200 JPY`), crypto without
/// trailing zeros (`0.5 BTC`).
impl std::fmt::Display for Price {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Price::Fiat(fiat, a) => {
                let mut d = a.normalize();
                if d.scale() < fiat.decimals {
                    d.rescale(fiat.decimals);
                }
                write!(f, "{d} {}", fiat.code)
            }
            Price::Crypto(c, a) => {
                let s = a.to_decimal_string(c.decimals);
                let s = if s.contains('.') {
                    s.trim_end_matches('0').trim_end_matches('.')
                } else {
                    &s
                };
                write!(f, "{s} {}", c.code)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> &'static Fiat {
        currency::fiat("USD").unwrap()
    }

    #[test]
    fn prices_read_with_their_currencys_minor_units() {
        let usd = usd();
        let jpy = currency::fiat("JPY").unwrap();
        let btc = currency::crypto("BTC").unwrap();
        assert_eq!(Price::fiat(usd, "25.5").unwrap().to_string(), "25.50 USD");
        assert_eq!(Price::fiat(usd, "25").unwrap().to_string(), "25.00 USD");
        assert_eq!(Price::fiat(jpy, "1200").unwrap().to_string(), "1200 JPY");
        let half = Amount::parse("0.5", btc.decimals).unwrap();
        assert_eq!(Price::Crypto(btc, half).to_string(), "0.5 BTC");
        let one = Amount::parse("1", btc.decimals).unwrap();
        assert_eq!(Price::Crypto(btc, one).to_string(), "1 BTC");
    }

    #[test]
    fn strings_and_numbers_meet_the_same_bounds() {
        let f = usd();
        assert_eq!(
            Price::fiat(f, "12.5"),
            Ok(Price::Fiat(f, Decimal::new(125, 1)))
        );
        assert_eq!(
            Price::fiat(f, "1.25e1"),
            Ok(Price::Fiat(f, Decimal::new(125, 1)))
        );
        assert_eq!(
            Price::fiat(f, "999999999999999.995"),
            Err(PriceError::TooPrecise {
                code: "USD",
                decimals: 2
            })
        );
        assert_eq!(
            Price::fiat(f, "9999999999999.99"),
            Ok(Price::Fiat(f, Price::max_fiat(f)))
        );
        assert!(matches!(
            Price::fiat(f, "10000000000000"),
            Err(PriceError::TooLarge { .. })
        ));
        assert!(matches!(
            Price::fiat(f, "1e15"),
            Err(PriceError::TooLarge { .. })
        ));
        assert_eq!(Price::fiat(f, "0"), Err(PriceError::NotPositive));
        assert_eq!(Price::fiat(f, "-1"), Err(PriceError::NotPositive));
        assert_eq!(Price::fiat(f, "1e-400"), Err(PriceError::NotANumber));
        assert_eq!(Price::fiat(f, "1e400"), Err(PriceError::NotANumber));
        assert_eq!(Price::fiat(f, "abc"), Err(PriceError::NotANumber));
        assert_eq!(Price::fiat(f, "1.2.3"), Err(PriceError::NotANumber));
        assert!(matches!(
            Price::fiat(f, "99999999999999999999999999999999"),
            Err(PriceError::TooLarge { .. })
        ));
        assert_eq!(
            Price::fiat(f, "1.10"),
            Ok(Price::Fiat(f, Decimal::new(11, 1)))
        );
    }

    #[test]
    fn currencies_without_fractions_refuse_them() {
        let jpy = currency::fiat("JPY").unwrap();
        assert_eq!(
            Price::fiat(jpy, "99.99"),
            Err(PriceError::TooPrecise {
                code: "JPY",
                decimals: 0
            })
        );
        assert_eq!(
            Price::fiat(jpy, "100.00"),
            Ok(Price::Fiat(jpy, Decimal::from(100)))
        );
        assert_eq!(
            Price::fiat(jpy, "999999999999999"),
            Ok(Price::Fiat(jpy, Price::max_fiat(jpy)))
        );
    }

    #[test]
    fn crypto_prices_are_quotable() {
        let eth = currency::crypto("ETH").unwrap();
        assert_eq!(
            Price::crypto(eth, "0.02982566"),
            Ok(Price::Crypto(
                eth,
                Amount::from_base(29_825_660_000_000_000)
            ))
        );
        assert_eq!(
            Price::crypto(eth, "0.029825660000000002"),
            Err(PriceError::TooPrecise {
                code: "ETH",
                decimals: 8
            })
        );
        assert_eq!(
            Price::crypto(eth, "1234567890.12345678"),
            Err(PriceError::TooManyDigits)
        );
        assert!(matches!(
            Price::crypto(eth, "1000000000000000"),
            Err(PriceError::TooLarge { .. })
        ));
        assert!(Price::crypto(eth, "999999999999999").is_ok());
        let usdt = currency::crypto("USDT_TRC20").unwrap();
        assert_eq!(
            Price::crypto(usdt, "0.0000001"),
            Err(PriceError::TooPrecise {
                code: "USDT_TRC20",
                decimals: 6
            })
        );
        assert_eq!(
            Price::crypto(usdt, "0.000001"),
            Ok(Price::Crypto(usdt, Amount::from_base(1)))
        );
    }
}
