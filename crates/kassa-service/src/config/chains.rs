//! `[chains]`: one section per network Kassa can take live payments on — the UTXO ones
//! (`[chains.btc]`, `[chains.ltc]`), the EVM ones (`[chains.eth]`, `[chains.bsc]`,
//! `[chains.arb]`, `[chains.opt]`, `[chains.base]`) and `[chains.tron]` — with their checks
//! and the names the operator knows them by.

use std::collections::BTreeMap;

use kassa_core::currency::{BTC_NET, Crypto, LTC_NET, Network};
use kassa_core::secret::SecretString;
use serde::Deserialize;

use super::SettingError;

/// `[chains]`: the networks the operator runs (or rents) a node for: the UTXO ones
/// (`[chains.btc]`, `[chains.ltc]`) and the EVM ones (`[chains.eth]`, `[chains.bsc]`,
/// `[chains.arb]`, `[chains.opt]`, `[chains.base]`). A network whose `rpc_url` is empty is not
/// configured: it takes no live payments and is not offered to live projects.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "RawChains")]
pub struct ChainSettings {
    /// `[chains.btc]`: Bitcoin.
    pub btc: UtxoChainSettings,
    /// `[chains.ltc]`: Litecoin.
    pub ltc: UtxoChainSettings,
    /// `[chains.eth]`: Ethereum (network `ERC20`).
    pub eth: EvmChainSettings,
    /// `[chains.bsc]`: BNB Smart Chain.
    pub bsc: EvmChainSettings,
    /// `[chains.arb]`: Arbitrum One.
    pub arb: EvmChainSettings,
    /// `[chains.opt]`: OP Mainnet.
    pub opt: EvmChainSettings,
    /// `[chains.base]`: Base.
    pub base: EvmChainSettings,
    /// `[chains.tron]`: TRON (network `TRC20`).
    pub tron: TronChainSettings,
}

/// `[chains.tron]`: TRON, through a full node's HTTP API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TronChainSettings {
    /// `mainnet`, `testnet` (Nile, Shasta) or `regtest` (a private node): addresses are the
    /// same on all; it decides the explorer links and is stored with the wallet.
    pub chain: String,
    /// The node's HTTP API, e.g. `https://api.trongrid.io`. Empty: not configured.
    pub api_url: String,
    /// The `TRON-PRO-API-KEY` header TronGrid asks for; never logged.
    pub api_key: SecretString,
    /// Confirmations a payment needs: 19 by default, when a block is solidified.
    pub confirmations: u32,
    /// How often the watcher asks the node for new blocks, in milliseconds (a block every
    /// three seconds).
    pub poll_interval_ms: u64,
    /// A watch-only wallet: the account's extended public key at `m/44'/195'/0'` (xpub).
    /// Empty: the hot wallet made by `kassa wallet init tron`.
    pub xpub: String,
    /// The TRC-20 tokens accepted, by symbol: `USDT = "T…"`. Default: USDT's mainnet
    /// contract. Only these contracts are ever credited.
    pub tokens: TokenList,
    /// The dashboard's links to transactions (a URL with `{txid}`). Empty: Tronscan on
    /// mainnet, none elsewhere.
    pub explorer: String,
    /// A deposit is swept into the hot wallet only when the sweep's cost (bandwidth; for a
    /// token, its energy and the TRX sent ahead for it) is at most this percent of what it
    /// moves, in US dollars; smaller amounts wait (more payments to the address add up).
    pub sweep_max_fee_percent: u32,
}

/// USDT's TRC-20 contract on TRON's mainnet.
pub const TRON_USDT: &str = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";

impl Default for TronChainSettings {
    fn default() -> Self {
        Self {
            chain: "mainnet".into(),
            api_url: String::new(),
            api_key: SecretString::default(),
            confirmations: 19,
            poll_interval_ms: 3000,
            xpub: String::new(),
            tokens: TokenList([("USDT".to_owned(), TRON_USDT.to_owned())].into()),
            explorer: String::new(),
            sweep_max_fee_percent: 10,
        }
    }
}

