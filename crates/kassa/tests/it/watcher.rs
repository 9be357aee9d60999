//! The UTXO chain watcher against a real `litecoind -regtest`: exact, partial-then-topped-up,
//! overpaid and late payments confirmed after mining; two outputs to one address in one
//! transaction; a reorganisation that takes a credit back and reverses the ledger; an RBF
//! replacement paying elsewhere that is never credited; catching up after 50 blocks; and the
//! time from broadcast to "seen".

use std::time::{Duration, Instant};

use kassa_chain::Chain;
use kassa_chain::hd::{Branch, Coin, HotWallet, Mnemonic};
use kassa_chain::rpc::RpcClient;
use kassa_core::currency::{self, Crypto};
use kassa_core::invoice::Status;
use kassa_core::money::Amount;
use kassa_service::chains::LiveChain;
use kassa_service::watcher::Watcher;
use kassa_store::invoices::{self as store, InvoiceRow};
use kassa_store::ledger::{self, Kind};
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::TestApp;
use crate::support::api::{Shop, live_invoice, shop};
use crate::support::litecoind::{Litecoind, client, litecoind_skipped};

fn ltc() -> &'static Crypto {
    currency::crypto("LTC").unwrap()
}

fn coins(text: &str) -> Amount {
    Amount::parse(text, 8).unwrap()
}

/// A node with a funded payer wallet, an app with a live shop, Kassa's wallet and a watcher
/// needing two confirmations.
struct Rig {
    node: Litecoind,
    payer: RpcClient,
    miner: String,
    app: TestApp,
    shop: Shop,
    wallet: HotWallet,
    next: u32,
    watcher: Watcher,
}

impl Rig {
    async fn new(engine: kassa_store::Engine) -> Rig {
        let mut r = Rig::unstarted(engine).await;
        r.watcher.step().await.unwrap();
        r
    }

    /// The rig before the watcher's first round.
    async fn unstarted(engine: kassa_store::Engine) -> Rig {
        let node = Litecoind::start().await;
        let payer = node.create_wallet("payer").await;
        let miner = node.new_address(&payer).await;
        node.mine(150, &miner).await;
        let app = TestApp::spawn(engine).await;
        let shop = shop(&app, "owner@ltc.example", "").await;
        shop.go_live(&app).await;
        let mnemonic = Mnemonic::generate().unwrap();
        let wallet =
            HotWallet::from_mnemonic(&mnemonic, "", Coin::Litecoin, Chain::Regtest).unwrap();
        let watch = std::sync::Arc::new(LiveChain {
            network: ltc().network,
            currency: ltc(),
            currencies: vec![ltc()],
            chain: Chain::Regtest,
            confirmations: 2,
            poll_interval: Duration::from_millis(100),
            kind: kassa_store::wallets::WalletKind::Watch,
            source: std::sync::Arc::new(kassa_chain::watch::utxo::UtxoSource::new(
                ltc().network,
                ltc(),
                client(node.rpc.url()),
                Chain::Regtest,
            )),
            wallet: std::sync::Arc::new(wallet.watch_only().clone()),
            utxo: None,
            evm: None,
            tron: None,
            explorer: None,
        });
        let watcher = Watcher::new(app.state.ctx.clone(), watch);
        Rig {
            node,
            payer,
            miner,
            app,
            shop,
            wallet,
            next: 0,
            watcher,
        }
    }

    /// A live LTC invoice of `price` (1 USD = 1 LTC in these tests) at a fresh address.
    async fn invoice(&mut self, price: &str) -> InvoiceRow {
        let address = self.wallet.address(Branch::Receive, self.next).unwrap();
        self.next += 1;
        live_invoice(&self.app, self.shop.id, "LTC", price, &address).await
    }

    async fn row(&self, inv: &InvoiceRow) -> InvoiceRow {
        store::by_id(&mut self.app.state.db.conn().await.unwrap(), inv.id)
            .await
            .unwrap()
    }

    async fn pay(&self, inv: &InvoiceRow, amount: &str) -> String {
        self.node
            .send(&self.payer, inv.address.as_deref().unwrap(), coins(amount))
            .await
    }

