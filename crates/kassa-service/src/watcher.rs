//! The chain watcher: one loop for every network family, on any [`ChainSource`]. It follows
//! the node's best chain block by block and **re-evaluates, never replays**: a transfer counts
//! only while a block of the node's best chain holds it with the network's confirmations,
//! counted from that block's height as the best chain has it now; waiting in the mempool it is
//! "seen"; in neither, it is dropped. Every change of a transfer's standing goes through
//! [`payments::observe`], which works the invoice and its ledger postings out again from all
//! its transfers, and every withdrawal's through [`crate::withdrawals::follow`].
//!
//! One [`Watcher::step`] is one round, which tests and simulations drive directly:
//!
//! 1. **Where we stand.** The cursor (height and hash of the last block processed) against the
//!    node's best chain. A node *behind* the cursor whose hashes agree with ours at the heights
//!    it has (re-indexing, restored from a backup, syncing afresh) is waited for: the round
//!    stops there and changes nothing. A hash that differs at a height the node has is a
//!    reorganisation: the watcher walks back through the stored hashes to the last block both
//!    share, forgets the blocks above it — the transfers and withdrawals they held lose their
//!    block, nothing else — and rewinds.
//! 2. **Blocks**, in order from the cursor to the tip, never skipping one: the transfers to
//!    deposit addresses are observed with their block and confirmations, the withdrawals they
//!    hold (or conflict with) noted, then the cursor moves. A crash in between means the block
//!    is processed again, which changes nothing.
//! 3. **Mempool**: new transactions are read once; their transfers to deposit addresses are
//!    observed as seen.
//! 4. **Standing**: every transfer whose standing can still change is worked out again: in a
//!    block of the best chain, its confirmations from that block; else waiting in the mempool,
//!    seen; else, once the watcher is at the tip, dropped.
//! 5. **Withdrawals**: the same rule, by [`crate::withdrawals::follow`].
//!
//! Each round also tells [`crate::metrics::Metrics`] how the node and the watcher stand
//! (`/readyz`, `/metrics`). On PostgreSQL exactly one process runs a network's watcher
//! ([`chain::try_lock_watcher`]); the others wait and take over when it dies.

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
use crate::payments::{self, Observation};
use kassa_store::invoices::TransferState;

