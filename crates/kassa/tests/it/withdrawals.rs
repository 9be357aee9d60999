//! Withdrawals from the hot wallet against a real `litecoind -regtest`: a merchant's credited
//! balance paid out (node accepts, `follow` confirms, the destination gets exactly the amount,
//! the balance falls by amount + fee, the books balance, change is spendable later); a second
//! withdrawal while the first is unconfirmed never reuses its inputs; an insufficient balance
//! writes and broadcasts nothing; a transaction the node refuses is `failed` and its funds
//! return exactly; `kassa wallet withdraw/withdrawals` through the binary.

use std::collections::HashSet;

use kassa_chain::rpc::{RpcClient, parse_json_amount};
use kassa_chain::spend::{self, FeeRate, Outputs, Payment, Policy};
use kassa_core::MerchantId;
use kassa_core::currency::{self, Crypto};
use kassa_core::money::Amount;
use kassa_server::config::Settings;
use kassa_service::withdrawals::{self as service, WithdrawError};
use kassa_store::ledger;
use kassa_store::withdrawals::{self as store, WithdrawalState};
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::api::{Shop, shop, stored_invoice};
use crate::support::litecoind::{Litecoind, litecoind_skipped};
use crate::support::process::run_in;
use crate::support::{TestApp, TestDb, wait_until};

pub(crate) const OWNER: &str = "owner@withdraw.example";

pub(crate) fn ltc() -> &'static Crypto {
    currency::crypto("LTC").unwrap()
}

pub(crate) fn sat(text: &str) -> u64 {
    u64::try_from(Amount::parse(text, 8).unwrap().base()).unwrap()
}

pub(crate) fn configure(s: &mut Settings, url: &str) {
    s.chains.ltc.chain = "regtest".into();
    s.chains.ltc.rpc_url = url.into();
    s.chains.ltc.rpc_user = "kassa".into();
    s.chains.ltc.rpc_password = kassa_core::secret::SecretString::new("regtest-only");
    s.chains.ltc.confirmations = 1;
    s.chains.ltc.poll_interval_ms = 50;
}

/// A node with a funded payer, and a live app whose stored LTC hot wallet (made as
/// `kassa wallet init ltc` makes it) takes payments, watched by the server's own watcher.
pub(crate) struct Rig {
    pub(crate) node: Litecoind,
    pub(crate) payer: RpcClient,
    pub(crate) miner: String,
    pub(crate) app: TestApp,
    pub(crate) shop: Shop,
}

impl Rig {
    pub(crate) async fn new(engine: kassa_store::Engine) -> Rig {
        Rig::new_with(engine, |_| {}).await
    }

    /// [`Rig::new`] with more settings changed by `adjust`.
    pub(crate) async fn new_with(
        engine: kassa_store::Engine,
        adjust: impl Fn(&mut Settings),
    ) -> Rig {
        let node = Litecoind::start().await;
        Rig::on(node, engine, true, adjust).await
    }

    /// A rig on a running `node`: with a hot wallet made as `kassa wallet init ltc` makes it
    /// when `hot`, else whatever wallet `adjust` configures (a watch-only `xpub`).
    pub(crate) async fn on(
        node: Litecoind,
        engine: kassa_store::Engine,
        hot: bool,
        adjust: impl Fn(&mut Settings),
    ) -> Rig {
        let payer = node.create_wallet("payer").await;
        let miner = node.new_address(&payer).await;
        node.mine(150, &miner).await;
        let url = node.rpc.url().to_owned();
        let tdb = TestDb::new(engine).await;
        if hot {
            let mut s = crate::support::app::test_settings(&tdb);
            configure(&mut s, &url);
            let st = kassa_server::state::AppState::open(
                s.clone(),
                std::sync::Arc::new(kassa_core::time::SystemClock),
                "http://127.0.0.1".into(),
            )
            .await
            .unwrap();
            kassa_service::chains::init_hot_wallet(
                &s.chains,
                &st.db,
                &st.keyring,
                ltc().network,
                kassa_core::time::Clock::now(&kassa_core::time::SystemClock),
            )
            .await
            .unwrap();
            st.db.close().await;
        }
        let app = TestApp::spawn_on(tdb, |s| {
            configure(s, &url);
            adjust(s);
        })
        .await;
        let shop = shop(&app, OWNER, "").await;
        shop.go_live(&app).await;
        Rig {
            node,
            payer,
            miner,
            app,
            shop,
        }
    }

