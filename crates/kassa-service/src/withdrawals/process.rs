//! Making a withdrawal request: the `withdrawal.process` job ([`process`]) releases the
//! reservation and signs and records the withdrawal in one transaction (or keeps a PSBT for a
//! watch-only wallet's operator), the operator's approval and refusal ([`approve`], [`end`]),
//! and the operator's signed PSBT handed back ([`broadcast_signed`]). See
//! [`super::requests`] for how a request is taken.

use std::time::Duration;

use kassa_chain::spend::{self, Destination, Outputs, Payment};
use kassa_core::currency::Crypto;
use kassa_core::retry::RetryPolicy;
use kassa_core::{Amount, Timestamp, WithdrawalId, WithdrawalRequestId};
use kassa_store::ledger::{self, Account, Kind};
use kassa_store::wallets::{self, WalletKind};
use kassa_store::withdrawal_requests::{self as store, RequestRow, Stage};
use kassa_store::{StoreError, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::requests::{
    OWED_RECHECK, balance, decimal, journal, merchant_account, policy, spendable,
};
use super::{CONF_TARGET, Order, Prepared, WithdrawError, live, parts, record};
use crate::Ctx;
use crate::audit::{Actor, Target};
use crate::chains::{self, WalletError};
use crate::worker::{BoxFuture, Job, JobContext, JobError, JobHandler, enqueue};

/// How often a request waiting for the hot wallet (delayed) looks again.
pub const RETRY: Duration = Duration::from_secs(60);

/// Why an account network's request cannot be made now: it waits (delayed), or it never can
/// (failed).
pub(super) enum Hold {
    Delay(String),
    Fail(String),
}

/// `v` base units of `c` as people read them: `12.5 USDT_TRC20`.
pub(super) fn text(c: &Crypto, v: u128) -> String {
    format!(
        "{} {}",
        Amount::from_base(v).to_decimal_string(c.decimals),
        c.code
    )
}

/// The wait while the treasury holds `have` of `c` free and a request needs `need`.
pub(super) fn gathering(c: &Crypto, have: u128, need: u128) -> Hold {
    Hold::Delay(format!(
        "the hot wallet holds {} free and this needs {}: payments are still being swept into it",
        text(c, have),
        text(c, need)
    ))
}

/// Queued request `id` for `c`, about to be made on `chain` (an account network); or what
/// was done instead: nothing (not queued any more), or failed (`c` is not withdrawn there).
pub(super) async fn queued(
    st: &Ctx,
    chain: &chains::LiveChain,
    c: &Crypto,
    id: WithdrawalRequestId,
) -> Result<Result<RequestRow, Processed>, WithdrawError> {
    let Some(r) = store::by_id(&mut st.db.conn().await?, id).await? else {
        return Ok(Err(Processed::Nothing));
    };
    if r.stage != Stage::Queued {
        return Ok(Err(Processed::Nothing));
    }
    if !super::currencies(chain).iter().any(|x| x.code == c.code) {
        let why = format!(
            "{} is not withdrawn from this network here (a watch-only wallet, or a token no longer allowed)",
            c.code
        );
        end(st, id, Stage::Queued, Stage::Failed, &why, Actor::kassa()).await?;
        return Ok(Err(Processed::Failed(why)));
    }
    Ok(Ok(r))
}

/// Keeps queued request `r` waiting for the hot wallet: reserved, marked delayed with `why`
/// (the operator told the first time), looked at again in [`RETRY`].
pub(super) async fn delay(st: &Ctx, r: &RequestRow, why: &str) -> Result<Processed, WithdrawError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if store::set_delayed(&mut tx, r.id, why, now).await? {
        crate::notify::operator::hot_wallet_waits(&mut tx, st, &r.network, why).await?;
        Actor::kassa()
            .record(
                &mut tx,
                r.merchant,
                "withdrawal.delayed",
                Target::WithdrawalRequest(&r.public_id),
                json!({"request": r.public_id, "why": why}),
                now,
            )
            .await?;
    }
    enqueue(
        &mut tx,
        &ProcessJob {
            request: r.id.get(),
        },
        now.saturating_add(RETRY),
        now,
    )
    .await?;
    tx.commit().await?;
    st.jobs.wake();
    tracing::warn!(request = %r.public_id, network = %r.network, why, "withdrawal delayed");
    Ok(Processed::Delayed(why.to_owned()))
}

