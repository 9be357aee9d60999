//! Withdrawals on TRON: TRX or an allowlisted TRC-20 token, from the hot wallet's treasury
//! (`m/44'/195'/0'/1/0`, where sweeps gather what deposit addresses received), through the
//! same requests, rules and jobs as every network.
//!
//! - **Built by the node, read by Kassa**: `createtransaction` (TRX) or `triggersmartcontract`
//!   (a token's `transfer`) builds the transaction on the node's tip; its bytes are decoded and
//!   compared with what was meant — sender, recipient or contract, amount, fee limit, expiry —
//!   before anything is signed ([`kassa_chain::spend::tron::accept_built`]). A node that built
//!   something else (a hostile or broken node) gets nothing signed: the request waits, delayed,
//!   with the reason, and the operator is told. The signature is checked to be the treasury's
//!   before it leaves; what goes to `broadcasthex` is built from the checked bytes.
//! - **Who pays**: TRX — the merchant, the bandwidth the transaction's bytes burn (or, to an
//!   address that does not exist on chain yet, the account-creation fee instead), priced at the
//!   burn rate: when the treasury's free bandwidth covers it, the difference stays with the
//!   operator. A token — the service, from the operator's float (the treasury's TRX beyond all
//!   custody of it): energy at the burn rate with a quarter's headroom as the fee limit, and
//!   the bytes; the merchant's balance in the token pays the amount only.
//! - **Delayed, not failed**, as on EVM networks: the treasury not on chain yet, its token or
//!   TRX not swept in yet, its float short of energy, energy above [`MAX_FEE_LIMIT`], a node
//!   that built the wrong transaction. The request keeps its reservation and looks again every
//!   minute.
//! - **Followed** by its txid in the watcher's blocks (TRON has no nonces: nothing but the
//!   transaction itself can take its place, and one not mined before it expires never will
//!   be — the follow-up's grace then fails it and the funds go back). A token transfer mined
//!   but failed (`OUT_OF_ENERGY`, `REVERT`) paid nothing out: failed and refunded; the TRX it
//!   burnt was the operator's.

use kassa_chain::address::tron as address;
use kassa_chain::spend::tron::{Accepted, Intent, accept_built, sign, signed_hex, signer};
use kassa_chain::spend::tron_node::TronNode;
use kassa_core::currency::Crypto;
use kassa_core::{Amount, WithdrawalRequestId};
use kassa_store::ledger::{self, Kind};
use kassa_store::withdrawal_requests::{RequestRow, Stage};
use kassa_store::withdrawals::WithdrawalRow;
use serde_json::json;

use super::evm::FeeEstimate;
use super::process::{
    Hold, Processed, begin_making, delay, end, gathering, give_up, queued, record_request, release,
    text,
};
use super::{Prepared, WithdrawError};
use crate::Ctx;
use crate::audit::Actor;
use crate::chains::{LiveChain, TronParts, WalletError};
use crate::sweeps::{
    BURNS, TOKEN_BYTES, TRANSFER_BYTES, tron_fee_limit as fee_limit, tron_promised as promised,
};

/// The energy of a usual token transfer, for quotes (a request's own is estimated).
const TOKEN_ENERGY: u64 = 65_000;

/// The most TRX (sun) a token transfer may burn for energy: above it the request waits for
/// cheaper energy (USDT's transfer to a new holder costs about 130,000 energy, 27–55 TRX at
/// the burn rates of 2024–2026).
pub const MAX_FEE_LIMIT: u128 = 100_000_000;

fn parts(chain: &LiveChain) -> Result<&TronParts, WithdrawError> {
    chain
        .tron
        .as_ref()
        .ok_or(WithdrawError::NotLive(chain.network.code))
}

fn node(chain: &LiveChain) -> Result<TronNode, WithdrawError> {
    Ok(TronNode::new(parts(chain)?.api.clone()))
}

fn node_error(e: kassa_chain::watch::ChainError) -> WithdrawError {
    WithdrawError::NodeAnswer(e.to_string())
}

/// The fee of withdrawing `c` now, for a quote (`destination` unknown) or a request's
/// reservation: TRX, the bandwidth of a transfer (or the creation of `destination` when it
/// does not exist on chain), paid by the merchant; a token, a usual transfer's energy and
/// bytes, paid by the service.
pub async fn fee_estimate(
    chain: &LiveChain,
    c: &Crypto,
    destination: Option<&str>,
) -> Result<FeeEstimate, WithdrawError> {
    let node = node(chain)?;
    let prices = node.prices().await.map_err(node_error)?;
    if c.native {
        let new = match destination {
            Some(d) => node.account(d).await.map_err(node_error)?.is_none(),
            None => false,
        };
        let fee = if new {
            prices.new_account
        } else {
            prices.bandwidth(TRANSFER_BYTES)
        };
        return Ok(FeeEstimate {
            merchant: Amount::from_base(fee),
            service: None,
        });
    }
    Ok(FeeEstimate {
        merchant: Amount::ZERO,
        service: Some(Amount::from_base(
            fee_limit(&prices, TOKEN_ENERGY).saturating_add(prices.bandwidth(TOKEN_BYTES)),
        )),
    })
}

