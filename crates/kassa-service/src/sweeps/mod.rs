//! Sweeps (EVM networks with a hot wallet; TRON's in [`tron`]): what invoices paid to deposit
//! addresses is gathered into the wallet's treasury (`m/44'/60'/0'/1/0`), where withdrawals
//! leave from.
//!
//! - **The coin** goes in one transfer whose price per gas is both its cap and its tip, so the
//!   fee is exactly `21000 × price` and nothing is left behind.
//! - **A token** needs the coin for gas at the deposit address: the treasury first sends
//!   exactly what the transfer's estimated gas costs at that price (less what is there), then
//!   the deposit address sends the token at the price that spends all of it. What the network
//!   refunds for clearing the token balance (EIP-3529, 4,800 gas) stays there and pays part of
//!   the next sweep from that address.
//! - Nothing is swept at a loss: the fee must be at most `sweep_max_fee_percent` of what moves
//!   (tokens compared in US dollars), and the price per gas at most `max_fee_gwei`; otherwise
//!   the deposit waits (later payments add up).
//! - Every transaction is written to `evm_tx` before the node gets it, so a sender's nonce is
//!   taken for good and a crash only means handing it over again. Each round follows them by
//!   receipt: mined, then confirmed at the network's confirmations; one not mined after
//!   [`STUCK_BLOCKS`] blocks is replaced (same nonce, a quarter more per gas, or today's price
//!   if higher); when another transaction of the nonce is mined, the rest are dropped.
//! - **Booking**: moving funds between Kassa's own addresses changes no balance. The gas of a
//!   coin sweep comes out of custody, so its confirmation posts it from custody to the
//!   operator's `chain_costs`. The gas of token sweeps is paid by the operator's own coins in
//!   the treasury (its float: what the treasury holds beyond all custody of the coin), never by
//!   merchants' money; each transaction's cost is recorded with it. Top-ups not mined yet
//!   count as spent, so several in one round never reach into custody. When the float cannot
//!   pay a top-up, the sweep waits and the operator is e-mailed once ([`tell_operator`]).
//!
//! - Withdrawals leave the treasury too (`crate::withdrawals::evm`): they are recorded here with
//!   purpose `withdrawal`, so nonces and what the treasury has promised count them; rounds
//!   follow them by receipt like the rest but never replace them.
//!
//! Not yet: a reorganisation deeper than the confirmations after a sweep confirmed is not
//! followed (the watcher still follows every payment).

use std::collections::{BTreeMap, HashSet};

use kassa_chain::address::evm as address;
use kassa_chain::hd::evm::EvmHotWallet;
use kassa_chain::rpc::RpcError;
use kassa_chain::spend::evm::{Eip1559, erc20_transfer};
use kassa_chain::spend::evm_node::EvmNode;
use kassa_chain::watch::Broadcast;
use kassa_core::currency::{self, Crypto};
use kassa_core::{Amount, Decimal};
use kassa_store::StoreError;
use kassa_store::evm_txs::{self, EvmTxRow, NewEvmTx, Purpose};
use kassa_store::ledger::{self, Account, Kind, LedgerError};
use kassa_store::wallets::WalletKind;

use crate::Ctx;
use crate::chains::{EvmParts, LiveChain, WalletError};