/// Records the withdrawal that makes request `r` — `arrives` of `c`, as `prepared` — and its
/// audit entry, in `tx`; `Err(why)` when the merchant's balance no longer covers it (the
/// caller gives the request up with `why`).
#[allow(clippy::too_many_arguments)]
pub(super) async fn record_request(
    st: &Ctx,
    tx: &mut Tx,
    chain: &chains::LiveChain,
    c: &'static Crypto,
    r: &RequestRow,
    arrives: Amount,
    prepared: &Prepared,
    now: Timestamp,
) -> Result<Result<WithdrawalId, String>, WithdrawError> {
    let order = Order {
        merchant: r.merchant,
        destination: &r.destination,
        currency: c,
        amount: arrives,
        request: Some((r.id, Stage::Queued)),
    };
    let withdrawal = match record(tx, &st.metrics, chain, &order, prepared, now).await {
        Ok(w) => w,
        Err(e @ (WithdrawError::InsufficientBalance { .. } | WithdrawError::Owed { .. })) => {
            return Ok(Err(e.to_string()));
        }
        Err(e) => return Err(e),
    };
    Actor::kassa()
        .record(
            tx,
            r.merchant,
            "withdrawal.submitted",
            Target::WithdrawalRequest(&r.public_id),
            json!({"request": r.public_id, "withdrawal": withdrawal, "txid": prepared.txid}),
            now,
        )
        .await?;
    Ok(Ok(withdrawal))
}

/// What is reserved for request `r` now (its journal's net move into withdrawing).
async fn reserved(tx: &mut Tx, r: &RequestRow) -> Result<Amount, WithdrawError> {
    let name = journal(r.id);
    let net = ledger::net_postings(tx, ledger::Postings::Journals(&[name.as_str()])).await?;
    let moved = net
        .get(&(Kind::MerchantAvailable, Kind::MerchantWithdrawing))
        .copied()
        .unwrap_or(0);
    Ok(Amount::from_base(u128::try_from(moved).unwrap_or(0)))
}

/// Gives back to the available balance what is reserved for `r`, in `tx`.
pub(super) async fn release(
    tx: &mut Tx,
    r: &RequestRow,
    now: Timestamp,
) -> Result<Amount, WithdrawError> {
    let held = reserved(tx, r).await?;
    let acct = |kind| Account {
        kind,
        merchant: Some(r.merchant),
        currency: r.currency.as_str(),
    };
    ledger::post(
        tx,
        &journal(r.id),
        None,
        &acct(Kind::MerchantWithdrawing),
        &acct(Kind::MerchantAvailable),
        held,
        now,
    )
    .await?;
    Ok(held)
}

/// Ends request `id` (in stage `from`) as `to` (failed or refused) with `why`, its
/// reservation returned, in one transaction. False when it was not in `from`.
pub async fn end(
    st: &Ctx,
    id: WithdrawalRequestId,
    from: Stage,
    to: Stage,
    why: &str,
    actor: Actor<'_>,
) -> Result<bool, WithdrawError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(r) = store::by_id(&mut tx, id).await? else {
        return Ok(false);
    };
    if !store::advance(&mut tx, id, from, to, Some(why), now).await? {
        return Ok(false);
    }
    let returned = release(&mut tx, &r, now).await?;
    super::notify_withdrawal(&mut tx, &r, "withdrawal.failed", Some(why), now).await?;
    actor
        .record(
            &mut tx,
            r.merchant,
            if to == Stage::Refused {
                "withdrawal.refused"
            } else {
                "withdrawal.failed"
            },
            Target::WithdrawalRequest(&r.public_id),
            json!({"request": r.public_id, "why": why, "returned": returned.base().to_string()}),
            now,
        )
        .await?;
    tx.commit().await?;
    tracing::warn!(request = %r.public_id, network = %r.network, why, "withdrawal request ended; reservation returned");
    Ok(true)
}

/// The operator approves request `public_id` (waiting for approval): it is queued.
pub async fn approve(st: &Ctx, public_id: &str) -> Result<RequestRow, WithdrawError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let r = store::by_public_id(&mut tx, public_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if !store::advance(&mut tx, r.id, Stage::Approval, Stage::Queued, None, now).await? {
        return Err(WithdrawError::NodeAnswer(format!(
            "withdrawal WD-{} is {}, not waiting for approval",
            r.public_id,
            r.stage.as_str()
        )));
    }
    Actor::operator()
        .record(
            &mut tx,
            r.merchant,
            "withdrawal.approved",
            Target::WithdrawalRequest(&r.public_id),
            json!({"request": r.public_id}),
            now,
        )
        .await?;
    enqueue(
        &mut tx,
        &ProcessJob {
            request: r.id.get(),
        },
        now,
        now,
    )
    .await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(store::by_id(&mut st.db.conn().await?, r.id)
        .await?
        .ok_or(StoreError::NotFound)?)
}