    /// A live LTC invoice paid in full and confirmed (seen by the server's watcher); returns
    /// the merchant.
    pub(crate) async fn paid_invoice(&self, price: f64) -> MerchantId {
        let inv = self
            .shop
            .create(price, json!({"add_fields": {"cryptocurrency": "LTC"}}))
            .await;
        let uuid = inv["uuid"].as_str().unwrap().to_owned();
        let address = inv["address"].as_str().unwrap().to_owned();
        let row = stored_invoice(&self.app, &uuid).await;
        self.node
            .send(&self.payer, &address, row.quote.unwrap().due)
            .await;
        self.node.mine(1, &self.miner).await;
        wait_until(20, "the invoice paid", || async {
            self.shop.invoice(&uuid).await["status"] == "paid"
        })
        .await;
        row.merchant_id
    }

    pub(crate) async fn available(&self, merchant: MerchantId) -> u64 {
        let b = ledger::balances(&mut self.app.state.db.conn().await.unwrap(), merchant)
            .await
            .unwrap();
        let a = b
            .get(&(ledger::Kind::MerchantAvailable, "LTC".to_owned()))
            .copied()
            .unwrap_or(Amount::ZERO);
        u64::try_from(a.base()).unwrap()
    }

    /// What the merchant owes in LTC (a credit taken back after it was withdrawn).
    pub(crate) async fn owed(&self, merchant: MerchantId) -> u64 {
        let b = ledger::balances(&mut self.app.state.db.conn().await.unwrap(), merchant)
            .await
            .unwrap();
        let a = b
            .get(&(ledger::Kind::MerchantReceivable, "LTC".to_owned()))
            .copied()
            .unwrap_or(Amount::ZERO);
        u64::try_from(a.base()).unwrap()
    }

    pub(crate) async fn books_balance(&self) {
        let mut c = self.app.state.db.conn().await.unwrap();
        assert!(
            ledger::verify(&mut c).await.unwrap().is_empty(),
            "every account equals its entries"
        );
    }

    pub(crate) async fn withdraw(
        &self,
        merchant: MerchantId,
        to: &str,
        amount: u64,
    ) -> Result<service::Withdrawn, WithdrawError> {
        service::withdraw(
            &self.app.state,
            merchant,
            ltc().network,
            to,
            amount,
            FeeRate::from_sat_per_vb(1),
        )
        .await
    }

    pub(crate) async fn follow(&self) -> service::FollowRound {
        service::follow_network(&self.app.state, ltc().network)
            .await
            .unwrap()
    }

    /// Follows (as the server's watcher also does) until the withdrawals are in these states.
    pub(crate) async fn wait_for_states(
        &self,
        want: &[(kassa_core::WithdrawalId, WithdrawalState)],
    ) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            self.follow().await;
            let rows = self.rows().await;
            let ok = want
                .iter()
                .all(|(id, st)| rows.iter().any(|w| w.id == *id && w.state == *st));
            if ok {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "withdrawals never reached {want:?}: {rows:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn rows(&self) -> Vec<store::WithdrawalRow> {
        store::list(&mut self.app.state.db.conn().await.unwrap(), "LTC", None)
            .await
            .unwrap()
    }

    pub(crate) async fn mempool(&self) -> Vec<String> {
        self.node.rpc.get_raw_mempool().await.unwrap()
    }