    async fn mine(&self, n: u32) -> Vec<String> {
        self.node.mine(n, &self.miner).await
    }

    async fn step(&mut self) -> kassa_service::watcher::Round {
        self.watcher.step().await.unwrap()
    }

    /// (pending, available) of the merchant in LTC.
    async fn balances(&self, inv: &InvoiceRow) -> (Amount, Amount) {
        let b = ledger::balances(
            &mut self.app.state.db.conn().await.unwrap(),
            inv.merchant_id,
        )
        .await
        .unwrap();
        let get = |k: Kind| {
            b.get(&(k, "LTC".to_owned()))
                .copied()
                .unwrap_or(Amount::ZERO)
        };
        (get(Kind::MerchantPending), get(Kind::MerchantAvailable))
    }

    async fn books_balance(&self) {
        let mut c = self.app.state.db.conn().await.unwrap();
        assert!(
            ledger::verify(&mut c).await.unwrap().is_empty(),
            "every account equals the sum of its entries"
        );
    }
}

engine_test!(
    async fn payments_are_seen_confirmed_and_counted(engine) {
        if litecoind_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let exact = r.invoice("10").await;
        let due = exact.quote.unwrap().due;
        assert_eq!(due, coins("10"));

        // Exact: seen in the mempool, one confirmation, then the second one counts.
        r.pay(&exact, "10").await;
        r.step().await;
        let row = r.row(&exact).await;
        assert_eq!((row.status, row.processing), (Status::Created, due), "seen before any block");
        r.mine(1).await;
        r.step().await;
        assert_eq!(r.row(&exact).await.status, Status::Created, "one confirmation of two");
        let mut c = r.app.state.db.conn().await.unwrap();
        let t = store::transfers_of(&mut c, exact.id).await.unwrap();
        assert_eq!((t[0].confirmations, t[0].state), (1, store::TransferState::Seen));
        drop(c);
        r.mine(1).await;
        r.step().await;
        let row = r.row(&exact).await;
        assert_eq!((row.status, row.received, row.processing), (Status::Paid, due, Amount::ZERO));

        // Partial, then topped up.
        let partial = r.invoice("10").await;
        r.pay(&partial, "4").await;
        r.mine(2).await;
        r.step().await;
        assert_eq!(r.row(&partial).await.status, Status::Partial);
        r.pay(&partial, "6").await;
        r.mine(2).await;
        r.step().await;
        assert_eq!(r.row(&partial).await.status, Status::Paid);

        // Overpaid.
        let over = r.invoice("10").await;
        r.pay(&over, "12.5").await;
        r.mine(2).await;
        r.step().await;
        let row = r.row(&over).await;
        assert_eq!((row.status, row.received), (Status::Overpaid, coins("12.5")));

        // After expiry: recorded and credited, flagged paid late.
        let late = r.invoice("10").await;
        r.app.clock.advance(Duration::from_secs(2 * 3600));
        r.pay(&late, "10").await;
        r.mine(2).await;
        r.step().await;
        let row = r.row(&late).await;
        assert_eq!((row.status, row.paid_late), (Status::Paid, true));

        // Two outputs to one address in one transaction: both count.
        let twice = r.invoice("10").await;
        let txid = pay_twice(&r, twice.address.as_deref().unwrap(), "3", "7").await;
        r.mine(2).await;
        r.step().await;
        let row = r.row(&twice).await;
        assert_eq!((row.status, row.received), (Status::Paid, coins("10")));
        let mut c = r.app.state.db.conn().await.unwrap();
        let t = store::transfers_of(&mut c, twice.id).await.unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.iter().all(|t| t.txid == txid));
        drop(c);
        // The API's tx_list names that transaction once.
        assert_eq!(kassa_service::read::tx_list(&r.app.state, &row).await.unwrap(), vec![txid.clone()]);

        // Nothing is counted twice however often the watcher looks.
        for _ in 0..3 {
            assert_eq!(r.step().await.recorded, 0);
        }
        assert_eq!(r.row(&exact).await.received, due);
        r.books_balance().await;
        let (pending, available) = r.balances(&exact).await;
        assert_eq!(pending, Amount::ZERO);
        assert!(available > Amount::ZERO);
        r.app.stop().await;
    }
);