/// What [`process`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Processed {
    /// Nothing to do (not queued).
    Nothing,
    /// Signed, recorded and handed to the node.
    Submitted,
    /// Waiting for the operator's signature.
    AwaitingSignature,
    /// Waiting for a debt to be covered.
    Waiting,
    /// Waiting for the hot wallet (EVM: short of gas, funds not swept in yet): why.
    Delayed(String),
    /// Could not be made; the reservation went back.
    Failed(String),
}

/// Drops what `tx` did and ends queued request `id` as failed with `why`, its reservation
/// returned.
pub(super) async fn give_up(
    st: &Ctx,
    tx: Tx,
    id: WithdrawalRequestId,
    why: String,
) -> Result<Processed, WithdrawError> {
    tx.rollback().await?;
    end(st, id, Stage::Queued, Stage::Failed, &why, Actor::kassa()).await?;
    Ok(Processed::Failed(why))
}

/// Whether request `r` waits because its merchant owes money in `c`: then, in `tx`, it says so
/// and its job looks again after [`OWED_RECHECK`].
pub(super) async fn waits_for_debt(
    tx: &mut Tx,
    c: &Crypto,
    r: &RequestRow,
    now: Timestamp,
) -> Result<bool, WithdrawError> {
    let owed = balance(tx, c, r.merchant, Kind::MerchantReceivable).await?;
    if owed.is_zero() {
        return Ok(false);
    }
    let note = format!(
        "waiting: {} {} is owed and must be covered by new payments first",
        decimal(c, owed),
        c.code
    );
    store::set_note(tx, r.id, Some(&note), now).await?;
    enqueue(
        tx,
        &ProcessJob {
            request: r.id.get(),
        },
        now.saturating_add(OWED_RECHECK),
        now,
    )
    .await?;
    Ok(true)
}

/// Opens the transaction that makes queued request `id` in `c`, with the request as it reads
/// there; or what [`process`] answers when it is gone, no longer queued, or waits for a debt
/// (said and committed).
pub(super) async fn begin_making(
    st: &Ctx,
    c: &Crypto,
    id: WithdrawalRequestId,
    now: Timestamp,
) -> Result<Result<(Tx, RequestRow), Processed>, WithdrawError> {
    let mut tx = st.db.begin().await?;
    let Some(r) = store::by_id(&mut tx, id).await? else {
        return Ok(Err(Processed::Nothing));
    };
    if r.stage != Stage::Queued {
        return Ok(Err(Processed::Nothing));
    }
    if waits_for_debt(&mut tx, c, &r, now).await? {
        tx.commit().await?;
        return Ok(Err(Processed::Waiting));
    }
    Ok(Ok((tx, r)))
}

