//! Ethereum and its family (BNB Smart Chain, Arbitrum, Optimism, Base) as a [`ChainSource`],
//! over the standard JSON-RPC interface every EVM node serves (`eth_*`, JSON-RPC 2.0).
//!
//! A block's transfers are its transactions' native value to a recipient (index 0) and the
//! ERC-20 `Transfer(from, to, value)` logs of the operator's allowlisted token contracts (index
//! `1 + logIndex`), read with one `eth_getLogs` on the block's hash. A token at any other
//! address is never credited, whatever its symbol: its logs are the block's `ignored`. Reverted
//! transactions leave no logs, and a plain value transfer to an account cannot revert once
//! mined, so what a block carries is what moved. Native value sent by contract calls
//! (internal transfers) shows only as balances: [`ChainSource::unlisted`] works it out for the
//! addresses the watcher asks about.
//!
//! Amounts are `uint256` on the wire; one that does not fit Kassa's 128-bit amounts (no real
//! payment comes near 3.4 × 10^38 base units) is left out, never truncated. What a transaction
//! consumes is its sender's nonce (`0x…:<nonce>`): two transactions of one sender with the same
//! nonce conflict, and only one can ever be mined.
//!
//! Not here: the pending pool (payments are seen once mined).

use std::time::Duration;

use kassa_core::Amount;
use kassa_core::currency::{CRYPTOS, Crypto, Family, Network};
use serde::Deserialize;
use serde_json::json;

use super::{
    Block, BoxFuture, Broadcast, ChainError, ChainSource, Ignored, PendingTx, Tip, Transfer,
    TxFacts,
};
use crate::address::evm as address;
use crate::rpc::{RpcClient, RpcError};

/// `keccak256("Transfer(address,address,uint256)")`: the ERC-20 Transfer event's topic.
pub const TRANSFER_TOPIC: &str =
    "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

/// The index of a block's native value that arrived through contract calls (see
/// [`EvmSource::unlisted`](ChainSource::unlisted)): above any log's.
pub const UNLISTED_INDEX: u32 = u32::MAX;

/// The ERC-20 `decimals()` call (its selector).
const DECIMALS_CALL: &str = "0x313ce567";

/// A token contract the operator accepts payments in, and the catalogue currency it is.
#[derive(Clone, Debug)]
pub struct Token {
    /// The contract's address.
    pub contract: [u8; 20],
    /// The currency.
    pub currency: &'static Crypto,
}

/// An EVM node of one network.
pub struct EvmSource {
    network: &'static Network,
    native: &'static Crypto,
    chain_id: u64,
    rpc: RpcClient,
    tokens: Vec<Token>,
}

/// How a node's answers are read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcBlock {
    number: String,
    hash: String,
    parent_hash: String,
    #[serde(default)]
    transactions: Vec<RpcTx>,
}

#[derive(Deserialize)]
struct RpcTx {
    hash: String,
    from: String,
    #[serde(default)]
    to: Option<String>,
    value: String,
    nonce: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcLog {
    address: String,
    topics: Vec<String>,
    data: String,
    transaction_hash: String,
    log_index: String,
    #[serde(default)]
    removed: bool,
}

/// A block's header fields, from `eth_getBlockByNumber(…, false)`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcHeader {
    number: String,
    hash: String,
    timestamp: String,
}

fn node(e: RpcError) -> ChainError {
    match e {
        RpcError::Transport(m) => ChainError::Unreachable(m),
        RpcError::Timeout(d) => ChainError::Unreachable(format!("no answer within {d:?}")),
        other => ChainError::Node(other.to_string()),
    }
}

/// A hex quantity (`0x1a`) as a `u64`.
fn quantity(text: &str) -> Result<u64, ChainError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    u64::from_str_radix(if digits.is_empty() { "0" } else { digits }, 16)
        .map_err(|_| ChainError::Node(format!("not a quantity: {text:?}")))
}

/// A `uint256` (hex quantity or 32-byte data word) as base units; `None` when it is not hex
/// or does not fit 128 bits.
pub fn uint256(text: &str) -> Option<Amount> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() > 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 32 {
        return None;
    }
    let value = if significant.is_empty() {
        0
    } else {
        u128::from_str_radix(significant, 16).ok()?
    };
    Some(Amount::from_base(value))
}

/// The address in the last 20 bytes of a 32-byte topic, checksummed.
fn topic_address(topic: &str) -> Option<String> {
    let digits = topic.strip_prefix("0x").unwrap_or(topic);
    if digits.len() != 64 || !digits[..24].bytes().all(|b| b == b'0') {
        return None;
    }
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(&digits[24..], &mut bytes).ok()?;
    Some(address::encode(&bytes))
}

