//! Prices and fees for invoices: exchange rates (the fixed table for test invoices, the
//! configured sources for live ones, always from memory), the service fee, the transfer fee
//! per network, and which currencies take live payments.

use std::collections::BTreeMap;
use std::sync::Arc;

use kassa_core::currency::{Crypto, Network};
use kassa_core::{Decimal, Timestamp};
use kassa_rates::{Rate, RateError, Rates};

/// The pricing facade every invoice computation uses.
pub struct Pricing {
    /// The rate cache (refreshed in the background).
    pub rates: Arc<Rates>,
    /// Service fee in percent.
    pub service_percent: Decimal,
    transfer_usd: BTreeMap<&'static str, Decimal>,
    /// Codes of the currencies live payments are taken in.
    live: Vec<&'static str>,
}

impl Pricing {
    /// Builds the facade.
    pub fn new(
        rates: Arc<Rates>,
        service_percent: Decimal,
        transfer_usd: BTreeMap<&'static str, Decimal>,
        live_currencies: Vec<&'static str>,
    ) -> Self {
        Self {
            rates,
            service_percent,
            transfer_usd,
            live: live_currencies,
        }
    }

    /// US dollars per unit of `asset`: the fixed table for test invoices (deterministic and
    /// offline), the configured sources for live ones. Never waits on the network.
    pub fn usd(&self, asset: &str, test: bool, now: Timestamp) -> Result<Rate, RateError> {
        if test {
            self.rates.test_usd(asset, now)
        } else {
            self.rates.usd(asset, now)
        }
    }

    /// The transfer fee of a network in USD.
    pub fn transfer_usd(&self, network: &Network) -> Decimal {
        self.transfer_usd
            .get(network.code)
            .copied()
            .unwrap_or(Decimal::ZERO)
    }

    /// Whether live payments are taken in `crypto` (its network's node and wallet are
    /// configured, and a token is on the network's allowlist).
    pub fn live_crypto(&self, crypto: &Crypto) -> bool {
        self.live.contains(&crypto.code)
    }

    /// Whether live payments are taken in some currency of `network`.
    pub fn live_network(&self, network: &Network) -> bool {
        self.live.iter().any(|code| {
            kassa_core::currency::crypto(code).is_some_and(|c| c.network.code == network.code)
        })
    }

    /// Whether any network takes live payments.
    pub fn any_live_network(&self) -> bool {
        !self.live.is_empty()
    }
}
