//! Withdrawals from the hot wallet: coin selection, fees, P2WPKH signing, for Bitcoin and
//! Litecoin alike (same transaction format and BIP143 sighash; only addresses differ).
//!
//! Pure: nothing here talks to a node except [`estimate_fee_rate`], and nothing is stored. The
//! caller lists the outputs Kassa owns ([`Utxo`]: outpoint, value, the (branch, index) of the
//! key that owns it, confirmations), says what to pay ([`Withdrawal`]) and gets back a
//! [`SignedWithdrawal`]: the raw transaction, its txid, wtxid, size and fee, and which outputs
//! it spends and creates, for the ledger.
//!
//! Two steps, so that a plan can be shown before anything is signed:
//!
//! - [`plan`] (watch-only wallet): checks the destinations ([`Destination`]), selects inputs
//!   among the confirmed outputs (see [`select`](self#coin-selection)), decides on change and
//!   computes the fee from the exact size of the transaction;
//! - [`sign`] (hot wallet): signs every input (BIP143, SIGHASH_ALL) and verifies the
//!   signatures before returning. [`build`] does both.
//!
//! Without the hot wallet, [`psbt`] exports a plan as a PSBT for the operator's own wallet to
//! sign ([`psbt::unsigned`]) and checks what comes back against it ([`psbt::accept`]).
//!
//! # Amounts and fees
//!
//! Amounts are integer base units (satoshi, litoshi) in `u64`. Fee rates are [`FeeRate`]s in
//! base units per 1000 vB (exact integers, so 1.5 sat/vB is 1500). The fee is
//! `ceil(vsize × rate / 1000)`, where vsize is that of the signed transaction, known before
//! signing because every signature is made exactly 70 bytes long; at a whole number of sat/vB it
//! is exactly `vsize × rate`. The rate used is the one asked, raised to the policy's floor and to
//! the nodes' minimum relay rate of 1 sat/vB, and refused above the policy's maximum.
//!
//! # Coin selection
//!
//! Only outputs with at least [`Policy::min_confirmations`] are spent, and only those worth
//! more than the fee their input adds. Among them, deterministically (the order of the list
//! given does not matter): first a branch-and-bound search for inputs that pay the amount and
//! fee without change, overpaying at most what change would cost; otherwise largest first, with
//! change to the change address `…/1/change_index` (which the caller picks, fresh), unless the
//! change would be below the dust limit, in which case it goes to the fee. With
//! [`Outputs::PayFeeFromAmount`] the recipient pays the fee; [`Outputs::Sweep`] spends every
//! eligible output to one address, fee deducted, without change.
//!
//! # The transaction
//!
//! Version 2; every input signals replace-by-fee (nSequence `0xfffffffd`), so a stuck
//! withdrawal can be bumped; the lock time is the caller's (the current height discourages fee
//! sniping; 0 is fine). Inputs and outputs are in BIP69 order (inputs by outpoint, outputs by
//! value then script), so the change is not always last.

mod destination;
pub mod evm;
pub mod evm_node;
mod fee;
pub mod psbt;
mod select;
mod sign;
pub mod tron;
pub mod tron_node;

use std::collections::HashSet;

pub use bitcoin::Txid;
use bitcoin::consensus::encode::{deserialize, serialize_hex};
use bitcoin::hashes::Hash as _;
use bitcoin::sighash::SighashCache;
use bitcoin::transaction::Version;
use bitcoin::{OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness, absolute};

pub use destination::{Destination, DestinationError, DestinationKind, network_name};
pub use fee::{
    FeeRate, FeeRateChoice, P2WPKH_INPUT_WEIGHT, P2WPKH_SCRIPT_LEN, choose_fee_rate, dust_limit,
    dust_relay_fee, estimate_fee_rate, max_money, output_weight, transaction_weight, vsize,
};
pub use select::BNB_TRIES;
pub use sign::DER_LEN;

use crate::Chain;
use crate::address::utxo::Coin;
use crate::hd::{Branch, HdError, HotWallet, WatchOnlyWallet};
use select::{Selection, Shape, Shortfall};

/// nSequence of every input: signals BIP125 replace-by-fee; relative lock time off.
pub const RBF_SEQUENCE: u32 = 0xffff_fffd;

