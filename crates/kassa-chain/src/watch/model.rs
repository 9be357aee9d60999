//! An in-memory network behind the [`ChainSource`] interface, for seeded simulations: a tree
//! of blocks with a best chain, a mempool, and transactions that pay addresses and consume
//! outpoints. A simulation drives it through everything a real node does — mining,
//! reorganisations of any depth, double spends, replacements, evictions — and through what a
//! node does badly: falling behind (a re-index, a restored backup) and not answering.
//!
//! It follows a UTXO model (a transaction consumes `txid:vout` outpoints), which is enough for
//! every family: a conflict is two transactions consuming the same thing. Everything is
//! deterministic: ids come from a counter, and the only randomness is the simulation's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use kassa_core::Amount;
use kassa_core::currency::{Crypto, Network};

use super::{
    Block, BoxFuture, Broadcast, ChainError, ChainSource, PendingTx, Tip, Transfer, TxFacts,
};

/// A transaction of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelTx {
    /// Its id.
    pub txid: String,
    /// Outputs: address and amount, by index.
    pub outputs: Vec<(String, Amount)>,
    /// The outpoints it consumes.
    pub inputs: Vec<String>,
}

#[derive(Clone, Debug)]
struct ModelBlock {
    height: u64,
    hash: String,
    parent: String,
    txids: Vec<String>,
}

/// How the node answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeView {
    /// Truthfully.
    Live,
    /// As a node re-indexing or restored from an older backup: its best chain is the true one
    /// cut at this height, and its mempool is empty.
    Behind(u64),
    /// Not at all.
    Down,
}

#[derive(Debug)]
struct Model {
    blocks: BTreeMap<String, ModelBlock>,
    /// Hashes of the best chain by height (index 0 is the genesis block).
    best: Vec<String>,
    mempool: Vec<String>,
    txs: BTreeMap<String, ModelTx>,
    view: NodeView,
    next: u64,
}

/// The in-memory network (see the module docs). Share it as an `Arc`: the simulation changes
/// it while the watcher reads it.
#[derive(Debug)]
pub struct ModelChain {
    network: &'static Network,
    coin: &'static Crypto,
    inner: Mutex<Model>,
}

impl Model {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:060x}", self.next)
    }

    fn tip_height(&self) -> u64 {
        (self.best.len() as u64).saturating_sub(1)
    }

    /// The height the node shows as its tip.
    fn visible_tip(&self) -> u64 {
        match self.view {
            NodeView::Behind(h) => h.min(self.tip_height()),
            _ => self.tip_height(),
        }
    }

    /// Outpoints consumed by the best chain's transactions.
    fn spent_in_chain(&self) -> BTreeSet<String> {
        self.best
            .iter()
            .filter_map(|h| self.blocks.get(h))
            .flat_map(|b| b.txids.iter())
            .filter_map(|t| self.txs.get(t))
            .flat_map(|t| t.inputs.iter().cloned())
            .collect()
    }

    fn in_chain(&self, txid: &str) -> Option<u64> {
        self.best
            .iter()
            .filter_map(|h| self.blocks.get(h))
            .find(|b| b.txids.iter().any(|t| t == txid))
            .map(|b| b.height)
    }

    /// Whether `tx` conflicts with the best chain (consumes something it consumed).
    fn conflicts_with_chain(&self, tx: &ModelTx, spent: &BTreeSet<String>) -> bool {
        tx.inputs.iter().any(|i| spent.contains(i))
    }

    /// Drops from the mempool what the best chain now contains or conflicts with.
    fn clean_mempool(&mut self) {
        let spent = self.spent_in_chain();
        let mut keep = Vec::new();
        for t in std::mem::take(&mut self.mempool) {
            let Some(tx) = self.txs.get(&t) else { continue };
            if self.in_chain(&t).is_none() && !self.conflicts_with_chain(tx, &spent) {
                keep.push(t);
            }
        }
        self.mempool = keep;
    }

    fn push_block(&mut self, txids: Vec<String>) -> String {
        let parent = self.best.last().cloned().unwrap_or_default();
        let height = self.best.len() as u64;
        let hash = self.id("b");
        self.blocks.insert(
            hash.clone(),
            ModelBlock {
                height,
                hash: hash.clone(),
                parent,
                txids,
            },
        );
        self.best.push(hash.clone());
        hash
    }

    /// Which of `candidates` (in order) a new block may hold: not in the chain, not
    /// conflicting with it or with each other.
    fn valid_for_block(&self, candidates: &[String]) -> Vec<String> {
        let mut spent = self.spent_in_chain();
        let mut out = Vec::new();
        for t in candidates {
            let Some(tx) = self.txs.get(t) else { continue };
            if self.in_chain(t).is_some()
                || out.contains(t)
                || self.conflicts_with_chain(tx, &spent)
            {
                continue;
            }
            spent.extend(tx.inputs.iter().cloned());
            out.push(t.clone());
        }
        out
    }
}