/// What request `r` will sign, once the node built it and Kassa read it.
struct Plan {
    accepted: Accepted,
    /// What the merchant pays on top of what arrives.
    fee: Amount,
    /// What arrives.
    arrives: Amount,
    /// The most TRX (sun) it may burn from the operator's float: a token transfer's fee limit
    /// and bytes; nothing for TRX (the merchant's fee pays it).
    burns: u128,
}

/// Reads a node-built transaction for `intent`; a refusal keeps the request waiting.
fn read_built(built: &serde_json::Value, intent: &Intent, now_ms: i64) -> Result<Accepted, Hold> {
    accept_built(built, intent, now_ms).map_err(|e| {
        Hold::Delay(format!(
            "the node built a transaction other than the one asked for ({e}): nothing was signed; check the node at api_url"
        ))
    })
}

/// Works out request `r`'s transaction from `treasury`, or why it cannot be made now.
async fn plan(
    st: &Ctx,
    chain: &LiveChain,
    c: &'static Crypto,
    r: &RequestRow,
    treasury: &str,
) -> Result<Result<Plan, Hold>, WithdrawError> {
    let node = node(chain)?;
    let coin = chain.currency;
    let Ok(to) = address::decode(&r.destination) else {
        return Ok(Err(Hold::Fail(format!(
            "{} is not an address of this network",
            r.destination
        ))));
    };
    let owner = address::decode(treasury)
        .map_err(|e| WithdrawError::NodeAnswer(format!("{treasury}: {e}")))?;
    let prices = node.prices().await.map_err(node_error)?;
    let Some(held) = node.account(treasury).await.map_err(node_error)? else {
        return Ok(Err(Hold::Delay(format!(
            "the hot wallet's treasury {treasury} does not exist on chain yet (it never received TRX): payments are still being swept into it, or send TRX to it"
        ))));
    };
    let free =
        held.saturating_sub(promised(&mut st.db.conn().await?, chain, treasury, coin).await?);
    let now_ms = st.clock.now().as_micros() / 1000;
    if c.native {
        let new = node
            .account(&r.destination)
            .await
            .map_err(node_error)?
            .is_none();
        let fee_of = |size: usize| {
            if new {
                prices.new_account
            } else {
                prices.bandwidth(size)
            }
        };
        let node = &node;
        let build = |sun: u128| async move {
            let sun = i64::try_from(sun).unwrap_or(i64::MAX);
            let built = node
                .build_transfer(treasury, &r.destination, sun)
                .await
                .map_err(node_error)?;
            Ok::<_, WithdrawError>(read_built(&built, &Intent::Trx { owner, to, sun }, now_ms))
        };
        // The fee from the signed size: a signature is always 65 bytes.
        let signed_size = |a: &Accepted| {
            // Field 1's tag and length, the raw bytes; field 2's tag, length and 65 bytes.
            let len = a.raw.len();
            let len_bytes = 1 + usize::from(len >= 1 << 7) + usize::from(len >= 1 << 14);
            1 + len_bytes + len + 2 + 65
        };
        let amount = r.amount.base();
        let (accepted, fee, value) = if r.fee_from_amount {
            let fee = match build(amount).await? {
                Ok(a) => fee_of(signed_size(&a)),
                Err(hold) => return Ok(Err(hold)),
            };
            let Some(value) = amount.checked_sub(fee).filter(|v| *v > 0) else {
                return Ok(Err(Hold::Fail(format!(
                    "the network fee ({}) is more than the amount",
                    text(c, fee)
                ))));
            };
            // A smaller amount is never more bytes: the fee worked out covers it.
            match build(value).await? {
                Ok(a) => (a, fee, value),
                Err(hold) => return Ok(Err(hold)),
            }
        } else {
            match build(amount).await? {
                Ok(a) => {
                    let fee = fee_of(signed_size(&a));
                    (a, fee, amount)
                }
                Err(hold) => return Ok(Err(hold)),
            }
        };
        let need = value.saturating_add(fee);
        if free < need {
            return Ok(Err(gathering(c, free, need)));
        }
        return Ok(Ok(Plan {
            accepted,
            fee: Amount::from_base(fee),
            arrives: Amount::from_base(value),
            burns: 0,
        }));
    }
    let Some(token) = parts(chain)?
        .tokens
        .iter()
        .find(|t| t.currency.code == c.code)
    else {
        return Ok(Err(Hold::Fail(format!(
            "{} is no longer on this network's allowlist",
            c.code
        ))));
    };
    let contract = address::encode(&token.contract);
    let amount = r.amount.base();
    let have = node
        .token_balance(&contract, treasury)
        .await
        .map_err(node_error)?
        .saturating_sub(promised(&mut st.db.conn().await?, chain, treasury, c).await?);
    if have < amount {
        return Ok(Err(gathering(c, have, amount)));
    }
    let energy = node
        .transfer_energy(treasury, &contract, &r.destination, amount)
        .await
        .map_err(node_error)?;
    let limit = fee_limit(&prices, energy);
    if limit > MAX_FEE_LIMIT {
        return Ok(Err(Hold::Delay(format!(
            "this token transfer needs {energy} energy, {} at today's burn rate: above the {} a withdrawal may burn; stake TRX for energy, or wait for it to cost less",
            text(coin, limit),
            text(coin, MAX_FEE_LIMIT)
        ))));
    }
    let worst = limit.saturating_add(prices.bandwidth(TOKEN_BYTES));
    let custody = ledger::operator_balance(&mut st.db.conn().await?, Kind::Custody, coin.code)
        .await?
        .base();
    let float = free.saturating_sub(custody);
    if float < worst {
        return Ok(Err(Hold::Delay(format!(
            "the hot wallet is short of TRX for energy: its treasury {treasury} has {} of the operator's own and this token transfer may burn {}; send TRX to it",
            text(coin, float),
            text(coin, worst)
        ))));
    }
    let fee_limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let built = node
        .build_token_transfer(treasury, &contract, &r.destination, amount, fee_limit)
        .await
        .map_err(node_error)?;
    let intent = Intent::Trc20 {
        owner,
        contract: token.contract,
        to,
        amount,
        fee_limit,
    };
    Ok(read_built(&built, &intent, now_ms).map(|accepted| Plan {
        accepted,
        fee: Amount::ZERO,
        arrives: Amount::from_base(amount),
        burns: worst,
    }))
}