/// The heaviest transaction the nodes relay (`MAX_STANDARD_TX_WEIGHT`).
pub const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;

/// The most P2WPKH inputs a transaction within [`MAX_STANDARD_TX_WEIGHT`] can have (with
/// room for its outputs); [`Policy::max_inputs`] above it counts as this. It also keeps every
/// sum of values far inside `u64` (1 472 × 84 million LTC).
pub const MAX_STANDARD_INPUTS: usize =
    ((MAX_STANDARD_TX_WEIGHT - 1_000) / P2WPKH_INPUT_WEIGHT) as usize;

/// Lock times from here on are Unix times, not heights; withdrawals use heights only.
pub const LOCKTIME_THRESHOLD: u32 = 500_000_000;

/// An output Kassa owns and may spend: paid to the P2WPKH address at (`branch`, `index`) of
/// the wallet's account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Utxo {
    /// The transaction that created it.
    pub txid: Txid,
    /// Its position in that transaction.
    pub vout: u32,
    /// Its value in base units.
    pub amount: u64,
    /// The branch of the key that owns it.
    pub branch: Branch,
    /// The index of that key in its branch.
    pub index: u32,
    /// Confirmations (0 while unconfirmed).
    pub confirmations: u32,
}

/// An amount to send to an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// The destination as the operator or merchant gave it.
    pub address: String,
    /// Base units.
    pub amount: u64,
}

/// What a withdrawal pays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outputs {
    /// These payments (one or more), the fee on top.
    Pay(Vec<Payment>),
    /// One payment from which the fee is deducted: the recipient gets `amount − fee`.
    PayFeeFromAmount(Payment),
    /// Everything: every eligible output to this address, fee deducted, no change.
    Sweep {
        /// The destination.
        address: String,
    },
}

/// A withdrawal to plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Withdrawal {
    /// What to pay.
    pub outputs: Outputs,
    /// The fee rate asked (see [`estimate_fee_rate`]).
    pub fee_rate: FeeRate,
    /// The change address's index in the change branch: one never used before (not read for a
    /// sweep).
    pub change_index: u32,
    /// nLockTime: a block height (the current one discourages fee sniping) or 0.
    pub lock_time: u32,
}

/// The operator's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Outputs with fewer confirmations are not spent.
    pub min_confirmations: u32,
    /// The lowest fee rate used, whatever is asked.
    pub min_fee_rate: FeeRate,
    /// Asking more than this is refused as a mistake.
    pub max_fee_rate: FeeRate,
    /// The most inputs one transaction may spend (at most [`MAX_STANDARD_INPUTS`]).
    pub max_inputs: usize,
}

impl Default for Policy {
    /// One confirmation; 1 sat/vB to 10 000 sat/vB (the nodes' own `maxfeerate` of 0.1 per
    /// kvB); 500 inputs (135 500 weight units, a third of the relay limit).
    fn default() -> Policy {
        Policy {
            min_confirmations: 1,
            min_fee_rate: FeeRate::MIN_RELAY,
            max_fee_rate: FeeRate::from_sat_per_vb(10_000),
            max_inputs: 500,
        }
    }
}

