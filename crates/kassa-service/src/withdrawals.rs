//! Withdrawals from the hot wallet of a UTXO network (BTC, LTC): a merchant's available
//! balance paid out to an address in one signed P2WPKH transaction.
//!
//! [`withdraw`]:
//!
//! 1. lists Kassa's own confirmed outputs by asking the node's UTXO set (`scantxoutset` over
//!    the receive and change descriptors of the account, up to 20 past the wallet's counter),
//!    maps each to its key by its script, keeps those with the network's confirmations and
//!    leaves out those already spent by a withdrawal still in state `broadcast` (the node's
//!    UTXO set does not know the mempool);
//! 2. asks the node for a fee rate (`estimatesmartfee`, with the operator's floor);
//! 3. in ONE database transaction: takes a fresh change index, plans and signs (the hot
//!    wallet's keys; a watch-only wallet is refused), checks that the merchant's available
//!    balance covers amount and fee, stores the withdrawal (`broadcast`) and posts its ledger
//!    entries under the journal `withdrawal <id>` (merchant available → custody, once for the
//!    amount, once for the fee); commits;
//! 4. then hands the transaction to the node (`sendrawtransaction`). A definitive refusal
//!    (an RPC error) marks the withdrawal `failed` and posts the exact reverse entries (custody
//!    → merchant available) in one transaction: the funds are back. A transport error leaves
//!    it `broadcast`: it may have gone through, and [`follow`] settles it.
//!
//! [`follow`] is meant for the network's watcher round: every `broadcast` withdrawal is looked
//! up (`getrawtransaction`); enough confirmations make it `confirmed`; one the node does not
//! know is broadcast again, and if the node refuses it and it is older than [`GRACE`], it is
//! `failed` and reversed.

use std::collections::{HashMap, HashSet};
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use kassa_chain::hd::Branch;
use kassa_chain::rpc::{RpcError, codes};
use kassa_chain::spend::{
    self, FeeRate, Outputs, Payment, Policy, SignedWithdrawal, SpendError, Txid, Utxo,
};
use kassa_core::currency::Network;
use kassa_core::{Amount, MerchantId, Timestamp};
use kassa_store::ledger::{self, Account, Kind, LedgerError};
use kassa_store::wallets::{self, WalletKind};
use kassa_store::withdrawals::{self as store, NewWithdrawal, WithdrawalRow, WithdrawalState};
use kassa_store::{AsConn, StoreError};
use serde::Deserialize;
use serde_json::json;

