//! [`ChainSource`] for Bitcoin Core and Litecoin Core nodes over JSON-RPC (polling: Litecoin
//! 0.21 has no ZMQ worth relying on). Blocks come with every transaction (`getblock` verbosity
//! 2): each output paying one address is a [`Transfer`] in the network's coin, each input an
//! outpoint the transaction consumes.

use kassa_core::currency::{Crypto, Network};
use serde_json::json;

use super::{
    Block, BoxFuture, Broadcast, ChainError, ChainSource, PendingTx, Tip, Transfer, TxFacts,
};
use crate::Chain;
use crate::rpc::{RpcClient, RpcError, Transaction, codes};

/// A Bitcoin-style node of one network.
#[derive(Clone, Debug)]
pub struct UtxoSource {
    network: &'static Network,
    coin: &'static Crypto,
    rpc: RpcClient,
    chain: Chain,
}

impl UtxoSource {
    /// The node at `rpc`, serving `network` (whose coin is `coin`) on `chain`.
    pub fn new(
        network: &'static Network,
        coin: &'static Crypto,
        rpc: RpcClient,
        chain: Chain,
    ) -> Self {
        Self {
            network,
            coin,
            rpc,
            chain,
        }
    }

    /// The node's RPC client.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    fn transfers(&self, tx: &Transaction) -> Vec<Transfer> {
        tx.vout
            .iter()
            .filter_map(|o| {
                o.script_pub_key.single_address().map(|address| Transfer {
                    txid: tx.txid.clone(),
                    index: o.n,
                    address: address.to_owned(),
                    currency: self.coin,
                    amount: o.value,
                })
            })
            .collect()
    }
}

/// The outpoint text (`txid:vout`) an input spends; what [`TxFacts::consumes`] holds.
pub fn outpoint(txid: &str, vout: u32) -> String {
    format!("{txid}:{vout}")
}

fn facts(tx: &Transaction) -> TxFacts {
    TxFacts {
        txid: tx.txid.clone(),
        consumes: tx
            .vin
            .iter()
            .filter_map(|i| i.previous_output())
            .map(|(txid, vout)| outpoint(txid, vout))
            .collect(),
    }
}

fn node_error(e: RpcError) -> ChainError {
    match e {
        RpcError::Transport(m) => ChainError::Unreachable(m),
        e @ RpcError::Timeout(_) => ChainError::Unreachable(e.to_string()),
        // Still loading its block index: as good as unreachable for a while.
        e if e.code() == Some(codes::IN_WARMUP) => ChainError::Unreachable(e.to_string()),
        e => ChainError::Node(e.to_string()),
    }
}

/// The node's name of a chain (`getblockchaininfo`'s `chain`).
pub fn node_chain_name(chain: Chain) -> &'static str {
    match chain {
        Chain::Mainnet => "main",
        Chain::Testnet => "test",
        Chain::Regtest => "regtest",
    }
}

impl ChainSource for UtxoSource {
    fn network(&self) -> &'static Network {
        self.network
    }

    fn check(&self) -> BoxFuture<'_, Result<(), ChainError>> {
        Box::pin(async move {
            let info = self.rpc.get_blockchain_info().await.map_err(node_error)?;
            let expected = node_chain_name(self.chain);
            if info.chain != expected {
                return Err(ChainError::WrongChain {
                    node: info.chain,
                    configured: expected.to_owned(),
                });
            }
            Ok(())
        })
    }

    fn tip(&self) -> BoxFuture<'_, Result<Tip, ChainError>> {
        Box::pin(async move {
            let info = self.rpc.get_blockchain_info().await.map_err(node_error)?;
            Ok(Tip {
                height: info.blocks,
                hash: info.bestblockhash,
                syncing: info.initialblockdownload || info.headers > info.blocks,
            })
        })
    }

    fn hash_at(&self, height: u64) -> BoxFuture<'_, Result<Option<String>, ChainError>> {
        Box::pin(async move {
            match self.rpc.get_block_hash(height).await {
                Ok(h) => Ok(Some(h)),
                Err(e) if e.code() == Some(codes::INVALID_PARAMETER) => Ok(None),
                Err(e) => Err(node_error(e)),
            }
        })
    }

    fn block_at(&self, height: u64) -> BoxFuture<'_, Result<Option<Block>, ChainError>> {
        Box::pin(async move {
            let Some(hash) = self.hash_at(height).await? else {
                return Ok(None);
            };
            let block = match self.rpc.get_block(&hash).await {
                Ok(b) => b,
                // Gone between the two calls (a reorganisation): as if above the tip.
                Err(e) if e.code() == Some(codes::INVALID_ADDRESS_OR_KEY) => return Ok(None),
                Err(e) => return Err(node_error(e)),
            };
            Ok(Some(Block {
                height: block.height,
                hash: block.hash.clone(),
                parent: block.previousblockhash.clone().unwrap_or_default(),
                transfers: block.tx.iter().flat_map(|t| self.transfers(t)).collect(),
                txs: block.tx.iter().map(facts).collect(),
                ignored: Vec::new(),
            }))
        })
    }

    fn time_at(&self, height: u64) -> BoxFuture<'_, Result<Option<i64>, ChainError>> {
        Box::pin(async move {
            let Some(hash) = self.hash_at(height).await? else {
                return Ok(None);
            };
            let header = self
                .rpc
                .call("getblockheader", json!([hash]))
                .await
                .map_err(node_error)?;
            Ok(header["time"].as_i64())
        })
    }

    fn mempool(&self) -> BoxFuture<'_, Result<Vec<String>, ChainError>> {
        Box::pin(async move { self.rpc.get_raw_mempool().await.map_err(node_error) })
    }

    fn pending<'a>(
        &'a self,
        txid: &'a str,
    ) -> BoxFuture<'a, Result<Option<PendingTx>, ChainError>> {
        Box::pin(async move {
            match self.rpc.get_raw_transaction(txid, None).await {
                Ok(raw) => {
                    let tx = Transaction {
                        txid: raw.txid,
                        hash: raw.hash,
                        vin: raw.vin,
                        vout: raw.vout,
                    };
                    Ok(Some(PendingTx {
                        transfers: self.transfers(&tx),
                        facts: facts(&tx),
                    }))
                }
                // Left the mempool between the two calls.
                Err(e) if e.code() == Some(codes::INVALID_ADDRESS_OR_KEY) => Ok(None),
                Err(e) => Err(node_error(e)),
            }
        })
    }

    fn broadcast<'a>(&'a self, raw: &'a str) -> BoxFuture<'a, Broadcast> {
        Box::pin(async move {
            match self.rpc.send_raw_transaction(raw).await {
                Ok(_) => Broadcast::Accepted,
                Err(e) if e.code() == Some(codes::VERIFY_ALREADY_IN_CHAIN) => Broadcast::Accepted,
                Err(RpcError::Rpc { message, code, .. }) => {
                    Broadcast::Refused(format!("{message} (RPC error {code})"))
                }
                Err(e) => Broadcast::Unknown(e.to_string()),
            }
        })
    }
}
