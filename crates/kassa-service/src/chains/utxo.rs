//! BTC and LTC as live networks: the node's JSON-RPC client (Bitcoin Core, Litecoin Core) as
//! a [`UtxoSource`], and the BIP84 account's keys.

use std::sync::Arc;
use std::time::Duration;

use kassa_chain::Chain;
use kassa_chain::hd::{Branch, Coin, HdError, WatchOnlyWallet, XpubFormat};
use kassa_chain::rpc::RpcClient;
use kassa_chain::watch::utxo::UtxoSource;
use kassa_core::currency::Network;
use kassa_store::wallets::WalletKind;

use super::{LiveChain, UtxoParts, WalletError, native_coin};
use crate::config::{self, ChainSettings, SettingError};

/// The live network `network` (BTC or LTC) with its stored wallet `wallet`.
pub(super) fn live(
    chains: &ChainSettings,
    network: &'static Network,
    chain: Chain,
    kind: WalletKind,
    wallet: WatchOnlyWallet,
) -> anyhow::Result<LiveChain> {
    let not_utxo = || WalletError::NoHdWallet(network.code.into());
    let s = chains.of(network).ok_or_else(not_utxo)?;
    let coin = Coin::of(network).ok_or_else(not_utxo)?;
    let currency = native_coin(network).ok_or_else(not_utxo)?;
    let rpc = RpcClient::new(s.rpc_url.trim(), &s.rpc_user, s.rpc_password.clone())
        .map_err(|e| SettingError::new(config::chain_key(network, "rpc_url"), e.to_string()))?;
    Ok(LiveChain {
        network,
        currency,
        currencies: vec![currency],
        chain,
        confirmations: s.confirmations,
        poll_interval: Duration::from_millis(s.poll_interval_ms),
        kind,
        source: Arc::new(UtxoSource::new(network, currency, rpc.clone(), chain)),
        wallet: Arc::new(wallet.clone()),
        utxo: Some(UtxoParts { coin, rpc, wallet }),
        evm: None,
        tron: None,
        explorer: None,
    })
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
