//! Withdrawals: a merchant's available balance paid out from the hot wallet. UTXO networks
//! (BTC, LTC) build theirs in `utxo`, EVM networks in [`evm`], TRON in [`tron`]; all end in
//! [`record`] (the
//! withdrawal stored and charged in the transaction that makes it) and are handed to the node
//! after the commit ([`broadcast`]): a definitive refusal makes the withdrawal `failed` and the
//! ledger follows (custody → merchant available) in one transaction; a transport error leaves
//! it `broadcast`, and [`follow`] settles it. Merchants' requests are [`requests`].
//!
//! [`follow`] runs in every round of the network's watcher and works each withdrawal's state out
//! again from the best chain (never from a remembered height): in a block the watcher saw, it
//! has the confirmations counted from that block (`confirmed` once it has the network's); its
//! inputs consumed by another transaction with the network's confirmations, it is `failed`; in
//! the mempool, it is processing; in neither, it is handed to the node again, and failed only
//! when the node refuses it, the watcher is at the tip and [`GRACE`] has passed. The ledger
//! follows every state by difference ([`reconcile`]): a withdrawal that fails, then is mined
//! after all, is charged once. A payment it spends that leaves the chain marks it and alerts the
//! operator.

pub mod addresses;
pub mod api_key;
pub mod evm;
mod process;
pub mod requests;
pub mod rules;
pub mod tron;
mod utxo;

pub use utxo::{Withdrawn, in_flight, our_outputs, submit, withdraw};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kassa_chain::rpc::RpcError;
use kassa_chain::spend::SpendError;
use kassa_chain::watch::Broadcast;
use kassa_chain::watch::utxo::outpoint;
use kassa_core::currency::{Crypto, Network};
use kassa_core::{Amount, MerchantId, Timestamp, WithdrawalId, WithdrawalRequestId};
use kassa_store::ledger::{self, Account, Kind, LedgerError};
use kassa_store::wallets::WalletKind;
use kassa_store::withdrawal_requests::{self as requests_store, Stage};
use kassa_store::withdrawals::{self as store, NewWithdrawal, WithdrawalRow, WithdrawalState};
use kassa_store::{AsConn, StoreError};
use serde_json::json;

use crate::Ctx;
use crate::audit::{Actor, Target};
use crate::chains::{LiveChain, UtxoParts, WalletError};

/// The confirmation target asked of `estimatesmartfee`.
pub const CONF_TARGET: u16 = 6;

/// How far past the wallet's counter the node's UTXO set is searched, on each branch.
pub const LOOKAHEAD: i64 = 20;

/// How long a withdrawal the node does not know (and refuses again) stays `broadcast` before
/// it counts as failed and its funds go back.
pub const GRACE: Duration = Duration::from_secs(30 * 60);