impl ModelChain {
    /// A network with only a genesis block and an empty mempool.
    pub fn new(network: &'static Network, coin: &'static Crypto) -> Self {
        let mut m = Model {
            blocks: BTreeMap::new(),
            best: Vec::new(),
            mempool: Vec::new(),
            txs: BTreeMap::new(),
            view: NodeView::Live,
            next: 0,
        };
        m.push_block(Vec::new());
        Self {
            network,
            coin,
            inner: Mutex::new(m),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Model> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes a transaction (not yet anywhere) paying `outputs` from fresh coins of a payer.
    pub fn payment(&self, outputs: Vec<(String, Amount)>) -> ModelTx {
        let mut m = self.lock();
        let funding = m.id("f");
        let txid = m.id("t");
        let tx = ModelTx {
            txid,
            outputs,
            inputs: vec![format!("{funding}:0")],
        };
        m.txs.insert(tx.txid.clone(), tx.clone());
        tx
    }

    /// Makes a transaction consuming `inputs` and paying `outputs` (not yet anywhere).
    pub fn spend(&self, inputs: Vec<String>, outputs: Vec<(String, Amount)>) -> ModelTx {
        let mut m = self.lock();
        let txid = m.id("t");
        let tx = ModelTx {
            txid,
            outputs,
            inputs,
        };
        m.txs.insert(tx.txid.clone(), tx.clone());
        tx
    }

    /// Puts a known transaction in the mempool, as a wallet broadcasting it would: refused
    /// when it is in the best chain already, conflicts with it, or conflicts with the mempool
    /// (replacements use [`ModelChain::replace`]).
    pub fn submit(&self, txid: &str) -> Broadcast {
        let mut m = self.lock();
        if m.view == NodeView::Down {
            return Broadcast::Unknown("node down".into());
        }
        let Some(tx) = m.txs.get(txid).cloned() else {
            return Broadcast::Refused("unknown transaction".into());
        };
        if m.in_chain(txid).is_some() || m.mempool.iter().any(|t| t == txid) {
            return Broadcast::Accepted;
        }
        let spent = m.spent_in_chain();
        if m.conflicts_with_chain(&tx, &spent) {
            return Broadcast::Refused("inputs already spent (missing-inputs)".into());
        }
        let in_pool: BTreeSet<String> = m
            .mempool
            .iter()
            .filter_map(|t| m.txs.get(t))
            .flat_map(|t| t.inputs.iter().cloned())
            .collect();
        if tx.inputs.iter().any(|i| in_pool.contains(i)) {
            return Broadcast::Refused("txn-mempool-conflict".into());
        }
        m.mempool.push(txid.to_owned());
        Broadcast::Accepted
    }

    /// Replaces `txid` in the mempool (RBF) with a transaction consuming the same inputs and
    /// paying `outputs` instead; the replacement's id, or `None` when `txid` is not waiting.
    pub fn replace(&self, txid: &str, outputs: Vec<(String, Amount)>) -> Option<String> {
        let mut m = self.lock();
        let pos = m.mempool.iter().position(|t| t == txid)?;
        let inputs = m.txs.get(txid)?.inputs.clone();
        let new = m.id("t");
        m.txs.insert(
            new.clone(),
            ModelTx {
                txid: new.clone(),
                outputs,
                inputs,
            },
        );
        m.mempool[pos] = new.clone();
        Some(new)
    }

    /// A transaction conflicting with `txid` (consuming its inputs) that pays `outputs`; it is
    /// not put anywhere — mine it with [`ModelChain::mine_with`] or a reorganisation.
    pub fn conflict(&self, txid: &str, outputs: Vec<(String, Amount)>) -> Option<ModelTx> {
        let inputs = self.lock().txs.get(txid)?.inputs.clone();
        Some(self.spend(inputs, outputs))
    }

    /// Removes `txid` from the mempool (expiry, eviction, a node restart).
    pub fn evict(&self, txid: &str) {
        self.lock().mempool.retain(|t| t != txid);
    }

    /// Mines `n` blocks on the best chain; the first holds every valid mempool transaction.
    pub fn mine(&self, n: u64) {
        let pool = self.lock().mempool.clone();
        self.mine_with(n, &pool);
    }

    /// Mines `n` blocks; the first holds the valid ones of `txids` (in order, from the
    /// mempool or not).
    pub fn mine_with(&self, n: u64, txids: &[String]) {
        let mut m = self.lock();
        for i in 0..n {
            let txs = if i == 0 {
                m.valid_for_block(txids)
            } else {
                Vec::new()
            };
            m.push_block(txs);
        }
        m.clean_mempool();
    }

    /// A reorganisation: the last `depth` blocks leave the best chain, their transactions go
    /// back to the mempool, and `depth + extra` new blocks replace them; the first new block
    /// holds the valid ones of `include` (the rest of the returned transactions stay waiting).
    /// A depth above the chain's height is cut to it (the genesis block stays).
    pub fn reorg(&self, depth: u64, extra: u64, include: &[String]) {
        let mut m = self.lock();
        let depth = depth.min(m.tip_height());
        let keep = m.best.len() - usize::try_from(depth).unwrap_or(0);
        let orphaned: Vec<String> = m.best.split_off(keep);
        let mut returned: Vec<String> = orphaned
            .iter()
            .filter_map(|h| m.blocks.get(h))
            .flat_map(|b| b.txids.clone())
            .collect();
        returned.extend(std::mem::take(&mut m.mempool));
        m.mempool = returned;
        for i in 0..depth + extra.max(1) {
            let txs = if i == 0 {
                m.valid_for_block(include)
            } else {
                Vec::new()
            };
            m.push_block(txs);
        }
        m.clean_mempool();
    }

    /// Sets how the node answers.
    pub fn set_view(&self, view: NodeView) {
        self.lock().view = view;
    }

    /// How the node answers now.
    pub fn view(&self) -> NodeView {
        self.lock().view
    }

    /// The true best chain's height.
    pub fn height(&self) -> u64 {
        self.lock().tip_height()
    }

    /// Confirmations of `txid` in the true best chain (`None`: not in it).
    pub fn confirmations(&self, txid: &str) -> Option<u64> {
        let m = self.lock();
        m.in_chain(txid).map(|h| m.tip_height() - h + 1)
    }

    /// Whether `txid` waits in the mempool.
    pub fn in_mempool(&self, txid: &str) -> bool {
        self.lock().mempool.iter().any(|t| t == txid)
    }

    /// A transaction by id.
    pub fn tx(&self, txid: &str) -> Option<ModelTx> {
        self.lock().txs.get(txid).cloned()
    }

    /// The ids of the transactions in the true best chain, oldest first, with their height.
    pub fn chain_txs(&self) -> Vec<(String, u64)> {
        let m = self.lock();
        m.best
            .iter()
            .filter_map(|h| m.blocks.get(h))
            .flat_map(|b| b.txids.iter().map(move |t| (t.clone(), b.height)))
            .collect()
    }

    /// Outputs of best-chain transactions paying one of `addresses` that no best-chain or
    /// mempool transaction consumes: (`txid:vout`, amount, confirmations).
    pub fn unspent_to(&self, addresses: &[String]) -> Vec<(String, Amount, u64)> {
        let m = self.lock();
        let mut consumed = m.spent_in_chain();
        for t in m.mempool.iter().filter_map(|t| m.txs.get(t)) {
            consumed.extend(t.inputs.iter().cloned());
        }
        let tip = m.tip_height();
        let mut out = Vec::new();
        for b in m.best.iter().filter_map(|h| m.blocks.get(h)) {
            for tx in b.txids.iter().filter_map(|t| m.txs.get(t)) {
                for (i, (a, v)) in tx.outputs.iter().enumerate() {
                    let op = format!("{}:{i}", tx.txid);
                    if addresses.contains(a) && !consumed.contains(&op) {
                        out.push((op, *v, tip - b.height + 1));
                    }
                }
            }
        }
        out
    }

    /// The mempool, oldest first.
    pub fn mempool_txs(&self) -> Vec<String> {
        self.lock().mempool.clone()
    }

    fn transfers(&self, tx: &ModelTx) -> Vec<Transfer> {
        tx.outputs
            .iter()
            .enumerate()
            .map(|(i, (address, amount))| Transfer {
                txid: tx.txid.clone(),
                index: u32::try_from(i).unwrap_or(u32::MAX),
                address: address.clone(),
                currency: self.coin,
                amount: *amount,
            })
            .collect()
    }

    fn down(m: &Model) -> Result<(), ChainError> {
        if m.view == NodeView::Down {
            Err(ChainError::Unreachable(
                "connection refused (model node down)".into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl ChainSource for ModelChain {
    fn network(&self) -> &'static Network {
        self.network
    }

    fn check(&self) -> BoxFuture<'_, Result<(), ChainError>> {
        Box::pin(async move { Self::down(&self.lock()) })
    }

    fn tip(&self) -> BoxFuture<'_, Result<Tip, ChainError>> {
        Box::pin(async move {
            let m = self.lock();
            Self::down(&m)?;
            let height = m.visible_tip();
            let hash = m
                .best
                .get(usize::try_from(height).unwrap_or(usize::MAX))
                .cloned()
                .unwrap_or_default();
            Ok(Tip {
                height,
                hash,
                syncing: matches!(m.view, NodeView::Behind(_)),
            })
        })
    }

    fn hash_at(&self, height: u64) -> BoxFuture<'_, Result<Option<String>, ChainError>> {
        Box::pin(async move {
            let m = self.lock();
            Self::down(&m)?;
            if height > m.visible_tip() {
                return Ok(None);
            }
            Ok(m.best
                .get(usize::try_from(height).unwrap_or(usize::MAX))
                .cloned())
        })
    }

    fn block_at(&self, height: u64) -> BoxFuture<'_, Result<Option<Block>, ChainError>> {
        Box::pin(async move {
            let m = self.lock();
            Self::down(&m)?;
            if height > m.visible_tip() {
                return Ok(None);
            }
            let Some(b) = m
                .best
                .get(usize::try_from(height).unwrap_or(usize::MAX))
                .and_then(|h| m.blocks.get(h))
            else {
                return Ok(None);
            };
            let txs: Vec<&ModelTx> = b.txids.iter().filter_map(|t| m.txs.get(t)).collect();
            Ok(Some(Block {
                height: b.height,
                hash: b.hash.clone(),
                parent: b.parent.clone(),
                transfers: txs.iter().flat_map(|t| self.transfers(t)).collect(),
                txs: txs
                    .iter()
                    .map(|t| TxFacts {
                        txid: t.txid.clone(),
                        consumes: t.inputs.clone(),
                    })
                    .collect(),
                ignored: Vec::new(),
            }))
        })
    }

    fn time_at(&self, height: u64) -> BoxFuture<'_, Result<Option<i64>, ChainError>> {
        Box::pin(async move {
            let m = self.lock();
            Self::down(&m)?;
            // Blocks ten minutes apart from the epoch: only order matters to the watcher.
            Ok((height <= m.visible_tip()).then(|| i64::try_from(height * 600).unwrap_or(0)))
        })
    }

    fn mempool(&self) -> BoxFuture<'_, Result<Vec<String>, ChainError>> {
        Box::pin(async move {
            let m = self.lock();
            Self::down(&m)?;
            Ok(match m.view {
                NodeView::Behind(_) => Vec::new(),
                _ => m.mempool.clone(),
            })
        })
    }

