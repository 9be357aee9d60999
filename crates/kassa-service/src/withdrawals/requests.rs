//! Withdrawal requests: what a merchant asks for (in the dashboard, through the API, by a
//! rule), before a transaction exists.
//!
//! [`ask`] checks the destination (per network), the cooling-off of a saved address, what the
//! merchant owes, the network's minimum and the fee (planned over the wallet's outputs as they
//! are now), then in ONE transaction stores the request, moves what it needs (the amount and
//! the quoted fee, or everything available) from the merchant's available balance to their
//! `merchant_withdrawing` account under the journal `withdrawal request <id>`, writes the
//! activity log and — unless it is above the operator's approval amount — enqueues the job
//! that makes it ([`ProcessJob`]).
//!
//! [`process`] (the job): in one transaction, releases the reservation and signs and records
//! the withdrawal exactly as an operator's would be ([`super::record`], which checks balance
//! and debt again), links it to the request, and commits before the node sees it. A
//! watch-only wallet cannot sign: the planned transaction is kept as a PSBT for the operator
//! (`kassa wallet psbt` / `kassa wallet broadcast`, [`broadcast_signed`]) and what it needs
//! stays reserved. While the merchant owes money in the currency, a queued request waits (the
//! job looks again every [`OWED_RECHECK`]). When it cannot be made, or the operator refuses
//! it, the reservation goes back in the transaction that says so.

use std::time::Duration;

use kassa_chain::spend::{self, Destination, Outputs, Payment, Plan, Policy, Utxo};
use kassa_core::currency::{Crypto, Network};
use kassa_core::{Amount, MerchantId, WithdrawalRequestId};
use kassa_store::StoreError;
use kassa_store::ledger::{self, Account, Kind};
use kassa_store::wallets::{self, WalletKind};
use kassa_store::withdrawal_requests::{self as store, NewRequest, RequestRow, Source, Stage};
use rust_decimal::Decimal;
use serde_json::json;

use super::{CONF_TARGET, WithdrawError, in_flight, live, our_outputs, parts};
use crate::Ctx;
use crate::audit::{Actor, Target};
use crate::chains::{LiveChain, WalletError};
use crate::worker::enqueue;

pub use super::process::{
    ProcessHandler, ProcessJob, Processed, approve, broadcast_signed, end, process,
};

/// How often a request waiting for a debt to be covered looks again.
pub const OWED_RECHECK: Duration = Duration::from_secs(15 * 60);

/// How much to withdraw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    /// This much arrives; the network fee comes on top.
    Exact(Amount),
    /// Everything available; the network fee comes out of it.
    Everything,
}

/// A withdrawal to ask for.
#[derive(Clone, Copy)]
pub struct Ask<'a> {
    /// Whose balance pays.
    pub merchant: MerchantId,
    /// The network.
    pub network: &'static Network,
    /// The currency: the network's coin, or a token it takes (see [`super::currencies`]).
    pub currency: &'static Crypto,
    /// The destination, as given.
    pub destination: &'a str,
    /// How much.
    pub amount: Asked,
    /// Who asks.
    pub source: Source,
    /// Who did it, for the activity log (the person in the dashboard; Kassa for a rule).
    pub actor: &'a Actor<'a>,
    /// The rule, for a rule.
    pub rule: Option<i64>,
    /// The saved address chosen, if any.
    pub address: Option<i64>,
}