use crate::Ctx;
use crate::chains::{self, LiveChain, UtxoParts, WalletError};

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
    /// The transaction could not be made (destination, funds, fee rate, …).
    #[error(transparent)]
    Spend(#[from] SpendError),
    /// The node refused the transaction: the withdrawal is `failed`, its funds returned.
    #[error("the node refused withdrawal {id}: {message}; the funds were returned")]
    Rejected {
        /// The withdrawal.
        id: i64,
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

/// A withdrawal made (or refused by the node, for [`submit`]).
#[derive(Clone, Debug)]
pub struct Withdrawn {
    /// Its id.
    pub id: i64,
    /// Its transaction id.
    pub txid: String,
    /// What the destination receives, in base units.
    pub amount: u64,
    /// The network fee, in base units.
    pub fee: u64,
    /// The fee rate paid.
    pub fee_rate: FeeRate,
    /// The virtual size.
    pub vsize: u64,
    /// The outputs spent.
    pub inputs: Vec<Utxo>,
    /// The change output: (vout, amount, address).
    pub change: Option<(u32, u64, String)>,
    /// `broadcast`, or `failed` when the node refused it.
    pub state: WithdrawalState,
    /// The node's reason for refusing it.
    pub error: Option<String>,
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

fn decimal(chain: &LiveChain, base: u128) -> String {
    Amount::from_base(base).to_decimal_string(chain.currency.decimals)
}

fn available_account(chain: &LiveChain, merchant: MerchantId) -> Account<'static> {
    Account {
        kind: Kind::MerchantAvailable,
        merchant: Some(merchant),
        currency: chain.currency.code,
    }
}

fn custody(chain: &LiveChain) -> Account<'static> {
    Account {
        kind: Kind::Custody,
        merchant: None,
        currency: chain.currency.code,
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

#[derive(Deserialize)]
struct Scan {
    success: bool,
    height: u64,
    unspents: Vec<ScanUnspent>,
}

#[derive(Deserialize)]
struct ScanUnspent {
    txid: String,
    vout: u32,
    #[serde(rename = "scriptPubKey")]
    script_pub_key: String,
    #[serde(deserialize_with = "kassa_chain::rpc::amount")]
    amount: Amount,
    height: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Kassa's confirmed outputs on `chain` as the node's UTXO set has them (every confirmation
/// count; the planner keeps those with enough), and the node's height.
pub async fn our_outputs(
    chain: &LiveChain,
    next_index: i64,
) -> Result<(Vec<Utxo>, u64), WithdrawError> {
    let utxo = parts(chain)?;
    let end = u32::try_from(next_index.saturating_add(LOOKAHEAD).max(0)).unwrap_or(u32::MAX);
    let mut scripts: HashMap<String, (Branch, u32)> = HashMap::new();
    let mut descriptors = Vec::new();
    for branch in [Branch::Receive, Branch::Change] {
        for index in 0..=end {
            let program = utxo
                .wallet
                .key_hash(branch, index)
                .map_err(WalletError::from)?;
            scripts.insert(format!("0014{}", hex(&program)), (branch, index));
        }
        let descriptor = utxo.wallet.descriptor(branch);
        let info = utxo.rpc.get_descriptor_info(&descriptor).await?;
        descriptors
            .push(json!({"desc": format!("{descriptor}#{}", info.checksum), "range": [0, end]}));
    }
    let scan: Scan = utxo
        .rpc
        .call_as("scantxoutset", json!(["start", descriptors]))
        .await?;
    if !scan.success {
        return Err(WithdrawError::NodeAnswer(
            "scantxoutset did not complete".into(),
        ));
    }
    let mut utxos = Vec::with_capacity(scan.unspents.len());
    for u in scan.unspents {
        let Some(&(branch, index)) = scripts.get(&u.script_pub_key.to_ascii_lowercase()) else {
            continue;
        };
        let txid = Txid::from_str(&u.txid)
            .map_err(|e| WithdrawError::NodeAnswer(format!("txid {:?}: {e}", u.txid)))?;
        let amount = u64::try_from(u.amount.base())
            .map_err(|_| WithdrawError::NodeAnswer(format!("amount of {}:{}", u.txid, u.vout)))?;
        let confirmations = if u.height == 0 {
            0
        } else {
            u32::try_from(scan.height.saturating_sub(u.height).saturating_add(1))
                .unwrap_or(u32::MAX)
        };
        utxos.push(Utxo {
            txid,
            vout: u.vout,
            amount,
            branch,
            index,
            confirmations,
        });
    }
    Ok((utxos, scan.height))
}

#[derive(serde::Serialize, Deserialize)]
struct Outpoint {
    txid: String,
    vout: u32,
}

fn inputs_json(inputs: &[Utxo]) -> String {
    let list: Vec<Outpoint> = inputs
        .iter()
        .map(|u| Outpoint {
            txid: u.txid.to_string(),
            vout: u.vout,
        })
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

/// The outpoints spent by the withdrawals of `network` still in state `broadcast`.
pub async fn in_flight(
    conn: &mut impl AsConn,
    network: &str,
) -> Result<HashSet<(String, u32)>, WithdrawError> {
    let mut spent = HashSet::new();
    for w in store::list(conn, network, Some(WithdrawalState::Broadcast)).await? {
        let list: Vec<Outpoint> = serde_json::from_str(&w.inputs).map_err(|e| {
            WithdrawError::Store(StoreError::Corrupt {
                column: "withdrawal.inputs",
                reason: e.to_string(),
            })
        })?;
        spent.extend(list.into_iter().map(|o| (o.txid, o.vout)));
    }
    Ok(spent)
}

/// Pays `amount` base units of the network's coin from the merchant's available balance to
/// `destination` (see the module docs). A refusal by the node is [`WithdrawError::Rejected`]
/// (the withdrawal is then `failed` and its funds returned).
pub async fn withdraw(
    st: &Ctx,
    merchant: MerchantId,
    network: &'static Network,
    destination: &str,
    amount: u64,
    fee_floor: FeeRate,
) -> Result<Withdrawn, WithdrawError> {
    let chain = live(st, network)?;
    if chain.kind == WalletKind::Watch {
        return Err(WithdrawError::WatchOnly(network.code));
    }
    if amount == 0 {
        return Err(WithdrawError::ZeroAmount);
    }
    let hot = match chains::hot_wallet(&st.db, &st.keyring, network).await {
        Err(WalletError::WatchOnly(_)) => return Err(WithdrawError::WatchOnly(network.code)),
        other => other?,
    };
    // Before asking the node anything: the amount alone must be covered.
    let available = available_balance(&mut st.db.conn().await?, &chain, merchant).await?;
    if available.base() < u128::from(amount) {
        return Err(WithdrawError::InsufficientBalance {
            currency: chain.currency.code,
            needed: decimal(&chain, u128::from(amount)),
            available: decimal(&chain, available.base()),
        });
    }
    let next_index = wallets::get(&mut st.db.conn().await?, network.code)
        .await?
        .ok_or(WalletError::Missing(network))?
        .next_index;
    let (utxos, height) = our_outputs(&chain, next_index).await?;
    let fee_rate = spend::estimate_fee_rate(&parts(&chain)?.rpc, CONF_TARGET, fee_floor)
        .await?
        .rate;
    let policy = Policy {
        min_confirmations: chain.confirmations.max(1),
        min_fee_rate: fee_floor,
        ..Policy::default()
    };

    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    // Taking the index locks the wallet row (PostgreSQL) or the database (SQLite): two
    // withdrawals of one network are made one after the other, each seeing the other's inputs.
    let change_index = wallets::take_next_index(&mut tx, network.code, now)
        .await?
        .ok_or(WalletError::Missing(network))?;
    let change_index = u32::try_from(change_index)
        .map_err(|_| WithdrawError::NodeAnswer("the wallet's counter is exhausted".into()))?;
    let spent = in_flight(&mut tx, network.code).await?;
    let utxos: Vec<Utxo> = utxos
        .into_iter()
        .filter(|u| !spent.contains(&(u.txid.to_string(), u.vout)))
        .collect();
    let request = spend::Withdrawal {
        outputs: Outputs::Pay(vec![Payment {
            address: destination.trim().to_owned(),
            amount,
        }]),
        fee_rate,
        change_index,
        lock_time: u32::try_from(height).unwrap_or(0),
    };
    let signed = spend::build(&hot, &utxos, &request, &policy)?;
    drop(hot);
    let id = record(
        &mut tx,
        &chain,
        merchant,
        destination.trim(),
        amount,
        &signed,
        now,
    )
    .await?;
    tx.commit().await?;

    let done = broadcast(st, &chain, id, &signed.hex).await?;
    let made = withdrawn(id, amount, &signed, done.clone());
    match done {
        Broadcast::Refused(message) => Err(WithdrawError::Rejected { id, message }),
        _ => Ok(made),
    }
}

/// Stores a signed withdrawal and posts its entries, in the caller's transaction, after
/// checking the merchant's available balance covers `amount` and the fee. Returns its id.
pub async fn record(
    conn: &mut impl AsConn,
    chain: &LiveChain,
    merchant: MerchantId,
    destination: &str,
    amount: u64,
    signed: &SignedWithdrawal,
    now: Timestamp,
) -> Result<i64, WithdrawError> {
    let available = available_balance(conn, chain, merchant).await?;
    let needed = u128::from(amount) + u128::from(signed.fee);
    if available.base() < needed {
        return Err(WithdrawError::InsufficientBalance {
            currency: chain.currency.code,
            needed: decimal(chain, needed),
            available: decimal(chain, available.base()),
        });
    }
    let change = signed.plan.change().map(|c| c.address.clone());
    let id = store::insert(
        conn,
        &NewWithdrawal {
            merchant,
            network: chain.network.code,
            currency: chain.currency.code,
            destination,
            amount: Amount::from_base(u128::from(amount)),
            fee: Amount::from_base(u128::from(signed.fee)),
            vsize: i64::try_from(signed.vsize).unwrap_or(i64::MAX),
            txid: &signed.txid,
            raw_hex: &signed.hex,
            inputs: &inputs_json(signed.plan.inputs()),
            change_address: change.as_deref(),
        },
        now,
    )
    .await?;
    let journal = format!("withdrawal {id}");
    let (from, to) = (available_account(chain, merchant), custody(chain));
    for part in [u128::from(amount), u128::from(signed.fee)] {
        ledger::post(
            conn,
            &journal,
            None,
            &from,
            &to,
            Amount::from_base(part),
            now,
        )
        .await?;
    }
    Ok(id)
}

/// What the node did with a transaction handed to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broadcast {
    /// Accepted (or already known).
    Accepted,
    /// No definitive answer (transport, timeout): left `broadcast` for [`follow`].
    Unknown(String),
    /// Refused: the withdrawal is now `failed` and reversed.
    Refused(String),
}

/// Hands withdrawal `id`'s transaction to the node; a definitive refusal fails and reverses it.
pub async fn broadcast(
    st: &Ctx,
    chain: &LiveChain,
    id: i64,
    hex: &str,
) -> Result<Broadcast, WithdrawError> {
    match parts(chain)?.rpc.send_raw_transaction(hex).await {
        Ok(_) => Ok(Broadcast::Accepted),
        Err(e) if e.code() == Some(codes::VERIFY_ALREADY_IN_CHAIN) => Ok(Broadcast::Accepted),
        Err(RpcError::Rpc { message, code, .. }) => {
            let message = format!("{message} (RPC error {code})");
            fail(st, chain, id, &message).await?;
            Ok(Broadcast::Refused(message))
        }
        Err(e) => {
            tracing::warn!(withdrawal = id, network = chain.network.code, error = %e, "withdrawal broadcast without an answer; following it");
            Ok(Broadcast::Unknown(e.to_string()))
        }
    }
}

/// Records an already signed withdrawal (after the balance check) and broadcasts it: the step
/// [`withdraw`] ends with, for a transaction made elsewhere. A refusal is not an error here:
/// the result says `failed`.
pub async fn submit(
    st: &Ctx,
    network: &'static Network,
    merchant: MerchantId,
    destination: &str,
    amount: u64,
    signed: &SignedWithdrawal,
) -> Result<Withdrawn, WithdrawError> {
    let chain = live(st, network)?;
    let mut tx = st.db.begin().await?;
    let id = record(
        &mut tx,
        &chain,
        merchant,
        destination,
        amount,
        signed,
        st.clock.now(),
    )
    .await?;
    tx.commit().await?;
    let done = broadcast(st, &chain, id, &signed.hex).await?;
    Ok(withdrawn(id, amount, signed, done))
}

fn withdrawn(id: i64, amount: u64, signed: &SignedWithdrawal, done: Broadcast) -> Withdrawn {
    let (state, error) = match done {
        Broadcast::Refused(m) => (WithdrawalState::Failed, Some(m)),
        _ => (WithdrawalState::Broadcast, None),
    };
    Withdrawn {
        id,
        txid: signed.txid.clone(),
        amount,
        fee: signed.fee,
        fee_rate: signed.plan.fee_rate(),
        vsize: signed.vsize,
        inputs: signed.plan.inputs().to_vec(),
        change: signed
            .plan
            .change()
            .map(|c| (c.vout, c.amount, c.address.clone())),
        state,
        error,
    }
}

/// Marks a `broadcast` withdrawal `failed` and posts the exact reverse of its entries, in one
/// transaction. False when it was no longer `broadcast` (nothing done).
async fn fail(st: &Ctx, chain: &LiveChain, id: i64, error: &str) -> Result<bool, WithdrawError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(w) = store::by_id(&mut tx, id).await? else {
        return Ok(false);
    };
    if !store::mark_failed(&mut tx, id, error, now).await? {
        return Ok(false);
    }
    let journal = format!("withdrawal {id} reversed");
    let (from, to) = (custody(chain), available_account(chain, w.merchant));
    for part in [w.amount, w.fee] {
        ledger::post(&mut tx, &journal, None, &from, &to, part, now).await?;
    }
    tx.commit().await?;
    tracing::warn!(
        withdrawal = id,
        network = chain.network.code,
        error,
        "withdrawal failed; funds returned"
    );
    Ok(true)
}

/// Follows the `broadcast` withdrawals of `network` one step (see the module docs); every
/// round of the network's watcher calls it.
///
/// A withdrawal counts its confirmations from the block the watcher saw it in
/// ([`store::note_mined`]), so nothing depends on the node's `-txindex`. One the watcher has
/// not seen in any block is looked for in the mempool and otherwise handed to the node again;
/// only when the node refuses it, the watcher has processed every block up to the tip (so it
/// is in none of them) and the grace period is over, is it failed and its funds returned.
pub async fn follow(st: &Ctx, network: &'static Network) -> Result<FollowRound, WithdrawError> {
    let chain = live(st, network)?;
    let tip = i64::try_from(parts(&chain)?.rpc.get_block_count().await?).unwrap_or(i64::MAX);
    let cursor = kassa_store::chain::cursor(&mut st.db.conn().await?, network.code).await?;
    let synced = cursor.is_some_and(|c| c.height >= tip);
    follow_at(st, network, tip, synced).await
}

/// [`follow`] for a caller that knows the node's tip and whether the watcher has processed
/// every block up to it (the watcher itself, at the end of a round).
pub async fn follow_at(
    st: &Ctx,
    network: &'static Network,
    tip: i64,
    synced: bool,
) -> Result<FollowRound, WithdrawError> {
    let chain = live(st, network)?;
    let open = store::list(
        &mut st.db.conn().await?,
        network.code,
        Some(WithdrawalState::Broadcast),
    )
    .await?;
    let mut round = FollowRound::default();
    for w in open {
        match follow_one(st, &chain, &w, tip, synced).await? {
            WithdrawalState::Confirmed => round.confirmed += 1,
            WithdrawalState::Failed => round.failed += 1,
            WithdrawalState::Broadcast => round.pending += 1,
        }
    }
    Ok(round)
}

async fn follow_one(
    st: &Ctx,
    chain: &LiveChain,
    w: &WithdrawalRow,
    tip: i64,
    synced: bool,
) -> Result<WithdrawalState, WithdrawError> {
    let now = st.clock.now();
    let needed = i64::from(chain.confirmations.max(1));
    let mined = store::mined_height(&mut st.db.conn().await?, w.id).await?;
    let counted = match mined {
        Some(h) => Some(tip.saturating_sub(h).saturating_add(1).max(0)),
        None => match parts(chain)?.rpc.get_raw_transaction(&w.txid, None).await {
            // In the mempool, or (on a node with -txindex) in a block the watcher has not
            // reached yet.
            Ok(tx) => Some(i64::try_from(tx.confirmations.unwrap_or(0)).unwrap_or(i64::MAX)),
            Err(e) if e.code() == Some(codes::INVALID_ADDRESS_OR_KEY) => None,
            Err(e) => return Err(e.into()),
        },
    };
    if let Some(confirmations) = counted {
        let confirmed = confirmations >= needed;
        if confirmed || confirmations != w.confirmations {
            store::set_confirmations(
                &mut st.db.conn().await?,
                w.id,
                confirmations,
                confirmed,
                now,
            )
            .await?;
        }
        return Ok(if confirmed {
            WithdrawalState::Confirmed
        } else {
            WithdrawalState::Broadcast
        });
    }
    // Neither in a block the watcher saw nor in the mempool: hand it over again.
    match parts(chain)?.rpc.send_raw_transaction(&w.raw_hex).await {
        Ok(_) => Ok(WithdrawalState::Broadcast),
        Err(e) if e.code() == Some(codes::VERIFY_ALREADY_IN_CHAIN) => {
            Ok(WithdrawalState::Broadcast)
        }
        Err(RpcError::Rpc { message, code, .. })
            if synced && now.duration_since(w.created_at) >= GRACE =>
        {
            let message = format!(
                "in no block up to the tip, not in the mempool, and the node refuses it: {message} (RPC error {code})"
            );
            Ok(if fail(st, chain, w.id, &message).await? {
                WithdrawalState::Failed
            } else {
                WithdrawalState::Broadcast
            })
        }
        Err(_) => Ok(WithdrawalState::Broadcast),
    }
}
