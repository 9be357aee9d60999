//! The `coingecko` source: CoinGecko's public API, two requests per refresh.
//!
//! - Crypto: `GET {base}/api/v3/simple/price?ids=bitcoin,…&vs_currencies=usd` answers
//!   `{"bitcoin":{"usd":97000.12},…}`. CoinGecko names coins by id, not symbol ([`IDS`]), and
//!   writes prices as JSON numbers, small ones in exponent form (`1.043e-05`); they are read
//!   from their text.
//! - Fiat: `GET {base}/api/v3/exchange_rates` answers
//!   `{"rates":{"btc":{…,"value":1.0,…},"usd":{…,"value":97000.0,…},"eur":{…,"value":89000.0,…}}}`:
//!   units of each currency per one bitcoin. One euro is therefore `usd.value / eur.value`
//!   dollars.
//!
//! When one of the two requests fails the other's prices are still used (logged); the
//! source fails only when both do.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::http::{get, join, json_decimal};
use crate::sources::{BoxFuture, RateSource};
use crate::{Quotes, RateError, asset};

/// The public API.
pub const DEFAULT_URL: &str = "https://api.coingecko.com";

const NAME: &str = "coingecko";

/// Crypto symbol → CoinGecko coin id.
pub const IDS: &[(&str, &str)] = &[
    ("BTC", "bitcoin"),
    ("LTC", "litecoin"),
    ("ETH", "ethereum"),
    ("USDT", "tether"),
    ("TRX", "tron"),
    ("SOL", "solana"),
    ("TON", "the-open-network"),
    ("BNB", "binancecoin"),
    ("USDC", "usd-coin"),
    ("DAI", "dai"),
    ("USDD", "usdd"),
    ("PYUSD", "paypal-usd"),
    ("XAUT", "tether-gold"),
    ("ARB", "arbitrum"),
    ("OP", "optimism"),
    ("PEPE", "pepe"),
    ("SHIB", "shiba-inu"),
    ("TRUMP", "official-trump"),
];

/// CoinGecko's prices.
#[derive(Clone, Debug)]
pub struct CoingeckoSource {
    client: reqwest::Client,
    prices_url: String,
    exchange_rates_url: String,
}

impl CoingeckoSource {
    /// A source asking the API at `base_url` (normally [`DEFAULT_URL`]) through `client`.
    pub fn new(client: reqwest::Client, base_url: &str) -> Self {
        // Ids are lower-case letters and dashes: nothing to escape.
        let ids: Vec<&str> = IDS.iter().map(|(_, id)| *id).collect();
        Self {
            client,
            prices_url: join(
                base_url,
                &format!(
                    "/api/v3/simple/price?ids={}&vs_currencies=usd",
                    ids.join(",")
                ),
            ),
            exchange_rates_url: join(base_url, "/api/v3/exchange_rates"),
        }
    }
}

impl RateSource for CoingeckoSource {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Quotes, RateError>> {
        Box::pin(async move {
            let (crypto, fiat) = tokio::join!(
                async { parse_prices(&get(&self.client, NAME, &self.prices_url).await?) },
                async {
                    parse_exchange_rates(&get(&self.client, NAME, &self.exchange_rates_url).await?)
                },
            );
            match (crypto, fiat) {
                (Ok(mut quotes), Ok(fiat)) => {
                    for (symbol, usd) in fiat.iter() {
                        quotes.insert(symbol, usd);
                    }
                    Ok(quotes)
                }
                (Ok(quotes), Err(e)) => {
                    tracing::warn!(source = NAME, error = %e, "fiat rates unavailable; using crypto prices only");
                    Ok(quotes)
                }
                (Err(e), Ok(quotes)) => {
                    tracing::warn!(source = NAME, error = %e, "crypto prices unavailable; using fiat rates only");
                    Ok(quotes)
                }
                (Err(e), Err(_)) => Err(e),
            }
        })
    }
}

fn malformed(message: String) -> RateError {
    RateError::Malformed {
        provider: NAME,
        message,
    }
}

