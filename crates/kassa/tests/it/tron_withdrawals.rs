//! Withdrawals on TRON, on both engines, against the local server that speaks a TRON node's
//! HTTP API (`support::tron`: it builds, checks signatures, burns bandwidth and energy as the
//! network prices them), with `ledger::verify` after each step: USDT leaves the treasury with
//! its energy from the operator's float; TRX to an address that does not exist on chain yet
//! pays its creation, then everything in TRX pays its bytes — each fee charged exactly what
//! the node burnt. A treasury not on chain yet, then short of TRX for energy, keeps the
//! request waiting (one letter to the operator); a node that builds a transaction paying
//! someone else gets nothing signed; a token transfer that fails on chain is refunded.

use std::time::Duration;

use kassa_core::MerchantId;
use kassa_core::money::Amount;
use kassa_service::sweeps;
use kassa_service::withdrawals::requests::{self, Shown};
use kassa_store::ledger::{self, Kind};
use kassa_store::withdrawal_requests::{RequestRow, Stage};
use kassa_store::withdrawals::WithdrawalState;

use crate::engine_test;
use crate::evm_withdrawals::{ask_on, balance_of, request_of};
use crate::support::smtp::SmtpSink;
use crate::support::tron::{FakeTx, THIEF};
use crate::tron_live::{Rig, due};

/// Where withdrawals go: addresses no one in the test holds, not on chain until paid.
fn dest(n: u8) -> String {
    kassa_chain::address::tron::encode(&[n; 20])
}

/// A TRX amount in sun.
const TRX: u128 = 1_000_000;

async fn balance(r: &Rig, merchant: MerchantId, kind: Kind, code: &str) -> u128 {
    balance_of(&r.app, merchant, kind, code).await
}

async fn operator(r: &Rig, kind: Kind, code: &str) -> u128 {
    ledger::operator_balance(&mut r.app.state.db.conn().await.unwrap(), kind, code)
        .await
        .unwrap()
        .base()
}

async fn request(r: &Rig, public: &str) -> RequestRow {
    request_of(&r.app, public).await
}

async fn ask(
    r: &Rig,
    merchant: MerchantId,
    code: &str,
    to: &str,
    amount: requests::Asked,
) -> RequestRow {
    ask_on(&r.app, merchant, code, to, amount).await
}

fn treasury(r: &Rig) -> String {
    r.wallet.watch_only().treasury_address().unwrap()
}

/// Mines what was broadcast, then the confirmations, and lets the watcher follow.
async fn confirm(r: &mut Rig) {
    r.node.mine(Vec::new());
    r.node.mine_empty(19);
    r.watcher.step().await.unwrap();
}

/// Moves the app's clock and the node's on by a minute and a second, and runs what is due.
async fn a_minute_on(r: &Rig) {
    r.app.clock.advance(Duration::from_secs(61));
    r.node.advance(Duration::from_secs(61));
    r.app.drain_jobs().await;
}

/// The fee the node burnt for `txid`.
fn burnt(r: &Rig, txid: &str) -> u128 {
    u128::from(r.node.info(txid)["fee"].as_u64().unwrap())
}