/// Why a withdrawal was not made.
#[derive(Debug, thiserror::Error)]
pub enum WithdrawError {
    /// The network takes no live payments here (not configured, or no wallet).
    #[error("{0} is not configured with a wallet here: nothing to withdraw from")]
    NotLive(&'static str),
    /// Operator withdrawals from the command line are built for UTXO networks only.
    #[error(
        "`kassa wallet withdraw` pays BTC and LTC; on {0} merchants withdraw from the dashboard, the API or a rule"
    )]
    UtxoOnly(&'static str),
    /// The network's wallet has no keys.
    #[error("the {0} wallet is watch-only: Kassa cannot sign withdrawals from it")]
    WatchOnly(&'static str),
    /// Nothing to send.
    #[error("the amount must be more than zero")]
    ZeroAmount,
    /// The merchant's available balance is too small.
    #[error(
        "insufficient balance: {needed} {currency} needed (amount and network fee), {available} {currency} available"
    )]
    InsufficientBalance {
        /// The currency code.
        currency: &'static str,
        /// Amount (and fee, once known), as a decimal.
        needed: String,
        /// The merchant's available balance, as a decimal.
        available: String,
    },
    /// The merchant owes money in this currency (a credit taken back after they withdrew it):
    /// nothing leaves until it is covered.
    #[error(
        "{owed} {currency} is owed (a payment taken back after it was withdrawn): withdrawals wait until new payments cover it"
    )]
    Owed {
        /// The currency code.
        currency: &'static str,
        /// What is owed, as a decimal.
        owed: String,
    },
    /// The transaction could not be made (destination, funds, fee rate, …).
    #[error(transparent)]
    Spend(#[from] SpendError),
    /// The node refused the transaction: the withdrawal is `failed`, its funds returned.
    #[error("the node refused withdrawal {id}: {message}; the funds were returned")]
    Rejected {
        /// The withdrawal.
        id: WithdrawalId,
        /// The node's reason.
        message: String,
    },
    /// The node could not be asked.
    #[error("node: {0}")]
    Node(#[from] RpcError),
    /// The node answered something unexpected.
    #[error("node: {0}")]
    NodeAnswer(String),
    /// The wallet could not be opened.
    #[error(transparent)]
    Wallet(#[from] WalletError),
    /// The ledger refused a posting.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one [`follow`] round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FollowRound {
    /// Withdrawals that became `confirmed`.
    pub confirmed: usize,
    /// Withdrawals that became `failed` (and were reversed).
    pub failed: usize,
    /// Withdrawals still `broadcast`.
    pub pending: usize,
}

/// What is withdrawn from `chain` here: a UTXO network's coin; an EVM network's or TRON's coin
/// and the tokens it takes when Kassa holds the wallet's keys (they leave its treasury, see
/// [`evm`], [`tron`]).
pub fn currencies(chain: &LiveChain) -> Vec<&'static Crypto> {
    if chain.utxo.is_some() {
        vec![chain.currency]
    } else if (chain.evm.is_some() || chain.tron.is_some()) && chain.kind == WalletKind::Hot {
        chain.currencies.clone()
    } else {
        Vec::new()
    }
}

/// The fee of withdrawing `c` from account network `chain` (EVM, TRON) now, to `destination`
/// when it is known, and who pays it.
pub async fn account_fee(
    chain: &LiveChain,
    c: &Crypto,
    destination: Option<&str>,
) -> Result<evm::FeeEstimate, WithdrawError> {
    if chain.tron.is_some() {
        tron::fee_estimate(chain, c, destination).await
    } else {
        evm::fee_estimate(chain, c).await
    }
}

/// The UTXO parts (node client, account key) withdrawals are built with.
fn parts(chain: &LiveChain) -> Result<&UtxoParts, WithdrawError> {
    chain
        .utxo
        .as_ref()
        .ok_or(WithdrawError::NotLive(chain.network.code))
}

fn live(st: &Ctx, network: &'static Network) -> Result<Arc<LiveChain>, WithdrawError> {
    st.chains
        .get(network)
        .cloned()
        .ok_or(WithdrawError::NotLive(network.code))
}

fn decimal(c: &Crypto, base: u128) -> String {
    Amount::from_base(base).to_decimal_string(c.decimals)
}

fn available_account(c: &'static Crypto, merchant: MerchantId) -> Account<'static> {
    Account {
        kind: Kind::MerchantAvailable,
        merchant: Some(merchant),
        currency: c.code,
    }
}

fn custody(c: &'static Crypto) -> Account<'static> {
    Account {
        kind: Kind::Custody,
        merchant: None,
        currency: c.code,
    }
}

/// The merchant's available balance in the network's coin.
pub async fn available_balance(
    conn: &mut impl AsConn,
    chain: &LiveChain,
    merchant: MerchantId,
) -> Result<Amount, StoreError> {
    Ok(ledger::balances(conn, merchant)
        .await?
        .get(&(Kind::MerchantAvailable, chain.currency.code.to_owned()))
        .copied()
        .unwrap_or(Amount::ZERO))
}

/// A signed transaction of any family, ready to be recorded and handed to the node.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Its id.
    pub txid: String,
    /// The signed transaction, as the node takes it (hex).
    pub raw: String,
    /// The network fee it pays, in base units.
    pub fee: Amount,
    /// Its size (virtual bytes; gas on account networks).
    pub size: i64,
    /// What it consumes (`txid:vout` outpoints; `address:nonce` on account networks).
    pub consumes: Vec<String>,
    /// The inputs as stored for people (JSON).
    pub inputs_json: String,
    /// Kassa's change address, if any.
    pub change_address: Option<String>,
}

/// What a merchant asked to withdraw.
#[derive(Clone, Copy, Debug)]
pub struct Order<'a> {
    /// Whose balance pays.
    pub merchant: MerchantId,
    /// Where the money goes.
    pub destination: &'a str,
    /// What it pays out: the network's coin, or a token it takes.
    pub currency: &'static Crypto,
    /// How much arrives there (the fee comes on top).
    pub amount: Amount,
    /// The merchant's request it makes, and the stage that request is in; `None`: the
    /// operator's own (a request row marked "operator" is made for it, so the merchant's list
    /// shows every withdrawal).
    pub request: Option<(WithdrawalRequestId, Stage)>,
}

/// Stores a prepared withdrawal and posts its entries, in the caller's transaction, after
/// checking the merchant's available balance covers `amount` and the fee, and that they owe
/// nothing in this currency (a receivable is settled before money leaves). Returns its id.
pub async fn record(
    conn: &mut kassa_store::Tx,
    metrics: &crate::metrics::Metrics,
    chain: &LiveChain,
    order: &Order<'_>,
    p: &Prepared,
    now: Timestamp,
) -> Result<WithdrawalId, WithdrawError> {
    let Order {
        merchant,
        destination,
        currency: c,
        amount,
        request,
    } = *order;
    let balances = ledger::balances(conn, merchant).await?;
    let balance = |k: Kind| {
        balances
            .get(&(k, c.code.to_owned()))
            .copied()
            .unwrap_or(Amount::ZERO)
    };
    let owed = balance(Kind::MerchantReceivable);
    if !owed.is_zero() {
        return Err(WithdrawError::Owed {
            currency: c.code,
            owed: decimal(c, owed.base()),
        });
    }
    let available = balance(Kind::MerchantAvailable);
    let needed = amount.base().saturating_add(p.fee.base());
    if available.base() < needed {
        return Err(WithdrawError::InsufficientBalance {
            currency: c.code,
            needed: decimal(c, needed),
            available: decimal(c, available.base()),
        });
    }
    let id = store::insert(
        conn,
        &NewWithdrawal {
            merchant,
            network: chain.network.code,
            currency: c.code,
            destination,
            amount,
            fee: p.fee,
            vsize: p.size,
            txid: &p.txid,
            raw_hex: &p.raw,
            inputs: &p.inputs_json,
            consumes: &p.consumes,
            change_address: p.change_address.as_deref(),
        },
        now,
    )
    .await?;
    let journal = format!("withdrawal {id}");
    let (from, to) = (available_account(c, merchant), custody(c));
    for part in [amount, p.fee] {
        ledger::post(conn, &journal, None, &from, &to, part, now).await?;
    }
    let (request, stage) = match request {
        Some(r) => r,
        None => {
            let r = requests_store::insert(
                conn,
                &requests_store::NewRequest {
                    public_id: &crate::invoices::new_uuid(),
                    merchant,
                    network: chain.network.code,
                    currency: c.code,
                    destination,
                    amount,
                    fee_from_amount: false,
                    amount_usd: None,
                    source: requests_store::Source::Operator,
                    user: None,
                    rule: None,
                    address: None,
                    stage: Stage::Queued,
                },
                now,
            )
            .await?;
            (r, Stage::Queued)
        }
    };
    if !requests_store::submitted(conn, request, stage, id, now).await? {
        return Err(WithdrawError::NodeAnswer(format!(
            "withdrawal request {request} is no longer {}: nothing was made",
            stage.as_str()
        )));
    }
    // Spending a payment Kassa has seen but not counted yet: not charged until it counts.
    rebalance(conn, metrics, id, now).await?;
    Ok(id)
}

/// Records a prepared withdrawal of `network` and hands it to the node: what [`withdraw`] ends
/// with, for a transaction made elsewhere (another family's wallet, a simulation). A refusal
/// is not an error here: the withdrawal is then `failed` and the answer says so.
pub async fn submit_prepared(
    st: &Ctx,
    network: &'static Network,
    merchant: MerchantId,
    destination: &str,
    amount: Amount,
    p: &Prepared,
) -> Result<(WithdrawalId, Broadcast), WithdrawError> {
    let chain = st
        .chains
        .get(network)
        .cloned()
        .ok_or(WithdrawError::NotLive(network.code))?;
    let mut tx = st.db.begin().await?;
    let order = Order {
        merchant,
        destination,
        currency: chain.currency,
        amount,
        request: None,
    };
    let id = record(&mut tx, &st.metrics, &chain, &order, p, st.clock.now()).await?;
    tx.commit().await?;
    let done = broadcast(st, &chain, id, &p.raw).await?;
    Ok((id, done))
}

/// Hands withdrawal `id`'s transaction to the node; a definitive refusal fails and reverses it.
pub async fn broadcast(
    st: &Ctx,
    chain: &LiveChain,
    id: WithdrawalId,
    hex: &str,
) -> Result<Broadcast, WithdrawError> {
    let done = chain.source.broadcast(hex).await;
    match &done {
        Broadcast::Accepted => {}
        Broadcast::Refused(message) => {
            fail(st, id, message).await?;
        }
        Broadcast::Unknown(e) => {
            tracing::warn!(withdrawal = %id, network = chain.network.code, error = %e, "withdrawal broadcast without an answer; following it");
        }
    }
    Ok(done)
}

/// Posts the difference between what withdrawal `w` should have taken from the merchant (its
/// amount and fee when `charged`) and what is posted for it: taken from the available balance
/// (and, where that does not cover it, owed as a receivable), or given back (settling what they
/// owe first).
async fn reconcile(
    tx: &mut kassa_store::Tx,
    w: &WithdrawalRow,
    charged: bool,
    now: Timestamp,
) -> Result<(), WithdrawError> {
    let journal = format!("withdrawal {}", w.id);
    let legacy = format!("withdrawal {} reversed", w.id);
    let posted = ledger::net_postings(
        tx,
        ledger::Postings::Journals(&[journal.as_str(), legacy.as_str()]),
    )
    .await?;
    let net = |a, b| posted.get(&(a, b)).copied().unwrap_or(0);
    let taken =
        net(Kind::MerchantAvailable, Kind::Custody) + net(Kind::MerchantReceivable, Kind::Custody);
    let target = if charged {
        i128::try_from(w.amount.base().saturating_add(w.fee.base())).unwrap_or(i128::MAX)
    } else {
        0
    };
    let d = target - taken;
    if d == 0 {
        return Ok(());
    }
    let custody = Account {
        kind: Kind::Custody,
        merchant: None,
        currency: w.currency.as_str(),
    };
    let j = ledger::Journal {
        name: &journal,
        invoice: None,
        at: now,
    };
    let amount = Amount::from_base(d.unsigned_abs());
    if d > 0 {
        let owed = ledger::charge_merchant(tx, &j, w.merchant, &custody, amount).await?;
        if !owed.is_zero() {
            tracing::error!(withdrawal = %w.id, owed = %owed, currency = %w.currency, "a withdrawal charged again is not covered: the merchant owes it");
        }
    } else {
        ledger::credit_merchant(tx, &j, w.merchant, &custody, amount).await?;
    }
    Ok(())
}

/// Whether a payment withdrawal `w` spends is recorded and not counted now (its block left the
/// chain, or it is short of the confirmations again): the withdrawal cannot be valid unless
/// that payment is, so it is not charged meanwhile.
async fn unfunded(conn: &mut impl AsConn, w: &WithdrawalRow) -> Result<bool, StoreError> {
    for outpoint in &w.consumes {
        let Some((txid, vout)) = outpoint.rsplit_once(':') else {
            continue;
        };
        let Ok(index) = vout.parse::<i64>() else {
            continue;
        };
        if let Some(t) = kassa_store::invoices::transfer(conn, &w.network, txid, index).await?
            && t.state != kassa_store::invoices::TransferState::Confirmed
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Brings withdrawal `id`'s ledger entries in line with where it and the payments it spends
/// stand now, in `tx`: charged unless it failed or spends a payment no longer counted. The
/// moment a payment it spends stops counting, it is marked and the operator alerted; the
/// merchant is never charged twice.
pub(crate) async fn rebalance(
    tx: &mut kassa_store::Tx,
    metrics: &crate::metrics::Metrics,
    id: WithdrawalId,
    now: Timestamp,
) -> Result<(), WithdrawError> {
    let Some(w) = store::by_id(tx, id).await? else {
        return Ok(());
    };
    let unfunded = unfunded(tx, &w).await?;
    if store::set_unfunded(tx, w.id, unfunded, now).await? && unfunded {
        Actor::kassa()
            .record(
                tx,
                w.merchant,
                "withdrawal.funding_reversed",
                Target::Withdrawal(w.id),
                json!({"withdrawal": w.id, "txid": w.txid}),
                now,
            )
            .await?;
        metrics.withdrawal_unfunded(&w.network);
        tracing::error!(withdrawal = %w.id, network = %w.network, txid = %w.txid, "a payment this withdrawal spends left the chain: it cannot confirm unless that payment returns; not charged meanwhile");
    }
    let charged = w.state != WithdrawalState::Failed && !unfunded;
    reconcile(tx, &w, charged, now).await
}

/// Rebalances, in `tx`, every withdrawal of `network` that spends output `index` of `txid` (a
/// payment whose standing just changed).
pub(crate) async fn rebalance_spending(
    tx: &mut kassa_store::Tx,
    metrics: &crate::metrics::Metrics,
    network: &str,
    txid: &str,
    index: i64,
    now: Timestamp,
) -> Result<(), WithdrawError> {
    let spending = store::consuming(
        tx,
        network,
        &outpoint(txid, u32::try_from(index).unwrap_or(u32::MAX)),
    )
    .await?;
    for w in spending {
        rebalance(tx, metrics, w.id, now).await?;
    }
    Ok(())
}

/// Records where withdrawal `w` stands now and posts what that changes in the ledger, in one
/// transaction. False when nothing changed.
async fn settle(
    st: &Ctx,
    w: &WithdrawalRow,
    state: WithdrawalState,
    confirmations: i64,
    error: Option<&str>,
) -> Result<bool, WithdrawError> {
    if state == w.state && confirmations == w.confirmations && error.is_none() {
        return Ok(false);
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    store::set_state(&mut tx, w.id, state, confirmations, error, now).await?;
    rebalance(&mut tx, &st.metrics, w.id, now).await?;
    let kind = match state {
        _ if state == w.state => None,
        WithdrawalState::Confirmed => Some("withdrawal.completed"),
        WithdrawalState::Failed => Some("withdrawal.failed"),
        WithdrawalState::Broadcast => None,
    };
    if let Some(kind) = kind
        && let Some(r) = requests_store::of_withdrawal(&mut tx, w.id).await?
    {
        notify_withdrawal(&mut tx, &r, kind, error.or(w.error.as_deref()), now).await?;
    }
    tx.commit().await?;
    st.jobs.wake();
    if state != w.state {
        match state {
            WithdrawalState::Failed => {
                tracing::warn!(withdrawal = %w.id, network = %w.network, error = error.unwrap_or_default(), "withdrawal failed; funds returned")
            }
            WithdrawalState::Confirmed => {
                tracing::info!(withdrawal = %w.id, network = %w.network, "withdrawal confirmed")
            }
            WithdrawalState::Broadcast => {
                tracing::warn!(withdrawal = %w.id, network = %w.network, from = w.state.as_str(), "withdrawal processing again")
            }
        }
    }
    Ok(true)
}

/// Tells the merchant's people that withdrawal request `r` reached `kind`
/// (`withdrawal.created`, `.completed`, `.failed`), in the caller's transaction.
pub(crate) async fn notify_withdrawal(
    conn: &mut kassa_store::Tx,
    r: &requests_store::RequestRow,
    kind: &'static str,
    why: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let decimals = kassa_core::currency::crypto(&r.currency).map_or(0, |c| c.decimals);
    let amount = r.tx.as_ref().map_or(r.amount, |t| t.amount);
    crate::notify::emit(
        conn,
        &crate::notify::Event {
            merchant: r.merchant,
            kind,
            project: None,
            user: None,
            params: json!({
                "withdrawal": format!("WD-{}", r.public_id),
                "amount": amount.to_decimal_string(decimals),
                "currency": r.currency,
                "to": r.destination,
                "txid": r.tx.as_ref().map(|t| t.txid.clone()).unwrap_or_default(),
                "why": why.unwrap_or_default(),
            }),
            link: Some(&format!("/balance#wd-{}", r.public_id)),
        },
        now,
    )
    .await
}

/// Marks withdrawal `id` failed (refused by the node), funds returned.
async fn fail(st: &Ctx, id: WithdrawalId, error: &str) -> Result<bool, WithdrawError> {
    let Some(w) = store::by_id(&mut st.db.conn().await?, id).await? else {
        return Ok(false);
    };
    settle(st, &w, WithdrawalState::Failed, 0, Some(error)).await
}

/// [`follow`] outside a watcher round (operator commands, tests): the tip and the mempool read
/// from the network's node, "at the tip" from the watcher's cursor.
pub async fn follow_network(
    st: &Ctx,
    network: &'static Network,
) -> Result<FollowRound, WithdrawError> {
    let chain = st
        .chains
        .get(network)
        .cloned()
        .ok_or(WithdrawError::NotLive(network.code))?;
    let tip = chain
        .source
        .tip()
        .await
        .map_err(|e| WithdrawError::NodeAnswer(e.to_string()))?;
    let tip = i64::try_from(tip.height).unwrap_or(i64::MAX);
    let mempool: HashSet<String> = chain
        .source
        .mempool()
        .await
        .map_err(|e| WithdrawError::NodeAnswer(e.to_string()))?
        .into_iter()
        .collect();
    let cursor = kassa_store::chain::cursor(&mut st.db.conn().await?, network.code).await?;
    let synced = cursor.is_some_and(|c| c.height >= tip);
    follow(st, &chain, tip, &mempool, synced).await
}

/// Works out again where every open withdrawal of `chain` stands (see the module docs); every
/// round of the network's watcher calls it once it reached the tip. `mempool` is the node's
/// mempool as the round read it.
pub async fn follow(
    st: &Ctx,
    chain: &LiveChain,
    tip: i64,
    mempool: &HashSet<String>,
    synced: bool,
) -> Result<FollowRound, WithdrawError> {
    let net = chain.network.code;
    let needed = i64::from(chain.confirmations.max(1));
    let now = st.clock.now();
    let open = store::open(
        &mut st.db.conn().await?,
        net,
        tip.saturating_sub(crate::watcher::KEEP_BLOCKS),
    )
    .await?;
    let mut round = FollowRound::default();
    for w in open {
        let deep = |h: i64| tip.saturating_sub(h).saturating_add(1);
        let mut burnt = None;
        let (state, confirmations, error) = if let Some((h, _)) = &w.block {
            let c = deep(*h).max(0);
            let state = if c >= needed {
                WithdrawalState::Confirmed
            } else {
                WithdrawalState::Broadcast
            };
            // On an EVM network or TRON a mined call may have failed: it paid nothing out.
            burnt = if state != WithdrawalState::Confirmed || w.state == WithdrawalState::Confirmed
            {
                None
            } else if chain.evm.is_some() {
                evm::reverted(chain, &w).await?
            } else if chain.tron.is_some() {
                tron::reverted(chain, &w).await?
            } else {
                None
            };
            match burnt {
                Some(_) => (
                    WithdrawalState::Failed,
                    c,
                    Some(
                        "mined but failed (reverted, or out of energy): nothing was paid out"
                            .to_owned(),
                    ),
                ),
                None => (state, c, None),
            }
        } else if let Some((by, h, _)) = w.conflict.as_ref().filter(|(_, h, _)| deep(*h) >= needed)
        {
            let why = format!(
                "its inputs were spent by transaction {by}, {} confirmations deep",
                deep(*h)
            );
            (WithdrawalState::Failed, 0, Some(why))
        } else if mempool.contains(&w.txid) {
            (WithdrawalState::Broadcast, 0, None)
        } else if w.state == WithdrawalState::Failed {
            // Refused before and seen nowhere since.
            (WithdrawalState::Failed, 0, None)
        } else {
            // Neither mined nor waiting: hand it over again.
            match chain.source.broadcast(&w.raw_hex).await {
                Broadcast::Refused(message)
                    if synced
                        && w.conflict.is_none()
                        && now.duration_since(w.created_at) >= GRACE =>
                {
                    let why = format!(
                        "in no block up to the tip, not in the mempool, and the node refuses it: {message}"
                    );
                    (WithdrawalState::Failed, 0, Some(why))
                }
                _ => (WithdrawalState::Broadcast, 0, None),
            }
        };
        settle(st, &w, state, confirmations, error.as_deref()).await?;
        if let Some(fee) = burnt {
            evm::book_reverted(st, chain, &w, fee).await?;
        }
        match state {
            WithdrawalState::Confirmed => round.confirmed += usize::from(w.state != state),
            WithdrawalState::Failed => round.failed += usize::from(w.state != state),
            WithdrawalState::Broadcast => round.pending += 1,
        }
    }
    Ok(round)
}