/// Why a withdrawal cannot be made. Amounts are in base units.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpendError {
    /// [`Outputs::Pay`] with no payments.
    #[error("nothing to pay: a withdrawal needs at least one payment")]
    NoPayments,
    /// A destination that is not an address of the wallet's coin and chain.
    #[error("destination {address}: {error}")]
    Destination {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        error: DestinationError,
    },
    /// A payment below what the nodes relay to that address.
    #[error("{amount} to {address} is below the dust limit of {dust} for that address")]
    BelowDust {
        /// The address.
        address: String,
        /// The amount asked.
        amount: u64,
        /// The smallest amount the nodes relay there.
        dust: u64,
    },
    /// With the fee deducted, too little would be left for the recipient.
    #[error(
        "after the fee of {fee}, {amount} would be left for {address}, below its dust limit of {dust}"
    )]
    BelowDustAfterFee {
        /// The address.
        address: String,
        /// What would be left.
        amount: u64,
        /// The fee.
        fee: u64,
        /// The smallest amount the nodes relay there.
        dust: u64,
    },
    /// More than the coin's total supply.
    #[error("{amount} is more than all the coins there can ever be")]
    AmountTooLarge {
        /// The amount.
        amount: u64,
    },
    /// The confirmed outputs do not cover the payments and the fee.
    #[error(
        "insufficient funds: {missing} missing (needed {needed} including the fee, {available} spendable; {unconfirmed} more awaits confirmation)"
    )]
    InsufficientFunds {
        /// Payments and the fee of a transaction spending every eligible output.
        needed: u64,
        /// The value of the eligible outputs.
        available: u64,
        /// `needed − available`.
        missing: u64,
        /// The value of outputs not spent for lack of confirmations.
        unconfirmed: u64,
    },
    /// Enough funds, but spread over more outputs than one transaction may spend.
    #[error(
        "this withdrawal needs {needed} inputs, more than the {max} one transaction may spend; send less, or consolidate first"
    )]
    TooManyInputs {
        /// The inputs needed.
        needed: usize,
        /// [`Policy::max_inputs`] (or [`MAX_STANDARD_INPUTS`] if lower).
        max: usize,
    },
    /// A fee rate above [`Policy::max_fee_rate`].
    #[error("a fee rate of {rate} is above the maximum of {max}")]
    FeeRateTooHigh {
        /// The rate asked (or the floor, if that is what is too high).
        rate: FeeRate,
        /// The maximum.
        max: FeeRate,
    },
    /// Heavier than the nodes relay.
    #[error("the transaction would weigh {weight} weight units, more than the 400000 nodes relay")]
    TooLarge {
        /// Its weight.
        weight: u64,
    },
    /// The same outpoint listed twice among the outputs.
    #[error("output {txid}:{vout} is listed twice")]
    DuplicateOutput {
        /// Its transaction.
        txid: Txid,
        /// Its index.
        vout: u32,
    },
    /// A lock time that is not a block height.
    #[error("lock time {0} is not a block height")]
    LockTime(u32),
    /// A key could not be derived.
    #[error("key derivation: {0}")]
    Key(#[from] HdError),
    /// The plan is for another coin, chain or account than the wallet signing it.
    #[error("this withdrawal was planned for another wallet")]
    WrongWallet,
    /// Signing or the check of the signatures failed (a bug, never expected).
    #[error("signing failed: {0}")]
    Signing(String),
}

/// What an output of the transaction is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputRole {
    /// The payment at this position in the request (0 for a fee-from-amount payment or a
    /// sweep).
    Payment(usize),
    /// Change to `…/1/index`.
    Change(u32),
}

/// An output of a planned transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedOutput {
    /// Its index in the transaction.
    pub vout: u32,
    /// Base units.
    pub amount: u64,
    /// The address (for change, Kassa's own).
    pub address: String,
    /// The output script.
    pub script_pubkey: ScriptBuf,
    /// Payment or change.
    pub role: OutputRole,
}

/// A withdrawal's unsigned transaction with everything the ledger needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    coin: Coin,
    chain: Chain,
    inputs: Vec<Utxo>,
    key_hashes: Vec<[u8; 20]>,
    outputs: Vec<PlannedOutput>,
    fee: u64,
    fee_rate: FeeRate,
    weight: u64,
    tx: Transaction,
}

impl Plan {
    /// The coin.
    pub fn coin(&self) -> Coin {
        self.coin
    }

    /// The chain.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The outputs spent, in the transaction's input order.
    pub fn inputs(&self) -> &[Utxo] {
        &self.inputs
    }

    /// The outputs created, in order (`vout` 0, 1, …).
    pub fn outputs(&self) -> &[PlannedOutput] {
        &self.outputs
    }

    /// The change output, if any.
    pub fn change(&self) -> Option<&PlannedOutput> {
        self.outputs
            .iter()
            .find(|o| matches!(o.role, OutputRole::Change(_)))
    }

    /// The output of the payment at `index` in the request.
    pub fn payment(&self, index: usize) -> Option<&PlannedOutput> {
        self.outputs
            .iter()
            .find(|o| o.role == OutputRole::Payment(index))
    }

    /// The fee: inputs minus outputs.
    pub fn fee(&self) -> u64 {
        self.fee
    }

