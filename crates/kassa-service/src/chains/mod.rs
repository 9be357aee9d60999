//! The operator's networks as the running application sees them: for every network that is
//! configured (`[chains.<network>]` with an `rpc_url`) and has a wallet, one [`LiveChain`] with
//! its chain, confirmation rule, poll interval, the node as a [`ChainSource`], the wallet's
//! public half as a [`DepositWallet`] and the currencies it takes. BTC and LTC are built by
//! [`utxo`], Ethereum and its family by [`evm`] (see "adding a network family" in
//! `docs/architecture.md`). [`Ctx::chains`](crate::Ctx::chains) holds them; live deposit
//! addresses are derived from them and the chain watchers run on them.
//!
//! Wallets live in the database (`chain_wallet`, one per network), never in the
//! configuration:
//!
//! - **hot**: `kassa wallet init <network>` ([`init_hot_wallet`]) generates a 24-word BIP39
//!   phrase, stores it sealed with the master key (context [`mnemonic_context`]) next to the
//!   account's extended public key, and shows it once. [`hot_wallet`] (and
//!   [`evm::hot_wallet`]) open it again for signing.
//! - **watch-only**: `chains.<network>.xpub` names an account key; the first start stores it
//!   ([`load`]). The stored wallet is the one that counts from then on: a configured key that
//!   disagrees with it, or a chain that is not the stored wallet's, stops start-up rather than
//!   switch wallets (the addresses already handed out would no longer be watched).
//!
//! Deposit addresses are on the account's receive branch, `…/0/i` — BIP84 P2WPKH
//! `m/84'/coin'/0'/0/i` for BTC and LTC, BIP44 `m/44'/60'/0'/0/i` for EVM networks — where `i`
//! is the wallet's next index, taken in the transaction that records the address
//! ([`kassa_store::wallets::take_next_index`]). Deriving needs only the public key. Each EVM
//! network has a wallet (and phrase) of its own, so an address is never one of two owners on
//! two chains.

pub mod evm;
pub mod tron;
pub mod utxo;

use std::sync::Arc;
use std::time::Duration;

use kassa_chain::Chain;
use kassa_chain::hd::evm::{EvmHotWallet, EvmWallet};
use kassa_chain::hd::{Coin, HdError, HotWallet, Mnemonic, WatchOnlyWallet};
use kassa_chain::rpc::RpcClient;
use kassa_chain::watch::evm::Token;
use kassa_chain::watch::{ChainSource, DepositWallet};
use kassa_core::Timestamp;
use kassa_core::currency::{self, Crypto, Family, Network};
use kassa_core::secret::{Keyring, OpenError};
use kassa_store::wallets::{self, NewWallet, WalletKind, WalletRow};
use kassa_store::{Db, StoreError};

use crate::config::{self, ChainSettings, SettingError};

/// A network that takes live payments: its rules, the node as a source of facts, and where
/// its deposit addresses come from. Every family gives one; the watcher, invoices and
/// withdrawals use it without knowing the family. Shared as `Arc<LiveChain>`.
pub struct LiveChain {
    /// The network; `network.code` keys its rows (deposit addresses, transfers, the wallet).
    pub network: &'static Network,
    /// The network's own coin (`BTC`, `LTC`, `ETH`, `BNB`).
    pub currency: &'static Crypto,
    /// The currencies it takes payments in: the coin first, then the allowlisted tokens.
    pub currencies: Vec<&'static Crypto>,
    /// Mainnet, testnet or regtest (for an EVM network, what its chain id is).
    pub chain: Chain,
    /// Confirmations a payment needs before it counts (at least 1).
    pub confirmations: u32,
    /// How often the watcher asks the node for blocks and the mempool.
    pub poll_interval: Duration,
    /// Whether Kassa holds the wallet's recovery phrase (hot) or only its public key (watch).
    pub kind: WalletKind,
    /// The node, as the watcher reads it. Building it does no I/O: start-up never waits on
    /// the node.
    pub source: Arc<dyn ChainSource>,
    /// Derives the deposit addresses (the wallet's public half).
    pub wallet: Arc<dyn DepositWallet>,
    /// For BTC and LTC: the node client and account key withdrawals are built with.
    pub utxo: Option<UtxoParts>,
    /// For EVM networks: the chain id, node client, token contracts and account key.
    pub evm: Option<EvmParts>,
    /// For TRON: the API client, token contracts and account key.
    pub tron: Option<TronParts>,
    /// The operator's explorer link template (`…{txid}…`), if set.
    pub explorer: Option<String>,
}