impl TronChainSettings {
    /// Whether TRON is configured (it has an API URL).
    pub fn is_configured(&self) -> bool {
        !self.api_url.trim().is_empty()
    }

    /// The chain, if `chain` names one.
    pub fn chain(&self) -> Option<kassa_chain::Chain> {
        parse_chain(&self.chain)
    }

    /// The configured watch-only wallet's key, if any (trimmed).
    pub fn xpub(&self) -> Option<&str> {
        Some(self.xpub.trim()).filter(|x| !x.is_empty())
    }

    /// The allowlist as catalogue currencies and contracts (see [`allowlist`]).
    pub fn tokens(&self) -> Result<Vec<(&'static Crypto, [u8; 20])>, SettingError> {
        allowlist(
            &kassa_core::currency::TRC20,
            &self.tokens,
            kassa_chain::address::tron::decode,
        )
    }
}

/// `[chains.<network>]` of a UTXO network (BTC, LTC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UtxoChainSettings {
    /// `mainnet`, `testnet` or `regtest`: which chain the node follows (it decides the
    /// address prefixes and the BIP84 coin type).
    pub chain: String,
    /// The node's JSON-RPC URL, e.g. `http://127.0.0.1:9332`. Empty: not configured.
    pub rpc_url: String,
    /// The node's RPC user (`rpcuser`).
    pub rpc_user: String,
    /// The node's RPC password (`rpcpassword`).
    pub rpc_password: SecretString,
    /// Confirmations a payment needs before it counts (at least 1).
    pub confirmations: u32,
    /// How often the watcher asks the node for new blocks and mempool transactions, in
    /// milliseconds.
    pub poll_interval_ms: u64,
    /// A watch-only wallet: the account's extended public key (`m/84'/coin'/0'`, as
    /// xpub/zpub/tpub/vpub/Ltub/ttub). Empty: the hot wallet made by `kassa wallet init`.
    pub xpub: String,
}

impl UtxoChainSettings {
    fn with_confirmations(confirmations: u32) -> Self {
        Self {
            chain: "mainnet".into(),
            rpc_url: String::new(),
            rpc_user: String::new(),
            rpc_password: SecretString::default(),
            confirmations,
            poll_interval_ms: 1000,
            xpub: String::new(),
        }
    }

    /// Whether the network is configured (it has a node URL).
    pub fn is_configured(&self) -> bool {
        !self.rpc_url.trim().is_empty()
    }

    /// The chain, if `chain` names one.
    pub fn chain(&self) -> Option<kassa_chain::Chain> {
        parse_chain(&self.chain)
    }

    /// The configured watch-only wallet's key, if any (trimmed).
    pub fn xpub(&self) -> Option<&str> {
        Some(self.xpub.trim()).filter(|x| !x.is_empty())
    }
}

/// `[chains.<network>]` of an EVM network (Ethereum, BNB Smart Chain, Arbitrum, Optimism,
/// Base).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvmChainSettings {
    /// The node's JSON-RPC URL (`eth_*`), e.g. `http://127.0.0.1:8545`. Empty: not
    /// configured. A provider's key may be in the path; it is never logged.
    pub rpc_url: String,
    /// The EIP-155 chain id the node must report (`eth_chainId`); default the network's
    /// real chain (1, 56, 42161, 10, 8453). A node on another chain stops the watcher.
    pub chain_id: u64,
    /// Confirmations a payment needs before it counts (at least 1).
    pub confirmations: u32,
    /// How often the watcher asks the node for new blocks, in milliseconds.
    pub poll_interval_ms: u64,
    /// A watch-only wallet: the account's extended public key at `m/44'/60'/0'` (xpub).
    /// Empty: the hot wallet made by `kassa wallet init`.
    pub xpub: String,
    /// The tokens accepted, by symbol: `USDT = "0x…"`. Only these contracts are ever
    /// credited; a token of the same symbol at another address is not.
    pub tokens: TokenList,
    /// The dashboard's links to transactions: a URL with `{txid}` in it, e.g.
    /// `https://etherscan.io/tx/{txid}`. Empty: the network's public explorer on its real
    /// chain, none on others.
    pub explorer: String,
    /// The most Kassa pays per gas (cap and tip) when it moves funds, in gwei: above it,
    /// sweeps wait for fees to come down.
    pub max_fee_gwei: u64,
    /// A deposit is swept into the hot wallet only when the sweep's fee is at most this
    /// percent of what it moves; smaller amounts wait (more payments to the address add up).
    pub sweep_max_fee_percent: u32,
}