/// Why a request was not taken. Each names what the person must change.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// The network takes no live payments here.
    #[error("{0} is not available for withdrawals here")]
    NotLive(&'static str),
    /// The destination is not an address of the network.
    #[error("not a {network} address: {reason}")]
    Address {
        /// The network's name.
        network: &'static str,
        /// Why.
        reason: String,
    },
    /// A saved address still in its cooling-off period.
    #[error("this address was saved recently and can be used from {until} (UTC)")]
    CoolingOff {
        /// When it becomes usable.
        until: String,
    },
    /// Nothing to send.
    #[error("enter an amount greater than zero")]
    ZeroAmount,
    /// Below what the network carries.
    #[error("the minimum for this network is {minimum} {currency}")]
    BelowMinimum {
        /// The minimum, as a decimal.
        minimum: String,
        /// The currency code.
        currency: &'static str,
    },
    /// More than is available (with the fee).
    #[error(
        "{needed} {currency} is needed with the network fee; {available} {currency} is available"
    )]
    Insufficient {
        /// Amount and fee.
        needed: String,
        /// Available.
        available: String,
        /// The currency code.
        currency: &'static str,
    },
    /// The merchant owes money in this currency.
    #[error(
        "{owed} {currency} is owed (a payment taken back after it was withdrawn): withdrawals wait until new payments cover it"
    )]
    Owed {
        /// What is owed.
        owed: String,
        /// The currency code.
        currency: &'static str,
    },
    /// The wallet cannot pay it (its outputs, dust, size).
    #[error("{0}")]
    Spend(String),
    /// The network's node does not answer: nothing was taken; the person may try again.
    #[error(
        "the {0} node is not answering right now: nothing was withdrawn; try again in a few minutes"
    )]
    Unavailable(&'static str),
    /// The node or the database failed.
    #[error(transparent)]
    Failed(#[from] WithdrawError),
}

impl From<StoreError> for AskError {
    fn from(e: StoreError) -> Self {
        AskError::Failed(e.into())
    }
}

impl From<ledger::LedgerError> for AskError {
    fn from(e: ledger::LedgerError) -> Self {
        AskError::Failed(e.into())
    }
}

/// What a withdrawal would cost now, for the form.
#[derive(Clone, Debug)]
pub struct Quote {
    /// The merchant's available balance.
    pub available: Amount,
    /// What they owe in the currency.
    pub owed: Amount,
    /// The network fee of a usual withdrawal (one input, two outputs) at the node's fee rate
    /// now: an estimate; the request's plan has the exact one.
    pub fee: Amount,
    /// The most that can arrive with the fee on top.
    pub max: Amount,
    /// The smallest amount the network carries.
    pub minimum: Amount,
    /// Whether the operator must sign each withdrawal (watch-only wallet).
    pub watch_only: bool,
    /// For a token on an EVM network: the gas (in the network's coin, an estimate) the
    /// service pays for it — the merchant pays no network fee in the token.
    pub gas_by_service: Option<Amount>,
}

/// `network`'s live chain, when `c` is withdrawn from it here.
fn withdrawable(
    st: &Ctx,
    network: &'static Network,
    c: &'static Crypto,
) -> Result<std::sync::Arc<LiveChain>, AskError> {
    let chain = live(st, network).map_err(|_| AskError::NotLive(c.code))?;
    if !super::currencies(&chain).iter().any(|x| x.code == c.code) {
        return Err(AskError::NotLive(c.code));
    }
    Ok(chain)
}

/// The smallest amount the network carries: a UTXO network's dust limit (a destination with
/// a costlier output script may need more, which planning says); one base unit elsewhere.
fn minimum(chain: &LiveChain) -> Amount {
    if chain.utxo.is_some() {
        Amount::from_base(u128::from(chain.network.dust.max(1)))
    } else {
        Amount::from_base(1)
    }
}

/// Checks `address` as a destination on `chain`; the trimmed address.
pub fn check_destination(chain: &LiveChain, address: &str) -> Result<String, AskError> {
    let address = address.trim();
    if chain.tron.is_some() {
        return kassa_chain::address::tron::decode(address)
            .map(|b| kassa_chain::address::tron::encode(&b))
            .map_err(|e| AskError::Address {
                network: chain.network.fullname,
                reason: e.to_string(),
            });
    }
    if chain.evm.is_some() {
        return kassa_chain::address::evm::decode(address)
            .map(|b| kassa_chain::address::evm::encode(&b))
            .map_err(|e| AskError::Address {
                network: chain.network.fullname,
                reason: e.to_string(),
            });
    }
    let utxo = parts(chain).map_err(|_| AskError::NotLive(chain.network.code))?;
    Destination::parse(utxo.coin, chain.chain, address)
        .map(|d| d.address().to_owned())
        .map_err(|e| AskError::Address {
            network: chain.network.fullname,
            reason: e.to_string(),
        })
}

pub(super) fn decimal(c: &Crypto, a: Amount) -> String {
    a.to_decimal_string(c.decimals)
}

pub(super) fn merchant_account(
    c: &'static Crypto,
    merchant: MerchantId,
    kind: Kind,
) -> Account<'static> {
    Account {
        kind,
        merchant: Some(merchant),
        currency: c.code,
    }
}

