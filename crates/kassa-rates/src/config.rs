//! [`RatesConfig`]: the exchange-rate settings, meant to be embedded as one section (e.g.
//! `[rates]`) of the application's settings, and building [`Rates`] from them.
//!
//! [`RatesConfig::validate`] names the bad field relative to this struct (`sources: …`,
//! `fixed.BTC: …`), so the embedding application can prefix its section name.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kassa_core::time::Clock;
use serde::{Deserialize, Serialize};

use crate::cache::{DEFAULT_MAX_AGE, DEFAULT_REFRESH};
use crate::sources::{binance, coinbase, coingecko};
use crate::{
    BinanceSource, CoinbaseSource, CoingeckoSource, FixedSource, RateSource, Rates, http_client,
};

/// The source names [`RatesConfig::sources`] may list.
pub const SOURCE_NAMES: [&str; 4] = ["fixed", "coinbase", "coingecko", "binance"];

/// How long one request to a price API may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Exchange-rate settings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RatesConfig {
    /// Sources in fallback order, comma-separated, from `fixed`, `coinbase`, `coingecko` and
    /// `binance`, e.g. `"coinbase,coingecko,fixed"`. Default `"fixed"`: the built-in table,
    /// for test mode and offline use only. A live deployment lists live sources; putting
    /// `fixed` last prices invoices from the table when every live source is down or stale.
    pub sources: String,
    /// Base URL of the Coinbase API.
    pub coinbase_url: String,
    /// Base URL of the CoinGecko API.
    pub coingecko_url: String,
    /// Base URL of the Binance API.
    pub binance_url: String,
    /// Seconds between refreshes of the live sources.
    pub refresh_secs: u64,
    /// Seconds after which a live quote is stale and no longer prices invoices. Must exceed
    /// `refresh_secs`, or quotes would expire between refreshes.
    pub max_age_secs: u64,
    /// Overrides of the fixed table (which prices test-mode invoices, and live ones when
    /// `fixed` is listed in `sources`): asset symbol → USD price of one unit as a decimal
    /// string, e.g. `BTC = "65000"`.
    pub fixed: BTreeMap<String, String>,
}

impl Default for RatesConfig {
    fn default() -> Self {
        Self {
            sources: "fixed".into(),
            coinbase_url: coinbase::DEFAULT_URL.into(),
            coingecko_url: coingecko::DEFAULT_URL.into(),
            binance_url: binance::DEFAULT_URL.into(),
            refresh_secs: DEFAULT_REFRESH.as_secs(),
            max_age_secs: DEFAULT_MAX_AGE.as_secs(),
            fixed: BTreeMap::new(),
        }
    }
}

impl RatesConfig {
    /// Checks every field; the error starts with the field's name.
    pub fn validate(&self) -> Result<(), String> {
        self.source_names()?;
        for (field, url) in [
            ("coinbase_url", &self.coinbase_url),
            ("coingecko_url", &self.coingecko_url),
            ("binance_url", &self.binance_url),
        ] {
            check_url(field, url)?;
        }
        if self.refresh_secs == 0 {
            return Err("refresh_secs: must be at least 1".into());
        }
        if self.refresh_secs > 86_400 {
            return Err("refresh_secs: must be at most 86400 (a day)".into());
        }
        if self.max_age_secs <= self.refresh_secs {
            return Err(format!(
                "max_age_secs: must be more than refresh_secs ({}), or quotes expire between refreshes",
                self.refresh_secs
            ));
        }
        FixedSource::with_overrides(&self.fixed)?;
        Ok(())
    }

    /// The configured source names, in order.
    pub fn source_names(&self) -> Result<Vec<&'static str>, String> {
        let mut names: Vec<&'static str> = Vec::new();
        for piece in self.sources.split(',').map(str::trim) {
            if piece.is_empty() {
                continue;
            }
            let Some(name) = SOURCE_NAMES.iter().find(|n| n.eq_ignore_ascii_case(piece)) else {
                return Err(format!(
                    "sources: unknown source {piece:?} (known: {})",
                    SOURCE_NAMES.join(", ")
                ));
            };
            if names.contains(name) {
                return Err(format!("sources: {name} is listed twice"));
            }
            names.push(name);
        }
        if names.is_empty() {
            return Err(format!(
                "sources: must list at least one of {}",
                SOURCE_NAMES.join(", ")
            ));
        }
        Ok(names)
    }
}

fn check_url(field: &str, url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| format!("{field}: {url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "{field}: {url:?} must start with https:// or http://"
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{field}: {url:?} has no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "{field}: {url:?} must be a base URL without ?query or #fragment"
        ));
    }
    Ok(())
}

impl Rates {
    /// Validates `config` and builds the cache with an HTTP client that gives every request
    /// [`REQUEST_TIMEOUT`]. No request is made yet: call [`Rates::refresh`] or start
    /// [`Rates::run`].
    pub fn from_config(config: &RatesConfig, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let client = http_client(REQUEST_TIMEOUT)
            .map_err(|e| format!("cannot build the HTTP client for exchange rates: {e}"))?;
        Self::from_config_with_client(config, client, clock)
    }

