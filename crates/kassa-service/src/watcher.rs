//! The chain watcher of a UTXO network (BTC, LTC): it follows the node block by block and
//! reports every transfer to a deposit address through [`invoices::record_transfer`], the one
//! payment path.
//!
//! One [`Watcher::step`] is one round, which tests drive directly (no sleeping):
//!
//! 1. **Reorganisation check.** The cursor (height and hash of the last block processed) is
//!    compared with the node's block at that height. When they differ, the watcher walks back
//!    through the stored hashes to the last block both chains share, gives back every transfer
//!    mined above it ([`invoices::transfer_gone`]: credit and ledger undone), and rewinds.
//! 2. **Blocks.** Every block after the cursor, in order, never skipping one however long the
//!    watcher was away: each output's address is looked up among the deposit addresses (one
//!    indexed query per chunk of outputs), matches are recorded once per (txid, output) with
//!    their confirmations, and only then does the cursor move. A crash between the two means
//!    the block is processed again, which records nothing twice.
//! 3. **Confirmations.** Transfers mined but short of the network's rule are counted again
//!    from the tip and confirmed when they reach it.
//! 4. **Mempool.** New transactions are read once; outputs to deposit addresses show as
//!    "seen" before their first confirmation. A seen transfer that is neither in the mempool
//!    nor in a block once the watcher is at the tip was replaced or evicted, and stops
//!    counting as processing.
//! 5. **Withdrawals.** The blocks processed note the hot wallet's withdrawals they contain;
//!    [`crate::withdrawals::follow`] then counts their confirmations, or fails one that is in
//!    no block and refused by the node (funds returned).
//!
//! On PostgreSQL exactly one process runs a network's watcher ([`chain::try_lock_watcher`]);
//! the others wait and take over when it dies.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kassa_chain::watch::{ChainError, ChainSource, Transfer};
use kassa_store::StoreError;
use kassa_store::chain;
use tokio_util::sync::CancellationToken;

use crate::Ctx;
use crate::chains::LiveChain;
use crate::invoices::InvoiceError;
use crate::payments::{self, TransferReport};

/// Reorganisations deeper than this many blocks are not followed (their hashes are pruned).
pub const KEEP_BLOCKS: i64 = 288;
/// Outputs looked up per query.
const LOOKUP_CHUNK: usize = 400;

