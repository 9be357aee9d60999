//! Sweeps on TRON (a hot wallet): what invoices paid to deposit addresses is gathered into the
//! treasury (`m/44'/195'/0'/1/0`), where withdrawals leave from.
//!
//! - **TRX** goes in one transfer of the balance less the bandwidth its bytes burn (or less
//!   the account-creation fee the first time, when the treasury is not on chain yet). When
//!   the address's free daily bandwidth pays instead, what was held back stays there and goes
//!   with the next sweep; the ledger books what the node says was burnt.
//! - **A token** needs TRX at the deposit address to burn for energy and bandwidth: an address
//!   that only ever received tokens does not even exist on chain yet. The treasury first sends
//!   it what the transfer may burn (its energy estimate at the burn rate with a quarter's
//!   headroom, plus its bytes) less what is there — the top-up creates the account, and the
//!   treasury pays that creation — then the deposit address sends the token with that fee
//!   limit. Top-ups come out of the operator's float (the treasury's TRX beyond all custody of
//!   it and what its unmined transactions may still take), never merchants' money; when the
//!   float cannot pay one, token sweeps wait and the operator is e-mailed once. What the
//!   headroom did not burn stays at the address for its next sweep. (Energy delegated from the
//!   operator's stake is not used yet: everything is burnt.)
//! - Nothing is swept at a loss: its cost at most `sweep_max_fee_percent` of what it moves,
//!   in US dollars.
//! - Every transaction is written to `evm_tx` before the node gets it (the table of the
//!   account networks' own transactions; `nonce` is only a local sequence here, TRON has
//!   none; `gas_limit × max_fee` is the most it may burn). Each round follows them by
//!   `gettransactioninfobyid` from the node's best chain: in a block, then confirmed at the
//!   network's confirmations (a failed token call is `failed`, and its deposit is swept again);
//!   in none, handed over again until it expires, then dropped (its deposit is swept again).
//!   A confirmed TRX sweep books its burnt bandwidth from custody to `chain_costs`.

use std::collections::HashSet;

use kassa_chain::address::tron as address;
use kassa_chain::spend::tron::{Intent, accept_built, sign, signed_hex, signed_raw, signer};
use kassa_chain::spend::tron_node::{Outcome, Prices, TronNode};
use kassa_chain::watch::{Broadcast, ChainError};
use kassa_core::Amount;
use kassa_core::currency::{self, Crypto};
use kassa_store::evm_txs::{self, EvmTxRow, NewEvmTx, Purpose};
use kassa_store::ledger::{self, Kind};
use kassa_store::withdrawals::{self, WithdrawalRow, WithdrawalState};
use kassa_store::{AsConn, StoreError};

use super::{Sender, SweepError, SweepRound, take_nonce};
use crate::Ctx;
use crate::chains::{LiveChain, TronParts};

/// Deposit addresses looked at per round.
const CANDIDATES_PER_ROUND: i64 = 50;
/// The most bytes of a signed TRX transfer (a 9-byte amount) and of a signed token transfer
/// call, before the node's 64 more: what is held back for bandwidth.
pub(crate) const TRANSFER_BYTES: usize = 212;
pub(crate) const TOKEN_BYTES: usize = 285;
/// How long past its expiry an unmined transaction is still looked for before it is dropped.
const EXPIRY_GRACE_MS: i64 = 60_000;

fn node_error(e: ChainError) -> SweepError {
    SweepError::Sign(format!("node: {e}"))
}

/// The fee limit of a call using `energy`: its price with a quarter's headroom.
pub fn fee_limit(prices: &Prices, energy: u64) -> u128 {
    prices.energy(energy).saturating_mul(5).div_ceil(4)
}

/// The key under which a TRON withdrawal's inputs record the most it may burn from the float.
pub(crate) const BURNS: &str = "burns_at_most";

/// What the treasury has promised of `c` and may still take: its own transactions not mined
/// (sweeps' TRX top-ups) and withdrawals handed to the node and not in a block yet (their
/// amount and fee; for TRX also what token withdrawals may burn). Sweeps and withdrawals both
/// count it before spending the float.
pub(crate) async fn promised(
    conn: &mut impl AsConn,
    chain: &LiveChain,
    treasury: &str,
    c: &Crypto,
) -> Result<u128, StoreError> {
    let net = chain.network.code;
    let coin = chain.currency;
    let sent = super::promised(conn, net, treasury, c, coin).await?;
    let rows = withdrawals::open(conn, net, i64::MAX).await?;
    Ok(rows
        .iter()
        .filter(|w| w.state == WithdrawalState::Broadcast && w.block.is_none())
        .map(|w| {
            if w.currency == c.code {
                w.amount.base().saturating_add(w.fee.base())
            } else if c.code == coin.code {
                burns(w)
            } else {
                0
            }
        })
        .fold(sent, u128::saturating_add))
}

