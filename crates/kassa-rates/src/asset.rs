//! The assets rates are kept for: every crypto token symbol of the currency catalogue
//! (`BTC`, `USDT`, … — one symbol however many networks carry it, since a token's price does
//! not depend on its network) and the 25 fiat codes invoices can be priced in.
//!
//! The list is derived from `kassa_core::currency` so that a currency added there gets a
//! rate slot here; the tests check every source knows how to price it.

use std::collections::HashMap;
use std::sync::LazyLock;

use kassa_core::currency::{CRYPTOS, FIATS};

/// The US dollar, the unit every rate is expressed in.
pub const USD: &str = "USD";

struct Catalogue {
    /// Crypto symbols (catalogue order, each once), then fiat codes (API order).
    symbols: Vec<&'static str>,
    /// Symbol → position in `symbols`, for exact-case lookups (the common case).
    index: HashMap<&'static str, usize>,
    /// How many of `symbols` are crypto.
    cryptos: usize,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    let mut symbols: Vec<&'static str> = Vec::new();
    for c in CRYPTOS {
        if !symbols.contains(&c.symbol) {
            symbols.push(c.symbol);
        }
    }
    let cryptos = symbols.len();
    for f in FIATS {
        if !symbols.contains(&f.code) {
            symbols.push(f.code);
        }
    }
    let index = symbols.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    Catalogue {
        symbols,
        index,
        cryptos,
    }
});

/// Every asset symbol, crypto first, then fiat.
pub fn assets() -> &'static [&'static str] {
    &CATALOGUE.symbols
}

/// The crypto token symbols (`BTC`, `USDT`, …).
pub fn cryptos() -> &'static [&'static str] {
    &CATALOGUE.symbols[..CATALOGUE.cryptos]
}

/// The fiat currency codes (`USD`, `EUR`, …).
pub fn fiats() -> &'static [&'static str] {
    &CATALOGUE.symbols[CATALOGUE.cryptos..]
}

/// The canonical (upper-case) symbol for `symbol` in any letter case, if Kassa knows it.
pub fn canonical(symbol: &str) -> Option<&'static str> {
    index(symbol).map(|i| CATALOGUE.symbols[i])
}

/// Whether `symbol` is one of the fiat codes.
pub fn is_fiat(symbol: &str) -> bool {
    index(symbol).is_some_and(|i| i >= CATALOGUE.cryptos)
}

/// The position of `symbol` in [`assets`]: the slot of its quote in the cache.
pub(crate) fn index(symbol: &str) -> Option<usize> {
    let c = &*CATALOGUE;
    if let Some(i) = c.index.get(symbol) {
        return Some(*i);
    }
    // Lower-case input: a scan of ~40 short strings, no allocation.
    let symbol = symbol.trim();
    c.symbols
        .iter()
        .position(|s| s.eq_ignore_ascii_case(symbol))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_each_symbol_once_crypto_then_fiat() {
        assert_eq!(
            cryptos(),
            [
                "BTC", "LTC", "ETH", "USDT", "TRX", "SOL", "TON", "BNB", "USDC", "DAI", "USDD",
                "PYUSD", "XAUT", "ARB", "OP", "PEPE", "SHIB", "TRUMP"
            ]
        );
        assert_eq!(fiats().len(), 25);
        assert_eq!(assets().len(), 18 + 25);
        assert_eq!(canonical("usdt"), Some("USDT"));
        assert_eq!(canonical(" eur "), Some("EUR"));
        assert_eq!(canonical("DOGE"), None);
        assert!(is_fiat("jpy") && !is_fiat("BTC") && !is_fiat("XYZ"));
        assert_eq!(index("BTC"), Some(0));
    }
}
