//! [`Rates`]: the newest quote of every (source, asset), kept in memory.
//!
//! Invoice creation asks [`Rates::usd`] for a price thousands of times a second, so that call
//! never does I/O: it takes a read lock on a small table and walks the sources in their
//! configured order, returning the first quote that is not stale. The network is only touched
//! by [`Rates::refresh`], which [`Rates::run`] calls every refresh interval in the background.
//! A source that fails keeps its older quotes, which answer until they pass the staleness
//! limit; the next source in the order covers the assets they no longer can.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use kassa_core::Timestamp;
use kassa_core::time::Clock;
use rust_decimal::Decimal;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::sources::{RateSource, fixed::FixedSource};
use crate::{Quotes, Rate, RateError, asset};

/// How often [`Rates::run`] refreshes, unless told otherwise.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

/// How old a live quote may be and still price an invoice, unless told otherwise.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

/// What [`Rate::source`] says for the US dollar, which no source prices: it is 1 by definition.
pub const IDENTITY: &str = "identity";

/// Exchange rates from an ordered list of sources, cached in memory.
pub struct Rates {
    /// The sources, in fallback order.
    slots: Vec<Slot>,
    /// `quotes[slot][asset::index(symbol)]`: the newest quote of that source for that asset.
    quotes: RwLock<Vec<Vec<Option<Quote>>>>,
    /// Prices for test-mode invoices, whatever the configured sources are.
    test_prices: FixedSource,
    refresh_interval: Duration,
    max_age: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Rates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rates")
            .field("sources", &self.source_names())
            .field("refresh_interval", &self.refresh_interval)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

struct Slot {
    source: Arc<dyn RateSource>,
    name: &'static str,
    /// Prices that never change and never go stale (the built-in table).
    constant: bool,
}

#[derive(Clone, Copy, Debug)]
struct Quote {
    usd: Decimal,
    fetched_at: Timestamp,
}

/// The outcome of one [`Rates::refresh`], in source order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// The sources that answered, with how many assets each priced.
    pub updated: Vec<(&'static str, usize)>,
    /// The sources that failed (their older quotes were kept), with why.
    pub failed: Vec<(&'static str, RateError)>,
}

impl Rates {
    /// A cache over `sources`, asked in this order, with the default refresh interval (60 s)
    /// and staleness limit (600 s), and the built-in table for test mode. Constant sources
    /// (the fixed table) answer at once; live ones after the first [`Rates::refresh`].
    pub fn new(sources: Vec<Arc<dyn RateSource>>, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        let mut table = Vec::with_capacity(sources.len());
        let mut slots = Vec::with_capacity(sources.len());
        for source in sources {
            let constant = source.constant();
            let mut row = vec![None; asset::assets().len()];
            if let Some(quotes) = &constant {
                put(&mut row, quotes, now);
            }
            table.push(row);
            slots.push(Slot {
                name: source.name(),
                constant: constant.is_some(),
                source,
            });
        }
        Self {
            slots,
            quotes: RwLock::new(table),
            test_prices: FixedSource::builtin(),
            refresh_interval: DEFAULT_REFRESH,
            max_age: DEFAULT_MAX_AGE,
            clock,
        }
    }

    /// Sets how often [`Rates::run`] refreshes.
    #[must_use]
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Sets how old a live quote may be before [`Rates::usd`] refuses it.
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets the prices test-mode invoices use (normally the fixed table with the configured
    /// overrides).
    #[must_use]
    pub fn with_test_prices(mut self, prices: FixedSource) -> Self {
        self.test_prices = prices;
        self
    }

    /// The names of the sources, in fallback order.
    pub fn source_names(&self) -> Vec<&'static str> {
        self.slots.iter().map(|s| s.name).collect()
    }

    /// How often [`Rates::run`] refreshes.
    pub fn refresh_interval(&self) -> Duration {
        self.refresh_interval
    }

    /// How old a live quote may be.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The USD price of one unit of `asset` (a crypto symbol such as `BTC` or a fiat code such
    /// as `EUR`, any letter case) at `now`, from memory: the first source in the configured
    /// order with a quote no older than the staleness limit. `USD` is always exactly 1.
    ///
    /// Errors: [`RateError::UnknownAsset`], [`RateError::Stale`] when every quote is too old,
    /// [`RateError::Unavailable`] when no source has ever priced it.
    pub fn usd(&self, asset: &str, now: Timestamp) -> Result<Rate, RateError> {
        let (i, symbol) = lookup(asset)?;
        if symbol == asset::USD {
            return Ok(identity(now));
        }
        let table = self.quotes.read().unwrap_or_else(PoisonError::into_inner);
        let mut newest_stale: Option<Timestamp> = None;
        for (slot, row) in self.slots.iter().zip(table.iter()) {
            let Some(q) = row.get(i).copied().flatten() else {
                continue;
            };
            if slot.constant || now.duration_since(q.fetched_at) <= self.max_age {
                return Ok(Rate {
                    usd: q.usd,
                    source: slot.name,
                    fetched_at: q.fetched_at,
                });
            }
            newest_stale = newest_stale.max(Some(q.fetched_at));
        }
        Err(match newest_stale {
            Some(at) => RateError::Stale {
                asset: symbol,
                age_secs: now.duration_since(at).as_secs(),
                max_age_secs: self.max_age.as_secs(),
            },
            None => RateError::Unavailable { asset: symbol },
        })
    }

    /// The price of one unit of `asset` for a test-mode invoice: always the fixed table
    /// (with its configured overrides), whatever the live sources say, stamped `now`.
    pub fn test_usd(&self, asset: &str, now: Timestamp) -> Result<Rate, RateError> {
        let (_, symbol) = lookup(asset)?;
        if symbol == asset::USD {
            return Ok(identity(now));
        }
        let usd = self
            .test_prices
            .usd(symbol)
            .ok_or(RateError::Unavailable { asset: symbol })?;
        Ok(Rate {
            usd,
            source: self.test_prices.name(),
            fetched_at: now,
        })
    }

    /// `amount` units of `from` expressed in units of `to` at `now`, exact up to the 28
    /// significant digits of a decimal and not rounded to either currency's precision (the
    /// caller rounds, e.g. up for what a payer owes).
    pub fn convert(
        &self,
        amount: Decimal,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> Result<Decimal, RateError> {
        let (_, from) = lookup(from)?;
        let (_, to) = lookup(to)?;
        let (from_rate, to_rate) = (self.usd(from, now)?, self.usd(to, now)?);
        crate::convert(amount, &from_rate, &to_rate).ok_or(RateError::Overflow { from, to })
    }

    /// Fetches every live source at once and stores what each reported, stamped with the
    /// clock's time when it answered. A failing source is logged and skipped (its older quotes
    /// stay); so is one that panics. Never fails as a whole.
    pub async fn refresh(&self) -> Refreshed {
        let mut tasks = JoinSet::new();
        let mut slot_of = HashMap::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.constant {
                continue;
            }
            let source = Arc::clone(&slot.source);
            // A task per source: one slow source (up to its 10 s timeout) does not hold up the
            // others, and a panic inside a source is contained.
            let handle = tasks.spawn(async move { source.fetch().await });
            slot_of.insert(handle.id(), i);
        }
        let mut outcomes: Vec<(usize, Result<Quotes, RateError>)> = Vec::new();
        while let Some(joined) = tasks.join_next_with_id().await {
            match joined {
                Ok((id, result)) => {
                    if let Some(&i) = slot_of.get(&id) {
                        if let Ok(quotes) = &result {
                            self.store(i, quotes, self.clock.now());
                        }
                        outcomes.push((i, result));
                    }
                }
                Err(e) => {
                    if let Some(&i) = slot_of.get(&e.id()) {
                        let error = RateError::Request {
                            provider: self.slots[i].name,
                            message: format!("the source failed: {e}"),
                        };
                        outcomes.push((i, Err(error)));
                    }
                }
            }
        }
        outcomes.sort_by_key(|(i, _)| *i);
        let mut report = Refreshed::default();
        for (i, result) in outcomes {
            let name = self.slots[i].name;
            match result {
                Ok(quotes) => {
                    tracing::debug!(
                        source = name,
                        assets = quotes.len(),
                        "exchange rates refreshed"
                    );
                    report.updated.push((name, quotes.len()));
                }
                Err(error) => {
                    tracing::warn!(source = name, %error, "exchange rate source failed; keeping its older quotes");
                    report.failed.push((name, error));
                }
            }
        }
        report
    }

    /// Refreshes now and then every refresh interval until `stop` is cancelled. Rates are a
    /// cache, not durable work: a refresh cut short by `stop` is simply dropped.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        if self.slots.iter().all(|s| s.constant) {
            // Nothing to refresh (the fixed table only).
            stop.cancelled().await;
            return;
        }
        tracing::info!(
            sources = %self.source_names().join(","),
            every_secs = self.refresh_interval.as_secs(),
            "refreshing exchange rates"
        );
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                _ = self.refresh() => {}
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.refresh_interval) => {}
            }
        }
    }

    fn store(&self, slot: usize, quotes: &Quotes, at: Timestamp) {
        let mut table = self.quotes.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(row) = table.get_mut(slot) {
            put(row, quotes, at);
        }
    }
}

/// Writes `quotes` into one source's row, keeping an existing quote that is newer (a clock
/// set back must not let an older answer replace a newer one).
fn put(row: &mut [Option<Quote>], quotes: &Quotes, at: Timestamp) {
    for (symbol, usd) in quotes.iter() {
        let Some(cell) = asset::index(symbol).and_then(|i| row.get_mut(i)) else {
            continue;
        };
        if cell.is_none_or(|old| old.fetched_at <= at) {
            *cell = Some(Quote {
                usd,
                fetched_at: at,
            });
        }
    }
}

fn lookup(asset: &str) -> Result<(usize, &'static str), RateError> {
    asset::index(asset)
        .map(|i| (i, asset::assets()[i]))
        .ok_or_else(|| RateError::UnknownAsset {
            asset: asset.to_owned(),
        })
}

fn identity(now: Timestamp) -> Rate {
    Rate {
        usd: Decimal::ONE,
        source: IDENTITY,
        fetched_at: now,
    }
}
