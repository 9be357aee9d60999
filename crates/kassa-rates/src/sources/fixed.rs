//! The `fixed` source: a built-in table of plausible USD prices for every asset.
//!
//! It is for test mode and offline use, never for pricing real payments: test invoices are
//! always priced from it ([`crate::Rates::test_usd`]), and a deployment without network access
//! (or a development machine) can list it as its only source. The prices are round figures
//! of the right magnitude, not market data; operators can override any of them with
//! `rates.fixed` in the configuration. Its prices never go stale.

use std::collections::BTreeMap;

use kassa_core::money::parse_decimal;
use rust_decimal::Decimal;

use crate::sources::{BoxFuture, RateSource};
use crate::{Quotes, RateError, asset};

/// USD per one unit of each asset. Fiat values are the inverse of a typical units-per-dollar
/// rate; stablecoins are at their peg (XAUT tracks one troy ounce of gold).
const BUILTIN: &[(&str, &str)] = &[
    ("BTC", "97000"),
    ("LTC", "100"),
    ("ETH", "3500"),
    ("USDT", "1"),
    ("TRX", "0.25"),
    ("SOL", "180"),
    ("TON", "5.5"),
    ("BNB", "650"),
    ("USDC", "1"),
    ("DAI", "1"),
    ("USDD", "1"),
    ("PYUSD", "1"),
    ("XAUT", "2650"),
    ("ARB", "0.75"),
    ("OP", "1.9"),
    ("PEPE", "0.00001"),
    ("SHIB", "0.000022"),
    ("TRUMP", "15"),
    // Fiat. USD itself is 1 by definition and not listed.
    ("UZS", "0.000078"),
    ("KGS", "0.0115"),
    ("KZT", "0.0019"),
    ("AMD", "0.0026"),
    ("AZN", "0.5882"),
    ("BYN", "0.305"),
    ("AUD", "0.65"),
    ("TRY", "0.029"),
    ("AED", "0.2723"),
    ("CAD", "0.72"),
    ("CNY", "0.138"),
    ("HKD", "0.1285"),
    ("IDR", "0.000063"),
    ("INR", "0.0118"),
    ("JPY", "0.0066"),
    ("PHP", "0.0172"),
    ("SGD", "0.74"),
    ("THB", "0.029"),
    ("VND", "0.0000395"),
    ("MYR", "0.225"),
    ("RUB", "0.0105"),
    ("UAH", "0.024"),
    ("EUR", "1.08"),
    ("GBP", "1.27"),
];

/// The built-in price table, possibly with operator overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedSource {
    prices: Quotes,
}

impl Default for FixedSource {
    fn default() -> Self {
        Self::builtin()
    }
}

impl FixedSource {
    /// The built-in table.
    pub fn builtin() -> Self {
        let mut prices = Quotes::new();
        for (symbol, usd) in BUILTIN {
            // The table is checked by a test; a bad entry would only leave its asset unpriced.
            if let Some(usd) = parse_decimal(usd) {
                prices.insert(symbol, usd);
            }
        }
        Self { prices }
    }

    /// The built-in table with `overrides` (asset symbol → decimal USD price, e.g.
    /// `"BTC" → "65000.5"`) applied. An error names the entry: `fixed.BTC: …`.
    pub fn with_overrides(overrides: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut source = Self::builtin();
        for (symbol, usd) in overrides {
            let field = format!("fixed.{symbol}");
            let Some(canonical) = asset::canonical(symbol) else {
                return Err(format!(
                    "{field}: unknown asset (known: {})",
                    asset::assets().join(", ")
                ));
            };
            if canonical == asset::USD {
                return Err(format!("{field}: the US dollar is always 1"));
            }
            let price = parse_decimal(usd)
                .filter(|p| *p > Decimal::ZERO)
                .ok_or_else(|| {
                    format!("{field}: {usd:?} is not a positive decimal number such as \"97000.5\"")
                })?;
            source.prices.insert(canonical, price);
        }
        Ok(source)
    }

    /// The USD price of one unit of `asset` (any letter case); 1 for `USD`.
    pub fn usd(&self, asset: &str) -> Option<Decimal> {
        match asset::canonical(asset)? {
            asset::USD => Some(Decimal::ONE),
            symbol => self.prices.get(symbol),
        }
    }

    /// The whole table.
    pub fn quotes(&self) -> &Quotes {
        &self.prices
    }
}

impl RateSource for FixedSource {
    fn name(&self) -> &'static str {
        "fixed"
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Quotes, RateError>> {
        let prices = self.prices.clone();
        Box::pin(async move { Ok(prices) })
    }

    fn constant(&self) -> Option<Quotes> {
        Some(self.prices.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn prices_every_asset() {
        let fixed = FixedSource::builtin();
        for symbol in asset::assets() {
            let usd = fixed.usd(symbol);
            assert!(
                usd.is_some_and(|p| p > Decimal::ZERO),
                "{symbol} has no price"
            );
        }
        // Every table entry parsed (none silently dropped), and USD is not in the table.
        assert_eq!(fixed.quotes().len(), BUILTIN.len());
        assert_eq!(fixed.quotes().len(), asset::assets().len() - 1);
        assert_eq!(fixed.usd("usd"), Some(Decimal::ONE));
        assert_eq!(fixed.usd("DOGE"), None);
    }

    #[test]
    fn overrides_replace_entries_and_name_bad_ones() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let fixed =
            FixedSource::with_overrides(&map(&[("btc", "65000.5"), ("EUR", "1.1")])).unwrap();
        assert_eq!(
            fixed.usd("BTC"),
            Some(Decimal::from_str("65000.5").unwrap())
        );
        assert_eq!(fixed.usd("EUR"), Some(Decimal::from_str("1.1").unwrap()));
        assert_eq!(fixed.usd("ETH"), FixedSource::builtin().usd("ETH"));

        let err = FixedSource::with_overrides(&map(&[("DOGE", "0.1")])).unwrap_err();
        assert!(err.starts_with("fixed.DOGE: unknown asset"), "{err}");
        let err = FixedSource::with_overrides(&map(&[("BTC", "1e5")])).unwrap_err();
        assert!(
            err.starts_with("fixed.BTC: \"1e5\" is not a positive decimal"),
            "{err}"
        );
        let err = FixedSource::with_overrides(&map(&[("ETH", "0")])).unwrap_err();
        assert!(err.starts_with("fixed.ETH:"), "{err}");
        let err = FixedSource::with_overrides(&map(&[("USD", "1")])).unwrap_err();
        assert!(err.starts_with("fixed.USD:"), "{err}");
    }
}