impl EvmChainSettings {
    fn defaults(network: &Network, confirmations: u32, max_fee_gwei: u64) -> Self {
        Self {
            max_fee_gwei,
            sweep_max_fee_percent: 5,
            rpc_url: String::new(),
            chain_id: kassa_chain::uri::evm_chain_id(network, false).unwrap_or(1),
            confirmations,
            poll_interval_ms: 1000,
            xpub: String::new(),
            tokens: TokenList::default(),
            explorer: String::new(),
        }
    }

    /// Whether the network is configured (it has a node URL).
    pub fn is_configured(&self) -> bool {
        !self.rpc_url.trim().is_empty()
    }

    /// The configured watch-only wallet's key, if any (trimmed).
    pub fn xpub(&self) -> Option<&str> {
        Some(self.xpub.trim()).filter(|x| !x.is_empty())
    }

    /// The kind of chain `chain_id` is: the network's real chain is `mainnet`, its public
    /// test chain `testnet`, any other (a development node) `regtest`. Explorer links are
    /// given for the real chain only.
    pub fn chain(&self, network: &Network) -> kassa_chain::Chain {
        if kassa_chain::uri::evm_chain_id(network, false) == Some(self.chain_id) {
            kassa_chain::Chain::Mainnet
        } else if kassa_chain::uri::evm_chain_id(network, true) == Some(self.chain_id) {
            kassa_chain::Chain::Testnet
        } else {
            kassa_chain::Chain::Regtest
        }
    }

    /// The allowlist as catalogue currencies and contracts (see [`allowlist`]).
    pub fn tokens(
        &self,
        network: &'static Network,
    ) -> Result<Vec<(&'static Crypto, [u8; 20])>, SettingError> {
        allowlist(network, &self.tokens, kassa_chain::address::evm::decode)
    }
}

/// A token allowlist as catalogue currencies and contract addresses in catalogue order,
/// checked: every symbol a token of `network` in the catalogue, every contract an address
/// (`decode`: the network's form) used once.
pub fn allowlist(
    network: &'static Network,
    list: &TokenList,
    decode: fn(&str) -> Result<[u8; 20], kassa_chain::address::AddressError>,
) -> Result<Vec<(&'static Crypto, [u8; 20])>, SettingError> {
    {
        let key = chain_key(network, "tokens");
        let mut out: Vec<(&'static Crypto, [u8; 20])> = Vec::new();
        for (symbol, contract) in &list.0 {
            let crypto = kassa_core::currency::CRYPTOS
                .iter()
                .find(|c| {
                    !c.native
                        && c.network.code == network.code
                        && c.symbol.eq_ignore_ascii_case(symbol.trim())
                })
                .ok_or_else(|| {
                    let known: Vec<&str> = kassa_core::currency::CRYPTOS
                        .iter()
                        .filter(|c| !c.native && c.network.code == network.code)
                        .map(|c| c.symbol)
                        .collect();
                    SettingError::new(
                        &key,
                        format!(
                            "{symbol:?} is not a token Kassa knows on {} (known: {})",
                            network.fullname,
                            known.join(", ")
                        ),
                    )
                })?;
            let bytes = decode(contract.trim()).map_err(|e| {
                SettingError::new(
                    &key,
                    format!("{symbol}: {contract:?} is not a contract address: {e}"),
                )
            })?;
            if let Some((other, _)) = out
                .iter()
                .find(|(c, b)| *b == bytes || c.code == crypto.code)
            {
                return Err(SettingError::new(
                    &key,
                    format!("{symbol}: listed twice (with {})", other.symbol),
                ));
            }
            out.push((crypto, bytes));
        }
        out.sort_by_key(|(c, _)| c.order);
        Ok(out)
    }
}

/// An EVM network's token allowlist: symbol → contract address. Written as a table
/// (`[chains.eth.tokens]` with `USDT = "0x…"`) or, in the environment, as
/// `USDT=0x…,USDC=0x…`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenList(pub BTreeMap<String, String>);

impl TokenList {
    /// Reads `SYMBOL=0x…` pairs separated by commas.
    pub fn parse(text: &str) -> Result<TokenList, String> {
        let mut map = BTreeMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (symbol, contract) = pair
                .split_once('=')
                .filter(|(s, c)| !s.trim().is_empty() && !c.trim().is_empty())
                .ok_or_else(|| format!("{pair:?} is not SYMBOL=0xCONTRACT"))?;
            map.insert(
                symbol.trim().to_ascii_uppercase(),
                contract.trim().to_owned(),
            );
        }
        Ok(TokenList(map))
    }
}