impl std::fmt::Debug for LiveChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveChain")
            .field("network", &self.network.code)
            .field("chain", &self.chain)
            .field("confirmations", &self.confirmations)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// What a UTXO network (BTC, LTC) adds: the coin, the node's JSON-RPC client and the wallet's
/// public half (the account key `m/84'/coin'/0'`), which derives every receive and change
/// address. For a hot wallet the keys that sign come from [`hot_wallet`].
#[derive(Clone, Debug)]
pub struct UtxoParts {
    /// The coin, for address encoding and key derivation.
    pub coin: Coin,
    /// The node's JSON-RPC client (`rpc_url`, `rpc_user`, `rpc_password`).
    pub rpc: RpcClient,
    /// The account key.
    pub wallet: WatchOnlyWallet,
}

/// What an EVM network adds: its chain id (for signing and payment links), the node's
/// JSON-RPC 2.0 client, the allowlisted token contracts and the account key
/// (`m/44'/60'/0'`). For a hot wallet the keys that sign come from [`evm::hot_wallet`].
#[derive(Clone, Debug)]
pub struct EvmParts {
    /// The EIP-155 chain id.
    pub chain_id: u64,
    /// The node's client.
    pub rpc: RpcClient,
    /// The tokens taken, with their contracts.
    pub tokens: Vec<Token>,
    /// The account key.
    pub wallet: EvmWallet,
    /// The most paid per gas when moving funds (wei).
    pub max_fee: u128,
    /// Sweep a deposit only when the fee is at most this percent of what it moves.
    pub sweep_max_fee_percent: u32,
}

/// What TRON adds: the node's HTTP API, the allowlisted TRC-20 contracts and the account's
/// public half (`m/44'/195'/0'`).
#[derive(Clone, Debug)]
pub struct TronParts {
    /// The API client.
    pub api: kassa_chain::watch::tron::TronApi,
    /// The tokens taken, with their contracts.
    pub tokens: Vec<Token>,
    /// The account key.
    pub wallet: EvmWallet,
    /// A sweep's cost at most this percent of what it moves.
    pub sweep_max_fee_percent: u32,
}

impl LiveChain {
    /// The deposit address at receive index `index`.
    pub fn receive_address(&self, index: i64) -> Result<String, HdError> {
        let i = u32::try_from(index).map_err(|_| HdError::Index(u32::MAX))?;
        self.wallet.receive_address(i)
    }

    /// Whether payments in `crypto` are taken here.
    pub fn takes(&self, crypto: &Crypto) -> bool {
        self.currencies.iter().any(|c| c.code == crypto.code)
    }

    /// The contract of token `crypto` on this network (EIP-55 on EVM, `T…` on TRON), if it
    /// is allowlisted.
    pub fn token_contract(&self, crypto: &Crypto) -> Option<String> {
        if let Some(tron) = &self.tron {
            return tron.tokens.iter().find_map(|t| {
                (t.currency.code == crypto.code)
                    .then(|| kassa_chain::address::tron::encode(&t.contract))
            });
        }
        self.evm.as_ref()?.tokens.iter().find_map(|t| {
            (t.currency.code == crypto.code).then(|| kassa_chain::address::evm::encode(&t.contract))
        })
    }

    /// The page of transaction `txid` for people: the operator's explorer, else the
    /// network's public one on its real chain.
    pub fn explorer_url(&self, txid: &str) -> Option<String> {
        match &self.explorer {
            Some(template) => kassa_chain::explorer::from_template(template, txid),
            None => kassa_chain::explorer::transaction_url(self.network, self.chain, txid),
        }
    }

    /// The page of incoming transfer `(txid, index)`: its transaction's, except for value
    /// that came by contract calls, which is known by its block's hash and has none.
    pub fn transfer_url(&self, txid: &str, index: i64) -> Option<String> {
        let unlisted =
            self.evm.is_some() && index == i64::from(kassa_chain::watch::evm::UNLISTED_INDEX);
        if unlisted {
            return None;
        }
        self.explorer_url(txid)
    }

    /// The chain id payment links name (EVM networks).
    pub fn chain_id(&self) -> Option<u64> {
        self.evm.as_ref().map(|e| e.chain_id)
    }
}