    /// The fee rate the fee was computed at (the one asked, raised to the floors).
    pub fn fee_rate(&self) -> FeeRate {
        self.fee_rate
    }

    /// The weight of the signed transaction.
    pub fn weight(&self) -> u64 {
        self.weight
    }

    /// The virtual size of the signed transaction.
    pub fn vsize(&self) -> u64 {
        vsize(self.weight)
    }

    /// The sum of the inputs.
    pub fn input_total(&self) -> u64 {
        self.inputs.iter().map(|u| u.amount).sum()
    }

    /// The unsigned transaction.
    pub fn unsigned_transaction(&self) -> &Transaction {
        &self.tx
    }
}

/// A signed withdrawal, ready for `sendrawtransaction`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedWithdrawal {
    /// What it spends and creates.
    pub plan: Plan,
    /// The serialized transaction (hex), with witnesses.
    pub hex: String,
    /// The transaction id.
    pub txid: String,
    /// The witness transaction id.
    pub wtxid: String,
    /// Its weight.
    pub weight: u64,
    /// Its virtual size.
    pub vsize: u64,
    /// The fee paid.
    pub fee: u64,
    /// The transaction.
    pub transaction: Transaction,
}

/// Plans `request` over `utxos` for the account of `wallet` (see the module docs).
pub fn plan(
    wallet: &WatchOnlyWallet,
    utxos: &[Utxo],
    request: &Withdrawal,
    policy: &Policy,
) -> Result<Plan, SpendError> {
    let (coin, chain) = (wallet.coin(), wallet.chain());
    let max_inputs = policy.max_inputs.min(MAX_STANDARD_INPUTS);
    let rate = request
        .fee_rate
        .max(policy.min_fee_rate)
        .max(FeeRate::MIN_RELAY);
    if rate > policy.max_fee_rate {
        return Err(SpendError::FeeRateTooHigh {
            rate,
            max: policy.max_fee_rate,
        });
    }
    if request.lock_time >= LOCKTIME_THRESHOLD {
        return Err(SpendError::LockTime(request.lock_time));
    }

    // Destinations and amounts.
    let requested: Vec<&Payment>;
    let sweep_payment;
    match &request.outputs {
        Outputs::Pay(list) => {
            if list.is_empty() {
                return Err(SpendError::NoPayments);
            }
            requested = list.iter().collect();
        }
        Outputs::PayFeeFromAmount(payment) => requested = vec![payment],
        Outputs::Sweep { address } => {
            sweep_payment = Payment {
                address: address.clone(),
                amount: 0,
            };
            requested = vec![&sweep_payment];
        }
    }
    let sweeping = matches!(request.outputs, Outputs::Sweep { .. });
    let mut destinations = Vec::with_capacity(requested.len());
    let mut total = 0u64;
    for payment in &requested {
        let destination = Destination::parse(coin, chain, &payment.address).map_err(|error| {
            SpendError::Destination {
                address: payment.address.clone(),
                error,
            }
        })?;
        if payment.amount > max_money(coin) {
            return Err(SpendError::AmountTooLarge {
                amount: payment.amount,
            });
        }
        let dust = destination.dust_limit(coin);
        if !sweeping && payment.amount < dust {
            return Err(SpendError::BelowDust {
                address: payment.address.clone(),
                amount: payment.amount,
                dust,
            });
        }
        total = total
            .checked_add(payment.amount)
            .filter(|&t| t <= max_money(coin))
            .ok_or(SpendError::AmountTooLarge { amount: u64::MAX })?;
        destinations.push(destination);
    }

    // Candidates: confirmed, worth spending, largest first, ties by outpoint.
    let shape = Shape {
        rate,
        payment_script_lens: destinations
            .iter()
            .map(|d| d.script_pubkey().len() as u64)
            .collect(),
        change_dust: dust_limit(coin, sign::p2wpkh_script([0; 20]).as_bytes()),
        max_inputs,
    };
    let mut seen = HashSet::with_capacity(utxos.len());
    let mut unconfirmed = 0u64;
    let mut candidates = Vec::with_capacity(utxos.len());
    for utxo in utxos {
        if !seen.insert((utxo.txid, utxo.vout)) {
            return Err(SpendError::DuplicateOutput {
                txid: utxo.txid,
                vout: utxo.vout,
            });
        }
        if utxo.amount > max_money(coin) {
            return Err(SpendError::AmountTooLarge {
                amount: utxo.amount,
            });
        }
        if utxo.confirmations < policy.min_confirmations {
            unconfirmed = unconfirmed.saturating_add(utxo.amount);
        } else if shape.economic(utxo.amount) {
            candidates.push(utxo);
        }
    }
    candidates.sort_by(|a, b| {
        b.amount
            .cmp(&a.amount)
            .then_with(|| outpoint_order(a).cmp(&outpoint_order(b)))
    });
    let values: Vec<u64> = candidates.iter().map(|u| u.amount).collect();

    let selection = match &request.outputs {
        Outputs::Pay(_) => select::pay(&values, total, &shape),
        Outputs::PayFeeFromAmount(_) => select::pay_fee_from_amount(&values, total, &shape),
        Outputs::Sweep { .. } => select::sweep(&values, &shape),
    }
    .map_err(|shortfall| match shortfall {
        Shortfall::Insufficient { needed, available } => SpendError::InsufficientFunds {
            needed,
            available,
            missing: needed.saturating_sub(available),
            unconfirmed,
        },
        Shortfall::TooManyInputs { needed } => SpendError::TooManyInputs {
            needed,
            max: max_inputs,
        },
    })?;
    let Selection {
        inputs: chosen,
        change,
        fee,
    } = selection;
    let mut inputs: Vec<Utxo> = chosen.iter().map(|&i| candidates[i].clone()).collect();
    let input_total: u64 = inputs.iter().map(|u| u.amount).sum();

    // What each payment output carries.
    let amounts: Vec<u64> = if matches!(request.outputs, Outputs::Pay(_)) {
        requested.iter().map(|p| p.amount).collect()
    } else {
        let left = input_total
            .checked_sub(fee)
            .and_then(|l| l.checked_sub(change.unwrap_or(0)));
        let dust = destinations[0].dust_limit(coin);
        match left {
            Some(amount) if amount >= dust => vec![amount],
            _ => {
                return Err(SpendError::BelowDustAfterFee {
                    address: requested[0].address.clone(),
                    amount: left.unwrap_or(0),
                    fee,
                    dust,
                });
            }
        }
    };

    // Outputs in BIP69 order: value, then script.
    let mut outputs: Vec<PlannedOutput> = destinations
        .iter()
        .zip(&amounts)
        .enumerate()
        .map(|(i, (destination, &amount))| PlannedOutput {
            vout: 0,
            amount,
            address: destination.address().to_owned(),
            script_pubkey: destination.script_pubkey().clone(),
            role: OutputRole::Payment(i),
        })
        .collect();
    if let Some(amount) = change {
        let key_hash = wallet.key_hash(Branch::Change, request.change_index)?;
        outputs.push(PlannedOutput {
            vout: 0,
            amount,
            address: wallet.address(Branch::Change, request.change_index)?,
            script_pubkey: sign::p2wpkh_script(key_hash),
            role: OutputRole::Change(request.change_index),
        });
    }
    outputs.sort_by(|a, b| {
        (a.amount, a.script_pubkey.as_bytes()).cmp(&(b.amount, b.script_pubkey.as_bytes()))
    });
    for (vout, output) in outputs.iter_mut().enumerate() {
        output.vout = u32::try_from(vout).map_err(|_| SpendError::TooLarge { weight: u64::MAX })?;
    }

    // Inputs in BIP69 order: outpoint.
    inputs.sort_by_key(outpoint_order);
    let key_hashes = inputs
        .iter()
        .map(|u| wallet.key_hash(u.branch, u.index))
        .collect::<Result<Vec<_>, _>>()?;

    let output_total: u64 = outputs.iter().map(|o| o.amount).sum();
    if input_total.checked_sub(output_total) != Some(fee) {
        return Err(SpendError::Signing(format!(
            "inputs {input_total} − outputs {output_total} is not the fee {fee}"
        )));
    }
    let weight = shape.weight(inputs.len(), change.is_some());
    if weight > MAX_STANDARD_TX_WEIGHT {
        return Err(SpendError::TooLarge { weight });
    }
    let tx = Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::from_consensus(request.lock_time),
        input: inputs
            .iter()
            .map(|u| TxIn {
                previous_output: OutPoint::new(u.txid, u.vout),
                script_sig: ScriptBuf::new(),
                sequence: Sequence(RBF_SEQUENCE),
                witness: Witness::new(),
            })
            .collect(),
        output: outputs
            .iter()
            .map(|o| TxOut {
                value: bitcoin::Amount::from_sat(o.amount),
                script_pubkey: o.script_pubkey.clone(),
            })
            .collect(),
    };
    Ok(Plan {
        coin,
        chain,
        inputs,
        key_hashes,
        outputs,
        fee,
        fee_rate: rate,
        weight,
        tx,
    })
}

