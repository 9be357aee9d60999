//! The operator's networks as the running application sees them: for every network that is
//! configured (`[chains.<network>]` with an `rpc_url`) and has a wallet, one [`LiveChain`] with
//! its chain, confirmation rule, poll interval, the node as a [`ChainSource`] and the wallet's
//! public half as a [`DepositWallet`] (BTC and LTC today; see "adding a network family" in
//! `docs/architecture.md`). [`Ctx::chains`](crate::Ctx::chains) holds them;
//! live deposit addresses are derived from them and the chain watchers run on them.
//!
//! Wallets live in the database (`chain_wallet`, one per network), never in the
//! configuration:
//!
//! - **hot**: `kassa wallet init <network>` ([`init_hot_wallet`]) generates a 24-word BIP39
//!   phrase, stores it sealed with the master key (context [`mnemonic_context`]) next to the
//!   account's extended public key, and shows it once. [`hot_wallet`] opens it again for
//!   signing.
//! - **watch-only**: `chains.<network>.xpub` names an account key; the first start stores it
//!   ([`load`]). The stored wallet is the one that counts from then on: a configured key that
//!   disagrees with it, or a chain that is not the stored wallet's, stops start-up rather than
//!   switch wallets (the addresses already handed out would no longer be watched).
//!
//! Deposit addresses are BIP84 P2WPKH on the receive branch, `m/84'/coin'/0'/0/i`, where `i`
//! is the wallet's next index, taken in the transaction that records the address
//! ([`kassa_store::wallets::take_next_index`]). Deriving needs only the public key.

use std::sync::Arc;
use std::time::Duration;

use kassa_chain::Chain;
use kassa_chain::hd::{Branch, Coin, HdError, HotWallet, Mnemonic, WatchOnlyWallet, XpubFormat};
use kassa_chain::rpc::RpcClient;
use kassa_chain::watch::utxo::UtxoSource;
use kassa_chain::watch::{ChainSource, DepositWallet};
use kassa_core::Timestamp;
use kassa_core::currency::{self, Crypto, Network};
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
    /// The network's own coin (`BTC`, `LTC`).
    pub currency: &'static Crypto,
    /// Mainnet, testnet or regtest.
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

impl LiveChain {
    /// The deposit address at receive index `index`.
    pub fn receive_address(&self, index: i64) -> Result<String, HdError> {
        let i = u32::try_from(index).map_err(|_| HdError::Index(u32::MAX))?;
        self.wallet.receive_address(i)
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

    /// The codes of the networks that take live payments (what [`crate::pricing::Pricing`]
    /// offers to live projects).
    pub fn live_networks(&self) -> Vec<&'static str> {
        self.live.iter().map(|c| c.network.code).collect()
    }
}

/// Why a wallet could not be made, found or opened.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// Not a network Kassa keeps BIP84 wallets for.
    #[error("{0} is not a network with an HD wallet: use btc or ltc")]
    NotUtxo(String),
    /// The network has no `rpc_url`.
    #[error(
        "{code} is not configured: set {url} ({url_env}) and {chain} ({chain_env}) first",
        code = .0.code,
        url = config::chain_key(.0, "rpc_url"),
        url_env = config::chain_env(.0, "rpc_url"),
        chain = config::chain_key(.0, "chain"),
        chain_env = config::chain_env(.0, "chain"),
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
        "{code} already has a {kind} wallet; it is never replaced (`kassa wallet show {lower}` shows it)",
        code = .0.code,
        kind = .1.as_str(),
        lower = .0.code.to_ascii_lowercase()
    )]
    Exists(&'static Network, WalletKind),
    /// The network has no wallet yet.
    #[error(
        "{code} has no wallet: run `kassa wallet init {lower}`, or set {key} for a watch-only one",
        code = .0.code,
        lower = .0.code.to_ascii_lowercase(),
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

/// The UTXO network of a name typed by the operator (`btc`, `LTC`).
pub fn utxo_network(name: &str) -> Result<&'static Network, WalletError> {
    currency::network(name)
        .filter(|n| Coin::of(n).is_some())
        .ok_or_else(|| WalletError::NotUtxo(name.trim().to_owned()))
}

/// The associated data a network's recovery phrase is sealed with: a sealed phrase copied to
/// another network's row does not open.
pub fn mnemonic_context(network: &Network) -> String {
    format!("chain-wallet:{}:mnemonic", network.code)
}

fn coin_of(network: &'static Network) -> Result<Coin, WalletError> {
    Coin::of(network).ok_or_else(|| WalletError::NotUtxo(network.code.to_owned()))
}