/// What withdrawal `w` may burn from the float, as recorded with it.
fn burns(w: &WithdrawalRow) -> u128 {
    serde_json::from_str::<serde_json::Value>(&w.inputs)
        .ok()
        .and_then(|v| v[0][BURNS].as_u64())
        .map_or(0, u128::from)
}

struct Round<'a> {
    st: &'a Ctx,
    chain: &'a LiveChain,
    tron: &'a TronParts,
    node: TronNode,
    hot: kassa_chain::hd::evm::EvmHotWallet,
    treasury: String,
    tip: u64,
    prices: Prices,
    done: SweepRound,
}

/// One round on TRON: follow what was sent, then sweep what waits (see the module docs).
pub(super) async fn round(st: &Ctx, chain: &LiveChain) -> Result<SweepRound, SweepError> {
    let Some(tron) = chain.tron.as_ref() else {
        return Ok(SweepRound::default());
    };
    let (hot, treasury) =
        crate::chains::evm::hot_treasury(&st.db, &st.keyring, chain.network).await?;
    let node = TronNode::new(tron.api.clone());
    let tip = chain.source.tip().await.map_err(node_error)?.height;
    let prices = node.prices().await.map_err(node_error)?;
    let mut r = Round {
        st,
        chain,
        tron,
        node,
        hot,
        treasury,
        tip,
        prices,
        done: SweepRound::default(),
    };
    r.follow().await?;
    r.plan().await?;
    Ok(r.done)
}

fn now_ms(st: &Ctx) -> i64 {
    st.clock.now().as_micros() / 1000
}