/// Sends `a` and `b` to `address` as two outputs of one transaction: the node refuses a
/// duplicated address, so the second output is first made to a stand-in address of the same
/// script length and its witness program swapped before funding and signing.
async fn pay_twice(r: &Rig, address: &str, a: &str, b: &str) -> String {
    let stand_in = r.node.new_address(&r.payer).await;
    let program = |addr: String| {
        let rpc = &r.node.rpc;
        async move {
            rpc.validate_address(&addr)
                .await
                .unwrap()
                .witness_program
                .unwrap()
        }
    };
    let (ours, theirs) = (
        program(address.to_owned()).await,
        program(stand_in.clone()).await,
    );
    let raw: Value = r
        .payer
        .call(
            "createrawtransaction",
            json!([[], [{address: a}, {stand_in: b}]]),
        )
        .await
        .unwrap();
    let raw = raw.as_str().unwrap().replace(&theirs, &ours);
    let funded = r
        .payer
        .call("fundrawtransaction", json!([raw]))
        .await
        .unwrap();
    let signed = r
        .payer
        .call("signrawtransactionwithwallet", json!([funded["hex"]]))
        .await
        .unwrap();
    assert_eq!(signed["complete"], true);
    r.node
        .rpc
        .send_raw_transaction(signed["hex"].as_str().unwrap())
        .await
        .unwrap()
}

engine_test!(
    async fn a_reorganisation_takes_the_credit_back(engine) {
        if litecoind_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let inv = r.invoice("10").await;
        r.pay(&inv, "10").await;
        let blocks = r.mine(2).await;
        r.step().await;
        assert_eq!(r.row(&inv).await.status, Status::Paid);
        let (_, credited) = r.balances(&inv).await;
        assert!(credited > Amount::ZERO);

        // The block with the payment leaves the chain; a longer chain without it wins.
        r.node.rpc.call("invalidateblock", json!([blocks[0]])).await.unwrap();
        for _ in 0..3 {
            r.node.rpc.call("generateblock", json!([r.miner, []])).await.unwrap();
        }
        let round = r.step().await;
        assert!(round.rolled_back >= 2, "{round:?}");
        assert!(round.gone >= 1, "{round:?}");
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received, row.confirmed), (Status::Created, Amount::ZERO, None));
        // The payment is back in the node's mempool: seen again, not credited.
        assert_eq!(row.processing, coins("10"));
        assert_eq!(r.balances(&inv).await, (Amount::ZERO, Amount::ZERO), "credit taken back");
        r.books_balance().await;
        let mut c = r.app.state.db.conn().await.unwrap();
        let kinds: Vec<String> = store::events(&mut c, inv.id).await.unwrap().into_iter().map(|e| e.0).collect();
        assert!(kinds.contains(&"payment_reversed".to_owned()), "{kinds:?}");
        let activity = kassa_store::audit::activity_of(&mut c, inv.merchant_id, &Default::default(), 50).await.unwrap();
        assert!(activity.iter().any(|a| a.action == "invoice.payment_reversed"), "the merchant is told");
        drop(c);

        // Mined again on the new chain: paid again, credited once.
        r.mine(2).await;
        r.step().await;
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received, row.processing), (Status::Paid, coins("10"), Amount::ZERO));
        assert_eq!(r.balances(&inv).await.1, credited);
        r.books_balance().await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_replacement_paying_elsewhere_is_never_credited(engine) {
        if litecoind_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let inv = r.invoice("10").await;
        let address = inv.address.clone().unwrap();
        // Replaceable (BIP 125) payment to Kassa: seen.
        let txid: Value = r
            .payer
            .call("sendtoaddress", json!([address, "10", "", "", false, true]))
            .await
            .unwrap();
        r.step().await;
        assert_eq!(r.row(&inv).await.processing, coins("10"));

        // The payer replaces it with a transaction spending the same coins elsewhere.
        replace_elsewhere(&r, &txid).await;

        let round = r.step().await;
        assert_eq!(round.gone, 1, "{round:?}");
        assert_eq!(r.row(&inv).await.processing, Amount::ZERO);
        r.mine(3).await;
        r.step().await;
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received, row.processing), (Status::Created, Amount::ZERO, Amount::ZERO));
        assert_eq!(r.balances(&inv).await, (Amount::ZERO, Amount::ZERO));
        r.app.stop().await;
    }
);