/// Blocks a sent transaction may wait unmined before it is replaced with a higher fee.
pub const STUCK_BLOCKS: u64 = 3;
/// Gas of a plain transfer of the coin.
const TRANSFER_GAS: u64 = 21_000;
/// Deposit addresses looked at per round.
const CANDIDATES_PER_ROUND: i64 = 50;

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepRound {
    /// Transactions handed to the node (sweeps and gas, replacements included).
    pub sent: usize,
    /// Transactions that reached the confirmations.
    pub confirmed: usize,
    /// Stuck transactions replaced.
    pub replaced: usize,
    /// Transactions whose nonce another one took.
    pub dropped: usize,
    /// Deposits left for later: too small for the fee, or the fee above the cap.
    pub waiting: usize,
    /// A token sweep waits because the treasury's own coins cannot pay its gas.
    pub short_of_gas: bool,
    /// What the operator should send where, when short of gas.
    pub gas_needed: Option<String>,
}

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The node.
    #[error("node: {0}")]
    Node(#[from] RpcError),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The hot wallet.
    #[error(transparent)]
    Wallet(#[from] WalletError),
    /// Signing.
    #[error("signing: {0}")]
    Sign(String),
}

/// Tells the operator once when `round` found the treasury short of gas for token sweeps
/// (`told` remembers it across rounds; a round that is not short clears it).
pub async fn tell_operator(
    st: &Ctx,
    chain: &LiveChain,
    round: &SweepRound,
    told: &mut bool,
) -> Result<(), StoreError> {
    match &round.gas_needed {
        Some(why) if !*told => {
            let mut w = st.db.write().await?;
            crate::notify::operator::hot_wallet_short(&mut w, st, chain.network.code, why).await?;
            drop(w);
            st.jobs.wake();
            *told = true;
        }
        Some(_) => {}
        None => *told = false,
    }
    Ok(())
}

mod tron;

pub use tron::fee_limit as tron_fee_limit;
pub(crate) use tron::{BURNS, TOKEN_BYTES, TRANSFER_BYTES, promised as tron_promised};

/// Whether `chain` sweeps: an EVM network or TRON with a hot wallet.
pub fn sweeps(chain: &LiveChain) -> bool {
    (chain.evm.is_some() || chain.tron.is_some()) && chain.kind == WalletKind::Hot
}

/// What `sender`'s transactions not mined yet may still take from it in `currency`: what they
/// move of it, and when it is the network's `coin`, their gas at most too.
pub(crate) async fn promised(
    conn: &mut impl kassa_store::AsConn,
    network: &str,
    sender: &str,
    currency: &Crypto,
    coin: &Crypto,
) -> Result<u128, StoreError> {
    let open = evm_txs::open(conn, network).await?;
    Ok(open
        .iter()
        .filter(|t| t.sender == sender && t.state == "sent")
        .map(|t| {
            let moved = if t.currency == currency.code {
                t.amount.base()
            } else {
                0
            };
            let gas = if currency.code == coin.code {
                u128::from(t.gas_limit).saturating_mul(t.max_fee)
            } else {
                0
            };
            moved.saturating_add(gas)
        })
        .fold(0u128, u128::saturating_add))
}

/// Whether sweeping `moved` (a currency and base units) for `cost` (in the network's coin) is
/// worth it: the cost at most `percent` of what moves, in US dollars. Without both rates it
/// waits.
pub(crate) fn worth(st: &Ctx, cost: (&Crypto, u128), moved: (&Crypto, u128), percent: u32) -> bool {
    let now = st.clock.now();
    let usd = |(c, units): (&Crypto, u128)| -> Option<Decimal> {
        let rate = st.pricing.usd(c.symbol, false, now).ok()?.usd;
        crate::objects::usd_value(Amount::from_base(units), c, rate)
    };
    let (Some(fee), Some(value)) = (usd(cost), usd(moved)) else {
        return false;
    };
    fee * Decimal::from(100) <= value * Decimal::from(percent)
}

/// Books what sweep transaction `row` burnt of `coin` when merchants' money paid it: from
/// custody to the operator's chain costs, in `tx`.
pub(crate) async fn book_chain_cost(
    tx: &mut kassa_store::Tx,
    row: &EvmTxRow,
    coin: &Crypto,
    fee: u128,
    now: kassa_core::Timestamp,
) -> Result<(), LedgerError> {
    let account = |kind| Account {
        kind,
        merchant: None,
        currency: coin.code,
    };
    ledger::Journal {
        name: &format!("evm tx {}", row.id),
        invoice: None,
        at: now,
    }
    .post(
        tx,
        &account(Kind::ChainCosts),
        &account(Kind::Custody),
        Amount::from_base(fee),
    )
    .await
}

/// Takes `sender`'s next nonce on `network` in `tx`: after every one the node has (`on_node`,
/// its pending count read just before) and every one recorded here and not dropped. The
/// network's wallet row is locked first, so sweeps and withdrawals sending from the treasury
/// at once never take the same nonce; the caller records its transaction in `tx`.
pub(crate) async fn take_nonce(
    tx: &mut kassa_store::Tx,
    network: &str,
    sender: &str,
    on_node: u64,
    now: kassa_core::Timestamp,
) -> Result<u64, StoreError> {
    kassa_store::wallets::lock(tx, network, now).await?;
    let ours = evm_txs::max_nonce(tx, network, sender).await?;
    Ok(ours.map_or(on_node, |n| on_node.max(n.saturating_add(1))))
}

/// Who signs a transaction: an address and its key (branch 0: deposits, 1: the treasury).
struct Sender {
    address: String,
    key: (u32, u32),
}

impl Sender {
    /// Runs `sign` with this sender's secret key from `hot`; the key is erased right after.
    fn signs<T, E: std::fmt::Display>(
        &self,
        hot: &EvmHotWallet,
        sign: impl FnOnce(&[u8; 32]) -> Result<T, E>,
    ) -> Result<T, SweepError> {
        let secret = match self.key {
            (1, _) => hot.treasury_secret(),
            (_, index) => hot.secret_key(index),
        }
        .map_err(WalletError::from)?;
        sign(&secret).map_err(|e| SweepError::Sign(e.to_string()))
    }
}

/// A round's context.
struct Round<'a> {
    st: &'a Ctx,
    chain: &'a LiveChain,
    evm: &'a EvmParts,
    node: EvmNode,
    hot: EvmHotWallet,
    treasury: String,
    tip: u64,
    /// Coin the treasury has promised but the latest block does not show spent yet: gas
    /// top-ups sent and not mined (value and fee at most). Not part of the float.
    promised: u128,
    done: SweepRound,
}

