//! Withdrawals from the hot wallet of a UTXO network (BTC, LTC): a merchant's available
//! balance paid out to an address in one signed P2WPKH transaction.
//!
//! [`withdraw`] (the operator's `kassa wallet withdraw`; merchants' requests are made the same
//! way by `super::process`):
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
//! 4. then hands the transaction to the node (through the network's `ChainSource`). A
//!    definitive refusal makes the withdrawal `failed`, and the ledger follows (custody →
//!    merchant available) in one transaction: the funds are back. A transport error leaves it
//!    `broadcast`: it may have gone through, and [`super::follow`] settles it.

use std::collections::{HashMap, HashSet};
use std::str::FromStr as _;

use kassa_chain::hd::Branch;
use kassa_chain::spend::{self, FeeRate, Outputs, Payment, Policy, SignedWithdrawal, Txid, Utxo};
use kassa_chain::watch::Broadcast;
use kassa_chain::watch::utxo::outpoint;
use kassa_core::currency::Network;
use kassa_core::{Amount, MerchantId, WithdrawalId};
use kassa_store::wallets::{self, WalletKind};
use kassa_store::withdrawals::{self as store, WithdrawalState};
use kassa_store::{AsConn, StoreError};
use serde::Deserialize;
use serde_json::json;

use super::{
    CONF_TARGET, LOOKAHEAD, Order, Prepared, WithdrawError, available_balance, broadcast, decimal,
    live, parts, record, submit_prepared,
};
use crate::Ctx;
use crate::chains::{self, LiveChain, WalletError};

/// A withdrawal made (or refused by the node, for [`submit`]).
#[derive(Clone, Debug)]
pub struct Withdrawn {
    /// Its id.
    pub id: WithdrawalId,
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
    if chain.utxo.is_none() {
        return Err(WithdrawError::UtxoOnly(network.code));
    }
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
            needed: decimal(chain.currency, u128::from(amount)),
            available: decimal(chain.currency, available.base()),
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
    let order = Order {
        merchant,
        destination: destination.trim(),
        currency: chain.currency,
        amount: Amount::from_base(u128::from(amount)),
        request: None,
    };
    let id = record(
        &mut tx,
        &st.metrics,
        &chain,
        &order,
        &Prepared::utxo(&signed),
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

impl Prepared {
    /// A UTXO withdrawal built by [`spend::build`].
    pub fn utxo(signed: &SignedWithdrawal) -> Prepared {
        Prepared {
            txid: signed.txid.clone(),
            raw: signed.hex.clone(),
            fee: Amount::from_base(u128::from(signed.fee)),
            size: i64::try_from(signed.vsize).unwrap_or(i64::MAX),
            consumes: signed
                .plan
                .inputs()
                .iter()
                .map(|u| outpoint(&u.txid.to_string(), u.vout))
                .collect(),
            inputs_json: inputs_json(signed.plan.inputs()),
            change_address: signed.plan.change().map(|c| c.address.clone()),
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
    let amount_units = Amount::from_base(u128::from(amount));
    let (id, done) = submit_prepared(
        st,
        network,
        merchant,
        destination,
        amount_units,
        &Prepared::utxo(signed),
    )
    .await?;
    Ok(withdrawn(id, amount, signed, done))
}

fn withdrawn(
    id: WithdrawalId,
    amount: u64,
    signed: &SignedWithdrawal,
    done: Broadcast,
) -> Withdrawn {
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