/// The journal a request's reservation is posted under.
pub fn journal(id: WithdrawalRequestId) -> String {
    format!("withdrawal request {id}")
}

/// The wallet's outputs not spent by a withdrawal in flight or a PSBT waiting for its
/// signature, and the node's height.
pub(super) async fn spendable(
    chain: &LiveChain,
    conn: &mut impl kassa_store::AsConn,
) -> Result<(Vec<Utxo>, u64), WithdrawError> {
    let next_index = wallets::get(conn, chain.network.code)
        .await?
        .ok_or(WalletError::Missing(chain.network))?
        .next_index;
    let (utxos, height) = our_outputs(chain, next_index).await?;
    let mut spent = in_flight(conn, chain.network.code).await?;
    for o in store::awaiting_signature_consumes(conn, chain.network.code).await? {
        if let Some((txid, vout)) = o.rsplit_once(':')
            && let Ok(vout) = vout.parse()
        {
            spent.insert((txid.to_owned(), vout));
        }
    }
    Ok((
        utxos
            .into_iter()
            .filter(|u| !spent.contains(&(u.txid.to_string(), u.vout)))
            .collect(),
        height,
    ))
}

pub(super) fn policy(chain: &LiveChain) -> Policy {
    Policy {
        min_confirmations: chain.confirmations.max(1),
        ..Policy::default()
    }
}

/// Plans `outputs` over `utxos` with the watch-only half of the wallet (nothing signed).
async fn plan_with(
    chain: &LiveChain,
    utxos: &[Utxo],
    outputs: Outputs,
    change_index: u32,
    height: u64,
) -> Result<Plan, WithdrawError> {
    let utxo = parts(chain)?;
    let fee_rate = spend::estimate_fee_rate(&utxo.rpc, CONF_TARGET, spend::FeeRate::MIN_RELAY)
        .await?
        .rate;
    let request = spend::Withdrawal {
        outputs,
        fee_rate,
        change_index,
        lock_time: u32::try_from(height).unwrap_or(0),
    };
    Ok(spend::plan(&utxo.wallet, utxos, &request, &policy(chain))?)
}

pub(super) async fn balance(
    conn: &mut impl kassa_store::AsConn,
    c: &Crypto,
    merchant: MerchantId,
    kind: Kind,
) -> Result<Amount, StoreError> {
    Ok(ledger::balances(conn, merchant)
        .await?
        .get(&(kind, c.code.to_owned()))
        .copied()
        .unwrap_or(Amount::ZERO))
}

/// What a withdrawal on `network` costs `merchant` now (see [`Quote`]).
pub async fn quote(
    st: &Ctx,
    merchant: MerchantId,
    network: &'static Network,
    c: &'static Crypto,
) -> Result<Quote, AskError> {
    let chain = withdrawable(st, network, c)?;
    let mut conn = st.db.conn().await?;
    let available = balance(&mut conn, c, merchant, Kind::MerchantAvailable).await?;
    let owed = balance(&mut conn, c, merchant, Kind::MerchantReceivable).await?;
    let minimum = minimum(&chain);
    let watch_only = chain.kind == WalletKind::Watch;
    drop(conn);
    if chain.evm.is_some() || chain.tron.is_some() {
        let fee = super::account_fee(&chain, c, None)
            .await
            .map_err(|e| refusal(&chain, e))?;
        return Ok(Quote {
            available,
            owed,
            fee: fee.merchant,
            max: available.saturating_sub(fee.merchant),
            minimum,
            watch_only,
            gas_by_service: fee.service,
        });
    }
    // An estimate from the node's fee rate for one input and two outputs: a page view does
    // not scan the node's UTXO set (the request's own plan, when it is made, does).
    let rate =
        spend::estimate_fee_rate(&parts(&chain)?.rpc, CONF_TARGET, spend::FeeRate::MIN_RELAY)
            .await
            .map_err(WithdrawError::from)?
            .rate;
    let weight =
        spend::transaction_weight(1, &[spend::P2WPKH_SCRIPT_LEN, spend::P2WPKH_SCRIPT_LEN]);
    let fee = Amount::from_base(u128::from(rate.fee(spend::vsize(weight))));
    Ok(Quote {
        available,
        owed,
        fee,
        max: available.saturating_sub(fee),
        minimum,
        watch_only,
        gas_by_service: None,
    })
}