/// Replaces the payer's replaceable transaction `txid` (BIP 125) by one spending the same coins
/// to another address of the payer's; returns the replacement's id.
async fn replace_elsewhere(r: &Rig, txid: &Value) -> String {
    let original: Value = r
        .payer
        .call("getrawtransaction", json!([txid, true]))
        .await
        .unwrap();
    let inputs: Vec<Value> = original["vin"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!({"txid": i["txid"], "vout": i["vout"], "sequence": 4_294_967_293u32}))
        .collect();
    let mut total = Amount::ZERO;
    for i in original["vin"].as_array().unwrap() {
        let prev: Value = r
            .payer
            .call("getrawtransaction", json!([i["txid"], true]))
            .await
            .unwrap();
        let v = &prev["vout"][i["vout"].as_u64().unwrap() as usize]["value"];
        total = total
            .checked_add(kassa_chain::rpc::parse_json_amount(&v.to_string(), 8).unwrap())
            .unwrap();
    }
    let elsewhere = r.node.new_address(&r.payer).await;
    let keep = total.saturating_sub(coins("0.01"));
    let raw: Value = r
        .payer
        .call(
            "createrawtransaction",
            json!([inputs, [{elsewhere: keep.to_decimal_string(8)}]]),
        )
        .await
        .unwrap();
    let signed = r
        .payer
        .call("signrawtransactionwithwallet", json!([raw]))
        .await
        .unwrap();
    r.node
        .rpc
        .send_raw_transaction(signed["hex"].as_str().unwrap())
        .await
        .unwrap()
}

engine_test!(
    async fn payments_before_the_watchers_first_round_are_found(engine) {
        if litecoind_skipped() {
            return;
        }
        // Addresses were handed out and paid while the watcher could not reach the node: its
        // first round starts from before the first address, not from the tip.
        let mut r = Rig::unstarted(engine).await;
        let inv = r.invoice("10").await;
        r.pay(&inv, "10").await;
        r.mine(3).await;
        let round = r.step().await;
        assert!(round.blocks >= 3, "{round:?}");
        assert_eq!(r.row(&inv).await.status, Status::Paid);
        r.app.stop().await;
    }
);