engine_test!(
    async fn usdt_and_trx_leave_the_tron_treasury_each_fee_charged_as_burnt(engine) {
        let mut r = Rig::new(engine).await;
        let usdt_inv = r.invoice("USDT_TRC20", 40.0).await;
        let trx_inv = r.invoice("TRX", 30.0).await;
        r.paid(vec![
            r.usdt_to(&usdt_inv, due(&usdt_inv)),
            FakeTx::Trx { to: trx_inv.address.clone().unwrap(), sun: u64::try_from(due(&trx_inv).base()).unwrap() },
        ])
        .await;
        let merchant = usdt_inv.merchant_id;
        // What sweeps would have gathered, and the operator's float of 100 TRX.
        let t = treasury(&r);
        r.paid(vec![
            FakeTx::Trc20 { contract: r.usdt.clone(), to: t.clone(), amount: due(&usdt_inv).base(), failed: false },
            FakeTx::Trx { to: t.clone(), sun: u64::try_from(due(&trx_inv).base() + 100 * TRX).unwrap() },
        ])
        .await;
        let usdt_start = balance(&r, merchant, Kind::MerchantAvailable, "USDT_TRC20").await;
        assert!(usdt_start > 0);

        // The form offers TRON's token and says the service pays its network fee.
        let s = crate::support::accounts::sign_in(&r.app, "owner@tron.example").await;
        let form = s.get("/balance/withdraw?currency=USDT_TRC20").await;
        assert!(form.has("<option value=\"USDT_TRC20\" selected>"), "{}", form.body);
        assert!(form.has("id=\"w-gas\"") && form.has("paid by the service"), "{}", form.body);

        // USDT: the amount from the merchant, the energy from the float.
        let half = Amount::from_base(usdt_start / 2);
        let trx_custody = operator(&r, Kind::Custody, "TRX").await;
        let float_before = r.node.trx(&t).unwrap();
        let asked = ask(&r, merchant, "USDT_TRC20", &dest(1), requests::Asked::Exact(half)).await;
        r.app.drain_jobs().await;
        let sent = request(&r, &asked.public_id).await;
        assert_eq!(sent.stage, Stage::Submitted, "{:?}", sent.note);
        let tx = sent.tx.clone().unwrap();
        assert_eq!((tx.amount, tx.fee), (half, Amount::ZERO), "no fee in the token");
        assert_eq!(r.node.broadcasts(), 1);
        confirm(&mut r).await;
        let done = request(&r, &asked.public_id).await;
        assert_eq!(done.tx.as_ref().unwrap().state, WithdrawalState::Confirmed);
        assert_eq!(Shown::of(&done), Shown::Completed);
        assert_eq!(r.node.token(&r.usdt, &dest(1)), half.base());
        assert_eq!(r.node.token(&r.usdt, &t), due(&usdt_inv).base() - half.base());
        assert_eq!(balance(&r, merchant, Kind::MerchantAvailable, "USDT_TRC20").await, usdt_start - half.base());
        assert_eq!(balance(&r, merchant, Kind::MerchantWithdrawing, "USDT_TRC20").await, 0);
        let energy = burnt(&r, &tx.txid);
        assert!(energy > 27 * TRX, "a transfer to a new holder: 130,000 energy burnt ({energy})");
        assert_eq!(r.node.trx(&t).unwrap(), float_before - energy, "the float paid");
        assert_eq!(operator(&r, Kind::Custody, "TRX").await, trx_custody, "custody untouched");
        r.books_balance().await;

        // Two more at once: the float covers the most one transfer may burn; the other waits
        // for more float rather than reaching into custody's TRX.
        let one = Amount::parse("1", 6).unwrap();
        let mut pair = Vec::new();
        for _ in 0..2 {
            pair.push(ask(&r, merchant, "USDT_TRC20", &dest(1), requests::Asked::Exact(one)).await);
        }
        r.app.drain_jobs().await;
        let mut stages = Vec::new();
        for a in &pair {
            let q = request(&r, &a.public_id).await;
            if q.stage == Stage::Queued {
                assert!(q.note.as_deref().unwrap_or_default().contains("short of TRX for energy"), "{:?}", q.note);
            }
            stages.push(q.stage);
        }
        stages.sort_by_key(|s| format!("{s:?}"));
        assert_eq!(stages, [Stage::Queued, Stage::Submitted]);
        confirm(&mut r).await;
        r.paid(vec![FakeTx::Trx { to: t.clone(), sun: u64::try_from(50 * TRX).unwrap() }]).await;
        a_minute_on(&r).await;
        confirm(&mut r).await;
        for a in &pair {
            let q = request(&r, &a.public_id).await;
            assert_eq!(q.tx.as_ref().map(|t| t.state), Some(WithdrawalState::Confirmed), "{:?}", q.note);
        }
        assert_eq!(r.node.token(&r.usdt, &dest(1)), half.base() + 2 * one.base());
        assert_eq!(operator(&r, Kind::Custody, "TRX").await, trx_custody, "custody untouched");
        r.books_balance().await;

        // TRX to an address not on chain: the merchant pays its creation (1.1 TRX here).
        let trx_start = balance(&r, merchant, Kind::MerchantAvailable, "TRX").await;
        let five = Amount::from_base(5 * TRX);
        let before = r.node.trx(&t).unwrap();
        let first = ask(&r, merchant, "TRX", &dest(2), requests::Asked::Exact(five)).await;
        r.app.drain_jobs().await;
        let sent = request(&r, &first.public_id).await;
        assert_eq!(sent.stage, Stage::Submitted, "{:?}", sent.note);
        let tx = sent.tx.clone().unwrap();
        assert_eq!((tx.amount, tx.fee), (five, Amount::from_base(1_100_000)));
        confirm(&mut r).await;
        assert_eq!(request(&r, &first.public_id).await.tx.unwrap().state, WithdrawalState::Confirmed);
        assert_eq!(r.node.trx(&dest(2)), Some(five.base()));
        assert_eq!(burnt(&r, &tx.txid), tx.fee.base());
        assert_eq!(r.node.trx(&t).unwrap(), before - five.base() - tx.fee.base());

        // Everything left in TRX, to it again (now on chain): the fee is its bytes, from the
        // amount.
        let rest = trx_start - five.base() - tx.fee.base();
        assert_eq!(balance(&r, merchant, Kind::MerchantAvailable, "TRX").await, rest);
        let before = r.node.trx(&t).unwrap();
        let all = ask(&r, merchant, "TRX", &dest(2), requests::Asked::Everything).await;
        r.app.drain_jobs().await;
        let sent = request(&r, &all.public_id).await;
        assert_eq!(sent.stage, Stage::Submitted, "{:?}", sent.note);
        let tx = sent.tx.clone().unwrap();
        assert_eq!(tx.amount.base() + tx.fee.base(), rest);
        assert!(tx.fee.base() < TRX / 2, "bytes, not a creation: {}", tx.fee.base());
        confirm(&mut r).await;
        assert_eq!(request(&r, &all.public_id).await.tx.unwrap().state, WithdrawalState::Confirmed);
        assert_eq!(r.node.trx(&dest(2)), Some(five.base() + tx.amount.base()));
        assert_eq!(burnt(&r, &tx.txid), tx.fee.base(), "the fee charged is the fee burnt");
        assert_eq!(r.node.trx(&t).unwrap(), before - rest);
        assert_eq!(balance(&r, merchant, Kind::MerchantAvailable, "TRX").await, 0);
        assert_eq!(operator(&r, Kind::Custody, "TRX").await, trx_custody - trx_start);
        r.books_balance().await;
    }
);