impl<'de> Deserialize<'de> for TokenList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Table(BTreeMap<String, String>),
            Text(String),
        }
        match Written::deserialize(d)? {
            Written::Table(map) => Ok(TokenList(
                map.into_iter()
                    .map(|(k, v)| (k.trim().to_ascii_uppercase(), v.trim().to_owned()))
                    .collect(),
            )),
            Written::Text(text) => TokenList::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// Reads a chain name: `mainnet`, `testnet` or `regtest` (any letter case).
pub fn parse_chain(name: &str) -> Option<kassa_chain::Chain> {
    match name.trim().to_ascii_lowercase().as_str() {
        "mainnet" => Some(kassa_chain::Chain::Mainnet),
        "testnet" => Some(kassa_chain::Chain::Testnet),
        "regtest" => Some(kassa_chain::Chain::Regtest),
        _ => None,
    }
}

/// The configuration (and storage) spelling of a chain.
pub fn chain_name(chain: kassa_chain::Chain) -> &'static str {
    match chain {
        kassa_chain::Chain::Mainnet => "mainnet",
        kassa_chain::Chain::Testnet => "testnet",
        kassa_chain::Chain::Regtest => "regtest",
    }
}

impl Default for ChainSettings {
    fn default() -> Self {
        use kassa_core::currency::{ARB, BASE, BSC, ERC20, OPT};
        Self {
            btc: UtxoChainSettings::with_confirmations(2),
            ltc: UtxoChainSettings::with_confirmations(6),
            eth: EvmChainSettings::defaults(&ERC20, 12, 200),
            bsc: EvmChainSettings::defaults(&BSC, 15, 20),
            arb: EvmChainSettings::defaults(&ARB, 20, 10),
            opt: EvmChainSettings::defaults(&OPT, 20, 10),
            base: EvmChainSettings::defaults(&BASE, 20, 10),
            tron: TronChainSettings::default(),
        }
    }
}