/// Reorganisations deeper than this many blocks are not followed (their hashes are pruned).
pub const KEEP_BLOCKS: i64 = 288;
/// How often a hot wallet's deposits are swept ([`crate::sweeps`]).
const SWEEP_EVERY: Duration = Duration::from_secs(60);
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
    /// The node is behind the watcher (re-indexing, restored from a backup): nothing was done.
    pub waiting: bool,
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

    /// A transfer standing at `block` (with `confirmations`), or waiting (no block).
    fn observation<'a>(
        &self,
        t: &'a Transfer,
        block: Option<(i64, &'a str)>,
        confirmations: i64,
    ) -> Observation<'a> {
        let counted = block.is_some() && confirmations >= i64::from(self.chain.confirmations);
        Observation {
            network: self.chain.network,
            txid: &t.txid,
            index: i64::from(t.index),
            address: &t.address,
            amount: t.amount,
            currency: t.currency,
            test: false,
            state: if counted {
                TransferState::Confirmed
            } else {
                TransferState::Seen
            },
            confirmations: if block.is_some() { confirmations } else { 0 },
            block,
        }
    }

    /// Observes `o` (which stood `before`), counting what changed: a transfer that stops
    /// counting or drops out is given back, anything else recorded.
    async fn observe(
        &self,
        o: &Observation<'_>,
        before: Option<&str>,
        round: &mut Round,
    ) -> Result<(), WatchError> {
        if matches!(
            payments::observe(&self.st, o).await?,
            payments::Recorded::Invoice(_)
        ) {
            let taken_back = o.state == TransferState::Orphaned
                || (before == Some(TransferState::Confirmed.as_str())
                    && o.state != TransferState::Confirmed);
            if taken_back {
                round.gone += 1;
            } else {
                round.recorded += 1;
            }
        }
        Ok(())
    }

    /// Which of `addresses` are our deposit addresses on this network (looked up
    /// [`LOOKUP_CHUNK`] at a time).
    async fn owned<'a>(
        &self,
        addresses: impl Iterator<Item = &'a str>,
    ) -> Result<HashSet<String>, WatchError> {
        let addresses: Vec<&str> = addresses.collect();
        let mut owned = HashSet::new();
        for chunk in addresses.chunks(LOOKUP_CHUNK) {
            let mut c = self.st.db.conn().await?;
            owned.extend(chain::owned_among(&mut c, self.chain.network.code, chunk).await?);
        }
        Ok(owned)
    }

    /// The transfers among `all` paid to our deposit addresses — not those Kassa sent
    /// itself (the gas sent ahead of a token sweep).
    async fn ours(&self, all: Vec<Transfer>) -> Result<Vec<Transfer>, WatchError> {
        let owned = self.owned(all.iter().map(|t| t.address.as_str())).await?;
        let mut paid: Vec<Transfer> = all
            .into_iter()
            .filter(|o| owned.contains(&o.address))
            .collect();
        if crate::sweeps::sweeps(&self.chain) && !paid.is_empty() {
            let txids: Vec<&str> = paid.iter().map(|t| t.txid.as_str()).collect();
            let mut c = self.st.db.conn().await?;
            let sent: HashSet<String> =
                kassa_store::evm_txs::sent_among(&mut c, self.chain.network.code, &txids)
                    .await?
                    .into_iter()
                    .collect();
            paid.retain(|t| !sent.contains(&t.txid));
        }
        Ok(paid)
    }

    /// The ignored token transfers of `block` paid to our deposit addresses.
    async fn ignored_ours(
        &self,
        block: &kassa_chain::watch::Block,
    ) -> Result<Vec<kassa_chain::watch::Ignored>, WatchError> {
        if block.ignored.is_empty() {
            return Ok(Vec::new());
        }
        let owned = self
            .owned(block.ignored.iter().map(|i| i.address.as_str()))
            .await?;
        Ok(block
            .ignored
            .iter()
            .filter(|i| owned.contains(&i.address))
            .cloned()
            .collect())
    }

    /// The native value `block` brought to invoices still waiting for it without a transfer
    /// it lists (EVM: sent by contract calls). A node that cannot say (the state of an old
    /// block pruned) is logged and passed over; one that cannot be reached fails the round,
    /// so the block is read again.
    async fn unlisted(
        &self,
        block: &kassa_chain::watch::Block,
    ) -> Result<Vec<Transfer>, WatchError> {
        if !self.source().has_unlisted() {
            return Ok(Vec::new());
        }
        let mut c = self.st.db.conn().await?;
        let awaiting =
            kassa_store::ignored::awaiting_addresses(&mut c, self.chain.currency.code).await?;
        drop(c);
        if awaiting.is_empty() {
            return Ok(Vec::new());
        }
        match self.source().unlisted(block, &awaiting).await {
            Ok(found) => Ok(found),
            Err(e @ ChainError::Unreachable(_)) => Err(e.into()),
            Err(e) => {
                tracing::warn!(
                    network = self.chain.network.code,
                    height = block.height,
                    error = %e,
                    "value sent by contract calls in this block could not be worked out"
                );
                Ok(Vec::new())
            }
        }
    }

    /// One round (see the module docs), and what it tells the health registry.
    pub async fn step(&mut self) -> Result<Round, WatchError> {
        let r = self.round().await;
        let (net, now) = (self.chain.network.code, self.st.clock.now());
        match &r {
            Ok((round, tip)) => self.st.metrics.chain_round_ok(
                net,
                tip.height,
                tip.syncing,
                round.height,
                round.waiting,
                now,
            ),
            Err(e) => self.st.metrics.chain_round_failed(
                net,
                &e.to_string(),
                matches!(e, WatchError::Node(ChainError::Unreachable(_))),
                now,
            ),
        }
        r.map(|(round, _)| round)
    }

    async fn round(&mut self) -> Result<(Round, kassa_chain::watch::Tip), WatchError> {
        let net = self.chain.network.code;
        if !self.chain_checked {
            self.source().check().await?;
            self.chain_checked = true;
        }
        let mut round = Round::default();
        let node_tip = self.source().tip().await?;
        let tip = height_of(node_tip.height);
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

        // 1. Where we stand against the node's best chain.
        let diverged_at = if cursor.height > tip {
            // The node is behind us. Our hash at its tip decides: the same (or one we no longer
            // keep), it is catching up — wait; another, its chain is not ours — roll back.
            let ours = chain::block_hash(&mut self.st.db.conn().await?, net, tip).await?;
            match ours {
                Some(h) if h != node_tip.hash => Some(tip),
                _ => {
                    round.waiting = true;
                    round.height = cursor.height;
                    return Ok((round, node_tip));
                }
            }
        } else {
            let node_hash = self.source().hash_at(block_number(cursor.height)).await?;
            (node_hash.as_deref() != Some(cursor.hash.as_str())).then_some(cursor.height)
        };
        if let Some(from) = diverged_at {
            let (fork, fork_hash) = self.fork_point(from).await?;
            round.rolled_back = block_number(cursor.height.saturating_sub(fork));
            tracing::warn!(
                network = net,
                from = cursor.height,
                to = fork,
                "chain reorganisation: rolling back"
            );
            let now = self.st.clock.now();
            let mut w = self.st.db.write().await?;
            chain::unmine_above(&mut w, net, fork, now).await?;
            kassa_store::ignored::forget_above(&mut w, net, fork).await?;
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
            let mut paid = self.ours(block.transfers.clone()).await?;
            paid.extend(self.unlisted(&block).await?);
            for t in paid {
                let o = self.observation(&t, Some((h, &hash)), confirmations);
                self.observe(&o, None, &mut round).await?;
            }
            let ignored = self.ignored_ours(&block).await?;
            let now = self.st.clock.now();
            let mut w = self.st.db.write().await?;
            for i in &ignored {
                let new = kassa_store::ignored::NewIgnored {
                    network: net,
                    txid: &i.txid,
                    log_index: i64::from(i.index),
                    address: &i.address,
                    contract: &i.contract,
                    amount: i.amount,
                    block_height: h,
                    block_hash: &hash,
                };
                if kassa_store::ignored::record(&mut w, &new, now).await? {
                    tracing::warn!(
                        network = net,
                        txid = %i.txid,
                        contract = %i.contract,
                        "a token transfer from a contract not on the allowlist: not credited"
                    );
                }
            }
            let txids: Vec<&str> = block.txs.iter().map(|t| t.txid.as_str()).collect();
            kassa_store::withdrawals::note_mined(&mut w, net, &txids, h, &hash, now).await?;
            self.note_conflicts(&mut w, &block, h, now).await?;
            chain::advance(&mut w, net, h, &hash, now).await?;
            drop(w);
            cursor = chain::Cursor { height: h, hash };
            round.blocks += 1;
        }
        round.height = cursor.height;
        let synced = cursor.height == tip;

        // 3. The mempool: new transactions, read once.
        let mempool: Vec<String> = self.source().mempool().await?;
        let in_mempool: HashSet<String> = mempool.iter().cloned().collect();
        for txid in &mempool {
            if self.mempool_read.contains(txid) {
                continue;
            }
            // Left the mempool between the two calls: nothing to read.
            let Some(tx) = self.source().pending(txid).await? else {
                continue;
            };
            for t in self.ours(tx.transfers).await? {
                let known = kassa_store::invoices::transfer(
                    &mut self.st.db.conn().await?,
                    net,
                    &t.txid,
                    i64::from(t.index),
                )
                .await?;
                // A block the best chain still holds it in says more than the mempool.
                if known.as_ref().is_some_and(|k| k.block_height.is_some()) {
                    continue;
                }
                let o = self.observation(&t, None, 0);
                let before = known.as_ref().map(|k| k.state.as_str());
                self.observe(&o, before, &mut round).await?;
            }
            self.mempool_read.insert(txid.clone());
        }
        self.mempool_read.retain(|t| in_mempool.contains(t));

        // 4. The standing of every transfer that can still change, from the best chain now.
        let mut c = self.st.db.conn().await?;
        let open = chain::open_transfers(&mut c, net, tip.saturating_sub(KEEP_BLOCKS)).await?;
        drop(c);
        for t in &open {
            let transfer = Transfer {
                txid: t.txid.clone(),
                index: u32::try_from(t.output_index).unwrap_or(0),
                address: t.address.clone(),
                currency: t
                    .currency
                    .as_deref()
                    .and_then(kassa_core::currency::crypto)
                    .unwrap_or(self.chain.currency),
                amount: t.amount,
            };
            let o = match (t.block_height, t.block_hash.as_deref()) {
                (Some(h), Some(hash)) => {
                    let confirmations = tip.saturating_sub(h).saturating_add(1);
                    self.observation(&transfer, Some((h, hash)), confirmations)
                }
                _ if in_mempool.contains(&t.txid) => self.observation(&transfer, None, 0),
                // Neither in a block of the best chain (every block up to the tip is
                // processed) nor waiting: replaced, evicted, or its block left the chain.
                _ if synced => Observation {
                    state: TransferState::Orphaned,
                    ..self.observation(&transfer, None, 0)
                },
                _ => continue,
            };
            let unchanged = t.state == o.state.as_str()
                && t.confirmations == o.confirmations
                && t.block_height == o.block.map(|b| b.0);
            if !unchanged {
                self.observe(&o, Some(&t.state), &mut round).await?;
            }
        }

        let mut w = self.st.db.write().await?;
        chain::prune_blocks(&mut w, net, tip, KEEP_BLOCKS).await?;
        drop(w);

        // 5. Withdrawals, by the same rule. A network without a wallet Kassa can sign with
        // (a simulation, or tests driving the watcher alone) may still have none.
        if synced {
            let f =
                crate::withdrawals::follow(&self.st, &self.chain, tip, &in_mempool, synced).await;
            match f {
                Ok(f) => {
                    round.withdrawals_confirmed = f.confirmed;
                    round.withdrawals_failed = f.failed;
                }
                Err(e) => tracing::warn!(network = net, error = %e, "following withdrawals"),
            }
            // Balances may have crossed an automatic withdrawal's threshold.
            if let Err(e) = crate::withdrawals::rules::check_thresholds(&self.st, &self.chain).await
            {
                tracing::warn!(network = net, error = %e, "automatic withdrawals");
            }
        }
        Ok((round, node_tip))
    }

    /// Notes, for every withdrawal in flight, a transaction of `block` that consumes what it
    /// consumes under another id (a double spend of its inputs).
    async fn note_conflicts(
        &self,
        w: &mut kassa_store::WriteConn,
        block: &kassa_chain::watch::Block,
        height: i64,
        now: kassa_core::Timestamp,
    ) -> Result<(), WatchError> {
        let net = self.chain.network.code;
        // Every withdrawal whose standing can still change — a confirmed one whose block just
        // left the chain included.
        let open = kassa_store::withdrawals::open(&mut *w, net, height.saturating_sub(KEEP_BLOCKS))
            .await?;
        for wd in open.iter().filter(|wd| {
            wd.state != kassa_store::withdrawals::WithdrawalState::Failed && !wd.consumes.is_empty()
        }) {
            let by = block
                .txs
                .iter()
                .find(|t| t.txid != wd.txid && t.consumes.iter().any(|c| wd.consumes.contains(c)));
            if let Some(by) = by {
                kassa_store::withdrawals::note_conflict(
                    &mut *w,
                    wd.id,
                    &by.txid,
                    height,
                    &block.hash,
                    now,
                )
                .await?;
            }
        }
        Ok(())
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
        let mut alerts = crate::notify::operator::Alerts::default();
        let mut last_sweep = None;
        let mut gas_told = false;
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
            if let Err(e) = alerts.after_round(&self.st, net).await {
                tracing::warn!(network = net, error = %e, "operator alert");
            }
            // Deposits into the hot wallet (EVM), once a minute.
            if crate::sweeps::sweeps(&self.chain)
                && last_sweep.is_none_or(|t: std::time::Instant| t.elapsed() >= SWEEP_EVERY)
            {
                last_sweep = Some(std::time::Instant::now());
                match crate::sweeps::round(&self.st, &self.chain).await {
                    Ok(r) => {
                        if r.sent > 0 || r.confirmed > 0 {
                            tracing::info!(
                                network = net,
                                sent = r.sent,
                                confirmed = r.confirmed,
                                replaced = r.replaced,
                                "sweeps"
                            );
                        }
                        let told =
                            crate::sweeps::tell_operator(&self.st, &self.chain, &r, &mut gas_told);
                        if let Err(e) = told.await {
                            tracing::warn!(network = net, error = %e, "operator alert");
                        }
                    }
                    Err(e) => tracing::warn!(network = net, error = %e, "sweeps"),
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.chain.poll_interval) => {}
            }
        }
    }
}
