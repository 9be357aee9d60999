//! TRON as a live network: a full node's HTTP API as a [`TronSource`] that reads TRX and the
//! allowlisted TRC-20 tokens, and the BIP44 account `m/44'/195'/0'` (the keys of the EVM
//! family's accounts under TRON's coin type, addresses in base58check).
//!
//! The allowlist's decimals are checked against the catalogue by the source's `check`, before
//! the watcher's first round. Withdrawals: `crate::withdrawals::tron`. Not yet: sweeps.

use std::sync::Arc;
use std::time::Duration;

use kassa_chain::Chain;
use kassa_chain::hd::evm::EvmWallet;
use kassa_chain::watch::evm::Token;
use kassa_chain::watch::tron::{TronApi, TronSource};
use kassa_core::currency::Network;
use kassa_store::wallets::WalletKind;

use super::{LiveChain, TronParts, WalletError, native_coin};
use crate::config::{self, ChainSettings, SettingError};

/// How long the node has to answer one call.
const API_TIMEOUT: Duration = Duration::from_secs(30);

/// The live TRON network with its stored wallet `wallet`.
pub(super) fn live(
    chains: &ChainSettings,
    network: &'static Network,
    chain: Chain,
    kind: WalletKind,
    wallet: EvmWallet,
) -> anyhow::Result<LiveChain> {
    let s = &chains.tron;
    let currency =
        native_coin(network).ok_or_else(|| WalletError::NoHdWallet(network.code.into()))?;
    let key = |field: &str| config::chain_key(network, field);
    let tokens: Vec<Token> = s
        .tokens()?
        .into_iter()
        .map(|(currency, contract)| Token { contract, currency })
        .collect();
    let api_key = Some(s.api_key.expose().to_owned()).filter(|k| !k.is_empty());
    let api = TronApi::new(s.api_url.trim(), api_key, API_TIMEOUT)
        .map_err(|e| SettingError::new(key("api_url"), e.to_string()))?;
    let source = TronSource::new(network, api.clone(), tokens.clone())
        .map_err(|e| SettingError::new(key("api_url"), e.to_string()))?;
    let mut currencies = vec![currency];
    currencies.extend(tokens.iter().map(|t| t.currency));
    Ok(LiveChain {
        network,
        currency,
        currencies,
        chain,
        confirmations: s.confirmations,
        poll_interval: Duration::from_millis(s.poll_interval_ms),
        kind,
        source: Arc::new(source),
        wallet: Arc::new(wallet.clone()),
        utxo: None,
        evm: None,
        tron: Some(TronParts {
            api,
            tokens,
            wallet,
            sweep_max_fee_percent: s.sweep_max_fee_percent,
        }),
        explorer: Some(s.explorer.trim().to_owned()).filter(|e| !e.is_empty()),
    })
}
