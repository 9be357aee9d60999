//! The `binance` source: Binance's spot ticker prices, crypto only.
//!
//! `GET {base}/api/v3/ticker/price` answers every trading pair at once:
//! `[{"symbol":"BTCUSDT","price":"97000.12000000"},…]`. Kassa reads the `<SYMBOL>USDT` pairs.
//! (Asking for just those pairs with `?symbols=[…]` fails the whole request when one of them
//! is not listed, so the full list is fetched.)
//!
//! Binance has no US-dollar market: prices are in USDT, and **this source treats 1 USDT as
//! exactly 1 USD** (and reports USDT itself at 1, the same assumption). A de-peg moves every
//! price from this source by the same fraction; list a USD-quoted source first where that
//! matters.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::http::{get, join, json_decimal};
use crate::sources::{BoxFuture, RateSource};
use crate::{Quotes, RateError, asset};

/// The public API.
pub const DEFAULT_URL: &str = "https://api.binance.com";

const NAME: &str = "binance";

/// The quote currency of the pairs read, taken as the US dollar.
const QUOTE: &str = "USDT";

/// Binance's spot prices against USDT.
#[derive(Clone, Debug)]
pub struct BinanceSource {
    client: reqwest::Client,
    url: String,
}

impl BinanceSource {
    /// A source asking the API at `base_url` (normally [`DEFAULT_URL`]) through `client`.
    pub fn new(client: reqwest::Client, base_url: &str) -> Self {
        Self {
            client,
            url: join(base_url, "/api/v3/ticker/price"),
        }
    }
}

impl RateSource for BinanceSource {
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
struct Ticker<'a> {
    symbol: String,
    #[serde(borrow)]
    price: &'a RawValue,
}

/// Reads a ticker list into USD prices of the crypto assets.
pub(crate) fn parse(body: &[u8]) -> Result<Quotes, RateError> {
    let tickers: Vec<Ticker<'_>> =
        serde_json::from_slice(body).map_err(|e| RateError::Malformed {
            provider: NAME,
            message: e.to_string(),
        })?;
    let by_pair: HashMap<&str, &RawValue> = tickers
        .iter()
        .map(|t| (t.symbol.as_str(), t.price))
        .collect();
    let mut quotes = Quotes::new();
    for symbol in asset::cryptos() {
        if *symbol == QUOTE {
            continue;
        }
        let Some(raw) = by_pair.get(format!("{symbol}{QUOTE}").as_str()) else {
            // Not every token trades against USDT on Binance (e.g. XAUT, PYUSD).
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
        return Err(RateError::Malformed {
            provider: NAME,
            message: format!("no {QUOTE} price for any known asset"),
        });
    }
    quotes.insert(QUOTE, Decimal::ONE);
    Ok(quotes)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::testing::BINANCE;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn reads_usdt_pairs() {
        let q = parse(BINANCE.as_bytes()).unwrap();
        assert_eq!(q.get("BTC"), Some(d("97000.12")));
        assert_eq!(q.get("ETH"), Some(d("3456.78")));
        assert_eq!(q.get("PEPE"), Some(d("0.00001043")));
        assert_eq!(q.get("USDC"), Some(d("1.0001")));
        assert_eq!(q.get("USDT"), Some(Decimal::ONE));
        // ETHBTC, BTCEUR and EURUSDT are not `<crypto>USDT` pairs; DOGE is not a Kassa asset.
        assert_eq!(q.get("EUR"), None);
        assert_eq!(q.len(), 5);
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "",
            "{}",
            r#"{"code":-1121,"msg":"Invalid symbol."}"#,
            r#"[{"symbol":"DOGEUSDT","price":"0.1"}]"#,
            r#"[{"symbol":"BTCUSDT","price":"zero"}]"#,
        ] {
            assert!(
                matches!(
                    parse(bad.as_bytes()),
                    Err(RateError::Malformed {
                        provider: "binance",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