    /// [`Rates::from_config`] with a given HTTP client (tests use short timeouts).
    pub fn from_config_with_client(
        config: &RatesConfig,
        client: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        config.validate()?;
        let fixed = FixedSource::with_overrides(&config.fixed)?;
        let sources = config
            .source_names()?
            .into_iter()
            .map(|name| -> Arc<dyn RateSource> {
                match name {
                    "coinbase" => {
                        Arc::new(CoinbaseSource::new(client.clone(), &config.coinbase_url))
                    }
                    "coingecko" => {
                        Arc::new(CoingeckoSource::new(client.clone(), &config.coingecko_url))
                    }
                    "binance" => Arc::new(BinanceSource::new(client.clone(), &config.binance_url)),
                    // "fixed", the only other name `source_names` gives.
                    _ => Arc::new(fixed.clone()),
                }
            })
            .collect();
        Ok(Rates::new(sources, clock)
            .with_refresh_interval(Duration::from_secs(config.refresh_secs))
            .with_max_age(Duration::from_secs(config.max_age_secs))
            .with_test_prices(fixed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(edit: impl FnOnce(&mut RatesConfig)) -> String {
        let mut c = RatesConfig::default();
        edit(&mut c);
        c.validate().unwrap_err()
    }

    #[test]
    fn defaults_are_valid_and_documented() {
        let c = RatesConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.source_names(), Ok(vec!["fixed"]));
        assert_eq!((c.refresh_secs, c.max_age_secs), (60, 600));
        assert_eq!(c.coinbase_url, "https://api.coinbase.com");
        assert_eq!(c.coingecko_url, "https://api.coingecko.com");
        assert_eq!(c.binance_url, "https://api.binance.com");
    }

    #[test]
    fn deserializes_with_defaults_and_refuses_unknown_fields() {
        let c: RatesConfig = serde_json::from_str(
            r#"{"sources":"coinbase, CoinGecko ,fixed","fixed":{"BTC":"65000"}}"#,
        )
        .unwrap();
        assert_eq!(c.source_names(), Ok(vec!["coinbase", "coingecko", "fixed"]));
        assert_eq!(c.refresh_secs, 60);
        assert_eq!(c.validate(), Ok(()));
        let err = serde_json::from_str::<RatesConfig>(r#"{"source":"fixed"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `source`"), "{err}");
    }

    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(String, &str)> = vec![
            (
                invalid(|c| c.sources = "coinbase,kraken".into()),
                "sources: unknown source \"kraken\"",
            ),
            (
                invalid(|c| c.sources = " , ".into()),
                "sources: must list at least one",
            ),
            (
                invalid(|c| c.sources = "fixed,coinbase,fixed".into()),
                "sources: fixed is listed twice",
            ),
            (
                invalid(|c| c.coinbase_url = "api.coinbase.com".into()),
                "coinbase_url: \"api.coinbase.com\" is not a URL",
            ),
            (
                invalid(|c| c.coingecko_url = "ftp://example.com".into()),
                "coingecko_url: \"ftp://example.com\" must start with",
            ),
            (
                invalid(|c| c.binance_url = "https://x.example/?k=1".into()),
                "binance_url: ",
            ),
            (
                invalid(|c| c.refresh_secs = 0),
                "refresh_secs: must be at least 1",
            ),
            (
                invalid(|c| c.max_age_secs = 60),
                "max_age_secs: must be more than refresh_secs (60)",
            ),
            (
                invalid(|c| {
                    c.fixed.insert("BTC".into(), "lots".into());
                }),
                "fixed.BTC: \"lots\" is not a positive decimal",
            ),
            (
                invalid(|c| {
                    c.fixed.insert("DOGE".into(), "0.1".into());
                }),
                "fixed.DOGE: unknown asset",
            ),
        ];
        for (err, want) in cases {
            assert!(err.starts_with(want), "{err:?} should start with {want:?}");
        }
    }

    #[test]
    fn builds_rates_in_the_configured_order() {
        let config = RatesConfig {
            sources: "binance,coinbase,coingecko,fixed".into(),
            refresh_secs: 30,
            max_age_secs: 120,
            fixed: [("EUR".to_owned(), "1.5".to_owned())].into(),
            ..RatesConfig::default()
        };
        let clock = Arc::new(kassa_core::time::ManualClock::new(
            kassa_core::Timestamp::EPOCH,
        ));
        let rates = Rates::from_config(&config, clock).unwrap();
        assert_eq!(
            rates.source_names(),
            ["binance", "coinbase", "coingecko", "fixed"]
        );
        assert_eq!(rates.refresh_interval(), Duration::from_secs(30));
        assert_eq!(rates.max_age(), Duration::from_secs(120));
        let now = kassa_core::Timestamp::EPOCH;
        // The overridden fixed table answers at once, for live and test pricing alike.
        assert_eq!(rates.usd("EUR", now).unwrap().usd.to_string(), "1.5");
        assert_eq!(rates.test_usd("EUR", now).unwrap().usd.to_string(), "1.5");
        let bad = RatesConfig {
            sources: "nope".into(),
            ..RatesConfig::default()
        };
        assert!(Rates::from_config(&bad, Arc::new(kassa_core::time::SystemClock)).is_err());
    }
}
