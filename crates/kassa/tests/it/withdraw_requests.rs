//! Withdrawals as merchants ask for them, against a real `litecoind -regtest`, on both
//! engines, with `ledger::verify` after each step: the dashboard form confirmed with the
//! password and a fresh 2FA code (sent, confirmed, completed with its hash; a code used twice
//! or wrong, a bad address, refused next to the field), one the node refuses (funds back),
//! saved addresses and their cooling-off, the operator's approval above an amount, a
//! receivable that makes a request wait, automatic withdrawals by threshold (once per
//! crossing) and by schedule (at its time, by the manual clock), and the CryptoCloud
//! withdrawal API with its own key, its error keys and its 12-second limit.

use std::time::Duration;

use kassa_chain::spend::{FeeRate, Outputs, Payment, Policy};
use kassa_core::MerchantId;
use kassa_core::money::Amount;
use kassa_service::withdrawals::requests;
use kassa_store::ledger;
use kassa_store::withdrawal_requests::{self as store, RequestRow, Source, Stage};
use kassa_store::withdrawals::WithdrawalState;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::accounts::{PASSWORD, code, enable_2fa, sign_in};
use crate::support::litecoind::litecoind_skipped;
use crate::support::wait_until;
use crate::support::web::Session;
use crate::withdrawals::{OWNER, Rig, ltc, sat};

const STEP: Duration = Duration::from_secs(30);

/// The owner signed in with 2FA on; the manual key.
async fn owner_with_2fa(r: &Rig) -> (Session, String) {
    let s = sign_in(&r.app, OWNER).await;
    let (key, _) = enable_2fa(&r.app, &s).await;
    (s, key)
}

/// A code of the next 30-second step (each code works once).
fn fresh(r: &Rig, key: &str) -> String {
    r.app.clock.advance(STEP);
    code(&r.app, key)
}

async fn requests_of(r: &Rig, merchant: MerchantId) -> Vec<RequestRow> {
    store::of_merchant(
        &mut r.app.state.db.conn().await.unwrap(),
        merchant,
        None,
        100,
    )
    .await
    .unwrap()
}

async fn request(r: &Rig, public: &str) -> RequestRow {
    store::by_public_id(&mut r.app.state.db.conn().await.unwrap(), public)
        .await
        .unwrap()
        .unwrap()
}

async fn reserved(r: &Rig, merchant: MerchantId) -> u64 {
    let b = ledger::balances(&mut r.app.state.db.conn().await.unwrap(), merchant)
        .await
        .unwrap();
    let a = b
        .get(&(ledger::Kind::MerchantWithdrawing, "LTC".to_owned()))
        .copied()
        .unwrap_or(Amount::ZERO);
    u64::try_from(a.base()).unwrap()
}

fn units(a: Amount) -> u64 {
    u64::try_from(a.base()).unwrap()
}

/// Posts the withdrawal form.
async fn withdraw_form(s: &Session, fields: &[(&str, &str)]) -> crate::support::web::Resp {
    s.get("/balance/withdraw?currency=LTC").await;
    s.post("/balance/withdraw", fields).await
}

/// The public id in the redirect after a withdrawal was taken.
fn public_of(resp: &crate::support::web::Resp) -> String {
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    let to = resp.location.clone().unwrap();
    to.split("#wd-").nth(1).unwrap().to_owned()
}