    /// What the node's payer wallet received at `address` with at least one confirmation.
    pub(crate) async fn received(&self, address: &str) -> u64 {
        let v: Value = self
            .payer
            .call("getreceivedbyaddress", json!([address, 1]))
            .await
            .unwrap();
        u64::try_from(parse_json_amount(&v.to_string(), 8).unwrap().base()).unwrap()
    }

    /// A transaction signed by Kassa's hot wallet spending `inputs` again: `amount` to `to`.
    pub(crate) async fn respend(
        &self,
        inputs: &[spend::Utxo],
        to: &str,
        amount: u64,
    ) -> spend::SignedWithdrawal {
        let hot = kassa_service::chains::hot_wallet(
            &self.app.state.db,
            &self.app.state.keyring,
            ltc().network,
        )
        .await
        .unwrap();
        let request = spend::Withdrawal {
            outputs: Outputs::Pay(vec![Payment {
                address: to.to_owned(),
                amount,
            }]),
            fee_rate: FeeRate::from_sat_per_vb(1),
            change_index: 900,
            lock_time: 0,
        };
        spend::build(&hot, inputs, &request, &Policy::default()).unwrap()
    }
}

fn outpoints(w: &service::Withdrawn) -> HashSet<(String, u32)> {
    w.inputs
        .iter()
        .map(|u| (u.txid.to_string(), u.vout))
        .collect()
}

