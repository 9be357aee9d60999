//! Where prices come from: the [`RateSource`] trait and its implementations.
//!
//! | source | what it knows | how |
//! |---|---|---|
//! | [`fixed`] | every asset | a built-in table, overridable from configuration |
//! | [`coinbase`] | crypto and fiat | `GET /v2/exchange-rates?currency=USD` |
//! | [`coingecko`] | crypto and fiat | `GET /api/v3/simple/price`, `GET /api/v3/exchange_rates` |
//! | [`binance`] | crypto | `GET /api/v3/ticker/price` (USDT pairs) |

pub mod binance;
pub mod coinbase;
pub mod coingecko;
pub mod fixed;

use std::future::Future;
use std::pin::Pin;

use crate::{Quotes, RateError};

/// A boxed future that can move between threads, as the object-safe trait needs.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A place that reports USD prices.
pub trait RateSource: Send + Sync + 'static {
    /// A short stable name (`coinbase`), recorded with every [`crate::Rate`] and used in logs.
    fn name(&self) -> &'static str;

    /// Fetches the USD price of one unit of every asset the source knows. Must not panic; a
    /// source that cannot answer returns an error and [`crate::Rates`] keeps its older quotes.
    fn fetch(&self) -> BoxFuture<'_, Result<Quotes, RateError>>;

    /// Prices known without any I/O, for a source whose prices never change (the built-in
    /// table). They are loaded when [`crate::Rates`] is built, so they answer before the first
    /// refresh, and they never go stale. `None` (the default) for live sources.
    fn constant(&self) -> Option<Quotes> {
        None
    }
}