engine_test!(
    async fn a_tron_withdrawal_waits_for_the_treasury_refuses_a_tampering_node_and_a_failed_call_is_refunded(engine) {
        let sink = SmtpSink::start().await;
        let url = sink.url();
        let mut r = Rig::new_with(engine, move |s| {
            s.mail.smtp_url = kassa_core::secret::SecretString::new(url.clone());
            s.notifications.operator_emails = "ops@example.com".into();
        })
        .await;
        let inv = r.invoice("USDT_TRC20", 40.0).await;
        r.paid(vec![r.usdt_to(&inv, due(&inv))]).await;
        let merchant = inv.merchant_id;
        let t = treasury(&r);
        // The treasury holds the token (as a sweep leaves it): tokens alone do not put an
        // account on chain.
        r.paid(vec![FakeTx::Trc20 { contract: r.usdt.clone(), to: t.clone(), amount: due(&inv).base(), failed: false }]).await;
        assert_eq!(r.node.trx(&t), None);
        let start = balance(&r, merchant, Kind::MerchantAvailable, "USDT_TRC20").await;
        let ten = Amount::parse("10", 6).unwrap();
        let asked = ask(&r, merchant, "USDT_TRC20", &dest(3), requests::Asked::Exact(ten)).await;
        r.app.drain_jobs().await;
        let waiting = request(&r, &asked.public_id).await;
        assert_eq!(waiting.stage, Stage::Queued);
        assert!(waiting.delayed_since.is_some());
        assert_eq!(Shown::of(&waiting), Shown::Processing);
        assert!(waiting.note.as_deref().unwrap_or_default().contains("does not exist on chain"), "{:?}", waiting.note);
        assert_eq!(balance(&r, merchant, Kind::MerchantWithdrawing, "USDT_TRC20").await, ten.base());
        let told = || sink.to("ops@example.com").into_iter().filter(|m| m.subject.contains("waits for the hot wallet")).count();
        assert_eq!(told(), 1);
        r.books_balance().await;

        // On chain with 2 TRX: not enough to burn for the energy.
        r.paid(vec![FakeTx::Trx { to: t.clone(), sun: u64::try_from(2 * TRX).unwrap() }]).await;
        a_minute_on(&r).await;
        let waiting = request(&r, &asked.public_id).await;
        assert_eq!(waiting.stage, Stage::Queued);
        assert!(waiting.note.as_deref().unwrap_or_default().contains("short of TRX for energy"), "{:?}", waiting.note);
        assert_eq!(told(), 1, "told once");

        // Funded, but the node builds a transfer to someone else: nothing is signed.
        r.paid(vec![FakeTx::Trx { to: t.clone(), sun: u64::try_from(100 * TRX).unwrap() }]).await;
        r.node.tamper(true);
        a_minute_on(&r).await;
        let waiting = request(&r, &asked.public_id).await;
        assert_eq!(waiting.stage, Stage::Queued);
        assert!(waiting.note.as_deref().unwrap_or_default().contains("other than the one asked for"), "{:?}", waiting.note);
        assert_eq!(r.node.broadcasts(), 0, "nothing handed to the node");
        assert_eq!(r.node.token(&r.usdt, &kassa_chain::address::tron::encode(&THIEF)), 0);
        assert_eq!(balance(&r, merchant, Kind::MerchantWithdrawing, "USDT_TRC20").await, ten.base());
        r.books_balance().await;

        // An honest node again: sent. The treasury's tokens leave before it is mined; the call
        // fails on chain (REVERT), pays nothing out, and the merchant gets it all back.
        r.node.tamper(false);
        a_minute_on(&r).await;
        let sent = request(&r, &asked.public_id).await;
        assert_eq!(sent.stage, Stage::Submitted, "{:?}", sent.note);
        assert!(sent.delayed_since.is_none());
        assert_eq!(r.node.broadcasts(), 1);
        let custody = operator(&r, Kind::Custody, "TRX").await;
        r.node.set_token(&r.usdt, &t, 0);
        confirm(&mut r).await;
        let failed = request(&r, &asked.public_id).await;
        let tx = failed.tx.clone().unwrap();
        assert_eq!(tx.state, WithdrawalState::Failed, "{tx:?}");
        assert!(tx.error.as_deref().unwrap_or_default().contains("mined but failed"), "{tx:?}");
        assert_eq!(Shown::of(&failed), Shown::Failed);
        assert_eq!(r.node.token(&r.usdt, &dest(3)), 0);
        assert!(burnt(&r, &tx.txid) > 0, "it burnt the float's TRX");
        assert_eq!(balance(&r, merchant, Kind::MerchantAvailable, "USDT_TRC20").await, start, "all back");
        assert_eq!(balance(&r, merchant, Kind::MerchantWithdrawing, "USDT_TRC20").await, 0);
        assert_eq!(operator(&r, Kind::Custody, "TRX").await, custody, "the float's loss, not custody's");
        r.books_balance().await;
    }
);