engine_test!(
    async fn the_watcher_catches_up_after_fifty_blocks(engine) {
        if litecoind_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let a = r.invoice("10").await;
        let b = r.invoice("10").await;
        // The watcher is away while 50 blocks are mined, with payments in the 5th and 30th.
        r.mine(4).await;
        r.pay(&a, "10").await;
        r.mine(25).await;
        r.pay(&b, "10").await;
        r.mine(21).await;
        let round = r.step().await;
        assert_eq!(round.blocks, 50, "{round:?}");
        assert_eq!(r.row(&a).await.status, Status::Paid);
        assert_eq!(r.row(&b).await.status, Status::Paid);
        r.books_balance().await;
        r.app.stop().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_to_seen_is_measured() {
    if litecoind_skipped() {
        return;
    }
    let mut r = Rig::new(kassa_store::Engine::Sqlite).await;
    let mut times = Vec::new();
    for _ in 0..5 {
        let inv = r.invoice("1").await;
        let started = Instant::now();
        r.pay(&inv, "1").await;
        // The watcher's own loop polls every 100 ms here; one round is what it costs.
        while r.row(&inv).await.processing.is_zero() {
            r.step().await;
            assert!(started.elapsed() < Duration::from_secs(30), "never seen");
        }
        times.push(started.elapsed());
    }
    times.sort();
    eprintln!(
        "broadcast → seen (one watcher round, no poll wait): median {:?}, max {:?}",
        times[2], times[4]
    );
    r.app.stop().await;
}

engine_test!(
    async fn kassa_serve_watches_a_configured_network_by_itself(engine) {
        if litecoind_skipped() {
            return;
        }
        let node = Litecoind::start().await;
        let payer = node.create_wallet("payer").await;
        let miner = node.new_address(&payer).await;
        node.mine(150, &miner).await;
        let url = node.rpc.url().to_owned();
        let configure = |s: &mut kassa_server::config::Settings| {
            s.chains.ltc.chain = "regtest".into();
            s.chains.ltc.rpc_url = url.clone();
            s.chains.ltc.rpc_user = "kassa".into();
            s.chains.ltc.rpc_password = kassa_core::secret::SecretString::new("regtest-only");
            s.chains.ltc.confirmations = 2;
            s.chains.ltc.poll_interval_ms = 50;
        };
        // The operator's `kassa wallet init ltc`, then `kassa serve`.
        let tdb = crate::support::TestDb::new(engine).await;
        {
            let mut s = crate::support::app::test_settings(&tdb);
            configure(&mut s);
            let st = kassa_server::state::AppState::open(
                s.clone(),
                std::sync::Arc::new(kassa_core::time::SystemClock),
                "http://127.0.0.1".into(),
            )
            .await
            .unwrap();
            kassa_service::chains::init_hot_wallet(&s.chains, &st.db, &st.keyring, ltc().network, kassa_core::time::Clock::now(&kassa_core::time::SystemClock))
                .await
                .unwrap();
            st.db.close().await;
        }
        let app = TestApp::spawn_on(tdb, configure).await;
        let s = shop(&app, "owner@serve-ltc.example", "").await;
        s.go_live(&app).await;
        let inv = s.create(10.0, json!({"add_fields": {"cryptocurrency": "LTC"}})).await;
        let uuid = inv["uuid"].as_str().unwrap().to_owned();
        let address = inv["address"].as_str().unwrap().to_owned();
        assert!(address.starts_with("rltc1q"), "{address}");
        let row = crate::support::api::stored_invoice(&app, &uuid).await;
        let due = row.quote.unwrap().due;

        node.send(&payer, &address, due).await;
        crate::support::wait_until(10, "the payment seen by the server's watcher", || async {
            !crate::support::api::stored_invoice(&app, &uuid).await.processing.is_zero()
        })
        .await;
        node.mine(2, &miner).await;
        crate::support::wait_until(10, "the invoice paid", || async {
            s.invoice(&uuid).await["status"] == "paid"
        })
        .await;
        let page = app.get(&format!("/pay/{}", uuid.trim_start_matches("INV-"))).await;
        assert!(page.text().await.unwrap().contains("Payment received"));
        app.stop().await;
    }
);

/// On PostgreSQL one process watches a network: a second one is refused the lock while the
/// first holds it, and takes over once the first is gone (its connection closed, as when the
/// process dies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_watches_a_network_and_another_takes_over() {
    if crate::support::db::postgres_skipped() {
        return;
    }
    let tdb = crate::support::TestDb::new(kassa_store::Engine::Postgres).await;
    let url = kassa_store::DatabaseUrl::parse(&tdb.url_text()).unwrap();
    let first = kassa_store::Db::connect(&url, 2).await.unwrap();
    let second = kassa_store::Db::connect(&url, 2).await.unwrap();
    let held = kassa_store::chain::try_lock_watcher(&first, "LTC")
        .await
        .unwrap();
    assert!(held.is_some(), "the first process gets the lock");
    assert!(
        kassa_store::chain::try_lock_watcher(&second, "LTC")
            .await
            .unwrap()
            .is_none(),
        "the second waits"
    );
    assert!(
        kassa_store::chain::try_lock_watcher(&second, "BTC")
            .await
            .unwrap()
            .is_some(),
        "another network is separate"
    );
    drop(held);
    // The lock goes with its connection; the server notices the closed socket at once.
    crate::support::wait_until(10, "the second process taking over", || {
        let second = second.clone();
        async move {
            kassa_store::chain::try_lock_watcher(&second, "LTC")
                .await
                .unwrap()
                .is_some()
        }
    })
    .await;
    first.close().await;
    second.close().await;
}

/// Mines a block holding exactly `txs` (raw hex or mempool ids) on the node's best chain;
/// returns its hash.
async fn block_with(r: &Rig, txs: Value) -> String {
    let b: Value = r
        .node
        .rpc
        .call("generateblock", json!([r.miner, txs]))
        .await
        .unwrap();
    b["hash"].as_str().unwrap().to_owned()
}

engine_test!(
    async fn a_payment_reorganised_back_into_the_mempool_is_seen_never_paid(engine) {
        if litecoind_skipped() {
            return;
        }
        // The review's first failure: 1 confirmation of 2, its block leaves the chain, the
        // payment waits in the mempool — and was credited from the height it used to have.
        let mut r = Rig::new(engine).await;
        let inv = r.invoice("10").await;
        let address = inv.address.clone().unwrap();
        let txid: Value = r
            .payer
            .call("sendtoaddress", json!([address, "10", "", "", false, true]))
            .await
            .unwrap();
        let blocks = r.mine(1).await;
        r.step().await;
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.processing), (Status::Created, coins("10")));

        // The block is invalidated: the node's tip is below the watcher's and agrees with it,
        // so the watcher waits (a poll between the invalidation and the replacement block).
        r.node.rpc.call("invalidateblock", json!([blocks[0]])).await.unwrap();
        let round = r.step().await;
        assert!(round.waiting, "{round:?}");
        assert_eq!(r.row(&inv).await.status, Status::Created);

        // Another block takes its height, without the payment: rolled back; the payment is in
        // the mempool only — seen, no block, no confirmations.
        block_with(&r, json!([])).await;
        let round = r.step().await;
        assert!(round.rolled_back >= 1, "{round:?}");
        let mut c = r.app.state.db.conn().await.unwrap();
        let t = store::transfers_of(&mut c, inv.id).await.unwrap();
        assert_eq!((t[0].state, t[0].block_height, t[0].confirmations), (store::TransferState::Seen, None, 0));
        drop(c);
        // Blocks follow that do not hold it: still only seen, never paid.
        block_with(&r, json!([])).await;
        block_with(&r, json!([])).await;
        r.step().await;
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received, row.processing), (Status::Created, Amount::ZERO, coins("10")));

        // The payer double-spends it (a replacement paying elsewhere) and three blocks follow:
        // dropped, never credited.
        replace_elsewhere(&r, &txid).await;
        r.mine(3).await;
        r.step().await;
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received, row.processing), (Status::Created, Amount::ZERO, Amount::ZERO));
        assert_eq!(r.balances(&inv).await, (Amount::ZERO, Amount::ZERO));
        let mut c = r.app.state.db.conn().await.unwrap();
        let kinds: Vec<String> = store::events(&mut c, inv.id).await.unwrap().into_iter().map(|e| e.0).collect();
        assert!(!kinds.contains(&"payment_confirmed".to_owned()), "{kinds:?}");
        drop(c);
        r.books_balance().await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_reorganisation_while_kassa_was_stopped_that_mined_a_double_spend(engine) {
        if litecoind_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let inv = r.invoice("10").await;
        let address = inv.address.clone().unwrap();
        let txid: Value = r
            .payer
            .call("sendtoaddress", json!([address, "10", "", "", false, true]))
            .await
            .unwrap();
        let blocks = r.mine(2).await;
        r.step().await;
        assert_eq!(r.row(&inv).await.status, Status::Paid);
        let (_, credited) = r.balances(&inv).await;
        assert!(credited > Amount::ZERO);

        // While the watcher is not looking: the payment's block is invalidated, the payer
        // replaces it with a transaction paying elsewhere, and a longer chain mines that.
        r.node.rpc.call("invalidateblock", json!([blocks[0]])).await.unwrap();
        let replacement = replace_elsewhere(&r, &txid).await;
        block_with(&r, json!([replacement])).await;
        r.mine(3).await;

        let round = r.step().await;
        assert!(round.rolled_back >= 2 && round.gone >= 1, "{round:?}");
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received, row.processing, row.confirmed), (Status::Created, Amount::ZERO, Amount::ZERO, None));
        assert_eq!(r.balances(&inv).await, (Amount::ZERO, Amount::ZERO), "credit taken back");
        let mut c = r.app.state.db.conn().await.unwrap();
        let t = store::transfers_of(&mut c, inv.id).await.unwrap();
        assert_eq!(t[0].state, store::TransferState::Orphaned);
        drop(c);
        // Later rounds change nothing.
        r.mine(2).await;
        let round = r.step().await;
        assert_eq!((round.recorded, round.gone), (0, 0), "{round:?}");
        r.books_balance().await;
        r.app.stop().await;
    }
);