impl ChainSettings {
    /// The UTXO networks with their settings, configured or not.
    pub fn utxo(&self) -> [(&'static Network, &UtxoChainSettings); 2] {
        [(&BTC_NET, &self.btc), (&LTC_NET, &self.ltc)]
    }

    /// The EVM networks with their settings, configured or not.
    pub fn evm(&self) -> [(&'static Network, &EvmChainSettings); 5] {
        use kassa_core::currency::{ARB, BASE, BSC, ERC20, OPT};
        [
            (&ERC20, &self.eth),
            (&BSC, &self.bsc),
            (&ARB, &self.arb),
            (&OPT, &self.opt),
            (&BASE, &self.base),
        ]
    }

    /// The settings of `network`, if it is an EVM network.
    pub fn evm_of(&self, network: &Network) -> Option<&EvmChainSettings> {
        self.evm()
            .into_iter()
            .find(|(n, _)| n.code == network.code)
            .map(|(_, s)| s)
    }

    /// Whether `network` has a node configured.
    pub fn is_configured(&self, network: &Network) -> bool {
        self.of(network)
            .is_some_and(UtxoChainSettings::is_configured)
            || self
                .evm_of(network)
                .is_some_and(EvmChainSettings::is_configured)
            || (network.code == kassa_core::currency::TRC20.code && self.tron.is_configured())
    }

    /// The configured watch-only key of `network`, if any.
    pub fn xpub_of(&self, network: &Network) -> Option<&str> {
        self.of(network)
            .and_then(UtxoChainSettings::xpub)
            .or_else(|| self.evm_of(network).and_then(EvmChainSettings::xpub))
            .or_else(|| {
                (network.code == kassa_core::currency::TRC20.code)
                    .then(|| self.tron.xpub())
                    .flatten()
            })
    }

    /// The settings of `network`, if it is a UTXO network Kassa can run.
    pub fn of(&self, network: &Network) -> Option<&UtxoChainSettings> {
        self.utxo()
            .into_iter()
            .find(|(n, _)| n.code == network.code)
            .map(|(_, s)| s)
    }

    /// Checks every configured network's settings.
    pub fn validate(&self) -> Result<(), SettingError> {
        for (network, s) in self.utxo() {
            let key = |field: &str| chain_key(network, field);
            let chain = s.chain().ok_or_else(|| {
                SettingError::new(
                    key("chain"),
                    format!("{:?} is not mainnet, testnet or regtest", s.chain),
                )
            })?;
            let set = [
                ("xpub", !s.xpub.trim().is_empty()),
                ("rpc_user", !s.rpc_user.is_empty()),
                ("rpc_password", !s.rpc_password.is_empty()),
            ];
            if !check_node(
                network,
                &s.rpc_url,
                &set,
                s.confirmations,
                s.poll_interval_ms,
            )? {
                continue;
            }
            if let (Some(xpub), Some(coin)) = (s.xpub(), kassa_chain::hd::Coin::of(network)) {
                kassa_chain::hd::WatchOnlyWallet::from_account_xpub(coin, chain, xpub).map_err(
                    |e| {
                        SettingError::new(
                            key("xpub"),
                            format!(
                                "not a {} {} account key: {e}",
                                network.code,
                                chain_name(chain)
                            ),
                        )
                    },
                )?;
            }
        }
        for (network, s) in self.evm() {
            let key = |field: &str| chain_key(network, field);
            let set = [
                ("xpub", !s.xpub.trim().is_empty()),
                ("tokens", !s.tokens.0.is_empty()),
                ("explorer", !s.explorer.trim().is_empty()),
            ];
            if !check_node(
                network,
                &s.rpc_url,
                &set,
                s.confirmations,
                s.poll_interval_ms,
            )? {
                continue;
            }
            if s.chain_id == 0 {
                return Err(SettingError::new(key("chain_id"), "must be at least 1"));
            }
            if let Some(xpub) = s.xpub() {
                kassa_chain::hd::evm::EvmWallet::from_account_xpub(xpub).map_err(|e| {
                    SettingError::new(
                        key("xpub"),
                        format!("not an account key (m/44'/60'/0'): {e}"),
                    )
                })?;
            }
            s.tokens(network)?;
            check_explorer(&s.explorer).map_err(|m| SettingError::new(key("explorer"), m))?;
            if s.max_fee_gwei == 0 {
                return Err(SettingError::new(key("max_fee_gwei"), "must be at least 1"));
            }
            if !(1..=100).contains(&s.sweep_max_fee_percent) {
                return Err(SettingError::new(
                    key("sweep_max_fee_percent"),
                    "must be from 1 to 100",
                ));
            }
        }
        self.validate_tron()
    }

    fn validate_tron(&self) -> Result<(), SettingError> {
        let s = &self.tron;
        let network = &kassa_core::currency::TRC20;
        let key = |field: &str| chain_key(network, field);
        if s.api_url.trim().is_empty() {
            let set = [
                ("xpub", !s.xpub.trim().is_empty()),
                ("api_key", !s.api_key.is_empty()),
                ("explorer", !s.explorer.trim().is_empty()),
            ];
            return match set.iter().find(|(_, given)| *given) {
                Some((field, _)) => Err(SettingError::new(
                    key("api_url"),
                    format!(
                        "is empty but {} is set: give the node's HTTP API to take TRON payments, or remove the section",
                        key(field)
                    ),
                )),
                None => Ok(()),
            };
        }
        check_rpc_url(s.api_url.trim()).map_err(|m| SettingError::new(key("api_url"), m))?;
        s.chain().ok_or_else(|| {
            SettingError::new(
                key("chain"),
                format!("{:?} is not mainnet, testnet or regtest", s.chain),
            )
        })?;
        if s.confirmations == 0 {
            return Err(SettingError::new(
                key("confirmations"),
                "must be at least 1",
            ));
        }
        if !(1..=100).contains(&s.sweep_max_fee_percent) {
            return Err(SettingError::new(
                key("sweep_max_fee_percent"),
                "must be from 1 to 100",
            ));
        }
        if s.poll_interval_ms < 10 {
            return Err(SettingError::new(
                key("poll_interval_ms"),
                "must be at least 10",
            ));
        }
        if let Some(xpub) = s.xpub() {
            kassa_chain::hd::evm::EvmWallet::from_account_xpub_of(
                kassa_chain::hd::evm::KeccakCoin::Tron,
                xpub,
            )
            .map_err(|e| {
                SettingError::new(
                    key("xpub"),
                    format!("not an account key (m/44'/195'/0'): {e}"),
                )
            })?;
        }
        s.tokens()?;
        check_explorer(&s.explorer).map_err(|m| SettingError::new(key("explorer"), m))
    }
}

/// The name of `network`'s section under `[chains]`: `btc`, `ltc`, `eth` (for ERC20),
/// `bsc`, `arb`, `opt`, `base`, `tron` (for TRC20), `sol`, `ton`.
pub fn section(network: &Network) -> &'static str {
    match network.code {
        "BTC" => "btc",
        "LTC" => "ltc",
        "ERC20" => "eth",
        "BSC" => "bsc",
        "ARB" => "arb",
        "OPT" => "opt",
        "BASE" => "base",
        "TRC20" => "tron",
        "SOL" => "sol",
        "TON" => "ton",
        _ => "unknown",
    }
}

/// The network an operator names by its section (`eth`) or its code (`ERC20`), any case.
pub fn network_named(name: &str) -> Option<&'static Network> {
    let name = name.trim();
    kassa_core::currency::NETWORKS
        .iter()
        .copied()
        .find(|n| section(n).eq_ignore_ascii_case(name))
        .or_else(|| kassa_core::currency::network(name))
}

