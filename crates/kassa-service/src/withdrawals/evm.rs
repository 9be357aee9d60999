//! Withdrawals on EVM networks (ETH, BSC, ARB, OPT, BASE): the coin or an allowlisted token,
//! from the hot wallet's treasury — where sweeps gather what deposit addresses received — in
//! one EIP-1559 transaction signed here.
//!
//! - **Price**: the node's fees now, `base × 5/4 + tip`, offered as both cap and tip (as sweeps
//!   do), at most the network's `max_fee_gwei`; the gas from `eth_estimateGas` from the
//!   treasury.
//! - **Who pays the gas**: for the coin, the merchant, with the amount from their balance (gas
//!   limit × price, like a UTXO fee; a plain transfer uses exactly its 21,000). For a token, the
//!   service, from the operator's float (the treasury's coin beyond all custody of it): the
//!   merchant's balance in the token pays the amount only. What projects' transfer fee collects
//!   is what pays the operator back.
//! - **Delayed, not failed**: when the treasury cannot send it now — its float short of gas, the
//!   token or the coin not swept in yet, fees above the cap — the request stays queued with its
//!   reservation and is marked delayed (merchants see "processing, delayed", with why), the
//!   operator is told the first time (e-mail to `notifications.operator_emails`), and its job
//!   looks again every [`super::process::RETRY`].
//! - **Recorded first**: in one database transaction the reservation is released, the
//!   treasury's next nonce taken (the wallet row locked: sweeps' gas top-ups take theirs the
//!   same way), the withdrawal recorded and charged ([`super::record`]) and its transaction
//!   written to `evm_tx` (purpose `withdrawal`: nonces and what the treasury has promised count
//!   it); then the node gets it. What it consumes is `treasury:nonce`, so the watcher notes it
//!   mined, or its nonce taken by another transaction, as it does a UTXO withdrawal's inputs, and
//!   [`super::follow`] settles it. One mined but reverted fails and its funds go back; the gas
//!   it burnt is the operator's cost (`book_reverted`).
//!
//! Not yet: a withdrawal stuck below the base fee is handed over again, not replaced (its
//! price has the headroom of two full blocks).

use kassa_chain::address::evm as address;
use kassa_chain::spend::evm::{Eip1559, erc20_transfer};
use kassa_chain::spend::evm_node::EvmNode;
use kassa_chain::watch::Broadcast;
use kassa_core::currency::Crypto;
use kassa_core::{Amount, WithdrawalRequestId};
use kassa_store::evm_txs::{self, NewEvmTx, Purpose};
use kassa_store::ledger::{self, Account, Kind};
use kassa_store::withdrawal_requests::{RequestRow, Stage};
use kassa_store::withdrawals::WithdrawalRow;
use serde_json::json;

use super::process::{
    Hold, Processed, begin_making, delay, end, gathering, give_up, queued, record_request, release,
    text,
};
use super::{Prepared, WithdrawError};
use crate::Ctx;
use crate::audit::Actor;
use crate::chains::{EvmParts, LiveChain, WalletError};

/// Gas of a plain transfer of the coin.
const TRANSFER_GAS: u64 = 21_000;

/// Gas of a usual token transfer, for quotes (the request's own is estimated).
const TOKEN_GAS: u64 = 65_000;

/// A withdrawal's network fee now, and who pays it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeEstimate {
    /// What the merchant pays, in the withdrawn currency (zero for a token).
    pub merchant: Amount,
    /// What the service pays, in the network's coin (a token's gas).
    pub service: Option<Amount>,
}

fn parts(chain: &LiveChain) -> Result<&EvmParts, WithdrawError> {
    chain
        .evm
        .as_ref()
        .ok_or(WithdrawError::NotLive(chain.network.code))
}

/// The fee of withdrawing `c` from `chain` at today's price, for a quote and a request's
/// reservation: the coin, a plain transfer's gas, paid by the merchant; a token, a usual
/// token transfer's, paid by the service.
pub async fn fee_estimate(chain: &LiveChain, c: &Crypto) -> Result<FeeEstimate, WithdrawError> {
    let price = EvmNode::new(parts(chain)?.rpc.clone())
        .fees()
        .await?
        .all_in();
    let cost = |gas: u64| Amount::from_base(u128::from(gas).saturating_mul(price));
    Ok(if c.native {
        FeeEstimate {
            merchant: cost(TRANSFER_GAS),
            service: None,
        }
    } else {
        FeeEstimate {
            merchant: Amount::ZERO,
            service: Some(cost(TOKEN_GAS)),
        }
    })
}

/// The transaction a request needs.
struct Plan {
    /// Whom it calls: the destination, or the token's contract.
    to: String,
    value: u128,
    data: Vec<u8>,
    gas: u64,
    price: u128,
    /// What the merchant pays on top of what arrives.
    fee: Amount,
    /// What arrives.
    arrives: Amount,
}