/// Reads a `simple/price` answer into USD prices.
pub(crate) fn parse_prices(body: &[u8]) -> Result<Quotes, RateError> {
    let response: HashMap<String, HashMap<String, &RawValue>> =
        serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let mut quotes = Quotes::new();
    for (symbol, id) in IDS {
        let Some(raw) = response.get(*id).and_then(|vs| vs.get("usd")) else {
            // CoinGecko leaves out ids it does not list any more.
            continue;
        };
        let kept = json_decimal(raw).is_some_and(|usd| quotes.insert(symbol, usd));
        if !kept {
            tracing::warn!(
                source = NAME,
                asset = symbol,
                value = raw.get(),
                "unusable price"
            );
        }
    }
    if quotes.is_empty() {
        return Err(malformed("no price for any known coin".into()));
    }
    Ok(quotes)
}

#[derive(Deserialize)]
struct ExchangeRates<'a> {
    #[serde(borrow)]
    rates: HashMap<String, Entry<'a>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    value: &'a RawValue,
}

/// Reads an `exchange_rates` answer (units per bitcoin) into USD prices of the fiat
/// currencies.
pub(crate) fn parse_exchange_rates(body: &[u8]) -> Result<Quotes, RateError> {
    let response: ExchangeRates<'_> =
        serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let per_btc = |code: &str| {
        response
            .rates
            .get(&code.to_ascii_lowercase())
            .and_then(|e| json_decimal(e.value))
            .filter(|v| *v > Decimal::ZERO)
    };
    let usd_per_btc = per_btc(asset::USD).ok_or_else(|| malformed("no usable usd rate".into()))?;
    let mut quotes = Quotes::new();
    for code in asset::fiats() {
        if *code == asset::USD {
            continue;
        }
        // (USD per BTC) / (code per BTC) = USD per one unit of code.
        match per_btc(code).and_then(|v| usd_per_btc.checked_div(v)) {
            Some(usd) => {
                quotes.insert(code, usd);
            }
            // CoinGecko does not quote every currency Kassa prices in (e.g. UZS); the next
            // source covers them.
            None => tracing::debug!(source = NAME, asset = code, "no exchange rate"),
        }
    }
    if quotes.is_empty() {
        return Err(malformed("no rate for any known fiat currency".into()));
    }
    Ok(quotes)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::testing::{COINGECKO_EXCHANGE_RATES, COINGECKO_PRICES};

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn maps_every_crypto_symbol_to_an_id() {
        let mapped: Vec<&str> = IDS.iter().map(|(s, _)| *s).collect();
        assert_eq!(mapped, asset::cryptos());
    }

    #[test]
    fn reads_prices_from_their_text() {
        let q = parse_prices(COINGECKO_PRICES.as_bytes()).unwrap();
        assert_eq!(q.get("BTC"), Some(d("97000.12")));
        assert_eq!(q.get("PEPE"), Some(d("0.00001043")));
        assert_eq!(q.get("SHIB"), Some(d("0.00002187")));
        assert_eq!(q.get("TON"), Some(d("5.43")));
        assert_eq!(q.get("USDT"), Some(d("1.001")));
        // A price that went through f64 would not come back this exact.
        assert_eq!(q.get("ETH"), Some(d("3456.789012345678901")));
        // `dai` answered with an empty object, `usdd` with null: skipped, not fatal.
        assert_eq!(q.get("DAI"), None);
        assert_eq!(q.get("USDD"), None);
        assert_eq!(q.len(), 6);
    }

    #[test]
    fn derives_fiat_from_bitcoin_relative_rates() {
        let q = parse_exchange_rates(COINGECKO_EXCHANGE_RATES.as_bytes()).unwrap();
        assert_eq!(q.get("EUR"), Some(d("97000") / d("89000")));
        assert_eq!(q.get("JPY"), Some(d("97000") / d("14695500")));
        // Crypto entries (eth) and currencies Kassa does not price in are ignored; USD is 1.
        assert_eq!(q.get("ETH"), None);
        assert_eq!(q.get("USD"), None);
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "",
            "[]",
            r#"{"status":{"error_code":429}}"#,
            r#"{"bitcoin":{"eur":1}}"#,
        ] {
            assert!(parse_prices(bad.as_bytes()).is_err(), "{bad}");
        }
        for bad in [
            "",
            r#"{"rates":{}}"#,
            r#"{"rates":{"usd":{"value":0}}}"#,
            r#"{"rates":{"usd":{"value":97000.0}}}"#,
        ] {
            assert!(parse_exchange_rates(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