/// Every network that takes live payments (configured, with a wallet).
#[derive(Debug, Default)]
pub struct Chains {
    live: Vec<Arc<LiveChain>>,
}

impl Chains {
    /// No network (operator commands that never touch a chain, and tests).
    pub fn none() -> Self {
        Self::default()
    }

    /// These networks (a simulation's, or a test's).
    pub fn of(live: Vec<Arc<LiveChain>>) -> Self {
        Self { live }
    }

    /// Every network that takes live payments, in configuration order.
    pub fn all(&self) -> &[Arc<LiveChain>] {
        &self.live
    }

    /// The network `network`, if it takes live payments.
    pub fn get(&self, network: &Network) -> Option<&Arc<LiveChain>> {
        self.live.iter().find(|c| c.network.code == network.code)
    }

    /// The codes of the networks that take live payments.
    pub fn live_networks(&self) -> Vec<&'static str> {
        self.live.iter().map(|c| c.network.code).collect()
    }

    /// The codes of the currencies live payments are taken in (what
    /// [`crate::pricing::Pricing`] offers to live projects).
    pub fn live_currencies(&self) -> Vec<&'static str> {
        self.live
            .iter()
            .flat_map(|c| c.currencies.iter().map(|c| c.code))
            .collect()
    }
}

/// The option that names `network`'s node: `api_url` for TRON, `rpc_url` for the others.
fn node_option(network: &Network) -> &'static str {
    if network.family == Family::Tron {
        "api_url"
    } else {
        "rpc_url"
    }
}

