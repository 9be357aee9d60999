//! The currency catalogue: the crypto currencies and networks of the CryptoCloud-compatible
//! API (codes `<TOKEN>_<NETWORK>`, native coins bare) and the 25 fiat currencies invoices can
//! be priced in.

/// How a network is run (which watcher and address format it needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Bitcoin-like, UTXO.
    Utxo,
    /// Ethereum and compatible chains.
    Evm,
    /// TRON.
    Tron,
    /// TON.
    Ton,
    /// Solana.
    Solana,
}

/// A blockchain network.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Network {
    /// Stable numeric id (API).
    pub id: u32,
    /// Code, e.g. `TRC20`.
    pub code: &'static str,
    /// Name, e.g. `Tron`.
    pub fullname: &'static str,
    /// Family.
    pub family: Family,
    /// The smallest payment of the native coin the network carries, in base units: the
    /// nodes' dust limit for an output to a deposit address (P2WPKH) on UTXO networks, one
    /// base unit elsewhere.
    pub dust: u64,
}

macro_rules! networks {
    ($($ident:ident = ($id:literal, $code:literal, $name:literal, $family:ident, $dust:literal);)*) => {
        $(
            #[doc = concat!("The ", $name, " network.")]
            pub static $ident: Network = Network { id: $id, code: $code, fullname: $name, family: Family::$family, dust: $dust };
        )*
        /// Every network.
        pub static NETWORKS: &[&Network] = &[$(&$ident),*];
    };
}

networks! {
    BTC_NET = (1, "BTC", "Bitcoin", Utxo, 294);
    LTC_NET = (2, "LTC", "Litecoin", Utxo, 2940);
    ERC20 = (3, "ERC20", "Ethereum", Evm, 1);
    TRC20 = (4, "TRC20", "Tron", Tron, 1);
    BSC = (5, "BSC", "BNB Smart Chain", Evm, 1);
    TON_NET = (6, "TON", "TON", Ton, 1);
    SOL_NET = (7, "SOL", "Solana", Solana, 1);
    ARB = (8, "ARB", "Arbitrum", Evm, 1);
    OPT = (9, "OPT", "Optimism", Evm, 1);
    BASE = (10, "BASE", "Base", Evm, 1);
}

/// A crypto currency on one network.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Crypto {
    /// Stable numeric id (API).
    pub id: u32,
    /// Full code, e.g. `USDT_TRC20`.
    pub code: &'static str,
    /// Token symbol, e.g. `USDT`.
    pub symbol: &'static str,
    /// Name, e.g. `Tether`.
    pub name: &'static str,
    /// Its network.
    pub network: &'static Network,
    /// Decimals of one unit in base units (BTC 8, ETH 18, USDT on TRON 6).
    pub decimals: u32,
    /// Pegged to the US dollar (or, for XAUT, gold).
    pub stablecoin: bool,
    /// The network's own coin (not a token).
    pub native: bool,
    /// Sort order in lists (1 first).
    pub order: u32,
}

impl Crypto {
    /// The smallest payment of this currency the network carries, in base units (the dust
    /// limit for a native coin of a UTXO network; one base unit otherwise).
    pub fn min_payment(&self) -> crate::money::Amount {
        let units = if self.native {
            self.network.dust.max(1)
        } else {
            1
        };
        crate::money::Amount::from_base(u128::from(units))
    }
}

macro_rules! cryptos {
    ($($id:literal $code:literal $symbol:literal $name:literal $net:ident $dec:literal $stable:literal $native:literal $order:literal;)*) => {
        /// Every crypto currency, in catalogue order.
        pub static CRYPTOS: &[Crypto] = &[$(Crypto {
            id: $id, code: $code, symbol: $symbol, name: $name, network: &$net, decimals: $dec,
            stablecoin: $stable, native: $native, order: $order,
        }),*];
    };
}