fn native_coin(network: &'static Network) -> Option<&'static Crypto> {
    currency::cryptos_in_order()
        .into_iter()
        .find(|c| c.native && c.network.code == network.code)
}

/// The public half of a stored wallet, checked against its row.
pub fn stored_watch_only(row: &WalletRow) -> Result<(Chain, WatchOnlyWallet), WalletError> {
    let network = utxo_network(&row.network)?;
    let damaged = |reason: String| WalletError::Damaged {
        network: network.code,
        reason,
    };
    let chain = config::parse_chain(&row.chain)
        .ok_or_else(|| damaged(format!("unknown chain {:?}", row.chain)))?;
    let wallet = WatchOnlyWallet::from_account_xpub(coin_of(network)?, chain, &row.account_xpub)
        .map_err(|e| damaged(format!("account key: {e}")))?;
    Ok((chain, wallet))
}

/// Builds the networks that take live payments from the settings and the stored wallets.
/// A configured watch-only key with no stored wallet is stored now. Fails (with the option
/// named) when the configuration and the stored wallet disagree; a configured network with
/// no wallet at all is left out, with a warning.
pub async fn load(chains: &ChainSettings, db: &Db, now: Timestamp) -> anyhow::Result<Chains> {
    let mut live = Vec::new();
    for (network, s) in chains.utxo() {
        if !s.is_configured() {
            continue;
        }
        let key = |field: &str| config::chain_key(network, field);
        let chain = s.chain().ok_or_else(|| {
            SettingError::new(
                key("chain"),
                format!("{:?} is not mainnet, testnet or regtest", s.chain),
            )
        })?;
        let coin = coin_of(network)?;
        let currency =
            native_coin(network).ok_or_else(|| WalletError::NotUtxo(network.code.into()))?;
        let configured = s
            .xpub()
            .map(|x| WatchOnlyWallet::from_account_xpub(coin, chain, x))
            .transpose()
            .map_err(|e| SettingError::new(key("xpub"), e.to_string()))?;
        let mut row = wallets::get(&mut db.conn().await?, network.code).await?;
        if let (None, Some(w)) = (&row, &configured) {
            let mut tx = db.begin().await?;
            let inserted = wallets::insert(
                &mut tx,
                &NewWallet {
                    network: network.code,
                    chain: config::chain_name(chain),
                    kind: WalletKind::Watch,
                    sealed_mnemonic: None,
                    account_xpub: &w.account_xpub(),
                },
                now,
            )
            .await;
            match inserted {
                Ok(()) => {
                    tx.commit().await?;
                    tracing::info!(
                        network = network.code,
                        "stored the watch-only wallet of {}",
                        key("xpub")
                    );
                }
                // Another process stored one first: it is checked below like any other.
                Err(e) if e.is_unique_violation() => drop(tx),
                Err(e) => return Err(e.into()),
            }
            row = wallets::get(&mut db.conn().await?, network.code).await?;
        }
        let Some(row) = row else {
            tracing::warn!(
                network = network.code,
                "{} is configured but has no wallet, so it takes no live payments: run `kassa wallet init {}` or set {}",
                network.code,
                network.code.to_ascii_lowercase(),
                key("xpub")
            );
            continue;
        };
        if row.chain != config::chain_name(chain) {
            return Err(SettingError::new(
                key("chain"),
                format!(
                    "is {} but the {} wallet in the database is for {}; its addresses belong to that chain, so Kassa will not switch (set it back, or use another database)",
                    config::chain_name(chain),
                    network.code,
                    row.chain
                ),
            )
            .into());
        }
        let (_, stored) = stored_watch_only(&row)?;
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
        let rpc = RpcClient::new(s.rpc_url.trim(), &s.rpc_user, s.rpc_password.clone())
            .map_err(|e| SettingError::new(key("rpc_url"), e.to_string()))?;
        tracing::info!(
            network = network.code,
            chain = config::chain_name(chain),
            wallet = row.kind.as_str(),
            confirmations = s.confirmations,
            node = rpc.url(),
            "taking live payments"
        );
        live.push(Arc::new(LiveChain {
            network,
            currency,
            chain,
            confirmations: s.confirmations,
            poll_interval: Duration::from_millis(s.poll_interval_ms),
            kind: row.kind,
            source: Arc::new(UtxoSource::new(network, currency, rpc.clone(), chain)),
            wallet: Arc::new(stored.clone()),
            utxo: Some(UtxoParts {
                coin,
                rpc,
                wallet: stored,
            }),
        }));
    }
    Ok(Chains { live })
}

/// Stores a hot wallet for `network` on `chain` from `mnemonic` (no passphrase): the phrase
/// sealed with the active master key, and the account key. Refused when the network already
/// has a wallet. Returns the wallet.
pub async fn create_hot_wallet(
    db: &Db,
    keyring: &Keyring,
    network: &'static Network,
    chain: Chain,
    mnemonic: &Mnemonic,
    now: Timestamp,
) -> Result<HotWallet, WalletError> {
    let hot = HotWallet::from_mnemonic(mnemonic, "", coin_of(network)?, chain)?;
    let sealed = keyring.seal(&mnemonic_context(network), mnemonic.phrase().as_bytes());
    let mut tx = db.begin().await?;
    let inserted = wallets::insert(
        &mut tx,
        &NewWallet {
            network: network.code,
            chain: config::chain_name(chain),
            kind: WalletKind::Hot,
            sealed_mnemonic: Some(&sealed),
            account_xpub: &hot.watch_only().account_xpub(),
        },
        now,
    )
    .await;
    match inserted {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            let kind = wallets::get(&mut db.conn().await?, network.code)
                .await?
                .map_or(WalletKind::Hot, |w| w.kind);
            return Err(WalletError::Exists(network, kind));
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(hot)
}

/// `kassa wallet init <network>`: a new 24-word phrase for a configured network without a
/// watch-only key, stored sealed. Returns the phrase (to show once) and the wallet.
pub async fn init_hot_wallet(
    chains: &ChainSettings,
    db: &Db,
    keyring: &Keyring,
    network: &'static Network,
    now: Timestamp,
) -> Result<(Mnemonic, HotWallet), WalletError> {
    coin_of(network)?;
    let s = chains
        .of(network)
        .filter(|s| s.is_configured())
        .ok_or(WalletError::NotConfigured(network))?;
    if s.xpub().is_some() {
        return Err(WalletError::WatchOnlyConfigured(network));
    }
    let chain = s.chain().ok_or(WalletError::NotConfigured(network))?;
    if let Some(w) = wallets::get(&mut db.conn().await?, network.code).await? {
        return Err(WalletError::Exists(network, w.kind));
    }
    let mnemonic = Mnemonic::generate()?;
    let hot = create_hot_wallet(db, keyring, network, chain, &mnemonic, now).await?;
    Ok((mnemonic, hot))
}

/// The stored wallet of `network` with its public half.
pub async fn stored_wallet(
    db: &Db,
    network: &'static Network,
) -> Result<(WalletRow, Chain, WatchOnlyWallet), WalletError> {
    let row = wallets::get(&mut db.conn().await?, network.code)
        .await?
        .ok_or(WalletError::Missing(network))?;
    let (chain, watch) = stored_watch_only(&row)?;
    Ok((row, chain, watch))
}

/// Opens the hot wallet of `network` (for signing withdrawals): the sealed phrase is opened
/// with the keyring, and the wallet it gives must have the stored account key.
pub async fn hot_wallet(
    db: &Db,
    keyring: &Keyring,
    network: &'static Network,
) -> Result<HotWallet, WalletError> {
    let (row, chain, watch) = stored_wallet(db, network).await?;
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
    let hot = HotWallet::from_mnemonic(&mnemonic?, "", coin_of(network)?, chain)?;
    if hot.watch_only().account_xpub() != watch.account_xpub() {
        return Err(WalletError::Damaged {
            network: network.code,
            reason: "the recovery phrase does not give the stored account key".into(),
        });
    }
    Ok(hot)
}

/// What the operator is shown about a wallet's keys, as (label, value) lines: the account
/// path, the account key in the nodes' spelling (`xpub`/`tpub`) and in the native segwit one
/// (`zpub`/`vpub`), and the receive branch's output descriptor. All public.
pub fn key_lines(wallet: &WatchOnlyWallet) -> Result<Vec<(&'static str, String)>, HdError> {
    Ok(vec![
        (
            "account path",
            kassa_chain::hd::account_path(wallet.coin(), wallet.chain()),
        ),
        ("account key", wallet.account_xpub()),
        ("account key (native segwit)", segwit_xpub(wallet)?),
        ("receive descriptor", wallet.descriptor(Branch::Receive)),
    ])
}

/// The account key of `wallet` in the SLIP-132 native segwit spelling wallets show for BIP84
/// accounts (`zpub` on mainnet, `vpub` on the test chains).
pub fn segwit_xpub(wallet: &WatchOnlyWallet) -> Result<String, HdError> {
    wallet.account_xpub_as(XpubFormat::segwit(wallet.chain()))
}
