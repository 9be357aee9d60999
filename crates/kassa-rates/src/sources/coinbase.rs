//! The `coinbase` source: Coinbase's public exchange-rates endpoint, which covers crypto and
//! fiat in one request.
//!
//! `GET {base}/v2/exchange-rates?currency=USD` answers
//! `{"data":{"currency":"USD","rates":{"BTC":"0.0000103","EUR":"0.92",…}}}`: how many units of
//! each asset one US dollar buys, as decimal strings. The USD price of one unit is the
//! inverse.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::http::{get, join, json_decimal};
use crate::sources::{BoxFuture, RateSource};
use crate::{Quotes, RateError};

/// The public API.
pub const DEFAULT_URL: &str = "https://api.coinbase.com";

const NAME: &str = "coinbase";

/// Coinbase's exchange rates.
#[derive(Clone, Debug)]
pub struct CoinbaseSource {
    client: reqwest::Client,
    url: String,
}

impl CoinbaseSource {
    /// A source asking the API at `base_url` (normally [`DEFAULT_URL`]) through `client`.
    pub fn new(client: reqwest::Client, base_url: &str) -> Self {
        Self {
            client,
            url: join(base_url, "/v2/exchange-rates?currency=USD"),
        }
    }
}

impl RateSource for CoinbaseSource {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Quotes, RateError>> {
        Box::pin(async move {
            let body = get(&self.client, NAME, &self.url).await?;
            parse(&body)
        })
    }
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(borrow)]
    data: Data<'a>,
}

#[derive(Deserialize)]
struct Data<'a> {
    currency: String,
    #[serde(borrow)]
    rates: HashMap<String, &'a RawValue>,
}

/// Reads an exchange-rates answer into USD prices.
pub(crate) fn parse(body: &[u8]) -> Result<Quotes, RateError> {
    let malformed = |message: String| RateError::Malformed {
        provider: NAME,
        message,
    };
    let response: Response<'_> =
        serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    if !response.data.currency.eq_ignore_ascii_case("USD") {
        return Err(malformed(format!(
            "rates are relative to {:?}, not USD",
            response.data.currency
        )));
    }
    let mut quotes = Quotes::new();
    for (symbol, raw) in &response.data.rates {
        if crate::asset::canonical(symbol).is_none() {
            continue;
        }
        // Units per dollar → dollars per unit. A zero or unreadable rate is skipped, leaving
        // the asset to the next source.
        match json_decimal(raw)
            .filter(|r| *r > Decimal::ZERO)
            .and_then(|r| Decimal::ONE.checked_div(r))
        {
            Some(usd) => {
                quotes.insert(symbol, usd);
            }
            None => {
                tracing::warn!(source = NAME, asset = %symbol, value = raw.get(), "unusable rate")
            }
        }
    }
    if quotes.is_empty() {
        return Err(malformed("no rate for any known asset".into()));
    }
    Ok(quotes)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::testing::COINBASE;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn inverts_units_per_dollar() {
        let q = parse(COINBASE.as_bytes()).unwrap();
        assert_eq!(q.get("BTC"), Some(Decimal::ONE / d("0.0000103")));
        assert!((q.get("BTC").unwrap() - d("97087.378640776699")).abs() < d("0.000001"));
        assert_eq!(q.get("EUR"), Some(Decimal::ONE / d("0.92")));
        assert_eq!(q.get("LTC"), Some(d("100")));
        assert_eq!(q.get("JPY"), Some(Decimal::ONE / d("151.5")));
        assert!(q.get("PEPE").unwrap() < d("0.0000106"));
        // USD is 1 by definition; unknown assets and a zero rate are dropped.
        assert_eq!(q.get("USD"), None);
        assert_eq!(q.get("DOGE"), None);
        assert_eq!(q.len(), 9);
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "",
            "<html>",
            r#"{"errors":[{"id":"not_found"}]}"#,
            r#"{"data":{"currency":"EUR","rates":{"BTC":"0.00001"}}}"#,
            r#"{"data":{"currency":"USD","rates":{"DOGE":"5"}}}"#,
        ] {
            assert!(
                matches!(
                    parse(bad.as_bytes()),
                    Err(RateError::Malformed {
                        provider: "coinbase",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