/// What the treasury can pay now, as the node and the books say.
struct Treasury {
    address: String,
    /// Its coin not promised to transactions waiting to be mined.
    coin: u128,
    /// The operator's own part of that: beyond all custody of the coin.
    float: u128,
}

impl Treasury {
    async fn read(
        st: &Ctx,
        chain: &LiveChain,
        node: &EvmNode,
        address: String,
    ) -> Result<Treasury, WithdrawError> {
        let held = node.balance(&address).await?;
        let coin = chain.currency;
        let mut c = st.db.conn().await?;
        let promised =
            crate::sweeps::promised(&mut c, chain.network.code, &address, coin, coin).await?;
        let custody = ledger::operator_balance(&mut c, Kind::Custody, coin.code).await?;
        let free = held.saturating_sub(promised);
        Ok(Treasury {
            address,
            coin: free,
            float: free.saturating_sub(custody.base()),
        })
    }

    /// Its balance of token `c` (at `contract`) not promised to transactions waiting to be
    /// mined.
    async fn token(
        &self,
        st: &Ctx,
        chain: &LiveChain,
        node: &EvmNode,
        c: &Crypto,
        contract: &str,
    ) -> Result<u128, WithdrawError> {
        let held = node.token_balance(contract, &self.address).await?;
        let mut conn = st.db.conn().await?;
        let promised = crate::sweeps::promised(
            &mut conn,
            chain.network.code,
            &self.address,
            c,
            chain.currency,
        )
        .await?;
        Ok(held.saturating_sub(promised))
    }
}

/// Works out request `r`'s transaction, or why it cannot be made now.
async fn plan(
    st: &Ctx,
    chain: &LiveChain,
    c: &'static Crypto,
    r: &RequestRow,
    node: &EvmNode,
    t: &Treasury,
) -> Result<Result<Plan, Hold>, WithdrawError> {
    let evm = parts(chain)?;
    let coin = chain.currency;
    let price = node.fees().await?.all_in();
    if price > evm.max_fee {
        return Ok(Err(Hold::Delay(format!(
            "network fees ({} gwei per gas) are above the operator's cap ({} gwei): it goes out when they fall",
            price / 1_000_000_000,
            evm.max_fee / 1_000_000_000
        ))));
    }
    let Ok(to) = address::decode(&r.destination) else {
        return Ok(Err(Hold::Fail(format!(
            "{} is not an address of this network",
            r.destination
        ))));
    };
    if c.native {
        let gas = node.estimate_gas(&t.address, &r.destination, &[]).await?;
        let cost = u128::from(gas).saturating_mul(price);
        let value = if r.fee_from_amount {
            match r.amount.base().checked_sub(cost).filter(|v| *v > 0) {
                Some(v) => v,
                None => {
                    return Ok(Err(Hold::Fail(format!(
                        "the network fee ({}) is more than the amount",
                        text(c, cost)
                    ))));
                }
            }
        } else {
            r.amount.base()
        };
        let need = value.saturating_add(cost);
        if t.coin < need {
            return Ok(Err(gathering(c, t.coin, need)));
        }
        return Ok(Ok(Plan {
            to: r.destination.clone(),
            value,
            data: Vec::new(),
            gas,
            price,
            fee: Amount::from_base(cost),
            arrives: Amount::from_base(value),
        }));
    }
    let Some(contract) = chain.token_contract(c) else {
        return Ok(Err(Hold::Fail(format!(
            "{} is no longer on this network's allowlist",
            c.code
        ))));
    };
    let amount = r.amount.base();
    let have = t.token(st, chain, node, c, &contract).await?;
    if have < amount {
        return Ok(Err(gathering(c, have, amount)));
    }
    let data = erc20_transfer(&to, amount);
    let gas = node.estimate_gas(&t.address, &contract, &data).await?;
    let cost = u128::from(gas).saturating_mul(price);
    if t.float < cost {
        return Ok(Err(Hold::Delay(format!(
            "the hot wallet is short of gas: its treasury {} has {} of the operator's own and this token transfer needs {}; send {} to it",
            t.address,
            text(coin, t.float),
            text(coin, cost),
            coin.code
        ))));
    }
    Ok(Ok(Plan {
        to: contract,
        value: 0,
        data,
        gas,
        price,
        fee: Amount::ZERO,
        arrives: Amount::from_base(amount),
    }))
}