cryptos! {
    1 "BTC" "BTC" "Bitcoin" BTC_NET 8 false true 2;
    2 "LTC" "LTC" "Litecoin" LTC_NET 8 false true 5;
    3 "ETH" "ETH" "Ethereum" ERC20 18 false true 3;
    4 "USDT_TRC20" "USDT" "Tether" TRC20 6 true false 1;
    5 "TRX" "TRX" "Tron" TRC20 6 false true 6;
    6 "SOL" "SOL" "Solana" SOL_NET 9 false true 11;
    7 "TON" "TON" "Toncoin" TON_NET 9 false true 10;
    8 "BNB" "BNB" "BNB" BSC 18 false true 8;
    9 "ETH_ARB" "ETH" "Ethereum" ARB 18 false true 15;
    10 "ETH_BASE" "ETH" "Ethereum" BASE 18 false true 16;
    11 "ETH_OPT" "ETH" "Ethereum" OPT 18 false true 17;
    12 "USDT_ARB" "USDT" "Tether" ARB 6 true false 18;
    13 "USDT_BSC" "USDT" "Tether" BSC 18 true false 9;
    14 "USDT_ERC20" "USDT" "Tether" ERC20 6 true false 4;
    15 "USDT_OPT" "USDT" "Tether" OPT 6 true false 19;
    16 "USDT_SOL" "USDT" "Tether" SOL_NET 6 true false 12;
    17 "USDT_TON" "USDT" "Tether" TON_NET 6 true false 13;
    18 "USDC_ARB" "USDC" "USD Coin" ARB 6 true false 20;
    19 "USDC_BASE" "USDC" "USD Coin" BASE 6 true false 21;
    20 "USDC_BSC" "USDC" "USD Coin" BSC 18 true false 22;
    21 "USDC_ERC20" "USDC" "USD Coin" ERC20 6 true false 7;
    22 "USDC_OPT" "USDC" "USD Coin" OPT 6 true false 23;
    23 "USDC_SOL" "USDC" "USD Coin" SOL_NET 6 true false 14;
    24 "DAI_ARB" "DAI" "Dai" ARB 18 true false 24;
    25 "DAI_BASE" "DAI" "Dai" BASE 18 true false 25;
    26 "DAI_BSC" "DAI" "Dai" BSC 18 true false 26;
    27 "DAI_ERC20" "DAI" "Dai" ERC20 18 true false 27;
    28 "DAI_OPT" "DAI" "Dai" OPT 18 true false 28;
    29 "USDD_TRC20" "USDD" "USDD" TRC20 18 true false 29;
    30 "PYUSD_ERC20" "PYUSD" "PayPal USD" ERC20 6 true false 30;
    31 "PYUSD_SOL" "PYUSD" "PayPal USD" SOL_NET 6 true false 31;
    32 "XAUT_ERC20" "XAUT" "Tether Gold" ERC20 6 true false 32;
    33 "XAUT_TON" "XAUT" "Tether Gold" TON_NET 6 true false 33;
    34 "ARB_ARB" "ARB" "Arbitrum" ARB 18 false false 34;
    35 "OP_OPT" "OP" "Optimism" OPT 18 false false 35;
    36 "PEPE_BSC" "PEPE" "Pepe" BSC 18 false false 36;
    37 "PEPE_ERC20" "PEPE" "Pepe" ERC20 18 false false 37;
    38 "SHIB_BSC" "SHIB" "Shiba Inu" BSC 18 false false 38;
    39 "SHIB_ERC20" "SHIB" "Shiba Inu" ERC20 18 false false 39;
    40 "TRUMP_SOL" "TRUMP" "Official Trump" SOL_NET 6 false false 40;
}

/// Codes the reference service retired; refused as unsupported.
pub const RETIRED: [&str; 4] = ["USDC_TRC20", "TUSD_TRC20", "TUSD_ERC20", "TUSD_BSC"];