/// Makes queued request `id` for `c` on `chain` (see the module docs).
pub(super) async fn process(
    st: &Ctx,
    chain: &LiveChain,
    c: &'static Crypto,
    id: WithdrawalRequestId,
) -> Result<Processed, WithdrawError> {
    let r = match queued(st, chain, c, id).await? {
        Ok(r) => r,
        Err(done) => return Ok(done),
    };
    let (hot, treasury) =
        crate::chains::evm::hot_treasury(&st.db, &st.keyring, chain.network).await?;
    let p = match plan(st, chain, c, &r, &treasury).await? {
        Ok(p) => p,
        Err(Hold::Delay(why)) => return delay(st, &r, &why).await,
        Err(Hold::Fail(why)) => {
            end(st, id, Stage::Queued, Stage::Failed, &why, Actor::kassa()).await?;
            return Ok(Processed::Failed(why));
        }
    };

    let now = st.clock.now();
    let (mut tx, r) = match begin_making(st, c, id, now).await? {
        Ok(open) => open,
        Err(done) => return Ok(done),
    };
    release(&mut tx, &r, now).await?;
    let secret = hot.treasury_secret().map_err(WalletError::from)?;
    let signature = sign(&p.accepted.raw, &secret);
    drop(secret);
    drop(hot);
    let owner = address::decode(&treasury).ok();
    let signed = match signature {
        Ok(sig) if signer(&p.accepted.raw, &sig) == owner => signed_hex(&p.accepted, &sig),
        Ok(_) => {
            return give_up(
                st,
                tx,
                id,
                "signing: the signature is not the treasury's".into(),
            )
            .await;
        }
        Err(e) => return give_up(st, tx, id, format!("signing: {e}")).await,
    };
    let raw = match signed {
        Ok(raw) => raw,
        Err(e) => return give_up(st, tx, id, format!("signing: {e}")).await,
    };
    let prepared = Prepared {
        txid: p.accepted.txid.clone(),
        raw: raw.clone(),
        fee: p.fee,
        size: i64::try_from(raw.len() / 2).unwrap_or(i64::MAX),
        consumes: Vec::new(),
        inputs_json: json!([{
            "from": treasury,
            "expires_ms": p.accepted.decoded.expiration,
            BURNS: u64::try_from(p.burns).unwrap_or(u64::MAX),
        }])
        .to_string(),
        change_address: None,
    };
    let withdrawal =
        match record_request(st, &mut tx, chain, c, &r, p.arrives, &prepared, now).await? {
            Ok(w) => w,
            Err(why) => return give_up(st, tx, id, why).await,
        };
    tx.commit().await?;
    super::broadcast(st, chain, withdrawal, &raw).await?;
    Ok(Processed::Submitted)
}

/// What withdrawal `w` burnt when its block holds it failed (`OUT_OF_ENERGY`, `REVERT`):
/// `None` when it succeeded or the node has no outcome for it.
pub(super) async fn reverted(
    chain: &LiveChain,
    w: &WithdrawalRow,
) -> Result<Option<u128>, WithdrawError> {
    let outcome = node(chain)?.outcome(&w.txid).await.map_err(node_error)?;
    Ok(outcome.filter(|o| !o.success).map(|o| o.fee))
}