engine_test!(
    async fn tron_deposits_are_swept_with_trx_sent_ahead_for_energy_and_every_burn_booked(engine) {
        let sink = SmtpSink::start().await;
        let url = sink.url();
        let mut r = Rig::new_with(engine, move |s| {
            s.mail.smtp_url = kassa_core::secret::SecretString::new(url.clone());
            s.notifications.operator_emails = "ops@example.com".into();
            s.chains.tron.sweep_max_fee_percent = 100;
        })
        .await;
        assert!(sweeps::sweeps(&r.chain), "a hot wallet sweeps");
        let trx_inv = r.invoice("TRX", 500.0).await;
        let usdt_inv = r.invoice("USDT_TRC20", 40.0).await;
        let (trx_at, usdt_at) = (trx_inv.address.clone().unwrap(), usdt_inv.address.clone().unwrap());
        r.paid(vec![
            FakeTx::Trx { to: trx_at.clone(), sun: u64::try_from(due(&trx_inv).base()).unwrap() },
            r.usdt_to(&usdt_inv, due(&usdt_inv)),
        ])
        .await;
        let t = treasury(&r);
        let custody = operator(&r, Kind::Custody, "TRX").await;
        assert_eq!(custody, due(&trx_inv).base());
        let sweep = |r: &Rig| {
            let (st, chain) = (r.app.state.ctx.clone(), r.chain.clone());
            async move { sweeps::round(&st, &chain).await.unwrap() }
        };

        // TRX goes at once (its transfer creates the treasury on chain: 1.1 TRX). The USDT
        // address holds no TRX (it is not even on chain) and the treasury has no float: it
        // waits, and the operator is told once what to send where.
        let round = sweep(&r).await;
        assert_eq!((round.sent, round.short_of_gas), (1, true), "{round:?}");
        let mut told = false;
        sweeps::tell_operator(&r.app.state.ctx, &r.chain, &round, &mut told).await.unwrap();
        r.app.drain_jobs().await;
        let letters = sink.to("ops@example.com");
        assert_eq!(letters.len(), 1);
        assert!(letters[0].text.contains(&t), "it says where: {}", letters[0].text);
        assert_eq!(r.node.trx(&usdt_at), None);
        confirm(&mut r).await;
        let round = sweep(&r).await;
        assert_eq!((round.confirmed, round.short_of_gas), (1, true), "{round:?}");
        sweeps::tell_operator(&r.app.state.ctx, &r.chain, &round, &mut told).await.unwrap();
        r.app.drain_jobs().await;
        assert_eq!(sink.to("ops@example.com").len(), 1, "told once");
        let created = 1_100_000;
        assert_eq!(r.node.trx(&t), Some(due(&trx_inv).base() - created));
        assert_eq!(r.node.trx(&trx_at), Some(0), "nothing left behind");
        assert_eq!(operator(&r, Kind::ChainCosts, "TRX").await, created, "what the node burnt");
        assert_eq!(operator(&r, Kind::Custody, "TRX").await, custody - created);
        r.books_balance().await;

        // The merchant withdraws all their TRX: until it is mined, what the treasury still
        // holds of it is promised, not float — the token's top-up still waits.
        let all = ask(&r, trx_inv.merchant_id, "TRX", &dest(6), requests::Asked::Everything).await;
        r.app.drain_jobs().await;
        assert_eq!(request(&r, &all.public_id).await.stage, Stage::Submitted);
        assert!(r.node.trx(&t).unwrap() > 100 * TRX, "it would pay a top-up");
        let round = sweep(&r).await;
        assert_eq!((round.sent, round.short_of_gas), (0, true), "{round:?}");
        confirm(&mut r).await;
        assert_eq!(request(&r, &all.public_id).await.tx.unwrap().state, WithdrawalState::Confirmed);
        r.books_balance().await;

        // The operator's float arrives: TRX is sent ahead to the USDT address (creating it),
        // then the address sends the token with that TRX as its fee limit.
        r.paid(vec![FakeTx::Trx { to: t.clone(), sun: u64::try_from(200 * TRX).unwrap() }]).await;
        let before = r.node.trx(&t).unwrap();
        let round = sweep(&r).await;
        assert_eq!((round.sent, round.short_of_gas), (1, false), "{round:?}");
        confirm(&mut r).await;
        let ahead = r.node.trx(&usdt_at).expect("on chain now");
        assert!(ahead > 68 * TRX, "130,000 energy at 420 sun with a quarter's headroom: {ahead}");
        assert_eq!(r.node.trx(&t), Some(before - ahead - created), "the float paid, creation included");
        let round = sweep(&r).await;
        assert_eq!((round.confirmed, round.sent), (1, 1), "{round:?}");
        confirm(&mut r).await;
        let round = sweep(&r).await;
        assert_eq!(round.confirmed, 1, "{round:?}");
        assert_eq!(r.node.token(&r.usdt, &t), due(&usdt_inv).base());
        assert_eq!(r.node.token(&r.usdt, &usdt_at), 0);
        let left = r.node.trx(&usdt_at).unwrap();
        assert!(left > 0 && left < ahead, "the headroom not burnt stays for the next sweep: {left}");
        assert_eq!(operator(&r, Kind::Custody, "USDT_TRC20").await, due(&usdt_inv).base(), "moving between Kassa's own addresses changes no balance");
        assert_eq!(operator(&r, Kind::ChainCosts, "TRX").await, created, "token sweeps are the float's");
        // No top-up or sweep was taken for a payment.
        assert_eq!(r.row(&usdt_inv).await.received, due(&usdt_inv));
        assert_eq!(r.row(&trx_inv).await.received, due(&trx_inv));
        r.books_balance().await;

        // What was swept can leave: USDT from the treasury.
        let merchant = usdt_inv.merchant_id;
        let ten = Amount::parse("10", 6).unwrap();
        let asked = ask(&r, merchant, "USDT_TRC20", &dest(4), requests::Asked::Exact(ten)).await;
        r.app.drain_jobs().await;
        assert_eq!(request(&r, &asked.public_id).await.stage, Stage::Submitted);
        confirm(&mut r).await;
        assert_eq!(r.node.token(&r.usdt, &dest(4)), ten.base());
        r.books_balance().await;
    }
);