/// Why a wallet could not be made, found or opened.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// Not a network Kassa keeps HD wallets for.
    #[error(
        "{0} is not a network with an HD wallet: use btc, ltc, eth, bsc, arb, opt, base or tron"
    )]
    NoHdWallet(String),
    /// The network has no node URL (`rpc_url`; TRON's `api_url`).
    #[error(
        "{code} is not configured: set {url} ({url_env}) first",
        code = .0.code,
        url = config::chain_key(.0, node_option(.0)),
        url_env = config::chain_env(.0, node_option(.0)),
    )]
    NotConfigured(&'static Network),
    /// The configuration names a watch-only key for the network.
    #[error(
        "{key} is set: {code} uses that watch-only wallet; remove it to use a hot wallet instead",
        key = config::chain_key(.0, "xpub"),
        code = .0.code
    )]
    WatchOnlyConfigured(&'static Network),
    /// The network already has a wallet; it is never replaced.
    #[error(
        "{code} already has a {kind} wallet; it is never replaced (`kassa wallet show {name}` shows it)",
        code = .0.code,
        kind = .1.as_str(),
        name = config::section(.0)
    )]
    Exists(&'static Network, WalletKind),
    /// The network has no wallet yet.
    #[error(
        "{code} has no wallet: run `kassa wallet init {name}`, or set {key} for a watch-only one",
        code = .0.code,
        name = config::section(.0),
        key = config::chain_key(.0, "xpub")
    )]
    Missing(&'static Network),
    /// The wallet is watch-only: there is no phrase to open.
    #[error("the {} wallet is watch-only: it has no keys that sign", .0.code)]
    WatchOnly(&'static Network),
    /// Key generation or derivation failed.
    #[error(transparent)]
    Key(#[from] HdError),
    /// The sealed phrase did not open (wrong or missing master key).
    #[error("cannot open the stored recovery phrase: {0}")]
    Secret(#[from] OpenError),
    /// The stored wallet is inconsistent.
    #[error("the stored {network} wallet is damaged: {reason}")]
    Damaged {
        /// The network code.
        network: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The network of a name typed by the operator (`btc`, `LTC`, `eth`, `ERC20`) that Kassa
/// keeps an HD wallet for.
pub fn wallet_network(name: &str) -> Result<&'static Network, WalletError> {
    config::network_named(name)
        .filter(|n| Coin::of(n).is_some() || matches!(n.family, Family::Evm | Family::Tron))
        .ok_or_else(|| WalletError::NoHdWallet(name.trim().to_owned()))
}

/// The associated data a network's recovery phrase is sealed with: a sealed phrase copied to
/// another network's row does not open.
pub fn mnemonic_context(network: &Network) -> String {
    format!("chain-wallet:{}:mnemonic", network.code)
}

fn native_coin(network: &'static Network) -> Option<&'static Crypto> {
    currency::cryptos_in_order()
        .into_iter()
        .find(|c| c.native && c.network.code == network.code)
}

/// A wallet's public half, per family.
#[derive(Clone, Debug)]
pub enum PublicKeys {
    /// BIP84 account of BTC or LTC.
    Utxo(WatchOnlyWallet),
    /// BIP44 account of an EVM network (`m/44'/60'/0'`) or of TRON (`m/44'/195'/0'`): the
    /// same keys and 20-byte accounts, written each network's way.
    Evm(EvmWallet),
}

impl PublicKeys {
    /// Reads an account key typed by the operator for `network` on `chain`.
    pub fn parse(network: &'static Network, chain: Chain, text: &str) -> Result<Self, HdError> {
        match Coin::of(network) {
            Some(coin) => {
                WatchOnlyWallet::from_account_xpub(coin, chain, text).map(PublicKeys::Utxo)
            }
            None => EvmWallet::from_account_xpub_of(evm::keccak_coin(network), text)
                .map(PublicKeys::Evm),
        }
    }

    /// The account key as stored.
    pub fn account_xpub(&self) -> String {
        match self {
            PublicKeys::Utxo(w) => w.account_xpub(),
            PublicKeys::Evm(w) => w.account_xpub(),
        }
    }

    /// What the operator is shown about the keys, as (label, value) lines. All public.
    pub fn key_lines(&self) -> Result<Vec<(&'static str, String)>, HdError> {
        match self {
            PublicKeys::Utxo(w) => utxo::key_lines(w),
            PublicKeys::Evm(w) => evm::key_lines(w),
        }
    }

    /// The account's derivation path.
    pub fn account_path(&self) -> String {
        match self {
            PublicKeys::Utxo(w) => kassa_chain::hd::account_path(w.coin(), w.chain()),
            PublicKeys::Evm(w) => w.coin().account_path().to_owned(),
        }
    }
}

/// The public half of a stored wallet, checked against its row.
pub fn stored_keys(row: &WalletRow) -> Result<(Chain, PublicKeys), WalletError> {
    let network = wallet_network(&row.network)?;
    let damaged = |reason: String| WalletError::Damaged {
        network: network.code,
        reason,
    };
    let chain = config::parse_chain(&row.chain)
        .ok_or_else(|| damaged(format!("unknown chain {:?}", row.chain)))?;
    let keys = PublicKeys::parse(network, chain, &row.account_xpub)
        .map_err(|e| damaged(format!("account key: {e}")))?;
    Ok((chain, keys))
}

/// The chain the configuration of `network` names (an EVM network's is what its chain id
/// is).
fn configured_chain(
    chains: &ChainSettings,
    network: &'static Network,
) -> Result<Chain, SettingError> {
    if let Some(s) = chains.evm_of(network) {
        return Ok(s.chain(network));
    }
    if network.family == Family::Tron {
        return chains.tron.chain().ok_or_else(|| {
            SettingError::new(
                config::chain_key(network, "chain"),
                format!("{:?} is not mainnet, testnet or regtest", chains.tron.chain),
            )
        });
    }
    let s = chains.of(network).ok_or_else(|| {
        SettingError::new(
            config::chain_key(network, "rpc_url"),
            "not a network Kassa runs",
        )
    })?;
    s.chain().ok_or_else(|| {
        SettingError::new(
            config::chain_key(network, "chain"),
            format!("{:?} is not mainnet, testnet or regtest", s.chain),
        )
    })
}

/// Builds the networks that take live payments from the settings and the stored wallets.
/// A configured watch-only key with no stored wallet is stored now. Fails (with the option
/// named) when the configuration and the stored wallet disagree; a configured network with
/// no wallet at all is left out, with a warning.
pub async fn load(chains: &ChainSettings, db: &Db, now: Timestamp) -> anyhow::Result<Chains> {
    let mut live = Vec::new();
    for &network in currency::NETWORKS {
        if !chains.is_configured(network) {
            continue;
        }
        let key = |field: &str| config::chain_key(network, field);
        let chain = configured_chain(chains, network)?;
        let configured = chains
            .xpub_of(network)
            .map(|x| PublicKeys::parse(network, chain, x))
            .transpose()
            .map_err(|e| SettingError::new(key("xpub"), e.to_string()))?;
        let mut row = wallets::get(&mut db.conn().await?, network.code).await?;
        if let (None, Some(w)) = (&row, &configured) {
            let stored = store_wallet(db, network, chain, WalletKind::Watch, None, w, now).await;
            match stored {
                Ok(()) => tracing::info!(
                    network = network.code,
                    "stored the watch-only wallet of {}",
                    key("xpub")
                ),
                // Another process stored one first: it is checked below like any other.
                Err(WalletError::Exists(..)) => {}
                Err(e) => return Err(e.into()),
            }
            row = wallets::get(&mut db.conn().await?, network.code).await?;
        }
        let Some(row) = row else {
            tracing::warn!(
                network = network.code,
                "{} is configured but has no wallet, so it takes no live payments: run `kassa wallet init {}` or set {}",
                network.code,
                config::section(network),
                key("xpub")
            );
            continue;
        };
        if row.chain != config::chain_name(chain) {
            let (option, is) = if network.family == Family::Evm {
                ("chain_id", "is for")
            } else {
                ("chain", "is")
            };
            return Err(SettingError::new(
                key(option),
                format!(
                    "{is} {} but the {} wallet in the database is for {}; its addresses belong to that chain, so Kassa will not switch (set it back, or use another database)",
                    config::chain_name(chain),
                    network.code,
                    row.chain
                ),
            )
            .into());
        }
        let (_, stored) = stored_keys(&row)?;
        if let Some(w) = &configured
            && w.account_xpub() != stored.account_xpub()
        {
            return Err(SettingError::new(
                key("xpub"),
                format!(
                    "does not match the {} {} wallet in the database (account key {}); deposit addresses were derived from that one, so Kassa will not switch wallets (remove the option to keep the stored wallet)",
                    network.code,
                    row.kind.as_str(),
                    stored.account_xpub()
                ),
            )
            .into());
        }
        let built = match stored {
            PublicKeys::Utxo(w) => utxo::live(chains, network, chain, row.kind, w)?,
            PublicKeys::Evm(w) if network.family == Family::Tron => {
                tron::live(chains, network, chain, row.kind, w)?
            }
            PublicKeys::Evm(w) => evm::live(chains, network, chain, row.kind, w)?,
        };
        tracing::info!(
            network = network.code,
            chain = config::chain_name(chain),
            wallet = row.kind.as_str(),
            confirmations = built.confirmations,
            currencies = ?built.currencies.iter().map(|c| c.code).collect::<Vec<_>>(),
            "taking live payments"
        );
        live.push(Arc::new(built));
    }
    Ok(Chains { live })
}

/// Stores the wallet row of `network`; [`WalletError::Exists`] when it has one.
async fn store_wallet(
    db: &Db,
    network: &'static Network,
    chain: Chain,
    kind: WalletKind,
    sealed_mnemonic: Option<&str>,
    keys: &PublicKeys,
    now: Timestamp,
) -> Result<(), WalletError> {
    let mut tx = db.begin().await?;
    let inserted = wallets::insert(
        &mut tx,
        &NewWallet {
            network: network.code,
            chain: config::chain_name(chain),
            kind,
            sealed_mnemonic,
            account_xpub: &keys.account_xpub(),
        },
        now,
    )
    .await;
    match inserted {
        Ok(()) => Ok(tx.commit().await?),
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            let kind = wallets::get(&mut db.conn().await?, network.code)
                .await?
                .map_or(kind, |w| w.kind);
            Err(WalletError::Exists(network, kind))
        }
        Err(e) => Err(e.into()),
    }
}

/// The public half of the hot wallet `mnemonic` (no passphrase) gives on `network`.
fn keys_of(
    mnemonic: &Mnemonic,
    network: &'static Network,
    chain: Chain,
) -> Result<PublicKeys, WalletError> {
    Ok(match Coin::of(network) {
        Some(coin) => PublicKeys::Utxo(
            HotWallet::from_mnemonic(mnemonic, "", coin, chain)?
                .watch_only()
                .clone(),
        ),
        None if matches!(network.family, Family::Evm | Family::Tron) => PublicKeys::Evm(
            EvmHotWallet::from_mnemonic_of(evm::keccak_coin(network), mnemonic, "")?
                .watch_only()
                .clone(),
        ),
        None => return Err(WalletError::NoHdWallet(network.code.to_owned())),
    })
}

/// Stores a hot wallet for `network` on `chain` from `mnemonic` (no passphrase): the phrase
/// sealed with the active master key, and the account key. Refused when the network already
/// has a wallet. Returns the wallet's public half.
pub async fn create_hot_wallet(
    db: &Db,
    keyring: &Keyring,
    network: &'static Network,
    chain: Chain,
    mnemonic: &Mnemonic,
    now: Timestamp,
) -> Result<PublicKeys, WalletError> {
    let keys = keys_of(mnemonic, network, chain)?;
    let sealed = keyring.seal(&mnemonic_context(network), mnemonic.phrase().as_bytes());
    store_wallet(
        db,
        network,
        chain,
        WalletKind::Hot,
        Some(&sealed),
        &keys,
        now,
    )
    .await?;
    Ok(keys)
}

/// `kassa wallet init <network>`: a new 24-word phrase for a configured network without a
/// watch-only key, stored sealed. Returns the phrase (to show once) and the wallet's public
/// half.
pub async fn init_hot_wallet(
    chains: &ChainSettings,
    db: &Db,
    keyring: &Keyring,
    network: &'static Network,
    now: Timestamp,
) -> Result<(Mnemonic, PublicKeys), WalletError> {
    wallet_network(network.code)?;
    if !chains.is_configured(network) {
        return Err(WalletError::NotConfigured(network));
    }
    if chains.xpub_of(network).is_some() {
        return Err(WalletError::WatchOnlyConfigured(network));
    }
    let chain =
        configured_chain(chains, network).map_err(|_| WalletError::NotConfigured(network))?;
    if let Some(w) = wallets::get(&mut db.conn().await?, network.code).await? {
        return Err(WalletError::Exists(network, w.kind));
    }
    let mnemonic = Mnemonic::generate()?;
    let keys = create_hot_wallet(db, keyring, network, chain, &mnemonic, now).await?;
    Ok((mnemonic, keys))
}

/// The stored wallet of `network` with its chain and public half.
pub async fn stored_wallet(
    db: &Db,
    network: &'static Network,
) -> Result<(WalletRow, Chain, PublicKeys), WalletError> {
    let row = wallets::get(&mut db.conn().await?, network.code)
        .await?
        .ok_or(WalletError::Missing(network))?;
    let (chain, keys) = stored_keys(&row)?;
    Ok((row, chain, keys))
}

/// Opens the sealed recovery phrase of `network`'s hot wallet.
async fn open_phrase(
    db: &Db,
    keyring: &Keyring,
    network: &'static Network,
) -> Result<(Mnemonic, Chain, PublicKeys), WalletError> {
    let (row, chain, keys) = stored_wallet(db, network).await?;
    let sealed = row
        .sealed_mnemonic
        .as_deref()
        .filter(|_| row.kind == WalletKind::Hot)
        .ok_or(WalletError::WatchOnly(network))?;
    let mut bytes = keyring.open(&mnemonic_context(network), sealed)?;
    let mnemonic = std::str::from_utf8(&bytes)
        .map_err(|_| HdError::KeyFormat)
        .and_then(Mnemonic::parse);
    // Best effort: the opened phrase does not linger in this buffer.
    bytes.fill(0);
    std::hint::black_box(&bytes);
    Ok((mnemonic?, chain, keys))
}

fn phrase_mismatch(network: &'static Network) -> WalletError {
    WalletError::Damaged {
        network: network.code,
        reason: "the recovery phrase does not give the stored account key".into(),
    }
}

/// Opens the hot wallet of UTXO `network` (for signing withdrawals): the sealed phrase is
/// opened with the keyring, and the wallet it gives must have the stored account key.
pub async fn hot_wallet(
    db: &Db,
    keyring: &Keyring,
    network: &'static Network,
) -> Result<HotWallet, WalletError> {
    let coin = Coin::of(network).ok_or_else(|| WalletError::NoHdWallet(network.code.into()))?;
    let (mnemonic, chain, keys) = open_phrase(db, keyring, network).await?;
    let hot = HotWallet::from_mnemonic(&mnemonic, "", coin, chain)?;
    if hot.watch_only().account_xpub() != keys.account_xpub() {
        return Err(phrase_mismatch(network));
    }
    Ok(hot)
}