/// What a person is told when making a withdrawal failed on the way: the node not answering
/// (nothing taken; try again), the wallet unable to pay (never its own figures: the wallet is
/// shared by every merchant), or an internal failure.
fn refusal(chain: &LiveChain, e: WithdrawError) -> AskError {
    match e {
        WithdrawError::Node(_) | WithdrawError::NodeAnswer(_) => {
            AskError::Unavailable(chain.network.fullname)
        }
        WithdrawError::Spend(spend::SpendError::InsufficientFunds { .. }) => AskError::Spend(
            "the wallet cannot pay this amount right now (payments still confirming); try a smaller amount or again later".into(),
        ),
        WithdrawError::Spend(s) => AskError::Spend(s.to_string()),
        other => AskError::Failed(other),
    }
}

/// The USD value of `amount` of `c` at the current rate, to cents, if a rate is known.
pub(super) fn usd_value(st: &Ctx, c: &Crypto, amount: Amount) -> Option<Decimal> {
    let rate = st.pricing.usd(c.symbol, false, st.clock.now()).ok()?;
    crate::objects::usd_value(amount, c, rate.usd)
}

/// A fresh public id: eight characters of the invoice alphabet.
fn public_id() -> String {
    crate::invoices::new_uuid()
}

/// Takes a withdrawal request (see the module docs). The request as stored.
pub async fn ask(st: &Ctx, a: &Ask<'_>) -> Result<RequestRow, AskError> {
    let chain = withdrawable(st, a.network, a.currency)?;
    let c = a.currency;
    let destination = check_destination(&chain, a.destination)?;
    let now = st.clock.now();
    if let Some(saved) = super::addresses::find(
        &mut st.db.conn().await?,
        a.merchant,
        a.network,
        &destination,
    )
    .await?
        && saved.usable_at > now
    {
        return Err(AskError::CoolingOff {
            until: saved.usable_at.iso(),
        });
    }
    let minimum = minimum(&chain);
    let (available, owed) = {
        let mut conn = st.db.conn().await?;
        (
            balance(&mut conn, c, a.merchant, Kind::MerchantAvailable).await?,
            balance(&mut conn, c, a.merchant, Kind::MerchantReceivable).await?,
        )
    };
    if !owed.is_zero() {
        return Err(AskError::Owed {
            owed: decimal(c, owed),
            currency: c.code,
        });
    }
    let asked = match a.amount {
        Asked::Exact(x) => x,
        Asked::Everything => available,
    };
    if asked.is_zero() {
        return Err(match a.amount {
            Asked::Exact(_) => AskError::ZeroAmount,
            Asked::Everything => AskError::Insufficient {
                needed: decimal(c, minimum),
                available: decimal(c, available),
                currency: c.code,
            },
        });
    }
    if asked < minimum {
        return Err(AskError::BelowMinimum {
            minimum: decimal(c, minimum),
            currency: c.code,
        });
    }
    if asked > available {
        return Err(AskError::Insufficient {
            needed: decimal(c, asked),
            available: decimal(c, available),
            currency: c.code,
        });
    }
    let node_down = |e| refusal(&chain, e);
    let fee = if chain.evm.is_some() || chain.tron.is_some() {
        // The fee at today's price (the coin: paid by the merchant; a token: by the service).
        let fee = super::account_fee(&chain, c, Some(&destination))
            .await
            .map_err(node_down)?
            .merchant;
        if a.amount == Asked::Everything && asked <= fee {
            return Err(AskError::Insufficient {
                needed: decimal(c, fee.checked_add(minimum).unwrap_or(fee)),
                available: decimal(c, available),
                currency: c.code,
            });
        }
        fee
    } else {
        let Ok(units) = u64::try_from(asked.base()) else {
            return Err(AskError::Insufficient {
                needed: decimal(c, asked),
                available: decimal(c, available),
                currency: c.code,
            });
        };
        // The fee as the wallet's outputs stand now.
        let (utxos, height) = spendable(&chain, &mut st.db.conn().await?)
            .await
            .map_err(node_down)?;
        let outputs = match a.amount {
            Asked::Exact(_) => Outputs::Pay(vec![Payment {
                address: destination.clone(),
                amount: units,
            }]),
            Asked::Everything => Outputs::PayFeeFromAmount(Payment {
                address: destination.clone(),
                amount: units,
            }),
        };
        let plan = plan_with(&chain, &utxos, outputs, 0, height)
            .await
            .map_err(node_down)?;
        Amount::from_base(u128::from(plan.fee()))
    };
    let reserve = match a.amount {
        Asked::Exact(x) => x.checked_add(fee).unwrap_or(x),
        Asked::Everything => available,
    };
    if reserve > available {
        return Err(AskError::Insufficient {
            needed: decimal(c, reserve),
            available: decimal(c, available),
            currency: c.code,
        });
    }
    let usd = usd_value(st, c, asked);
    let needs_approval = match st.config.withdrawals.approval_above_usd() {
        Ok(Some(limit)) => usd.is_none_or(|v| v > limit),
        _ => false,
    };
    let stage = if needs_approval {
        Stage::Approval
    } else {
        Stage::Queued
    };
    let usd_text = usd.map(|u| u.to_string());
    let public = public_id();
    let mut tx = st.db.begin().await?;
    let id = store::insert(
        &mut tx,
        &NewRequest {
            public_id: &public,
            merchant: a.merchant,
            network: a.network.code,
            currency: c.code,
            destination: &destination,
            amount: asked,
            fee_from_amount: a.amount == Asked::Everything,
            amount_usd: usd_text.as_deref(),
            source: a.source,
            user: a.actor.user,
            rule: a.rule,
            address: a.address,
            stage,
        },
        now,
    )
    .await?;
    let from = merchant_account(c, a.merchant, Kind::MerchantAvailable);
    let to = merchant_account(c, a.merchant, Kind::MerchantWithdrawing);
    match ledger::post(&mut tx, &journal(id), None, &from, &to, reserve, now).await {
        Ok(()) => {}
        Err(ledger::LedgerError::Overdrawn { .. }) => {
            // Another request took the balance meanwhile.
            tx.rollback().await?;
            return Err(AskError::Insufficient {
                needed: decimal(c, reserve),
                available: decimal(c, available),
                currency: c.code,
            });
        }
        Err(e) => return Err(e.into()),
    }
    a.actor
        .record(
            &mut tx,
            a.merchant,
            "withdrawal.requested",
            Target::WithdrawalRequest(&public),
            json!({
                "request": public,
                "network": a.network.code,
                "destination": destination,
                "amount": decimal(c, asked),
                "everything": a.amount == Asked::Everything,
                "fee_quoted": decimal(c, fee),
                "usd": usd_text,
                "source": a.source.as_str(),
                "waits_for_approval": needs_approval,
            }),
            now,
        )
        .await?;
    if stage == Stage::Queued {
        enqueue(&mut tx, &ProcessJob { request: id.get() }, now, now).await?;
    }
    if let Some(row) = store::by_id(&mut tx, id).await? {
        super::notify_withdrawal(&mut tx, &row, "withdrawal.created", None, now).await?;
    }
    tx.commit().await?;
    st.jobs.wake();
    let row = store::by_id(&mut st.db.conn().await?, id)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(row)
}