/// Makes queued request `id` for `c` on `chain` (see the module docs).
pub(super) async fn process(
    st: &Ctx,
    chain: &LiveChain,
    c: &'static Crypto,
    id: WithdrawalRequestId,
) -> Result<Processed, WithdrawError> {
    let evm = parts(chain)?;
    let r = match queued(st, chain, c, id).await? {
        Ok(r) => r,
        Err(done) => return Ok(done),
    };
    let (hot, treasury) =
        crate::chains::evm::hot_treasury(&st.db, &st.keyring, chain.network).await?;
    let node = EvmNode::new(evm.rpc.clone());
    let t = Treasury::read(st, chain, &node, treasury).await?;
    let p = match plan(st, chain, c, &r, &node, &t).await? {
        Ok(p) => p,
        Err(Hold::Delay(why)) => return delay(st, &r, &why).await,
        Err(Hold::Fail(why)) => {
            end(st, id, Stage::Queued, Stage::Failed, &why, Actor::kassa()).await?;
            return Ok(Processed::Failed(why));
        }
    };
    let to =
        address::decode(&p.to).map_err(|e| WithdrawError::NodeAnswer(format!("{}: {e}", p.to)))?;
    let on_node = node.nonce(&t.address, true).await?;
    let tip = node.height().await?;

    let now = st.clock.now();
    let (mut tx, r) = match begin_making(st, c, id, now).await? {
        Ok(open) => open,
        Err(done) => return Ok(done),
    };
    release(&mut tx, &r, now).await?;
    let net = chain.network.code;
    let nonce = crate::sweeps::take_nonce(&mut tx, net, &t.address, on_node, now).await?;
    let unsigned = Eip1559 {
        chain_id: evm.chain_id,
        nonce,
        max_priority_fee_per_gas: p.price,
        max_fee_per_gas: p.price,
        gas_limit: p.gas,
        to,
        value: p.value,
        data: p.data,
    };
    let secret = hot.treasury_secret().map_err(WalletError::from)?;
    let signed = match unsigned.sign(&secret) {
        Ok(s) => s,
        Err(e) => return give_up(st, tx, id, format!("signing: {e}")).await,
    };
    drop(secret);
    drop(hot);
    let raw = signed.raw_hex();
    let prepared = Prepared {
        txid: signed.hash.clone(),
        raw: raw.clone(),
        fee: p.fee,
        size: i64::try_from(p.gas).unwrap_or(i64::MAX),
        consumes: vec![format!("{}:{nonce}", t.address.to_ascii_lowercase())],
        inputs_json: json!([{"from": t.address, "nonce": nonce}]).to_string(),
        change_address: None,
    };
    let withdrawal =
        match record_request(st, &mut tx, chain, c, &r, p.arrives, &prepared, now).await? {
            Ok(w) => w,
            Err(why) => return give_up(st, tx, id, why).await,
        };
    let row = evm_txs::insert(
        &mut tx,
        &NewEvmTx {
            network: net,
            purpose: Purpose::Withdrawal,
            sender: &t.address,
            sender_key: (1, 0),
            nonce,
            recipient: &r.destination,
            currency: c.code,
            amount: p.arrives,
            txid: &signed.hash,
            raw: &raw,
            gas_limit: p.gas,
            max_fee: p.price,
            sent_height: tip,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    if let Broadcast::Refused(_) = super::broadcast(st, chain, withdrawal, &raw).await? {
        // Failed and refunded by `broadcast`; its nonce is free again.
        let mut w = st.db.write().await?;
        evm_txs::set_state(&mut w, row, "dropped", None, None, st.clock.now()).await?;
    }
    Ok(Processed::Submitted)
}

/// The gas withdrawal `w` burnt when its block holds it reverted (receipt status 0); `None`
/// when it succeeded or has no receipt.
pub(super) async fn reverted(
    chain: &LiveChain,
    w: &WithdrawalRow,
) -> Result<Option<u128>, WithdrawError> {
    let receipt = EvmNode::new(parts(chain)?.rpc.clone())
        .receipt(&w.txid)
        .await?;
    Ok(receipt.filter(|r| !r.success).map(|r| r.fee))
}

/// Books what a failed withdrawal of the coin burnt (EVM or TRON) — custody paid it, the merchant got
/// everything back — as the operator's chain costs, once.
pub(super) async fn book_reverted(
    st: &Ctx,
    chain: &LiveChain,
    w: &WithdrawalRow,
    fee: u128,
) -> Result<(), WithdrawError> {
    if w.currency != chain.currency.code {
        // A token's gas came from the operator's float: nothing in custody moved.
        return Ok(());
    }
    let journal = format!("withdrawal {} gas", w.id);
    let mut tx = st.db.begin().await?;
    let posted =
        ledger::net_postings(&mut tx, ledger::Postings::Journals(&[journal.as_str()])).await?;
    if !posted.is_empty() {
        return Ok(());
    }
    let account = |kind| Account {
        kind,
        merchant: None,
        currency: chain.currency.code,
    };
    ledger::Journal {
        name: &journal,
        invoice: None,
        at: st.clock.now(),
    }
    .post(
        &mut tx,
        &account(Kind::ChainCosts),
        &account(Kind::Custody),
        Amount::from_base(fee),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