/// Why a round failed (the next round tries again).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The node.
    #[error(transparent)]
    Node(#[from] ChainError),
    /// The database.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// Recording a transfer.
    #[error("recording a transfer: {0}")]
    Invoice(#[from] InvoiceError),
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Blocks processed.
    pub blocks: u64,
    /// Transfers to deposit addresses recorded (new, or a change of state).
    pub recorded: u64,
    /// Transfers given back (reorganisation, replacement).
    pub gone: u64,
    /// Blocks rolled back by a reorganisation.
    pub rolled_back: u64,
    /// The height the watcher stands at.
    pub height: i64,
    /// Withdrawals that reached the confirmation rule this round.
    pub withdrawals_confirmed: usize,
    /// Withdrawals failed (funds returned) this round.
    pub withdrawals_failed: usize,
}

/// A network's watcher.
pub struct Watcher {
    st: Ctx,
    chain: Arc<LiveChain>,
    /// Mempool transactions already read (so each is fetched once).
    mempool_read: HashSet<String>,
    /// The node's chain was checked.
    chain_checked: bool,
}

fn height_of(h: u64) -> i64 {
    i64::try_from(h).unwrap_or(i64::MAX)
}

fn block_number(h: i64) -> u64 {
    u64::try_from(h).unwrap_or(0)
}

impl Watcher {
    /// A watcher of `chain` (no I/O until the first round).
    pub fn new(st: Ctx, chain: Arc<LiveChain>) -> Self {
        Self {
            st,
            chain,
            mempool_read: HashSet::new(),
            chain_checked: false,
        }
    }

    /// The network it watches.
    pub fn network(&self) -> &'static kassa_core::currency::Network {
        self.chain.network
    }

    fn source(&self) -> &dyn ChainSource {
        self.chain.source.as_ref()
    }

    fn report<'a>(&self, o: &'a Transfer, confirmations: i64) -> TransferReport<'a> {
        TransferReport {
            network: self.chain.network,
            txid: &o.txid,
            index: i64::from(o.index),
            address: &o.address,
            amount: o.amount,
            currency: o.currency,
            confirmed: confirmations >= i64::from(self.chain.confirmations),
            confirmations,
            test: false,
        }
    }

    /// The transfers among `all` paid to our deposit addresses.
    async fn ours(&self, all: Vec<Transfer>) -> Result<Vec<Transfer>, WatchError> {
        let mut owned = HashSet::new();
        for chunk in all.chunks(LOOKUP_CHUNK) {
            let addresses: Vec<&str> = chunk.iter().map(|o| o.address.as_str()).collect();
            let mut c = self.st.db.conn().await?;
            owned.extend(chain::owned_among(&mut c, self.chain.network.code, &addresses).await?);
        }
        Ok(all
            .into_iter()
            .filter(|o| owned.contains(&o.address))
            .collect())
    }

    /// One round: reorganisation check, new blocks, confirmations, mempool.
    pub async fn step(&mut self) -> Result<Round, WatchError> {
        let net = self.chain.network.code;
        if !self.chain_checked {
            self.source().check().await?;
            self.chain_checked = true;
        }
        let mut round = Round::default();
        let tip = height_of(self.source().tip().await?.height);
        let cursor = chain::cursor(&mut self.st.db.conn().await?, net).await?;
        let mut cursor = match cursor {
            Some(c) => c,
            None => {
                // First start. With no live address handed out yet, nothing can have been paid
                // before the tip. Otherwise (addresses were given out while the node could not
                // be reached) start from the last block older than the first address.
                let first =
                    chain::first_live_address_at(&mut self.st.db.conn().await?, net).await?;
                let start = match first {
                    None => tip,
                    Some(at) => self.height_before(at, tip).await?,
                };
                let hash = self.hash_at(start).await?;
                let now = self.st.clock.now();
                chain::advance(&mut self.st.db.write().await?, net, start, &hash, now).await?;
                chain::Cursor {
                    height: start,
                    hash,
                }
            }
        };

        // 1. Reorganisation.
        let node_hash = if cursor.height <= tip {
            self.source().hash_at(block_number(cursor.height)).await?
        } else {
            None
        };
        if node_hash.as_deref() != Some(cursor.hash.as_str()) {
            let (fork, fork_hash) = self.fork_point(cursor.height.min(tip)).await?;
            round.rolled_back = block_number(cursor.height.saturating_sub(fork));
            tracing::warn!(
                network = net,
                from = cursor.height,
                to = fork,
                "chain reorganisation: rolling back"
            );
            let mut c = self.st.db.conn().await?;
            let open = chain::open_transfers(&mut c, net, fork.saturating_add(1)).await?;
            drop(c);
            for t in open
                .iter()
                .filter(|t| t.block_height.is_some_and(|h| h > fork))
            {
                if payments::transfer_gone(&self.st, self.chain.network, &t.txid, t.output_index)
                    .await?
                    .is_some()
                {
                    round.gone += 1;
                }
            }
            let now = self.st.clock.now();
            let mut w = self.st.db.write().await?;
            kassa_store::withdrawals::unmine_above(&mut w, net, fork, now).await?;
            chain::rewind(&mut w, net, fork, &fork_hash, now).await?;
            drop(w);
            cursor = chain::Cursor {
                height: fork,
                hash: fork_hash,
            };
        }

        // 2. New blocks, in order.
        while cursor.height < tip {
            let h = cursor.height.saturating_add(1);
            let Some(block) = self.source().block_at(block_number(h)).await? else {
                break;
            };
            if block.parent != cursor.hash {
                // The chain changed under us; the next round rolls back.
                break;
            }
            let hash = block.hash.clone();
            let confirmations = tip.saturating_sub(h).saturating_add(1);
            for o in self.ours(block.transfers).await? {
                let r = self.report(&o, confirmations);
                if matches!(
                    payments::record_transfer(&self.st, &r).await?,
                    payments::Recorded::Invoice(_)
                ) {
                    round.recorded += 1;
                }
                let now = self.st.clock.now();
                chain::set_mined(
                    &mut self.st.db.write().await?,
                    net,
                    &o.txid,
                    i64::from(o.index),
                    Some((h, &hash)),
                    confirmations,
                    now,
                )
                .await?;
            }
            let txids: Vec<&str> = block.txs.iter().map(|t| t.txid.as_str()).collect();
            let now = self.st.clock.now();
            let mut w = self.st.db.write().await?;
            kassa_store::withdrawals::note_mined(&mut w, net, &txids, h, &hash, now).await?;
            chain::advance(&mut w, net, h, &hash, now).await?;
            drop(w);
            cursor = chain::Cursor { height: h, hash };
            round.blocks += 1;
        }
        round.height = cursor.height;
        let synced = cursor.height == tip;

        // 3. Confirmations of mined transfers, and 4. the mempool.
        let mempool: Vec<String> = self.source().mempool().await?;
        let in_mempool: HashSet<&str> = mempool.iter().map(String::as_str).collect();
        let mut c = self.st.db.conn().await?;
        let open = chain::open_transfers(&mut c, net, tip.saturating_sub(KEEP_BLOCKS)).await?;
        drop(c);
        for t in open.iter().filter(|t| t.state == "seen") {
            match t.block_height {
                Some(h) => {
                    let confirmations = tip.saturating_sub(h).saturating_add(1);
                    let o = Transfer {
                        txid: t.txid.clone(),
                        index: u32::try_from(t.output_index).unwrap_or(0),
                        address: t.address.clone(),
                        currency: self.chain.currency,
                        amount: t.amount,
                    };
                    let r = self.report(&o, confirmations);
                    if r.confirmed {
                        payments::record_transfer(&self.st, &r).await?;
                        round.recorded += 1;
                    }
                    // Written only when the count moved (the payment page shows n/N).
                    if r.confirmed || confirmations != t.confirmations {
                        let now = self.st.clock.now();
                        let hash = t.block_hash.as_deref().unwrap_or_default();
                        chain::set_mined(
                            &mut self.st.db.write().await?,
                            net,
                            &t.txid,
                            t.output_index,
                            Some((h, hash)),
                            confirmations,
                            now,
                        )
                        .await?;
                    }
                }
                None if synced && !in_mempool.contains(t.txid.as_str()) => {
                    // Neither mined (every block up to the tip is processed) nor waiting:
                    // replaced (RBF) or evicted.
                    let gone = payments::transfer_gone(
                        &self.st,
                        self.chain.network,
                        &t.txid,
                        t.output_index,
                    )
                    .await?;
                    round.gone += u64::from(gone.is_some());
                }
                None => {}
            }
        }
        for txid in &mempool {
            if self.mempool_read.contains(txid) {
                continue;
            }
            // Left the mempool between the two calls: nothing to read.
            let Some(tx) = self.source().pending(txid).await? else {
                continue;
            };
            for o in self.ours(tx.transfers).await? {
                let r = self.report(&o, 0);
                if matches!(
                    payments::record_transfer(&self.st, &r).await?,
                    payments::Recorded::Invoice(_)
                ) {
                    round.recorded += 1;
                }
            }
            self.mempool_read.insert(txid.clone());
        }
        self.mempool_read
            .retain(|t| in_mempool.contains(t.as_str()));

        let mut w = self.st.db.write().await?;
        chain::prune_blocks(&mut w, net, tip, KEEP_BLOCKS).await?;
        drop(w);

        // 5. Withdrawals from the hot wallet: confirmations, or failure and refund. A network
        // without a wallet Kassa can use (tests driving the watcher alone) has none.
        if synced && self.chain.utxo.is_some() && self.st.chains.get(self.chain.network).is_some() {
            match crate::withdrawals::follow_at(&self.st, self.chain.network, tip, synced).await {
                Ok(f) => {
                    round.withdrawals_confirmed = f.confirmed;
                    round.withdrawals_failed = f.failed;
                }
                Err(e) => tracing::warn!(network = net, error = %e, "following withdrawals"),
            }
        }
        Ok(round)
    }

    /// The hash of the node's block at `height`, which must exist.
    async fn hash_at(&self, height: i64) -> Result<String, WatchError> {
        self.source()
            .hash_at(block_number(height))
            .await?
            .ok_or_else(|| {
                WatchError::Node(ChainError::Node(format!(
                    "no block at height {height} (the node's tip moved back)"
                )))
            })
    }

    /// The highest block at or below `tip` whose time is before `at` less two hours (block
    /// times may run that far ahead of the clock), found by bisection over block headers.
    async fn height_before(&self, at: kassa_core::Timestamp, tip: i64) -> Result<i64, WatchError> {
        let limit = at.as_micros() / 1_000_000 - 2 * 3600;
        let time_of = |h: i64| async move {
            Ok::<i64, WatchError>(
                self.source()
                    .time_at(block_number(h))
                    .await?
                    .unwrap_or(i64::MAX),
            )
        };
        let (mut lo, mut hi) = (0i64, tip);
        if time_of(0).await? >= limit {
            return Ok(0);
        }
        // Invariant: block `lo` is older than the limit; blocks above `hi` are not.
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            if time_of(mid).await? < limit {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(lo)
    }

    /// The last height at or below `from` where our stored hash equals the node's.
    async fn fork_point(&self, from: i64) -> Result<(i64, String), WatchError> {
        let net = self.chain.network.code;
        let mut h = from;
        loop {
            let node = self.hash_at(h).await?;
            let stored = chain::block_hash(&mut self.st.db.conn().await?, net, h).await?;
            match stored {
                Some(s) if s == node => return Ok((h, node)),
                // Deeper than the hashes kept: continue from the node's block there.
                None => return Ok((h, node)),
                Some(_) if h <= 0 => return Ok((0, node)),
                Some(_) => h -= 1,
            }
        }
    }

    /// Runs rounds until `stop`, holding the network's watcher lock (waiting for it while
    /// another process has it).
    pub async fn run(mut self, stop: CancellationToken) {
        let net = self.chain.network.code;
        let _lock = loop {
            match chain::try_lock_watcher(&self.st.db, net).await {
                Ok(Some(lock)) => break lock,
                Ok(None) => {}
                Err(e) => tracing::warn!(network = net, error = %e, "watcher lock"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        };
        tracing::info!(network = net, "watching the chain");
        let mut failures: HashMap<String, u32> = HashMap::new();
        loop {
            match self.step().await {
                Ok(r) if r.blocks > 0 || r.recorded > 0 || r.gone > 0 => {
                    tracing::info!(
                        network = net,
                        height = r.height,
                        blocks = r.blocks,
                        recorded = r.recorded,
                        gone = r.gone,
                        "chain round"
                    );
                    failures.clear();
                }
                Ok(_) => failures.clear(),
                Err(e) => {
                    let n = failures.entry(e.to_string()).or_insert(0);
                    *n += 1;
                    // The same failure is logged once, then every 60th time.
                    if *n == 1 || n.is_multiple_of(60) {
                        tracing::warn!(network = net, error = %e, times = *n, "chain round failed");
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.chain.poll_interval) => {}
            }
        }
    }
}