/// The TOML key of option `field` of `network` (`chains.ltc.rpc_url`, `chains.eth.tokens`).
pub fn chain_key(network: &Network, field: &str) -> String {
    format!("chains.{}.{field}", section(network))
}

/// The environment variable of option `field` of `network` (`KASSA_CHAINS_LTC_RPC_URL`).
pub fn chain_env(network: &Network, field: &str) -> String {
    format!(
        "KASSA_CHAINS_{}_{}",
        section(network).to_ascii_uppercase(),
        field.to_ascii_uppercase()
    )
}

/// What every network's section needs: nothing set without a node URL (`Ok(false)`: not
/// configured), else a usable URL, confirmations and poll interval (`Ok(true)`). `set` names
/// the options given.
fn check_node(
    network: &Network,
    rpc_url: &str,
    set: &[(&str, bool)],
    confirmations: u32,
    poll_interval_ms: u64,
) -> Result<bool, SettingError> {
    let key = |field: &str| chain_key(network, field);
    if rpc_url.trim().is_empty() {
        return match set.iter().find(|(_, given)| *given) {
            Some((field, _)) => Err(SettingError::new(
                key("rpc_url"),
                format!(
                    "is empty but {} is set: give the node's URL to take {} payments, or remove the section",
                    key(field),
                    network.fullname
                ),
            )),
            None => Ok(false),
        };
    }
    check_rpc_url(rpc_url.trim()).map_err(|m| SettingError::new(key("rpc_url"), m))?;
    if confirmations == 0 {
        return Err(SettingError::new(
            key("confirmations"),
            "must be at least 1",
        ));
    }
    if poll_interval_ms < 10 {
        return Err(SettingError::new(
            key("poll_interval_ms"),
            "must be at least 10",
        ));
    }
    Ok(true)
}