/// Makes queued request `id` (see the module docs).
pub async fn process(st: &Ctx, id: WithdrawalRequestId) -> Result<Processed, WithdrawError> {
    let Some(r) = store::by_id(&mut st.db.conn().await?, id).await? else {
        return Ok(Processed::Nothing);
    };
    if r.stage != Stage::Queued {
        return Ok(Processed::Nothing);
    }
    let Some(network) = kassa_core::currency::network(&r.network) else {
        let why = format!("{} is not a network Kassa knows", r.network);
        end(st, id, Stage::Queued, Stage::Failed, &why, Actor::kassa()).await?;
        return Ok(Processed::Failed(why));
    };
    let chain = match live(st, network) {
        Ok(c) => c,
        Err(e) => {
            // The operator turned the network off: the request waits for it.
            store::set_note(
                &mut st.db.conn().await?,
                id,
                Some(&e.to_string()),
                st.clock.now(),
            )
            .await?;
            return Err(e);
        }
    };
    let Some(c) = kassa_core::currency::crypto(&r.currency) else {
        let why = format!("{} is not a currency Kassa knows", r.currency);
        end(st, id, Stage::Queued, Stage::Failed, &why, Actor::kassa()).await?;
        return Ok(Processed::Failed(why));
    };
    if chain.evm.is_some() {
        return super::evm::process(st, &chain, c, id).await;
    }
    if chain.tron.is_some() {
        return super::tron::process(st, &chain, c, id).await;
    }
    let (utxos, height) = spendable(&chain, &mut st.db.conn().await?).await?;
    let fee_rate =
        spend::estimate_fee_rate(&parts(&chain)?.rpc, CONF_TARGET, spend::FeeRate::MIN_RELAY)
            .await?
            .rate;
    let hot = if chain.kind == WalletKind::Hot {
        Some(chains::hot_wallet(&st.db, &st.keyring, network).await?)
    } else {
        None
    };

    let now = st.clock.now();
    let (mut tx, r) = match begin_making(st, c, id, now).await? {
        Ok(open) => open,
        Err(done) => return Ok(done),
    };
    let held = release(&mut tx, &r, now).await?;
    let change_index = wallets::take_next_index(&mut tx, network.code, now)
        .await?
        .ok_or(WalletError::Missing(network))?;
    let change_index = u32::try_from(change_index)
        .map_err(|_| WithdrawError::NodeAnswer("the wallet's counter is exhausted".into()))?;
    // Sending everything: what was reserved, the fee out of it.
    let outputs = if r.fee_from_amount {
        Outputs::PayFeeFromAmount(Payment {
            address: r.destination.clone(),
            amount: u64::try_from(held.base()).unwrap_or(u64::MAX),
        })
    } else {
        Outputs::Pay(vec![Payment {
            address: r.destination.clone(),
            amount: u64::try_from(r.amount.base()).unwrap_or(u64::MAX),
        }])
    };
    let request = spend::Withdrawal {
        outputs,
        fee_rate,
        change_index,
        lock_time: u32::try_from(height).unwrap_or(0),
    };
    let utxo = parts(&chain)?;
    let plan = match spend::plan(&utxo.wallet, &utxos, &request, &policy(&chain)) {
        Ok(p) => p,
        Err(e) => {
            return give_up(st, tx, id, e.to_string()).await;
        }
    };
    let arrives = Amount::from_base(u128::from(plan.payment(0).map_or(0, |p| p.amount)));
    let Some(hot) = hot else {
        // Watch-only: keep the plan for the operator's signature; amount and fee stay
        // reserved.
        let psbt = match spend::psbt::unsigned(&utxo.wallet, &plan) {
            Ok(p) => p,
            Err(e) => {
                return give_up(st, tx, id, e.to_string()).await;
            }
        };
        let fee = Amount::from_base(u128::from(plan.fee()));
        let needed = arrives.checked_add(fee).unwrap_or(arrives);
        let from = merchant_account(c, r.merchant, Kind::MerchantAvailable);
        let to = merchant_account(c, r.merchant, Kind::MerchantWithdrawing);
        if let Err(e) = ledger::post(&mut tx, &journal(id), None, &from, &to, needed, now).await {
            let why = match e {
                ledger::LedgerError::Overdrawn { .. } => format!(
                    "the network fee rose: {} {} is needed with it",
                    decimal(c, needed),
                    c.code
                ),
                other => return Err(other.into()),
            };
            return give_up(st, tx, id, why).await;
        }
        let consumes: Vec<String> = plan
            .inputs()
            .iter()
            .map(|u| kassa_chain::watch::utxo::outpoint(&u.txid.to_string(), u.vout))
            .collect();
        store::await_signature(&mut tx, id, fee, &psbt, &consumes, now).await?;
        Actor::kassa()
            .record(
                &mut tx,
                r.merchant,
                "withdrawal.awaiting_signature",
                Target::WithdrawalRequest(&r.public_id),
                json!({"request": r.public_id, "fee": decimal(c, fee)}),
                now,
            )
            .await?;
        tx.commit().await?;
        tracing::info!(request = %r.public_id, network = network.code, "withdrawal waits for the operator's signature (watch-only wallet): kassa wallet psbt");
        return Ok(Processed::AwaitingSignature);
    };
    let signed = match spend::sign(&hot, plan) {
        Ok(s) => s,
        Err(e) => {
            return give_up(st, tx, id, e.to_string()).await;
        }
    };
    drop(hot);
    let prepared = Prepared::utxo(&signed);
    let withdrawal =
        match record_request(st, &mut tx, &chain, c, &r, arrives, &prepared, now).await? {
            Ok(w) => w,
            Err(why) => return give_up(st, tx, id, why).await,
        };
    tx.commit().await?;
    super::broadcast(st, &chain, withdrawal, &signed.hex).await?;
    Ok(Processed::Submitted)
}

