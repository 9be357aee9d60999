//! The fuzz targets. Each reads `data` the way a client could send it and checks what the
//! parser promises about its answer.

#![allow(
    clippy::panic,
    reason = "a fuzz target reports a broken property by panicking"
)]

use kassa_chain::Chain;
use kassa_chain::spend::Destination;
use kassa_core::account::Email;
use kassa_core::currency::{self, NETWORKS};
use kassa_core::input::{self, Declared, Limits};
use kassa_core::money::{Amount, parse_decimal};
use serde_json::Value;

/// The parser's limits the first byte of `data` picks, and the rest.
fn split(data: &[u8]) -> (Limits, Declared, &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return (Limits::API_BODY, Declared::Other, data);
    };
    let limits = match first % 3 {
        0 => Limits::API_BODY,
        1 => Limits::PAGE_FORM,
        _ => Limits::QUERY,
    };
    let declared = if first & 0x80 != 0 {
        Declared::Form
    } else {
        Declared::Other
    };
    (limits, declared, rest)
}

/// Request bodies (JSON and forms, either declared): an object within every limit, or an
/// error.
pub fn body(data: &[u8]) {
    let (limits, declared, rest) = split(data);
    let Ok(map) = input::parse_body(rest, declared, &limits) else {
        return;
    };
    let (mut fields, mut stack) = (0usize, vec![(1usize, Value::Object(map))]);
    while let Some((depth, v)) = stack.pop() {
        assert!(depth <= limits.max_depth + 1, "nested {depth} deep");
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    assert!(k.len() <= limits.max_key_len, "key of {} bytes", k.len());
                    fields += 1;
                    stack.push((depth + 1, child));
                }
            }
            Value::Array(items) => {
                fields += items.len();
                stack.extend(items.into_iter().map(|c| (depth + 1, c)));
            }
            Value::String(s) => assert!(s.len() <= limits.max_value_len),
            _ => {}
        }
    }
    assert!(fields <= limits.max_fields, "{fields} fields");
}

/// Query strings and flat forms.
pub fn query(data: &[u8]) {
    let (limits, _, rest) = split(data);
    if let Ok(pairs) = input::pairs(rest, &limits) {
        assert!(pairs.len() <= limits.max_fields);
        for (k, v) in pairs {
            assert!(k.len() <= limits.max_key_len && v.len() <= limits.max_value_len);
        }
    }
}

/// Amounts as text, for every number of decimals a currency has: exact parsing round-trips,
/// decimal parsing refuses exponents and never panics.
pub fn amount(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for decimals in [0, 2, 6, 8, 9, 18] {
        if let Ok(a) = Amount::parse(&text, decimals) {
            let printed = a.to_decimal_string(decimals);
            assert_eq!(
                Amount::parse(&printed, decimals),
                Ok(a),
                "{text:?} → {printed}"
            );
        }
    }
    if let Some(d) = parse_decimal(&text) {
        assert!(!text.contains(['e', 'E']));
        for decimals in [0, 2, 8, 18] {
            for rounding in [
                kassa_core::money::Rounding::Up,
                kassa_core::money::Rounding::Down,
                kassa_core::money::Rounding::HalfUp,
            ] {
                let _ = Amount::from_decimal(d, decimals, rounding);
            }
        }
    }
}

/// Currency and network codes as clients send them.
pub fn currency(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(c) = currency::crypto(&text) {
        assert_eq!(c.code, text);
    }
    if let Some(f) = currency::fiat(&text) {
        assert_eq!(f.code, text);
    }
    let _ = currency::network(&text);
}

/// E-mail addresses: an accepted one is ASCII, normalised, and parses to itself.
pub fn email(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(e) = Email::parse(&text) {
        assert!(e.as_str().is_ascii(), "{e}");
        assert!(e.as_str().len() <= 254, "{e}");
        assert_eq!(Email::parse(e.as_str()).as_ref(), Ok(&e));
    }
}

/// Addresses of every network on every chain, and withdrawal destinations.
pub fn address(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for network in NETWORKS {
        for chain in [Chain::Mainnet, Chain::Testnet, Chain::Regtest] {
            let _ = kassa_chain::validate(network, chain, &text);
        }
    }
    for coin in [
        kassa_chain::address::utxo::Coin::Bitcoin,
        kassa_chain::address::utxo::Coin::Litecoin,
    ] {
        for chain in [Chain::Mainnet, Chain::Testnet, Chain::Regtest] {
            if let Ok(d) = Destination::parse(coin, chain, &text) {
                assert_eq!(d.address(), text);
            }
        }
    }
}