engine_test!(
    async fn withdrawals_pay_out_confirm_and_return_refused_funds(engine) {
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new(engine).await;
        let merchant = r.paid_invoice(1000.0).await;
        assert_eq!(r.paid_invoice(1000.0).await, merchant);
        let start = r.available(merchant).await;
        assert!(start > sat("14"), "{start}");

        // Paid out: the node accepts it; the balance falls by amount + fee at once.
        let to1 = r.node.new_address(&r.payer).await;
        let w1 = r.withdraw(merchant, &to1, sat("3")).await.unwrap();
        assert_eq!(w1.state, WithdrawalState::Broadcast);
        assert!(r.mempool().await.contains(&w1.txid), "the node took it");
        assert_eq!(w1.fee, w1.vsize, "1 sat/vB on regtest (no estimate: the floor)");
        assert_eq!(w1.inputs.len(), 1);
        let change1 = w1.change.clone().expect("change");
        assert!(change1.2.starts_with("rltc1q"), "{change1:?}");
        assert_eq!(r.available(merchant).await, start - sat("3") - w1.fee);
        r.books_balance().await;

        // While it is unconfirmed, a second one spends other outputs (the node's UTXO set still
        // lists the first one's input as unspent: it is excluded).
        let to2 = r.node.new_address(&r.payer).await;
        let w2 = r.withdraw(merchant, &to2, sat("3")).await.unwrap();
        assert_eq!(w2.state, WithdrawalState::Broadcast);
        assert!(outpoints(&w1).is_disjoint(&outpoints(&w2)), "{:?} / {:?}", w1.inputs, w2.inputs);
        assert_ne!(w1.change.as_ref().map(|c| &c.2), w2.change.as_ref().map(|c| &c.2), "fresh change address");
        r.follow().await;
        assert!(r.rows().await.iter().all(|w| w.state == WithdrawalState::Broadcast), "both wait for a block");

        // A transaction double-spending the unconfirmed second one (same fee): the node
        // refuses it; the withdrawal is failed and its funds come back exactly.
        let before = r.available(merchant).await;
        let conflict = r.respend(&w2.inputs, &to2, sat("1")).await;
        let refused = service::submit(&r.app.state, ltc().network, merchant, &to2, sat("1"), &conflict).await.unwrap();
        assert_eq!(refused.state, WithdrawalState::Failed);
        eprintln!("conflicting transaction refused: {:?}", refused.error);
        assert!(refused.error.as_deref().unwrap().contains("RPC error -26"), "{:?}", refused.error);
        assert_eq!(r.available(merchant).await, before, "funds returned exactly");
        assert!(r.mempool().await.contains(&w2.txid), "the original stays");
        r.books_balance().await;

        // Mined: followed to confirmed; the destinations got exactly the amounts.
        // (The server's own watcher follows them too; either may get there first.)
        r.node.mine(1, &r.miner).await;
        r.wait_for_states(&[(w1.id, WithdrawalState::Confirmed), (w2.id, WithdrawalState::Confirmed)]).await;
        // The server's watcher found them in the block (no -txindex needed to count from it).
        let db = r.app.state.db.clone();
        crate::support::wait_until(10, "the watcher noting the withdrawals' block", || {
            let db = db.clone();
            async move {
                let mut c = db.conn().await.unwrap();
                store::by_id(&mut c, w1.id).await.unwrap().unwrap().block.is_some()
                    && store::by_id(&mut c, w2.id).await.unwrap().unwrap().block.is_some()
            }
        })
        .await;
        assert_eq!(r.received(&to1).await, sat("3"));
        assert_eq!(r.received(&to2).await, sat("3"));
        let rows = r.rows().await;
        let states: Vec<_> = rows.iter().map(|w| (w.id, w.state, w.confirmations)).collect();
        assert_eq!(
            states,
            vec![(w1.id, WithdrawalState::Confirmed, 1), (w2.id, WithdrawalState::Confirmed, 1), (refused.id, WithdrawalState::Failed, 0)]
        );
        assert_eq!(r.follow().await, service::FollowRound::default(), "nothing left to follow");

        // The change is ours: a larger withdrawal spends the first one's change.
        let to3 = r.node.new_address(&r.payer).await;
        let w3 = r.withdraw(merchant, &to3, sat("8")).await.unwrap();
        assert!(outpoints(&w3).contains(&(w1.txid.clone(), change1.0)), "{:?}", w3.inputs);
        r.node.mine(1, &r.miner).await;
        r.wait_for_states(&[(w3.id, WithdrawalState::Confirmed)]).await;
        assert_eq!(r.received(&to3).await, sat("8"));

        // A confirmed withdrawal's inputs spent again: refused (missing inputs), returned.
        let before = r.available(merchant).await;
        let again = r.respend(&w1.inputs, &to1, sat("1")).await;
        let refused2 = service::submit(&r.app.state, ltc().network, merchant, &to1, sat("1"), &again).await.unwrap();
        assert_eq!(refused2.state, WithdrawalState::Failed, "{:?}", refused2.error);
        assert_eq!(r.available(merchant).await, before);

        // Stored but never accepted (as after a lost answer): followed, handed over again,
        // refused; after the grace period it fails and its funds come back.
        let before = r.available(merchant).await;
        let lost = r.respend(&w3.inputs, &to3, sat("1")).await;
        let chain = r.app.state.chains.get(ltc().network).unwrap().clone();
        let mut tx = r.app.state.db.begin().await.unwrap();
        let lost_id = service::record(
            &mut tx,
            &r.app.state.metrics,
            &chain,
            &service::Order {
                merchant,
                destination: &to3,
                currency: ltc(),
                amount: kassa_core::Amount::from_base(u128::from(sat("1"))),
                request: None,
            },
            &service::Prepared::utxo(&lost),
            r.app.now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(r.available(merchant).await, before - sat("1") - lost.fee);
        r.follow().await;
        let row = store::by_id(&mut r.app.state.db.conn().await.unwrap(), lost_id).await.unwrap().unwrap();
        assert_eq!(row.state, WithdrawalState::Broadcast, "within the grace period it waits");
        r.app.clock.advance(service::GRACE + std::time::Duration::from_secs(1));
        r.wait_for_states(&[(lost_id, WithdrawalState::Failed)]).await;
        let row = store::by_id(&mut r.app.state.db.conn().await.unwrap(), lost_id).await.unwrap().unwrap();
        assert_eq!(row.state, WithdrawalState::Failed);
        eprintln!("vanished withdrawal: {:?}", row.error);
        assert_eq!(r.available(merchant).await, before, "funds returned exactly");

        let spent = [&w1, &w2, &w3].iter().map(|w| w.amount + w.fee).sum::<u64>();
        assert_eq!(r.available(merchant).await, start - spent);
        r.books_balance().await;

        // The Balance page shows what the ledger holds, the withdrawals with their states and
        // hashes; the statement lists every receipt, withdrawal and return, and its exports
        // add up to the available balance.
        let s = crate::support::accounts::sign_in(&r.app, OWNER).await;
        let page = s.get("/balance").await;
        assert_eq!(page.status, reqwest::StatusCode::OK);
        let available = Amount::from_base(u128::from(r.available(merchant).await)).to_decimal_string(8);
        assert!(page.has(&format!("<span class=\"b-available\">{available}</span>")), "{}", page.body);
        for w in [&w1, &w2, &w3] {
            assert!(page.has(&w.txid), "withdrawal {} listed", w.id);
        }
        assert!(page.has("Completed") && page.has("Failed, funds returned"));
        let ledger_page = s.get("/balance/ledger?currency=LTC").await;
        assert!(ledger_page.has("Payment received") && ledger_page.has("Withdrawal returned"), "{}", ledger_page.body);
        let (status, _, csv_bytes) = s.download("/balance/ledger/export?format=csv&currency=LTC").await;
        assert_eq!(status, reqwest::StatusCode::OK);
        let mut csv = csv::Reader::from_reader(csv_bytes.as_slice());
        assert_eq!(csv.headers().unwrap().iter().collect::<Vec<_>>(), ["time", "kind", "reference", "currency", "amount", "fees", "owed", "journal"]);
        let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
        let net: i128 = records
            .iter()
            .map(|r| {
                let (neg, text) = r[4].strip_prefix('-').map_or((false, &r[4]), |t| (true, t));
                let units = i128::try_from(Amount::parse(text, 8).unwrap().base()).unwrap();
                if neg { -units } else { units }
            })
            .sum();
        assert_eq!(net, i128::from(r.available(merchant).await), "the statement adds up to the balance");
        let kinds: Vec<&str> = records.iter().map(|r| r.get(1).unwrap()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "receipt").count(), 2, "{kinds:?}");
        assert!(kinds.contains(&"withdrawal") && kinds.contains(&"returned"), "{kinds:?}");
        let (status, kind, xlsx_bytes) = s.download("/balance/ledger/export?format=xlsx&currency=LTC").await;
        assert_eq!(status, reqwest::StatusCode::OK);
        assert!(kind.contains("spreadsheetml"));
        use calamine::Reader as _;
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(xlsx_bytes)).unwrap();
        let sheet = book.worksheet_range("Ledger").unwrap();
        assert_eq!(sheet.rows().count(), records.len() + 1, "the workbook holds the same lines");
        eprintln!(
            "withdrawal figures: w1 {} vB fee {} ({}), w2 {} vB fee {}, w3 {} inputs {} vB fee {}",
            w1.vsize, w1.fee, w1.fee_rate, w2.vsize, w2.fee, w3.inputs.len(), w3.vsize, w3.fee
        );
        r.app.stop().await;
    }
);