/// The operator hands back the signed transaction of request `public_id` (waiting for its
/// signature): a PSBT or a raw transaction, which must pay exactly what the PSBT asked
/// (see [`spend::psbt::accept`]). Records it like any withdrawal and hands it to the node.
pub async fn broadcast_signed(
    st: &Ctx,
    public_id: &str,
    signed: &str,
) -> Result<(RequestRow, kassa_chain::watch::Broadcast), WithdrawError> {
    let r = store::by_public_id(&mut st.db.conn().await?, public_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let (Stage::Signature, Some(psbt)) = (r.stage, r.psbt.as_deref()) else {
        return Err(WithdrawError::NodeAnswer(format!(
            "withdrawal WD-{} is {}, not waiting for a signature",
            r.public_id,
            r.stage.as_str()
        )));
    };
    let accepted = spend::psbt::accept(psbt, signed)
        .map_err(|e| WithdrawError::NodeAnswer(format!("the signed transaction: {e}")))?;
    let network = kassa_core::currency::network(&r.network)
        .ok_or_else(|| WithdrawError::NodeAnswer(format!("unknown network {}", r.network)))?;
    let chain = live(st, network)?;
    let arrives = accepted
        .transaction
        .output
        .iter()
        .find(|o| {
            Destination::parse(
                parts(&chain).map_or(kassa_chain::hd::Coin::Bitcoin, |u| u.coin),
                chain.chain,
                &r.destination,
            )
            .is_ok_and(|d| d.script_pubkey() == &o.script_pubkey)
        })
        .map_or(0, |o| o.value.to_sat());
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    release(&mut tx, &r, now).await?;
    let inputs: Vec<serde_json::Value> = r
        .consumes
        .iter()
        .filter_map(|o| o.rsplit_once(':'))
        .map(|(t, v)| json!({"txid": t, "vout": v.parse::<u32>().unwrap_or(0)}))
        .collect();
    let prepared = Prepared {
        txid: accepted.txid.clone(),
        raw: accepted.hex.clone(),
        fee: Amount::from_base(u128::from(accepted.fee)),
        size: i64::try_from(accepted.vsize).unwrap_or(i64::MAX),
        consumes: r.consumes.clone(),
        inputs_json: serde_json::Value::Array(inputs).to_string(),
        change_address: None,
    };
    let order = Order {
        merchant: r.merchant,
        destination: &r.destination,
        currency: chain.currency,
        amount: Amount::from_base(u128::from(arrives)),
        request: Some((r.id, Stage::Signature)),
    };
    let withdrawal = record(&mut tx, &st.metrics, &chain, &order, &prepared, now).await?;
    Actor::operator()
        .record(
            &mut tx,
            r.merchant,
            "withdrawal.signed",
            Target::WithdrawalRequest(&r.public_id),
            json!({"request": r.public_id, "withdrawal": withdrawal, "txid": accepted.txid}),
            now,
        )
        .await?;
    tx.commit().await?;
    let done = super::broadcast(st, &chain, withdrawal, &accepted.hex).await?;
    let row = store::by_id(&mut st.db.conn().await?, r.id)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok((row, done))
}

/// The job that makes a queued request.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProcessJob {
    /// The request.
    pub request: i64,
}

impl Job for ProcessJob {
    const KIND: &'static str = "withdrawal.process";
}

/// Runs [`ProcessJob`]s.
pub struct ProcessHandler {
    st: Ctx,
}

impl ProcessHandler {
    /// A handler over the services' context.
    pub fn new(st: Ctx) -> Self {
        Self { st }
    }
}

impl JobHandler for ProcessHandler {
    fn kind(&self) -> &'static str {
        ProcessJob::KIND
    }

    fn retry_policy(&self) -> RetryPolicy {
        // A node that is down for a while: keep trying for about a day.
        RetryPolicy {
            max_attempts: 60,
            ..RetryPolicy::default()
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(120)
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let job: ProcessJob = serde_json::from_str(payload)
                .map_err(|e| JobError::Permanent(format!("payload: {e}")))?;
            process(&self.st, WithdrawalRequestId::new(job.request))
                .await
                .map(|_| ())
                .map_err(|e| JobError::Retry(e.to_string()))
        })
    }
}