impl EvmSource {
    /// A source for `network` (an EVM one) at the node behind `rpc`, which must be on
    /// `chain_id`, accepting the `tokens` of the allowlist.
    pub fn new(
        network: &'static Network,
        chain_id: u64,
        rpc: RpcClient,
        tokens: Vec<Token>,
    ) -> Result<EvmSource, ChainError> {
        if network.family != Family::Evm {
            return Err(ChainError::Node(format!(
                "{} is not an EVM network",
                network.code
            )));
        }
        let native = CRYPTOS
            .iter()
            .find(|c| c.native && std::ptr::eq(c.network, network))
            .ok_or_else(|| ChainError::Node(format!("no native coin for {}", network.code)))?;
        if let Some(t) = tokens
            .iter()
            .find(|t| !std::ptr::eq(t.currency.network, network) || t.currency.native)
        {
            return Err(ChainError::Node(format!(
                "{} is not a token of {}",
                t.currency.code, network.code
            )));
        }
        Ok(EvmSource {
            network,
            native,
            chain_id,
            rpc,
            tokens,
        })
    }

    /// A source whose node answers within `timeout`.
    pub fn connect(
        network: &'static Network,
        chain_id: u64,
        url: &str,
        timeout: Duration,
        tokens: Vec<Token>,
    ) -> Result<EvmSource, ChainError> {
        let rpc = RpcClient::json_rpc_2(url, timeout).map_err(node)?;
        Self::new(network, chain_id, rpc, tokens)
    }

    async fn header(&self, tag: &str) -> Result<Option<RpcHeader>, ChainError> {
        self.rpc
            .call_as::<Option<RpcHeader>>("eth_getBlockByNumber", json!([tag, false]))
            .await
            .map_err(node)
    }

    fn token(&self, contract: &str) -> Option<&Token> {
        // Nodes write addresses in lower case; lower-cased, no checksum applies.
        let bytes = address::decode(&contract.to_ascii_lowercase()).ok()?;
        self.tokens.iter().find(|t| t.contract == bytes)
    }

    /// Whether the node has the transaction `raw` (hex), pending or mined.
    async fn knows(&self, raw: &str) -> Result<bool, ChainError> {
        use sha3::{Digest, Keccak256};
        let bytes = hex::decode(raw.trim_start_matches("0x"))
            .map_err(|e| ChainError::Node(format!("not hex: {e}")))?;
        let hash = format!("0x{}", hex::encode(Keccak256::digest(&bytes)));
        let tx: serde_json::Value = self
            .rpc
            .call_as("eth_getTransactionByHash", json!([hash]))
            .await
            .map_err(node)?;
        Ok(!tx.is_null())
    }

    /// The ERC-20 Transfer logs of the block `hash`: the allowlisted tokens' as transfers,
    /// every other contract's as ignored.
    async fn token_transfers(
        &self,
        hash: &str,
    ) -> Result<(Vec<Transfer>, Vec<Ignored>), ChainError> {
        let logs: Vec<RpcLog> = self
            .rpc
            .call_as(
                "eth_getLogs",
                json!([{"blockHash": hash, "topics": [TRANSFER_TOPIC]}]),
            )
            .await
            .map_err(node)?;
        let (mut transfers, mut ignored) = (Vec::new(), Vec::new());
        for log in logs {
            // ERC-721 transfers index the token id too (four topics): not a payment.
            if log.removed || log.topics.len() != 3 || log.topics[0] != TRANSFER_TOPIC {
                continue;
            }
            let Some(to) = topic_address(&log.topics[2]) else {
                continue;
            };
            let index =
                u32::try_from(quantity(&log.log_index)?.saturating_add(1)).unwrap_or(u32::MAX);
            let txid = log.transaction_hash.to_ascii_lowercase();
            let amount = uint256(&log.data);
            match self.token(&log.address) {
                Some(token) => {
                    let Some(amount) = amount else {
                        continue;
                    };
                    transfers.push(Transfer {
                        txid,
                        index,
                        address: to,
                        currency: token.currency,
                        amount,
                    });
                }
                None => {
                    let Ok(contract) = address::decode(&log.address.to_ascii_lowercase()) else {
                        continue;
                    };
                    ignored.push(Ignored {
                        txid,
                        index,
                        address: to,
                        contract: address::encode(&contract),
                        amount,
                    });
                }
            }
        }
        Ok((transfers, ignored))
    }

    /// The native balance of `address` after the block `hash` (EIP-1898).
    async fn balance_at(&self, address: &str, hash: &str) -> Result<Amount, ChainError> {
        let text: String = self
            .rpc
            .call_as(
                "eth_getBalance",
                json!([address, {"blockHash": hash, "requireCanonical": false}]),
            )
            .await
            .map_err(node)?;
        uint256(&text).ok_or_else(|| ChainError::Node(format!("not a balance: {text:?}")))
    }
}