/// BIP69's order of outpoints: the txid as it is displayed (byte-reversed), then the index.
fn outpoint_order(utxo: &Utxo) -> ([u8; 32], u32) {
    let mut txid = utxo.txid.to_byte_array();
    txid.reverse();
    (txid, utxo.vout)
}

/// Signs a plan with the hot wallet whose watch-only half planned it, then checks the result:
/// every signature verifies against its input's digest and key, the keys are the spent outputs',
/// the size is the planned one (or smaller) and the fee is what was planned.
pub fn sign(wallet: &HotWallet, plan: Plan) -> Result<SignedWithdrawal, SpendError> {
    let watch = wallet.watch_only();
    if watch.coin() != plan.coin || watch.chain() != plan.chain {
        return Err(SpendError::WrongWallet);
    }
    let keys = plan
        .inputs
        .iter()
        .map(|u| wallet.signing_key(u.branch, u.index))
        .collect::<Result<Vec<_>, _>>()?;
    if keys
        .iter()
        .zip(&plan.key_hashes)
        .any(|(key, hash)| key.key_hash() != *hash)
    {
        return Err(SpendError::WrongWallet);
    }
    let prevouts: Vec<([u8; 20], u64)> = plan
        .key_hashes
        .iter()
        .zip(&plan.inputs)
        .map(|(hash, u)| (*hash, u.amount))
        .collect();
    let digests = {
        let mut cache = SighashCache::new(&plan.tx);
        prevouts
            .iter()
            .enumerate()
            .map(|(i, &(hash, value))| sign::sighash(&mut cache, i, hash, value))
            .collect::<Result<Vec<_>, _>>()
            .map_err(SpendError::Signing)?
    };
    let mut tx = plan.tx.clone();
    for ((input, key), digest) in tx.input.iter_mut().zip(&keys).zip(digests) {
        input.witness = sign::witness(sign::sign(key, digest), &key.public_key());
    }
    drop(keys);

    sign::verify(&tx, &prevouts).map_err(SpendError::Signing)?;
    let weight = tx.weight().to_wu();
    if weight > plan.weight {
        return Err(SpendError::Signing(format!(
            "the signed transaction weighs {weight}, more than the {} planned",
            plan.weight
        )));
    }
    let output_total: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    if plan.input_total().checked_sub(output_total) != Some(plan.fee) {
        return Err(SpendError::Signing("the fee is not the planned one".into()));
    }
    let hex = serialize_hex(&tx);
    let round_trip: Result<Transaction, _> = hex::decode(&hex)
        .map_err(|e| e.to_string())
        .and_then(|bytes| deserialize(&bytes).map_err(|e| e.to_string()));
    if round_trip.as_ref() != Ok(&tx) {
        return Err(SpendError::Signing(
            "the serialized transaction does not read back".into(),
        ));
    }
    Ok(SignedWithdrawal {
        hex,
        txid: tx.compute_txid().to_string(),
        wtxid: tx.compute_wtxid().to_string(),
        weight,
        vsize: vsize(weight),
        fee: plan.fee,
        plan,
        transaction: tx,
    })
}

/// [`plan`] with the hot wallet's watch-only half, then [`sign`].
pub fn build(
    wallet: &HotWallet,
    utxos: &[Utxo],
    request: &Withdrawal,
    policy: &Policy,
) -> Result<SignedWithdrawal, SpendError> {
    sign(wallet, plan(wallet.watch_only(), utxos, request, policy)?)
}

#[cfg(test)]
mod tests;
