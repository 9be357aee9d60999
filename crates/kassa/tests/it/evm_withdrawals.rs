//! Withdrawals on an EVM network against a real `anvil`, on both engines, with
//! `ledger::verify` after each: USDT asked for in the dashboard leaves the treasury (gas from
//! the operator's float, nothing in the coin from the merchant) and is confirmed; everything in
//! ETH goes with the fee out of it, charged exactly what the chain took. A token withdrawal
//! the treasury has no gas for is not lost: it waits delayed with its reservation (the
//! merchant sees "processing", the operator gets one letter), and goes out by itself once the
//! treasury is funded.

use std::time::Duration;

use kassa_core::money::Amount;
use kassa_core::{MerchantId, currency};
use kassa_service::withdrawals::requests::{self, Shown};
use kassa_store::ledger::{self, Kind};
use kassa_store::withdrawal_requests::{self as store, RequestRow, Source, Stage};
use kassa_store::withdrawals::WithdrawalState;

use crate::engine_test;
use crate::evm_sweeps::{ONE_ETH, OWNER, Rig, due};
use crate::support::TestApp;
use crate::support::accounts::{PASSWORD, sign_in};
use crate::support::anvil::anvil_skipped;
use crate::support::smtp::SmtpSink;

/// Where the withdrawals go: an address no one in the test holds.
const DEST: &str = "0x1111111111111111111111111111111111111111";

async fn balance(r: &Rig, merchant: MerchantId, kind: Kind, code: &str) -> u128 {
    balance_of(&r.app, merchant, kind, code).await
}

async fn request(r: &Rig, public: &str) -> RequestRow {
    request_of(&r.app, public).await
}

async fn ask(r: &Rig, merchant: MerchantId, code: &str, amount: requests::Asked) -> RequestRow {
    ask_on(&r.app, merchant, code, DEST, amount).await
}

/// The merchant's ledger balance of `kind` in `code`.
pub(crate) async fn balance_of(
    app: &TestApp,
    merchant: MerchantId,
    kind: Kind,
    code: &str,
) -> u128 {
    ledger::balances(&mut app.state.db.conn().await.unwrap(), merchant)
        .await
        .unwrap()
        .get(&(kind, code.to_owned()))
        .copied()
        .unwrap_or(Amount::ZERO)
        .base()
}

/// Request `public` as stored.
pub(crate) async fn request_of(app: &TestApp, public: &str) -> RequestRow {
    store::by_public_id(&mut app.state.db.conn().await.unwrap(), public)
        .await
        .unwrap()
        .unwrap()
}

/// Asks for `amount` of `code` to `to` as the merchant's own (a rule's path).
pub(crate) async fn ask_on(
    app: &TestApp,
    merchant: MerchantId,
    code: &str,
    to: &str,
    amount: requests::Asked,
) -> RequestRow {
    let c = currency::crypto(code).unwrap();
    let actor = kassa_service::audit::Actor::kassa();
    requests::ask(
        &app.state,
        &requests::Ask {
            merchant,
            network: c.network,
            currency: c,
            destination: to,
            amount,
            source: Source::Api,
            actor: &actor,
            rule: None,
            address: None,
        },
    )
    .await
    .unwrap()
}

/// Mines the network's confirmations and lets the watcher follow.
async fn confirm(r: &mut Rig) {
    r.node.mine(2).await;
    r.watcher.step().await.unwrap();
}