/// The crypto currency with this full code (case-insensitive).
pub fn crypto(code: &str) -> Option<&'static Crypto> {
    CRYPTOS
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code.trim()))
}

/// The network with this code (case-insensitive).
pub fn network(code: &str) -> Option<&'static Network> {
    NETWORKS
        .iter()
        .copied()
        .find(|n| n.code.eq_ignore_ascii_case(code.trim()))
}

/// Crypto currencies in display order.
pub fn cryptos_in_order() -> Vec<&'static Crypto> {
    let mut v: Vec<&Crypto> = CRYPTOS.iter().collect();
    v.sort_by_key(|c| c.order);
    v
}

/// A fiat currency invoices can be priced in.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Fiat {
    /// ISO 4217 code.
    pub code: &'static str,
    /// Minor-unit digits (USD 2, JPY 0).
    pub decimals: u32,
}

macro_rules! fiats {
    ($($code:literal $dec:literal),* $(,)?) => {
        /// The fiat currencies, in the order the API lists them.
        pub static FIATS: &[Fiat] = &[$(Fiat { code: $code, decimals: $dec }),*];
    };
}

fiats! {
    "USD" 2, "UZS" 2, "KGS" 2, "KZT" 2, "AMD" 2, "AZN" 2, "BYN" 2, "AUD" 2, "TRY" 2, "AED" 2, "CAD" 2,
    "CNY" 2, "HKD" 2, "IDR" 2, "INR" 2, "JPY" 0, "PHP" 2, "SGD" 2, "THB" 2, "VND" 0, "MYR" 2, "RUB" 2,
    "UAH" 2, "EUR" 2, "GBP" 2,
}

/// The fiat currency with this code (case-insensitive).
pub fn fiat(code: &str) -> Option<&'static Fiat> {
    FIATS
        .iter()
        .find(|f| f.code.eq_ignore_ascii_case(code.trim()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn catalogue_matches_the_contract() {
        let contract = "BTC LTC TRX SOL TON BNB ETH ETH_ARB ETH_BASE ETH_OPT \
            USDT_ARB USDT_BSC USDT_ERC20 USDT_OPT USDT_SOL USDT_TON USDT_TRC20 \
            USDC_ARB USDC_BASE USDC_BSC USDC_ERC20 USDC_OPT USDC_SOL \
            DAI_ARB DAI_BASE DAI_BSC DAI_ERC20 DAI_OPT \
            USDD_TRC20 PYUSD_ERC20 PYUSD_SOL XAUT_ERC20 XAUT_TON \
            ARB_ARB OP_OPT PEPE_BSC PEPE_ERC20 SHIB_BSC SHIB_ERC20 TRUMP_SOL";
        let want: BTreeSet<&str> = contract.split_whitespace().collect();
        let have: BTreeSet<&str> = CRYPTOS.iter().map(|c| c.code).collect();
        assert_eq!(want, have);
        assert_eq!(FIATS.len(), 25);
        // Ids and orders are unique; tokens carry their network's code in the name.
        let ids: BTreeSet<u32> = CRYPTOS.iter().map(|c| c.id).collect();
        let orders: BTreeSet<u32> = CRYPTOS.iter().map(|c| c.order).collect();
        assert_eq!((ids.len(), orders.len()), (CRYPTOS.len(), CRYPTOS.len()));
        for c in CRYPTOS {
            if let Some((_, net)) = c.code.split_once('_') {
                assert_eq!(net, c.network.code, "{}", c.code);
            }
        }
        assert_eq!(
            cryptos_in_order()[0].code,
            "USDT_TRC20",
            "listed first, as the reference service does"
        );
        assert_eq!(
            crypto("usdt_trc20").map(|c| (c.id, c.network.id)),
            Some((4, 4))
        );
        assert!(crypto("USDC_TRC20").is_none() && RETIRED.contains(&"USDC_TRC20"));
        assert_eq!(fiat("jpy").map(|f| f.decimals), Some(0));
    }
}