    fn pending<'a>(
        &'a self,
        txid: &'a str,
    ) -> BoxFuture<'a, Result<Option<PendingTx>, ChainError>> {
        Box::pin(async move {
            let m = self.lock();
            Self::down(&m)?;
            if !m.mempool.iter().any(|t| t == txid) {
                return Ok(None);
            }
            Ok(m.txs.get(txid).map(|t| PendingTx {
                transfers: self.transfers(t),
                facts: TxFacts {
                    txid: t.txid.clone(),
                    consumes: t.inputs.clone(),
                },
            }))
        })
    }

    fn broadcast<'a>(&'a self, raw: &'a str) -> BoxFuture<'a, Broadcast> {
        // The model's "raw transaction" is its id: the transaction was made with
        // [`ModelChain::spend`].
        Box::pin(async move { self.submit(raw) })
    }
}

#[cfg(test)]
mod tests {
    use kassa_core::currency::{self, LTC_NET};

    use super::*;

    fn model() -> ModelChain {
        ModelChain::new(&LTC_NET, currency::crypto("LTC").unwrap())
    }

    fn pay(m: &ModelChain, to: &str, units: u128) -> String {
        let tx = m.payment(vec![(to.into(), Amount::from_base(units))]);
        assert_eq!(m.submit(&tx.txid), Broadcast::Accepted);
        tx.txid
    }

