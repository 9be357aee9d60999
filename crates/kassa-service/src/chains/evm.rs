//! Ethereum and its family (BNB Smart Chain, Arbitrum, Optimism, Base) as live networks: the
//! node's `eth_*` JSON-RPC as an [`EvmSource`] that reads the coin and the allowlisted tokens,
//! and the BIP44 account `m/44'/60'/0'`.
//!
//! The allowlist's decimals are checked against the catalogue by the source's `check`, before
//! the watcher's first round: start-up never waits on the node, and a mismatch stops that
//! network's watcher with the token named.

use std::sync::Arc;
use std::time::Duration;

use kassa_chain::Chain;
use kassa_chain::hd::HdError;
use kassa_chain::hd::evm::{EvmHotWallet, EvmWallet, KeccakCoin};
use kassa_chain::rpc::RpcClient;
use kassa_chain::watch::evm::{EvmSource, Token};
use kassa_core::currency::Network;
use kassa_core::secret::Keyring;
use kassa_store::Db;
use kassa_store::wallets::WalletKind;

use super::{EvmParts, LiveChain, WalletError, native_coin, open_phrase, phrase_mismatch};
use crate::config::{self, ChainSettings, SettingError};

/// How long the node has to answer one call.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// The live EVM network `network` with its stored wallet `wallet`.
pub(super) fn live(
    chains: &ChainSettings,
    network: &'static Network,
    chain: Chain,
    kind: WalletKind,
    wallet: EvmWallet,
) -> anyhow::Result<LiveChain> {
    let not_evm = || WalletError::NoHdWallet(network.code.into());
    let s = chains.evm_of(network).ok_or_else(not_evm)?;
    let currency = native_coin(network).ok_or_else(not_evm)?;
    let key = |field: &str| config::chain_key(network, field);
    let tokens: Vec<Token> = s
        .tokens(network)?
        .into_iter()
        .map(|(currency, contract)| Token { contract, currency })
        .collect();
    let rpc = RpcClient::json_rpc_2(s.rpc_url.trim(), RPC_TIMEOUT)
        .map_err(|e| SettingError::new(key("rpc_url"), e.to_string()))?;
    let source = EvmSource::new(network, s.chain_id, rpc.clone(), tokens.clone())
        .map_err(|e| SettingError::new(key("tokens"), e.to_string()))?;
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
        evm: Some(EvmParts {
            chain_id: s.chain_id,
            rpc,
            tokens,
            wallet,
            max_fee: u128::from(s.max_fee_gwei).saturating_mul(1_000_000_000),
            sweep_max_fee_percent: s.sweep_max_fee_percent,
        }),
        tron: None,
        explorer: Some(s.explorer.trim().to_owned()).filter(|e| !e.is_empty()),
    })
}

/// What the operator is shown about an EVM wallet's keys: the account path, the account key,
/// the first deposit address (to check against the wallet software that restores it) and the
/// treasury, where sweeps arrive and the operator's gas float goes.
pub fn key_lines(wallet: &EvmWallet) -> Result<Vec<(&'static str, String)>, HdError> {
    Ok(vec![
        ("account path", wallet.coin().account_path().to_owned()),
        ("account key", wallet.account_xpub()),
        ("first deposit address (…/0/0)", wallet.address(0)?),
        (
            match wallet.coin() {
                KeccakCoin::Ethereum => {
                    "treasury (…/1/0: sweeps arrive here; send gas for token sweeps here)"
                }
                KeccakCoin::Tron => "treasury (…/1/0: where the hot wallet's funds will gather)",
            },
            wallet.treasury_address()?,
        ),
    ])
}

/// Whose accounts `network` uses: TRON's, or the EVM family's.
pub fn keccak_coin(network: &Network) -> KeccakCoin {
    if network.family == kassa_core::currency::Family::Tron {
        KeccakCoin::Tron
    } else {
        KeccakCoin::Ethereum
    }
}

/// Opens the hot wallet of EVM `network` (or TRON's) (for sweeps and withdrawals): the sealed phrase is
/// opened with the keyring, and the wallet it gives must have the stored account key.
pub async fn hot_wallet(
    db: &Db,
    keyring: &Keyring,
    network: &'static Network,
) -> Result<EvmHotWallet, WalletError> {
    let (mnemonic, _, keys) = open_phrase(db, keyring, network).await?;
    let hot = EvmHotWallet::from_mnemonic_of(keccak_coin(network), &mnemonic, "")?;
    if hot.watch_only().account_xpub() != keys.account_xpub() {
        return Err(phrase_mismatch(network));
    }
    Ok(hot)
}

/// The hot wallet of `network` and its treasury's address (where sweeps end and withdrawals
/// leave from).
pub async fn hot_treasury(
    db: &Db,
    keyring: &Keyring,
    network: &'static Network,
) -> Result<(EvmHotWallet, String), WalletError> {
    let hot = hot_wallet(db, keyring, network).await?;
    let treasury = hot.watch_only().treasury_address()?;
    Ok((hot, treasury))
}