engine_test!(
    async fn usdt_from_the_dashboard_and_everything_in_eth_leave_the_treasury_booked_exactly(engine) {
        if anvil_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let usdt_inv = r.paid("USDT_ERC20", 40.0).await;
        r.paid("ETH", 50.0).await;
        let merchant = usdt_inv.merchant_id;
        // The operator's float, then sweeps until both deposits are in the treasury.
        r.node.send_native(&r.payer, &r.treasury, ONE_ETH).await;
        for _ in 0..8 {
            r.sweep().await;
            r.node.mine(1).await;
        }
        assert_eq!(r.usdt_of(&r.treasury).await, due(&usdt_inv));
        let usdt_start = balance(&r, merchant, Kind::MerchantAvailable, "USDT_ERC20").await;
        assert!(usdt_start > 0);

        // The form offers the token, and says who pays its gas.
        let s = sign_in(&r.app, OWNER).await;
        let form = s.get("/balance/withdraw?currency=USDT_ERC20").await;
        assert!(form.has("id=\"w-gas\"") && form.has("paid by the service"), "{}", form.body);
        assert!(form.has("<option value=\"USDT_ERC20\" selected>"), "{}", form.body);
        let half = Amount::from_base(usdt_start / 2);
        let done = s
            .post(
                "/balance/withdraw",
                &[
                    ("currency", "USDT_ERC20"),
                    ("address", DEST),
                    ("amount", &half.to_decimal_string(6)),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(done.status, reqwest::StatusCode::SEE_OTHER, "{}", done.body);
        let public = done.location.clone().unwrap().split("#wd-").nth(1).unwrap().to_owned();
        let treasury_eth = r.eth(&r.treasury).await;
        r.app.drain_jobs().await;
        let sent = request(&r, &public).await;
        assert_eq!(sent.stage, Stage::Submitted, "{:?}", sent.note);
        assert_eq!(Shown::of(&sent), Shown::Processing);
        let tx = sent.tx.clone().unwrap();
        assert_eq!((tx.amount, tx.fee), (half, Amount::ZERO), "no fee in the token");
        confirm(&mut r).await;
        let done = request(&r, &public).await;
        assert_eq!(done.tx.as_ref().unwrap().state, WithdrawalState::Confirmed);
        assert_eq!(Shown::of(&done), Shown::Completed);
        assert_eq!(r.usdt_of(DEST).await, half.base());
        assert_eq!(r.usdt_of(&r.treasury).await, due(&usdt_inv) - half.base());
        assert_eq!(balance(&r, merchant, Kind::MerchantAvailable, "USDT_ERC20").await, usdt_start - half.base());
        assert_eq!(balance(&r, merchant, Kind::MerchantWithdrawing, "USDT_ERC20").await, 0);
        assert_eq!(r.operator(Kind::Custody, "USDT_ERC20").await, due(&usdt_inv) - half.base());
        // Its gas came from the float; sweeps' rounds follow its row to confirmed.
        r.sweep().await;
        let row = r.txs().await.into_iter().find(|t| t.purpose == "withdrawal").unwrap();
        assert_eq!((row.state.as_str(), row.txid.as_str()), ("confirmed", tx.txid.as_str()));
        assert_eq!(r.eth(&r.treasury).await, treasury_eth - crate::evm_sweeps::fee(&row));
        r.books_balance().await;

        // Everything in ETH: the fee comes out of it, and is exactly what the chain took.
        let eth_start = balance(&r, merchant, Kind::MerchantAvailable, "ETH").await;
        let custody = r.operator(Kind::Custody, "ETH").await;
        let treasury_eth = r.eth(&r.treasury).await;
        let all = ask(&r, merchant, "ETH", requests::Asked::Everything).await;
        r.app.drain_jobs().await;
        let sent = request(&r, &all.public_id).await;
        assert_eq!(sent.stage, Stage::Submitted, "{:?}", sent.note);
        confirm(&mut r).await;
        let done = request(&r, &all.public_id).await;
        let tx = done.tx.clone().unwrap();
        assert_eq!(tx.state, WithdrawalState::Confirmed);
        assert_eq!(tx.amount.base() + tx.fee.base(), eth_start);
        assert_eq!(r.eth(DEST).await, tx.amount.base());
        assert_eq!(r.eth(&r.treasury).await, treasury_eth - eth_start, "the fee charged is the fee paid");
        assert_eq!(balance(&r, merchant, Kind::MerchantAvailable, "ETH").await, 0);
        assert_eq!(r.operator(Kind::Custody, "ETH").await, custody - eth_start);
        r.books_balance().await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_token_withdrawal_short_of_gas_waits_delayed_and_goes_out_once_the_treasury_is_funded(engine) {
        if anvil_skipped() {
            return;
        }
        let sink = SmtpSink::start().await;
        let url = sink.url();
        let mut r = Rig::new_with(engine, move |s| {
            s.mail.smtp_url = kassa_core::secret::SecretString::new(url.clone());
            s.notifications.operator_emails = "ops@example.com".into();
        })
        .await;
        let inv = r.paid("USDT_ERC20", 40.0).await;
        let merchant = inv.merchant_id;
        // The treasury holds the token (as a sweep leaves it) and no coin of its own.
        r.node.token_transfer(&r.usdt, &r.payer, &r.treasury, due(&inv)).await;
        let start = balance(&r, merchant, Kind::MerchantAvailable, "USDT_ERC20").await;
        let ten = Amount::parse("10", 6).unwrap();
        let asked = ask(&r, merchant, "USDT_ERC20", requests::Asked::Exact(ten)).await;
        r.app.drain_jobs().await;

        // Not sent, not failed: delayed, with the reservation kept.
        let waiting = request(&r, &asked.public_id).await;
        assert_eq!(waiting.stage, Stage::Queued);
        assert!(waiting.delayed_since.is_some());
        assert_eq!(Shown::of(&waiting), Shown::Processing, "the merchant reads it as on its way");
        assert!(waiting.note.as_deref().unwrap_or_default().contains("short of gas"), "{:?}", waiting.note);
        assert_eq!(balance(&r, merchant, Kind::MerchantWithdrawing, "USDT_ERC20").await, ten.base());
        assert_eq!(balance(&r, merchant, Kind::MerchantAvailable, "USDT_ERC20").await, start - ten.base());
        assert!(r.txs().await.is_empty(), "nothing handed to the node");
        let told = || sink.to("ops@example.com").into_iter().filter(|m| m.subject.contains("waits for the hot wallet")).count();
        assert_eq!(told(), 1);
        assert!(sink.to("ops@example.com")[0].text.contains(&r.treasury), "it says where to send gas");
        let s = sign_in(&r.app, OWNER).await;
        let page = s.get("/balance").await;
        assert!(page.has("Processing") && page.has("Delayed"), "{}", page.body);
        r.books_balance().await;

        // A minute on, still short: it waits again, the operator is not told twice.
        r.app.clock.advance(Duration::from_secs(61));
        r.app.drain_jobs().await;
        assert_eq!(request(&r, &asked.public_id).await.stage, Stage::Queued);
        assert_eq!(told(), 1);

        // The operator funds the treasury: the next look sends it.
        r.node.send_native(&r.payer, &r.treasury, ONE_ETH / 10).await;
        r.app.clock.advance(Duration::from_secs(61));
        r.app.drain_jobs().await;
        let sent = request(&r, &asked.public_id).await;
        assert_eq!(sent.stage, Stage::Submitted, "{:?}", sent.note);
        assert!(sent.delayed_since.is_none());
        confirm(&mut r).await;
        let done = request(&r, &asked.public_id).await;
        assert_eq!(Shown::of(&done), Shown::Completed);
        assert_eq!(r.usdt_of(DEST).await, ten.base());
        assert_eq!(balance(&r, merchant, Kind::MerchantWithdrawing, "USDT_ERC20").await, 0);
        assert_eq!(balance(&r, merchant, Kind::MerchantAvailable, "USDT_ERC20").await, start - ten.base());
        r.books_balance().await;
        r.app.stop().await;
    }
);

/// Sets the test token's balance of `holder` (its `balanceOf` mapping is storage slot 3).
async fn set_token_balance(r: &Rig, holder: &str, units: u128) {
    let key = format!(
        "0x{:0>64}{:0>64}",
        holder.trim_start_matches("0x").to_ascii_lowercase(),
        "3"
    );
    let slot = r.node.call("web3_sha3", serde_json::json!([key])).await;
    r.node
        .call(
            "anvil_setStorageAt",
            serde_json::json!([r.usdt, slot, format!("0x{units:064x}")]),
        )
        .await;
}

engine_test!(
    async fn a_withdrawal_reverted_on_chain_or_displaced_by_its_nonce_fails_and_its_funds_go_back(engine) {
        if anvil_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let inv = r.paid("USDT_ERC20", 40.0).await;
        let merchant = inv.merchant_id;
        r.node.token_transfer(&r.usdt, &r.payer, &r.treasury, due(&inv)).await;
        r.node.send_native(&r.payer, &r.treasury, ONE_ETH / 10).await;
        let start = balance(&r, merchant, Kind::MerchantAvailable, "USDT_ERC20").await;
        r.node.call("evm_setAutomine", serde_json::json!([false])).await;

        // Sent while the treasury held the token; by the time it is mined, it does not.
        let ten = Amount::parse("10", 6).unwrap();
        let first = ask(&r, merchant, "USDT_ERC20", requests::Asked::Exact(ten)).await;
        r.app.drain_jobs().await;
        assert_eq!(request(&r, &first.public_id).await.stage, Stage::Submitted);
        set_token_balance(&r, &r.treasury, 0).await;
        confirm(&mut r).await;
        let failed = request(&r, &first.public_id).await;
        let tx = failed.tx.clone().unwrap();
        assert_eq!(tx.state, WithdrawalState::Failed, "{tx:?}");
        assert!(tx.error.as_deref().unwrap_or_default().contains("reverted"), "{tx:?}");
        assert_eq!(Shown::of(&failed), Shown::Failed);
        assert_eq!(r.usdt_of(DEST).await, 0);
        assert_eq!(balance(&r, merchant, Kind::MerchantAvailable, "USDT_ERC20").await, start, "all back");
        assert_eq!(r.operator(Kind::ChainCosts, "ETH").await, 0, "a token's gas was the float's, not custody's");
        r.books_balance().await;

        // Another transaction of the treasury takes the next one's nonce (a second signer
        // holding the phrase, say): once that is as deep as the confirmations, it failed.
        set_token_balance(&r, &r.treasury, due(&inv)).await;
        let second = ask(&r, merchant, "USDT_ERC20", requests::Asked::Exact(ten)).await;
        r.app.drain_jobs().await;
        assert_eq!(request(&r, &second.public_id).await.stage, Stage::Submitted);
        let row = r.txs().await.into_iter().rfind(|t| t.purpose == "withdrawal").unwrap();
        r.node.call("anvil_impersonateAccount", serde_json::json!([r.treasury])).await;
        let price = format!("0x{:x}", row.max_fee * 10);
        r.node
            .call(
                "eth_sendTransaction",
                serde_json::json!([{"from": r.treasury, "to": r.treasury, "value": "0x0",
                    "nonce": format!("0x{:x}", row.nonce), "gas": "0x5208",
                    "maxFeePerGas": price, "maxPriorityFeePerGas": price}]),
            )
            .await;
        confirm(&mut r).await;
        let displaced = request(&r, &second.public_id).await;
        let tx = displaced.tx.clone().unwrap();
        assert_eq!(tx.state, WithdrawalState::Failed, "{tx:?}");
        assert!(tx.error.as_deref().unwrap_or_default().contains("spent by transaction"), "{tx:?}");
        assert_eq!(r.usdt_of(DEST).await, 0);
        assert_eq!(balance(&r, merchant, Kind::MerchantAvailable, "USDT_ERC20").await, start);
        // The sweeps' rounds see its nonce taken: dropped, and free of what the treasury
        // promised.
        r.sweep().await;
        let row = r.txs().await.into_iter().find(|t| t.id == row.id).unwrap();
        assert_eq!(row.state, "dropped");
        r.books_balance().await;
        r.app.stop().await;
    }
);