    #[test]
    fn mining_reorgs_and_conflicts_behave_like_a_node() {
        let m = model();
        let a = pay(&m, "addr-a", 100);
        m.mine(1);
        assert_eq!(m.confirmations(&a), Some(1));
        m.mine(2);
        assert_eq!(m.confirmations(&a), Some(3));
        // A reorganisation of depth 3 that leaves `a` out returns it to the mempool.
        m.reorg(3, 1, &[]);
        assert_eq!(m.confirmations(&a), None);
        assert!(m.in_mempool(&a));
        assert_eq!(m.height(), 4);
        // A double spend mined in its place removes it from the mempool for good.
        let ds = m
            .conflict(&a, vec![("elsewhere".into(), Amount::from_base(90))])
            .unwrap();
        m.mine_with(1, std::slice::from_ref(&ds.txid));
        assert!(!m.in_mempool(&a));
        assert_eq!(
            m.submit(&a),
            Broadcast::Refused("inputs already spent (missing-inputs)".into())
        );
        // A replacement takes the original's place in the mempool.
        let b = pay(&m, "addr-b", 50);
        let b2 = m
            .replace(&b, vec![("addr-b".into(), Amount::from_base(60))])
            .unwrap();
        assert!(!m.in_mempool(&b) && m.in_mempool(&b2));
        assert_eq!(
            m.submit(&b),
            Broadcast::Refused("txn-mempool-conflict".into())
        );
    }

    #[tokio::test]
    async fn a_node_behind_shows_a_prefix_and_no_mempool() {
        let m = model();
        let a = pay(&m, "addr-a", 100);
        m.mine(5);
        pay(&m, "addr-b", 1);
        m.set_view(NodeView::Behind(2));
        let tip = m.tip().await.unwrap();
        assert_eq!((tip.height, tip.syncing), (2, true));
        assert_eq!(m.hash_at(3).await.unwrap(), None);
        assert!(m.mempool().await.unwrap().is_empty());
        let b1 = m.block_at(1).await.unwrap().unwrap();
        assert_eq!(b1.transfers[0].txid, a);
        m.set_view(NodeView::Down);
        assert!(matches!(m.tip().await, Err(ChainError::Unreachable(_))));
    }
}
