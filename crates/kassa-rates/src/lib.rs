//! Exchange rates for Kassa: the US-dollar price of one unit of every asset an invoice can be
//! priced in (the 25 fiat currencies) or paid in (the crypto token symbols).
//!
//! Prices come from [`RateSource`]s — the built-in [`FixedSource`] table and the public
//! Coinbase, CoinGecko and Binance APIs — and are kept in memory by [`Rates`], which refreshes
//! them in the background ([`Rates::run`]) and answers [`Rates::usd`] without any I/O, taking
//! the first source in the configured order whose quote is not stale. Every price is an exact
//! [`Decimal`]; JSON numbers are read from their text, never through `f64`.
//!
//! | module | what lives there |
//! |---|---|
//! | [`asset`] | the asset symbols (crypto and fiat) and their lookup |
//! | [`error`] | [`RateError`] |
//! | [`cache`] | [`Rates`]: the in-memory quotes, fallback, staleness, the refresh loop |
//! | [`config`] | [`RatesConfig`]: the `[rates]` settings and building [`Rates`] from them |
//! | [`sources`] | [`RateSource`] and the four sources |

pub mod asset;
pub mod cache;
pub mod config;
pub mod error;
mod http;
pub mod sources;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use kassa_core::Timestamp;
pub use rust_decimal::Decimal;

pub use cache::{Rates, Refreshed};
pub use config::RatesConfig;
pub use error::RateError;
pub use http::http_client;
pub use sources::binance::BinanceSource;
pub use sources::coinbase::CoinbaseSource;
pub use sources::coingecko::CoingeckoSource;
pub use sources::fixed::FixedSource;
pub use sources::{BoxFuture, RateSource};

/// The price of one unit of an asset, as it was when a source reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// US dollars per one unit of the asset (one bitcoin, one euro), exact.
    pub usd: Decimal,
    /// The source that reported it (`fixed`, `coinbase`, `coingecko`, `binance`), or
    /// `identity` for US dollars themselves.
    pub source: &'static str,
    /// When the source reported it.
    pub fetched_at: Timestamp,
}

/// `amount` units of the asset `from` prices, in units of the asset `to` prices:
/// `amount × from.usd ÷ to.usd`, to the 28 significant digits of a decimal, not rounded to
/// either currency's precision. `None` on overflow. Use it with rates locked on an invoice as
/// well as with fresh ones, so both convert the same way.
pub fn convert(amount: Decimal, from: &Rate, to: &Rate) -> Option<Decimal> {
    amount.checked_mul(from.usd)?.checked_div(to.usd)
}

/// The USD prices one source reported in one fetch, keyed by canonical asset symbol.
///
/// Only assets Kassa knows ([`asset::assets`]) with a positive price are kept; US dollars are
/// never stored because their price is 1 by definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quotes(BTreeMap<&'static str, Decimal>);

impl Quotes {
    /// No prices.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the USD price of one unit of `asset` (any letter case). Returns whether it was
    /// kept: unknown assets, `USD` and prices that are zero or negative are dropped, because a
    /// source's list always carries assets Kassa does not deal in, and a zero price would
    /// make every conversion through it divide by zero.
    pub fn insert(&mut self, asset: &str, usd: Decimal) -> bool {
        match asset::canonical(asset) {
            Some(symbol) if symbol != asset::USD && usd > Decimal::ZERO => {
                self.0.insert(symbol, usd.normalize());
                true
            }
            _ => false,
        }
    }

    /// The price of `asset` (any letter case), if reported.
    pub fn get(&self, asset: &str) -> Option<Decimal> {
        self.0.get(asset::canonical(asset)?).copied()
    }

    /// How many assets have a price.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no asset has a price.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every (symbol, price), in symbol order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Decimal)> + '_ {
        self.0.iter().map(|(k, v)| (*k, *v))
    }
}