/// Where a request stands as merchants read it (the CryptoCloud statuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Taken, no transaction on the network yet (waiting for approval, a signature or its
    /// turn).
    Created,
    /// Its transaction is on the network, short of the confirmations.
    Processing,
    /// Confirmed.
    Completed,
    /// Failed or refused; what it held went back.
    Failed,
}

impl Shown {
    /// The status's key (`created`, `processing`, `completed`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Shown::Created => "created",
            Shown::Processing => "processing",
            Shown::Completed => "completed",
            Shown::Failed => "failed",
        }
    }

    /// Where `r` stands.
    pub fn of(r: &RequestRow) -> Shown {
        use kassa_store::withdrawals::WithdrawalState as W;
        match (r.stage, r.tx.as_ref().map(|t| t.state)) {
            // The hot wallet cannot send it yet (EVM): on its way, delayed.
            (Stage::Queued, _) if r.delayed_since.is_some() => Shown::Processing,
            (Stage::Approval | Stage::Queued | Stage::Signature, _) => Shown::Created,
            (Stage::Refused | Stage::Failed, _) => Shown::Failed,
            (Stage::Submitted, Some(W::Confirmed)) => Shown::Completed,
            (Stage::Submitted, Some(W::Failed)) => Shown::Failed,
            (Stage::Submitted, _) => Shown::Processing,
        }
    }
}