engine_test!(
    async fn a_dashboard_withdrawal_with_2fa_is_sent_confirmed_and_shown_completed(engine) {
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new(engine).await;
        let merchant = r.paid_invoice(100.0).await;
        let start = r.available(merchant).await;
        let (s, key) = owner_with_2fa(&r).await;

        // The form: what is available, the network fee, the most that can be sent.
        let form = s.get("/balance/withdraw?currency=LTC").await;
        assert_eq!(form.status, StatusCode::OK);
        let available = Amount::from_base(u128::from(start)).to_decimal_string(8);
        assert!(form.has(&format!("id=\"q-available\">{available} LTC")), "{}", form.body);
        assert!(form.has("id=\"q-fee\">") && form.has("id=\"q-max\">"));
        assert!(form.has("name=\"code\""), "2FA is on: the form asks for a code");

        let to = r.node.new_address(&r.payer).await;
        let base = [("currency", "LTC"), ("address", to.as_str()), ("amount", "0.1"), ("password", PASSWORD)];
        // A wrong code, a wrong password, a bad address, a bad amount: each next to its field,
        // nothing written.
        let with = |extra: &[(&'static str, String)]| {
            let mut v: Vec<(&str, String)> = base.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
            for (k, val) in extra {
                v.retain(|(kk, _)| kk != k);
                v.push((k, val.clone()));
            }
            v
        };
        let post = |fields: Vec<(&'static str, String)>| {
            let s = &s;
            async move {
                let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                withdraw_form(s, &f).await
            }
        };
        let bad = post(with(&[("code", "000000".into())])).await;
        assert_eq!(bad.status, StatusCode::OK);
        assert!(bad.has("id=\"e-code\""), "{}", bad.body);
        let bad = post(with(&[("code", fresh(&r, &key)), ("password", "wrong password".into())])).await;
        assert!(bad.has("id=\"e-password\""), "{}", bad.body);
        let bad = post(with(&[("code", fresh(&r, &key)), ("address", "rltc1qnotanaddress".into())])).await;
        assert!(bad.has("id=\"e-address\""), "{}", bad.body);
        let bad = post(with(&[("code", fresh(&r, &key)), ("amount", "0.123456789".into())])).await;
        assert!(bad.has("id=\"e-amount\""), "{}", bad.body);
        let bad = post(with(&[("code", fresh(&r, &key)), ("amount", "1000".into())])).await;
        assert!(bad.has("id=\"e-amount\"") && bad.has("is available"), "{}", bad.body);
        assert!(requests_of(&r, merchant).await.is_empty(), "nothing written");
        assert_eq!(r.available(merchant).await, start);

        // The real one; its code cannot be used again.
        let good = fresh(&r, &key);
        let ok = post(with(&[("code", good.clone())])).await;
        let public = public_of(&ok);
        let again = post(with(&[("code", good)])).await;
        assert!(again.has("id=\"e-code\""), "a code works once: {}", again.body);
        let req = request(&r, &public).await;
        assert_eq!((req.stage, req.source), (Stage::Queued, Source::Dashboard));
        assert_eq!(req.amount, Amount::parse("0.1", 8).unwrap());
        // Amount and quoted fee are set aside at once.
        let held = reserved(&r, merchant).await;
        assert!(held > sat("0.1"), "{held}");
        assert_eq!(r.available(merchant).await, start - held);
        r.books_balance().await;
        let page = s.get("/balance").await;
        assert!(page.has(&format!("id=\"wd-{public}\"")) && page.has("Created"), "{}", page.body);

        // Its job signs and sends it.
        r.app.drain_jobs().await;
        let req = request(&r, &public).await;
        assert_eq!(req.stage, Stage::Submitted);
        let tx = req.tx.clone().unwrap();
        assert!(r.mempool().await.contains(&tx.txid));
        assert_eq!(reserved(&r, merchant).await, 0, "the reservation became the withdrawal");
        assert_eq!(r.available(merchant).await, start - sat("0.1") - units(tx.fee));
        let page = s.get("/balance").await;
        assert!(page.has("Processing") && page.has(&tx.txid), "{}", page.body);
        r.books_balance().await;

        r.node.mine(1, &r.miner).await;
        r.wait_for_states(&[(req.withdrawal.unwrap(), WithdrawalState::Confirmed)]).await;
        let page = s.get("/balance").await;
        assert!(page.has("Completed") && page.has(&tx.txid), "{}", page.body);
        assert_eq!(r.received(&to).await, sat("0.1"), "exactly the amount arrived");
        assert_eq!(r.available(merchant).await, start - sat("0.1") - units(tx.fee));
        r.books_balance().await;
        let activity = kassa_store::audit::activity_of(
            &mut r.app.state.db.conn().await.unwrap(),
            merchant,
            &Default::default(),
            50,
        )
        .await
        .unwrap();
        for action in ["withdrawal.requested", "withdrawal.submitted"] {
            assert!(activity.iter().any(|a| a.action == action), "{action} logged");
        }

        // "Everything available": the fee comes out of it, nothing is left.
        let before = r.available(merchant).await;
        let all = fresh(&r, &key);
        let ok = post(with(&[("code", all), ("amount", String::new()), ("everything", "1".into())])).await;
        let public = public_of(&ok);
        assert_eq!(r.available(merchant).await, 0);
        r.app.drain_jobs().await;
        let req = request(&r, &public).await;
        let tx = req.tx.clone().unwrap();
        assert_eq!(units(tx.amount) + units(tx.fee), before, "amount and fee are everything");
        assert_eq!(r.available(merchant).await, 0);
        r.node.mine(1, &r.miner).await;
        r.wait_for_states(&[(req.withdrawal.unwrap(), WithdrawalState::Confirmed)]).await;
        r.books_balance().await;
        r.app.stop().await;
    }
);

/// Every output of Kassa's wallet spent by a transaction the node holds, paying more than
/// Kassa's next withdrawal will: that one is refused (a conflict it cannot replace).
async fn block_kassa_outputs(r: &Rig) {
    let chain = r.app.state.chains.get(ltc().network).unwrap().clone();
    let (utxos, _) = kassa_service::withdrawals::our_outputs(&chain, 10)
        .await
        .unwrap();
    let total: u64 = utxos.iter().map(|u| u.amount).sum();
    let hot =
        kassa_service::chains::hot_wallet(&r.app.state.db, &r.app.state.keyring, ltc().network)
            .await
            .unwrap();
    let to = r.node.new_address(&r.payer).await;
    let request = kassa_chain::spend::Withdrawal {
        outputs: Outputs::PayFeeFromAmount(Payment {
            address: to,
            amount: total,
        }),
        fee_rate: FeeRate::from_sat_per_vb(200),
        change_index: 950,
        lock_time: 0,
    };
    let signed = kassa_chain::spend::build(&hot, &utxos, &request, &Policy::default()).unwrap();
    r.node
        .rpc
        .call("sendrawtransaction", json!([signed.hex]))
        .await
        .unwrap();
}

engine_test!(
    async fn a_withdrawal_the_node_refuses_fails_and_returns_the_funds(engine) {
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new(engine).await;
        let merchant = r.paid_invoice(100.0).await;
        let start = r.available(merchant).await;
        let (s, key) = owner_with_2fa(&r).await;
        let to = r.node.new_address(&r.payer).await;
        let ok = withdraw_form(
            &s,
            &[("currency", "LTC"), ("address", &to), ("amount", "0.2"), ("password", PASSWORD), ("code", &fresh(&r, &key))],
        )
        .await;
        let public = public_of(&ok);
        block_kassa_outputs(&r).await;
        r.app.drain_jobs().await;
        let req = request(&r, &public).await;
        assert_eq!(req.stage, Stage::Submitted);
        let tx = req.tx.clone().unwrap();
        assert_eq!(tx.state, WithdrawalState::Failed, "the node refused it: {tx:?}");
        assert_eq!(requests::Shown::of(&req), requests::Shown::Failed);
        assert_eq!(r.available(merchant).await, start, "every unit back");
        assert_eq!(reserved(&r, merchant).await, 0);
        let page = s.get("/balance").await;
        assert!(page.has("Failed, funds returned"), "{}", page.body);
        r.books_balance().await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_node_that_does_not_answer_is_said_next_to_the_form_not_a_500(engine) {
        if litecoind_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let merchant = r.paid_invoice(100.0).await;
        let start = r.available(merchant).await;
        let to = r.node.new_address(&r.payer).await;
        let s = sign_in(&r.app, OWNER).await;
        r.node.kill();
        let page = s.get("/balance/withdraw?currency=LTC").await;
        assert_eq!(page.status, StatusCode::OK, "the form still opens");
        let refused = withdraw_form(&s, &[("currency", "LTC"), ("address", &to), ("amount", "0.1"), ("password", PASSWORD)]).await;
        assert_eq!(refused.status, StatusCode::OK, "{}", refused.body);
        assert!(refused.has("id=\"e-currency\"") && refused.has("node is not answering"), "{}", refused.body);
        assert!(requests_of(&r, merchant).await.is_empty(), "nothing written");
        assert_eq!(r.available(merchant).await, start);
        r.books_balance().await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn saved_addresses_need_2fa_tell_the_owner_and_wait_out_their_cooling_off(engine) {
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new(engine).await;
        let merchant = r.paid_invoice(100.0).await;
        let s = sign_in(&r.app, OWNER).await;
        let to = r.node.new_address(&r.payer).await;
        // Without 2FA: refused, next to the code.
        s.get("/balance/addresses").await;
        let refused = s
            .post("/balance/addresses", &[("label", "Cold"), ("network", "LTC"), ("address", &to), ("password", PASSWORD)])
            .await;
        assert!(refused.has("id=\"e-code\"") && refused.has("two-factor"), "{}", refused.body);
        let (key, _) = enable_2fa(&r.app, &s).await;
        s.get("/balance/addresses").await;
        let bad = s
            .post("/balance/addresses", &[("label", "Cold"), ("network", "LTC"), ("address", "nope"), ("password", PASSWORD), ("code", &fresh(&r, &key))])
            .await;
        assert!(bad.has("id=\"e-address\""), "{}", bad.body);
        s.get("/balance/addresses").await;
        let saved = s
            .post("/balance/addresses", &[("label", "Cold"), ("network", "LTC"), ("address", &to), ("password", PASSWORD), ("code", &fresh(&r, &key))])
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let list = s.get("/balance/addresses").await;
        assert!(list.has(&to) && list.has("Cold"), "{}", list.body);
        // The owner is told (the mail job is written with the address).
        r.app.drain_jobs().await;
        let outbox = r.app.db.dir().join("outbox");
        let mails: Vec<String> = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        assert!(
            mails.iter().any(|m| m.contains("Subject: A withdrawal address was added") && m.contains("(\"Cold\")")),
            "{mails:?}"
        );

        // Inside its cooling-off it is refused, chosen from the list or typed.
        let addr = kassa_store::withdrawal_setup::addresses(&mut r.app.state.db.conn().await.unwrap(), merchant)
            .await
            .unwrap()
            .remove(0);
        let id = addr.id.get().to_string();
        let form = s.get("/balance/withdraw?currency=LTC").await;
        assert!(form.has(&format!("value=\"{id}\" disabled")), "{}", form.body);
        for fields in [
            vec![("currency", "LTC"), ("address_id", id.as_str()), ("amount", "0.1"), ("password", PASSWORD)],
            vec![("currency", "LTC"), ("address", to.as_str()), ("amount", "0.1"), ("password", PASSWORD)],
        ] {
            let mut fields = fields.clone();
            let c = fresh(&r, &key);
            fields.push(("code", &c));
            let refused = withdraw_form(&s, &fields).await;
            assert!(refused.has("id=\"e-address\"") && refused.has("can be used from"), "{}", refused.body);
        }
        assert!(requests_of(&r, merchant).await.is_empty());
        r.books_balance().await;

        // After it: usable.
        r.app.clock.advance(Duration::from_secs(24 * 3600 + 60));
        let ask = requests::Ask {
            merchant,
            network: ltc().network,
            currency: ltc(),
            destination: &to,
            amount: requests::Asked::Exact(Amount::parse("0.1", 8).unwrap()),
            source: Source::Dashboard,
            actor: &kassa_service::audit::Actor::kassa(),
            rule: None,
            address: Some(addr.id.get()),
        };
        let made = requests::ask(&r.app.state, &ask).await.unwrap();
        assert_eq!(made.stage, Stage::Queued);
        r.books_balance().await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn above_the_operators_amount_a_withdrawal_waits_for_approval(engine) {
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new_with(engine, |s| s.withdrawals.approval_above_usd = "1".into()).await;
        let merchant = r.paid_invoice(100.0).await;
        let start = r.available(merchant).await;
        let (s, key) = owner_with_2fa(&r).await;
        let to = r.node.new_address(&r.payer).await;
        let form = s.get("/balance/withdraw?currency=LTC").await;
        assert!(form.has("id=\"w-approval\""), "the form says so: {}", form.body);
        let big = withdraw_form(&s, &[("currency", "LTC"), ("address", &to), ("amount", "0.3"), ("password", PASSWORD), ("code", &fresh(&r, &key))]).await;
        let big = public_of(&big);
        let other = withdraw_form(&s, &[("currency", "LTC"), ("address", &to), ("amount", "0.05"), ("password", PASSWORD), ("code", &fresh(&r, &key))]).await;
        let other = public_of(&other);
        for p in [&big, &other] {
            assert_eq!(request(&r, p).await.stage, Stage::Approval);
        }
        r.app.drain_jobs().await;
        assert_eq!(request(&r, &big).await.stage, Stage::Approval, "nothing sent before approval");
        let page = s.get("/balance").await;
        assert!(page.has("Waiting for the operator&#x27;s approval") || page.has("Waiting for the operator's approval"), "{}", page.body);
        // The operator approves one and refuses the other.
        let approved = requests::approve(&r.app.state, &big).await.unwrap();
        assert_eq!(approved.stage, Stage::Queued);
        let o = request(&r, &other).await;
        assert!(
            requests::end(&r.app.state, o.id, Stage::Approval, Stage::Refused, "not today", kassa_service::audit::Actor::operator())
                .await
                .unwrap()
        );
        assert!(requests::approve(&r.app.state, &other).await.is_err(), "a refused request cannot be approved");
        r.app.drain_jobs().await;
        let big = request(&r, &big).await;
        assert_eq!(big.stage, Stage::Submitted);
        let tx = big.tx.unwrap();
        assert_eq!(r.available(merchant).await, start - sat("0.3") - units(tx.fee), "the refused one returned");
        assert_eq!(reserved(&r, merchant).await, 0);
        let page = s.get("/balance").await;
        assert!(page.has("not today"), "{}", page.body);
        r.books_balance().await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn while_the_merchant_owes_a_queued_withdrawal_waits_until_it_is_covered(engine) {
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new_with(engine, |s| s.withdrawals.approval_above_usd = "0".into()).await;
        let merchant = r.paid_invoice(100.0).await;
        let to = r.node.new_address(&r.payer).await;
        let ask = requests::Ask {
            merchant,
            network: ltc().network,
            currency: ltc(),
            destination: &to,
            amount: requests::Asked::Exact(Amount::parse("0.1", 8).unwrap()),
            source: Source::Dashboard,
            actor: &kassa_service::audit::Actor::kassa(),
            rule: None,
            address: None,
        };
        let made = requests::ask(&r.app.state, &ask).await.unwrap();
        assert_eq!(made.stage, Stage::Approval);
        // A credit taken back after it was withdrawn (as a reorganisation does): more than is
        // available, so the merchant owes the rest.
        let available = r.available(merchant).await;
        let owed = sat("0.05");
        {
            let mut tx = r.app.state.db.begin().await.unwrap();
            let custody = ledger::Account { kind: ledger::Kind::Custody, merchant: None, currency: "LTC" };
            let j = ledger::Journal { name: "test reversal", invoice: None, at: r.app.now() };
            ledger::charge_merchant(&mut tx, &j, merchant, &custody, Amount::from_base(u128::from(available + owed)))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        assert_eq!(r.owed(merchant).await, owed);
        r.books_balance().await;
        let s = sign_in(&r.app, OWNER).await;
        let page = s.get("/balance").await;
        assert!(page.has("id=\"b-owed\"") && page.has("class=\"b-owed\""), "the receivable is shown: {}", page.body);
        let form = s.get("/balance/withdraw?currency=LTC").await;
        assert!(form.has("id=\"w-owed\""), "{}", form.body);
        // A new request is refused while owed; the approved one waits, saying why.
        let refused = requests::ask(&r.app.state, &ask).await;
        assert!(matches!(refused, Err(requests::AskError::Owed { .. })), "{refused:?}");
        requests::approve(&r.app.state, &made.public_id).await.unwrap();
        r.app.drain_jobs().await;
        let waiting = request(&r, &made.public_id).await;
        assert_eq!(waiting.stage, Stage::Queued);
        assert!(waiting.note.as_deref().unwrap_or_default().contains("owed"), "{waiting:?}");
        r.books_balance().await;
        // New payments cover the debt; at its next look the withdrawal goes.
        r.paid_invoice(50.0).await;
        assert_eq!(r.owed(merchant).await, 0);
        r.app.clock.advance(requests::OWED_RECHECK + Duration::from_secs(1));
        r.app.drain_jobs().await;
        let sent = request(&r, &made.public_id).await;
        assert_eq!(sent.stage, Stage::Submitted, "{sent:?}");
        assert!(r.mempool().await.contains(&sent.tx.unwrap().txid));
        r.books_balance().await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_threshold_rule_fires_once_per_crossing_and_a_schedule_runs_at_its_time(engine) {
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new(engine).await;
        let merchant = r.paid_invoice(10.0).await;
        let chain = r.app.state.chains.get(ltc().network).unwrap().clone();
        let actor = kassa_service::audit::Actor::kassa();
        let to = r.node.new_address(&r.payer).await;
        let saved = kassa_service::withdrawals::addresses::save(&r.app.state, merchant, ltc().network, &to, "Cold", &actor)
            .await
            .unwrap();
        let rule = kassa_service::withdrawals::rules::save(
            &r.app.state,
            merchant,
            ltc().network,
            saved.id,
            &kassa_store::withdrawal_setup::Trigger::Threshold("5".into()),
            &actor,
        )
        .await
        .unwrap();
        let runs = || async {
            kassa_store::withdrawal_setup::runs(&mut r.app.state.db.conn().await.unwrap(), rule.id, 100)
                .await
                .unwrap()
        };
        // Above the threshold, but the address is still cooling off: the run is recorded,
        // nothing withdrawn, and the rule does not fire again while the balance stays above.
        let fired = kassa_service::withdrawals::rules::check_thresholds(&r.app.state, &chain).await.unwrap();
        assert_eq!(fired, 1);
        // The firing is a job, written with the disarming: nothing is made before it runs.
        assert!(runs().await.is_empty());
        for _ in 0..3 {
            kassa_service::withdrawals::rules::check_thresholds(&r.app.state, &chain).await.unwrap();
        }
        r.app.drain_jobs().await;
        let seen = runs().await;
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].1.contains("nothing withdrawn"), "{seen:?}");
        r.app.clock.advance(Duration::from_secs(25 * 3600));
        kassa_service::withdrawals::rules::check_thresholds(&r.app.state, &chain).await.unwrap();
        r.app.drain_jobs().await;
        assert_eq!(runs().await.len(), 1, "still the same crossing");
        // Below (everything withdrawn by hand), then above again: a new crossing fires.
        let everything = requests::Ask {
            merchant,
            network: ltc().network,
            currency: ltc(),
            destination: &to,
            amount: requests::Asked::Everything,
            source: Source::Dashboard,
            actor: &actor,
            rule: None,
            address: None,
        };
        requests::ask(&r.app.state, &everything).await.unwrap();
        r.app.drain_jobs().await;
        kassa_service::withdrawals::rules::check_thresholds(&r.app.state, &chain).await.unwrap();
        r.node.mine(1, &r.miner).await;
        r.paid_invoice(10.0).await;
        wait_until(20, "the watcher's round fires the rule", || async {
            r.app.drain_jobs().await;
            runs().await.len() == 2
        })
        .await;
        let seen = runs().await;
        assert!(seen[0].1.starts_with("withdrawal WD-"), "{seen:?}");
        let made = requests_of(&r, merchant).await.into_iter().find(|q| q.source == Source::Rule).unwrap();
        assert!(made.fee_from_amount, "a rule withdraws everything available");
        assert_eq!(r.available(merchant).await, 0);
        r.app.drain_jobs().await;
        assert_eq!(request(&r, &made.public_id).await.stage, Stage::Submitted);
        r.books_balance().await;

        // A schedule (replacing the threshold rule): daily two minutes from now, in UTC+3;
        // nothing before, one run at it.
        let local = r.app.now().saturating_add(Duration::from_secs(3 * 3600 + 120)).to_datetime();
        let schedule = kassa_service::withdrawals::rules::parse_schedule(
            "daily",
            &format!("{:02}:{:02}", local.hour(), local.minute()),
            "",
            "+03:00",
        )
        .unwrap();
        let rule = kassa_service::withdrawals::rules::save(
            &r.app.state,
            merchant,
            ltc().network,
            saved.id,
            &kassa_store::withdrawal_setup::Trigger::Schedule(schedule),
            &actor,
        )
        .await
        .unwrap();
        r.node.mine(1, &r.miner).await;
        r.paid_invoice(10.0).await;
        let next = rule.next_run_at.unwrap();
        assert!(next > r.app.now() && next.duration_since(r.app.now()) <= Duration::from_secs(180), "{next:?}");
        r.app.drain_jobs().await;
        let before = requests_of(&r, merchant).await.len();
        assert_eq!(before, requests_of(&r, merchant).await.len());
        r.app.clock.advance(Duration::from_secs(180));
        r.app.drain_jobs().await;
        let after = requests_of(&r, merchant).await;
        assert_eq!(after.len(), before + 1, "one run at its time");
        let rule = kassa_store::withdrawal_setup::rule_by_id(&mut r.app.state.db.conn().await.unwrap(), rule.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rule.next_run_at.unwrap().duration_since(next), Duration::from_secs(86_400), "the next is a day later");
        r.app.drain_jobs().await;
        assert_eq!(requests_of(&r, merchant).await.len(), before + 1, "and only one");
        r.books_balance().await;
        r.app.stop().await;
    }
);

/// `POST /v2/invoice/api/out/create` with `key`.
async fn out_create(r: &Rig, key: &str, body: Value) -> (StatusCode, Value) {
    let resp = r
        .app
        .client
        .post(format!("{}/v2/invoice/api/out/create", r.app.base))
        .header("authorization", format!("Token {key}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

engine_test!(
    async fn the_withdrawal_api_with_its_own_key_error_keys_and_12_second_limit(engine) {
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new(engine).await;
        let merchant = r.paid_invoice(100.0).await;
        let start = r.available(merchant).await;
        let (s, totp) = owner_with_2fa(&r).await;
        // The key: made with 2FA, shown once, stored as a hash.
        s.get("/account/withdrawal-key").await;
        let made = s
            .post("/account/withdrawal-key", &[("password", PASSWORD), ("code", &fresh(&r, &totp))])
            .await;
        let made = s.follow(&made).await;
        let key = crate::support::web::extract(&made.body, "id=\"withdrawal-key\">")
            .map(|k| k.split('<').next().unwrap().to_owned())
            .expect("the key on the page");
        let again = s.get("/account/withdrawal-key").await;
        assert!(!again.has(&key) && again.has("The current key was made"), "shown once");
        let stored: Vec<String> = sqlx_hashes(&r).await;
        assert!(!stored.iter().any(|h| h.contains(&key)), "only its hash is stored");
        // The project's API key is not a withdrawal key.
        let (status, _) = out_create(&r, &r.shop.key, json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let to = r.node.new_address(&r.payer).await;
        let (status, body) = out_create(&r, &key, json!({"currency_code": "LTC", "to_address": to, "amount": 0.05})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "success");
        assert_eq!(body["result"]["status"], "created");
        assert_eq!(body["result"]["currency"], "LTC");
        assert_eq!(body["result"]["amount"], json!(0.05));
        assert_eq!(body["result"], body["data"]);
        let id = body["result"]["invoice_id"].as_str().unwrap().strip_prefix("INV-").unwrap().to_owned();
        let req = request(&r, &id).await;
        assert_eq!(req.source, Source::Api);
        // Within 12 seconds: 429 rate_limit, whatever the body.
        let (status, body) = out_create(&r, &key, json!({})).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(body["result"]["rate_limit"].is_string(), "{body}");
        // Every error key of the contract.
        let cases = [
            (json!({"currency_code": "LTC", "to_address": to}), "required_parameter"),
            (json!({"currency_code": "DOGE", "to_address": to, "amount": 1}), "currency_code"),
            (json!({"currency_code": "LTC", "to_address": "rltc1qnope", "amount": 0.01}), "network"),
            (json!({"currency_code": "LTC", "to_address": to, "amount": "abc"}), "uncorrected_amount"),
            (json!({"currency_code": "LTC", "to_address": to, "amount": 5000}), "uncorrected_amount"),
        ];
        for (body, want) in cases {
            r.app.clock.advance(Duration::from_secs(13));
            let (status, answer) = out_create(&r, &key, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
            assert!(answer["result"][want].is_string(), "{body} → {answer}");
        }
        // validate_error: an address the merchant saved a moment ago (cooling off).
        let cooling = r.node.new_address(&r.payer).await;
        kassa_service::withdrawals::addresses::save(&r.app.state, merchant, ltc().network, &cooling, "New", &kassa_service::audit::Actor::kassa())
            .await
            .unwrap();
        r.app.clock.advance(Duration::from_secs(13));
        let (status, answer) = out_create(&r, &key, json!({"currency_code": "LTC", "to_address": cooling, "amount": 0.01})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(answer["result"]["validate_error"].is_string(), "{answer}");
        // An automatic withdrawal made and deleted through its page (2FA each time).
        let addr = kassa_store::withdrawal_setup::addresses(&mut r.app.state.db.conn().await.unwrap(), merchant)
            .await
            .unwrap()
            .remove(0);
        s.get("/balance/rules").await;
        let bad = s
            .post("/balance/rules", &[("network", "LTC"), ("address_id", &addr.id.get().to_string()), ("kind", "threshold"), ("threshold", "-5"), ("password", PASSWORD), ("code", &fresh(&r, &totp))])
            .await;
        assert!(bad.has("id=\"e-threshold\""), "{}", bad.body);
        let saved = s
            .post("/balance/rules", &[("network", "LTC"), ("address_id", &addr.id.get().to_string()), ("kind", "schedule"), ("period", "weekly"), ("day", "5"), ("time", "18:30"), ("offset", "+02:00"), ("password", PASSWORD), ("code", &fresh(&r, &totp))])
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let page = s.get("/balance/rules").await;
        assert!(page.has("id=\"rule-LTC\"") && page.has("18:30 UTC+02:00"), "{}", page.body);
        let gone = s.post("/balance/rules/LTC/delete", &[("password", PASSWORD), ("code", &fresh(&r, &totp))]).await;
        assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);
        assert!(!s.get("/balance/rules").await.has("id=\"rule-LTC\""));

        // The list shows it, marked API; the job sends it.
        let page = s.get("/balance").await;
        assert!(page.has(&format!("id=\"wd-{id}\"")) && page.has("<span class=\"badge\">API</span>"), "{}", page.body);
        r.app.drain_jobs().await;
        let req = request(&r, &id).await;
        assert_eq!(req.stage, Stage::Submitted);
        assert_eq!(r.available(merchant).await, start - sat("0.05") - units(req.tx.unwrap().fee));
        // balance/all reports the real balances.
        let bal = r.shop.post("/v2/merchant/wallet/balance/all", json!({})).await;
        let ltc_line = bal.body["result"].as_array().unwrap().iter().find(|b| b["currency"]["code"] == "LTC").cloned().unwrap();
        let available = Amount::from_base(u128::from(r.available(merchant).await)).to_decimal_string(8);
        assert_eq!(ltc_line["available_balance"].to_string(), available.trim_end_matches('0').trim_end_matches('.'));
        r.books_balance().await;
        r.app.stop().await;
    }
);

/// Every withdrawal key hash stored.
async fn sqlx_hashes(r: &Rig) -> Vec<String> {
    let mut c = r.app.state.db.conn().await.unwrap();
    kassa_store::sql!(&mut c, |c| sqlx::query_scalar(
        "select key_hash from withdrawal_key"
    )
    .fetch_all(c)
    .await)
    .unwrap()
}

/// The withdrawal form in real Chromium at phone width, with 2FA: the quote, a wrong code shown
/// next to its field, the withdrawal made with a fresh code, then processing and completed on
/// the balance page; no sideways scrolling. Screenshots in `test-artifacts/withdraw/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_withdrawal_form_with_2fa_at_phone_width_in_chromium() {
    use crate::support::webdriver::{Browser, artifacts, browser_skipped};
    if litecoind_skipped() || browser_skipped() {
        return;
    }
    let r = Rig::new(kassa_store::Engine::Sqlite).await;
    let merchant = r.paid_invoice(100.0).await;
    let start = r.available(merchant).await;
    let shots = artifacts("withdraw");
    let b = Browser::start(390, 844).await;
    let no_sideways_scroll = || async {
        let overflow = b
            .execute("return document.documentElement.scrollWidth - window.innerWidth;")
            .await;
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "sideways scroll of {overflow} px"
        );
    };
    b.goto(&format!("{}/login", r.app.base)).await;
    b.type_into("#f-email", OWNER).await;
    b.type_into("#f-password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for_path("/dashboard").await;
    b.goto(&format!("{}/account/2fa", r.app.base)).await;
    b.click("form[action='/account/2fa/setup'] button").await;
    b.wait_for_path("/account/2fa").await;
    let key = b.text("#totp-key").await;
    b.type_into("#f-code", &code(&r.app, &key)).await;
    b.click("form[action='/account/2fa/confirm'] button").await;
    b.find("#recovery-codes").await;

    b.goto(&format!("{}/balance", r.app.base)).await;
    b.click("#withdraw-link").await;
    b.wait_for_path("/balance/withdraw").await;
    let available = Amount::from_base(u128::from(start)).to_decimal_string(8);
    assert!(b.text("#q-available").await.contains(&available));
    assert!(b.text("#q-fee").await.ends_with("LTC"));
    no_sideways_scroll().await;
    b.screenshot(&shots, "01-form-phone").await;

    let to = r.node.new_address(&r.payer).await;
    b.type_into("#f-address", &to).await;
    b.type_into("#f-amount", "0.25").await;
    b.type_into("#f-password", PASSWORD).await;
    b.type_into("#f-code", "123456").await;
    b.click("#w-submit").await;
    assert!(
        b.text("#e-code").await.contains("code"),
        "the wrong code is named"
    );
    assert!(
        b.source().await.contains(&format!("value=\"{to}\"")),
        "what was typed is kept"
    );
    no_sideways_scroll().await;
    b.screenshot(&shots, "02-wrong-code-phone").await;

    r.app.clock.advance(STEP);
    b.type_into("#f-password", PASSWORD).await;
    b.type_into("#f-code", &code(&r.app, &key)).await;
    b.click("#w-submit").await;
    b.wait_for_path("/balance").await;
    assert!(b.text(".flash").await.contains("withdrawal was created"));
    assert!(b.text(".w-state").await.contains("Created"));
    b.screenshot(&shots, "03-created-phone").await;

    r.app.drain_jobs().await;
    b.goto(&format!("{}/balance", r.app.base)).await;
    assert!(b.text(".w-state").await.contains("Processing"));
    let txid = b.text(".w-txid").await;
    assert!(r.mempool().await.contains(&txid), "{txid}");
    r.node.mine(1, &r.miner).await;
    let w = requests_of(&r, merchant).await.remove(0);
    r.wait_for_states(&[(w.withdrawal.unwrap(), WithdrawalState::Confirmed)])
        .await;
    b.goto(&format!("{}/balance", r.app.base)).await;
    assert!(b.text(".w-state").await.contains("Completed"));
    no_sideways_scroll().await;
    b.screenshot(&shots, "04-completed-phone").await;
    b.resize(1280, 900).await;
    b.screenshot(&shots, "05-completed-desktop").await;
    assert_eq!(r.received(&to).await, sat("0.25"));
    r.books_balance().await;
    b.quit().await;
    r.app.stop().await;
}

engine_test!(
    async fn a_payment_double_spent_in_a_reorg_after_a_withdrawal_leaves_a_receivable(engine) {
        use crate::support::api::stored_invoice;
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new(engine).await;
        // A large payment, then a small one in its own block.
        let merchant = r.paid_invoice(500.0).await;
        let inv = r.shop.create(50.0, json!({"add_fields": {"cryptocurrency": "LTC"}})).await;
        let uuid = inv["uuid"].as_str().unwrap().to_owned();
        let row = stored_invoice(&r.app, &uuid).await;
        let txid = r.node.send(&r.payer, row.address.as_deref().unwrap(), row.quote.unwrap().due).await;
        let block = r.node.mine(1, &r.miner).await.remove(0);
        wait_until(20, "the small payment counted", || async {
            r.shop.invoice(&uuid).await["status"] == "paid"
        })
        .await;
        // Nearly everything is withdrawn; the large payment's output alone pays it.
        let to = r.node.new_address(&r.payer).await;
        let w = r.withdraw(merchant, &to, sat("4.95")).await.unwrap();
        assert_eq!(w.inputs.len(), 1, "only the large payment's output is spent: {:?}", w.inputs);
        r.node.mine(1, &r.miner).await;
        r.wait_for_states(&[(w.id, WithdrawalState::Confirmed)]).await;
        let left = r.available(merchant).await;

        // The small payment's block leaves the chain and the payer spends its coins elsewhere;
        // the withdrawal stays valid (it spends only the large payment).
        r.node.rpc.call("invalidateblock", json!([block])).await.unwrap();
        let tx: Value = r.payer.call("gettransaction", json!([txid])).await.unwrap();
        let decoded: Value = r.node.rpc.call("decoderawtransaction", json!([tx["hex"]])).await.unwrap();
        let mut inputs = Vec::new();
        let mut total = Amount::ZERO;
        for vin in decoded["vin"].as_array().unwrap() {
            let out: Value = r.node.rpc.call("gettxout", json!([vin["txid"], vin["vout"], false])).await.unwrap();
            total = total.checked_add(Amount::parse(&out["value"].to_string(), 8).unwrap()).unwrap();
            inputs.push(json!({"txid": vin["txid"], "vout": vin["vout"]}));
        }
        let back = r.node.new_address(&r.payer).await;
        let keep = total.checked_sub(Amount::parse("0.001", 8).unwrap()).unwrap().to_decimal_string(8);
        let raw: Value = r.node.rpc.call("createrawtransaction", json!([inputs, [{back: keep}]])).await.unwrap();
        let signed: Value = r.payer.call("signrawtransactionwithwallet", json!([raw])).await.unwrap();
        r.node.rpc.call("generateblock", json!([r.miner, [signed["hex"]]])).await.unwrap();
        r.node.mine(2, &r.miner).await;
        wait_until(30, "the credit taken back, partly owed", || async { r.owed(merchant).await > 0 }).await;
        assert_eq!(r.available(merchant).await, 0, "the available balance went first");
        let owed = r.owed(merchant).await;
        assert!(owed < sat("0.4905") && owed + left >= sat("0.49"), "owed {owed}, left before {left}");
        // The withdrawal stands: its lock time kept it out of the shorter chain's mempool;
        // Kassa hands it over again, and it is mined in the new chain.
        wait_until(20, "the withdrawal in a block or the mempool again", || async {
            r.follow().await;
            r.mempool().await.contains(&w.txid)
                || r.rows().await.iter().any(|x| x.id == w.id && x.block.is_some())
        })
        .await;
        r.node.mine(1, &r.miner).await;
        r.wait_for_states(&[(w.id, WithdrawalState::Confirmed)]).await;
        assert_eq!(r.owed(merchant).await, owed, "charged once");
        r.books_balance().await;
        // Shown on the balance page; the next withdrawal waits.
        let s = sign_in(&r.app, OWNER).await;
        let page = s.get("/balance").await;
        assert!(page.has("id=\"b-owed\"") && page.has(&format!("<strong class=\"b-owed\">{}</strong>", Amount::from_base(u128::from(owed)).to_decimal_string(8))), "{}", page.body);
        let next = requests::Ask {
            merchant,
            network: ltc().network,
            currency: ltc(),
            destination: &to,
            amount: requests::Asked::Exact(Amount::parse("0.01", 8).unwrap()),
            source: Source::Dashboard,
            actor: &kassa_service::audit::Actor::kassa(),
            rule: None,
            address: None,
        };
        assert!(matches!(requests::ask(&r.app.state, &next).await, Err(requests::AskError::Owed { .. })));
        r.app.stop().await;
    }
);