engine_test!(
    async fn an_insufficient_balance_writes_and_sends_nothing(engine) {
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new(engine).await;
        let merchant = r.paid_invoice(1.0).await;
        let available = r.available(merchant).await;
        let wallet = |st: &kassa_server::state::AppState| {
            let db = st.db.clone();
            async move { kassa_store::wallets::get(&mut db.conn().await.unwrap(), "LTC").await.unwrap().unwrap().next_index }
        };
        let index = wallet(&r.app.state).await;
        let to = r.node.new_address(&r.payer).await;

        // More than the balance; then exactly the balance (the fee no longer fits).
        for amount in [sat("5"), available] {
            let err = r.withdraw(merchant, &to, amount).await.unwrap_err();
            assert!(matches!(err, WithdrawError::InsufficientBalance { .. }), "{err}");
            assert!(err.to_string().starts_with("insufficient balance: "), "{err}");
            eprintln!("{err}");
        }
        assert!(r.rows().await.is_empty(), "no withdrawal stored");
        assert!(r.mempool().await.is_empty(), "nothing broadcast");
        assert_eq!(wallet(&r.app.state).await, index, "no change index used up");
        assert_eq!(r.available(merchant).await, available);
        r.books_balance().await;

        // A merchant with nothing at all.
        let other = crate::support::accounts::owner(&r.app, "nobody@withdraw.example").await;
        let other = kassa_store::accounts::user_by_id(&mut r.app.state.db.conn().await.unwrap(), other)
            .await
            .unwrap()
            .merchant_id;
        let err = r.withdraw(other, &to, sat("0.1")).await.unwrap_err();
        assert!(matches!(err, WithdrawError::InsufficientBalance { .. }), "{err}");
        assert!(r.rows().await.is_empty());
        r.app.stop().await;
    }
);