fn check_explorer(text: &str) -> Result<(), String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(());
    }
    if !text.contains("{txid}") {
        return Err(format!(
            "{text:?} has no {{txid}} to put the transaction's id in"
        ));
    }
    let url = url::Url::parse(&text.replace("{txid}", "0"))
        .map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{text:?} must be http:// or https:// with a host"));
    }
    Ok(())
}

fn check_rpc_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{text:?} must be http:// or https:// with a host, e.g. http://127.0.0.1:9332"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "put the user and password in rpc_user and rpc_password, not in the URL".into(),
        );
    }
    Ok(())
}

/// `[chains]` as written: every field optional, so that an omitted one takes its network's
/// default (confirmations and chain ids differ per network).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawChains {
    btc: RawUtxoChain,
    ltc: RawUtxoChain,
    eth: RawEvmChain,
    bsc: RawEvmChain,
    arb: RawEvmChain,
    opt: RawEvmChain,
    base: RawEvmChain,
    tron: RawTronChain,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawUtxoChain {
    chain: Option<String>,
    rpc_url: Option<String>,
    rpc_user: Option<String>,
    rpc_password: Option<SecretString>,
    confirmations: Option<u32>,
    poll_interval_ms: Option<u64>,
    xpub: Option<String>,
}

/// Sets each field of `$s` that `$raw` gives.
macro_rules! over {
    ($raw:ident, $s:ident, $($field:ident),*) => {
        $(if let Some(v) = $raw.$field {
            $s.$field = v;
        })*
    };
}

impl RawUtxoChain {
    fn over(self, mut s: UtxoChainSettings) -> UtxoChainSettings {
        let raw = self;
        over!(
            raw,
            s,
            chain,
            rpc_url,
            rpc_user,
            rpc_password,
            confirmations,
            poll_interval_ms,
            xpub
        );
        s
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawEvmChain {
    rpc_url: Option<String>,
    chain_id: Option<u64>,
    confirmations: Option<u32>,
    poll_interval_ms: Option<u64>,
    xpub: Option<String>,
    tokens: Option<TokenList>,
    explorer: Option<String>,
    max_fee_gwei: Option<u64>,
    sweep_max_fee_percent: Option<u32>,
}

impl RawEvmChain {
    fn over(self, mut s: EvmChainSettings) -> EvmChainSettings {
        let raw = self;
        over!(
            raw,
            s,
            rpc_url,
            chain_id,
            confirmations,
            poll_interval_ms,
            xpub,
            tokens,
            explorer,
            max_fee_gwei,
            sweep_max_fee_percent
        );
        s
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTronChain {
    chain: Option<String>,
    api_url: Option<String>,
    api_key: Option<SecretString>,
    confirmations: Option<u32>,
    poll_interval_ms: Option<u64>,
    xpub: Option<String>,
    tokens: Option<TokenList>,
    explorer: Option<String>,
    sweep_max_fee_percent: Option<u32>,
}

impl RawTronChain {
    fn over(self, mut s: TronChainSettings) -> TronChainSettings {
        let raw = self;
        over!(
            raw,
            s,
            chain,
            api_url,
            api_key,
            confirmations,
            poll_interval_ms,
            xpub,
            tokens,
            explorer,
            sweep_max_fee_percent
        );
        s
    }
}

impl From<RawChains> for ChainSettings {
    fn from(raw: RawChains) -> Self {
        let d = ChainSettings::default();
        ChainSettings {
            btc: raw.btc.over(d.btc),
            ltc: raw.ltc.over(d.ltc),
            eth: raw.eth.over(d.eth),
            bsc: raw.bsc.over(d.bsc),
            arb: raw.arb.over(d.arb),
            opt: raw.opt.over(d.opt),
            base: raw.base.over(d.base),
            tron: raw.tron.over(d.tron),
        }
    }
}
