//! The one interface the rest of Kassa uses to follow a network: a [`ChainSource`] is a node
//! seen as a source of facts — its best chain's tip, the block at a height (hash, parent, the
//! transfers in it and what each transaction spends), the mempool, and a way to hand it a
//! signed transaction. Nothing here remembers anything: the watcher (in `kassa-service`)
//! derives what counts from these facts every round.
//!
//! A network family plugs in by implementing [`ChainSource`] (and a [`DepositWallet`] for its
//! addresses). Implementations: [`utxo::UtxoSource`] (Bitcoin Core and Litecoin Core over
//! JSON-RPC), [`evm::EvmSource`] (Ethereum and its family over `eth_*` JSON-RPC),
//! [`tron::TronSource`] (a TRON full node's HTTP API) and
//! [`model::ModelChain`], an in-memory chain and mempool that simulations drive
//! through reorganisations, double spends, replacements and a node falling behind.

pub mod evm;
pub mod model;
pub mod tron;
pub mod utxo;

use std::future::Future;
use std::pin::Pin;

use kassa_core::Amount;
use kassa_core::currency::{Crypto, Network};

/// A boxed future, as the interface's methods return them (so sources can be `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The node's best block, and whether it is still catching up with the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tip {
    /// Height of the best block.
    pub height: u64,
    /// Its hash.
    pub hash: String,
    /// The node says it is still syncing (initial block download, or headers ahead of
    /// blocks): its best chain is behind the network's.
    pub syncing: bool,
}

/// One incoming transfer a block or a pending transaction carries: an output (UTXO) or a
/// token transfer log (EVM, TRON) paying `address`. Which of them are Kassa's is for the
/// watcher to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The transaction.
    pub txid: String,
    /// Output index (UTXO) or log index (tokens).
    pub index: u32,
    /// The receiving address.
    pub address: String,
    /// Amount in base units of `currency`.
    pub currency: &'static Crypto,
    /// Amount in base units.
    pub amount: Amount,
}

/// A transaction of a block: its id and what it consumes — the outpoints it spends
/// (`txid:vout` for UTXO networks), or the sender's nonce (`address:nonce` for account
/// networks). Two transactions consuming the same thing conflict; a withdrawal whose inputs
/// another transaction consumed can never confirm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxFacts {
    /// The transaction id.
    pub txid: String,
    /// What it consumes.
    pub consumes: Vec<String>,
}

/// A block of the node's best chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Height.
    pub height: u64,
    /// Hash.
    pub hash: String,
    /// The previous block's hash.
    pub parent: String,
    /// Every transfer in it (the watcher keeps those to deposit addresses).
    pub transfers: Vec<Transfer>,
    /// Every transaction in it.
    pub txs: Vec<TxFacts>,
    /// Token transfers from contracts that are not on the allowlist (EVM, TRON): never
    /// credited; the watcher keeps those to deposit addresses, so that the merchant sees why
    /// a payment did not count.
    pub ignored: Vec<Ignored>,
}

/// A token transfer of a contract the operator did not allowlist (a look-alike of a real
/// token, or one Kassa does not take).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// The transaction.
    pub txid: String,
    /// Its log index.
    pub index: u32,
    /// The receiving address.
    pub address: String,
    /// The contract that emitted it.
    pub contract: String,
    /// The amount in the contract's base units, as the log states it; `None` when it does not
    /// fit 128 bits.
    pub amount: Option<Amount>,
}

/// A transaction waiting in the node's mempool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTx {
    /// Its transfers.
    pub transfers: Vec<Transfer>,
    /// What it consumes.
    pub facts: TxFacts,
}

/// Why the node could not be asked, or answered something unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached (connection refused, timeout).
    #[error("node unreachable: {0}")]
    Unreachable(String),
    /// The node answered with an error or something unexpected.
    #[error("node: {0}")]
    Node(String),
    /// The node follows another chain than the configuration says (its addresses would never
    /// match, or worse).
    #[error("the node is on the {node} chain, but the configuration says {configured}")]
    WrongChain {
        /// What the node reports.
        node: String,
        /// What the configuration expects.
        configured: String,
    },
    /// An allowlisted token contract is not what the configuration says it is.
    #[error("the {code} contract {contract} is not usable: {problem}")]
    Token {
        /// The currency it is allowlisted as.
        code: &'static str,
        /// The contract's address.
        contract: String,
        /// What is wrong.
        problem: String,
    },
}

/// What the node did with a transaction handed to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broadcast {
    /// Accepted, or already known (in the mempool or a block).
    Accepted,
    /// Refused, for good (invalid, inputs missing or spent): the node's reason.
    Refused(String),
    /// No definitive answer (transport error, timeout): it may have gone through.
    Unknown(String),
}

/// A node of one network, as a source of facts about its best chain.
pub trait ChainSource: Send + Sync {
    /// The network it serves.
    fn network(&self) -> &'static Network;

    /// Checks that the node follows the chain the configuration names (once, before the
    /// first round).
    fn check(&self) -> BoxFuture<'_, Result<(), ChainError>>;

    /// The best block.
    fn tip(&self) -> BoxFuture<'_, Result<Tip, ChainError>>;

    /// The hash of the best chain's block at `height`; `None` when the node has no block
    /// there (above its tip).
    fn hash_at(&self, height: u64) -> BoxFuture<'_, Result<Option<String>, ChainError>>;

    /// The best chain's block at `height`; `None` above the tip.
    fn block_at(&self, height: u64) -> BoxFuture<'_, Result<Option<Block>, ChainError>>;

    /// The time of the best chain's block at `height`, in seconds since the epoch (for
    /// finding where to start); `None` above the tip.
    fn time_at(&self, height: u64) -> BoxFuture<'_, Result<Option<i64>, ChainError>>;

    /// The ids of the transactions in the node's mempool.
    fn mempool(&self) -> BoxFuture<'_, Result<Vec<String>, ChainError>>;

    /// A mempool transaction's transfers and what it consumes; `None` when it is no longer
    /// there.
    fn pending<'a>(&'a self, txid: &'a str)
    -> BoxFuture<'a, Result<Option<PendingTx>, ChainError>>;

    /// Hands a signed transaction (hex) to the node.
    fn broadcast<'a>(&'a self, raw: &'a str) -> BoxFuture<'a, Broadcast>;

    /// Whether native value can reach an address without a transfer a block lists (see
    /// [`ChainSource::unlisted`]).
    fn has_unlisted(&self) -> bool {
        false
    }

    /// The native coin that reached any of `addresses` in `block` without a transfer the
    /// block lists (EVM: value sent by contract calls), as transfers of that block. Sources
    /// whose blocks list every payment have none.
    fn unlisted<'a>(
        &'a self,
        _block: &'a Block,
        _addresses: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Transfer>, ChainError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Where a network's deposit addresses come from: the operator's wallet, derived by index.
pub trait DepositWallet: Send + Sync {
    /// The deposit address at receive index `index`.
    fn receive_address(&self, index: u32) -> Result<String, crate::hd::HdError>;
}

impl DepositWallet for crate::hd::WatchOnlyWallet {
    fn receive_address(&self, index: u32) -> Result<String, crate::hd::HdError> {
        self.address(crate::hd::Branch::Receive, index)
    }
}