engine_test!(
    async fn kassa_wallet_withdraw_through_the_binary(engine) {
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new(engine).await;
        let merchant = r.paid_invoice(500.0).await;
        let start = r.available(merchant).await;
        let to = r.node.new_address(&r.payer).await;
        let dir = r.app.db.dir().to_owned();
        let url = r.app.db.url_text();
        let env = [
            ("KASSA_DATABASE_URL", url.as_str()),
            ("KASSA_DATA_DIR", dir.to_str().unwrap()),
            ("KASSA_CHAINS_LTC_RPC_URL", r.node.rpc.url()),
            ("KASSA_CHAINS_LTC_CHAIN", "regtest"),
            ("KASSA_CHAINS_LTC_RPC_USER", "kassa"),
            ("KASSA_CHAINS_LTC_RPC_PASSWORD", "regtest-only"),
            ("KASSA_CHAINS_LTC_CONFIRMATIONS", "1"),
        ];
        let out = run_in(&dir, &["wallet", "withdraw", "ltc", "--merchant", OWNER, "--to", &to, "--amount", "1.5", "--fee-floor", "2"], &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let made: Value = serde_json::from_slice(&out.stdout).unwrap();
        eprintln!("kassa wallet withdraw: {made}");
        assert_eq!(made["amount"], sat("1.5"));
        assert_eq!(made["state"], "broadcast");
        assert_eq!(made["fee_rate"], "2 sat/vB");
        let fee = made["fee"].as_u64().unwrap();
        assert_eq!(fee, 2 * made["vsize"].as_u64().unwrap());
        assert!(r.mempool().await.contains(&made["txid"].as_str().unwrap().to_owned()));
        assert_eq!(r.available(merchant).await, start - sat("1.5") - fee);

        // Refused: one line, non-zero exit, nothing written.
        let out = run_in(&dir, &["wallet", "withdraw", "ltc", "--merchant", OWNER, "--to", &to, "--amount", "1000"], &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.starts_with("error: insufficient balance: "), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        let out = run_in(&dir, &["wallet", "withdraw", "ltc", "--merchant", OWNER, "--to", "bc1qnotours", "--amount", "0.1"], &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.starts_with("error: destination bc1qnotours"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");

        let out = run_in(&dir, &["wallet", "withdrawals", "ltc"], &env);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["txid"], made["txid"]);
        assert_eq!(lines[0]["state"], "broadcast");
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_reorg_of_a_withdrawn_payment_releases_the_withdrawal_and_charges_once(engine) {
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new(engine).await;
        let merchant = r.paid_invoice(100.0).await;
        let payment_block = r.node.rpc.get_best_block_hash().await.unwrap();
        let available = r.available(merchant).await;
        // The merchant takes (almost) everything out before the reorganisation: the
        // withdrawal spends the payment's output.
        let to = r.node.new_address(&r.payer).await;
        let w = r.withdraw(merchant, &to, available - sat("0.001")).await.unwrap();
        let left = r.available(merchant).await;
        assert!(left < sat("0.001"), "{left}");

        // The block with the payment leaves the chain (both transactions go back to the
        // mempool); a longer chain without them wins.
        r.node.rpc.call("invalidateblock", json!([payment_block])).await.unwrap();
        for _ in 0..2 {
            r.node.rpc.call("generateblock", json!([r.miner, []])).await.unwrap();
        }
        let db = r.app.state.db.clone();
        wait_until(20, "the withdrawal marked unfunded, the operator told", || {
            let db = db.clone();
            async move {
                let mut c = db.conn().await.unwrap();
                let activity = kassa_store::audit::activity_of(&mut c, merchant, &Default::default(), 50)
                    .await
                    .unwrap();
                activity.iter().any(|a| a.action == "withdrawal.funding_reversed")
            }
        })
        .await;
        // The withdrawal cannot be valid while the payment it spends does not count: it is not
        // charged meanwhile, the credit is taken back, nothing is owed twice.
        let row = store::by_id(&mut r.app.state.db.conn().await.unwrap(), w.id).await.unwrap().unwrap();
        assert!(row.funding_reversed_at.is_some());
        assert_eq!(r.available(merchant).await, 0);
        assert_eq!(r.owed(merchant).await, 0, "nothing owed");
        r.books_balance().await;
        // The withdrawal's lock time (the height it was made at) kept it out of the mempool
        // while the chain was shorter; Kassa hands it over again once it is valid.
        wait_until(20, "the withdrawal handed to the node again", || async {
            let mempool: Vec<String> = r.node.rpc.call_as("getrawmempool", json!([])).await.unwrap();
            mempool.contains(&w.txid)
        })
        .await;
        // Both are mined again: the payment counts, the withdrawal is charged once.
        r.node.mine(1, &r.miner).await;
        r.wait_for_states(&[(w.id, WithdrawalState::Confirmed)]).await;
        wait_until(20, "the credit and the charge back", || async {
            r.available(merchant).await == left
        })
        .await;
        r.books_balance().await;
        let inv = r.shop.create(5.0, json!({"add_fields": {"cryptocurrency": "LTC"}})).await;
        let row = stored_invoice(&r.app, inv["uuid"].as_str().unwrap()).await;
        r.node.send(&r.payer, row.address.as_deref().unwrap(), row.quote.unwrap().due).await;
        r.node.mine(1, &r.miner).await;
        wait_until(20, "a later invoice paid", || async {
            r.shop.invoice(inv["uuid"].as_str().unwrap()).await["status"] == "paid"
        })
        .await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_depth_two_reorg_re_mining_a_withdrawn_payment_does_not_inflate_the_balance(engine) {
        if litecoind_skipped() {
            return;
        }
        // The review's third failure: the payment and the withdrawal that spends it are both
        // mined, a depth-2 reorganisation mines them again at other heights — the balance must
        // end where it was, not a shortfall plus a full re-credit.
        let r = Rig::new(engine).await;
        let merchant = r.paid_invoice(100.0).await;
        let payment_block = r.node.rpc.get_best_block_hash().await.unwrap();
        let to = r.node.new_address(&r.payer).await;
        let available = r.available(merchant).await;
        let w = r.withdraw(merchant, &to, available - sat("0.04")).await.unwrap();
        r.node.mine(1, &r.miner).await;
        r.wait_for_states(&[(w.id, WithdrawalState::Confirmed)]).await;
        let left = r.available(merchant).await;

        // Both blocks leave the chain; the new branch (mined to another address, so its blocks
        // differ from the invalidated ones) mines both transactions again.
        r.node.rpc.call("invalidateblock", json!([payment_block])).await.unwrap();
        let other = r.node.new_address(&r.payer).await;
        r.node.mine(3, &other).await;
        assert!(r.mempool().await.is_empty(), "both mined again");
        r.wait_for_states(&[(w.id, WithdrawalState::Confirmed)]).await;
        wait_until(20, "the books settled on the new chain", || async {
            r.available(merchant).await == left && r.owed(merchant).await == 0
        })
        .await;
        // And it stays there.
        r.node.mine(2, &r.miner).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!((r.available(merchant).await, r.owed(merchant).await), (left, 0));
        r.books_balance().await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_withdrawal_double_spent_after_a_reorg_fails_and_returns_the_funds_once(engine) {
        if litecoind_skipped() {
            return;
        }
        // The review's fourth failure: a withdrawal confirmed (one confirmation is the rule
        // here), its block leaves the chain, and a transaction spending the same coins is mined
        // instead. It stayed `confirmed` at the orphaned block; now it fails, once.
        let r = Rig::new(engine).await;
        let merchant = r.paid_invoice(100.0).await;
        let before = r.available(merchant).await;
        let to = r.node.new_address(&r.payer).await;
        let w = r.withdraw(merchant, &to, sat("0.5")).await.unwrap();
        let blocks = r.node.mine(1, &r.miner).await;
        r.wait_for_states(&[(w.id, WithdrawalState::Confirmed)]).await;
        assert_eq!(r.available(merchant).await, before - w.amount - w.fee);

        r.node.rpc.call("invalidateblock", json!([blocks[0]])).await.unwrap();
        let elsewhere = r.node.new_address(&r.payer).await;
        let conflict = r.respend(&w.inputs, &elsewhere, sat("0.3")).await;
        // The withdrawal is back in the mempool: the conflict goes into a block directly.
        let _: Value = r
            .node
            .rpc
            .call("generateblock", json!([elsewhere, [conflict.hex]]))
            .await
            .unwrap();
        r.node.mine(1, &elsewhere).await;
        r.wait_for_states(&[(w.id, WithdrawalState::Failed)]).await;
        let row = store::by_id(&mut r.app.state.db.conn().await.unwrap(), w.id).await.unwrap().unwrap();
        assert_eq!(row.conflict.as_ref().map(|c| c.0.as_str()), Some(conflict.txid.as_str()));
        assert!(row.error.as_deref().unwrap_or_default().contains(&conflict.txid), "{:?}", row.error);
        // The funds came back exactly once, and stay.
        wait_until(20, "the funds back", || async { r.available(merchant).await == before }).await;
        r.node.mine(2, &r.miner).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(r.available(merchant).await, before);
        r.books_balance().await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_dead_node_shows_in_readyz_and_metrics(engine) {
        if litecoind_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let readyz = |app: &TestApp| {
            let url = format!("{}/readyz", app.base);
            async move {
                let v: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
                v
            }
        };
        wait_until(20, "LTC healthy", || async { readyz(&r.app).await["networks"]["LTC"]["status"] == "ok" }).await;
        let v = readyz(&r.app).await;
        assert_eq!(v["status"], "ready");
        assert_eq!(v["networks"]["LTC"]["lag"], 0);

        r.node.kill();
        wait_until(20, "the node seen down", || async {
            let text = r.app.get("/metrics").await.text().await.unwrap();
            text.contains("kassa_chain_node_up{network=\"LTC\"} 0")
        })
        .await;
        let text = r.app.get("/metrics").await.text().await.unwrap();
        for series in ["kassa_chain_node_height{network=\"LTC\"}", "kassa_chain_watcher_height{network=\"LTC\"}", "kassa_chain_lag_blocks{network=\"LTC\"}", "kassa_chain_last_success_timestamp_seconds{network=\"LTC\"}", "kassa_chain_round_errors_total{network=\"LTC\"}"] {
            assert!(text.contains(series), "{series} in {text}");
        }
        // A minute later it is down; the instance still answers (other networks, the API).
        r.app.clock.advance(std::time::Duration::from_secs(61));
        wait_until(20, "LTC down", || async { readyz(&r.app).await["networks"]["LTC"]["status"] == "down" }).await;
        let v = readyz(&r.app).await;
        assert_eq!(v["status"], "degraded");
        assert_eq!(v["networks"]["LTC"]["reasons"], json!(["node unreachable"]));
        r.app.stop().await;
    }
);