/// One round: follow what was sent, then sweep what waits (see the module docs).
pub async fn round(st: &Ctx, chain: &LiveChain) -> Result<SweepRound, SweepError> {
    if chain.tron.is_some() && sweeps(chain) {
        return tron::round(st, chain).await;
    }
    let Some(evm) = chain.evm.as_ref().filter(|_| sweeps(chain)) else {
        return Ok(SweepRound::default());
    };
    let (hot, treasury) =
        crate::chains::evm::hot_treasury(&st.db, &st.keyring, chain.network).await?;
    let node = EvmNode::new(evm.rpc.clone());
    let tip = node.height().await?;
    let mut r = Round {
        st,
        chain,
        evm,
        node,
        hot,
        treasury,
        tip,
        promised: 0,
        done: SweepRound::default(),
    };
    r.promised = r.promised_by_treasury().await?;
    r.follow().await?;
    // What follow sent or saw mined.
    r.promised = r.promised_by_treasury().await?;
    r.plan().await?;
    Ok(r.done)
}

impl Round<'_> {
    fn net(&self) -> &'static str {
        self.chain.network.code
    }

    fn coin(&self) -> &'static Crypto {
        self.chain.currency
    }

    fn treasury_sender(&self) -> Sender {
        Sender {
            address: self.treasury.clone(),
            key: (1, 0),
        }
    }

    /// What the treasury's transactions waiting to be mined (top-ups, withdrawals) may still
    /// take of the coin.
    async fn promised_by_treasury(&self) -> Result<u128, SweepError> {
        let mut c = self.st.db.conn().await?;
        Ok(promised(&mut c, self.net(), &self.treasury, self.coin(), self.coin()).await?)
    }

    /// Signs, records, then hands over a transaction: with `nonce`, or (`None`) the sender's
    /// next, taken in the transaction that records it.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &mut self,
        purpose: Purpose,
        sender: &Sender,
        nonce: Option<u64>,
        call: (&str, u128, Vec<u8>),
        gas_limit: u64,
        fee: u128,
        moves: (&Crypto, Amount, &str),
    ) -> Result<(), SweepError> {
        let (to, value, data) = call;
        let (currency, amount, recipient) = moves;
        let to_bytes = address::decode(&to.to_ascii_lowercase())
            .map_err(|e| SweepError::Sign(e.to_string()))?;
        let on_node = match nonce {
            Some(_) => 0,
            None => self.node.nonce(&sender.address, true).await?,
        };
        let now = self.st.clock.now();
        // Recorded first: the nonce is taken for good, and a crash before the node has it
        // only means it is handed over in the next round.
        let mut db = self.st.db.begin().await?;
        let nonce = match nonce {
            Some(n) => n,
            None => take_nonce(&mut db, self.net(), &sender.address, on_node, now).await?,
        };
        let tx = Eip1559 {
            chain_id: self.evm.chain_id,
            nonce,
            max_priority_fee_per_gas: fee,
            max_fee_per_gas: fee,
            gas_limit,
            to: to_bytes,
            value,
            data,
        };
        let signed = sender.signs(&self.hot, |secret| tx.sign(secret))?;
        let raw = signed.raw_hex();
        evm_txs::insert(
            &mut db,
            &NewEvmTx {
                network: self.net(),
                purpose,
                sender: &sender.address,
                sender_key: sender.key,
                nonce,
                recipient,
                currency: currency.code,
                amount,
                txid: &signed.hash,
                raw: &raw,
                gas_limit,
                max_fee: fee,
                sent_height: self.tip,
            },
            now,
        )
        .await?;
        db.commit().await?;
        self.hand_over(&signed.hash, &raw).await;
        self.done.sent += 1;
        Ok(())
    }

    /// Gives the node a recorded transaction (again). A refusal is logged: the round that
    /// follows it finds out what became of its nonce.
    async fn hand_over(&self, txid: &str, raw: &str) {
        match self.chain.source.broadcast(raw).await {
            Broadcast::Accepted => {}
            Broadcast::Refused(reason) | Broadcast::Unknown(reason) => tracing::warn!(
                network = self.net(),
                txid,
                reason = %reason,
                "the node did not take a sweep transaction (yet)"
            ),
        }
    }

    /// Follows every transaction not settled yet, one nonce at a time.
    async fn follow(&mut self) -> Result<(), SweepError> {
        let mut c = self.st.db.conn().await?;
        let open = evm_txs::open(&mut c, self.net()).await?;
        drop(c);
        let mut groups: BTreeMap<(String, u64), Vec<EvmTxRow>> = BTreeMap::new();
        for row in open {
            groups
                .entry((row.sender.clone(), row.nonce))
                .or_default()
                .push(row);
        }
        for ((sender, nonce), rows) in groups {
            let mut mined = None;
            for row in &rows {
                if let Some(receipt) = self.node.receipt(&row.txid).await? {
                    mined = Some((row.clone(), receipt));
                    break;
                }
            }
            let now = self.st.clock.now();
            if let Some((row, receipt)) = mined {
                let confirmations = self.tip.saturating_sub(receipt.block_height) + 1;
                let block = Some((receipt.block_height, receipt.block_hash.as_str()));
                let fee = Some(Amount::from_base(receipt.fee));
                let mut tx = self.st.db.begin().await?;
                for other in rows.iter().filter(|o| o.id != row.id) {
                    evm_txs::set_state(&mut tx, other.id, "dropped", None, None, now).await?;
                    self.done.dropped += 1;
                }
                if confirmations >= u64::from(self.chain.confirmations) {
                    let state = if receipt.success {
                        "confirmed"
                    } else {
                        "failed"
                    };
                    evm_txs::set_state(&mut tx, row.id, state, block, fee, now).await?;
                    self.book(&mut tx, &row, receipt.fee, now).await?;
                    self.done.confirmed += 1;
                    if !receipt.success {
                        tracing::warn!(network = self.net(), txid = %row.txid, "a sweep transaction failed on chain; its deposit is swept again");
                    }
                } else {
                    evm_txs::set_state(&mut tx, row.id, "mined", block, fee, now).await?;
                }
                tx.commit().await?;
                continue;
            }
            // None is in a block of the best chain (any that was has left it).
            let mut w = self.st.db.write().await?;
            for row in rows.iter().filter(|r| r.state == "mined") {
                evm_txs::set_state(&mut w, row.id, "sent", None, None, now).await?;
            }
            drop(w);
            if self.node.nonce(&sender, false).await? > nonce {
                // Another transaction took the nonce (mined, and not one of these).
                let mut w = self.st.db.write().await?;
                for row in &rows {
                    evm_txs::set_state(&mut w, row.id, "dropped", None, None, now).await?;
                    self.done.dropped += 1;
                }
                continue;
            }
            let Some(newest) = rows.last() else {
                continue;
            };
            // A withdrawal is followed for the merchant by its own row, under its own id: it
            // is handed over again, never replaced.
            if self.tip.saturating_sub(newest.sent_height) >= STUCK_BLOCKS
                && newest.purpose != Purpose::Withdrawal.as_str()
            {
                self.replace(newest).await?;
            } else {
                self.hand_over(&newest.txid, &newest.raw).await;
            }
        }
        Ok(())
    }

    /// Books what a confirmed transaction cost, when merchants' money paid it: the gas of a
    /// sweep of the coin, from custody to the operator's chain costs.
    async fn book(
        &self,
        tx: &mut kassa_store::Tx,
        row: &EvmTxRow,
        fee: u128,
        now: kassa_core::Timestamp,
    ) -> Result<(), SweepError> {
        if row.purpose != Purpose::Sweep.as_str() || row.currency != self.coin().code {
            return Ok(());
        }
        book_chain_cost(tx, row, self.coin(), fee, now).await?;
        Ok(())
    }

    /// Replaces a stuck transaction: the same nonce at a higher price per gas.
    async fn replace(&mut self, stuck: &EvmTxRow) -> Result<(), SweepError> {
        let fees = self.node.fees().await?;
        let fee = (stuck.max_fee.saturating_mul(5) / 4)
            .saturating_add(1)
            .max(fees.all_in());
        if fee > self.evm.max_fee {
            tracing::warn!(network = self.net(), txid = %stuck.txid, "a sweep transaction is stuck and fees are above max_fee_gwei: it waits");
            self.done.waiting += 1;
            return Ok(());
        }
        let sender = Sender {
            address: stuck.sender.clone(),
            key: stuck.sender_key,
        };
        let currency = currency::crypto(&stuck.currency).unwrap_or(self.coin());
        let coin = self.coin();
        if stuck.purpose == Purpose::Gas.as_str() {
            let value = stuck.amount.base();
            self.send(
                Purpose::Gas,
                &sender,
                Some(stuck.nonce),
                (&stuck.recipient, value, Vec::new()),
                TRANSFER_GAS,
                fee,
                (coin, stuck.amount, &stuck.recipient),
            )
            .await?;
        } else if currency.native {
            let balance = self.node.balance(&stuck.sender).await?;
            let cost = u128::from(TRANSFER_GAS).saturating_mul(fee);
            let Some(value) = balance.checked_sub(cost).filter(|v| *v > 0) else {
                self.done.waiting += 1;
                return Ok(());
            };
            let treasury = self.treasury.clone();
            self.send(
                Purpose::Sweep,
                &sender,
                Some(stuck.nonce),
                (&treasury, value, Vec::new()),
                TRANSFER_GAS,
                fee,
                (coin, Amount::from_base(value), &treasury),
            )
            .await?;
        } else {
            let need = u128::from(stuck.gas_limit).saturating_mul(fee);
            let have = self.node.balance(&stuck.sender).await?;
            if have < need {
                // More gas first; the replacement follows once it is there.
                return self.top_up(&stuck.sender, need - have, fee).await;
            } else {
                self.token_sweep(
                    &sender,
                    Some(stuck.nonce),
                    currency,
                    stuck.amount,
                    stuck.gas_limit,
                    fee,
                )
                .await?;
            }
        }
        self.done.replaced += 1;
        Ok(())
    }

    /// Sweeps what waits at deposit addresses (see the module docs).
    async fn plan(&mut self) -> Result<(), SweepError> {
        let mut c = self.st.db.conn().await?;
        let open = evm_txs::open(&mut c, self.net()).await?;
        let candidates = evm_txs::candidates(&mut c, self.net(), CANDIDATES_PER_ROUND).await?;
        drop(c);
        if candidates.is_empty() {
            return Ok(());
        }
        // One transaction at a time per deposit address (sending, or receiving its gas).
        let mut busy: HashSet<String> = open
            .iter()
            .flat_map(|r| [r.sender.clone(), r.recipient.clone()])
            .collect();
        let fee = self.node.fees().await?.all_in();
        if fee > self.evm.max_fee {
            self.done.waiting += candidates.len();
            return Ok(());
        }
        let percent = u128::from(self.evm.sweep_max_fee_percent);
        for cand in candidates {
            if busy.contains(&cand.address) {
                continue;
            }
            let Some(crypto) = currency::crypto(&cand.currency) else {
                continue;
            };
            let sender = Sender {
                address: cand.address.clone(),
                key: (0, cand.index),
            };
            if crypto.native {
                let balance = self.node.balance(&cand.address).await?;
                let cost = u128::from(TRANSFER_GAS).saturating_mul(fee);
                if balance <= cost || cost.saturating_mul(100) > balance.saturating_mul(percent) {
                    self.done.waiting += usize::from(balance > 0);
                    continue;
                }
                let treasury = self.treasury.clone();
                let value = balance - cost;
                self.send(
                    Purpose::Sweep,
                    &sender,
                    None,
                    (&treasury, value, Vec::new()),
                    TRANSFER_GAS,
                    fee,
                    (crypto, Amount::from_base(value), &treasury),
                )
                .await?;
            } else {
                let Some(contract) = self.chain.token_contract(crypto) else {
                    continue;
                };
                let balance = self.node.token_balance(&contract, &cand.address).await?;
                if balance == 0 {
                    continue;
                }
                let treasury = address::decode(&self.treasury.to_ascii_lowercase())
                    .map_err(|e| SweepError::Sign(e.to_string()))?;
                let data = erc20_transfer(&treasury, balance);
                let gas = self
                    .node
                    .estimate_gas(&cand.address, &contract, &data)
                    .await?;
                let cost = u128::from(gas).saturating_mul(fee);
                if !self.worth(crypto, balance, cost) {
                    self.done.waiting += 1;
                    continue;
                }
                let have = self.node.balance(&cand.address).await?;
                if have < cost {
                    self.top_up(&cand.address, cost - have, fee).await?;
                } else {
                    // Every wei there pays for gas (the price the top-up was sent for, even if
                    // fees fell since): nothing is left behind.
                    let price = (have / u128::from(gas.max(1))).min(self.evm.max_fee);
                    self.token_sweep(
                        &sender,
                        None,
                        crypto,
                        Amount::from_base(balance),
                        gas,
                        price,
                    )
                    .await?;
                }
            }
            busy.insert(cand.address);
        }
        Ok(())
    }

    /// Whether moving `amount` base units of token `crypto` for `cost` wei of the coin is
    /// worth it (see [`worth`]).
    fn worth(&self, crypto: &Crypto, amount: u128, cost: u128) -> bool {
        worth(
            self.st,
            (self.coin(), cost),
            (crypto, amount),
            self.evm.sweep_max_fee_percent,
        )
    }

    /// Signs and sends a token sweep from `sender`.
    async fn token_sweep(
        &mut self,
        sender: &Sender,
        nonce: Option<u64>,
        crypto: &Crypto,
        amount: Amount,
        gas: u64,
        fee: u128,
    ) -> Result<(), SweepError> {
        let Some(contract) = self.chain.token_contract(crypto) else {
            return Ok(());
        };
        let treasury = self.treasury.clone();
        let to = address::decode(&treasury.to_ascii_lowercase())
            .map_err(|e| SweepError::Sign(e.to_string()))?;
        self.send(
            Purpose::Sweep,
            sender,
            nonce,
            (&contract, 0, erc20_transfer(&to, amount.base())),
            gas,
            fee,
            (crypto, amount, &treasury),
        )
        .await
    }

    /// Sends `wei` of the coin from the treasury to `deposit` for gas — out of the operator's
    /// float only (what the treasury holds beyond all custody of the coin).
    async fn top_up(&mut self, deposit: &str, wei: u128, fee: u128) -> Result<(), SweepError> {
        let held = self.node.balance(&self.treasury).await?;
        let mut c = self.st.db.conn().await?;
        let custody = ledger::operator_balance(&mut c, Kind::Custody, self.coin().code).await?;
        drop(c);
        let own_fee = u128::from(TRANSFER_GAS).saturating_mul(fee);
        let float = held
            .saturating_sub(custody.base())
            .saturating_sub(self.promised);
        if float < wei.saturating_add(own_fee) {
            tracing::warn!(
                network = self.net(),
                treasury = %self.treasury,
                needed = %Amount::from_base(wei.saturating_add(own_fee)),
                float = %Amount::from_base(float),
                "the hot wallet is short of gas: send {} to its treasury for token sweeps to go on",
                self.coin().code
            );
            self.done.short_of_gas = true;
            self.done.gas_needed = Some(format!(
                "Token deposits on {} wait to be swept: the hot wallet's treasury {} has {} {} of the operator's own and the next sweep's gas needs {}. Send {} to it.",
                self.chain.network.fullname,
                self.treasury,
                Amount::from_base(float).to_decimal_string(self.coin().decimals),
                self.coin().code,
                Amount::from_base(wei.saturating_add(own_fee))
                    .to_decimal_string(self.coin().decimals),
                self.coin().code
            ));
            return Ok(());
        }
        let sender = self.treasury_sender();
        let coin = self.coin();
        self.promised = self.promised.saturating_add(wei.saturating_add(own_fee));
        self.send(
            Purpose::Gas,
            &sender,
            None,
            (deposit, wei, Vec::new()),
            TRANSFER_GAS,
            fee,
            (coin, Amount::from_base(wei), deposit),
        )
        .await
    }
}