impl ChainSource for EvmSource {
    fn network(&self) -> &'static Network {
        self.network
    }

    fn check(&self) -> BoxFuture<'_, Result<(), ChainError>> {
        Box::pin(async move {
            let id: String = self
                .rpc
                .call_as("eth_chainId", json!([]))
                .await
                .map_err(node)?;
            let id = quantity(&id)?;
            if id != self.chain_id {
                return Err(ChainError::WrongChain {
                    node: format!("chain id {id}"),
                    configured: format!("chain id {}", self.chain_id),
                });
            }
            // Every allowlisted contract must be a token with the catalogue's decimals: a
            // wrong address (or a token that is not the one named) would credit amounts a
            // thousand billion times off.
            for t in &self.tokens {
                let contract = address::encode(&t.contract);
                let wrong = |what: String| ChainError::Token {
                    code: t.currency.code,
                    contract: contract.clone(),
                    problem: what,
                };
                let answer: String = self
                    .rpc
                    .call_as(
                        "eth_call",
                        json!([{"to": contract, "data": DECIMALS_CALL}, "latest"]),
                    )
                    .await
                    .map_err(|e| match e {
                        RpcError::Rpc { message, .. } => {
                            wrong(format!("its decimals() call failed: {message}"))
                        }
                        other => node(other),
                    })?;
                let decimals = uint256(&answer)
                    .filter(|_| answer.len() > 2)
                    .map(|a| a.base())
                    .ok_or_else(|| wrong("it has no code, or decimals() gives nothing".into()))?;
                if decimals != u128::from(t.currency.decimals) {
                    return Err(wrong(format!(
                        "it has {decimals} decimals, but {} has {}",
                        t.currency.code, t.currency.decimals
                    )));
                }
            }
            Ok(())
        })
    }

    fn tip(&self) -> BoxFuture<'_, Result<Tip, ChainError>> {
        Box::pin(async move {
            let header = self
                .header("latest")
                .await?
                .ok_or_else(|| ChainError::Node("no latest block".into()))?;
            let syncing: serde_json::Value = self
                .rpc
                .call_as("eth_syncing", json!([]))
                .await
                .map_err(node)?;
            Ok(Tip {
                height: quantity(&header.number)?,
                hash: header.hash.to_ascii_lowercase(),
                syncing: syncing != serde_json::Value::Bool(false),
            })
        })
    }

    fn hash_at(&self, height: u64) -> BoxFuture<'_, Result<Option<String>, ChainError>> {
        Box::pin(async move {
            Ok(self
                .header(&format!("0x{height:x}"))
                .await?
                .map(|h| h.hash.to_ascii_lowercase()))
        })
    }

    fn block_at(&self, height: u64) -> BoxFuture<'_, Result<Option<Block>, ChainError>> {
        Box::pin(async move {
            let block: Option<RpcBlock> = self
                .rpc
                .call_as(
                    "eth_getBlockByNumber",
                    json!([format!("0x{height:x}"), true]),
                )
                .await
                .map_err(node)?;
            let Some(block) = block else {
                return Ok(None);
            };
            let hash = block.hash.to_ascii_lowercase();
            let mut transfers = Vec::new();
            let mut txs = Vec::with_capacity(block.transactions.len());
            for tx in &block.transactions {
                let txid = tx.hash.to_ascii_lowercase();
                let nonce = quantity(&tx.nonce)?;
                txs.push(TxFacts {
                    txid: txid.clone(),
                    consumes: vec![format!("{}:{nonce}", tx.from.to_ascii_lowercase())],
                });
                let (Some(to), Some(value)) = (&tx.to, uint256(&tx.value)) else {
                    continue;
                };
                if value.is_zero() {
                    continue;
                }
                let Ok(to) = address::decode(&to.to_ascii_lowercase()) else {
                    continue;
                };
                transfers.push(Transfer {
                    txid,
                    index: 0,
                    address: address::encode(&to),
                    currency: self.native,
                    amount: value,
                });
            }
            // The block's hash pins the logs to this very block (not whatever is at the
            // height by the time the node answers).
            let (tokens, ignored) = self.token_transfers(&hash).await?;
            transfers.extend(tokens);
            Ok(Some(Block {
                height: quantity(&block.number)?,
                hash,
                parent: block.parent_hash.to_ascii_lowercase(),
                transfers,
                txs,
                ignored,
            }))
        })
    }

    fn time_at(&self, height: u64) -> BoxFuture<'_, Result<Option<i64>, ChainError>> {
        Box::pin(async move {
            match self.header(&format!("0x{height:x}")).await? {
                Some(h) => Ok(Some(
                    i64::try_from(quantity(&h.timestamp)?).unwrap_or(i64::MAX),
                )),
                None => Ok(None),
            }
        })
    }

    fn mempool(&self) -> BoxFuture<'_, Result<Vec<String>, ChainError>> {
        // Payments are seen once mined (see the module's notes).
        Box::pin(async { Ok(Vec::new()) })
    }

    fn pending<'a>(
        &'a self,
        _txid: &'a str,
    ) -> BoxFuture<'a, Result<Option<PendingTx>, ChainError>> {
        Box::pin(async { Ok(None) })
    }

    fn has_unlisted(&self) -> bool {
        true
    }

    /// Value sent by contract calls leaves no transfer in the block, only a higher balance:
    /// for each address, its balance after the block less its balance after the parent less
    /// what the block's transactions paid it directly. An address that sent a transaction in
    /// the block (a sweep) is left out for that block: its own spending hides what came in.
    /// Such a transfer's id is the block's hash (index [`UNLISTED_INDEX`]): it is in that
    /// block, and leaves with it.
    fn unlisted<'a>(
        &'a self,
        block: &'a Block,
        addresses: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Transfer>, ChainError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for a in addresses {
                let lower = a.to_ascii_lowercase();
                let sent = block.txs.iter().any(|t| {
                    t.consumes
                        .iter()
                        .any(|c| c.split_once(':').is_some_and(|(from, _)| from == lower))
                });
                if sent {
                    continue;
                }
                let after = self.balance_at(a, &block.hash).await?;
                if after.is_zero() {
                    continue;
                }
                let before = self.balance_at(a, &block.parent).await?;
                let direct = block
                    .transfers
                    .iter()
                    .filter(|t| t.currency.native && t.address == *a)
                    .try_fold(Amount::ZERO, |sum, t| sum.checked_add(t.amount))
                    .unwrap_or(Amount::ZERO);
                let Some(unlisted) = after
                    .checked_sub(before)
                    .and_then(|gain| gain.checked_sub(direct))
                    .filter(|u| !u.is_zero())
                else {
                    continue;
                };
                out.push(Transfer {
                    txid: block.hash.clone(),
                    index: UNLISTED_INDEX,
                    address: a.clone(),
                    currency: self.native,
                    amount: unlisted,
                });
            }
            Ok(out)
        })
    }

    fn broadcast<'a>(&'a self, raw: &'a str) -> BoxFuture<'a, Broadcast> {
        Box::pin(async move {
            let raw = if raw.starts_with("0x") {
                raw.to_owned()
            } else {
                format!("0x{raw}")
            };
            match self
                .rpc
                .call_as::<String>("eth_sendRawTransaction", json!([raw]))
                .await
            {
                Ok(_) => Broadcast::Accepted,
                // Refused — unless the node knows this very transaction already (pending or
                // mined: "already known", "nonce too low"), which is no refusal at all.
                Err(RpcError::Rpc { message, .. }) => match self.knows(&raw).await {
                    Ok(true) => Broadcast::Accepted,
                    Ok(false) => Broadcast::Refused(message),
                    Err(e) => Broadcast::Unknown(format!("{message}; then {e}")),
                },
                Err(other) => Broadcast::Unknown(other.to_string()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint256_words_read_exactly_or_not_at_all() {
        assert_eq!(uint256("0x0"), Some(Amount::from_base(0)));
        assert_eq!(
            uint256("0xde0b6b3a7640000"),
            Some(Amount::from_base(1_000_000_000_000_000_000))
        );
        let word = format!("0x{:0>64}", "bc614e");
        assert_eq!(uint256(&word), Some(Amount::from_base(12_345_678)));
        // u128::MAX fits; one more does not, and is left out rather than cut.
        assert_eq!(
            uint256(&format!("0x{}", "f".repeat(32))),
            Some(Amount::from_base(u128::MAX))
        );
        assert_eq!(uint256(&format!("0x1{}", "0".repeat(32))), None);
        assert_eq!(uint256("0xzz"), None);
        assert_eq!(uint256(&format!("0x{}", "0".repeat(65))), None);
    }

    #[test]
    fn a_topic_holds_a_checksummed_address() {
        let topic = "0x0000000000000000000000005aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
        assert_eq!(
            topic_address(topic).as_deref(),
            Some("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
        );
        assert_eq!(topic_address("0x01"), None);
        let dirty = "0x0000000000000000000000015aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
        assert_eq!(
            topic_address(dirty),
            None,
            "the upper 12 bytes must be zero"
        );
    }

    #[test]
    fn the_transfer_topic_is_the_events_keccak() {
        use sha3::{Digest, Keccak256};
        let hash = Keccak256::digest(b"Transfer(address,address,uint256)");
        assert_eq!(format!("0x{}", hex::encode(hash)), TRANSFER_TOPIC);
    }
}