engine_test!(
    async fn a_node_behind_the_watcher_is_waited_for_not_rolled_back(engine) {
        if litecoind_skipped() {
            return;
        }
        // The review's second failure: a node that re-indexes, or is restored from an older
        // backup, shows a shorter chain that agrees with ours. Modelled with a second node that
        // has only the first blocks of the first one's chain.
        let mut r = Rig::new(engine).await;
        let inv = r.invoice("10").await;
        r.pay(&inv, "10").await;
        r.mine(2).await;
        r.mine(5).await;
        r.step().await;
        assert_eq!(r.row(&inv).await.status, Status::Paid);
        let (_, credited) = r.balances(&inv).await;
        let events_before = store::events(&mut r.app.state.db.conn().await.unwrap(), inv.id).await.unwrap().len();

        let behind = Litecoind::start().await;
        let tip = r.node.rpc.get_block_count().await.unwrap();
        let copy = |from: u64, to: u64| {
            let (a, b) = (&r.node.rpc, &behind.rpc);
            async move {
                for h in from..=to {
                    let hash = a.get_block_hash(h).await.unwrap();
                    let hex: Value = a.call("getblock", json!([hash, 0])).await.unwrap();
                    b.call("submitblock", json!([hex])).await.unwrap();
                }
            }
        };
        copy(1, tip - 4).await;
        let mut watcher = Watcher::new(
            r.app.state.ctx.clone(),
            std::sync::Arc::new(LiveChain {
                network: ltc().network,
                currency: ltc(),
                currencies: vec![ltc()],
                chain: Chain::Regtest,
                confirmations: 2,
                poll_interval: Duration::from_millis(100),
                kind: kassa_store::wallets::WalletKind::Watch,
                source: std::sync::Arc::new(kassa_chain::watch::utxo::UtxoSource::new(
                    ltc().network,
                    ltc(),
                    client(behind.rpc.url()),
                    Chain::Regtest,
                )),
                wallet: std::sync::Arc::new(r.wallet.watch_only().clone()),
                utxo: None,
                evm: None,
                tron: None,
                explorer: None,
            }),
        );
        for _ in 0..3 {
            let round = watcher.step().await.unwrap();
            assert!(round.waiting, "{round:?}");
            assert_eq!((round.rolled_back, round.gone, round.recorded), (0, 0, 0), "{round:?}");
        }
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received), (Status::Paid, coins("10")), "nothing flips");
        assert_eq!(r.balances(&inv).await.1, credited);
        // Caught up: it goes on from where it was, nothing recorded twice.
        copy(tip - 3, tip).await;
        let round = watcher.step().await.unwrap();
        assert!(!round.waiting, "{round:?}");
        assert_eq!((round.rolled_back, round.gone, round.recorded), (0, 0, 0), "{round:?}");
        let events_after = store::events(&mut r.app.state.db.conn().await.unwrap(), inv.id).await.unwrap().len();
        assert_eq!(events_after, events_before, "no reversal and no second confirmation");
        assert_eq!(r.balances(&inv).await.1, credited);
        r.books_balance().await;
        r.app.stop().await;
    }
);