impl Round<'_> {
    fn net(&self) -> &'static str {
        self.chain.network.code
    }

    fn coin(&self) -> &'static Crypto {
        self.chain.currency
    }

    /// Follows every transaction not settled yet.
    async fn follow(&mut self) -> Result<(), SweepError> {
        let open = evm_txs::open(&mut self.st.db.conn().await?, self.net()).await?;
        for row in open {
            let outcome = self.node.outcome(&row.txid).await.map_err(node_error)?;
            let now = self.st.clock.now();
            match outcome {
                Some(o) => self.settle(&row, &o).await?,
                None => {
                    if row.state == "mined" {
                        // Its block left the best chain.
                        let mut w = self.st.db.write().await?;
                        evm_txs::set_state(&mut w, row.id, "sent", None, None, now).await?;
                    }
                    let expired = signed_raw(&row.raw)
                        .map(|r| r.expiration)
                        .is_none_or(|e| e.saturating_add(EXPIRY_GRACE_MS) < now_ms(self.st));
                    match self.chain.source.broadcast(&row.raw).await {
                        Broadcast::Refused(why) if expired => {
                            tracing::warn!(network = self.net(), txid = %row.txid, why, "a sweep transaction expired unmined: dropped");
                            let mut w = self.st.db.write().await?;
                            evm_txs::set_state(&mut w, row.id, "dropped", None, None, now).await?;
                            self.done.dropped += 1;
                        }
                        Broadcast::Accepted => {}
                        Broadcast::Refused(why) | Broadcast::Unknown(why) => {
                            tracing::warn!(network = self.net(), txid = %row.txid, why, "the node did not take a sweep transaction (yet)");
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Records where a transaction in a block stands; books a confirmed TRX sweep's cost.
    async fn settle(&mut self, row: &EvmTxRow, o: &Outcome) -> Result<(), SweepError> {
        let now = self.st.clock.now();
        let Some(hash) = self
            .chain
            .source
            .hash_at(o.block)
            .await
            .map_err(node_error)?
        else {
            return Ok(());
        };
        let block = Some((o.block, hash.as_str()));
        let fee = Some(Amount::from_base(o.fee));
        let deep = self.tip.saturating_sub(o.block).saturating_add(1);
        let mut tx = self.st.db.begin().await?;
        if deep >= u64::from(self.chain.confirmations) {
            let state = if o.success { "confirmed" } else { "failed" };
            evm_txs::set_state(&mut tx, row.id, state, block, fee, now).await?;
            if !o.success {
                tracing::warn!(network = self.net(), txid = %row.txid, why = %o.message, "a sweep transaction failed on chain; its deposit is swept again");
            }
            if row.purpose == Purpose::Sweep.as_str() && row.currency == self.coin().code {
                super::book_chain_cost(&mut tx, row, self.coin(), o.fee, now).await?;
            }
            self.done.confirmed += 1;
        } else if row.state != "mined" {
            evm_txs::set_state(&mut tx, row.id, "mined", block, fee, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sweeps what waits at deposit addresses (see the module docs).
    async fn plan(&mut self) -> Result<(), SweepError> {
        let mut c = self.st.db.conn().await?;
        let open = evm_txs::open(&mut c, self.net()).await?;
        let candidates = evm_txs::candidates(&mut c, self.net(), CANDIDATES_PER_ROUND).await?;
        drop(c);
        let mut busy: HashSet<String> = open
            .iter()
            .flat_map(|r| [r.sender.clone(), r.recipient.clone()])
            .collect();
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
            let sent = if crypto.native {
                self.sweep_trx(&sender).await?
            } else {
                self.sweep_token(&sender, crypto).await?
            };
            if sent {
                busy.insert(cand.address);
            }
        }
        Ok(())
    }

    /// Whether moving `amount` of `crypto` for `cost` sun is worth it (see the module docs).
    fn worth(&self, crypto: &Crypto, amount: u128, cost: u128) -> bool {
        super::worth(
            self.st,
            (self.coin(), cost),
            (crypto, amount),
            self.tron.sweep_max_fee_percent,
        )
    }

    /// What creating-or-paying `to` costs a TRX transfer of `size` bytes.
    async fn transfer_fee(&self, to: &str, size: usize) -> Result<u128, SweepError> {
        Ok(match self.node.account(to).await.map_err(node_error)? {
            None => self.prices.new_account,
            Some(_) => self.prices.bandwidth(size),
        })
    }

    /// Sweeps a deposit's TRX; false when it waits.
    async fn sweep_trx(&mut self, sender: &Sender) -> Result<bool, SweepError> {
        let Some(balance) = self
            .node
            .account(&sender.address)
            .await
            .map_err(node_error)?
        else {
            return Ok(false);
        };
        let cost = self.transfer_fee(&self.treasury, TRANSFER_BYTES).await?;
        if balance <= cost || !self.worth(self.coin(), balance, cost) {
            self.done.waiting += usize::from(balance > 0);
            return Ok(false);
        }
        let value = balance - cost;
        let treasury = self.treasury.clone();
        let intent = Intent::Trx {
            owner: decode(&sender.address)?,
            to: decode(&treasury)?,
            sun: i64::try_from(value).unwrap_or(i64::MAX),
        };
        let built = self
            .node
            .build_transfer(
                &sender.address,
                &treasury,
                i64::try_from(value).unwrap_or(0),
            )
            .await
            .map_err(node_error)?;
        let coin = self.coin();
        self.send(
            Purpose::Sweep,
            sender,
            &built,
            &intent,
            cost,
            (coin, value, &treasury),
        )
        .await
    }

    /// Sweeps a deposit's token, after sending it TRX to burn when it has too little; false
    /// when it waits.
    async fn sweep_token(&mut self, sender: &Sender, crypto: &Crypto) -> Result<bool, SweepError> {
        let Some(token) = self
            .tron
            .tokens
            .iter()
            .find(|t| t.currency.code == crypto.code)
        else {
            return Ok(false);
        };
        let contract = address::encode(&token.contract);
        let balance = self
            .node
            .token_balance(&contract, &sender.address)
            .await
            .map_err(node_error)?;
        if balance == 0 {
            return Ok(false);
        }
        let treasury = self.treasury.clone();
        let energy = self
            .node
            .transfer_energy(&sender.address, &contract, &treasury, balance)
            .await
            .map_err(node_error)?;
        let limit = fee_limit(&self.prices, energy);
        let cost = limit.saturating_add(self.prices.bandwidth(TOKEN_BYTES));
        let have = self
            .node
            .account(&sender.address)
            .await
            .map_err(node_error)?;
        // What sending the TRX ahead costs the treasury too, when it is needed.
        let top_up = cost.saturating_sub(have.unwrap_or(0));
        let ahead = if top_up > 0 {
            self.transfer_fee(&sender.address, TRANSFER_BYTES).await?
        } else {
            0
        };
        if !self.worth(crypto, balance, cost.saturating_add(ahead)) {
            self.done.waiting += 1;
            return Ok(false);
        }
        if top_up > 0 {
            return self.top_up(&sender.address, top_up, ahead).await;
        }
        let fee_limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let intent = Intent::Trc20 {
            owner: decode(&sender.address)?,
            contract: token.contract,
            to: decode(&treasury)?,
            amount: balance,
            fee_limit,
        };
        let built = self
            .node
            .build_token_transfer(&sender.address, &contract, &treasury, balance, fee_limit)
            .await
            .map_err(node_error)?;
        self.send(
            Purpose::Sweep,
            sender,
            &built,
            &intent,
            cost,
            (crypto, balance, &treasury),
        )
        .await
    }

    /// Sends `sun` from the treasury to `deposit` to burn for its token sweep (the transfer
    /// itself costs `own_fee`) — out of the operator's float only.
    async fn top_up(
        &mut self,
        deposit: &str,
        sun: u128,
        own_fee: u128,
    ) -> Result<bool, SweepError> {
        let coin = self.coin();
        let held = self
            .node
            .account(&self.treasury)
            .await
            .map_err(node_error)?
            .unwrap_or(0);
        let mut c = self.st.db.conn().await?;
        let custody = ledger::operator_balance(&mut c, Kind::Custody, coin.code).await?;
        let promised = promised(&mut c, self.chain, &self.treasury, coin).await?;
        drop(c);
        let float = held.saturating_sub(custody.base()).saturating_sub(promised);
        let need = sun.saturating_add(own_fee);
        if float < need {
            let text = |v: u128| Amount::from_base(v).to_decimal_string(coin.decimals);
            tracing::warn!(network = self.net(), treasury = %self.treasury, needed = %text(need), float = %text(float), "the hot wallet is short of TRX for token sweeps");
            self.done.short_of_gas = true;
            self.done.gas_needed = Some(format!(
                "Token deposits on {} wait to be swept: the hot wallet's treasury {} has {} TRX of the operator's own and the next sweep needs {} TRX to burn for energy and bandwidth. Send TRX to it.",
                self.chain.network.fullname,
                self.treasury,
                text(float),
                text(need),
            ));
            return Ok(false);
        }
        let treasury = Sender {
            address: self.treasury.clone(),
            key: (1, 0),
        };
        let intent = Intent::Trx {
            owner: decode(&treasury.address)?,
            to: decode(deposit)?,
            sun: i64::try_from(sun).unwrap_or(i64::MAX),
        };
        let built = self
            .node
            .build_transfer(&treasury.address, deposit, i64::try_from(sun).unwrap_or(0))
            .await
            .map_err(node_error)?;
        self.send(
            Purpose::Gas,
            &treasury,
            &built,
            &intent,
            own_fee,
            (coin, sun, deposit),
        )
        .await
    }

    /// Checks what the node built against `intent`, signs it with `sender`'s key, records it
    /// (its most burnt `burn`), then hands it over; false when the node built something else
    /// (nothing is signed).
    async fn send(
        &mut self,
        purpose: Purpose,
        sender: &Sender,
        built: &serde_json::Value,
        intent: &Intent,
        burn: u128,
        moves: (&Crypto, u128, &str),
    ) -> Result<bool, SweepError> {
        let (currency, amount, recipient) = moves;
        let accepted = match accept_built(built, intent, now_ms(self.st)) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(network = self.net(), error = %e, "the node built a sweep other than the one asked for: nothing signed");
                return Ok(false);
            }
        };
        let signature = sender.signs(&self.hot, |secret| sign(&accepted.raw, secret))?;
        if signer(&accepted.raw, &signature) != Some(decode(&sender.address)?) {
            return Err(SweepError::Sign(format!(
                "the key of {} did not sign for it",
                sender.address
            )));
        }
        let raw = signed_hex(&accepted, &signature).map_err(|e| SweepError::Sign(e.to_string()))?;
        let now = self.st.clock.now();
        let mut db = self.st.db.begin().await?;
        let nonce = take_nonce(&mut db, self.net(), &sender.address, 0, now).await?;
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
                amount: Amount::from_base(amount),
                txid: &accepted.txid,
                raw: &raw,
                gas_limit: 1,
                max_fee: burn,
                sent_height: self.tip,
            },
            now,
        )
        .await?;
        db.commit().await?;
        match self.chain.source.broadcast(&raw).await {
            Broadcast::Accepted => {}
            Broadcast::Refused(why) | Broadcast::Unknown(why) => {
                tracing::warn!(network = self.net(), txid = %accepted.txid, why, "the node did not take a sweep transaction (yet)");
            }
        }
        self.done.sent += 1;
        Ok(true)
    }
}

fn decode(text: &str) -> Result<[u8; 20], SweepError> {
    address::decode(text).map_err(|e| SweepError::Sign(format!("{text}: {e}")))
}
